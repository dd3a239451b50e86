//! Host launchers, one file per kernel family: each checks shapes, strides and sizes before
//! its launch and names its kernel in every error; each runs unchanged on the GPU and on the
//! interpreter (they only see [`crate::runtime::Backend`]).

pub mod adamw;
pub mod attention;
pub mod conv1d;
pub mod copy;
pub mod elementwise;
pub mod fill;
pub mod fused_args;
pub mod gla;
pub mod index;
pub mod loss;
pub mod matmul;
pub mod norm;
pub mod operand;
pub mod reduce;
pub mod rope;
pub mod sample;
pub mod swiglu;

use crate::runtime::{GpuStorage, KernelArg, LaunchDims};
use tensor::{bail, DType, Layout, Result, Shape};

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
pub fn strided_many(
    op: &'static str,
    dims: &[usize],
    layouts: &[&Layout],
) -> Result<Vec<KernelArg>> {
    let mut shape: Vec<usize> = vec![];
    let mut strides: Vec<Vec<usize>> = vec![vec![]; layouts.len()];
    for (d, &n) in dims.iter().enumerate() {
        if n == 1 {
            continue;
        }
        let mergeable = !shape.is_empty()
            && layouts
                .iter()
                .zip(&strides)
                .all(|(l, s)| s.last().copied() == Some(l.strides()[d] * n));
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
        bail!(
            op,
            "a view of shape {dims:?} has {} dims after merging, kernels take at most {MAX_DIMS}",
            shape.len()
        )
    }
    layouts.iter().zip(strides).map(|(l, s)| descriptor(op, &shape, &s, l.offset())).collect()
}

/// The bytes of `struct Strided` for exactly these dims and strides (no merging: for kernels
/// that need every dim's coordinate, such as scatter_add).
pub fn descriptor(
    op: &'static str,
    dims: &[usize],
    strides: &[usize],
    offset: usize,
) -> Result<KernelArg> {
    if dims.len() > MAX_DIMS || strides.len() != dims.len() {
        bail!(op, "a view of shape {dims:?} (strides {strides:?}) does not fit a kernel's descriptor (at most {MAX_DIMS} dims)")
    }
    let mut b = Vec::with_capacity(16 + 16 * MAX_DIMS);
    b.extend((offset as i64).to_le_bytes());
    b.extend((dims.len() as i32).to_le_bytes());
    b.extend(0i32.to_le_bytes());
    for i in 0..MAX_DIMS {
        b.extend((*dims.get(i).unwrap_or(&1) as i64).to_le_bytes());
    }
    for i in 0..MAX_DIMS {
        b.extend((*strides.get(i).unwrap_or(&0) as i64).to_le_bytes());
    }
    Ok(KernelArg::Bytes(b))
}

/// `layout` without dim `dim`: the start of every row along it (reductions, indexing).
pub fn without_dim(layout: &Layout, dim: usize) -> Layout {
    let (mut dims, mut strides) = (layout.dims().to_vec(), layout.strides().to_vec());
    dims.remove(dim);
    strides.remove(dim);
    Layout::new(Shape::from(dims), strides, layout.offset())
}

/// Products of the dims before and after `dim`.
pub fn pre_post(dims: &[usize], dim: usize) -> (usize, usize) {
    (dims[..dim].iter().product(), dims[dim + 1..].iter().product())
}

/// An error unless every element `layout` addresses lies inside `s` (so no kernel can read
/// or write past a buffer, whatever the view).
pub fn check_view(op: &'static str, what: &str, s: &GpuStorage, layout: &Layout) -> Result<()> {
    if layout.storage_extent() > s.len() {
        bail!(
            op,
            "{what}: the view {:?} (strides {:?}, offset {}) reaches past a storage of {} elements",
            layout.dims(),
            layout.strides(),
            layout.offset(),
            s.len()
        )
    }
    Ok(())
}

/// Threads per block of the grid-stride kernels, and the most blocks they are launched with
/// (a grid-stride loop covers the rest).
pub const THREADS: u32 = 256;
pub const MAX_BLOCKS: usize = 8192;

/// A grid-stride launch over `n` items, one per thread per pass.
pub fn grid(n: usize) -> LaunchDims {
    LaunchDims::linear(n.div_ceil(THREADS as usize).clamp(1, MAX_BLOCKS) as u32, THREADS)
}

/// The dtype's name in entry names (`unary_f32`, `cast_bf16_i64`).
pub fn dtype_name(dtype: DType) -> &'static str {
    dtype.as_str()
}

/// The element size in entry names of the kernels that only move bits (`copy_b4`).
pub fn bits_name(dtype: DType) -> &'static str {
    match dtype.size_in_bytes() {
        1 => "b1",
        2 => "b2",
        4 => "b4",
        _ => "b8",
    }
}

/// The entry `{family}_{suffix}` of a shipped module, as the module text's own `&'static
/// str` (entries are looked up once per process); an error naming the kernel when the module
/// has no such entry. `ops::tests` checks that every name the launchers glue exists.
pub fn entry(module: &'static str, family: &'static str, suffix: &str) -> Result<&'static str> {
    use std::collections::HashMap;
    use std::sync::OnceLock;
    static ENTRIES: OnceLock<HashMap<String, &'static str>> = OnceLock::new();
    let all = ENTRIES.get_or_init(|| {
        crate::modules::MODULES
            .iter()
            .flat_map(|(m, text)| {
                crate::modules::entries(text).into_iter().map(move |e| (format!("{m}.{e}"), e))
            })
            .collect()
    });
    let want = format!("{family}_{suffix}");
    match all.get(&format!("{module}.{want}")) {
        Some(e) => Ok(e),
        None => bail!(family, "module {module} has no entry {want}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [DType; 6] =
        [DType::F32, DType::F64, DType::BF16, DType::F16, DType::I64, DType::U8];
    const FLOATS: [DType; 4] = [DType::F32, DType::F64, DType::BF16, DType::F16];

    /// Every entry name a launcher glues together from a family and a dtype exists.
    #[test]
    fn every_glued_entry_exists() {
        for a in ALL {
            entry("copy", "copy", bits_name(a)).unwrap();
            entry("index", "index_select", bits_name(a)).unwrap();
            entry("index", "gather", bits_name(a)).unwrap();
            entry("elementwise", "cmp", dtype_name(a)).unwrap();
            for b in ALL {
                if a != b {
                    entry("copy", "cast", &format!("{}_{}", dtype_name(a), dtype_name(b))).unwrap();
                }
                entry("elementwise", "where", &format!("{}_{}", dtype_name(a), bits_name(b)))
                    .unwrap();
            }
        }
        for f in FLOATS {
            for (m, fam) in [
                ("elementwise", "unary"),
                ("elementwise", "binary"),
                ("reduce", "reduce"),
                ("reduce", "argreduce"),
                ("reduce", "softmax"),
                ("reduce", "cumsum"),
                ("index", "scatter_add"),
                ("index", "index_add"),
            ] {
                entry(m, fam, dtype_name(f)).unwrap();
            }
        }
        for f in [DType::BF16, DType::F16] {
            entry("reduce", "reduce_partial", dtype_name(f)).unwrap();
        }
        assert!(entry("copy", "cast", "f32_f32").is_err());
    }

    /// Views coalesce to the fewest dims every operand can walk, and a descriptor holds the
    /// bytes of `struct Strided`.
    #[test]
    fn descriptors_coalesce_together() {
        let a = Layout::contiguous([2, 3, 4]);
        let b = Layout::contiguous([3, 4]).broadcast_as(&[2, 3, 4]).unwrap();
        let d = strided_many("t", a.dims(), &[&a, &b]).unwrap();
        let KernelArg::Bytes(bytes) = &d[1] else { panic!("bytes") };
        assert_eq!(bytes.len(), 16 + 16 * MAX_DIMS);
        let word = |i: usize| i64::from_le_bytes(bytes[i * 8..i * 8 + 8].try_into().unwrap());
        // rank 2: dims [2, 12], strides [0, 1] for the broadcast operand.
        assert_eq!(bytes[8], 2);
        assert_eq!((word(2), word(3)), (2, 12));
        assert_eq!((word(2 + MAX_DIMS), word(3 + MAX_DIMS)), (0, 1));
        let t = a.transpose(0, 2).unwrap();
        assert!(matches!(strided("t", &t).unwrap(), KernelArg::Bytes(b) if b[8] == 3));
        assert_eq!(without_dim(&a, 1).dims(), &[2, 4]);
        assert_eq!(without_dim(&a, 1).strides(), &[12, 1]);
    }
}
