//! (being written: index_select, gather, scatter_add, index_add)
use crate::runtime::GpuStorage;
use tensor::{bail, Layout, Result};

pub fn index_select(x: &GpuStorage, _l: &Layout, _ids: &GpuStorage, _il: &Layout, _dim: usize) -> Result<GpuStorage> {
    bail!("index_select", "no kernel yet on {}", x.gpu().backend().kind())
}
pub fn gather(x: &GpuStorage, _l: &Layout, _idx: &GpuStorage, _il: &Layout, _dim: usize) -> Result<GpuStorage> {
    bail!("gather", "no kernel yet on {}", x.gpu().backend().kind())
}
pub fn scatter_add(x: &GpuStorage, _l: &Layout, _idx: &GpuStorage, _il: &Layout, _src: &GpuStorage, _sl: &Layout, _dim: usize) -> Result<GpuStorage> {
    bail!("scatter_add", "no kernel yet on {}", x.gpu().backend().kind())
}
pub fn index_add(x: &GpuStorage, _l: &Layout, _ids: &GpuStorage, _il: &Layout, _src: &GpuStorage, _sl: &Layout, _dim: usize) -> Result<GpuStorage> {
    bail!("index_add", "no kernel yet on {}", x.gpu().backend().kind())
}
