//! Reductions along one dim (sum, max, min, argmax, argmin, logsumexp), softmax,
//! log-softmax and cumulative sum. Each views the (contiguous) input as `[pre, len, post]`
//! around the reduced dim: `post == 1` runs along contiguous lanes, `post > 1` adds whole rows.

use super::map::copy_strided;
use crate::backend::ReduceOp;
use crate::host::CpuStorage;
use crate::{Elem, FloatElem, Layout, Real};
use rayon::prelude::*;
use std::borrow::Cow;

/// The contiguous data and the `(pre, len, post)` split around `dim`.
fn split<'a, T: Elem>(
    src: &'a [T],
    layout: &Layout,
    dim: usize,
) -> (Cow<'a, [T]>, usize, usize, usize) {
    let dims = layout.dims();
    let data = if layout.is_contiguous() && layout.numel() > 0 {
        Cow::Borrowed(&src[layout.offset()..layout.offset() + layout.numel()])
    } else {
        Cow::Owned(copy_strided(src, layout))
    };
    let pre = dims[..dim].iter().product();
    let post = dims[dim + 1..].iter().product();
    (data, pre, dims[dim], post)
}

/// Work below this many elements stays on one thread.
const PAR_MIN: usize = 1 << 14;

/// Runs `f(pre_index, out_block)` over the `pre` blocks of an output of `pre * block` elements.
fn par_blocks<O: Send, F: Fn(usize, &mut [O]) + Sync>(
    out: &mut [O],
    block: usize,
    work: usize,
    f: F,
) {
    if block == 0 {
        return;
    }
    if work < PAR_MIN {
        out.chunks_mut(block).enumerate().for_each(|(i, b)| f(i, b));
    } else {
        out.par_chunks_mut(block).enumerate().for_each(|(i, b)| f(i, b));
    }
}

/// Sum of a contiguous lane with eight partial sums (vectorizes, and loses less precision
/// than one running sum).
#[inline]
fn lane_sum<T: FloatElem>(x: &[T]) -> T::C {
    let mut acc = [T::C::ZERO; 8];
    let chunks = x.chunks_exact(8);
    let rest = chunks.remainder();
    for c in chunks {
        for j in 0..8 {
            acc[j] += c[j].to_c();
        }
    }
    let mut s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for v in rest {
        s += v.to_c();
    }
    s
}

/// Reduces `dim` of `src`; the result has `dim` of size 1.
pub fn reduce<T: FloatElem>(src: &[T], layout: &Layout, dim: usize, op: ReduceOp) -> CpuStorage {
    let (data, pre, len, post) = split(src, layout, dim);
    let work = pre * len * post;
    match op {
        ReduceOp::ArgMax | ReduceOp::ArgMin => {
            let max = op == ReduceOp::ArgMax;
            let mut out = vec![0i64; pre * post];
            par_blocks(&mut out, post, work, |i, o| {
                for (j, y) in o.iter_mut().enumerate() {
                    let mut best = 0;
                    let mut bv = data[i * len * post + j].to_c();
                    for a in 1..len {
                        let v = data[(i * len + a) * post + j].to_c();
                        let better = if bv.is_nan() {
                            false
                        } else if v.is_nan() {
                            true
                        } else if max {
                            v > bv
                        } else {
                            v < bv
                        };
                        if better {
                            best = a;
                            bv = v;
                        }
                    }
                    *y = best as i64;
                }
            });
            CpuStorage::I64(out)
        }
        ReduceOp::Sum | ReduceOp::Max | ReduceOp::Min | ReduceOp::LogSumExp => {
            let mut out = vec![T::zeroed(); pre * post];
            par_blocks(&mut out, post, work, |i, o| {
                let block = &data[i * len * post..(i + 1) * len * post];
                if post == 1 {
                    o[0] = T::from_c(reduce_lane(op, block));
                } else {
                    reduce_rows(op, block, len, post, o);
                }
            });
            T::wrap(out)
        }
    }
}

fn reduce_lane<T: FloatElem>(op: ReduceOp, x: &[T]) -> T::C {
    match op {
        ReduceOp::Sum => lane_sum(x),
        ReduceOp::Max => x.iter().fold(T::C::NEG_INFINITY, |m, v| m.max(v.to_c())),
        ReduceOp::Min => x.iter().fold(T::C::INFINITY, |m, v| m.min(v.to_c())),
        ReduceOp::LogSumExp => {
            let m = x.iter().fold(T::C::NEG_INFINITY, |m, v| m.max(v.to_c()));
            if !m.is_finite() {
                return m;
            }
            x.iter().map(|v| (v.to_c() - m).exp()).sum::<T::C>().ln() + m
        }
        ReduceOp::ArgMax | ReduceOp::ArgMin => unreachable!("handled by reduce"),
    }
}

/// Reduces the `len` rows of a `[len, post]` block into `out` (`post` elements).
fn reduce_rows<T: FloatElem>(op: ReduceOp, block: &[T], len: usize, post: usize, out: &mut [T]) {
    let mut acc: Vec<T::C> = match op {
        ReduceOp::Sum => vec![T::C::ZERO; post],
        ReduceOp::Max | ReduceOp::LogSumExp => vec![T::C::NEG_INFINITY; post],
        ReduceOp::Min => vec![T::C::INFINITY; post],
        ReduceOp::ArgMax | ReduceOp::ArgMin => unreachable!("handled by reduce"),
    };
    for row in block.chunks_exact(post).take(len) {
        match op {
            ReduceOp::Sum => acc.iter_mut().zip(row).for_each(|(a, v)| *a += v.to_c()),
            ReduceOp::Max | ReduceOp::LogSumExp => {
                acc.iter_mut().zip(row).for_each(|(a, v)| *a = a.max(v.to_c()))
            }
            ReduceOp::Min => acc.iter_mut().zip(row).for_each(|(a, v)| *a = a.min(v.to_c())),
            ReduceOp::ArgMax | ReduceOp::ArgMin => unreachable!(),
        }
    }
    if op == ReduceOp::LogSumExp {
        let mut sum = vec![T::C::ZERO; post];
        for row in block.chunks_exact(post).take(len) {
            for ((s, v), m) in sum.iter_mut().zip(row).zip(&acc) {
                if m.is_finite() {
                    *s += (v.to_c() - *m).exp();
                }
            }
        }
        for (a, s) in acc.iter_mut().zip(sum) {
            if a.is_finite() {
                *a = s.ln() + *a;
            }
        }
    }
    for (o, a) in out.iter_mut().zip(acc) {
        *o = T::from_c(a);
    }
}

/// `softmax(x)_i = exp(x_i - max) / sum_j exp(x_j - max)` along `dim`;
/// with `log`, `x_i - max - log(sum_j exp(x_j - max))`.
pub fn softmax<T: FloatElem>(src: &[T], layout: &Layout, dim: usize, log: bool) -> Vec<T> {
    let (data, pre, len, post) = split(src, layout, dim);
    let mut out = vec![T::zeroed(); pre * len * post];
    par_blocks(&mut out, len * post, pre * len * post, |i, o| {
        let x = &data[i * len * post..(i + 1) * len * post];
        if post == 1 {
            let m = x.iter().fold(T::C::NEG_INFINITY, |m, v| m.max(v.to_c()));
            let m = if m.is_finite() { m } else { T::C::ZERO };
            let mut e: Vec<T::C> = x.iter().map(|v| (v.to_c() - m).exp()).collect();
            let s: T::C = e.iter().copied().sum();
            if log {
                let ls = s.ln();
                for (y, v) in o.iter_mut().zip(x) {
                    *y = T::from_c(v.to_c() - m - ls);
                }
            } else {
                let r = T::C::ONE / s;
                for (y, v) in o.iter_mut().zip(e.iter_mut()) {
                    *y = T::from_c(*v * r);
                }
            }
        } else {
            let mut m = vec![T::C::NEG_INFINITY; post];
            for row in x.chunks_exact(post) {
                m.iter_mut().zip(row).for_each(|(a, v)| *a = a.max(v.to_c()));
            }
            m.iter_mut().for_each(|a| {
                if !a.is_finite() {
                    *a = T::C::ZERO
                }
            });
            let mut s = vec![T::C::ZERO; post];
            for row in x.chunks_exact(post) {
                for ((a, v), mm) in s.iter_mut().zip(row).zip(&m) {
                    *a += (v.to_c() - *mm).exp();
                }
            }
            for (orow, row) in o.chunks_exact_mut(post).zip(x.chunks_exact(post)) {
                for j in 0..post {
                    let z = row[j].to_c() - m[j];
                    orow[j] = T::from_c(if log { z - s[j].ln() } else { z.exp() / s[j] });
                }
            }
        }
    });
    out
}

/// Inclusive prefix sums along `dim` (suffix sums when `reverse`).
pub fn cumsum<T: FloatElem>(src: &[T], layout: &Layout, dim: usize, reverse: bool) -> Vec<T> {
    let (data, pre, len, post) = split(src, layout, dim);
    let mut out = vec![T::zeroed(); pre * len * post];
    par_blocks(&mut out, len * post, pre * len * post, |i, o| {
        let x = &data[i * len * post..(i + 1) * len * post];
        let mut acc = vec![T::C::ZERO; post];
        for a in 0..len {
            let r = if reverse { len - 1 - a } else { a };
            let (xr, or) = (&x[r * post..(r + 1) * post], &mut o[r * post..(r + 1) * post]);
            for ((s, v), y) in acc.iter_mut().zip(xr).zip(or) {
                *s += v.to_c();
                *y = T::from_c(*s);
            }
        }
    });
    out
}
