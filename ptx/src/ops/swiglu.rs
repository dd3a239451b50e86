//! SwiGLU on the device (`kernels/swiglu.cu`): `swiglu_fwd_{f32,f64}` and
//! `swiglu_bwd_{f32,f64}`. The fused op is `nn::mlp::SwiGlu`; its CPU bodies are the
//! reference.

use super::operand::{compute_out, Operand};
use super::{elementwise_dims, f32_f64};
use crate::modules::Kernels;
use crate::runtime::KernelArg;
use tensor::{bail, Result};

/// `kernels/swiglu.ptx`.
pub static KERNELS: Kernels = Kernels::new("swiglu", || f32_f64(&["swiglu_fwd", "swiglu_bwd"]));

/// `h = silu(a) * b` for `a`, `b` of one shape (any float dtypes and layouts), into a
/// contiguous `h` of the compute dtype.
pub fn forward(a: Operand, b: Operand, h: Operand) -> Result<()> {
    if a.dims() != b.dims() {
        bail!("swiglu_fwd", "a {:?} and b {:?} differ in shape", a.dims(), b.dims())
    }
    let (cd, sfx) = compute_out("swiglu_fwd", "h", h.dtype())?;
    let kernel = KERNELS.entry(&format!("swiglu_fwd_{sfx}"))?;
    let k = kernel.name;
    let n = a.layout.numel();
    let args =
        [a.flat(k, "a")?, b.flat(k, "b")?, h.out(k, "h", a.dims(), cd)?, KernelArg::I64(n as i64)];
    if n == 0 {
        return Ok(());
    }
    a.gpu().launch(kernel, elementwise_dims(n), &args)
}

/// `da = g b s (1 + a (1 - s))` and/or `db = g silu(a)` (`s = sigmoid(a)`) for `a`, `b`, `g`
/// of one shape, into contiguous outputs of the compute dtype (none asked for: nothing).
pub fn backward(
    a: Operand,
    b: Operand,
    g: Operand,
    da: Option<Operand>,
    db: Option<Operand>,
) -> Result<()> {
    if a.dims() != b.dims() || a.dims() != g.dims() {
        bail!(
            "swiglu_bwd",
            "a {:?}, b {:?} and g {:?} differ in shape",
            a.dims(),
            b.dims(),
            g.dims()
        )
    }
    let Some(o) = da.or(db) else { return Ok(()) };
    let (cd, sfx) = compute_out("swiglu_bwd", "the gradient", o.dtype())?;
    let kernel = KERNELS.entry(&format!("swiglu_bwd_{sfx}"))?;
    let k = kernel.name;
    let n = a.layout.numel();
    let mut args = vec![a.flat(k, "a")?, b.flat(k, "b")?, g.flat(k, "g")?];
    for (o, what) in [(da, "da"), (db, "db")] {
        args.push(match o {
            Some(o) => o.out(k, what, a.dims(), cd)?,
            None => KernelArg::Ptr(0),
        });
    }
    args.push(KernelArg::I64(n as i64));
    if n == 0 {
        return Ok(());
    }
    a.gpu().launch(kernel, elementwise_dims(n), &args)
}
