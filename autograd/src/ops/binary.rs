//! Element-wise ops of two inputs with broadcasting. Gradients are computed at the
//! broadcast shape and summed back to each input's own shape.

use super::{mask_as, sum_to_shape};
use crate::var::{Backward, Var};
use tensor::{Result, Tensor};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Binary {
    Add,
    Sub,
    Mul,
    Div,
    Maximum,
    Minimum,
    Pow,
}

impl Binary {
    pub fn forward(self, a: &Tensor, b: &Tensor) -> Result<Tensor> {
        match self {
            Binary::Add => a.add(b),
            Binary::Sub => a.sub(b),
            Binary::Mul => a.mul(b),
            Binary::Div => a.div(b),
            Binary::Maximum => a.maximum(b),
            Binary::Minimum => a.minimum(b),
            Binary::Pow => a.pow(b),
        }
    }

    /// `(g * dy/da, g * dy/db)` at the broadcast shape.
    pub fn backward(self, a: &Tensor, b: &Tensor, y: &Tensor, g: &Tensor) -> Result<(Tensor, Tensor)> {
        Ok(match self {
            // d/da (a + b) = 1, d/db = 1
            Binary::Add => (g.clone(), g.clone()),
            // d/da (a - b) = 1, d/db = -1
            Binary::Sub => (g.clone(), g.neg()?),
            // d/da ab = b, d/db = a
            Binary::Mul => (g.mul(b)?, g.mul(a)?),
            // d/da a/b = 1/b, d/db = -a/b^2 = -y/b
            Binary::Div => {
                let ga = g.div(b)?;
                (ga.clone(), ga.mul(y)?.neg()?)
            }
            // d/da max(a, b) = [a > b] + 1/2 [a = b] (ties split, as in PyTorch)
            Binary::Maximum | Binary::Minimum => {
                let wins = if self == Binary::Maximum { a.gt(b)? } else { a.lt(b)? };
                let ties = mask_as(&a.eq(b)?, g.dtype())?.scale(0.5)?;
                let wa = mask_as(&wins, g.dtype())?.add(&ties)?;
                let wb = wa.affine(-1.0, 1.0)?;
                (g.mul(&wa)?, g.mul(&wb)?)
            }
            // d/da a^b = b a^(b-1), d/db = a^b ln a = y ln a
            Binary::Pow => {
                let ga = g.mul(&b.mul(&a.pow(&b.add_scalar(-1.0)?)?)?)?;
                let gb = g.mul(&y.mul(&a.log()?)?)?;
                (ga, gb)
            }
        })
    }
}

struct BinaryBackward {
    op: Binary,
    a: Tensor,
    b: Tensor,
    y: Tensor,
}

impl Backward for BinaryBackward {
    fn name(&self) -> &'static str {
        "binary"
    }
    fn backward(&self, g: &[Option<Tensor>]) -> Result<Vec<Option<Tensor>>> {
        let Some(g) = &g[0] else { return Ok(vec![None, None]) };
        let (ga, gb) = self.op.backward(&self.a, &self.b, &self.y, g)?;
        Ok(vec![Some(sum_to_shape(&ga, self.a.dims())?), Some(sum_to_shape(&gb, self.b.dims())?)])
    }
}

macro_rules! binary_methods {
    ($($name:ident => $op:expr;)*) => {
        impl Var {
            $(pub fn $name(&self, rhs: &Var) -> Result<Var> { self.binary(rhs, $op) })*
        }
    };
}
binary_methods! {
    add => Binary::Add;
    sub => Binary::Sub;
    mul => Binary::Mul;
    div => Binary::Div;
    maximum => Binary::Maximum;
    minimum => Binary::Minimum;
    pow => Binary::Pow;
}

impl Var {
    pub fn binary(&self, rhs: &Var, op: Binary) -> Result<Var> {
        let y = op.forward(self.value(), rhs.value())?;
        let back = BinaryBackward { op, a: self.value().clone(), b: rhs.value().clone(), y: y.clone() };
        Ok(Var::from_op1(back, &[self, rhs], y))
    }
}
