//! (being written: contiguous copies, casts, concat, copy_into)
use crate::runtime::GpuStorage;
use tensor::{bail, DType, Layout, Result};

pub fn contiguous(x: &GpuStorage, _l: &Layout) -> Result<GpuStorage> {
    bail!("contiguous", "no kernel yet on {}", x.gpu().backend().kind())
}
pub fn cast(x: &GpuStorage, _l: &Layout, _dtype: DType) -> Result<GpuStorage> {
    bail!("cast", "no kernel yet on {}", x.gpu().backend().kind())
}
pub fn concat(parts: &[(&GpuStorage, &Layout)], _dim: usize) -> Result<GpuStorage> {
    bail!("concat", "no kernel yet on {}", parts[0].0.gpu().backend().kind())
}
pub fn copy_into(dst: &mut GpuStorage, _dl: &Layout, _src: &GpuStorage, _sl: &Layout) -> Result<()> {
    bail!("copy_into", "no kernel yet on {}", dst.gpu().backend().kind())
}
