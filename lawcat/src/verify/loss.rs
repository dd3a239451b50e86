//! `ptx/kernels/loss.cu`, launcher `ptx::ops::loss`, fused ops `nn::loss` (CrossEntropy, Kl,
//! Mse, through `nn::{cross_entropy, kl_div, mse}` and `backward_with`): `ce_fwd_rows_*`,
//! `ce_fwd_finish_*`, `ce_bwd_*`, `kl_fwd_rows_*`, `kl_bwd_*`, `mse_partial_*`, `mse_bwd_*`
//! and `mean_finish_*`, forward and backward against the same call on the CPU: rows 0, 1, 63,
//! 65, small vocabularies on the interpreter (1000 and 32000 on the GPU), ignored rows, and a
//! target outside the vocabulary (NaN on the device, an error on the CPU). Bounds:
//! `Tol::accumulated` with the terms summed; the MSE sums in f64 on both sides.

use super::helpers::{float_dtype, grad_of, host, lead, view, with};
use super::{gen, Case, Check};
use autograd::Var;
use nn::{cross_entropy, kl_div, mse};
use tensor::tolerance::Tol;
use tensor::{bail, DType, Device, Result, Rng, Tensor};

/// A sum of `n` terms of size about `scale` accumulated in f64 (in another order on each
/// side) and rounded once to `cd`: the larger of the two bounds.
fn f64_sum(cd: DType, n: usize, scale: f64) -> Tol {
    let (a, e) = (Tol::accumulated(DType::F64, n, scale), Tol::elementwise(cd));
    Tol { atol: a.atol.max(e.atol), rtol: a.rtol.max(e.rtol), rms: a.rms.max(e.rms) }
}

/// Rows and vocabulary of the loss cases: rows 0 (sometimes), 1, 63, 65; small vocabularies
/// on the interpreter, 1000 and 32000 on the GPU.
fn loss_shape(rng: &mut Rng, size: usize) -> (Vec<usize>, usize) {
    let n = if size < 2 && rng.below(8) == 0 {
        0
    } else {
        gen::len(rng, size, &[1, 63, 65], &[1000, 4096])
    };
    let v = gen::len(rng, size, &[5, 60, 129], &[1000, 32000]);
    (lead(n, rng), v)
}

/// Cross-entropy (`loss.cu`): loss, and dlogits from a random cotangent; rows with the ignore
/// index; and a target outside the vocabulary, which the CPU reports and the kernel turns into
/// a NaN loss without reading out of bounds.
fn cross_entropy_case(device: &Device, rng: &mut Rng, size: usize) -> Result<Vec<Check>> {
    let (lead_dims, v) = loss_shape(rng, size);
    let n: usize = lead_dims.iter().product();
    let dims = with(lead_dims.clone(), v);
    let zd = float_dtype(rng);
    let cd = zd.compute();
    let (z_cpu, z_dev) = view(&dims, zd, -4.0, 4.0, device, rng)?;
    let ignore = if rng.below(2) == 0 { Some(-100) } else { None };
    let all_ignored = ignore.is_some() && rng.below(6) == 0;
    let ids: Vec<i64> = (0..n)
        .map(|_| {
            if ignore.is_some() && (all_ignored || rng.below(4) == 0) {
                -100
            } else {
                rng.below(v) as i64
            }
        })
        .collect();
    let t_cpu = Tensor::from_vec(ids.clone(), lead_dims.clone(), &Device::Cpu)?;
    let t_dev = t_cpu.to_device(device)?;
    let gv = rng.uniform() * 2.0 - 0.5;
    let run = |z: &Tensor, t: &Tensor, dev: &Device| -> Result<(Tensor, Tensor)> {
        let z = Var::leaf(z.clone());
        let loss = cross_entropy(&z, t, ignore)?;
        let grads = loss.backward_with(Tensor::scalar(gv, cd, dev)?)?;
        Ok((loss.value().clone(), grad_of(&grads, &z, "logits")?))
    };
    let (loss, dz) = run(&z_dev, &t_dev, device)?;
    let (loss_ref, dz_ref) = run(&z_cpu, &t_cpu, &Device::Cpu)?;
    let what = format!("{zd} logits {dims:?}, ignore {ignore:?}");
    let mut out = vec![
        Check::new(
            format!("cross_entropy loss, {what}"),
            host(&loss)?,
            loss_ref,
            Tol::accumulated(cd, v + n, 4.0),
        ),
        Check::new(
            format!("cross_entropy dlogits, {what}"),
            host(&dz)?,
            dz_ref,
            Tol::accumulated(cd, v, 1.0),
        ),
    ];
    if n > 0 && size < 2 {
        let mut bad = ids;
        bad[rng.below(n)] = if rng.below(2) == 0 { v as i64 } else { -1 - rng.below(3) as i64 };
        let t_cpu = Tensor::from_vec(bad.clone(), lead_dims.clone(), &Device::Cpu)?;
        if cross_entropy(&Var::constant(z_cpu.clone()), &t_cpu, ignore).is_ok() {
            bail!("cross_entropy", "the CPU accepted a target outside the vocabulary: {bad:?}")
        }
        let loss = cross_entropy(&Var::constant(z_dev.clone()), &t_cpu.to_device(device)?, ignore)?;
        let nan = host(loss.value())?.to_vec_f64()?[0].is_nan();
        out.push(Check::new(
            format!("cross_entropy: a target outside the vocabulary of {v} gives NaN"),
            Tensor::scalar(nan as u8 as f64, DType::F32, &Device::Cpu)?,
            Tensor::scalar(1.0, DType::F32, &Device::Cpu)?,
            Tol::EXACT,
        ));
    }
    Ok(out)
}

/// KL divergence to a teacher (`loss.cu`): the divergence and dstudent.
fn kl_case(device: &Device, rng: &mut Rng, size: usize) -> Result<Vec<Check>> {
    let (lead_dims, v) = loss_shape(rng, size);
    let dims = with(lead_dims, v);
    let (sd, td) = (float_dtype(rng), float_dtype(rng));
    let cd = sd.compute();
    let (s_cpu, s_dev) = view(&dims, sd, -4.0, 4.0, device, rng)?;
    let (t_cpu, t_dev) = view(&dims, td, -4.0, 4.0, device, rng)?;
    let temperature = [1.0, 2.0, 0.7][rng.below(3)];
    let gv = rng.uniform() * 2.0 - 0.5;
    let run = |s: &Tensor, t: &Tensor, dev: &Device| -> Result<(Tensor, Tensor)> {
        let s = Var::leaf(s.clone());
        let kl = kl_div(&s, t, temperature)?;
        let grads = kl.backward_with(Tensor::scalar(gv, cd, dev)?)?;
        Ok((kl.value().clone(), grad_of(&grads, &s, "student")?))
    };
    let (kl, dz) = run(&s_dev, &t_dev, device)?;
    let (kl_ref, dz_ref) = run(&s_cpu, &t_cpu, &Device::Cpu)?;
    let what = format!("{sd} student, {td} teacher {dims:?}, T = {temperature}");
    Ok(vec![
        Check::new(format!("kl_div, {what}"), host(&kl)?, kl_ref, Tol::accumulated(cd, v, 4.0)),
        Check::new(
            format!("kl_div dstudent, {what}"),
            host(&dz)?,
            dz_ref,
            Tol::accumulated(cd, v, 1.0),
        ),
    ])
}

/// Mean squared error (`loss.cu`): the loss and da (b is data: its gradient, the negation,
/// is a primitive op).
fn mse_case(device: &Device, rng: &mut Rng, size: usize) -> Result<Vec<Check>> {
    let rows = gen::len(rng, size, &[0, 1, 63, 65], &[1000, 4096]);
    let d = gen::len(rng, size, &[1, 60, 64], &[60, 4096]);
    let dims = with(lead(rows, rng), d);
    let n = rows * d;
    let (ad, bd) = (float_dtype(rng), float_dtype(rng));
    let cd = ad.compute();
    let (a_cpu, a_dev) = view(&dims, ad, -2.0, 2.0, device, rng)?;
    let (b_cpu, b_dev) = view(&dims, bd, -2.0, 2.0, device, rng)?;
    let gv = rng.uniform() * 2.0 - 0.5;
    let run = |a: &Tensor, b: &Tensor, dev: &Device| -> Result<(Tensor, Tensor)> {
        let a = Var::leaf(a.clone());
        let loss = mse(&a, &Var::constant(b.clone()))?;
        let grads = loss.backward_with(Tensor::scalar(gv, cd, dev)?)?;
        Ok((loss.value().clone(), grad_of(&grads, &a, "a")?))
    };
    let (loss, da) = run(&a_dev, &b_dev, device)?;
    let (loss_ref, da_ref) = run(&a_cpu, &b_cpu, &Device::Cpu)?;
    let what = format!("{ad} a, {bd} b {dims:?}");
    Ok(vec![
        Check::new(format!("mse, {what}"), host(&loss)?, loss_ref, f64_sum(cd, n, 16.0)),
        Check::new(format!("mse da, {what}"), host(&da)?, da_ref, Tol::elementwise(cd)),
    ])
}

pub fn cases() -> Vec<Case> {
    vec![
        Case { family: "loss", kernel: "cross_entropy fwd, bwd", run: cross_entropy_case },
        Case { family: "loss", kernel: "kl_div fwd, bwd", run: kl_case },
        Case { family: "loss", kernel: "mse fwd, bwd", run: mse_case },
    ]
}
