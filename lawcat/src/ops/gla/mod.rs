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

use crate::ops::conv1d::operand;
use crate::ops::conv1d::Compute;
use autograd::{Backward, Var};
use ptx::ops::gla as kernels;
use ptx::runtime::device::{output, wanted_outputs};
use ptx::runtime::GpuDevice;
use tensor::{bail, AccelDevice, CustomOp, DType, DevIn, DevOut, HostIn, HostOut, Result, Tensor};

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
    let vals = x.values::<T>()?;
    let xd = x.dims()[3];
    let mut out = vec![T::ZERO; vals.len()];
    for bi in 0..d.b {
        for t in 0..d.t {
            for hh in 0..d.h {
                let src = ((bi * d.t + t) * d.h + hh) * xd;
                let dst = ((bi * d.h + hh) * d.t + t) * xd;
                out[dst..dst + xd].copy_from_slice(&vals[src..src + xd]);
            }
        }
    }
    Ok(out)
}

/// Lanes `[B, H, T, X]` back to `[B, T, H, X]`.
fn from_lanes<T: Compute>(lanes: &[T], d: Dims, xd: usize) -> Vec<T> {
    let mut out = vec![T::ZERO; lanes.len()];
    for bi in 0..d.b {
        for hh in 0..d.h {
            for t in 0..d.t {
                let src = ((bi * d.h + hh) * d.t + t) * xd;
                let dst = ((bi * d.t + t) * d.h + hh) * xd;
                out[dst..dst + xd].copy_from_slice(&lanes[src..src + xd]);
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

/// Forward: `(q, k, v, g[, s0]) -> (o [B, T, H, V], S_T [B, H, K, V])` in the compute dtype.
/// Accelerator kernels (`ptx/kernels/gla.cu`): `gla_cumsum`, `gla_chunk_h`, `gla_chunk_fwd_o`
/// (chunked, f32); `gla_rec_fwd_{f32,f64}` (recurrent, and f64 in either mode).
struct GlaForward {
    scale: f64,
    mode: GlaMode,
    has_s0: bool,
}

impl GlaForward {
    fn cpu_as<T: Compute>(&self, ins: &[HostIn], outs: &mut [HostOut]) -> Result<()> {
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
}

impl CustomOp for GlaForward {
    fn name(&self) -> &'static str {
        "gla"
    }
    fn cpu(&self, ins: &[HostIn<'_>], outs: &mut [HostOut<'_>]) -> Result<()> {
        match outs[0].dtype() {
            DType::F64 => self.cpu_as::<f64>(ins, outs),
            _ => self.cpu_as::<f32>(ins, outs),
        }
    }
    fn accel(
        &self,
        device: &dyn AccelDevice,
        ins: &[DevIn<'_>],
        outs: &mut [DevOut<'_>],
    ) -> Result<()> {
        let n = self.name();
        GpuDevice::of(n, device)?;
        let x = inputs(n, ins, self.has_s0)?;
        let (ol, sl) = (outs[0].layout, outs[1].layout);
        let o = output(n, &mut outs[0])?.clone();
        let sf = output(n, &mut outs[1])?;
        kernels::forward((&o, ol), (sf, sl), &x, self.scale, chunk_of(self.mode))
    }
}

/// The device operands `q, k, v, g[, s0]` of a fused GLA op (`ins[4]` the initial state).
fn inputs<'a>(op: &str, ins: &[DevIn<'a>], has_s0: bool) -> Result<kernels::Inputs<'a>> {
    Ok(kernels::Inputs {
        q: operand(op, &ins[0])?,
        k: operand(op, &ins[1])?,
        v: operand(op, &ins[2])?,
        g: operand(op, &ins[3])?,
        s0: if has_s0 { Some(operand(op, &ins[4])?) } else { None },
    })
}

/// The kernels' chunk length (`None`: the recurrent kernels).
fn chunk_of(mode: GlaMode) -> Option<usize> {
    match mode {
        GlaMode::Recurrent => None,
        GlaMode::Chunked(c) => Some(c),
    }
}

/// Backward: `(q, k, v, g, s0, do, dS_T) -> (dq, dk, dv, dg, ds0)`, only those in `want`.
/// (`s0` is a zero state when the forward had none.) Accelerator kernels: `gla_cumsum`,
/// `gla_chunk_h` (forward, then reverse for the state gradients), `gla_chunk_bwd` (chunked,
/// f32); `gla_rec_bwd_{f32,f64}` then `gla_rec_bwd_sum_*` (recurrent, and f64).
struct GlaBackwardOp {
    scale: f64,
    mode: GlaMode,
    want: [bool; 5],
}

impl GlaBackwardOp {
    fn cpu_as<T: Compute>(&self, ins: &[HostIn], outs: &mut [HostOut]) -> Result<()> {
        use rayon::prelude::*;
        let lanes = Lanes::<T>::new(ins, true)?;
        let d = lanes.d;
        let (tv, kv) = (d.t * d.v, d.k * d.v);
        let dos = to_lanes::<T>(&ins[5], d)?;
        let dsf = ins[6].values::<T>()?;
        let scale = <T as tensor::Real>::from_f64(self.scale);
        let grads: Vec<LaneGrads<T>> = (0..d.b * d.h)
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
        for lg in grads {
            acc[0].extend(lg.dq);
            acc[1].extend(lg.dk);
            acc[2].extend(lg.dv);
            acc[3].extend(lg.dg);
            acc[4].extend(lg.ds0);
        }
        let widths = [d.k, d.k, d.v, d.k];
        let mut out = 0;
        for (i, a) in acc.iter().enumerate() {
            if self.want[i] {
                if i < 4 {
                    outs[out].write(&from_lanes(a, d, widths[i]))?;
                } else {
                    outs[out].write(a)?;
                }
                out += 1;
            }
        }
        Ok(())
    }
}

impl CustomOp for GlaBackwardOp {
    fn name(&self) -> &'static str {
        "gla backward"
    }
    fn cpu(&self, ins: &[HostIn<'_>], outs: &mut [HostOut<'_>]) -> Result<()> {
        match ins[5].dtype() {
            DType::F64 => self.cpu_as::<f64>(ins, outs),
            _ => self.cpu_as::<f32>(ins, outs),
        }
    }
    fn accel(
        &self,
        device: &dyn AccelDevice,
        ins: &[DevIn<'_>],
        outs: &mut [DevOut<'_>],
    ) -> Result<()> {
        let n = self.name();
        GpuDevice::of(n, device)?;
        let x = inputs(n, ins, true)?;
        let slots = wanted_outputs(n, &self.want, outs)?;
        let op = |i: usize| slots[i].as_ref().map(|(s, l)| (s, l));
        let grads = kernels::Grads { dq: op(0), dk: op(1), dv: op(2), dg: op(3), ds0: op(4) };
        kernels::backward(
            grads,
            &x,
            operand(n, &ins[5])?,
            operand(n, &ins[6])?,
            self.scale,
            chunk_of(self.mode),
        )
    }
}

/// The decoding step, in place: `(q, k, v, g [B, T, H, *])` advance the state
/// `S [B, H, K, V]` (read and written) by the recurrence and write `o [B, T, H, V]`.
/// Accelerator kernel: `gla_rec_fwd_{f32,f64}` (the state read and written in place).
pub struct GlaStep {
    pub scale: f64,
}

impl GlaStep {
    fn cpu_as<T: Compute>(&self, ins: &[HostIn], outs: &mut [HostOut]) -> Result<()> {
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
}

impl CustomOp for GlaStep {
    fn name(&self) -> &'static str {
        "gla step"
    }
    fn cpu(&self, ins: &[HostIn<'_>], outs: &mut [HostOut<'_>]) -> Result<()> {
        match outs[0].dtype() {
            DType::F64 => self.cpu_as::<f64>(ins, outs),
            _ => self.cpu_as::<f32>(ins, outs),
        }
    }
    fn accel(
        &self,
        device: &dyn AccelDevice,
        ins: &[DevIn<'_>],
        outs: &mut [DevOut<'_>],
    ) -> Result<()> {
        let n = self.name();
        GpuDevice::of(n, device)?;
        let x = inputs(n, ins, false)?;
        let (sl, ol) = (outs[0].layout, outs[1].layout);
        let state = output(n, &mut outs[0])?.clone();
        let o = output(n, &mut outs[1])?;
        kernels::step((&state, sl), (o, ol), &x, self.scale)
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
    let cd = q.dtype().compute();
    let op = GlaForward { scale, mode, has_s0: s0.is_some() };
    let mut ins = vec![q, k, v, g];
    ins.extend(s0);
    let mut outs = Tensor::apply_op(
        &op,
        &ins,
        &[([d.b, d.t, d.h, d.v].into(), cd), ([d.b, d.h, d.k, d.v].into(), cd)],
    )?
    .into_iter();
    Ok((outs.next().expect("o"), outs.next().expect("state")))
}

/// `(dq, dk, dv, dg, d_initial_state)` from the output and final-state gradients (each
/// `None` unless `want` asks for it).
#[allow(clippy::too_many_arguments)]
pub fn backward(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    g: &Tensor,
    s0: Option<&Tensor>,
    d_o: &Tensor,
    d_sf: &Tensor,
    scale: f64,
    mode: GlaMode,
    want: [bool; 5],
) -> Result<[Option<Tensor>; 5]> {
    let d = check(q, k, v, g, s0)?;
    let cd = q.dtype().compute();
    let zero_state;
    let s0 = match s0 {
        Some(s) => s,
        None => {
            zero_state = Tensor::zeros([d.b, d.h, d.k, d.v], cd, &q.device())?;
            &zero_state
        }
    };
    let shapes: [Vec<usize>; 5] = [
        q.dims().to_vec(),
        k.dims().to_vec(),
        v.dims().to_vec(),
        g.dims().to_vec(),
        vec![d.b, d.h, d.k, d.v],
    ];
    let wanted: Vec<_> = shapes
        .iter()
        .zip(want)
        .filter(|(_, w)| *w)
        .map(|(s, _)| (s.as_slice().into(), cd))
        .collect();
    let op = GlaBackwardOp { scale, mode, want };
    let mut outs =
        Tensor::apply_op(&op, &[q, k, v, g, s0, &d_o.to_dtype(cd)?, &d_sf.to_dtype(cd)?], &wanted)?
            .into_iter();
    Ok(want.map(|w| if w { outs.next() } else { None }))
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
    fn backward(&self, grads: &[Option<Tensor>], needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let cd = self.q.dtype().compute();
        let d_o = match &grads[0] {
            Some(g) => g.clone(),
            None => Tensor::zeros(self.v.dims(), cd, &self.q.device())?,
        };
        let sdims = [self.q.dims()[0], self.q.dims()[2], self.q.dims()[3], self.v.dims()[3]];
        let d_sf = match &grads[1] {
            Some(g) => g.clone(),
            None => Tensor::zeros(sdims, cd, &self.q.device())?,
        };
        let want = [needs[0], needs[1], needs[2], needs[3], needs[4] && self.s0.is_some()];
        let out = backward(
            &self.q,
            &self.k,
            &self.v,
            &self.g,
            self.s0.as_ref(),
            &d_o,
            &d_sf,
            self.scale,
            self.mode,
            want,
        )?;
        Ok(out.into_iter().collect())
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
    let (o, sf) = forward(
        q.value(),
        k.value(),
        v.value(),
        g.value(),
        initial.map(|s| s.value()),
        scale,
        mode,
    )?;
    let back = GlaBackward {
        q: q.value().clone(),
        k: k.value().clone(),
        v: v.value().clone(),
        g: g.value().clone(),
        s0: initial.map(|s| s.value().clone()),
        scale,
        mode,
    };
    let zero = Var::constant(Tensor::zeros((), q.dtype(), &q.value().device())?);
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
