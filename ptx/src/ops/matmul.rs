//! (being written: batched strided matmul)
use crate::runtime::GpuStorage;
use tensor::{bail, Layout, Result};

pub fn matmul(a: &GpuStorage, _al: &Layout, _b: &GpuStorage, _bl: &Layout) -> Result<GpuStorage> {
    bail!("matmul", "no kernel yet on {}", a.gpu().backend().kind())
}
