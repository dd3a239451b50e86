//! Rotary position embeddings on the device (`kernels/rope.cu`): `rope_{f32,f64}`, forward
//! and (sign -1) inverse. The fused op is `nn::rope::RopeOp`; its CPU body is the reference.

use super::fused_args::{compute, elementwise_dims, f32_rows_in, out_ptr, rows_in, In, Out};
use crate::runtime::KernelArg;
use tensor::{bail, DType, Result};

/// `y = x cos + R(x) sin` (or with `-sin` when `inverse`) for `x [B, T, H, d]` (any float
/// dtype and layout) and f32 tables `cos, sin [T, d]` (any layouts), into contiguous
/// `y [B, T, H, d]` of the compute dtype.
pub fn rope(x: In, cos: In, sin: In, y: Out, inverse: bool) -> Result<()> {
    let k32 = "rope_f32";
    let dims = x.1.dims();
    let &[b, t, h, d] = dims else { bail!(k32, "x must be [B, T, H, d], got {dims:?}") };
    if d % 2 != 0 {
        bail!(k32, "the head dim {d} is odd")
    }
    if cos.1.dims() != [t, d] || sin.1.dims() != [t, d] {
        bail!(k32, "tables cos {:?} and sin {:?} must be [{t}, {d}]", cos.1.dims(), sin.1.dims())
    }
    let cd = compute(k32, y.0.dtype())?;
    let sign = if inverse { -1.0 } else { 1.0 };
    let (kernel, sign) = match cd {
        DType::F64 => ("rope_f64", KernelArg::F64(sign)),
        _ => (k32, KernelArg::F32(sign as f32)),
    };
    let rows = b * t * h;
    let mut args = rows_in(kernel, "x", x)?;
    args.extend(f32_rows_in(kernel, "cos", cos)?);
    args.extend(f32_rows_in(kernel, "sin", sin)?);
    args.push(out_ptr(kernel, "y", &y, cd, dims)?);
    args.extend([rows, t, h, d].map(|v| KernelArg::I64(v as i64)));
    args.push(sign);
    if rows * d == 0 {
        return Ok(());
    }
    x.0.gpu().launch("rope", kernel, elementwise_dims(rows * d / 2), &args)
}
