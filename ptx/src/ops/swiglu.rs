//! SwiGLU on the device (`kernels/swiglu.cu`): `swiglu_fwd_{f32,f64}` and
//! `swiglu_bwd_{f32,f64}`. The fused ops are `nn::mlp::{SwiGlu, SwiGluBackward}`; their CPU
//! bodies are the reference.

use super::fused_args::{compute, elementwise_dims, float_in, out_ptr, In, Out};
use crate::runtime::KernelArg;
use tensor::{bail, DType, Result};

/// `h = silu(a) * b` for `a`, `b` of one shape (any float dtypes and layouts), into a
/// contiguous `h` of the compute dtype.
pub fn forward(a: In, b: In, h: Out) -> Result<()> {
    let k32 = "swiglu_fwd_f32";
    if a.1.dims() != b.1.dims() {
        bail!(k32, "a {:?} and b {:?} differ in shape", a.1.dims(), b.1.dims())
    }
    let cd = compute(k32, h.0.dtype())?;
    let kernel = if cd == DType::F64 { "swiglu_fwd_f64" } else { k32 };
    let n = a.1.numel();
    let mut args = float_in(kernel, "a", a)?;
    args.extend(float_in(kernel, "b", b)?);
    args.push(out_ptr(kernel, "h", &h, cd, a.1.dims())?);
    args.push(KernelArg::I64(n as i64));
    if n == 0 {
        return Ok(());
    }
    a.0.gpu().launch("swiglu", kernel, elementwise_dims(n), &args)
}

/// `da = g b s (1 + a (1 - s))` and/or `db = g silu(a)` (`s = sigmoid(a)`) for `a`, `b`, `g`
/// of one shape, into contiguous outputs of the compute dtype (at least one asked for).
pub fn backward(a: In, b: In, g: In, da: Option<Out>, db: Option<Out>) -> Result<()> {
    let k32 = "swiglu_bwd_f32";
    if a.1.dims() != b.1.dims() || a.1.dims() != g.1.dims() {
        bail!(k32, "a {:?}, b {:?} and g {:?} differ in shape", a.1.dims(), b.1.dims(), g.1.dims())
    }
    let Some(cd) = da.as_ref().or(db.as_ref()).map(|o| o.0.dtype()) else { return Ok(()) };
    let cd = compute(k32, cd)?;
    let kernel = if cd == DType::F64 { "swiglu_bwd_f64" } else { k32 };
    let n = a.1.numel();
    let mut args = float_in(kernel, "a", a)?;
    args.extend(float_in(kernel, "b", b)?);
    args.extend(float_in(kernel, "g", g)?);
    for (o, what) in [(&da, "da"), (&db, "db")] {
        args.push(match o {
            Some(o) => out_ptr(kernel, what, o, cd, a.1.dims())?,
            None => KernelArg::Ptr(0),
        });
    }
    args.push(KernelArg::I64(n as i64));
    if n == 0 {
        return Ok(());
    }
    a.0.gpu().launch("swiglu", kernel, elementwise_dims(n), &args)
}
