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

use autograd::Var;
use nn::fused::{self, Compute, Fused, FusedGrad, Input};
use ptx::ops::gla as kernels;
use ptx::ops::operand::Operand;
use tensor::{bail, DType, HostIn, HostOut, Result, Tensor};

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
    if q.rank() != 4
        || k.dims() != q.dims()
        || g.dims() != q.dims()
        || v.rank() != 4
        || v.dims()[..3] != q.dims()[..3]
    {
        bail!(
            "gla",
            "expects q, k, g [B, T, H, K] and v [B, T, H, V]; got q {:?}, k {:?}, v {:?}, g {:?}",
            q.dims(),
            k.dims(),
            v.dims(),
            g.dims()
        )
    }
    let d = Dims { b: q.dims()[0], t: q.dims()[1], h: q.dims()[2], k: q.dims()[3], v: v.dims()[3] };
    if let Some(s) = s0 {
        if s.dims() != [d.b, d.h, d.k, d.v] {
            bail!(
                "gla",
                "initial state must be [B, H, K, V] = {:?}, got {:?}",
                [d.b, d.h, d.k, d.v],
                s.dims()
            )
        }
    }
    Ok(d)
}

fn dims_of(q: &HostIn, v: &HostIn) -> Dims {
    let (qd, vd) = (q.dims(), v.dims());
    Dims { b: qd[0], t: qd[1], h: qd[2], k: qd[3], v: vd[3] }
}

/// `[B, T, H, X]` values regrouped as `[B, H, T, X]`: one contiguous lane per sequence and head.
fn to_lanes<T: Compute>(x: &HostIn, d: Dims) -> Result<Vec<T>> {
    Ok(swap_th(&x.values::<T>()?, d.b, d.t, d.h, x.dims()[3]))
}

/// Lanes `[B, H, T, X]` back to `[B, T, H, X]`.
fn from_lanes<T: Compute>(lanes: &[T], d: Dims, xd: usize) -> Vec<T> {
    swap_th(lanes, d.b, d.h, d.t, xd)
}

/// `[B, P, Q, X]` rows as `[B, Q, P, X]`.
fn swap_th<T: Compute>(vals: &[T], b: usize, p: usize, q: usize, xd: usize) -> Vec<T> {
    let mut out = vec![T::ZERO; vals.len()];
    for bi in 0..b {
        for i in 0..p {
            for j in 0..q {
                let src = ((bi * p + i) * q + j) * xd;
                let dst = ((bi * q + j) * p + i) * xd;
                out[dst..dst + xd].copy_from_slice(&vals[src..src + xd]);
            }
        }
    }
    out
}

/// Everything of one call regrouped by lane, in compute type `T`.
struct Lanes<T> {
    d: Dims,
    q: Vec<T>,
    k: Vec<T>,
    v: Vec<T>,
    g: Vec<T>,
    s0: Vec<T>,
}

impl<T: Compute> Lanes<T> {
    /// From inputs `q, k, v, g` and, when given, `s0` (`ins[4]`).
    fn new(ins: &[HostIn], has_s0: bool) -> Result<Lanes<T>> {
        let d = dims_of(&ins[0], &ins[2]);
        let s0 = if has_s0 {
            ins[4].values::<T>()?.into_owned()
        } else {
            vec![T::ZERO; d.b * d.h * d.k * d.v]
        };
        Ok(Lanes {
            d,
            q: to_lanes(&ins[0], d)?,
            k: to_lanes(&ins[1], d)?,
            v: to_lanes(&ins[2], d)?,
            g: to_lanes(&ins[3], d)?,
            s0,
        })
    }
    fn lane(&self, l: usize) -> Lane<'_, T> {
        let d = self.d;
        let (tk, tv, kv) = (d.t * d.k, d.t * d.v, d.k * d.v);
        Lane {
            q: &self.q[l * tk..(l + 1) * tk],
            k: &self.k[l * tk..(l + 1) * tk],
            v: &self.v[l * tv..(l + 1) * tv],
            g: &self.g[l * tk..(l + 1) * tk],
            s0: &self.s0[l * kv..(l + 1) * kv],
        }
    }
}

/// Gated linear attention, one fused op. Forward `(q, k, v, g[, s0]) -> (o [B, T, H, V],
/// S_T [B, H, K, V])` in the compute dtype; backward `(q, k, v, g[, s0], dO, dS_T) -> (dq,
/// dk, dv, dg[, ds0])` (a zero initial state when there is none). Kernels
/// (`ptx/kernels/gla.cu`): forward `gla_cumsum`, `gla_chunk_h`, `gla_chunk_fwd_o` (chunked,
/// f32) or `gla_rec_fwd_{f32,f64}` (recurrent, and f64 in either mode); backward
/// `gla_cumsum`, `gla_chunk_h` (forward, then reverse for the state gradients),
/// `gla_chunk_bwd` (chunked, f32) or `gla_rec_bwd_{f32,f64}` then `gla_rec_bwd_sum_*`.
struct Gla {
    scale: f64,
    mode: GlaMode,
    has_s0: bool,
}

/// The device operands `q, k, v, g[, s0]` of a call.
fn device_inputs<'a>(ins: &[Operand<'a>], has_s0: bool) -> kernels::Inputs<'a> {
    let s0 = if has_s0 { Some(ins[4]) } else { None };
    kernels::Inputs { q: ins[0], k: ins[1], v: ins[2], g: ins[3], s0 }
}

/// The kernels' chunk length (`None`: the recurrent kernels).
fn chunk_of(mode: GlaMode) -> Option<usize> {
    match mode {
        GlaMode::Recurrent => None,
        GlaMode::Chunked(c) => Some(c),
    }
}

impl Fused for Gla {
    fn name(&self) -> &'static str {
        "gla"
    }
    fn cpu<T: Compute>(&self, ins: &[HostIn], outs: &mut [HostOut]) -> Result<()> {
        use rayon::prelude::*;
        let lanes = Lanes::<T>::new(ins, self.has_s0)?;
        let d = lanes.d;
        let kv = d.k * d.v;
        let scale = <T as tensor::Real>::from_f64(self.scale);
        let results: Vec<(Vec<T>, Vec<T>)> = (0..d.b * d.h)
            .into_par_iter()
            .map(|l| match self.mode {
                GlaMode::Recurrent => recurrent::forward(&lanes.lane(l), d, scale),
                GlaMode::Chunked(c) => {
                    let (o, states) = chunked::forward(&lanes.lane(l), d, scale, c);
                    (o, states[states.len() - kv..].to_vec())
                }
            })
            .collect();
        let (mut o, mut sf) =
            (Vec::with_capacity(d.b * d.h * d.t * d.v), Vec::with_capacity(d.b * d.h * kv));
        for (lo, ls) in results {
            o.extend(lo);
            sf.extend(ls);
        }
        outs[0].write(&from_lanes(&o, d, d.v))?;
        outs[1].write(&sf)
    }
    fn gpu(&self, ins: &[Operand], outs: &[Operand]) -> Result<()> {
        let x = device_inputs(ins, self.has_s0);
        kernels::forward(outs[0], outs[1], &x, self.scale, chunk_of(self.mode))
    }
}

impl FusedGrad for Gla {
    fn cpu_backward<T: Compute>(
        &self,
        ins: &[HostIn],
        grads: &mut [Option<HostOut>],
    ) -> Result<()> {
        use rayon::prelude::*;
        let lanes = Lanes::<T>::new(ins, self.has_s0)?;
        let n = ins.len();
        let d = lanes.d;
        let (tv, kv) = (d.t * d.v, d.k * d.v);
        let dos = to_lanes::<T>(&ins[n - 2], d)?;
        let dsf = ins[n - 1].values::<T>()?;
        let scale = <T as tensor::Real>::from_f64(self.scale);
        let per_lane: Vec<LaneGrads<T>> = (0..d.b * d.h)
            .into_par_iter()
            .map(|l| {
                let (d_o, d_sf) = (&dos[l * tv..(l + 1) * tv], &dsf[l * kv..(l + 1) * kv]);
                match self.mode {
                    GlaMode::Recurrent => recurrent::backward(&lanes.lane(l), d_o, d_sf, d, scale),
                    GlaMode::Chunked(c) => {
                        chunked::backward(&lanes.lane(l), d_o, d_sf, d, scale, c)
                    }
                }
            })
            .collect();
        let mut acc: [Vec<T>; 5] = Default::default();
        for lg in per_lane {
            acc[0].extend(lg.dq);
            acc[1].extend(lg.dk);
            acc[2].extend(lg.dv);
            acc[3].extend(lg.dg);
            acc[4].extend(lg.ds0);
        }
        let widths = [d.k, d.k, d.v, d.k];
        for (i, (slot, a)) in grads.iter_mut().zip(&acc).enumerate() {
            if let Some(out) = slot {
                match widths.get(i) {
                    Some(&w) => out.write(&from_lanes(a, d, w))?,
                    None => out.write(a)?,
                }
            }
        }
        Ok(())
    }
    fn gpu_backward(&self, ins: &[Operand], grads: &[Option<Operand>]) -> Result<()> {
        let x = device_inputs(ins, self.has_s0);
        let slot = |i: usize| grads.get(i).copied().flatten();
        let g = kernels::Grads { dq: slot(0), dk: slot(1), dv: slot(2), dg: slot(3), ds0: slot(4) };
        let (d_o, d_sf) = (ins[ins.len() - 2], ins[ins.len() - 1]);
        kernels::backward(g, &x, d_o, d_sf, self.scale, chunk_of(self.mode))
    }
}

/// The decoding step, in place: `(q, k, v, g [B, T, H, *])` advance the state
/// `S [B, H, K, V]` (read and written) by the recurrence and write `o [B, T, H, V]`.
/// Kernel: `gla_rec_fwd_{f32,f64}` (the state read and written in place).
pub struct GlaStep {
    pub scale: f64,
}

impl Fused for GlaStep {
    fn name(&self) -> &'static str {
        "gla step"
    }
    fn cpu<T: Compute>(&self, ins: &[HostIn], outs: &mut [HostOut]) -> Result<()> {
        use rayon::prelude::*;
        let mut lanes = Lanes::<T>::new(ins, false)?;
        let d = lanes.d;
        let kv = d.k * d.v;
        lanes.s0 = outs[0].values::<T>()?;
        let scale = <T as tensor::Real>::from_f64(self.scale);
        let results: Vec<(Vec<T>, Vec<T>)> = (0..d.b * d.h)
            .into_par_iter()
            .map(|l| recurrent::forward(&lanes.lane(l), d, scale))
            .collect();
        let (mut o, mut sf) =
            (Vec::with_capacity(d.b * d.h * d.t * d.v), Vec::with_capacity(d.b * d.h * kv));
        for (lo, ls) in results {
            o.extend(lo);
            sf.extend(ls);
        }
        outs[0].write(&sf)?;
        outs[1].write(&from_lanes(&o, d, d.v))
    }
    fn gpu(&self, ins: &[Operand], outs: &[Operand]) -> Result<()> {
        kernels::step(outs[0], outs[1], &device_inputs(ins, false), self.scale)
    }
}

/// Runs the forward of every lane; returns `(o [B, T, H, V], final state [B, H, K, V])` in
/// the compute dtype of `q`.
pub fn forward(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    g: &Tensor,
    s0: Option<&Tensor>,
    scale: f64,
    mode: GlaMode,
) -> Result<(Tensor, Tensor)> {
    let d = check(q, k, v, g, s0)?;
    let mut ins = vec![q, k, v, g];
    ins.extend(s0);
    let op = Gla { scale, mode, has_s0: s0.is_some() };
    let mut outs = fused::run(&op, &ins, &out_shapes(d, q.dtype().compute()))?.into_iter();
    Ok((outs.next().expect("o"), outs.next().expect("state")))
}

/// `o [B, T, H, V]` and `S_T [B, H, K, V]` in `cd`.
fn out_shapes(d: Dims, cd: DType) -> [(tensor::Shape, DType); 2] {
    [([d.b, d.t, d.h, d.v].into(), cd), ([d.b, d.h, d.k, d.v].into(), cd)]
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
pub fn gla(
    q: &Var,
    k: &Var,
    v: &Var,
    g: &Var,
    initial: Option<&Var>,
    scale: f64,
    mode: GlaMode,
) -> Result<(Var, Var)> {
    let g = &gates(g, q)?;
    let d = check(q.value(), k.value(), v.value(), g.value(), initial.map(|s| s.value()))?;
    let mut ins = vec![Input::Var(q), Input::Var(k), Input::Var(v), Input::Var(g)];
    ins.extend(initial.map(Input::Var));
    let op = Gla { scale, mode, has_s0: initial.is_some() };
    let mut outs = fused::apply(op, &ins, &out_shapes(d, q.dtype().compute()), 2)?;
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
pub fn gla_normalized(
    q: &Var,
    k: &Var,
    v: &Var,
    g: &Var,
    initial: Option<&NormState>,
    eps: f64,
    mode: GlaMode,
) -> Result<(Var, NormState)> {
    if v.rank() != 4 {
        bail!("gla_normalized", "v must be [B, T, H, V], got {:?}", v.dims())
    }
    let (b, t, h, vd) = (v.dims()[0], v.dims()[1], v.dims()[2], v.dims()[3]);
    let ones = Var::constant(Tensor::ones([b, t, h, 1], v.dtype(), &v.value().device())?);
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
