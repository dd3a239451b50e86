//! The chunkwise-parallel form for one lane, built on matrix products (the packed GEMM of
//! `tensor::cpu::gemm`). Inside a chunk of `C` steps, with `b = cumsum(g)` from the chunk's
//! start (log space, never increasing):
//!
//! ```text
//! O = scale * [ (Q e^b) S_prev + (A masked) V ],  A_ij = sum_k q_ik k_jk e^(b_ik - b_jk)  (j <= i)
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
use tensor::cpu::gemm::{gemm_into, MatRef};
use tensor::cpu::Compute;

const SUB: usize = 16;

/// A row-major `[_, cols]` matrix.
fn rows<T>(data: &[T], cols: usize) -> MatRef<'_, T> {
    MatRef { data, off: 0, rs: cols, cs: 1 }
}

/// The transpose of a row-major `[_, cols]` matrix.
fn transposed<T>(data: &[T], cols: usize) -> MatRef<'_, T> {
    MatRef { data, off: 0, rs: 1, cs: cols }
}

/// `c[m, n] (row stride ldc) = a[m, k] b[k, n]`, or `+=` when `acc`.
#[allow(clippy::too_many_arguments)]
fn mm<T: Compute>(
    m: usize,
    n: usize,
    k: usize,
    a: MatRef<T>,
    b: MatRef<T>,
    c: &mut [T],
    ldc: usize,
    acc: bool,
) {
    gemm_into::<T, T>(m, n, k, a, b, c, ldc, acc);
}

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
    Off {
        i0: usize,
        i1: usize,
        j0: usize,
        j1: usize,
        qr: &'a [T],
        kr: &'a [T],
        er: &'a [T],
        ej: &'a [T],
    },
    /// One pair `j <= i` of a diagonal block, with `fac = e^(b_i - b_j)` per feature.
    Pair { i: usize, j: usize, fac: &'a [T] },
}

/// Visits the causal pair matrix block by block (see the module comment).
fn for_blocks<T: Compute>(
    q: &[T],
    k: &[T],
    b: &[T],
    l: usize,
    kd: usize,
    mut visit: impl FnMut(Block<T>),
) {
    let nb = l.div_ceil(SUB);
    let mut er = vec![T::ZERO; SUB * kd];
    let mut qr = vec![T::ZERO; SUB * kd];
    let mut kr = vec![T::ZERO; SUB * kd];
    let mut ej = vec![T::ZERO; SUB * kd];
    let mut fac = vec![T::ZERO; SUB * kd];
    // Exponents first, then one vectorized exp over each block of them.
    for bi in 0..nb {
        let (i0, i1) = (bi * SUB, ((bi + 1) * SUB).min(l));
        let n = (i1 - i0) * kd;
        for bj in 0..bi {
            let (j0, j1) = (bj * SUB, (bj + 1) * SUB);
            let r = &b[(j1 - 1) * kd..j1 * kd];
            for i in i0..i1 {
                for kk in 0..kd {
                    er[(i - i0) * kd + kk] = b[i * kd + kk] - r[kk];
                }
            }
            T::exp_in_place(&mut er[..n]);
            for (x, (y, e)) in qr.iter_mut().zip(q[i0 * kd..i1 * kd].iter().zip(&er[..n])) {
                *x = *y * *e;
            }
            for j in j0..j1 {
                for kk in 0..kd {
                    ej[(j - j0) * kd + kk] = r[kk] - b[j * kd + kk];
                }
            }
            T::exp_in_place(&mut ej);
            for (x, (y, e)) in kr.iter_mut().zip(k[j0 * kd..j1 * kd].iter().zip(&ej)) {
                *x = *y * *e;
            }
            visit(Block::Off { i0, i1, j0, j1, qr: &qr[..n], kr: &kr, er: &er[..n], ej: &ej });
        }
        for i in i0..i1 {
            // fac row j - i0: e^(b_i - b_j) for the keys j = i0..=i
            for j in i0..=i {
                for kk in 0..kd {
                    fac[(j - i0) * kd + kk] = b[i * kd + kk] - b[j * kd + kk];
                }
            }
            T::exp_in_place(&mut fac[..(i - i0 + 1) * kd]);
            for j in i0..=i {
                visit(Block::Pair { i, j, fac: &fac[(j - i0) * kd..(j - i0 + 1) * kd] });
            }
        }
    }
}

/// The masked intra-chunk score matrix `A [L, L]` (zero above the diagonal).
fn scores<T: Compute>(q: &[T], k: &[T], b: &[T], l: usize, kd: usize) -> Vec<T> {
    let mut a = vec![T::ZERO; l * l];
    for_blocks(q, k, b, l, kd, |blk| match blk {
        // A_IJ = Qr Kr^T
        Block::Off { i0, i1, j0, j1, qr, kr, .. } => mm(
            i1 - i0,
            j1 - j0,
            kd,
            rows(qr, kd),
            transposed(kr, kd),
            &mut a[i0 * l + j0..],
            l,
            false,
        ),
        Block::Pair { i, j, fac } => {
            let (qi, kj) = (&q[i * kd..(i + 1) * kd], &k[j * kd..(j + 1) * kd]);
            a[i * l + j] = (0..kd).map(|kk| qi[kk] * kj[kk] * fac[kk]).sum();
        }
    });
    a
}

/// Per-chunk quantities shared by the forward and the backward.
struct Chunk<T> {
    len: usize,
    /// cumulative gates `b [L, K]` (`b_C` its last row), `e^b`, `e^(b_C - b)`, `e^(b_C)`,
    /// `q e^b`, `k e^(b_C - b)`, `A [L, L]`
    b: Vec<T>,
    eb: Vec<T>,
    ec: Vec<T>,
    decay: Vec<T>,
    qt: Vec<T>,
    kh: Vec<T>,
    a: Vec<T>,
}

/// `e^x` of every element, as a new vector.
fn exps<T: Compute>(x: impl Iterator<Item = T>) -> Vec<T> {
    let mut v: Vec<T> = x.collect();
    T::exp_in_place(&mut v);
    v
}

fn chunk<T: Compute>(q: &[T], k: &[T], g: &[T], c0: usize, c1: usize, kd: usize) -> Chunk<T> {
    let len = c1 - c0;
    let b = cumgates(g, c0, c1, kd);
    let bl = &b[(len - 1) * kd..len * kd];
    let eb = exps(b.iter().copied());
    let ec = exps(b.iter().enumerate().map(|(i, bb)| bl[i % kd] - *bb));
    let decay = exps(bl.iter().copied());
    let qt: Vec<T> = q.iter().zip(&eb).map(|(x, e)| *x * *e).collect();
    let kh: Vec<T> = k.iter().zip(&ec).map(|(x, e)| *x * *e).collect();
    let a = scores(q, k, &b, len, kd);
    Chunk { len, b, eb, ec, decay, qt, kh, a }
}

/// `(o [T, V], states)`: states `S_0, S_1, ...` at every chunk boundary, `[K, V]` each.
pub fn forward<T: Compute>(l: &Lane<T>, d: Dims, scale: T, chunk_len: usize) -> (Vec<T>, Vec<T>) {
    let (kd, vd) = (d.k, d.v);
    let cl = chunk_len.max(1);
    let mut s = l.s0.to_vec();
    let mut states = s.clone();
    let mut o = vec![T::ZERO; d.t * vd];
    for c0 in (0..d.t).step_by(cl) {
        let c1 = (c0 + cl).min(d.t);
        let (q, k, v) = (&l.q[c0 * kd..c1 * kd], &l.k[c0 * kd..c1 * kd], &l.v[c0 * vd..c1 * vd]);
        let c = chunk(q, k, l.g, c0, c1, kd);
        let oc = &mut o[c0 * vd..c1 * vd];
        // O = scale * ((q e^b) S_prev + A V)
        mm(c.len, vd, kd, rows(&c.qt, kd), rows(&s, vd), oc, vd, false);
        mm(c.len, vd, c.len, rows(&c.a, c.len), rows(v, vd), oc, vd, true);
        oc.iter_mut().for_each(|x| *x *= scale);
        // S = e^(b_C) S + (k e^(b_C - b))^T V
        for (kk, &decay) in c.decay.iter().enumerate() {
            s[kk * vd..(kk + 1) * vd].iter_mut().for_each(|x| *x *= decay);
        }
        mm(kd, vd, c.len, transposed(&c.kh, kd), rows(v, vd), &mut s, vd, true);
        states.extend_from_slice(&s);
    }
    (o, states)
}

pub fn backward<T: Compute>(
    l: &Lane<T>,
    d_o: &[T],
    d_sf: &[T],
    d: Dims,
    scale: T,
    chunk_len: usize,
) -> LaneGrads<T> {
    let (kd, vd, kv) = (d.k, d.v, d.k * d.v);
    let cl = chunk_len.max(1);
    let (_, states) = forward(l, d, scale, cl);
    let mut gr = LaneGrads {
        dq: vec![T::ZERO; d.t * kd],
        dk: vec![T::ZERO; d.t * kd],
        dv: vec![T::ZERO; d.t * vd],
        dg: vec![T::ZERO; d.t * kd],
        ds0: vec![],
    };
    let mut dmat = d_sf.to_vec();
    let starts: Vec<usize> = (0..d.t).step_by(cl).collect();
    for (ci, &c0) in starts.iter().enumerate().rev() {
        let c1 = (c0 + cl).min(d.t);
        let (q, k, v) = (&l.q[c0 * kd..c1 * kd], &l.k[c0 * kd..c1 * kd], &l.v[c0 * vd..c1 * vd]);
        let dob = &d_o[c0 * vd..c1 * vd];
        let (s_prev, s_cur) =
            (&states[ci * kv..(ci + 1) * kv], &states[(ci + 1) * kv..(ci + 2) * kv]);
        let c = chunk(q, k, l.g, c0, c1, kd);
        let len = c.len;
        // dA = scale * dO V^T, masked to j <= i
        let mut da = vec![T::ZERO; len * len];
        mm(len, len, vd, rows(dob, vd), transposed(v, vd), &mut da, len, false);
        for i in 0..len {
            for j in 0..len {
                da[i * len + j] = if j <= i { da[i * len + j] * scale } else { T::ZERO };
            }
        }
        let (mut dq, mut dk) = (vec![T::ZERO; len * kd], vec![T::ZERO; len * kd]);
        // intra parts of dq and dk, block by block like the scores
        let mut tmp = vec![T::ZERO; SUB * kd];
        for_blocks(q, k, &c.b, len, kd, |blk| match blk {
            Block::Off { i0, i1, j0, j1, qr, kr, er, ej } => {
                let (ni, nj) = (i1 - i0, j1 - j0);
                // dq_I += (dA_IJ Kr) e^(b_I - r)
                mm(
                    ni,
                    kd,
                    nj,
                    MatRef { data: &da, off: i0 * len + j0, rs: len, cs: 1 },
                    rows(kr, kd),
                    &mut tmp,
                    kd,
                    false,
                );
                for (x, (t, e)) in dq[i0 * kd..i1 * kd].iter_mut().zip(tmp.iter().zip(er)) {
                    *x += *t * *e;
                }
                // dk_J += (dA_IJ^T Qr) e^(r - b_J)
                mm(
                    nj,
                    kd,
                    ni,
                    MatRef { data: &da, off: i0 * len + j0, rs: 1, cs: len },
                    rows(qr, kd),
                    &mut tmp,
                    kd,
                    false,
                );
                for (x, (t, e)) in dk[j0 * kd..j1 * kd].iter_mut().zip(tmp.iter().zip(ej)) {
                    *x += *t * *e;
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
        // inter-chunk dq: scale e^b (dO S_prev^T)
        let mut inter = vec![T::ZERO; len * kd];
        mm(len, kd, vd, rows(dob, vd), transposed(s_prev, vd), &mut inter, kd, false);
        for ((x, t), e) in dq.iter_mut().zip(&inter).zip(&c.eb) {
            *x += scale * *e * *t;
        }
        // state part of dk: e^(b_C - b) (V D^T)
        mm(len, kd, vd, rows(v, vd), transposed(&dmat, vd), &mut inter, kd, false);
        for ((x, t), e) in dk.iter_mut().zip(&inter).zip(&c.ec) {
            *x += *e * *t;
        }
        // dv = scale A^T dO + (k e^(b_C - b)) D
        let dvb = &mut gr.dv[c0 * vd..c1 * vd];
        mm(len, vd, len, transposed(&c.a, len), rows(dob, vd), dvb, vd, false);
        dvb.iter_mut().for_each(|x| *x *= scale);
        mm(len, vd, kd, rows(&c.kh, kd), rows(&dmat, vd), dvb, vd, true);
        // db = q dq - k dk (+ rowsum(D S) on the last step); dg = reverse cumsum in the chunk
        let mut acc = vec![T::ZERO; kd];
        for i in (0..len).rev() {
            for kk in 0..kd {
                let mut db = q[i * kd + kk] * dq[i * kd + kk] - k[i * kd + kk] * dk[i * kd + kk];
                if i == len - 1 {
                    db += dmat[kk * vd..(kk + 1) * vd]
                        .iter()
                        .zip(&s_cur[kk * vd..(kk + 1) * vd])
                        .map(|(x, y)| *x * *y)
                        .sum::<T>();
                }
                acc[kk] += db;
                gr.dg[(c0 + i) * kd + kk] = acc[kk];
            }
        }
        gr.dq[c0 * kd..c1 * kd].copy_from_slice(&dq);
        gr.dk[c0 * kd..c1 * kd].copy_from_slice(&dk);
        // D <- scale (q e^b)^T dO + e^(b_C) D
        for (kk, &decay) in c.decay.iter().enumerate() {
            dmat[kk * vd..(kk + 1) * vd].iter_mut().for_each(|x| *x *= decay);
        }
        let qts: Vec<T> = c.qt.iter().map(|x| *x * scale).collect();
        mm(kd, vd, len, transposed(&qts, kd), rows(dob, vd), &mut dmat, vd, true);
    }
    gr.ds0 = dmat;
    gr
}
