//! `ptx/kernels/gla.cu`, launcher `ptx::ops::gla`, fused ops `lawcat::ops::gla` (Gla through
//! `gla`, `gla_normalized` and `forward`; GlaStep through `nn::fused::run_inplace`): gated
//! linear attention chunked (`gla_cumsum`, `gla_chunk_h`, `gla_chunk_fwd_o`, `gla_chunk_bwd`)
//! and recurrent (`gla_rec_fwd_*`, `gla_rec_bwd_*`, `gla_rec_bwd_sum_*`), forward and
//! backward with random cotangents on the output and the final state, the normalized
//! variant's shapes and the in-place decoding step, each against the CPU body of the same op
//! on the same inputs.
//!
//! Inputs are built on the host and uploaded (`to_device`); results come back with
//! `to_device(&Device::Cpu)`. The normalized GLA's division, a composite of primitive ops
//! around the fused one, is done on the host, so that its check is of the fused kernels
//! alone (the primitive kernels have their own cases).

use super::helpers::{both, check_sum, max_abs};
use super::{Case, Check};
use crate::ops::gla::{self, gla_normalized, GlaMode, GlaStep};
use autograd::{backward_multi, no_grad, Var};
use tensor::tolerance::Tol;
use tensor::{DType, Device, Result, Rng, Tensor};

/// As [`check_sum`], for a result whose terms are `scale` large even where it is near zero (a
/// difference that cancels: the gate gradient `q dq - k dk`).
fn check_scaled(what: String, got: &Tensor, want: &Tensor, n: usize, scale: f64) -> Result<Check> {
    let t = Tol::accumulated(want.dtype().compute(), n, scale.max(max_abs(want)?).max(1e-30));
    Ok(Check::new(what, got.to_device(&Device::Cpu)?, want.clone(), t))
}

/// Log gates from weak to strong: `-s u` with `u` uniform in [0.2, 1) and `s` drawn from
/// 0.01 .. 10 (strong gates over a chunk of 64 sum far past e^-88).
fn gates(
    shape: &[usize],
    dtype: DType,
    device: &Device,
    rng: &mut Rng,
) -> Result<(Tensor, Tensor)> {
    let s = [0.01, 0.3, 1.0, 10.0][rng.below(4)];
    both(shape, dtype, -s, -0.2 * s, device, rng)
}

/// Sizes of a GLA case: (B, T, H, K, V) by size class.
fn gla_dims(rng: &mut Rng, size: usize) -> (usize, usize, usize, usize, usize) {
    match size {
        0 => (
            1 + rng.below(2),
            [0, 1, 2, 17][rng.below(4)],
            1,
            [8, 33][rng.below(2)],
            [5, 9][rng.below(2)],
        ),
        // now and then the model's widths: K = 128 (Hedgehog over head dim 64), V = 65
        1 if rng.below(4) == 0 => (1, [1, 17][rng.below(2)], 1, 128, 65),
        1 => (1, [1, 63, 65][rng.below(3)], 1 + rng.below(2), 16, [5, 17][rng.below(2)]),
        _ => (2, 1000, 4, 128, 65),
    }
}

/// GLA through `gla` (the differentiable op) and `backward_multi` with random cotangents on
/// the output and the final state, every gradient compared; with and without an initial state.
fn gla_case(
    device: &Device,
    rng: &mut Rng,
    size: usize,
    mode: GlaMode,
    dtype: DType,
) -> Result<Vec<Check>> {
    let (b, t, h, k, v) = gla_dims(rng, size);
    let (qc, qd) = both(&[b, t, h, k], dtype, -1.0, 1.0, device, rng)?;
    let (kc, kd) = both(&[b, t, h, k], dtype, -1.0, 1.0, device, rng)?;
    let (vc, vd) = both(&[b, t, h, v], dtype, -1.0, 1.0, device, rng)?;
    let (gc, gd) = gates(&[b, t, h, k], dtype, device, rng)?;
    let (sc, sd) = both(&[b, h, k, v], dtype, -1.0, 1.0, device, rng)?;
    let (doc, dod) = both(&[b, t, h, v], dtype, -1.0, 1.0, device, rng)?;
    let (dsc, dsd) = both(&[b, h, k, v], dtype, -1.0, 1.0, device, rng)?;
    let with_s0 = rng.below(2) == 0;
    let scale = 1.0 / (k as f64).sqrt();
    let run = |x: [&Tensor; 5], d_o: &Tensor, d_s: &Tensor| -> Result<Vec<Tensor>> {
        let vars: Vec<Var> = x.iter().map(|t| Var::leaf((*t).clone())).collect();
        let (o, sf) = gla::gla(
            &vars[0],
            &vars[1],
            &vars[2],
            &vars[3],
            with_s0.then_some(&vars[4]),
            scale,
            mode,
        )?;
        let grads = backward_multi(&[(&o, d_o.clone()), (&sf, d_s.clone())])?;
        let mut out = vec![o.value().clone(), sf.value().clone()];
        for var in vars.iter().take(if with_s0 { 5 } else { 4 }) {
            out.push(
                grads
                    .get(var)
                    .cloned()
                    .ok_or_else(|| tensor::Error::op("verify gla", "a gradient is missing"))?,
            );
        }
        Ok(out)
    };
    let want = run([&qc, &kc, &vc, &gc, &sc], &doc, &dsc)?;
    let got = run([&qd, &kd, &vd, &gd, &sd], &dod, &dsd)?;
    let tag = format!("{mode:?} {dtype} b{b} t{t} h{h} k{k} v{v} s0 {with_s0}");
    let n = t.min(64) + k + v;
    // dg = reverse cumsum of q dq - k dk (+ the state term): its terms are as large as
    // |q dq| and |k dk| (q, k within [-1, 1]) even where they cancel
    let dg_scale = max_abs(&want[2])?.max(max_abs(&want[3])?);
    let mut out = vec![];
    for (name, (g, w)) in
        ["o", "final state", "dq", "dk", "dv", "dg", "ds0"].iter().zip(got.iter().zip(&want))
    {
        let scale = if *name == "dg" { dg_scale } else { 0.0 };
        out.push(check_scaled(format!("gla {name} {tag}"), g, w, n, scale)?);
    }
    Ok(out)
}

/// The normalized variant's shapes (V = d + 1, a column of ones): the fused forward on the
/// device over `[v, 1]`, the division on the host, against `gla_normalized` on the CPU; and a
/// bf16 forward of plain GLA.
fn gla_normalized_case(
    device: &Device,
    rng: &mut Rng,
    size: usize,
    mode: GlaMode,
) -> Result<Vec<Check>> {
    let (b, t, h, k, d) = gla_dims(rng, size);
    let eps = 1e-6;
    // positive features, as the Hedgehog map makes them
    let (qc, qd) = both(&[b, t, h, k], DType::F32, 0.0, 1.0, device, rng)?;
    let (kc, kd) = both(&[b, t, h, k], DType::F32, 0.0, 1.0, device, rng)?;
    let vc = Tensor::rand_uniform([b, t, h, d], -1.0, 1.0, DType::F32, &Device::Cpu, rng)?;
    let (gc, gd) = gates(&[b, t, h, k], DType::F32, device, rng)?;
    let v1 = Tensor::cat(&[&vc, &Tensor::ones([b, t, h, 1], DType::F32, &Device::Cpu)?], 3)?;
    let (want, state) = no_grad(|| {
        gla_normalized(
            &Var::constant(qc.clone()),
            &Var::constant(kc.clone()),
            &Var::constant(vc.clone()),
            &Var::constant(gc.clone()),
            None,
            eps,
            mode,
        )
    })?;
    let (o1, s1) = gla::forward(&qd, &kd, &v1.to_device(device)?, &gd, None, 1.0, mode)?;
    let (o1, s1) = (o1.to_device(&Device::Cpu)?, s1.to_device(&Device::Cpu)?);
    let got = o1.narrow(3, 0, d)?.div(&o1.narrow(3, d, 1)?.add_scalar(eps)?)?;
    let tag = format!("{mode:?} b{b} t{t} h{h} k{k} v{}", d + 1);
    let n = t.min(64) + k + d;
    let mut out = vec![
        check_sum(format!("gla normalized o {tag}"), &got, want.value(), n)?,
        check_sum(
            format!("gla normalized S {tag}"),
            &s1.narrow(3, 0, d)?.contiguous()?,
            &state.s.value().contiguous()?,
            n,
        )?,
        check_sum(
            format!("gla normalized z {tag}"),
            &s1.narrow(3, d, 1)?.squeeze(3)?.contiguous()?,
            &state.z.value().contiguous()?,
            n,
        )?,
    ];
    let (q16c, q16d) = both(&[b, t, h, k], DType::BF16, -1.0, 1.0, device, rng)?;
    let (v16c, v16d) = both(&[b, t, h, d], DType::BF16, -1.0, 1.0, device, rng)?;
    let g16c = gc.to_dtype(DType::BF16)?;
    let k16c = kc.to_dtype(DType::BF16)?;
    let k16d = k16c.to_device(device)?;
    let (ow, sw) = gla::forward(&q16c, &k16c, &v16c, &g16c, None, 0.25, mode)?;
    let (og, sg) = gla::forward(&q16d, &k16d, &v16d, &g16c.to_device(device)?, None, 0.25, mode)?;
    out.push(check_sum(format!("gla o bf16 {tag}"), &og, &ow, n)?);
    out.push(check_sum(format!("gla final state bf16 {tag}"), &sg, &sw, n)?);
    Ok(out)
}

fn gla_chunked(device: &Device, rng: &mut Rng, size: usize) -> Result<Vec<Check>> {
    let mode = GlaMode::Chunked([64, 64, 16][rng.below(3)]);
    let mut out = gla_case(device, rng, size, mode, DType::F32)?;
    out.extend(gla_normalized_case(device, rng, size, mode)?);
    Ok(out)
}

fn gla_recurrent(device: &Device, rng: &mut Rng, size: usize) -> Result<Vec<Check>> {
    let dtype = [DType::F32, DType::F64][rng.below(2)];
    let mut out = gla_case(device, rng, size, GlaMode::Recurrent, dtype)?;
    // f64 in the chunked mode runs the recurrent kernels in f64
    out.extend(gla_case(device, rng, size.min(1), GlaMode::Chunked(64), DType::F64)?);
    out.extend(gla_normalized_case(device, rng, size, GlaMode::Recurrent)?);
    Ok(out)
}

/// The decoding step in place (`GlaStep` through `nn::fused::run_inplace`): two calls from a
/// random state, the state of the normalized layer's width (V = d + 1).
fn gla_step(device: &Device, rng: &mut Rng, size: usize) -> Result<Vec<Check>> {
    let (b, _, h, k, v) = gla_dims(rng, size);
    let dtype = [DType::F32, DType::F64][rng.below(2)];
    let mut sc = Tensor::rand_uniform([b, h, k, v], -1.0, 1.0, dtype, &Device::Cpu, rng)?;
    let mut sd = sc.to_device(device)?;
    let mut out = vec![];
    for (i, t) in [1, 1 + rng.below(4)].into_iter().enumerate() {
        let (qc, qd) = both(&[b, t, h, k], DType::F32, 0.0, 1.0, device, rng)?;
        let (kc, kd) = both(&[b, t, h, k], DType::F32, 0.0, 1.0, device, rng)?;
        let (vc, vd) = both(&[b, t, h, v], DType::F32, -1.0, 1.0, device, rng)?;
        let (gc, gd) = gates(&[b, t, h, k], DType::F32, device, rng)?;
        let op = GlaStep { scale: 1.0 };
        let mut oc = Tensor::zeros([b, t, h, v], dtype, &Device::Cpu)?;
        let mut od = Tensor::zeros([b, t, h, v], dtype, device)?;
        nn::fused::run_inplace(&op, &[&qc, &kc, &vc, &gc], &mut [&mut sc, &mut oc])?;
        nn::fused::run_inplace(&op, &[&qd, &kd, &vd, &gd], &mut [&mut sd, &mut od])?;
        let tag = format!("{dtype} b{b} t{t} h{h} k{k} v{v}, call {i}");
        out.push(check_sum(format!("gla step o {tag}"), &od, &oc, k)?);
        out.push(check_sum(format!("gla step state {tag}"), &sd, &sc, k)?);
    }
    Ok(out)
}

pub fn cases() -> Vec<Case> {
    vec![
        Case { family: "gla", kernel: "gla_cumsum, gla_chunk_*", run: gla_chunked },
        Case { family: "gla", kernel: "gla_rec_fwd, gla_rec_bwd(_sum)", run: gla_recurrent },
        Case { family: "gla", kernel: "gla_rec_fwd (step, in place)", run: gla_step },
    ]
}
