//! Host launchers, one file per kernel family: each checks shapes, strides and sizes before
//! its launch and names its kernel in every error; each runs unchanged on the GPU and on the
//! interpreter (they only see [`crate::runtime::Backend`]).

pub mod adamw;
pub mod attention;
pub mod conv1d;
pub mod copy;
pub mod elementwise;
pub mod feature_map;
pub mod fill;
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

use crate::modules::Kernels;
use crate::runtime::{GpuStorage, LaunchDims};
use tensor::{DType, Layout, Result, Shape};

/// Every module's registry: exactly one per shipped module (`tests` checks it).
pub static REGISTRIES: &[&Kernels] = &[
    &fill::KERNELS,
    &copy::KERNELS,
    &elementwise::KERNELS,
    &reduce::KERNELS,
    &index::KERNELS,
    &matmul::KERNELS,
    &matmul::TC_KERNELS,
    &attention::KERNELS,
    &conv1d::KERNELS,
    &feature_map::KERNELS,
    &gla::KERNELS,
    &norm::KERNELS,
    &rope::KERNELS,
    &swiglu::KERNELS,
    &loss::KERNELS,
    &adamw::KERNELS,
    &sample::KERNELS,
];

/// Each name of `stems` with `_f32` and `_f64` after it: the entries of a family computed in
/// either compute type.
pub fn f32_f64(stems: &[&str]) -> Vec<String> {
    stems.iter().flat_map(|s| [format!("{s}_f32"), format!("{s}_f64")]).collect()
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

/// The float dtypes (those with a compute type); [`ALL`] adds ids and bytes.
pub const FLOATS: [DType; 4] = [DType::F32, DType::F64, DType::BF16, DType::F16];
pub const ALL: [DType; 6] =
    [DType::F32, DType::F64, DType::BF16, DType::F16, DType::I64, DType::U8];

/// Threads of a block that strides over a row (a multiple of 32, what the block reductions
/// of `fused.cuh` need): enough for `cols` columns, at most 256.
pub fn row_threads(cols: usize) -> u32 {
    (cols.div_ceil(32) * 32).clamp(32, 256) as u32
}

/// One block per row (the kernels loop when there are more rows than blocks).
pub fn row_dims(rows: usize, cols: usize) -> LaunchDims {
    LaunchDims::linear(rows.clamp(1, 1 << 20) as u32, row_threads(cols))
}

/// A grid-stride launch over `n` elements: 256 threads, at most 4096 blocks.
pub fn elementwise_dims(n: usize) -> LaunchDims {
    LaunchDims::linear(n.div_ceil(256).clamp(1, 4096) as u32, 256)
}

/// Scratch device memory of `n` f64 values (contents unspecified; the kernels write before
/// they read).
pub fn scratch(like: &GpuStorage, n: usize) -> Result<GpuStorage> {
    like.gpu().storage(DType::F64, n.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::{entries, MODULES};
    use std::collections::BTreeSet;

    /// Every registry lists exactly the entries of its module's text: each entry a launcher
    /// may name exists in the shipped PTX, and each shipped entry is launched by some
    /// launcher. One registry per module.
    #[test]
    fn registries_match_the_shipped_modules() {
        let mut seen = BTreeSet::new();
        for r in REGISTRIES {
            assert!(seen.insert(r.module), "two registries for module {}", r.module);
            let shipped: BTreeSet<String> = entries(crate::modules::text(r.module).unwrap())
                .iter()
                .map(|e| e.to_string())
                .collect();
            let listed: Vec<String> = r.names();
            let set: BTreeSet<String> = listed.iter().cloned().collect();
            assert_eq!(set.len(), listed.len(), "{}: a name listed twice", r.module);
            let missing: Vec<_> = set.difference(&shipped).collect();
            let unlaunched: Vec<_> = shipped.difference(&set).collect();
            assert!(
                missing.is_empty(),
                "{}.ptx lacks entries its launchers name: {missing:?}",
                r.module
            );
            assert!(
                unlaunched.is_empty(),
                "{}.ptx has entries no launcher names: {unlaunched:?}",
                r.module
            );
            for n in &listed {
                assert_eq!(r.entry(n).unwrap().name, n);
            }
            assert!(r.entry("no_such_entry").is_err());
        }
        let modules: BTreeSet<&str> = MODULES.iter().map(|(m, _)| *m).collect();
        assert_eq!(seen, modules, "modules without a registry, or registries without a module");
    }
}
