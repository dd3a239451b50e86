//! Gated linear attention in fla's conventions: `q, k [B, T, H, K]`, `v [B, T, H, V]`,
//! log forget gates `g [B, T, H, K]` (per feature; a per-head scalar gate is the same op
//! with `g` broadcast over K), state `[B, H, K, V]`:
//!
//! ```text
//! S_t = diag(exp g_t) S_{t-1} + k_t v_t^T          o_t = scale * S_t^T q_t
//! ```
//!
//! Two forms compute it, each with its own backward, and one is tested against the other:
//! * `recurrent` — the equations step by step (the reference; f64 when given f64),
//! * `chunked` — chunks of 64 steps as small matrix products, the intra-chunk part in
//!   sub-chunks of 16 relative to a reference point so no exponent is ever positive.
//!
//! The normalized variant (LAWCAT's) is a composite: a column of ones appended to `v`
//! makes the same scan carry `z_t = diag(exp g_t) z_{t-1} + k_t` and `q_t . z_t`.

pub mod chunked;
pub mod recurrent;

use crate::ops::conv1d::{values, Compute};
use autograd::{Backward, Var};
use tensor::{bail, DType, Result, Tensor};

/// Which form computes the scan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GlaMode {
    Recurrent,
    /// Chunks of this many steps (64 in the spec), sub-chunks of 16.
    Chunked(usize),
}

impl Default for GlaMode {
    fn default() -> Self {
        GlaMode::Chunked(64)
    }
}

/// Sizes of one call: batch, time, heads, key dim, value dim.
#[derive(Clone, Copy, Debug)]
pub struct Dims {
    pub b: usize,
    pub t: usize,
    pub h: usize,
    pub k: usize,
    pub v: usize,
}

/// One (sequence, head) slice: contiguous `[T, K]`, `[T, V]` rows and `[K, V]` states.
pub struct Lane<'a, T> {
    pub q: &'a [T],
    pub k: &'a [T],
    pub v: &'a [T],
    pub g: &'a [T],
    pub s0: &'a [T],
}

/// Gradients of one lane.
pub struct LaneGrads<T> {
    pub dq: Vec<T>,
    pub dk: Vec<T>,
    pub dv: Vec<T>,
    pub dg: Vec<T>,
    pub ds0: Vec<T>,
}

fn check(q: &Tensor, k: &Tensor, v: &Tensor, g: &Tensor, s0: Option<&Tensor>) -> Result<Dims> {
    if q.rank() != 4 || k.dims() != q.dims() || g.dims() != q.dims() || v.rank() != 4 || v.dims()[..3] != q.dims()[..3] {
        bail!("gla", "expects q, k, g [B, T, H, K] and v [B, T, H, V]; got q {:?}, k {:?}, v {:?}, g {:?}", q.dims(), k.dims(), v.dims(), g.dims())
    }
    let d = Dims { b: q.dims()[0], t: q.dims()[1], h: q.dims()[2], k: q.dims()[3], v: v.dims()[3] };
    if let Some(s) = s0 {
        if s.dims() != [d.b, d.h, d.k, d.v] {
            bail!("gla", "initial state must be [B, H, K, V] = {:?}, got {:?}", [d.b, d.h, d.k, d.v], s.dims())
        }
    }
    Ok(d)
}

/// `[B, T, H, X]` values regrouped as `[B, H, T, X]` (one contiguous lane per sequence and head).
fn to_lanes<T: Compute>(t: &Tensor) -> Result<Vec<T>> {
    values::<T>(&t.permute(&[0, 2, 1, 3])?.contiguous()?)
}

fn from_lanes<T: Compute>(v: Vec<T>, d: Dims, x: usize) -> Result<Tensor> {
    Tensor::from_vec(v, [d.b, d.h, d.t, x])?.permute(&[0, 2, 1, 3])?.contiguous()
}

/// Runs the forward of every lane; returns `(o [B, T, H, V], final state [B, H, K, V])`.
pub fn forward(q: &Tensor, k: &Tensor, v: &Tensor, g: &Tensor, s0: Option<&Tensor>, scale: f64, mode: GlaMode) -> Result<(Tensor, Tensor)> {
    let d = check(q, k, v, g, s0)?;
    if q.dtype() == DType::F64 {
        forward_as::<f64>(q, k, v, g, s0, scale, mode, d)
    } else {
        forward_as::<f32>(q, k, v, g, s0, scale, mode, d)
    }
}

#[allow(clippy::too_many_arguments)]
fn forward_as<T: Compute>(q: &Tensor, k: &Tensor, v: &Tensor, g: &Tensor, s0: Option<&Tensor>, scale: f64, mode: GlaMode, d: Dims) -> Result<(Tensor, Tensor)> {
    use rayon::prelude::*;
    let (qs, ks, vs, gs) = (to_lanes::<T>(q)?, to_lanes::<T>(k)?, to_lanes::<T>(v)?, to_lanes::<T>(g)?);
    let s0v = match s0 {
        Some(s) => values::<T>(&s.contiguous()?)?,
        None => vec![T::ZERO; d.b * d.h * d.k * d.v],
    };
    let scale = <T as tensor::Real>::from_f64(scale);
    let (tk, tv, kv) = (d.t * d.k, d.t * d.v, d.k * d.v);
    let results: Vec<(Vec<T>, Vec<T>)> = (0..d.b * d.h)
        .into_par_iter()
        .map(|l| {
            let lane = Lane { q: &qs[l * tk..(l + 1) * tk], k: &ks[l * tk..(l + 1) * tk], v: &vs[l * tv..(l + 1) * tv], g: &gs[l * tk..(l + 1) * tk], s0: &s0v[l * kv..(l + 1) * kv] };
            match mode {
                GlaMode::Recurrent => recurrent::forward(&lane, d, scale),
                GlaMode::Chunked(c) => {
                    let (o, states) = chunked::forward(&lane, d, scale, c);
                    (o, states[states.len() - kv..].to_vec())
                }
            }
        })
        .collect();
    let mut o = Vec::with_capacity(d.b * d.h * tv);
    let mut sf = Vec::with_capacity(d.b * d.h * kv);
    for (lo, ls) in results {
        o.extend(lo);
        sf.extend(ls);
    }
    Ok((from_lanes(o, d, d.v)?, Tensor::from_vec(sf, [d.b, d.h, d.k, d.v])?))
}

/// `(dq, dk, dv, dg, d_initial_state)` from the output and final-state gradients.
#[allow(clippy::too_many_arguments)]
pub fn backward(q: &Tensor, k: &Tensor, v: &Tensor, g: &Tensor, s0: Option<&Tensor>, d_o: &Tensor, d_sf: &Tensor, scale: f64, mode: GlaMode) -> Result<[Tensor; 5]> {
    let d = check(q, k, v, g, s0)?;
    if q.dtype() == DType::F64 {
        backward_as::<f64>(q, k, v, g, s0, d_o, d_sf, scale, mode, d)
    } else {
        backward_as::<f32>(q, k, v, g, s0, d_o, d_sf, scale, mode, d)
    }
}

#[allow(clippy::too_many_arguments)]
fn backward_as<T: Compute>(q: &Tensor, k: &Tensor, v: &Tensor, g: &Tensor, s0: Option<&Tensor>, d_o: &Tensor, d_sf: &Tensor, scale: f64, mode: GlaMode, d: Dims) -> Result<[Tensor; 5]> {
    use rayon::prelude::*;
    let (qs, ks, vs, gs) = (to_lanes::<T>(q)?, to_lanes::<T>(k)?, to_lanes::<T>(v)?, to_lanes::<T>(g)?);
    let dos = to_lanes::<T>(d_o)?;
    let dsf = values::<T>(&d_sf.contiguous()?)?;
    let s0v = match s0 {
        Some(s) => values::<T>(&s.contiguous()?)?,
        None => vec![T::ZERO; d.b * d.h * d.k * d.v],
    };
    let scale = <T as tensor::Real>::from_f64(scale);
    let (tk, tv, kv) = (d.t * d.k, d.t * d.v, d.k * d.v);
    let grads: Vec<LaneGrads<T>> = (0..d.b * d.h)
        .into_par_iter()
        .map(|l| {
            let lane = Lane { q: &qs[l * tk..(l + 1) * tk], k: &ks[l * tk..(l + 1) * tk], v: &vs[l * tv..(l + 1) * tv], g: &gs[l * tk..(l + 1) * tk], s0: &s0v[l * kv..(l + 1) * kv] };
            let (d_o, d_sf) = (&dos[l * tv..(l + 1) * tv], &dsf[l * kv..(l + 1) * kv]);
            match mode {
                GlaMode::Recurrent => recurrent::backward(&lane, d_o, d_sf, d, scale),
                GlaMode::Chunked(c) => chunked::backward(&lane, d_o, d_sf, d, scale, c),
            }
        })
        .collect();
    let mut acc: [Vec<T>; 5] = Default::default();
    for lg in grads {
        acc[0].extend(lg.dq);
        acc[1].extend(lg.dk);
        acc[2].extend(lg.dv);
        acc[3].extend(lg.dg);
        acc[4].extend(lg.ds0);
    }
    let [dq, dk, dv, dg, ds0] = acc;
    Ok([from_lanes(dq, d, d.k)?, from_lanes(dk, d, d.k)?, from_lanes(dv, d, d.v)?, from_lanes(dg, d, d.k)?, Tensor::from_vec(ds0, [d.b, d.h, d.k, d.v])?])
}

struct GlaBackward {
    q: Tensor,
    k: Tensor,
    v: Tensor,
    g: Tensor,
    s0: Option<Tensor>,
    scale: f64,
    mode: GlaMode,
}

impl Backward for GlaBackward {
    fn name(&self) -> &'static str {
        "gla"
    }
    fn backward(&self, grads: &[Option<Tensor>], _needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let dt = if self.q.dtype() == DType::F64 { DType::F64 } else { DType::F32 };
        let d_o = match &grads[0] {
            Some(g) => g.clone(),
            None => Tensor::zeros(self.v.dims(), dt),
        };
        let sdims = [self.q.dims()[0], self.q.dims()[2], self.q.dims()[3], self.v.dims()[3]];
        let d_sf = match &grads[1] {
            Some(g) => g.clone(),
            None => Tensor::zeros(sdims, dt),
        };
        let [dq, dk, dv, dg, ds0] = backward(&self.q, &self.k, &self.v, &self.g, self.s0.as_ref(), &d_o, &d_sf, self.scale, self.mode)?;
        Ok(vec![Some(dq), Some(dk), Some(dv), Some(dg), self.s0.as_ref().map(|_| ds0)])
    }
}

/// Per-head scalar gates `[B, T, H]` stretched over the features (their gradient sums
/// back over K through the broadcast); per-feature gates `[B, T, H, K]` as they are.
fn gates(g: &Var, q: &Var) -> Result<Var> {
    if g.rank() == 3 && q.rank() == 4 && g.dims() == &q.dims()[..3] {
        g.unsqueeze(3)?.broadcast_as(q.dims())?.contiguous()
    } else {
        Ok(g.clone())
    }
}

/// Plain GLA (fla `chunk_gla` semantics): returns `(o [B, T, H, V], S_T [B, H, K, V])`.
/// `g` is `[B, T, H, K]` (per feature) or `[B, T, H]` (one scalar gate per head).
pub fn gla(q: &Var, k: &Var, v: &Var, g: &Var, initial: Option<&Var>, scale: f64, mode: GlaMode) -> Result<(Var, Var)> {
    let g = &gates(g, q)?;
    let (o, sf) = forward(q.value(), k.value(), v.value(), g.value(), initial.map(|s| s.value()), scale, mode)?;
    let back = GlaBackward {
        q: q.value().clone(),
        k: k.value().clone(),
        v: v.value().clone(),
        g: g.value().clone(),
        s0: initial.map(|s| s.value().clone()),
        scale,
        mode,
    };
    let zero = Var::constant(Tensor::zeros((), q.dtype()));
    let s0 = initial.unwrap_or(&zero);
    let mut outs = Var::from_op(back, &[q, k, v, g, s0], vec![o, sf]);
    let sf = outs.pop().expect("two outputs");
    Ok((outs.pop().expect("two outputs"), sf))
}

/// The state of normalized GLA: `S [B, H, K, V]` and `z [B, H, K]`.
#[derive(Clone)]
pub struct NormState {
    pub s: Var,
    pub z: Var,
}

/// Normalized GLA: `o_t = (q_t^T S_t) / (q_t . z_t + eps)` with `z` the same scan over
/// the keys (no scale). Returns `o` and the final `(S, z)`.
pub fn gla_normalized(q: &Var, k: &Var, v: &Var, g: &Var, initial: Option<&NormState>, eps: f64, mode: GlaMode) -> Result<(Var, NormState)> {
    let (b, t, h, vd) = (v.dims()[0], v.dims()[1], v.dims()[2], v.dims()[3]);
    let ones = Var::constant(Tensor::ones([b, t, h, 1], v.dtype()));
    let v1 = Var::cat(&[v, &ones], 3)?;
    let s0 = match initial {
        Some(st) => Some(Var::cat(&[&st.s, &st.z.unsqueeze(3)?], 3)?),
        None => None,
    };
    let (o1, s1) = gla(q, k, &v1, g, s0.as_ref(), 1.0, mode)?;
    let num = o1.narrow(3, 0, vd)?;
    let den = o1.narrow(3, vd, 1)?.add_scalar(eps)?;
    let o = num.div(&den)?;
    let state = NormState { s: s1.narrow(3, 0, vd)?, z: s1.narrow(3, vd, 1)?.squeeze(3)? };
    Ok((o, state))
}
