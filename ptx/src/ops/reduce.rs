//! Reductions along one dim (`kernels/reduce.cu`): `reduce_<dtype>` (sum, max, min,
//! logsumexp), `argreduce_<dtype>` (argmax, argmin), `softmax_<dtype>` (and log-softmax),
//! `cumsum_<dtype>`. The input is seen as rows: the layout without the reduced dim gives
//! each row's start, the dim's stride and size its elements.

use super::operand::{check_view, strided};
use super::{dtype_name, pre_post, without_dim, FLOATS, MAX_BLOCKS, THREADS};
use crate::modules::Kernels;
use crate::runtime::{GpuStorage, KernelArg, LaunchDims};
use tensor::{bail, DType, Layout, ReduceOp, Result};

/// The rows of `l` along `dim`.
struct Rows {
    /// Start of every row (the layout without `dim`), as a descriptor.
    outer: KernelArg,
    n_out: usize,
    len: usize,
    stride: usize,
    /// Elements after `dim` in the (contiguous) output of softmax and cumsum.
    post: usize,
}

/// `kernels/reduce.ptx`: each family for each float dtype, and the partial sums of the
/// 16-bit floats (a long row in parts, the parts in the compute type).
pub static KERNELS: Kernels = Kernels::new("reduce", || {
    let mut names = vec![];
    for fam in ["reduce", "argreduce", "softmax", "cumsum"] {
        names.extend(FLOATS.iter().map(|&d| format!("{fam}_{}", dtype_name(d))));
    }
    names.extend(["reduce_partial_bf16", "reduce_partial_f16"].map(String::from));
    names
});

fn rows(op: &'static str, x: &GpuStorage, l: &Layout, dim: usize) -> Result<Rows> {
    if dim >= l.dims().len() {
        bail!(op, "dim {dim} out of range for shape {:?}", l.dims())
    }
    if !x.dtype().is_float() {
        bail!(op, "needs a float tensor, got {}", x.dtype())
    }
    check_view(op, "input", x, l)?;
    let o = without_dim(l, dim);
    Ok(Rows {
        outer: strided(op, &o)?,
        n_out: o.numel(),
        len: l.dims()[dim],
        stride: l.strides()[dim],
        post: pre_post(l.dims(), dim).1,
    })
}

/// Threads per row (`by`, a power of two) and their arrangement (`yfast`) for rows of
/// `len` elements `stride` apart (see `kernels/reduce.cu`): along a dense row the by
/// threads of a row are neighbours (a warp reads 32 consecutive elements; one block per
/// row from 256 elements); along a strided dim neighbouring threads take neighbouring rows
/// (coalesced when the rows start side by side) and each of a row's by threads folds at
/// least 16 elements.
fn arrangement(len: usize, stride: usize) -> (u32, bool) {
    if len <= 1 {
        (1, false)
    } else if stride == 1 {
        (len.next_power_of_two().min(THREADS as usize) as u32, true)
    } else {
        ((len / 16).max(1).next_power_of_two().min(32) as u32, false)
    }
}

fn row_blocks(n_out: usize, by: u32) -> LaunchDims {
    let bx = (THREADS / by) as usize;
    LaunchDims::linear(n_out.div_ceil(bx).clamp(1, MAX_BLOCKS) as u32, THREADS)
}

/// `ReduceCode` of `kernels/reduce.cu` (argmax/argmin: the `op` of `argreduce`).
fn reduce_code(op: ReduceOp) -> (bool, i32) {
    match op {
        ReduceOp::Sum => (false, 0),
        ReduceOp::Max => (false, 1),
        ReduceOp::Min => (false, 2),
        ReduceOp::LogSumExp => (false, 3),
        ReduceOp::ArgMax => (true, 0),
        ReduceOp::ArgMin => (true, 1),
    }
}

/// Parts each row is cut into, and their length, so that a few long rows still give the
/// GPU about [`TARGET_BLOCKS`] blocks (a sum over a whole 28M-element gradient would
/// otherwise run in one block on one SM): only for rows of at least 2 * [`MIN_CHUNK`], and
/// only when the rows alone give fewer blocks than that. Depends on the shape alone, so
/// results repeat bit for bit.
fn split_rows(n_out: usize, len: usize, by: u32) -> (usize, usize) {
    let bx = (THREADS / by) as usize;
    let blocks = n_out.div_ceil(bx);
    if len < 2 * MIN_CHUNK || blocks >= TARGET_BLOCKS / 4 {
        return (1, len);
    }
    let splits = (len / MIN_CHUNK).min((TARGET_BLOCKS * bx / n_out.max(1)).max(1));
    let chunk = len.div_ceil(splits);
    (len.div_ceil(chunk), chunk)
}

/// Blocks a reduction aims for, and the shortest part of a split row.
const TARGET_BLOCKS: usize = 1024;
const MIN_CHUNK: usize = 4096;

/// Reduces `dim`; the output has the input's shape with `dim` of size 1 (i64 for
/// argmax/argmin). A sum over an empty dim is 0; the other ops need a non-empty dim. Sums,
/// maxima and minima of a few long rows run in two launches: the rows' parts (in the compute
/// type), then the parts.
pub fn reduce(x: &GpuStorage, l: &Layout, dim: usize, op: ReduceOp) -> Result<GpuStorage> {
    let r = rows("reduce", x, l, dim)?;
    if r.len == 0 && op != ReduceOp::Sum {
        bail!("reduce", "cannot take {op:?} of an empty dim {dim} of shape {:?}", l.dims())
    }
    let (arg, code) = reduce_code(op);
    let (by, yfast) = arrangement(r.len, r.stride);
    let splittable = matches!(op, ReduceOp::Sum | ReduceOp::Max | ReduceOp::Min);
    let (splits, chunk) = if splittable { split_rows(r.n_out, r.len, by) } else { (1, r.len) };
    let compute = x.dtype().compute();
    let out_dtype = if arg {
        DType::I64
    } else if splits > 1 {
        compute
    } else {
        x.dtype()
    };
    let n_parts = r.n_out * splits;
    let out = x.gpu().storage(out_dtype, n_parts)?;
    if n_parts == 0 {
        return Ok(out);
    }
    let (family, suffix) = match (arg, splits > 1 && compute != x.dtype()) {
        (true, _) => ("argreduce", dtype_name(x.dtype())),
        (false, true) => ("reduce_partial", dtype_name(x.dtype())),
        (false, false) => ("reduce", dtype_name(x.dtype())),
    };
    let name = KERNELS.entry(&format!("{family}_{suffix}"))?;
    let i64s = |v: usize| KernelArg::I64(v as i64);
    let mut args = vec![out.arg(), x.arg(), r.outer, i64s(n_parts), i64s(r.len), i64s(r.stride)];
    if !arg {
        args.extend([i64s(splits), i64s(chunk)]);
    }
    args.extend([KernelArg::I32(code), KernelArg::I32(by as i32), KernelArg::I32(yfast as i32)]);
    x.gpu().launch(name, row_blocks(n_parts, by), &args)?;
    if splits == 1 {
        return Ok(out);
    }
    // The parts, [rows, splits] in the compute type, reduced along their last dim, then
    // rounded once to the input's dtype.
    let whole = reduce(&out, &Layout::contiguous([r.n_out, splits]), 1, op)?;
    if compute == x.dtype() {
        Ok(whole)
    } else {
        super::copy::cast(&whole, &Layout::contiguous([r.n_out]), x.dtype())
    }
}

/// Softmax (or log-softmax) along `dim`, contiguous in the input's shape.
pub fn softmax(x: &GpuStorage, l: &Layout, dim: usize, log: bool) -> Result<GpuStorage> {
    let r = rows("softmax", x, l, dim)?;
    let (by, yfast) = arrangement(r.len, r.stride);
    let (tail, dims) =
        ([log as i32, by as i32, yfast as i32].map(KernelArg::I32), row_blocks(r.n_out, by));
    along("softmax", x, l, r, &tail, dims)
}

/// Inclusive running sums along `dim` (from the end when `reverse`), contiguous.
pub fn cumsum(x: &GpuStorage, l: &Layout, dim: usize, reverse: bool) -> Result<GpuStorage> {
    let r = rows("cumsum", x, l, dim)?;
    let dims = super::grid(r.n_out);
    along("cumsum", x, l, r, &[KernelArg::I32(reverse as i32)], dims)
}

/// `family_<dtype>` over the rows `r` of `x` (a result of `x`'s shape and dtype): the
/// arguments every row kernel takes, then `tail`.
fn along(
    family: &str,
    x: &GpuStorage,
    l: &Layout,
    r: Rows,
    tail: &[KernelArg],
    dims: LaunchDims,
) -> Result<GpuStorage> {
    let n = l.numel();
    let out = x.gpu().storage(x.dtype(), n)?;
    if n == 0 {
        return Ok(out);
    }
    let name = KERNELS.entry(&format!("{family}_{}", dtype_name(x.dtype())))?;
    let mut args = vec![out.arg(), x.arg(), r.outer];
    args.extend([r.n_out, r.len, r.stride, r.post].map(|v| KernelArg::I64(v as i64)));
    args.extend_from_slice(tail);
    x.gpu().launch(name, dims, &args)?;
    Ok(out)
}
