//! Matrix product with broadcast batch dims: for `C = A B`, `dA = dC B^T` and `dB = A^T dC`,
//! each summed over the batch dims its operand was broadcast along.

use super::sum_to_shape;
use crate::var::{Backward, Var};
use tensor::{Result, Tensor};

struct MatmulBackward {
    a: Tensor,
    b: Tensor,
}

impl Backward for MatmulBackward {
    fn name(&self) -> &'static str {
        "matmul"
    }
    fn backward(&self, g: &[Option<Tensor>], needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let Some(g) = &g[0] else { return Ok(vec![None, None]) };
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
            MatmulBackward { a: self.value().clone(), b: rhs.value().clone() },
            &[self, rhs],
            y,
        ))
    }
}
