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

use autograd::{Backward, Var};
use rayon::prelude::*;
use tensor::{bail, DType, FloatElem, Real, Result, Tensor};

/// `(y, dx, dw, dbias)` in f64 straight from the sums above (the algorithmic reference).
pub fn conv1d_reference(x: &[f64], w: &[f64], bias: Option<&[f64]>, dy: Option<&[f64]>, b: usize, t: usize, c: usize, kw: usize) -> (Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>) {
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

fn forward_kernel<T: FloatElem>(x: &[T], w: &[T::C], bias: Option<&[T::C]>, b: usize, t: usize, c: usize, kw: usize) -> Vec<T> {
    let mut y = vec![T::zeroed(); b * t * c];
    // One task per sequence; inside, time steps in order, channels innermost (contiguous).
    y.par_chunks_mut(t * c).enumerate().for_each(|(bi, yb)| {
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
fn backward_kernel<T: FloatElem>(x: &[T], w: &[T::C], dy: &[T], b: usize, t: usize, c: usize, kw: usize) -> (Vec<T>, Vec<T::C>, Vec<T::C>) {
    let mut dx = vec![T::zeroed(); b * t * c];
    dx.par_chunks_mut(t * c).enumerate().for_each(|(bi, dxb)| {
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
                        let xr = &x[(bi * t + src as usize) * c + c0..(bi * t + src as usize) * c + c1];
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
        bail!("conv1d", "expects x [B, T, C] and weight [C, W], got {:?} and {:?}", x.dims(), w.dims())
    }
    if let Some(bb) = bias {
        if bb.dims() != [w.dims()[0]] {
            bail!("conv1d", "bias of shape {:?} does not match {} channels", bb.dims(), w.dims()[0])
        }
    }
    Ok((x.dims()[0], x.dims()[1], x.dims()[2], w.dims()[1]))
}

/// A compute type with its storage type being itself (f32 or f64), with a GEMM.
pub trait Compute: FloatElem<C = Self> + Real + tensor::cpu::gemm::GemmScalar {}
impl Compute for f32 {}
impl Compute for f64 {}

/// The values of `t` in compute type `T`, contiguous.
pub fn values<T: Compute>(t: &Tensor) -> Result<Vec<T>> {
    t.to_dtype(T::DTYPE)?.to_vec()
}

/// The forward on plain tensors (f64 stays f64, others compute and return f32).
pub fn conv1d_forward(x: &Tensor, w: &Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
    fn go<T: Compute>(x: &Tensor, w: &Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
        let (b, t, c, kw) = dims(x, w, bias)?;
        let bv = bias.map(values::<T>).transpose()?;
        Tensor::from_vec(forward_kernel(&values::<T>(x)?, &values::<T>(w)?, bv.as_deref(), b, t, c, kw), [b, t, c])
    }
    if x.dtype() == DType::F64 {
        go::<f64>(x, w, bias)
    } else {
        go::<f32>(x, w, bias)
    }
}

struct Conv1dBackward {
    x: Tensor,
    w: Tensor,
    has_bias: bool,
}

impl Backward for Conv1dBackward {
    fn name(&self) -> &'static str {
        "conv1d"
    }
    fn backward(&self, g: &[Option<Tensor>], _needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let Some(dy) = &g[0] else { return Ok(vec![None, None, None]) };
        fn go<T: Compute>(x: &Tensor, w: &Tensor, dy: &Tensor) -> Result<(Tensor, Tensor, Tensor)> {
            let (b, t, c, kw) = dims(x, w, None)?;
            let (dx, dw, db) = backward_kernel(&values::<T>(x)?, &values::<T>(w)?, &values::<T>(dy)?, b, t, c, kw);
            Ok((Tensor::from_vec(dx, [b, t, c])?, Tensor::from_vec(dw, [c, kw])?, Tensor::from_vec(db, c)?))
        }
        let (dx, dw, db) = if self.x.dtype() == DType::F64 { go::<f64>(&self.x, &self.w, dy)? } else { go::<f32>(&self.x, &self.w, dy)? };
        Ok(vec![Some(dx), Some(dw), self.has_bias.then_some(db)])
    }
}

/// The differentiable op: `x [B, T, C]`, `weight [C, W]`, `bias [C]`.
pub fn conv1d(x: &Var, weight: &Var, bias: Option<&Var>) -> Result<Var> {
    let y = conv1d_forward(x.value(), weight.value(), bias.map(|b| b.value()))?;
    let back = Conv1dBackward { x: x.value().clone(), w: weight.value().clone(), has_bias: bias.is_some() };
    match bias {
        Some(bb) => Ok(Var::from_op1(back, &[x, weight, bb], y)),
        None => {
            // A constant zero bias keeps one op with three inputs.
            let zero = Var::constant(Tensor::zeros(weight.dims()[0], weight.dtype()));
            Ok(Var::from_op1(back, &[x, weight, &zero], y))
        }
    }
}

/// Continues a convolution from a decoding state: `tail [B, W-1, C]` holds the last inputs
/// seen (zeros at the start). Returns the outputs for `x [B, T, C]` and the new tail.
pub fn conv1d_step(x: &Var, tail: &Tensor, weight: &Var, bias: Option<&Var>) -> Result<(Var, Tensor)> {
    let kw = weight.dims()[1];
    let t = x.dims()[1];
    let joined = Var::cat(&[&Var::constant(tail.to_dtype(x.dtype())?), x], 1)?;
    let y = conv1d(&joined, weight, bias)?.narrow(1, kw - 1, t)?;
    let total = joined.dims()[1];
    let new_tail = joined.value().narrow(1, total - (kw - 1), kw - 1)?.contiguous()?;
    Ok((y, new_tail))
}

/// Weights that pass the input through unchanged (`w[:, W-1] = 1`): LAWCAT's initial conv.
pub fn identity_weight(channels: usize, width: usize) -> Tensor {
    let mut w = vec![0f32; channels * width];
    for c in 0..channels {
        w[c * width + width - 1] = 1.0;
    }
    Tensor::from_vec(w, [channels, width]).expect("shape matches")
}
