//! The AdamW update on the device (`kernels/adamw.cu`): `adamw_f32` (f32 parameters, and
//! bf16/f16 ones through their f32 master copy) and `adamw_f64`, in place. The fused op is
//! `nn::optim::AdamWUpdate`; its CPU body is the reference, matched bit for bit.

use super::operand::{dtype_code, Operand};
use super::{elementwise_dims, f32_f64};
use crate::modules::Kernels;
use crate::runtime::KernelArg;
use tensor::{bail, DType, Result};

/// `kernels/adamw.ptx`.
pub static KERNELS: Kernels = Kernels::new("adamw", || f32_f64(&["adamw"]));

/// The hyper-parameters of one step (`bc1 = 1 - b1^t`, `bc2 = 1 - b2^t`): what
/// `nn::optim::AdamWUpdate` holds, on the CPU and here alike.
#[derive(Clone, Copy, Debug)]
pub struct Hyper {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
    pub bc1: f64,
    pub bc2: f64,
}

/// One AdamW step for a parameter of `n` elements: reads the gradient `g` (any float dtype,
/// any layout), updates in place `param`, `m`, `v` and, for a bf16/f16 parameter, its f32
/// `master` copy (all contiguous; `m`, `v`, `master` in the compute dtype).
pub fn step(
    g: Operand,
    param: Operand,
    m: Operand,
    v: Operand,
    master: Option<Operand>,
    h: Hyper,
) -> Result<()> {
    let dims = param.dims();
    let n = param.layout.numel();
    let cd = m.dtype();
    let kernel = KERNELS.entry(if cd == DType::F64 { "adamw_f64" } else { "adamw_f32" })?;
    let k = kernel.name;
    if g.dims() != dims {
        bail!("ptx", "{k}: gradient {:?} and parameter {dims:?} differ in shape", g.dims())
    }
    match (cd, param.dtype(), &master) {
        (DType::F32, DType::F32, None)
        | (DType::F64, DType::F64, None)
        | (DType::F32, DType::BF16 | DType::F16, Some(_)) => {}
        (c, p, ms) => bail!(
            "ptx",
            "{k}: a {p} parameter with {c} moments {} a master copy is not an AdamW state",
            if ms.is_some() { "and" } else { "without" }
        ),
    }
    // The constants as the CPU body forms them: in f64, rounded once to the compute dtype.
    let c = |x: f64| if cd == DType::F64 { KernelArg::F64(x) } else { KernelArg::F32(x as f32) };
    let consts = [
        c(1.0 - h.lr * h.weight_decay),
        c(h.beta1),
        c(h.beta2),
        c(1.0 - h.beta1),
        c(1.0 - h.beta2),
        c(1.0 / h.bc2.sqrt()),
        c(h.eps),
        c(h.lr / h.bc1),
    ];
    let mut args = vec![g.flat(k, "gradient")?, param.out(k, "param", dims, param.dtype())?];
    if cd != DType::F64 {
        args.push(KernelArg::I32(dtype_code(k, "param", param.dtype())?));
    }
    args.push(m.out(k, "m", dims, cd)?);
    args.push(v.out(k, "v", dims, cd)?);
    if cd != DType::F64 {
        args.push(match &master {
            Some(ms) => ms.out(k, "master", dims, DType::F32)?,
            None => KernelArg::Ptr(0),
        });
    }
    args.push(KernelArg::I64(n as i64));
    args.push(KernelArg::I32((h.weight_decay != 0.0) as i32));
    args.extend(consts);
    if n == 0 {
        return Ok(());
    }
    param.gpu().launch(kernel, elementwise_dims(n), &args)
}
