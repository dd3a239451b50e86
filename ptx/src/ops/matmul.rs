//! Batched matmul on the device: `[..., m, k] @ [..., k, n]`, batch dims already broadcast
//! (stride 0 where stretched), output contiguous `[batch..., m, n]` in the left operand's
//! dtype, as `tensor::cpu::matmul::matmul_storage` computes it.
//!
//! * bf16 @ bf16 and f16 @ f16: the tensor cores (`kernels/matmul_tc.cu`, f32 accumulation),
//!   one entry per operand orientation (`nn nt tn tt`: "t" = the operand is column-major, a
//!   transposed view, and is read as it is) and per tile size (128 x 128 for big grids,
//!   64 x 64 when the big tiles would leave the GPU short of CTAs). When even the small
//!   tiles make fewer CTAs than the GPU has SMs and k is long (weight gradients such as
//!   `x^T @ g` into a low-rank or feature-map weight), k is split into slices whose f32
//!   partial sums a second kernel adds in a fixed order (`matmul_reduce_*`: deterministic).
//! * f32 @ f32 (the exact path), f64 @ f64, and the mixed f32/bf16/f16 products: the CUDA
//!   cores (`kernels/matmul.cu`, operands converted to the accumulator type as they load).
//!
//! No operand is copied: every kernel takes any strides. The tensor-core kernels copy tiles
//! with 16- or 8-byte `cp.async` when the operand's contiguous dim has stride 1 and every
//! row start is that aligned, and fall back to element loads for other views (slower, same
//! results).

use super::operand::{check_view, strided_many};
use crate::modules::Kernels;
use crate::runtime::{GpuStorage, KernelArg, LaunchDims};
use tensor::{bail, DType, Layout, Result, Shape};

/// Streaming multiprocessors of the GPU the tile choice is tuned for (the H200: 132).
const SMS: usize = 132;
/// The most CTAs along a grid's y or z.
const MAX_GRID_YZ: usize = 65535;
/// Ring depth and k-tile of the tensor-core kernels (`STAGES`, `BK` in `matmul_tc.cu`).
const TC_STAGES: usize = 3;
const TC_BK: usize = 32;
/// Tile edge and block of the CUDA-core kernels (`S_BM`/`S_BN`, `S_THREADS` in `matmul.cu`).
const SIMT_TILE: usize = 64;
const SIMT_THREADS: u32 = 256;

/// `kernels/matmul_tc.ptx`: a tensor-core entry per dtype, operand orientation and tile
/// size ([`tc_name`]), and the split-k second pass per output dtype.
pub static TC_KERNELS: Kernels = Kernels::new("matmul_tc", || {
    let mut names = vec![];
    for dt in ["bf16", "f16"] {
        for large in [true, false] {
            for (a, b) in [(false, false), (false, true), (true, false), (true, true)] {
                names.push(tc_name(dt, a, b, large));
            }
        }
    }
    names.extend(["matmul_reduce_bf16", "matmul_reduce_f16"].map(String::from));
    names
});

/// The tensor-core entry of `dtype` (bf16 or f16) for operands `a`, `b` column-major or not
/// ("t": a transposed view, read as it is), with 128 x 128 or 64 x 64 tiles.
fn tc_name(dtype: &str, a_col_major: bool, b_col_major: bool, large: bool) -> String {
    let o = |t: bool| if t { 't' } else { 'n' };
    format!("matmul_{dtype}_{}{}_{}", o(a_col_major), o(b_col_major), if large { 128 } else { 64 })
}

/// `kernels/matmul.ptx`: the CUDA-core entries by (left, right) dtype.
pub static KERNELS: Kernels =
    Kernels::new("matmul", || SIMT_ENTRIES.iter().map(|(_, _, e)| e.to_string()).collect());

/// CUDA-core entries by (left, right) dtype.
const SIMT_ENTRIES: [(DType, DType, &str); 8] = [
    (DType::F32, DType::F32, "matmul_f32"),
    (DType::F64, DType::F64, "matmul_f64"),
    (DType::F32, DType::BF16, "matmul_f32_bf16"),
    (DType::F32, DType::F16, "matmul_f32_f16"),
    (DType::BF16, DType::F32, "matmul_bf16_f32"),
    (DType::F16, DType::F32, "matmul_f16_f32"),
    (DType::BF16, DType::F16, "matmul_bf16_f16"),
    (DType::F16, DType::BF16, "matmul_f16_bf16"),
];

/// How a tensor-core launch is cut up: [`matmul`] uses the default (both chosen from the
/// shape); tests force both tile sizes and split k on shapes the interpreter can afford.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub tiles: Tiles,
    /// k slices (each a multiple of 32 long; fewer when k is short); `None`: chosen.
    pub split_k: Option<usize>,
}

/// The tile size of a tensor-core launch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Tiles {
    #[default]
    Auto,
    /// 128 x 128 per CTA, 256 threads (`matmul_*_128`).
    Large,
    /// 64 x 64 per CTA, 128 threads (`matmul_*_64`).
    Small,
}

impl Tiles {
    /// `Auto` resolved to large tiles when they still make two CTAs per SM (their
    /// occupancy, see `matmul_tc.cu`) over the whole GPU, small ones otherwise; true = large.
    fn large(self, m: usize, n: usize, batch: usize) -> bool {
        match self {
            Tiles::Auto => m.div_ceil(128) * n.div_ceil(128) * batch >= 2 * SMS,
            Tiles::Large => true,
            Tiles::Small => false,
        }
    }
}

/// One operand's matrix: `rows x cols`, element (i, j) at `i * rs + j * cs` past the batch
/// matrix's start. Strides of dims of size 1 (which no element uses) are normalised: 0, or 1
/// where that lets the dim be the contiguous one.
#[derive(Clone, Copy, Debug)]
struct Mat {
    rs: usize,
    cs: usize,
    /// Read along the rows (rs = 1): column-major, a transposed view. Otherwise read along
    /// the columns, which are contiguous (cs = 1) or not (any strides: element loads).
    col_major: bool,
}

impl Mat {
    fn new(rows: usize, cols: usize, rs: usize, cs: usize) -> Mat {
        let unit_rows = rows <= 1 || rs == 1;
        let unit_cols = cols <= 1 || cs == 1;
        // Both qualify when a dim has size 1: read along the longer one.
        let col_major = unit_rows && (!unit_cols || rows > cols);
        let (rs, cs) = if rows <= 1 { (0, cs) } else { (rs, cs) };
        let (rs, cs) = if cols <= 1 { (rs, 0) } else { (rs, cs) };
        let (rs, cs) = if col_major {
            (1, cs)
        } else if unit_cols {
            (rs, 1)
        } else {
            (rs, cs)
        };
        Mat { rs, cs, col_major }
    }
    /// The stride along the contiguous (chunked) dim, and the other one.
    fn unit_and_other(self) -> (usize, usize) {
        if self.col_major {
            (self.rs, self.cs)
        } else {
            (self.cs, self.rs)
        }
    }
    /// Elements per chunk the tensor-core kernels may copy along the contiguous dim: 8
    /// (16-byte cp.async) or 4 (8-byte) when its stride is 1 and every row start (the
    /// offset, the other stride, the strides of batch dims larger than 1) is a multiple of
    /// it; else 1 (element loads).
    fn chunk(self, l: &Layout) -> i32 {
        let (unit, other) = self.unit_and_other();
        let r = l.dims().len();
        let batch = l.dims()[..r - 2]
            .iter()
            .zip(&l.strides()[..r - 2])
            .filter(|(&d, _)| d > 1)
            .map(|(_, &s)| s);
        let starts: Vec<usize> = batch.chain([l.offset(), other]).collect();
        match [8usize, 4].into_iter().find(|v| unit == 1 && starts.iter().all(|s| s % v == 0)) {
            Some(v) => v as i32,
            None => 1,
        }
    }
}

/// k slices for a grid of `ctas` CTAs over a k of `k`: enough for two CTAs per SM, each
/// slice at least 256 long (8 k-tiles, so the cp.async ring still runs), at most 32.
fn auto_splits(ctas: usize, k: usize) -> usize {
    if ctas >= SMS {
        return 1;
    }
    (2 * SMS).div_ceil(ctas).min(k / 256).clamp(1, 32)
}

/// `a @ b` on the device (see the module comment).
pub fn matmul(a: &GpuStorage, al: &Layout, b: &GpuStorage, bl: &Layout) -> Result<GpuStorage> {
    matmul_with(a, al, b, bl, Plan::default())
}

/// [`matmul`] with the tensor-core tiles and k slices chosen by the caller.
pub fn matmul_with(
    a: &GpuStorage,
    al: &Layout,
    b: &GpuStorage,
    bl: &Layout,
    plan: Plan,
) -> Result<GpuStorage> {
    let (ad, bd) = (al.dims(), bl.dims());
    let r = ad.len();
    if r < 2 || bd.len() != r {
        bail!(
            "matmul",
            "operands must have one rank >= 2 (batch dims broadcast), got {ad:?} @ {bd:?}"
        )
    }
    if ad[..r - 2] != bd[..r - 2] {
        bail!("matmul", "batch dims differ: {ad:?} @ {bd:?}")
    }
    let (m, k, n) = (ad[r - 2], ad[r - 1], bd[r - 1]);
    if bd[r - 2] != k {
        bail!("matmul", "inner dims differ: {ad:?} @ {bd:?}")
    }
    for (what, s, l) in [("the left operand", a, al), ("the right operand", b, bl)] {
        check_view("matmul", what, s, l)?;
    }
    let (ta, tb) = (a.dtype(), b.dtype());
    let tc = match (ta, tb) {
        (DType::BF16, DType::BF16) => Some("bf16"),
        (DType::F16, DType::F16) => Some("f16"),
        (DType::F32 | DType::BF16 | DType::F16, DType::F32 | DType::BF16 | DType::F16)
        | (DType::F64, DType::F64) => None,
        (DType::F64, DType::F32 | DType::BF16 | DType::F16)
        | (DType::F32 | DType::BF16 | DType::F16, DType::F64) => {
            bail!("matmul", "cannot multiply {ta} by {tb} (f64 multiplies f64 only)")
        }
        (DType::I64 | DType::U8, _) | (_, DType::I64 | DType::U8) => {
            bail!("matmul", "needs float tensors, got {ta} @ {tb}")
        }
    };
    let batch_dims = &ad[..r - 2];
    let batch: usize = batch_dims.iter().product();
    let out = a.gpu().storage(ta, batch * m * n)?;
    if out.is_empty() {
        return Ok(out);
    }

    // Each batch matrix's start, from two descriptors over the (merged) batch dims.
    let batch_view = |l: &Layout| {
        Layout::new(Shape::from(batch_dims), l.strides()[..r - 2].to_vec(), l.offset())
    };
    let descs = strided_many("matmul", batch_dims, &[&batch_view(al), &batch_view(bl)])?;
    let ma = Mat::new(m, k, al.strides()[r - 2], al.strides()[r - 1]);
    let mb = Mat::new(k, n, bl.strides()[r - 2], bl.strides()[r - 1]);

    // The tensor-core kernels' k slices and their f32 partial sums (kept alive until the
    // reduce pass is queued; the pool frees after queued work).
    let mut partial: Option<GpuStorage> = None;
    let (entry, tile, threads, shared, splits, tail) = match tc {
        Some(dt) => {
            let large = plan.tiles.large(m, n, batch);
            let (tile, threads) = if large { (128, 256) } else { (64, 128) };
            let entry = TC_KERNELS.entry(&tc_name(dt, ma.col_major, mb.col_major, large))?;
            let a_elems = if ma.col_major { TC_BK * (tile + 8) } else { tile * (TC_BK + 8) };
            let b_elems = if mb.col_major { tile * (TC_BK + 8) } else { TC_BK * (tile + 8) };
            let shared = (TC_STAGES * (a_elems + b_elems) * 2) as u32;
            let want = plan
                .split_k
                .unwrap_or_else(|| auto_splits(m.div_ceil(tile) * n.div_ceil(tile) * batch, k))
                .max(1);
            let k_split = k.div_ceil(want).div_ceil(TC_BK).max(1) * TC_BK;
            let splits = k.div_ceil(k_split).max(1);
            if splits > 1 {
                partial = Some(a.gpu().storage(DType::F32, splits * batch * m * n)?);
            }
            let p = partial.as_ref().map_or(out.arg(), |p| p.arg());
            let tail = vec![
                KernelArg::I32(ma.chunk(al)),
                KernelArg::I32(mb.chunk(bl)),
                KernelArg::I64(splits as i64),
                KernelArg::I64(k_split as i64),
                p,
            ];
            (entry, tile, threads, shared, splits, tail)
        }
        None => {
            let Some(&(_, _, entry)) = SIMT_ENTRIES.iter().find(|(x, y, _)| (*x, *y) == (ta, tb))
            else {
                bail!("matmul", "no kernel for {ta} @ {tb}")
            };
            // Which way threads walk as they load: along m for a column-major A, along n for
            // a row-major B (bits 0 and 1), along k otherwise.
            let flags = ma.col_major as i32 | ((!mb.col_major && mb.cs == 1) as i32) << 1;
            let entry = KERNELS.entry(entry)?;
            (entry, SIMT_TILE, SIMT_THREADS, 0, 1, vec![KernelArg::I32(flags)])
        }
    };
    let (gx, gy) = (m.div_ceil(tile), n.div_ceil(tile));
    if gx > i32::MAX as usize || gy > MAX_GRID_YZ {
        bail!(
            "matmul",
            "{entry}: {m} x {n} needs {gx} x {gy} tiles of {tile}, more than a grid holds \
             (x < 2^31, y < 65536)"
        )
    }
    let i64_of = |x: usize| KernelArg::I64(x as i64);
    let mut args = vec![a.arg(), b.arg(), out.arg()];
    args.extend(descs);
    args.extend([
        i64_of(batch),
        i64_of(m),
        i64_of(n),
        i64_of(k),
        i64_of(ma.rs),
        i64_of(ma.cs),
        i64_of(mb.rs),
        i64_of(mb.cs),
    ]);
    args.extend(tail);
    let dims = LaunchDims {
        grid: [gx as u32, gy as u32, (batch * splits).min(MAX_GRID_YZ) as u32],
        block: [threads, 1, 1],
        shared,
    };
    out.gpu().launch(entry, dims, &args)?;
    if let (Some(p), Some(dt)) = (&partial, tc) {
        let len = batch * m * n;
        let dims = LaunchDims::linear(len.div_ceil(256).clamp(1, 4096) as u32, 256);
        out.gpu().launch(
            TC_KERNELS.entry(&format!("matmul_reduce_{dt}"))?,
            dims,
            &[p.arg(), out.arg(), KernelArg::I64(splits as i64), KernelArg::I64(len as i64)],
        )?;
    }
    Ok(out)
}
