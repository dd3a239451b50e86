//! Operands of the fused kernels (attention, conv1d, GLA; `ptx/kernels/operand.cuh`): a
//! strided view of up to 4 dims as `struct View4 { i64 off; i64 st[4]; }` (dims not
//! coalesced: each kernel indexes its operand's dims by name), the dtype code a kernel
//! converts on load, and the checks every launcher makes before it builds them.

use crate::runtime::{GpuStorage, KernelArg};
use tensor::{bail, DType, Layout, Result};

/// A device operand: storage and the layout it is seen through.
pub type Operand<'a> = (&'a GpuStorage, &'a Layout);

/// The dtype code of `operand.cuh` (`DT_F32` ...) for a float dtype; an error naming the
/// kernel for ids and bytes.
pub fn dtype_code(kernel: &str, what: &str, dtype: DType) -> Result<i32> {
    Ok(match dtype {
        DType::F32 => 0,
        DType::F64 => 1,
        DType::BF16 => 2,
        DType::F16 => 3,
        DType::I64 | DType::U8 => {
            bail!("ptx", "{kernel}: {what} is {dtype}, the kernel reads floats")
        }
    })
}

/// The `View4` bytes of `layout` (rank <= 4; strides in elements, missing dims stride 0), after
/// checking that every element it reaches lies inside `len` elements of storage.
pub fn view4(kernel: &str, what: &str, layout: &Layout, len: usize) -> Result<KernelArg> {
    Ok(KernelArg::Bytes(view_bytes(kernel, what, layout, len)?))
}

fn view_bytes(kernel: &str, what: &str, layout: &Layout, len: usize) -> Result<Vec<u8>> {
    let (dims, strides) = (layout.dims(), layout.strides());
    if dims.len() > 4 {
        bail!("ptx", "{kernel}: {what} has {} dims, the kernel takes at most 4", dims.len())
    }
    if layout.storage_extent() > len {
        bail!("ptx", "{kernel}: {what} view {dims:?} (strides {strides:?}, offset {}) reaches element {} of a buffer of {len}", layout.offset(), layout.storage_extent() - 1)
    }
    let mut b = Vec::with_capacity(40);
    b.extend((layout.offset() as i64).to_le_bytes());
    for i in 0..4 {
        b.extend((*strides.get(i).unwrap_or(&0) as i64).to_le_bytes());
    }
    Ok(b)
}

/// An input operand's pointer, dtype code and view, after checking its shape is `dims`.
pub fn input(kernel: &str, what: &str, x: Operand, dims: &[usize]) -> Result<[KernelArg; 3]> {
    if x.1.dims() != dims {
        bail!("ptx", "{kernel}: {what} has shape {:?}, expected {dims:?}", x.1.dims())
    }
    Ok([
        x.0.arg(),
        KernelArg::I32(dtype_code(kernel, what, x.0.dtype())?),
        view4(kernel, what, x.1, x.0.len())?,
    ])
}

/// A fresh output: shape `dims`, contiguous, of dtype `dtype`; its address (with the layout's
/// offset) as the kernel's pointer.
pub fn output(
    kernel: &str,
    what: &str,
    y: Operand,
    dims: &[usize],
    dtype: DType,
) -> Result<KernelArg> {
    if y.1.dims() != dims {
        bail!("ptx", "{kernel}: {what} has shape {:?}, expected {dims:?}", y.1.dims())
    }
    if y.0.dtype() != dtype {
        bail!("ptx", "{kernel}: {what} is {}, the kernel writes {dtype}", y.0.dtype())
    }
    if !y.1.is_contiguous() || y.1.offset() + y.1.numel() > y.0.len() {
        bail!(
            "ptx",
            "{kernel}: {what} must be a contiguous buffer of {dims:?} (layout {:?}, {} elements)",
            y.1,
            y.0.len()
        )
    }
    Ok(KernelArg::Ptr(y.0.addr() + (y.1.offset() * dtype.size_in_bytes()) as u64))
}

/// An in-place operand (read and written through its view): shape `dims`, dtype `dtype`, no
/// two elements at one address (a broadcast view would be written twice).
pub fn inplace(
    kernel: &str,
    what: &str,
    y: Operand,
    dims: &[usize],
    dtype: DType,
) -> Result<[KernelArg; 2]> {
    if y.1.dims() != dims {
        bail!("ptx", "{kernel}: {what} has shape {:?}, expected {dims:?}", y.1.dims())
    }
    if y.0.dtype() != dtype {
        bail!("ptx", "{kernel}: {what} is {}, the kernel computes in {dtype}", y.0.dtype())
    }
    if y.1.dims().iter().zip(y.1.strides()).any(|(&d, &s)| d > 1 && s == 0) {
        bail!("ptx", "{kernel}: {what} is a broadcast view, which cannot be written in place")
    }
    Ok([y.0.arg(), view4(kernel, what, y.1, y.0.len())?])
}

/// The compute dtype of a kernel family for `dtype`, and the entry suffix: f64 computes in
/// f64, every other float in f32.
pub fn compute(dtype: DType) -> (DType, &'static str) {
    match dtype {
        DType::F64 => (DType::F64, "f64"),
        _ => (DType::F32, "f32"),
    }
}

/// `n` as an i64 kernel argument.
pub fn i64_arg(n: usize) -> KernelArg {
    KernelArg::I64(n as i64)
}

/// The bytes of `struct In4` (`operand.cuh`): pointer, dtype code, view — one by-value
/// parameter per input, after checking its shape is `dims`.
pub fn in4(kernel: &str, what: &str, x: Operand, dims: &[usize]) -> Result<KernelArg> {
    if x.1.dims() != dims {
        bail!("ptx", "{kernel}: {what} has shape {:?}, expected {dims:?}", x.1.dims())
    }
    let code = dtype_code(kernel, what, x.0.dtype())?;
    let view = view_bytes(kernel, what, x.1, x.0.len())?;
    let mut b = Vec::with_capacity(56);
    b.extend(x.0.addr().to_le_bytes());
    b.extend(code.to_le_bytes());
    b.extend(0i32.to_le_bytes());
    b.extend(view);
    Ok(KernelArg::Bytes(b))
}
