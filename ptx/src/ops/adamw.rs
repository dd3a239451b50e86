//! The AdamW update on the device (`kernels/adamw.cu`): `adamw_f32` (f32 parameters, and
//! bf16/f16 ones through their f32 master copy) and `adamw_f64`, in place. The fused op is
//! `autograd::optim::AdamWUpdate`; its CPU body is the reference, matched bit for bit.

use super::fused_args::{dtype_code, elementwise_dims, float_in, out_ptr, In, Out};
use crate::runtime::KernelArg;
use tensor::{bail, DType, Result};

/// The hyper-parameters of one step (`bc1 = 1 - b1^t`, `bc2 = 1 - b2^t`): what
/// `autograd::optim::AdamWUpdate` holds, on the CPU and here alike.
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
pub fn step(g: In, param: Out, m: Out, v: Out, master: Option<Out>, h: Hyper) -> Result<()> {
    let dims = param.1.dims().to_vec();
    let n = param.1.numel();
    let cd = m.0.dtype();
    let kernel = match cd {
        DType::F64 => "adamw_f64",
        _ => "adamw_f32",
    };
    if g.1.dims() != dims.as_slice() {
        bail!(kernel, "gradient {:?} and parameter {:?} differ in shape", g.1.dims(), dims)
    }
    match (cd, param.0.dtype(), &master) {
        (DType::F32, DType::F32, None)
        | (DType::F64, DType::F64, None)
        | (DType::F32, DType::BF16 | DType::F16, Some(_)) => {}
        (c, p, ms) => bail!(
            kernel,
            "a {p} parameter with {c} moments {} a master copy is not an AdamW state",
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
    let mut args = float_in(kernel, "gradient", g)?;
    args.push(out_ptr(kernel, "param", &param, param.0.dtype(), &dims)?);
    if cd != DType::F64 {
        args.push(KernelArg::I32(dtype_code(kernel, param.0.dtype())?));
    }
    args.push(out_ptr(kernel, "m", &m, cd, &dims)?);
    args.push(out_ptr(kernel, "v", &v, cd, &dims)?);
    if cd != DType::F64 {
        args.push(match &master {
            Some(ms) => out_ptr(kernel, "master", ms, DType::F32, &dims)?,
            None => KernelArg::Ptr(0),
        });
    }
    args.push(KernelArg::I64(n as i64));
    args.push(KernelArg::I32((h.weight_decay != 0.0) as i32));
    args.extend(consts);
    if n == 0 {
        return Ok(());
    }
    param.0.gpu().launch("adamw", kernel, elementwise_dims(n), &args)
}
