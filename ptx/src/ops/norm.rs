//! RMSNorm on the device (`kernels/norm.cu`): the forward `rms_norm_fwd_{f32,f64}`, the input
//! gradient `rms_norm_bwd_dx_{f32,f64}`, the weight gradient in two deterministic passes
//! `rms_norm_bwd_dw_partial_{f32,f64}` + `rms_norm_bwd_dw_finish_{f32,f64}`. The fused op is
//! `nn::norm` (`RmsNormForward`, `RmsNormBackward`); its CPU body is the reference.

use super::fused_args::{
    compute, elementwise_dims, float_in, out_ptr, row_dims, rows_in, scratch, In, Out,
};
use crate::runtime::{KernelArg, LaunchDims};
use tensor::{bail, DType, Result};

/// `(rows, d)` of `x [.., d]` and the checks every RMSNorm kernel makes of `w [d]`.
fn rows_d(kernel: &'static str, x: In, w: In) -> Result<(usize, usize)> {
    let dims = x.1.dims();
    let Some(&d) = dims.last() else { bail!(kernel, "x must have rank >= 1, got a scalar") };
    if w.1.dims() != [d] {
        bail!(kernel, "weight of shape {:?} does not match x of shape {dims:?}", w.1.dims())
    }
    Ok((dims[..dims.len() - 1].iter().product(), d))
}

/// `y = x r w`, `r = 1 / sqrt(mean(x^2) + eps)` per row: `x [.., d]`, `w [d]` (any float
/// dtypes, any layouts) into contiguous `y [.., d]` and `r [rows]` of the compute dtype.
pub fn forward(x: In, w: In, y: Out, r: Out, eps: f64) -> Result<()> {
    let (k32, k64) = ("rms_norm_fwd_f32", "rms_norm_fwd_f64");
    let (rows, d) = rows_d(k32, x, w)?;
    let cd = compute(k32, y.0.dtype())?;
    let (kernel, eps) = match cd {
        DType::F64 => (k64, KernelArg::F64(eps)),
        _ => (k32, KernelArg::F32(eps as f32)),
    };
    let mut args = rows_in(kernel, "x", x)?;
    args.extend(float_in(kernel, "w", w)?);
    args.push(out_ptr(kernel, "y", &y, cd, x.1.dims())?);
    args.push(out_ptr(kernel, "r", &r, cd, &[rows])?);
    args.extend([KernelArg::I64(rows as i64), KernelArg::I64(d as i64), eps]);
    if rows == 0 {
        return Ok(());
    }
    x.0.gpu().launch("norm", kernel, row_dims(rows, d), &args)
}

/// The gradients: `dx [.., d]` and/or `dw [d]` (contiguous, compute dtype) from `x`, `w`,
/// `r [rows]` and the cotangent `g` (the shape of `x`), any float dtypes and layouts.
/// `dw` is a column sum over rows: partial sums of row chunks (f64, rows in order), then the
/// chunks in order, so it repeats bit for bit.
pub fn backward(x: In, w: In, r: In, g: In, dx: Option<Out>, dw: Option<Out>) -> Result<()> {
    let kdx = "rms_norm_bwd_dx_f32";
    let (rows, d) = rows_d(kdx, x, w)?;
    if r.1.dims() != [rows] || g.1.dims() != x.1.dims() {
        bail!(kdx, "r {:?} and g {:?} do not match x {:?}", r.1.dims(), g.1.dims(), x.1.dims())
    }
    let gpu = x.0.gpu();
    if let Some(dx) = dx {
        let cd = compute(kdx, dx.0.dtype())?;
        let kernel = if cd == DType::F64 { "rms_norm_bwd_dx_f64" } else { kdx };
        let mut args = rows_in(kernel, "x", x)?;
        args.extend(float_in(kernel, "w", w)?);
        args.extend(float_in(kernel, "r", r)?);
        args.extend(rows_in(kernel, "g", g)?);
        args.push(out_ptr(kernel, "dx", &dx, cd, x.1.dims())?);
        args.extend([KernelArg::I64(rows as i64), KernelArg::I64(d as i64)]);
        if rows > 0 {
            gpu.launch("norm", kernel, row_dims(rows, d), &args)?;
        }
    }
    if let Some(dw) = dw {
        let cd = compute("rms_norm_bwd_dw_partial_f32", dw.0.dtype())?;
        let (kp, kf) = match cd {
            DType::F64 => ("rms_norm_bwd_dw_partial_f64", "rms_norm_bwd_dw_finish_f64"),
            _ => ("rms_norm_bwd_dw_partial_f32", "rms_norm_bwd_dw_finish_f32"),
        };
        // chunks of at least 64 rows, at most 1024 chunks (a function of `rows` only)
        let chunk = rows.div_ceil(1024).max(64);
        let chunks = rows.div_ceil(chunk).max(1);
        let partial = scratch(x.0, chunks * d)?;
        let mut args = rows_in(kp, "x", x)?;
        args.extend(float_in(kp, "r", r)?);
        args.extend(rows_in(kp, "g", g)?);
        args.extend([
            partial.arg(),
            KernelArg::I64(rows as i64),
            KernelArg::I64(d as i64),
            KernelArg::I64(chunk as i64),
        ]);
        let dw_ptr = out_ptr(kf, "dw", &dw, cd, &[d])?;
        if d == 0 {
            return Ok(());
        }
        let threads = 128u32;
        let dims = LaunchDims {
            grid: [d.div_ceil(threads as usize) as u32, chunks as u32, 1],
            block: [threads, 1, 1],
            shared: 0,
        };
        gpu.launch("norm", kp, dims, &args)?;
        gpu.launch(
            "norm",
            kf,
            elementwise_dims(d),
            &[partial.arg(), dw_ptr, KernelArg::I64(chunks as i64), KernelArg::I64(d as i64)],
        )?;
    }
    Ok(())
}
