//! Rotary position embeddings on the device (`kernels/rope.cu`): `rope_{f32,f64}`, forward
//! and (sign -1) inverse. The fused op is `nn::rope::RopeOp`; its CPU body is the reference.

use super::operand::{compute_out, Operand};
use super::{elementwise_dims, f32_f64};
use crate::modules::Kernels;
use crate::runtime::KernelArg;
use tensor::{bail, DType, Result};

/// `kernels/rope.ptx`.
pub static KERNELS: Kernels = Kernels::new("rope", || f32_f64(&["rope"]));

/// `y = x cos + R(x) sin` (or with `-sin` when `inverse`) for `x [B, T, H, d]` (any float
/// dtype and layout) and f32 tables `cos, sin [T, d]` (any layouts), into contiguous
/// `y [B, T, H, d]` of the compute dtype.
pub fn rope(x: Operand, cos: Operand, sin: Operand, y: Operand, inverse: bool) -> Result<()> {
    let dims = x.dims();
    let &[b, t, h, d] = dims else { bail!("rope", "x must be [B, T, H, d], got {dims:?}") };
    if d % 2 != 0 {
        bail!("rope", "the head dim {d} is odd")
    }
    if cos.dims() != [t, d] || sin.dims() != [t, d] {
        bail!("rope", "tables cos {:?} and sin {:?} must be [{t}, {d}]", cos.dims(), sin.dims())
    }
    if cos.dtype() != DType::F32 || sin.dtype() != DType::F32 {
        bail!("rope", "tables cos {} and sin {} must be f32", cos.dtype(), sin.dtype())
    }
    let (cd, sfx) = compute_out("rope", "y", y.dtype())?;
    let kernel = KERNELS.entry(&format!("rope_{sfx}"))?;
    let k = kernel.name;
    let sign = if inverse { -1.0 } else { 1.0 };
    let sign = if cd == DType::F64 { KernelArg::F64(sign) } else { KernelArg::F32(sign as f32) };
    let rows = b * t * h;
    let mut args = vec![x.rows(k, "x")?, cos.rows(k, "cos")?, sin.rows(k, "sin")?];
    args.push(y.out(k, "y", dims, cd)?);
    args.extend([rows, t, h, d].map(|v| KernelArg::I64(v as i64)));
    args.push(sign);
    if rows * d == 0 {
        return Ok(());
    }
    x.gpu().launch(kernel, elementwise_dims(rows * d / 2), &args)
}
