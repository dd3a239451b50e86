//! The chunkwise-parallel form for one lane. Inside a chunk of `C` steps, with
//! `b = cumsum(g)` from the chunk's start (log space, never increasing):
//!
//! ```text
//! O = scale * [ (Q e^b) S_prev + (A masked) V ],     A_ij = sum_k q_ik k_jk e^(b_ik - b_jk)  (j <= i)
//! S = e^(b_C) S_prev + (K e^(b_C - b))^T V
//! ```
//!
//! `e^(-b)` alone overflows for strong gates, so `A` is built from sub-chunks of 16: a
//! block of queries `I` against an earlier block of keys `J` uses the reference point
//! `r = b` at the end of `J`, making both `e^(b_i - r)` and `e^(r - b_j)` at most 1 and the
//! block a small matrix product; diagonal blocks take `e^(b_i - b_j)` pair by pair. Every
//! exponent in this file is <= 0.
//!
//! Backward, per chunk from the last (`D = dL/dS` leaving the chunk, `dA = scale * (dO V^T)`
//! masked):
//! ```text
//! dV = scale * A^T dO + (K e^(b_C - b)) D
//! dQ = scale * e^b * (dO S_prev^T) + intra(dA, K)          intra_ij carries e^(b_i - b_j)
//! dK = intra^T(dA, Q) + e^(b_C - b) * (V D^T)
//! db = Q dQ - K dK  (+ rowsum(D * S) on the chunk's last step);  dg = reverse cumsum of db
//! D  <- scale * (Q e^b)^T dO + e^(b_C) D
//! ```

use super::{Dims, Lane, LaneGrads};
use crate::ops::conv1d::Compute;

const SUB: usize = 16;

/// Cumulative log gates inside the chunk `[c0, c1)`: `[L, K]`.
fn cumgates<T: Compute>(g: &[T], c0: usize, c1: usize, kd: usize) -> Vec<T> {
    let mut b = g[c0 * kd..c1 * kd].to_vec();
    for i in 1..c1 - c0 {
        for kk in 0..kd {
            let prev = b[(i - 1) * kd + kk];
            b[i * kd + kk] += prev;
        }
    }
    b
}

/// A piece of the causal `[L, L]` pair matrix, as [`for_blocks`] hands it out.
enum Block<'a, T> {
    /// Queries `i0..i1` against the earlier keys `j0..j1`: `qr = q e^(b - r)`,
    /// `kr = k e^(r - b)` with `r` the cumulative gate at the end of the key block, and the
    /// factors `er = e^(b_i - r)`, `ej = e^(r - b_j)` themselves (`[rows, K]` each).
    Off { i0: usize, i1: usize, j0: usize, j1: usize, qr: &'a [T], kr: &'a [T], er: &'a [T], ej: &'a [T] },
    /// One pair `j <= i` of a diagonal block, with `fac = e^(b_i - b_j)` per feature.
    Pair { i: usize, j: usize, fac: &'a [T] },
}

/// Visits the causal pair matrix block by block (see the module comment).
fn for_blocks<T: Compute>(q: &[T], k: &[T], b: &[T], l: usize, kd: usize, mut visit: impl FnMut(Block<T>)) {
    let nb = l.div_ceil(SUB);
    let mut er = vec![T::ZERO; SUB * kd];
    let mut qr = vec![T::ZERO; SUB * kd];
    let mut kr = vec![T::ZERO; SUB * kd];
    let mut ej = vec![T::ZERO; SUB * kd];
    let mut fac = vec![T::ZERO; kd];
    for bi in 0..nb {
        let (i0, i1) = (bi * SUB, ((bi + 1) * SUB).min(l));
        for bj in 0..bi {
            let (j0, j1) = (bj * SUB, (bj + 1) * SUB);
            let r = &b[(j1 - 1) * kd..j1 * kd];
            for i in i0..i1 {
                for kk in 0..kd {
                    let e = (b[i * kd + kk] - r[kk]).exp();
                    er[(i - i0) * kd + kk] = e;
                    qr[(i - i0) * kd + kk] = q[i * kd + kk] * e;
                }
            }
            for j in j0..j1 {
                for kk in 0..kd {
                    let e = (r[kk] - b[j * kd + kk]).exp();
                    ej[(j - j0) * kd + kk] = e;
                    kr[(j - j0) * kd + kk] = k[j * kd + kk] * e;
                }
            }
            let n = (i1 - i0) * kd;
            visit(Block::Off { i0, i1, j0, j1, qr: &qr[..n], kr: &kr[..SUB * kd], er: &er[..n], ej: &ej[..SUB * kd] });
        }
        for i in i0..i1 {
            for j in i0..=i {
                for kk in 0..kd {
                    fac[kk] = (b[i * kd + kk] - b[j * kd + kk]).exp();
                }
                visit(Block::Pair { i, j, fac: &fac });
            }
        }
    }
}

/// The masked intra-chunk score matrix `A [L, L]`.
fn scores<T: Compute>(q: &[T], k: &[T], b: &[T], l: usize, kd: usize) -> Vec<T> {
    let mut a = vec![T::ZERO; l * l];
    for_blocks(q, k, b, l, kd, |blk| match blk {
        Block::Off { i0, i1, j0, j1, qr, kr, .. } => {
            for i in i0..i1 {
                for j in j0..j1 {
                    let (qi, kj) = (&qr[(i - i0) * kd..(i - i0 + 1) * kd], &kr[(j - j0) * kd..(j - j0 + 1) * kd]);
                    a[i * l + j] = qi.iter().zip(kj).map(|(x, y)| *x * *y).sum();
                }
            }
        }
        Block::Pair { i, j, fac } => {
            let (qi, kj) = (&q[i * kd..(i + 1) * kd], &k[j * kd..(j + 1) * kd]);
            a[i * l + j] = (0..kd).map(|kk| qi[kk] * kj[kk] * fac[kk]).sum();
        }
    });
    a
}

/// `(o [T, V], states)`: states `S_0, S_1, ...` at every chunk boundary, `[K, V]` each.
pub fn forward<T: Compute>(l: &Lane<T>, d: Dims, scale: T, chunk: usize) -> (Vec<T>, Vec<T>) {
    let (kd, vd) = (d.k, d.v);
    let chunk = chunk.max(1);
    let mut s = l.s0.to_vec();
    let mut states = s.clone();
    let mut o = vec![T::ZERO; d.t * vd];
    for c0 in (0..d.t).step_by(chunk) {
        let c1 = (c0 + chunk).min(d.t);
        let len = c1 - c0;
        let (q, k, v) = (&l.q[c0 * kd..c1 * kd], &l.k[c0 * kd..c1 * kd], &l.v[c0 * vd..c1 * vd]);
        let b = cumgates(l.g, c0, c1, kd);
        let a = scores(q, k, &b, len, kd);
        for i in 0..len {
            let oi = &mut o[(c0 + i) * vd..(c0 + i + 1) * vd];
            // inter-chunk: (q e^b) S_prev
            for kk in 0..kd {
                let qt = q[i * kd + kk] * b[i * kd + kk].exp();
                for (ov, sv) in oi.iter_mut().zip(&s[kk * vd..(kk + 1) * vd]) {
                    *ov += qt * *sv;
                }
            }
            // intra-chunk: A V
            for j in 0..=i {
                let aij = a[i * len + j];
                for (ov, vv) in oi.iter_mut().zip(&v[j * vd..(j + 1) * vd]) {
                    *ov += aij * *vv;
                }
            }
            oi.iter_mut().for_each(|x| *x *= scale);
        }
        // state: e^(b_C) S + (k e^(b_C - b))^T v
        let bl = &b[(len - 1) * kd..len * kd];
        for kk in 0..kd {
            let row = &mut s[kk * vd..(kk + 1) * vd];
            let decay = bl[kk].exp();
            row.iter_mut().for_each(|x| *x *= decay);
            for j in 0..len {
                let kh = k[j * kd + kk] * (bl[kk] - b[j * kd + kk]).exp();
                for (sv, vv) in row.iter_mut().zip(&v[j * vd..(j + 1) * vd]) {
                    *sv += kh * *vv;
                }
            }
        }
        states.extend_from_slice(&s);
    }
    (o, states)
}

pub fn backward<T: Compute>(l: &Lane<T>, d_o: &[T], d_sf: &[T], d: Dims, scale: T, chunk: usize) -> LaneGrads<T> {
    let (kd, vd, kv) = (d.k, d.v, d.k * d.v);
    let chunk = chunk.max(1);
    let (_, states) = forward(l, d, scale, chunk);
    let mut gr = LaneGrads { dq: vec![T::ZERO; d.t * kd], dk: vec![T::ZERO; d.t * kd], dv: vec![T::ZERO; d.t * vd], dg: vec![T::ZERO; d.t * kd], ds0: vec![] };
    let mut dmat = d_sf.to_vec();
    let starts: Vec<usize> = (0..d.t).step_by(chunk).collect();
    for (ci, &c0) in starts.iter().enumerate().rev() {
        let c1 = (c0 + chunk).min(d.t);
        let len = c1 - c0;
        let (q, k, v) = (&l.q[c0 * kd..c1 * kd], &l.k[c0 * kd..c1 * kd], &l.v[c0 * vd..c1 * vd]);
        let dob = &d_o[c0 * vd..c1 * vd];
        let (s_prev, s_cur) = (&states[ci * kv..(ci + 1) * kv], &states[(ci + 1) * kv..(ci + 2) * kv]);
        let b = cumgates(l.g, c0, c1, kd);
        let bl = b[(len - 1) * kd..len * kd].to_vec();
        let a = scores(q, k, &b, len, kd);
        // dA = scale * dO V^T, masked
        let mut da = vec![T::ZERO; len * len];
        for i in 0..len {
            for j in 0..=i {
                da[i * len + j] = scale * dob[i * vd..(i + 1) * vd].iter().zip(&v[j * vd..(j + 1) * vd]).map(|(x, y)| *x * *y).sum::<T>();
            }
        }
        let (mut dq, mut dk) = (vec![T::ZERO; len * kd], vec![T::ZERO; len * kd]);
        // intra parts of dq and dk, block by block like the scores
        for_blocks(q, k, &b, len, kd, |blk| match blk {
            Block::Off { i0, i1, j0, j1, qr, kr, er, ej } => {
                for i in i0..i1 {
                    for j in j0..j1 {
                        let g = da[i * len + j];
                        for kk in 0..kd {
                            dq[i * kd + kk] += g * kr[(j - j0) * kd + kk] * er[(i - i0) * kd + kk];
                            dk[j * kd + kk] += g * qr[(i - i0) * kd + kk] * ej[(j - j0) * kd + kk];
                        }
                    }
                }
            }
            Block::Pair { i, j, fac } => {
                let g = da[i * len + j];
                for kk in 0..kd {
                    dq[i * kd + kk] += g * k[j * kd + kk] * fac[kk];
                    dk[j * kd + kk] += g * q[i * kd + kk] * fac[kk];
                }
            }
        });
        for i in 0..len {
            let doi = &dob[i * vd..(i + 1) * vd];
            for kk in 0..kd {
                // inter-chunk dq: scale e^b (dO S_prev^T)
                let sp = &s_prev[kk * vd..(kk + 1) * vd];
                let acc: T = doi.iter().zip(sp).map(|(x, y)| *x * *y).sum();
                dq[i * kd + kk] += scale * b[i * kd + kk].exp() * acc;
                // state part of dk: e^(b_C - b) (V D^T)
                let dr = &dmat[kk * vd..(kk + 1) * vd];
                let vdot: T = v[i * vd..(i + 1) * vd].iter().zip(dr).map(|(x, y)| *x * *y).sum();
                dk[i * kd + kk] += (bl[kk] - b[i * kd + kk]).exp() * vdot;
            }
            // dv = scale A^T dO + (K e^(b_C - b)) D
            let dvi = &mut gr.dv[(c0 + i) * vd..(c0 + i + 1) * vd];
            for ii in i..len {
                let w = scale * a[ii * len + i];
                for (x, y) in dvi.iter_mut().zip(&dob[ii * vd..(ii + 1) * vd]) {
                    *x += w * *y;
                }
            }
            for kk in 0..kd {
                let kh = k[i * kd + kk] * (bl[kk] - b[i * kd + kk]).exp();
                for (x, y) in dvi.iter_mut().zip(&dmat[kk * vd..(kk + 1) * vd]) {
                    *x += kh * *y;
                }
            }
        }
        // db = q dq - k dk (+ rowsum(D S) on the last step); dg = reverse cumsum in the chunk
        let mut acc = vec![T::ZERO; kd];
        for i in (0..len).rev() {
            for kk in 0..kd {
                let mut db = q[i * kd + kk] * dq[i * kd + kk] - k[i * kd + kk] * dk[i * kd + kk];
                if i == len - 1 {
                    db += dmat[kk * vd..(kk + 1) * vd].iter().zip(&s_cur[kk * vd..(kk + 1) * vd]).map(|(x, y)| *x * *y).sum::<T>();
                }
                acc[kk] += db;
                gr.dg[(c0 + i) * kd + kk] = acc[kk];
            }
        }
        gr.dq[c0 * kd..c1 * kd].copy_from_slice(&dq);
        gr.dk[c0 * kd..c1 * kd].copy_from_slice(&dk);
        // D <- scale (q e^b)^T dO + e^(b_C) D
        for kk in 0..kd {
            let decay = bl[kk].exp();
            let row = &mut dmat[kk * vd..(kk + 1) * vd];
            row.iter_mut().for_each(|x| *x *= decay);
            for i in 0..len {
                let qt = scale * q[i * kd + kk] * b[i * kd + kk].exp();
                for (x, y) in row.iter_mut().zip(&dob[i * vd..(i + 1) * vd]) {
                    *x += qt * *y;
                }
            }
        }
    }
    gr.ds0 = dmat;
    gr
}
