//! Matrix product with broadcast batch dims: for `C = A B`, `dA = dC B^T` and `dB = A^T dC`,
//! each summed over the batch dims its operand was broadcast along.
//!
//! A half-precision product (bf16 or f16 operands, the product in that dtype: autocast's
//! matmuls) takes its backward in the same precision, as PyTorch's autocast does: the
//! incoming gradient (f32 by [`crate::grad_dtype`]) is rounded to the product's dtype once,
//! so both gradient products run on the same tensor cores as the forward (f32 accumulation),
//! instead of as mixed f32 x bf16 products on the f32 path.

use super::sum_to_shape;
use crate::var::{Backward, Var};
use tensor::{Result, Tensor};

struct MatmulBackward {
    a: Tensor,
    b: Tensor,
    /// The product's dtype: the gradient products are taken in it when it is a half type.
    out: tensor::DType,
}

impl Backward for MatmulBackward {
    fn name(&self) -> &'static str {
        "matmul"
    }
    fn backward(&self, g: &[Option<Tensor>], needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let Some(g) = &g[0] else { return Ok(vec![None, None]) };
        let half = matches!(self.out, tensor::DType::BF16 | tensor::DType::F16);
        let rounded =
            if half && g.dtype() != self.out { Some(g.to_dtype(self.out)?) } else { None };
        let g = rounded.as_ref().unwrap_or(g);
        let ga = if needs[0] {
            Some(sum_to_shape(&g.matmul(&self.b.t()?)?, self.a.dims())?)
        } else {
            None
        };
        let gb = if needs[1] {
            Some(sum_to_shape(&self.a.t()?.matmul(g)?, self.b.dims())?)
        } else {
            None
        };
        Ok(vec![ga, gb])
    }
}

impl Var {
    /// NumPy-style matmul; 1-D operands are treated as a row (left) or column (right)
    /// vector through views, so they inherit the gradient rules of the 2-D product.
    pub fn matmul(&self, rhs: &Var) -> Result<Var> {
        if self.rank() == 1 {
            let out = self.unsqueeze(0)?.matmul(rhs)?;
            let r = out.rank();
            return out.squeeze(r - 2);
        }
        if rhs.rank() == 1 {
            let out = self.matmul(&rhs.unsqueeze(1)?)?;
            let r = out.rank();
            return out.squeeze(r - 1);
        }
        let y = self.value().matmul(rhs.value())?;
        Ok(Var::from_op1(
            MatmulBackward { a: self.value().clone(), b: rhs.value().clone(), out: y.dtype() },
            &[self, rhs],
            y,
        ))
    }
}
