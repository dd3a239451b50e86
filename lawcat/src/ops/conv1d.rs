//! Causal depthwise conv1d over time: `x [B, T, C]`, weight `[C, W]` (`w[:, W-1]`
//! multiplies the current step), optional bias `[C]`:
//!
//! ```text
//! y[b, t, c] = bias[c] + sum_{j=0..W-1} w[c, j] * x[b, t - W + 1 + j, c]     (x = 0 before t = 0)
//! ```
//!
//! Backward (`dy` the output gradient):
//! ```text
//! dx[b, s, c] = sum_j w[c, j] * dy[b, s + W - 1 - j, c]     (terms past T dropped)
//! dw[c, j]    = sum_{b,t} dy[b, t, c] * x[b, t - W + 1 + j, c]
//! dbias[c]    = sum_{b,t} dy[b, t, c]
//! ```
//! [`conv1d_reference`] is those sums in f64, loop for loop; [`conv1d`] is the
//! differentiable op (parallel over sequences and channel blocks). Decoding keeps the last
//! `W - 1` inputs ([`conv1d_step`]).

use autograd::Var;
use nn::fused::{self, Compute, Fused, FusedGrad, Input};
use ptx::ops::operand::Operand;
use rayon::prelude::*;
use tensor::{bail, Device, FloatElem, HostIn, HostOut, Real, Result, Tensor};

/// `(y, dx, dw, dbias)` in f64 straight from the sums above (the algorithmic reference).
pub fn conv1d_reference(
    x: &[f64],
    w: &[f64],
    bias: Option<&[f64]>,
    dy: Option<&[f64]>,
    b: usize,
    t: usize,
    c: usize,
    kw: usize,
) -> (Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>) {
    let mut y = vec![0.0; b * t * c];
    let (mut dx, mut dw, mut db) = (vec![0.0; b * t * c], vec![0.0; c * kw], vec![0.0; c]);
    for bi in 0..b {
        for ti in 0..t {
            for ci in 0..c {
                let mut s = bias.map_or(0.0, |bb| bb[ci]);
                for j in 0..kw {
                    let src = ti as isize - kw as isize + 1 + j as isize;
                    if src >= 0 {
                        s += w[ci * kw + j] * x[(bi * t + src as usize) * c + ci];
                    }
                }
                y[(bi * t + ti) * c + ci] = s;
                if let Some(dy) = dy {
                    let g = dy[(bi * t + ti) * c + ci];
                    db[ci] += g;
                    for j in 0..kw {
                        let src = ti as isize - kw as isize + 1 + j as isize;
                        if src >= 0 {
                            dw[ci * kw + j] += g * x[(bi * t + src as usize) * c + ci];
                            dx[(bi * t + src as usize) * c + ci] += g * w[ci * kw + j];
                        }
                    }
                }
            }
        }
    }
    (y, dx, dw, db)
}

/// Channels per task: enough contiguous work per sequence to vectorize the inner loop.
const CBLOCK: usize = 64;

fn forward_kernel<T: FloatElem>(
    x: &[T],
    w: &[T::C],
    bias: Option<&[T::C]>,
    b: usize,
    t: usize,
    c: usize,
    kw: usize,
) -> Vec<T> {
    let mut y = vec![T::zeroed(); b * t * c];
    // One task per sequence; inside, time steps in order, channels innermost (contiguous).
    y.par_chunks_mut((t * c).max(1)).enumerate().for_each(|(bi, yb)| {
        let xb = &x[bi * t * c..(bi + 1) * t * c];
        let mut acc = vec![T::C::ZERO; c];
        for ti in 0..t {
            match bias {
                Some(bb) => acc.copy_from_slice(bb),
                None => acc.fill(T::C::ZERO),
            }
            for j in 0..kw {
                let src = ti as isize - kw as isize + 1 + j as isize;
                if src < 0 {
                    continue;
                }
                let row = &xb[src as usize * c..(src as usize + 1) * c];
                for ci in 0..c {
                    acc[ci] += w[ci * kw + j] * row[ci].to_c();
                }
            }
            for (o, a) in yb[ti * c..(ti + 1) * c].iter_mut().zip(&acc) {
                *o = T::from_c(*a);
            }
        }
    });
    y
}

/// `(dx, dw, dbias)`; dw and dbias are summed per channel block in parallel.
fn backward_kernel<T: FloatElem>(
    x: &[T],
    w: &[T::C],
    dy: &[T],
    b: usize,
    t: usize,
    c: usize,
    kw: usize,
) -> (Vec<T>, Vec<T::C>, Vec<T::C>) {
    let mut dx = vec![T::zeroed(); b * t * c];
    dx.par_chunks_mut((t * c).max(1)).enumerate().for_each(|(bi, dxb)| {
        let dyb = &dy[bi * t * c..(bi + 1) * t * c];
        let mut acc = vec![T::C::ZERO; c];
        for s in 0..t {
            acc.fill(T::C::ZERO);
            for j in 0..kw {
                let ti = s + kw - 1 - j;
                if ti >= t {
                    continue;
                }
                let row = &dyb[ti * c..(ti + 1) * c];
                for ci in 0..c {
                    acc[ci] += w[ci * kw + j] * row[ci].to_c();
                }
            }
            for (o, a) in dxb[s * c..(s + 1) * c].iter_mut().zip(&acc) {
                *o = T::from_c(*a);
            }
        }
    });
    let blocks: Vec<usize> = (0..c).step_by(CBLOCK).collect();
    let parts: Vec<(Vec<T::C>, Vec<T::C>)> = blocks
        .par_iter()
        .map(|&c0| {
            let c1 = (c0 + CBLOCK).min(c);
            let n = c1 - c0;
            let (mut dw, mut db) = (vec![T::C::ZERO; n * kw], vec![T::C::ZERO; n]);
            for bi in 0..b {
                for ti in 0..t {
                    let g = &dy[(bi * t + ti) * c + c0..(bi * t + ti) * c + c1];
                    for (d, v) in db.iter_mut().zip(g) {
                        *d += v.to_c();
                    }
                    for j in 0..kw {
                        let src = ti as isize - kw as isize + 1 + j as isize;
                        if src < 0 {
                            continue;
                        }
                        let xr =
                            &x[(bi * t + src as usize) * c + c0..(bi * t + src as usize) * c + c1];
                        for k in 0..n {
                            dw[k * kw + j] += g[k].to_c() * xr[k].to_c();
                        }
                    }
                }
            }
            (dw, db)
        })
        .collect();
    let (mut dw, mut db) = (Vec::with_capacity(c * kw), Vec::with_capacity(c));
    for (w_, b_) in parts {
        dw.extend(w_);
        db.extend(b_);
    }
    (dx, dw, db)
}

fn dims(x: &Tensor, w: &Tensor, bias: Option<&Tensor>) -> Result<(usize, usize, usize, usize)> {
    if x.rank() != 3 || w.rank() != 2 || x.dims()[2] != w.dims()[0] || w.dims()[1] == 0 {
        bail!(
            "conv1d",
            "expects x [B, T, C] and weight [C, W], got {:?} and {:?}",
            x.dims(),
            w.dims()
        )
    }
    if let Some(bb) = bias {
        if bb.dims() != [w.dims()[0]] {
            bail!("conv1d", "bias of shape {:?} does not match {} channels", bb.dims(), w.dims()[0])
        }
    }
    Ok((x.dims()[0], x.dims()[1], x.dims()[2], w.dims()[1]))
}

/// The causal conv1d, one fused op. Forward `(x [B, T, C], w [C, W][, bias [C]]) -> y`, in
/// the compute dtype; backward `(x, w[, bias], dy) -> (dx, dw[, dbias])`. Kernels
/// (`ptx/kernels/conv1d.cu`): `conv1d_fwd_{f32,f64}`; `conv1d_bwd_dx_{f32,f64}`, then
/// `conv1d_bwd_dw_part_*` and `conv1d_bwd_dw_sum_*` (dw and dbias summed over batch and time
/// in a fixed order).
struct Conv1d {
    has_bias: bool,
}

/// `(B, T, C, W)` of a call's `x` and `w`.
fn host_dims(ins: &[HostIn]) -> (usize, usize, usize, usize) {
    let (xd, kw) = (ins[0].dims(), ins[1].dims()[1]);
    (xd[0], xd[1], xd[2], kw)
}

impl Fused for Conv1d {
    fn name(&self) -> &'static str {
        "conv1d"
    }
    fn cpu<T: Compute>(&self, ins: &[HostIn], outs: &mut [HostOut]) -> Result<()> {
        let (b, t, c, kw) = host_dims(ins);
        let bias = if self.has_bias { Some(ins[2].values::<T>()?) } else { None };
        let (x, w) = (ins[0].values::<T>()?, ins[1].values::<T>()?);
        outs[0].write(&forward_kernel(&x, &w, bias.as_deref(), b, t, c, kw))
    }
    fn gpu(&self, ins: &[Operand], outs: &[Operand]) -> Result<()> {
        let bias = if self.has_bias { Some(ins[2]) } else { None };
        ptx::ops::conv1d::forward(outs[0], ins[0], ins[1], bias)
    }
}

impl FusedGrad for Conv1d {
    fn cpu_backward<T: Compute>(
        &self,
        ins: &[HostIn],
        grads: &mut [Option<HostOut>],
    ) -> Result<()> {
        let (b, t, c, kw) = host_dims(ins);
        let dy = ins.last().expect("the cotangent").values::<T>()?;
        let (x, w) = (ins[0].values::<T>()?, ins[1].values::<T>()?);
        let (dx, dw, db) = backward_kernel(&x, &w, &dy, b, t, c, kw);
        for (slot, g) in grads.iter_mut().zip([dx, dw, db]) {
            if let Some(out) = slot {
                out.write(&g)?;
            }
        }
        Ok(())
    }
    fn gpu_backward(&self, ins: &[Operand], grads: &[Option<Operand>]) -> Result<()> {
        let dy = *ins.last().expect("the cotangent");
        let db = grads.get(2).copied().flatten();
        ptx::ops::conv1d::backward(ins[0], ins[1], dy, grads[0], grads[1], db)
    }
}

/// The decoding step, in place: `(x [B, T, C], w [C, W][, bias])` continue the convolution
/// from `tail [B, W - 1, C]` (the last inputs seen, read and written) and write
/// `y [B, T, C]`. Kernels: `conv1d_step_y_{f32,f64}`, then `conv1d_step_tail_*` (the tail in
/// place).
pub struct Conv1dStep {
    pub has_bias: bool,
}

impl Fused for Conv1dStep {
    fn name(&self) -> &'static str {
        "conv1d step"
    }
    fn cpu<T: Compute>(&self, ins: &[HostIn], outs: &mut [HostOut]) -> Result<()> {
        let (b, t, c, kw) = host_dims(ins);
        let x = ins[0].values::<T>()?;
        let tail = outs[0].values::<T>()?;
        // [tail; x] per sequence, the forward over it, the last T outputs and W - 1 inputs
        let n = kw - 1 + t;
        let mut joined = vec![T::ZERO; b * n * c];
        for bi in 0..b {
            joined[bi * n * c..(bi * n + kw - 1) * c]
                .copy_from_slice(&tail[bi * (kw - 1) * c..(bi + 1) * (kw - 1) * c]);
            joined[(bi * n + kw - 1) * c..(bi + 1) * n * c]
                .copy_from_slice(&x[bi * t * c..(bi + 1) * t * c]);
        }
        let bias = if self.has_bias { Some(ins[2].values::<T>()?) } else { None };
        let yj = forward_kernel(&joined, &ins[1].values::<T>()?, bias.as_deref(), b, n, c, kw);
        let (mut y, mut new_tail) =
            (Vec::with_capacity(b * t * c), Vec::with_capacity(b * (kw - 1) * c));
        for bi in 0..b {
            y.extend_from_slice(&yj[(bi * n + kw - 1) * c..(bi + 1) * n * c]);
            new_tail.extend_from_slice(&joined[(bi * n + t) * c..(bi + 1) * n * c]);
        }
        outs[0].write(&new_tail)?;
        outs[1].write(&y)
    }
    fn gpu(&self, ins: &[Operand], outs: &[Operand]) -> Result<()> {
        let bias = if self.has_bias { Some(ins[2]) } else { None };
        ptx::ops::conv1d::step(ins[0], ins[1], bias, outs[0], outs[1])
    }
}

/// The forward on plain tensors, in the compute dtype of `x`.
pub fn conv1d_forward(x: &Tensor, w: &Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
    let (b, t, c, _) = dims(x, w, bias)?;
    let mut ins = vec![x, w];
    ins.extend(bias);
    let op = Conv1d { has_bias: bias.is_some() };
    Ok(fused::run(&op, &ins, &[([b, t, c].into(), x.dtype().compute())])?.remove(0))
}

/// The differentiable op: `x [B, T, C]`, `weight [C, W]`, `bias [C]`.
pub fn conv1d(x: &Var, weight: &Var, bias: Option<&Var>) -> Result<Var> {
    let (b, t, c, _) = dims(x.value(), weight.value(), bias.map(|b| b.value()))?;
    let mut ins = vec![Input::Var(x), Input::Var(weight)];
    ins.extend(bias.map(Input::Var));
    let op = Conv1d { has_bias: bias.is_some() };
    Ok(fused::apply(op, &ins, &[([b, t, c].into(), x.dtype().compute())], 1)?.remove(0))
}

/// Continues a convolution from a decoding state: `tail [B, W-1, C]` holds the last inputs
/// seen (zeros at the start). Returns the outputs for `x [B, T, C]` and the new tail
/// (differentiable in `x` and the weights; decoding without gradients uses [`Conv1dStep`]
/// in place instead).
pub fn conv1d_step(
    x: &Var,
    tail: &Tensor,
    weight: &Var,
    bias: Option<&Var>,
) -> Result<(Var, Tensor)> {
    let kw = weight.dims()[1];
    let t = x.dims()[1];
    let joined = Var::cat(&[&Var::constant(tail.to_dtype(x.dtype())?), x], 1)?;
    let y = conv1d(&joined, weight, bias)?.narrow(1, kw - 1, t)?;
    let total = joined.dims()[1];
    let new_tail = joined.value().narrow(1, total - (kw - 1), kw - 1)?.contiguous()?;
    Ok((y, new_tail))
}

/// The in-place decoding step ([`Conv1dStep`]): advances `tail` and returns `y`.
pub fn conv1d_step_inplace(
    x: &Tensor,
    tail: &mut Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
) -> Result<Tensor> {
    let (b, t, c, kw) = dims(x, weight, bias)?;
    if tail.dims() != [b, kw - 1, c] {
        bail!("conv1d step", "tail of shape {:?}, expected {:?}", tail.dims(), [b, kw - 1, c])
    }
    let mut y = Tensor::zeros([b, t, c], tail.dtype(), &x.device())?;
    let mut ins = vec![x, weight];
    ins.extend(bias);
    fused::run_inplace(&Conv1dStep { has_bias: bias.is_some() }, &ins, &mut [tail, &mut y])?;
    Ok(y)
}

/// Weights that pass the input through unchanged (`w[:, W-1] = 1`): LAWCAT's initial conv.
pub fn identity_weight(channels: usize, width: usize) -> Tensor {
    let mut w = vec![0f32; channels * width];
    for c in 0..channels {
        w[c * width + width - 1] = 1.0;
    }
    Tensor::from_vec(w, [channels, width], &Device::Cpu).expect("shape matches")
}
