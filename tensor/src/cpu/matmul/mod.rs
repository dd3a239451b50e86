//! Batched matmul on the CPU: `[..., m, k] @ [..., k, n]` with batch dims already broadcast
//! (stride 0 where stretched). The work is cut into (batch, row or column range) tasks
//! for rayon; each task runs the single-threaded packed GEMM (`gemm.rs`), or a
//! matrix-vector loop when one side is a single row or column (decoding).

pub mod gemm;
pub(crate) mod kernels;
pub mod naive;

use crate::host::CpuStorage;
use crate::send_ptr::SendPtr;
use crate::{bail, Elem, FloatElem, Layout, Real, Result};
use gemm::{GemmScalar, MatRef};
use half::{bf16, f16};
use rayon::prelude::*;

/// Products smaller than this many multiply-adds stay on one thread.
const PAR_MIN_FLOPS: usize = 1 << 18;
/// From this size (about 645^3 multiply-adds) one matrix runs as [`gemm::gemm_parallel`].
const SHARED_PACKING_MIN_FLOPS: usize = 1 << 28;

/// A batched product of two CPU storages of float dtypes. bf16/f16 (alone or mixed with
/// f32) are computed in f32 and stored in the left operand's dtype; f64 with f64 only.
pub fn matmul_storage(
    a: &CpuStorage,
    la: &Layout,
    b: &CpuStorage,
    lb: &Layout,
) -> Result<CpuStorage> {
    use CpuStorage as S;
    fn f32_out<T: Elem>(v: Vec<f32>) -> CpuStorage {
        match T::DTYPE {
            crate::DType::F32 => CpuStorage::F32(v),
            crate::DType::BF16 => CpuStorage::BF16(v.into_iter().map(bf16::from_f32).collect()),
            crate::DType::F16 => CpuStorage::F16(v.into_iter().map(f16::from_f32).collect()),
            _ => unreachable!("f32_out is only used for f32-computed dtypes"),
        }
    }
    macro_rules! f32_pair {
        ($x:expr, $y:expr, $tx:ty) => {
            match $y {
                S::F32(y) => f32_out::<$tx>(batched::<$tx, f32>($x, la, y, lb)),
                S::BF16(y) => f32_out::<$tx>(batched::<$tx, bf16>($x, la, y, lb)),
                S::F16(y) => f32_out::<$tx>(batched::<$tx, f16>($x, la, y, lb)),
                other => bail!("matmul", "cannot multiply {} by {}", a.dtype(), other.dtype()),
            }
        };
    }
    Ok(match a {
        S::F64(x) => match b {
            S::F64(y) => S::F64(batched::<f64, f64>(x, la, y, lb)),
            other => bail!("matmul", "cannot multiply f64 by {}", other.dtype()),
        },
        S::F32(x) => f32_pair!(x, b, f32),
        S::BF16(x) => f32_pair!(x, b, bf16),
        S::F16(x) => f32_pair!(x, b, f16),
        S::I64(_) | S::U8(_) => bail!("matmul", "needs float tensors, got {}", a.dtype()),
    })
}

/// The batched product, computed in `TA::C`, output contiguous `[batch..., m, n]`.
pub fn batched<TA, TB>(a: &[TA], la: &Layout, b: &[TB], lb: &Layout) -> Vec<TA::C>
where
    TA: FloatElem,
    TB: FloatElem<C = TA::C>,
    TA::C: GemmScalar,
{
    let (ad, bd) = (la.dims(), lb.dims());
    let r = ad.len();
    let (m, k, n) = (ad[r - 2], ad[r - 1], bd[r - 1]);
    let batch_dims = &ad[..r - 2];
    let nbatch: usize = batch_dims.iter().product();
    let (as_, bs) = (la.strides(), lb.strides());
    // Storage offset of every batch's matrix in A and in B.
    let offsets: Vec<(usize, usize)> = (0..nbatch)
        .map(|bi| {
            let (mut oa, mut ob, mut rem) = (la.offset(), lb.offset(), bi);
            for d in (0..batch_dims.len()).rev() {
                let i = rem % batch_dims[d];
                rem /= batch_dims[d];
                oa += i * as_[d];
                ob += i * bs[d];
            }
            (oa, ob)
        })
        .collect();
    let mut out = vec![TA::C::ZERO; nbatch * m * n];
    // k = 0: sums of nothing (and the operands may be empty views whose offset is past
    // their empty storage, which the slicing below must not see).
    if out.is_empty() || k == 0 {
        return out;
    }
    let amat = |bi: usize| MatRef { data: a, off: offsets[bi].0, rs: as_[r - 2], cs: as_[r - 1] };
    let bmat = |bi: usize| MatRef { data: b, off: offsets[bi].1, rs: bs[r - 2], cs: bs[r - 1] };

    if m == 1 || n == 1 {
        let big = nbatch * m * n * k >= PAR_MIN_FLOPS;
        let run = |(bi, c): (usize, &mut [TA::C])| {
            matvec(m, n, k, amat(bi), bmat(bi), c, big && nbatch == 1)
        };
        if big && nbatch > 1 {
            out.par_chunks_mut(m * n).enumerate().for_each(run);
        } else {
            out.chunks_mut(m * n).enumerate().for_each(run);
        }
        return out;
    }

    let threads = rayon::current_num_threads();
    let flops = nbatch * m * n * k;
    if threads == 1 || flops < PAR_MIN_FLOPS {
        for (bi, c) in out.chunks_mut(m * n).enumerate() {
            gemm::gemm(m, n, k, amat(bi), bmat(bi), c, n);
        }
        return out;
    }
    // One large matrix: its row blocks in parallel over one packing of B (below this size the
    // second parallel region per block, for packing B, costs more than the packing it shares).
    if nbatch == 1 && flops >= SHARED_PACKING_MIN_FLOPS {
        gemm::gemm_parallel(m, n, k, amat(0), bmat(0), &mut out, n, threads);
        return out;
    }
    // Split each matrix into `parts` row or column ranges so there are at least as many
    // tasks as threads; split the longer side, in whole micro-tiles.
    let parts = threads.div_ceil(nbatch).max(1);
    let (mr, nr) = <TA::C as GemmScalar>::kernel().tile();
    let split_cols = n >= m;
    let (len, unit) = if split_cols { (n, nr) } else { (m, mr) };
    let step = len.div_ceil(parts).div_ceil(unit) * unit;
    let ranges: Vec<(usize, usize)> =
        (0..len).step_by(step.max(1)).map(|s| (s, (s + step).min(len))).collect();
    let tasks: Vec<(usize, usize, usize)> =
        (0..nbatch).flat_map(|bi| ranges.iter().map(move |&(s, e)| (bi, s, e))).collect();
    let ptr = SendPtr(out.as_mut_ptr());
    tasks.par_iter().for_each(|&(bi, s, e)| {
        let base = ptr;
        // SAFETY: tasks write disjoint row or column ranges of disjoint batch matrices.
        let c = unsafe { std::slice::from_raw_parts_mut(base.0.add(bi * m * n), m * n) };
        if split_cols {
            gemm::gemm(m, e - s, k, amat(bi), bmat(bi).shift(0, s), &mut c[s..], n);
        } else {
            gemm::gemm(e - s, n, k, amat(bi).shift(s, 0), bmat(bi), &mut c[s * n..], n);
        }
    });
    out
}

/// Dot product with eight partial sums (vectorizes).
#[inline]
fn dot<TA: FloatElem, TB: FloatElem<C = TA::C>>(x: &[TA], y: &[TB]) -> TA::C {
    let mut acc = [TA::C::ZERO; 8];
    let n8 = x.len() / 8 * 8;
    for (xc, yc) in x[..n8].chunks_exact(8).zip(y[..n8].chunks_exact(8)) {
        for j in 0..8 {
            acc[j] += xc[j].to_c() * yc[j].to_c();
        }
    }
    let mut s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (p, q) in x[n8..].iter().zip(&y[n8..]) {
        s += p.to_c() * q.to_c();
    }
    s
}

/// `m == 1` or `n == 1`: dot products over contiguous lanes where the strides allow,
/// the GEMM otherwise.
fn matvec<TA, TB>(
    m: usize,
    n: usize,
    k: usize,
    a: MatRef<TA>,
    b: MatRef<TB>,
    c: &mut [TA::C],
    par: bool,
) where
    TA: FloatElem,
    TB: FloatElem<C = TA::C>,
    TA::C: GemmScalar,
{
    let chunk = if par { n.div_ceil(4 * rayon::current_num_threads()).max(16) } else { n.max(1) };
    if m == 1 && (k == 0 || a.cs == 1) && (k <= 1 || b.rs == 1) {
        // x @ W^T: every output is a dot of x with a contiguous column of B.
        let x = &a.data[a.off..a.off + k];
        let body = |(ci, cc): (usize, &mut [TA::C])| {
            for (jj, y) in cc.iter_mut().enumerate() {
                let j = ci * chunk + jj;
                let col = b.off + j * b.cs;
                *y = dot(x, &b.data[col..col + k]);
            }
        };
        if par {
            c.par_chunks_mut(chunk).enumerate().for_each(body);
        } else {
            c.chunks_mut(chunk).enumerate().for_each(body);
        }
    } else if m == 1 && (k == 0 || a.cs == 1) && (n <= 1 || b.cs == 1) {
        // x @ W: accumulate rows of B scaled by x.
        let body = |(ci, cc): (usize, &mut [TA::C])| {
            let j0 = ci * chunk;
            cc.fill(TA::C::ZERO);
            for p in 0..k {
                let xp = a.data[a.off + p].to_c();
                let row = b.off + p * b.rs + j0;
                let w_row = &b.data[row..row + cc.len()];
                for (y, w) in cc.iter_mut().zip(w_row) {
                    *y += xp * w.to_c();
                }
            }
        };
        if par {
            c.par_chunks_mut(chunk).enumerate().for_each(body);
        } else {
            c.chunks_mut(chunk).enumerate().for_each(body);
        }
    } else if n == 1 && (k == 0 || a.cs == 1) && (k <= 1 || b.rs == 1) {
        let y = &b.data[b.off..b.off + k];
        let body = |(i, ci): (usize, &mut TA::C)| {
            let row = a.off + i * a.rs;
            *ci = dot(&a.data[row..row + k], y);
        };
        if par {
            c.par_iter_mut().enumerate().for_each(body);
        } else {
            c.iter_mut().enumerate().for_each(body);
        }
    } else {
        gemm::gemm(m, n, k, a, b, c, n);
    }
}
