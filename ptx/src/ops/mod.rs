//! Host launchers, one file per kernel family: each checks shapes, strides and sizes before
//! its launch and names its kernel in every error; each runs unchanged on the GPU and on the
//! interpreter (they only see [`crate::runtime::Backend`]).

pub mod adamw;
pub mod copy;
pub mod elementwise;
pub mod fill;
pub mod fused_args;
pub mod index;
pub mod loss;
pub mod matmul;
pub mod norm;
pub mod reduce;
pub mod rope;
pub mod sample;
pub mod swiglu;

use crate::runtime::KernelArg;
use tensor::{bail, Layout, Result};

/// Dims a `Strided` descriptor holds (`MAX_DIMS` in `ptx/kernels/common.cuh`).
pub const MAX_DIMS: usize = 8;

/// The bytes of `struct Strided` (`ptx/kernels/common.cuh`) for `layout`, its dims coalesced
/// (neighbouring dims that are one run in memory merged) so that any rank fits when the
/// memory allows: `{ i64 offset; i32 rank; i32 pad; i64 dims[8]; i64 strides[8] }`.
pub fn strided(op: &'static str, layout: &Layout) -> Result<KernelArg> {
    strided_many(op, layout.dims(), &[layout]).map(|mut v| v.remove(0))
}

/// Descriptors of several operands seen over one shape (a binary op's broadcast operands),
/// coalesced together so that element `i` of each is found by the same index walk.
pub fn strided_many(op: &'static str, dims: &[usize], layouts: &[&Layout]) -> Result<Vec<KernelArg>> {
    let mut shape: Vec<usize> = vec![];
    let mut strides: Vec<Vec<usize>> = vec![vec![]; layouts.len()];
    for (d, &n) in dims.iter().enumerate() {
        if n == 1 {
            continue;
        }
        let mergeable = !shape.is_empty() && layouts.iter().zip(&strides).all(|(l, s)| s.last().copied() == Some(l.strides()[d] * n));
        if mergeable {
            *shape.last_mut().expect("not empty") *= n;
            for (l, s) in layouts.iter().zip(strides.iter_mut()) {
                *s.last_mut().expect("not empty") = l.strides()[d];
            }
        } else {
            shape.push(n);
            for (l, s) in layouts.iter().zip(strides.iter_mut()) {
                s.push(l.strides()[d]);
            }
        }
    }
    if shape.len() > MAX_DIMS {
        bail!(op, "a view of shape {dims:?} has {} dims after merging, kernels take at most {MAX_DIMS}", shape.len())
    }
    Ok(layouts
        .iter()
        .zip(strides)
        .map(|(l, s)| {
            let mut b = Vec::with_capacity(16 + 16 * MAX_DIMS);
            b.extend((l.offset() as i64).to_le_bytes());
            b.extend((shape.len() as i32).to_le_bytes());
            b.extend(0i32.to_le_bytes());
            for i in 0..MAX_DIMS {
                b.extend((*shape.get(i).unwrap_or(&1) as i64).to_le_bytes());
            }
            for i in 0..MAX_DIMS {
                b.extend((*s.get(i).unwrap_or(&0) as i64).to_le_bytes());
            }
            KernelArg::Bytes(b)
        })
        .collect())
}
