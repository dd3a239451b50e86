//! Cases of the fused-op kernels (`ptx/kernels/{norm,rope,swiglu,loss,adamw,sample}.cu`): each
//! op, forward and backward, through its public function (`nn::norm::rms_norm`,
//! `nn::rope::apply_rope`, `nn::mlp::swiglu`, `nn::{cross_entropy, kl_div, mse}` with
//! `backward_with`, `AdamW::step`, `ChooseTokens`) on the device under test against the same
//! call on the CPU, on awkward shapes (rows 1, 63, 65; D = 60), views whose strides do not
//! merge, bf16 and f64 inputs. Inputs are made on the CPU and uploaded; only the fused ops run
//! on the device, and their results are downloaded whole for the comparison.
//!
//! Tolerances: both sides read the same input values and compute in the same dtype, so they
//! differ by rounding only: `Tol::elementwise` of the compute dtype for element-wise results
//! (a few roundings, libm-grade `exp`), `Tol::accumulated` with the number of terms summed for
//! results behind a reduction (the CPU sums in order, the kernels in blocks), and exact
//! equality for AdamW (the kernel performs the CPU's operations in its order) and the chosen
//! token ids.

use super::{gen, Case, Check};
use autograd::{Param, Var};
use nn::generate::{ChooseTokens, Sampling};
use nn::optim::{AdamW, AdamWUpdate, Optimizer};
use nn::rope::Rope;
use nn::RopeScaling;
use nn::{cross_entropy, kl_div, mse};
use tensor::tolerance::Tol;
use tensor::{bail, DType, Device, Result, Rng, Tensor};

/// A float storage dtype for inputs: f32 most often, bf16 and f64 too.
fn float_dtype(rng: &mut Rng) -> DType {
    [DType::F32, DType::F32, DType::BF16, DType::F64][rng.below(4)]
}

/// Uniform values in `[lo, hi)` of `dims` and `dtype`, made on the CPU, and the same values
/// on `device`; both seen through one view drawn at random: contiguous, or two dims swapped
/// (a last dim of stride > 1, or leading dims whose strides do not merge).
fn view(
    dims: &[usize],
    dtype: DType,
    lo: f64,
    hi: f64,
    device: &Device,
    rng: &mut Rng,
) -> Result<(Tensor, Tensor)> {
    let r = dims.len();
    let mut perm: Vec<usize> = (0..r).collect();
    if r >= 2 && rng.below(2) == 1 {
        let (i, j) = (rng.below(r), rng.below(r));
        perm.swap(i, j);
    }
    let stored: Vec<usize> = perm.iter().map(|&p| dims[p]).collect();
    let cpu = Tensor::rand_uniform(stored, lo, hi, dtype, &Device::Cpu, rng)?;
    let dev = cpu.to_device(device)?;
    Ok((cpu.permute(&perm)?, dev.permute(&perm)?))
}

/// `rows` as leading dims: `[rows]`, or `[k, rows / k]` for a small divisor `k`.
fn lead(rows: usize, rng: &mut Rng) -> Vec<usize> {
    match (2..8).find(|k| rows % k == 0 && rows > *k) {
        Some(k) if rng.below(2) == 1 => vec![k, rows / k],
        _ => vec![rows],
    }
}

fn with(mut dims: Vec<usize>, last: usize) -> Vec<usize> {
    dims.push(last);
    dims
}

/// A sum of `n` terms of size about `scale` accumulated in f64 (in another order on each
/// side) and rounded once to `cd`: the larger of the two bounds.
fn f64_sum(cd: DType, n: usize, scale: f64) -> Tol {
    let (a, e) = (Tol::accumulated(DType::F64, n, scale), Tol::elementwise(cd));
    Tol { atol: a.atol.max(e.atol), rtol: a.rtol.max(e.rtol), rms: a.rms.max(e.rms) }
}

/// A device result on the host, for the comparison.
fn host(t: &Tensor) -> Result<Tensor> {
    t.to_device(&Device::Cpu)
}

/// The gradient of `v` in `grads`, or an error naming what is missing.
fn grad_of(grads: &autograd::Gradients, v: &Var, what: &str) -> Result<Tensor> {
    grads
        .get(v)
        .cloned()
        .ok_or_else(|| tensor::Error::op("verify", format!("no gradient for {what}")))
}

/// RMSNorm (`norm.cu`): y, and dx and dw from a random cotangent.
fn rms_norm(device: &Device, rng: &mut Rng, size: usize) -> Result<Vec<Check>> {
    let rows = gen::len(rng, size, &[1, 63, 65], &[1000, 4096]);
    let d = gen::len(rng, size, &[1, 60, 64], &[60, 4096]);
    let dims = with(lead(rows, rng), d);
    let xd = float_dtype(rng);
    let cd = xd.compute();
    // a weight whose gradient dtype is the compute dtype (another needs a cast, a primitive)
    let wd = if cd == DType::F64 { cd } else { [DType::F32, DType::BF16][rng.below(2)] };
    let (x_cpu, x_dev) = view(&dims, xd, -2.0, 2.0, device, rng)?;
    let (w_cpu, w_dev) = view(&[d], wd, 0.5, 1.5, device, rng)?;
    let (g_cpu, g_dev) = view(&dims, cd, -1.0, 1.0, device, rng)?;
    let w_grad = rng.below(3) != 0;
    let eps = 1e-5;
    let run = |x: &Tensor, w: &Tensor, g: &Tensor| -> Result<(Tensor, Tensor, Option<Tensor>)> {
        let (x, w) = (
            Var::leaf(x.clone()),
            if w_grad { Var::leaf(w.clone()) } else { Var::constant(w.clone()) },
        );
        let y = nn::norm::rms_norm(&x, &w, eps)?;
        let grads = y.backward_with(g.clone())?;
        let dw = if w_grad { Some(grad_of(&grads, &w, "w")?) } else { None };
        Ok((y.value().clone(), grad_of(&grads, &x, "x")?, dw))
    };
    let (y, dx, dw) = run(&x_dev, &w_dev, &g_dev)?;
    let (y_ref, dx_ref, dw_ref) = run(&x_cpu, &w_cpu, &g_cpu)?;
    let what = format!("{xd} x {dims:?}, {} w", w_cpu.dtype());
    let mut out = vec![
        Check::new(format!("rms_norm y, {what}"), host(&y)?, y_ref, Tol::accumulated(cd, d, 1.0)),
        Check::new(
            format!("rms_norm dx, {what}"),
            host(&dx)?,
            dx_ref,
            Tol::accumulated(cd, d, 4.0),
        ),
    ];
    if let (Some(dw), Some(dw_ref)) = (dw, dw_ref) {
        out.push(Check::new(
            format!("rms_norm dw, {what}"),
            host(&dw)?,
            dw_ref,
            Tol::accumulated(cd, rows + d, 4.0),
        ));
    }
    Ok(out)
}

/// RoPE (`rope.cu`): the rotation at an offset position and its backward (the inverse).
fn rope(device: &Device, rng: &mut Rng, size: usize) -> Result<Vec<Check>> {
    let b = 1 + rng.below(2);
    let t = gen::len(rng, size, &[1, 5, 63], &[65, 1000]);
    let h = [1, 3][rng.below(2)];
    let d = gen::len(rng, size, &[60, 64], &[64, 128]);
    let start = rng.below(10);
    let scaling = match rng.below(2) {
        0 => RopeScaling::Default,
        _ => RopeScaling::Llama3 {
            factor: 8.0,
            low_freq_factor: 1.0,
            high_freq_factor: 4.0,
            original_max_position_embeddings: 16,
        },
    };
    let rope = Rope::new(d, [10_000.0, 500_000.0][rng.below(2)], &scaling);
    let xd = float_dtype(rng);
    let cd = xd.compute();
    let dims = [b, t, h, d];
    let (x_cpu, x_dev) = view(&dims, xd, -1.0, 1.0, device, rng)?;
    let (g_cpu, g_dev) = view(&dims, cd, -1.0, 1.0, device, rng)?;
    let run = |x: &Tensor, g: &Tensor| -> Result<(Tensor, Tensor)> {
        let x = Var::leaf(x.clone());
        let y = nn::rope::apply_rope(&x, &rope, start)?;
        let grads = y.backward_with(g.clone())?;
        Ok((y.value().clone(), grad_of(&grads, &x, "x")?))
    };
    let (y, dx) = run(&x_dev, &g_dev)?;
    let (y_ref, dx_ref) = run(&x_cpu, &g_cpu)?;
    let what = format!("{xd} x {dims:?} from position {start}");
    Ok(vec![
        Check::new(format!("rope y, {what}"), host(&y)?, y_ref, Tol::elementwise(cd)),
        Check::new(format!("rope dx, {what}"), host(&dx)?, dx_ref, Tol::elementwise(cd)),
    ])
}

/// SwiGLU (`swiglu.cu`): `silu(a) b` and the gradients asked for.
fn swiglu(device: &Device, rng: &mut Rng, size: usize) -> Result<Vec<Check>> {
    let rows = gen::len(rng, size, &[1, 63, 65], &[1000, 4096]);
    let d = gen::len(rng, size, &[1, 60, 64], &[60, 11008]);
    let dims = with(lead(rows, rng), d);
    let ad = float_dtype(rng);
    let cd = ad.compute();
    let bd = if rng.below(2) == 0 { ad } else { cd };
    let (a_cpu, a_dev) = view(&dims, ad, -6.0, 6.0, device, rng)?;
    let (b_cpu, b_dev) = view(&dims, bd, -2.0, 2.0, device, rng)?;
    let (g_cpu, g_dev) = view(&dims, cd, -1.0, 1.0, device, rng)?;
    let want = [[true, true], [true, false], [false, true]][rng.below(3)];
    let run = |a: &Tensor, b: &Tensor, g: &Tensor| -> Result<Vec<Tensor>> {
        let mk =
            |t: &Tensor, w: bool| if w { Var::leaf(t.clone()) } else { Var::constant(t.clone()) };
        let (a, b) = (mk(a, want[0]), mk(b, want[1]));
        let h = nn::mlp::swiglu(&a, &b)?;
        let grads = h.backward_with(g.clone())?;
        let mut out = vec![h.value().clone()];
        for (v, w, name) in [(&a, want[0], "a"), (&b, want[1], "b")] {
            if w {
                out.push(grad_of(&grads, v, name)?);
            }
        }
        Ok(out)
    };
    let (got, want_t) = (run(&a_dev, &b_dev, &g_dev)?, run(&a_cpu, &b_cpu, &g_cpu)?);
    let names = ["h", if want[0] { "da" } else { "db" }, "db"];
    got.iter()
        .zip(want_t)
        .zip(names)
        .map(|((g, w), name)| {
            Ok(Check::new(
                format!("swiglu {name}, {ad} a, {bd} b {dims:?}"),
                host(g)?,
                w,
                Tol::elementwise(cd),
            ))
        })
        .collect()
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

/// AdamW (`adamw.cu`): three `AdamW::step`s of f32 and f64 parameters on the device, equal to
/// the CPU's bit for bit (parameters and both moments); and the update of a bf16/f16
/// parameter through its f32 master copy, run as the op itself (`AdamW::step` makes the
/// master copy with a cast).
fn adamw(device: &Device, rng: &mut Rng, size: usize) -> Result<Vec<Check>> {
    let rows = gen::len(rng, size, &[1, 63, 65], &[1000, 4096]);
    let d = gen::len(rng, size, &[1, 60, 64], &[60, 4096]);
    let dims = vec![rows, d];
    let pd = [DType::F32, DType::F32, DType::F64][rng.below(3)];
    let wd = [0.0, 0.1][rng.below(2)];
    let lr = 1e-3 * (0.5 + rng.uniform());
    let p_cpu = Tensor::rand_uniform(dims.clone(), -1.0, 1.0, pd, &Device::Cpu, rng)?;
    let grads: Vec<(Tensor, Tensor)> =
        (0..3).map(|_| view(&dims, pd, -1.0, 1.0, device, rng)).collect::<Result<_>>()?;
    let run = |p: Tensor, dev: bool| -> Result<Vec<Tensor>> {
        let param = Param::new("w", p);
        let mut opt = AdamW::new(vec![param.clone()], lr).with_weight_decay(wd);
        for (g_cpu, g_dev) in &grads {
            param.set_grad(Some(if dev { g_dev.clone() } else { g_cpu.clone() }));
            opt.step()?;
        }
        let (state, _) = opt.state();
        let mut out = vec![param.value()];
        out.extend(state.into_iter().map(|(_, t)| t));
        Ok(out)
    };
    let got = run(p_cpu.to_device(device)?, true)?;
    let want = run(p_cpu, false)?;
    if got.len() != 3 || want.len() != 3 {
        bail!(
            "adamw",
            "expected the parameter and two moments, got {} and {} tensors",
            got.len(),
            want.len()
        )
    }
    let mut out = vec![];
    for ((g, w), name) in got.iter().zip(want).zip(["param", "m", "v"]) {
        out.push(Check::new(
            format!("AdamW::step x3 {name}, {pd} {dims:?}, wd {wd}"),
            host(g)?,
            w,
            Tol::EXACT,
        ));
    }
    // A bf16/f16 parameter: the op on (param, m, v, master) in place, two steps.
    let ld = [DType::BF16, DType::F16][rng.below(2)];
    let p_cpu = Tensor::rand_uniform(dims.clone(), -1.0, 1.0, ld, &Device::Cpu, rng)?;
    let master_cpu = p_cpu.to_dtype(DType::F32)?;
    let gs: Vec<(Tensor, Tensor)> =
        (0..2).map(|_| view(&dims, DType::F32, -1.0, 1.0, device, rng)).collect::<Result<_>>()?;
    let run = |dev: &Device| -> Result<Vec<Tensor>> {
        let mut state = vec![
            p_cpu.to_device(dev)?,
            Tensor::zeros(dims.clone(), DType::F32, dev)?,
            Tensor::zeros(dims.clone(), DType::F32, dev)?,
            master_cpu.to_device(dev)?,
        ];
        for (t, (g_cpu, g_dev)) in gs.iter().enumerate() {
            let (b1, b2) = (0.9f64, 0.999f64);
            let op = AdamWUpdate(ptx::ops::adamw::Hyper {
                lr,
                beta1: b1,
                beta2: b2,
                eps: 1e-8,
                weight_decay: wd,
                bc1: 1.0 - b1.powi(t as i32 + 1),
                bc2: 1.0 - b2.powi(t as i32 + 1),
            });
            let g = if dev.same(&Device::Cpu) { g_cpu } else { g_dev };
            let mut outs: Vec<&mut Tensor> = state.iter_mut().collect();
            nn::fused::run_inplace(&op, &[g], &mut outs)?;
        }
        Ok(state)
    };
    let (got, want) = (run(device)?, run(&Device::Cpu)?);
    for ((g, w), name) in got.iter().zip(want).zip(["param", "m", "v", "master"]) {
        out.push(Check::new(
            format!("adamw update x2 {name}, {ld} {dims:?} with an f32 master, wd {wd}"),
            host(g)?,
            w,
            Tol::EXACT,
        ));
    }
    Ok(out)
}

/// Choosing tokens (`sample.cu`): greedy and sampled (temperature, top-p, seeded per row and
/// step), the ids equal to the CPU's; logits with many ties (integers) sometimes.
fn choose_tokens(device: &Device, rng: &mut Rng, size: usize) -> Result<Vec<Check>> {
    let b = gen::len(rng, size, &[1, 3, 5], &[1, 8]);
    let v = gen::len(rng, size, &[1, 5, 60, 129], &[1000, 32000]);
    let zd = [DType::F32, DType::F32, DType::BF16][rng.below(3)];
    let scale = [1.0, 4.0, 16.0][rng.below(3)];
    let (z_cpu, z_dev) = view(&[b, v], zd, -scale, scale, device, rng)?;
    let (z_cpu, z_dev) = if rng.below(3) == 0 {
        // integer logits: ties for the first maximum and at the edge of the top-p set
        let r = Tensor::from_vec(
            z_cpu.to_vec_f64()?.iter().map(|x| x.round()).collect::<Vec<_>>(),
            [b, v],
            &Device::Cpu,
        )?
        .to_dtype(zd)?;
        let dev = r.to_device(device)?;
        (r, dev)
    } else {
        (z_cpu, z_dev)
    };
    let sampling = match rng.below(3) {
        0 => Sampling::Greedy,
        _ => Sampling::Sample {
            temperature: 0.5 + rng.uniform(),
            top_p: [1.0, 0.9, 0.5, rng.uniform()][rng.below(4)],
        },
    };
    let op =
        ChooseTokens { sampling, seed: rng.below(1 << 30) as u64, step: rng.below(100) as u64 };
    let (ids, ids_ref) = (op.run(&z_dev)?, op.run(&z_cpu)?);
    Ok(vec![Check::new(
        format!("choose_tokens {sampling:?}, {zd} logits [{b}, {v}]"),
        host(&ids)?,
        ids_ref,
        Tol::EXACT,
    )])
}

pub fn cases() -> Vec<Case> {
    vec![
        Case { kernel: "rms_norm fwd, bwd", run: rms_norm },
        Case { kernel: "rope, inverse", run: rope },
        Case { kernel: "swiglu fwd, bwd", run: swiglu },
        Case { kernel: "cross_entropy fwd, bwd", run: cross_entropy_case },
        Case { kernel: "kl_div fwd, bwd", run: kl_case },
        Case { kernel: "mse fwd, bwd", run: mse_case },
        Case { kernel: "adamw", run: adamw },
        Case { kernel: "choose_tokens", run: choose_tokens },
    ]
}
