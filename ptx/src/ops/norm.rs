//! RMSNorm on the device (`kernels/norm.cu`): the forward `rms_norm_fwd_{f32,f64}`, the input
//! gradient `rms_norm_bwd_dx_{f32,f64}`, the weight gradient in two deterministic passes
//! `rms_norm_bwd_dw_partial_{f32,f64}` + `rms_norm_bwd_dw_finish_{f32,f64}`. The fused op is
//! `nn::norm::RmsNormOp`; its CPU bodies are the reference.

use super::operand::{compute_out, Operand};
use super::{elementwise_dims, f32_f64, row_dims, scratch};
use crate::modules::Kernels;
use crate::runtime::{KernelArg, LaunchDims};
use tensor::{bail, DType, Result};

/// `kernels/norm.ptx`.
pub static KERNELS: Kernels = Kernels::new("norm", || {
    f32_f64(&[
        "rms_norm_fwd",
        "rms_norm_bwd_dx",
        "rms_norm_bwd_dw_partial",
        "rms_norm_bwd_dw_finish",
    ])
});

/// `(rows, d)` of `x [.., d]` and the checks every RMSNorm kernel makes of `w [d]`.
fn rows_d(x: Operand, w: Operand) -> Result<(usize, usize)> {
    let dims = x.dims();
    let Some(&d) = dims.last() else { bail!("rms_norm", "x must have rank >= 1, got a scalar") };
    if w.dims() != [d] {
        bail!("rms_norm", "weight of shape {:?} does not match x of shape {dims:?}", w.dims())
    }
    Ok((dims[..dims.len() - 1].iter().product(), d))
}

/// `y = x r w`, `r = 1 / sqrt(mean(x^2) + eps)` per row: `x [.., d]`, `w [d]` (any float
/// dtypes, any layouts) into contiguous `y [.., d]` and `r [rows]` of the compute dtype.
pub fn forward(x: Operand, w: Operand, y: Operand, r: Operand, eps: f64) -> Result<()> {
    let (rows, d) = rows_d(x, w)?;
    let (cd, sfx) = compute_out("rms_norm_fwd", "y", y.dtype())?;
    let kernel = KERNELS.entry(&format!("rms_norm_fwd_{sfx}"))?;
    let k = kernel.name;
    let eps = if cd == DType::F64 { KernelArg::F64(eps) } else { KernelArg::F32(eps as f32) };
    let args = [
        x.rows(k, "x")?,
        w.flat(k, "w")?,
        y.out(k, "y", x.dims(), cd)?,
        r.out(k, "r", &[rows], cd)?,
        KernelArg::I64(rows as i64),
        KernelArg::I64(d as i64),
        eps,
    ];
    if rows == 0 {
        return Ok(());
    }
    x.gpu().launch(kernel, row_dims(rows, d), &args)
}

/// The gradients: `dx [.., d]` and/or `dw [d]` (contiguous, compute dtype) from `x`, `w`,
/// `r [rows]` and the cotangent `g` (the shape of `x`), any float dtypes and layouts.
/// `dw` is a column sum over rows: partial sums of row chunks (f64, rows in order), then the
/// chunks in order, so it repeats bit for bit.
pub fn backward(
    x: Operand,
    w: Operand,
    r: Operand,
    g: Operand,
    dx: Option<Operand>,
    dw: Option<Operand>,
) -> Result<()> {
    let (rows, d) = rows_d(x, w)?;
    if r.dims() != [rows] || g.dims() != x.dims() {
        bail!("rms_norm_bwd", "r {:?} and g {:?} do not match x {:?}", r.dims(), g.dims(), x.dims())
    }
    let gpu = x.gpu();
    if let Some(dx) = dx {
        let (cd, sfx) = compute_out("rms_norm_bwd_dx", "dx", dx.dtype())?;
        let kernel = KERNELS.entry(&format!("rms_norm_bwd_dx_{sfx}"))?;
        let k = kernel.name;
        let args = [
            x.rows(k, "x")?,
            w.flat(k, "w")?,
            r.flat(k, "r")?,
            g.rows(k, "g")?,
            dx.out(k, "dx", x.dims(), cd)?,
            KernelArg::I64(rows as i64),
            KernelArg::I64(d as i64),
        ];
        if rows > 0 {
            gpu.launch(kernel, row_dims(rows, d), &args)?;
        }
    }
    if let Some(dw) = dw {
        let (cd, sfx) = compute_out("rms_norm_bwd_dw", "dw", dw.dtype())?;
        let kp = KERNELS.entry(&format!("rms_norm_bwd_dw_partial_{sfx}"))?;
        let kf = KERNELS.entry(&format!("rms_norm_bwd_dw_finish_{sfx}"))?;
        // chunks of at least 64 rows, at most 1024 chunks (a function of `rows` only)
        let chunk = rows.div_ceil(1024).max(64);
        let chunks = rows.div_ceil(chunk).max(1);
        let partial = scratch(x.storage, chunks * d)?;
        let args = [
            x.rows(kp.name, "x")?,
            r.flat(kp.name, "r")?,
            g.rows(kp.name, "g")?,
            partial.arg(),
            KernelArg::I64(rows as i64),
            KernelArg::I64(d as i64),
            KernelArg::I64(chunk as i64),
        ];
        let dw_ptr = dw.out(kf.name, "dw", &[d], cd)?;
        if d == 0 {
            return Ok(());
        }
        let threads = 128u32;
        let dims = LaunchDims {
            grid: [d.div_ceil(threads as usize) as u32, chunks as u32, 1],
            block: [threads, 1, 1],
            shared: 0,
        };
        gpu.launch(kp, dims, &args)?;
        gpu.launch(
            kf,
            elementwise_dims(d),
            &[partial.arg(), dw_ptr, KernelArg::I64(chunks as i64), KernelArg::I64(d as i64)],
        )?;
    }
    Ok(())
}
