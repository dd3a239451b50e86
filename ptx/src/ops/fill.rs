//! Constants on the device (`kernels/fill.cu`): `fill_<dtype>` and `arange_<dtype>`.

use crate::modules::Kernels;
use crate::runtime::{GpuStorage, KernelArg, LaunchDims};
use tensor::{bail, DType, Result};

/// `kernels/fill.ptx`.
pub static KERNELS: Kernels = Kernels::new("fill", || {
    let fill = ["f32", "f64", "i64", "u8", "bf16", "f16"].map(|d| format!("fill_{d}"));
    let arange = ["f32", "f64", "i64", "bf16", "f16"].map(|d| format!("arange_{d}"));
    fill.into_iter().chain(arange).collect()
});

/// Threads per block and the most blocks a grid-stride launch uses.
const THREADS: u32 = 256;
const MAX_BLOCKS: usize = 4096;

fn dims(n: usize) -> LaunchDims {
    LaunchDims::linear(n.div_ceil(THREADS as usize).clamp(1, MAX_BLOCKS) as u32, THREADS)
}

/// Every element of `out` set to `value` (rounded to its dtype).
pub fn fill(out: &GpuStorage, value: f64) -> Result<()> {
    let n = KernelArg::I64(out.len() as i64);
    let (entry, v) = match out.dtype() {
        DType::F32 => ("fill_f32", KernelArg::F32(value as f32)),
        DType::F64 => ("fill_f64", KernelArg::F64(value)),
        DType::BF16 => ("fill_bf16", KernelArg::F32(value as f32)),
        DType::F16 => ("fill_f16", KernelArg::F32(value as f32)),
        DType::I64 => ("fill_i64", KernelArg::I64(value as i64)),
        DType::U8 => ("fill_u8", KernelArg::U32(value as u8 as u32)),
    };
    if out.is_empty() {
        return Ok(());
    }
    out.gpu().launch(KERNELS.entry(entry)?, dims(out.len()), &[out.arg(), v, n])
}

/// `out[i] = start + i`.
pub fn arange(out: &GpuStorage, start: i64) -> Result<()> {
    let entry = match out.dtype() {
        DType::F32 => "arange_f32",
        DType::F64 => "arange_f64",
        DType::BF16 => "arange_bf16",
        DType::F16 => "arange_f16",
        DType::I64 => "arange_i64",
        DType::U8 => bail!("arange", "no u8 ranges (use i64 and compare)"),
    };
    if out.is_empty() {
        return Ok(());
    }
    out.gpu().launch(
        KERNELS.entry(entry)?,
        dims(out.len()),
        &[out.arg(), KernelArg::I64(start), KernelArg::I64(out.len() as i64)],
    )
}
