//! `ptx/kernels/norm.cu`, launcher `ptx::ops::norm`, fused op `nn::norm` (RmsNormOp, through
//! `nn::norm::rms_norm`): `rms_norm_fwd_*`, `rms_norm_bwd_dx_*` and the two-pass weight
//! gradient `rms_norm_bwd_dw_partial_*` + `rms_norm_bwd_dw_finish_*`, forward and backward
//! against the same call on the CPU, on rows 1, 63, 65, D = 60, views whose strides do not
//! merge, bf16 and f64 inputs. Inputs are made on the CPU and uploaded; results are
//! downloaded whole for the comparison. Bounds: `Tol::accumulated` with the terms summed
//! (the CPU sums in order, the kernels in blocks).

use super::helpers::{float_dtype, grad_of, host, lead, view, with};
use super::{gen, Case, Check};
use autograd::Var;
use tensor::tolerance::Tol;
use tensor::{DType, Device, Result, Rng, Tensor};

/// RMSNorm (`norm.cu`): y, and dx and dw from a random cotangent.
fn rms_norm(device: &Device, rng: &mut Rng, size: usize) -> Result<Vec<Check>> {
    let rows = gen::len(rng, size, &[1, 63, 65], &[1000, 4096]);
    let d = gen::len(rng, size, &[1, 60, 64], &[60, 4096]);
    let dims = with(lead(rows, rng), d);
    let xd = float_dtype(rng);
    let cd = xd.compute();
    // a weight whose gradient dtype is the compute dtype (another needs a cast, a primitive)
    let wd = if cd == DType::F64 { cd } else { [DType::F32, DType::BF16][rng.below(2)] };
    let (x_cpu, x_dev) = view(&dims, xd, -2.0, 2.0, device, rng)?;
    let (w_cpu, w_dev) = view(&[d], wd, 0.5, 1.5, device, rng)?;
    let (g_cpu, g_dev) = view(&dims, cd, -1.0, 1.0, device, rng)?;
    let w_grad = rng.below(3) != 0;
    let eps = 1e-5;
    let run = |x: &Tensor, w: &Tensor, g: &Tensor| -> Result<(Tensor, Tensor, Option<Tensor>)> {
        let (x, w) = (
            Var::leaf(x.clone()),
            if w_grad { Var::leaf(w.clone()) } else { Var::constant(w.clone()) },
        );
        let y = nn::norm::rms_norm(&x, &w, eps)?;
        let grads = y.backward_with(g.clone())?;
        let dw = if w_grad { Some(grad_of(&grads, &w, "w")?) } else { None };
        Ok((y.value().clone(), grad_of(&grads, &x, "x")?, dw))
    };
    let (y, dx, dw) = run(&x_dev, &w_dev, &g_dev)?;
    let (y_ref, dx_ref, dw_ref) = run(&x_cpu, &w_cpu, &g_cpu)?;
    let what = format!("{xd} x {dims:?}, {} w", w_cpu.dtype());
    let mut out = vec![
        Check::new(format!("rms_norm y, {what}"), host(&y)?, y_ref, Tol::accumulated(cd, d, 1.0)),
        Check::new(
            format!("rms_norm dx, {what}"),
            host(&dx)?,
            dx_ref,
            Tol::accumulated(cd, d, 4.0),
        ),
    ];
    if let (Some(dw), Some(dw_ref)) = (dw, dw_ref) {
        out.push(Check::new(
            format!("rms_norm dw, {what}"),
            host(&dw)?,
            dw_ref,
            Tol::accumulated(cd, rows + d, 4.0),
        ));
    }
    Ok(out)
}

pub fn cases() -> Vec<Case> {
    vec![Case { family: "norm", kernel: "rms_norm fwd, bwd", run: rms_norm }]
}
