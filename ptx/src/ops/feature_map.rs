//! The Hedgehog feature map's nonlinearity on the device (`kernels/feature_map.cu`):
//! `hedgehog_fwd_{f32,f64}` (`[softmax(z), softmax(-z)]` per row) and `hedgehog_bwd_{f32,f64}`.
//! The fused op is `lawcat::ops::feature_map::HedgehogOp`; its CPU bodies are the reference.

use super::operand::{compute_out, Operand};
use super::{f32_f64, row_dims};
use crate::modules::Kernels;
use crate::runtime::KernelArg;
use tensor::{bail, Result};

/// `kernels/feature_map.ptx`.
pub static KERNELS: Kernels =
    Kernels::new("feature_map", || f32_f64(&["hedgehog_fwd", "hedgehog_bwd"]));

/// `(rows, f)` of `z [.., f]`.
fn rows_f(z: Operand) -> Result<(usize, usize)> {
    let dims = z.dims();
    let Some(&f) = dims.last() else { bail!("hedgehog", "z must have rank >= 1, got a scalar") };
    Ok((dims[..dims.len() - 1].iter().product(), f))
}

/// The shape of `[softmax(z), softmax(-z)]` (and of its cotangent) for `z` of shape `dims`:
/// the last dim doubled.
pub fn output_dims(dims: &[usize]) -> Result<Vec<usize>> {
    let Some((&f, lead)) = dims.split_last() else {
        bail!("hedgehog", "z must have rank >= 1, got a scalar")
    };
    Ok(lead.iter().copied().chain([2 * f]).collect())
}

/// `y [.., 2f] = [softmax(z), softmax(-z)]` along the last dim of `z [.., f]` (any float dtype
/// and layout), into a contiguous `y` of the compute dtype.
pub fn forward(z: Operand, y: Operand) -> Result<()> {
    let (rows, f) = rows_f(z)?;
    let (cd, sfx) = compute_out("hedgehog_fwd", "y", y.dtype())?;
    let kernel = KERNELS.entry(&format!("hedgehog_fwd_{sfx}"))?;
    let k = kernel.name;
    let args = [
        z.rows(k, "z")?,
        y.out(k, "y", &output_dims(z.dims())?, cd)?,
        KernelArg::I64(rows as i64),
        KernelArg::I64(f as i64),
    ];
    if rows * f == 0 {
        return Ok(());
    }
    z.gpu().launch(kernel, row_dims(rows, f), &args)
}

/// `dz [.., f]` (contiguous, compute dtype) from `z [.., f]` and the cotangent `g [.., 2f]`
/// of the forward's output (any float dtypes and layouts).
pub fn backward(z: Operand, g: Operand, dz: Operand) -> Result<()> {
    let (rows, f) = rows_f(z)?;
    let gdims = output_dims(z.dims())?;
    if g.dims() != gdims {
        bail!("hedgehog_bwd", "g {:?} does not match z {:?} (needs {gdims:?})", g.dims(), z.dims())
    }
    let (cd, sfx) = compute_out("hedgehog_bwd", "dz", dz.dtype())?;
    let kernel = KERNELS.entry(&format!("hedgehog_bwd_{sfx}"))?;
    let k = kernel.name;
    let args = [
        z.rows(k, "z")?,
        g.rows(k, "g")?,
        dz.out(k, "dz", z.dims(), cd)?,
        KernelArg::I64(rows as i64),
        KernelArg::I64(f as i64),
    ];
    if rows * f == 0 {
        return Ok(());
    }
    z.gpu().launch(kernel, row_dims(rows, f), &args)
}
