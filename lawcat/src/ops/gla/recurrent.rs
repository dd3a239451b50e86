//! The recurrent form, the reference every other form is tested against: the equations of
//! `docs/LAWCAT.md` step by step, for one (sequence, head) lane.
//!
//! ```text
//! forward:   S_t = diag(a_t) S_{t-1} + k_t v_t^T,  a_t = exp(g_t);   o_t = scale * S_t^T q_t
//! backward:  D   = dL/dS_t  (starts at the final-state gradient, walks back in time)
//!            D  += scale * q_t do_t^T
//!            dq_t = scale * S_t do_t      dk_t = D v_t      dv_t = D^T k_t
//!            dg_t = a_t * rowsum(D * S_{t-1})      (d/dg of a = exp g is a)
//!            D   = diag(a_t) D                     (on to S_{t-1})
//!            d_initial = D
//! ```

use super::{Dims, Lane, LaneGrads};
use tensor::cpu::Compute;

/// `(o [T, V], S_T [K, V])`.
pub fn forward<T: Compute>(l: &Lane<T>, d: Dims, scale: T) -> (Vec<T>, Vec<T>) {
    let (kd, vd) = (d.k, d.v);
    let mut s = l.s0.to_vec();
    let mut o = vec![T::ZERO; d.t * vd];
    for t in 0..d.t {
        step(
            &mut s,
            &l.k[t * kd..(t + 1) * kd],
            &l.v[t * vd..(t + 1) * vd],
            &l.g[t * kd..(t + 1) * kd],
            vd,
        );
        let q = &l.q[t * kd..(t + 1) * kd];
        let ot = &mut o[t * vd..(t + 1) * vd];
        for (kk, &qk) in q.iter().enumerate() {
            let row = &s[kk * vd..(kk + 1) * vd];
            for (ov, &sv) in ot.iter_mut().zip(row) {
                *ov += qk * sv;
            }
        }
        ot.iter_mut().for_each(|x| *x *= scale);
    }
    (o, s)
}

/// `S <- diag(exp g) S + k v^T`.
#[inline]
fn step<T: Compute>(s: &mut [T], k: &[T], v: &[T], g: &[T], vd: usize) {
    for (kk, (&kv, &gk)) in k.iter().zip(g).enumerate() {
        let a = gk.exp();
        for (sv, &vv) in s[kk * vd..(kk + 1) * vd].iter_mut().zip(v) {
            *sv = a * *sv + kv * vv;
        }
    }
}

pub fn backward<T: Compute>(l: &Lane<T>, d_o: &[T], d_sf: &[T], d: Dims, scale: T) -> LaneGrads<T> {
    let (kd, vd, kv) = (d.k, d.v, d.k * d.v);
    // Every state S_0 .. S_T (the reference keeps them all).
    let mut states = Vec::with_capacity((d.t + 1) * kv);
    states.extend_from_slice(l.s0);
    let mut s = l.s0.to_vec();
    for t in 0..d.t {
        step(
            &mut s,
            &l.k[t * kd..(t + 1) * kd],
            &l.v[t * vd..(t + 1) * vd],
            &l.g[t * kd..(t + 1) * kd],
            vd,
        );
        states.extend_from_slice(&s);
    }
    let mut gr = LaneGrads {
        dq: vec![T::ZERO; d.t * kd],
        dk: vec![T::ZERO; d.t * kd],
        dv: vec![T::ZERO; d.t * vd],
        dg: vec![T::ZERO; d.t * kd],
        ds0: vec![],
    };
    let mut dmat = d_sf.to_vec();
    for t in (0..d.t).rev() {
        let (q, k, v, g) = (
            &l.q[t * kd..(t + 1) * kd],
            &l.k[t * kd..(t + 1) * kd],
            &l.v[t * vd..(t + 1) * vd],
            &l.g[t * kd..(t + 1) * kd],
        );
        let dot = &d_o[t * vd..(t + 1) * vd];
        let (s_prev, s_t) = (&states[t * kv..(t + 1) * kv], &states[(t + 1) * kv..(t + 2) * kv]);
        for kk in 0..kd {
            let drow = &mut dmat[kk * vd..(kk + 1) * vd];
            for (dd, &dov) in drow.iter_mut().zip(dot) {
                *dd += scale * q[kk] * dov;
            }
            let srow = &s_t[kk * vd..(kk + 1) * vd];
            let prow = &s_prev[kk * vd..(kk + 1) * vd];
            let (mut dq, mut dk, mut dg) = (T::ZERO, T::ZERO, T::ZERO);
            for vv in 0..vd {
                dq += srow[vv] * dot[vv];
                dk += drow[vv] * v[vv];
                dg += drow[vv] * prow[vv];
                gr.dv[t * vd + vv] += drow[vv] * k[kk];
            }
            let a = g[kk].exp();
            gr.dq[t * kd + kk] = scale * dq;
            gr.dk[t * kd + kk] = dk;
            gr.dg[t * kd + kk] = a * dg;
            drow.iter_mut().for_each(|x| *x *= a);
        }
    }
    gr.ds0 = dmat;
    gr
}
