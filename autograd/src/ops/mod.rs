//! The differentiable ops, one family per file, each forward beside its backward rule.

pub mod binary;
pub mod index;
pub mod matmul;
pub mod reduce;
pub mod unary;
pub mod view;

use tensor::{Result, Tensor};

/// Sums a gradient of a broadcast result back to the shape the input had: over the leading
/// dims broadcasting added, and over dims where the input had size 1.
pub fn sum_to_shape(g: &Tensor, dims: &[usize]) -> Result<Tensor> {
    if g.dims() == dims {
        return Ok(g.clone());
    }
    let lead = g.rank() - dims.len();
    let mut out = g.clone();
    for _ in 0..lead {
        out = out.sum(0, false)?;
    }
    for (d, &size) in dims.iter().enumerate() {
        if size == 1 && out.dims()[d] != 1 {
            out = out.sum(d, true)?;
        }
    }
    Ok(out)
}

/// A float mask (1 where `m` is non-zero) in `dtype`.
pub(crate) fn mask_as(m: &Tensor, dtype: tensor::DType) -> Result<Tensor> {
    m.to_dtype(dtype)
}
