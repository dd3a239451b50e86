//! Launch arguments of the fused-op kernels (`kernels/{norm,rope,swiglu,loss,adamw,sample}.cu`,
//! their helpers in `kernels/fused.cuh`), every one checked first: a float input
//! of any storage dtype read through its layout (pointer, dtype code, `Strided`), a `[.., D]`
//! input seen as rows (the `Strided` of its leading dims and the stride of its last), and
//! contiguous outputs (the address of their first element). The accelerator bodies of the
//! fused ops get their operands with [`inputs`] and [`outputs`].

use super::{check_view, strided};
use crate::runtime::device::{input, output};
use crate::runtime::{GpuStorage, KernelArg, LaunchDims};
use tensor::{bail, DType, DevIn, DevOut, Layout, Result, Shape};

/// An input: its storage and the layout it is read through.
pub type In<'a> = (&'a GpuStorage, &'a Layout);
/// An output: its storage and layout (contiguous for the fused kernels).
pub type Out<'a> = (&'a mut GpuStorage, &'a Layout);

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

/// The accelerator body's inputs as `(storage, layout)`, each on a cuda or interp device.
pub fn inputs<'a>(op: &str, ins: &[DevIn<'a>]) -> Result<Vec<In<'a>>> {
    ins.iter().map(|d| Ok((input(op, d)?, d.layout))).collect()
}

/// The accelerator body's outputs as `(storage, layout)`.
pub fn outputs<'b>(op: &str, outs: &'b mut [DevOut<'_>]) -> Result<Vec<Out<'b>>> {
    let mut v = Vec::with_capacity(outs.len());
    for d in outs.iter_mut() {
        let l = d.layout;
        v.push((output(op, d)?, l));
    }
    Ok(v)
}

/// The code of a float storage dtype in the kernels (`DT_*` in `fused.cuh`, the same codes
/// as `operand.cuh`'s).
pub fn dtype_code(kernel: &'static str, dtype: DType) -> Result<i32> {
    super::operand::dtype_code(kernel, "an input", dtype)
}

/// The compute dtype of a kernel family's output: f32 or f64 (the `_f32`/`_f64` entries).
pub fn compute(kernel: &'static str, dtype: DType) -> Result<DType> {
    match dtype {
        DType::F32 | DType::F64 => Ok(dtype),
        dt @ (DType::BF16 | DType::F16 | DType::I64 | DType::U8) => {
            bail!(kernel, "computes in f32 or f64, the output is {dt}")
        }
    }
}

/// A float input read element by element through its layout: `[ptr, dtype code, Strided]`.
pub fn float_in(kernel: &'static str, what: &str, x: In) -> Result<Vec<KernelArg>> {
    let (s, l) = x;
    check_view(kernel, what, s, l)?;
    Ok(vec![s.arg(), KernelArg::I32(dtype_code(kernel, s.dtype())?), strided(kernel, l)?])
}

/// An i64 input read through its layout (targets): `[ptr, Strided]`.
pub fn ids_in(kernel: &'static str, what: &str, x: In) -> Result<Vec<KernelArg>> {
    let (s, l) = x;
    if s.dtype() != DType::I64 {
        bail!(kernel, "{what} must be i64, got {}", s.dtype())
    }
    check_view(kernel, what, s, l)?;
    Ok(vec![s.arg(), strided(kernel, l)?])
}

/// The layout of the leading dims of `l` (its rows when the last dim is the row).
fn rows_layout(l: &Layout) -> Layout {
    let r = l.dims().len().saturating_sub(1);
    Layout::new(Shape::from(&l.dims()[..r]), l.strides()[..r].to_vec(), l.offset())
}

/// A `[.., D]` float input as rows: `[ptr, dtype code, Strided of the leading dims, last-dim
/// stride]`; element `(i, j)` is at `at(rows, i) + j * stride`.
pub fn rows_in(kernel: &'static str, what: &str, x: In) -> Result<Vec<KernelArg>> {
    let (s, l) = x;
    if l.dims().is_empty() {
        bail!(kernel, "{what} must have rank >= 1, got a scalar")
    }
    check_view(kernel, what, s, l)?;
    let col = *l.strides().last().expect("rank >= 1") as i64;
    Ok(vec![
        s.arg(),
        KernelArg::I32(dtype_code(kernel, s.dtype())?),
        strided(kernel, &rows_layout(l))?,
        KernelArg::I64(col),
    ])
}

/// An f32 table `[T, d]` as rows: `[ptr, Strided of the rows, column stride]` (RoPE's cos/sin).
pub fn f32_rows_in(kernel: &'static str, what: &str, x: In) -> Result<Vec<KernelArg>> {
    let s = x.0;
    if s.dtype() != DType::F32 {
        bail!(kernel, "{what} must be f32, got {}", s.dtype())
    }
    let mut v = rows_in(kernel, what, x)?;
    v.remove(1);
    Ok(v)
}

/// A contiguous output of `dtype` and `dims`: the address of its first element.
pub fn out_ptr(
    kernel: &'static str,
    what: &str,
    o: &Out,
    dtype: DType,
    dims: &[usize],
) -> Result<KernelArg> {
    let (s, l) = (&*o.0, o.1);
    if s.dtype() != dtype {
        bail!(kernel, "{what} must be {dtype}, got {}", s.dtype())
    }
    if l.dims() != dims {
        bail!(kernel, "{what} must have shape {dims:?}, got {:?}", l.dims())
    }
    if !l.is_contiguous() {
        bail!(kernel, "{what} must be contiguous, got strides {:?}", l.strides())
    }
    check_view(kernel, what, s, l)?;
    let offset = if l.numel() == 0 { 0 } else { l.offset() };
    Ok(KernelArg::Ptr(s.addr() + (offset * dtype.size_in_bytes()) as u64))
}

/// Scratch device memory of `n` f64 values (contents unspecified; the kernels write before
/// they read).
pub fn scratch(like: &GpuStorage, n: usize) -> Result<GpuStorage> {
    like.gpu().storage(DType::F64, n.max(1))
}

#[cfg(test)]
mod tests {
    use crate::modules::{entries, text};

    /// Every entry the fused-op launchers name is in the module they launch it from.
    #[test]
    fn the_fused_launchers_name_shipped_entries() {
        let used: &[(&str, &[&str])] = &[
            (
                "norm",
                &[
                    "rms_norm_fwd_f32",
                    "rms_norm_fwd_f64",
                    "rms_norm_bwd_dx_f32",
                    "rms_norm_bwd_dx_f64",
                    "rms_norm_bwd_dw_partial_f32",
                    "rms_norm_bwd_dw_partial_f64",
                    "rms_norm_bwd_dw_finish_f32",
                    "rms_norm_bwd_dw_finish_f64",
                ],
            ),
            ("rope", &["rope_f32", "rope_f64"]),
            ("swiglu", &["swiglu_fwd_f32", "swiglu_fwd_f64", "swiglu_bwd_f32", "swiglu_bwd_f64"]),
            (
                "loss",
                &[
                    "ce_fwd_rows_f32",
                    "ce_fwd_rows_f64",
                    "ce_fwd_finish_f32",
                    "ce_fwd_finish_f64",
                    "ce_bwd_f32",
                    "ce_bwd_f64",
                    "kl_fwd_rows_f32",
                    "kl_fwd_rows_f64",
                    "kl_bwd_f32",
                    "kl_bwd_f64",
                    "mse_partial_f32",
                    "mse_partial_f64",
                    "mean_finish_f32",
                    "mean_finish_f64",
                    "mse_bwd_f32",
                    "mse_bwd_f64",
                ],
            ),
            ("adamw", &["adamw_f32", "adamw_f64"]),
            ("sample", &["choose_greedy", "choose_sample"]),
        ];
        for (module, names) in used {
            let have = entries(text(module).unwrap());
            for n in *names {
                assert!(have.contains(n), "{module}.ptx has no entry {n} (it has {have:?})");
            }
            assert_eq!(
                have.len(),
                names.len(),
                "{module}.ptx has entries no launcher uses: {have:?}"
            );
        }
    }
}
