//! (being written: unary, binary, cmp, where)
use crate::runtime::GpuStorage;
use tensor::{bail, BinaryOp, CmpOp, Layout, Result, UnaryOp};

pub fn unary(x: &GpuStorage, _l: &Layout, _op: UnaryOp) -> Result<GpuStorage> {
    bail!("unary", "no kernel yet on {}", x.gpu().backend().kind())
}
pub fn binary(x: &GpuStorage, _l: &Layout, _y: &GpuStorage, _yl: &Layout, _op: BinaryOp) -> Result<GpuStorage> {
    bail!("binary", "no kernel yet on {}", x.gpu().backend().kind())
}
pub fn cmp(x: &GpuStorage, _l: &Layout, _y: &GpuStorage, _yl: &Layout, _op: CmpOp) -> Result<GpuStorage> {
    bail!("cmp", "no kernel yet on {}", x.gpu().backend().kind())
}
pub fn where_cond(c: &GpuStorage, _l: &Layout, _t: &GpuStorage, _tl: &Layout, _f: &GpuStorage, _fl: &Layout) -> Result<GpuStorage> {
    bail!("where", "no kernel yet on {}", c.gpu().backend().kind())
}
