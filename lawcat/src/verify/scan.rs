//! Cases of the fused sequence kernels (`ptx/kernels/{attention,conv1d,gla}.cu`): blocked
//! softmax attention over strided KV-cache views, the causal conv1d (forward, backward,
//! decoding step) and gated linear attention (chunked and recurrent, forward and backward,
//! the in-place decoding step, the normalized variant's shapes), each against the CPU body of
//! the same op on the same inputs.
//!
//! Until the primitive kernels exist on a device, a case runs only the fused op there: inputs
//! are built on the host, uploaded (`to_device`), viewed in place on the device (narrow,
//! permute: no kernel), and results come back with `to_device(&Device::Cpu)`; whatever the
//! composite ops around the fused one do (the normalized GLA's division) is done on the host.

use super::{gen, Case, Check};
use crate::ops::conv1d::{conv1d, conv1d_forward, conv1d_step_inplace};
use crate::ops::gla::{self, gla_normalized, GlaMode, GlaStep};
use autograd::{backward_multi, no_grad, Var};
use tensor::tolerance::Tol;
use tensor::{DType, Device, Result, Rng, Tensor};

/// Uniform values of `shape` on the host and the same values on `device`.
fn both(
    shape: &[usize],
    dtype: DType,
    lo: f64,
    hi: f64,
    device: &Device,
    rng: &mut Rng,
) -> Result<(Tensor, Tensor)> {
    gen::pair(shape, dtype, lo, hi, false, device, rng)
}

/// The largest magnitude of a tensor (the scale of its tolerance).
fn max_abs(t: &Tensor) -> Result<f64> {
    Ok(t.to_vec_f64()?.iter().fold(0f64, |m, x| m.max(x.abs())))
}

/// A sum of `n` terms in the compute type of `dtype`, relative to the reference's largest
/// magnitude (`Tol::accumulated` with the reference's scale).
fn tol(dtype: DType, n: usize, want: &Tensor) -> Result<Tol> {
    Ok(Tol::accumulated(dtype.compute(), n, max_abs(want)?.max(1e-30)))
}

fn check(what: String, got: &Tensor, want: &Tensor, n: usize) -> Result<Check> {
    let t = tol(want.dtype(), n, want)?;
    Ok(Check::new(what, got.to_device(&Device::Cpu)?, want.clone(), t))
}

/// As [`check`], for a result whose terms are `scale` large even where it is near zero (a
/// difference that cancels: the gate gradient `q dq - k dk`).
fn check_scaled(what: String, got: &Tensor, want: &Tensor, n: usize, scale: f64) -> Result<Check> {
    let t = Tol::accumulated(want.dtype().compute(), n, scale.max(max_abs(want)?).max(1e-30));
    Ok(Check::new(what, got.to_device(&Device::Cpu)?, want.clone(), t))
}

/// `sdpa_blocked` over a KV cache: `k, v` are narrowed views of `[B, capacity, H_kv, d]`
/// buffers, `q` a permuted view of `[B, H, T, d]`; GQA, positions from `start`, decoding
/// (T = 1) over long caches (split over the keys), f32 and bf16.
fn attention(device: &Device, rng: &mut Rng, size: usize) -> Result<Vec<Check>> {
    let decode_long = size == 1 && rng.below(3) == 0;
    let t = if decode_long { 1 } else { gen::len(rng, size, &[0, 1, 2, 9], &[1, 63, 65, 1000]) };
    let t = if size == 1 && !decode_long { [1, 63, 65][rng.below(3)] } else { t };
    let d = gen::len(rng, size, &[8, 6], &[64, 128, 60]);
    let d = if size == 1 { [16, 60][rng.below(2)] } else { d };
    let (b, hkv, rep) = if size >= 2 {
        (2, 4, 4)
    } else {
        (1 + rng.below(2), 1 + rng.below(2), [1, 2, 3][rng.below(3)])
    };
    let (b, hkv, rep) = if size == 1 && t > 1 { (1, 1, 2) } else { (b, hkv, rep) };
    let h = hkv * rep;
    let start = if decode_long {
        500 + rng.below(200)
    } else if size >= 2 {
        rng.below(3000)
    } else {
        rng.below(20)
    };
    let s = start + t;
    let cap = s + rng.below(5);
    let dtype = if rng.below(3) == 0 { DType::BF16 } else { DType::F32 };
    let (kc, kd) = both(&[b, cap, hkv, d], dtype, -1.0, 1.0, device, rng)?;
    let (vc, vd) = both(&[b, cap, hkv, d], dtype, -1.0, 1.0, device, rng)?;
    let (qc, qd) = both(&[b, h, t, d], dtype, -2.0, 2.0, device, rng)?;
    let view = |x: &Tensor| x.narrow(1, 0, s);
    let (qc, qd) = (qc.permute(&[0, 2, 1, 3])?, qd.permute(&[0, 2, 1, 3])?);
    let want = nn::attention_kernel::sdpa_blocked(&qc, &view(&kc)?, &view(&vc)?, start)?;
    let got = nn::attention_kernel::sdpa_blocked(&qd, &view(&kd)?, &view(&vd)?, start)?;
    let what = format!("sdpa {dtype} b{b} t{t} h{h}/{hkv} d{d} start {start} cache {cap}");
    Ok(vec![check(what, &got, &want, s.max(d))?])
}

/// conv1d forward and backward (through autograd, every gradient) on a transposed view of
/// `x`, with and without bias, widths 1 and 4; a bf16 forward.
fn conv1d_case(device: &Device, rng: &mut Rng, size: usize) -> Result<Vec<Check>> {
    let t = gen::len(rng, size, &[0, 1, 5, 17], &[1000]);
    let t = if size == 1 { [1, 63, 65][rng.below(3)] } else { t };
    let c = gen::len(rng, size, &[3, 60], &[2048, 576]);
    let b = if size >= 2 { 4 } else { 1 + rng.below(2) };
    let kw = [1, 4, 4][rng.below(3)];
    let dtype = [DType::F32, DType::F64][rng.below(2)];
    let mut out = vec![];
    let (xc, xd) = gen::pair(&[b, t, c], dtype, -1.0, 1.0, rng.below(2) == 0, device, rng)?;
    let (wc, wd) = both(&[c, kw], dtype, -1.0, 1.0, device, rng)?;
    let with_bias = rng.below(2) == 0;
    let (bc, bd) = both(&[c], dtype, -1.0, 1.0, device, rng)?;
    let (dyc, dyd) = both(&[b, t, c], dtype, -1.0, 1.0, device, rng)?;
    let run = |x: &Tensor,
               w: &Tensor,
               bias: &Tensor,
               dy: &Tensor|
     -> Result<(Tensor, Vec<Tensor>)> {
        let (x, w, bias) = (Var::leaf(x.clone()), Var::leaf(w.clone()), Var::leaf(bias.clone()));
        let y = conv1d(&x, &w, with_bias.then_some(&bias))?;
        let grads = y.backward_with(dy.clone())?;
        let mut gs = vec![grads.get(&x).cloned(), grads.get(&w).cloned()];
        if with_bias {
            gs.push(grads.get(&bias).cloned());
        }
        let gs = gs
            .into_iter()
            .map(|g| g.ok_or_else(|| tensor::Error::op("verify conv1d", "a gradient is missing")))
            .collect::<Result<Vec<_>>>()?;
        Ok((y.value().clone(), gs))
    };
    let (yw, gw) = run(&xc, &wc, &bc, &dyc)?;
    let (yg, gg) = run(&xd, &wd, &bd, &dyd)?;
    let tag = format!("{dtype} b{b} t{t} c{c} w{kw} bias {with_bias}");
    out.push(check(format!("conv1d y {tag}"), &yg, &yw, kw + 1)?);
    for (name, (g, w)) in ["dx", "dw", "dbias"].iter().zip(gg.iter().zip(&gw)) {
        out.push(check(
            format!("conv1d {name} {tag}"),
            g,
            w,
            if *name == "dx" { kw } else { b * t },
        )?);
    }
    let (xc16, xd16) = both(&[b, t, c], DType::BF16, -1.0, 1.0, device, rng)?;
    let want = conv1d_forward(&xc16, &wc, None)?;
    out.push(check(
        format!("conv1d y bf16 x, {dtype} w, b{b} t{t} c{c}"),
        &conv1d_forward(&xd16, &wd, None)?,
        &want,
        kw,
    )?);
    Ok(out)
}

/// The decoding step in place: two calls (T = 1, then a few steps) from a random tail.
fn conv1d_step(device: &Device, rng: &mut Rng, size: usize) -> Result<Vec<Check>> {
    let c = gen::len(rng, size, &[3, 60], &[2048]);
    let b = 1 + rng.below(2);
    let kw = [1, 4, 4, 3][rng.below(4)];
    let dtype = [DType::F32, DType::F64][rng.below(2)];
    let mut tail_c = Tensor::rand_uniform([b, kw - 1, c], -1.0, 1.0, dtype, &Device::Cpu, rng)?;
    let mut tail_d = tail_c.to_device(device)?;
    let (wc, wd) = both(&[c, kw], dtype, -1.0, 1.0, device, rng)?;
    let (bc, bd) = both(&[c], dtype, -1.0, 1.0, device, rng)?;
    let with_bias = rng.below(2) == 0;
    let mut out = vec![];
    for (i, t) in [1, 1 + rng.below(6)].into_iter().enumerate() {
        let (xc, xd) = both(&[b, t, c], DType::F32, -1.0, 1.0, device, rng)?;
        let yc = conv1d_step_inplace(&xc, &mut tail_c, &wc, with_bias.then_some(&bc))?;
        let yd = conv1d_step_inplace(&xd, &mut tail_d, &wd, with_bias.then_some(&bd))?;
        let tag = format!("{dtype} b{b} t{t} c{c} w{kw} bias {with_bias}, call {i}");
        out.push(check(format!("conv1d step y {tag}"), &yd, &yc, kw + 1)?);
        out.push(Check::new(
            format!("conv1d step tail {tag}"),
            tail_d.to_device(&Device::Cpu)?,
            tail_c.clone(),
            Tol::EXACT,
        ));
    }
    Ok(out)
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
        check(format!("gla normalized o {tag}"), &got, want.value(), n)?,
        check(
            format!("gla normalized S {tag}"),
            &s1.narrow(3, 0, d)?.contiguous()?,
            &state.s.value().contiguous()?,
            n,
        )?,
        check(
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
    out.push(check(format!("gla o bf16 {tag}"), &og, &ow, n)?);
    out.push(check(format!("gla final state bf16 {tag}"), &sg, &sw, n)?);
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
        out.push(check(format!("gla step o {tag}"), &od, &oc, k)?);
        out.push(check(format!("gla step state {tag}"), &sd, &sc, k)?);
    }
    Ok(out)
}

pub fn cases() -> Vec<Case> {
    vec![
        Case { kernel: "attn_fwd_r32/r8, attn_combine", run: attention },
        Case { kernel: "conv1d_fwd, conv1d_bwd_*", run: conv1d_case },
        Case { kernel: "conv1d_step_y, conv1d_step_tail", run: conv1d_step },
        Case { kernel: "gla_cumsum, gla_chunk_*", run: gla_chunked },
        Case { kernel: "gla_rec_fwd, gla_rec_bwd(_sum)", run: gla_recurrent },
        Case { kernel: "gla_rec_fwd (step, in place)", run: gla_step },
    ]
}
