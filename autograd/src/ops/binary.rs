//! Element-wise ops of two inputs with broadcasting. Each arm of
//! [`BinaryBackwardRule::backward`] is the derivative of the tensor crate's [`Binary`] op of
//! the same name (its forward lives there, once), written next to it; the match has no
//! wildcard, so a new op without a derivative does not compile. Gradients are computed at
//! the broadcast shape and summed back to each input's own shape.

use super::{mask_as, sum_to_shape};
use crate::var::{Backward, Var};
use tensor::{Result, Tensor};

/// The ops are the tensor crate's [`tensor::BinaryOp`]s.
pub use tensor::BinaryOp as Binary;

/// The backward rules of the two-operand element-wise ops.
pub trait BinaryBackwardRule {
    /// `(g * dy/da, g * dy/db)` at the broadcast shape, each only where `needs` asks.
    fn backward(
        self,
        a: &Tensor,
        b: &Tensor,
        y: &Tensor,
        g: &Tensor,
        needs: [bool; 2],
    ) -> Result<[Option<Tensor>; 2]>;
}

impl BinaryBackwardRule for Binary {
    fn backward(
        self,
        a: &Tensor,
        b: &Tensor,
        y: &Tensor,
        g: &Tensor,
        needs: [bool; 2],
    ) -> Result<[Option<Tensor>; 2]> {
        let [na, nb] = needs;
        let when = |need: bool, f: &dyn Fn() -> Result<Tensor>| {
            if need {
                f().map(Some)
            } else {
                Ok(None)
            }
        };
        Ok(match self {
            // d/da (a + b) = 1, d/db = 1
            Binary::Add => [when(na, &|| Ok(g.clone()))?, when(nb, &|| Ok(g.clone()))?],
            // d/da (a - b) = 1, d/db = -1
            Binary::Sub => [when(na, &|| Ok(g.clone()))?, when(nb, &|| g.neg())?],
            // d/da ab = b, d/db = a
            Binary::Mul => [when(na, &|| g.mul(b))?, when(nb, &|| g.mul(a))?],
            // d/da a/b = 1/b, d/db = -a/b^2 = -y/b
            Binary::Div => {
                let ga = g.div(b)?;
                [na.then(|| ga.clone()), when(nb, &|| ga.mul(y)?.neg())?]
            }
            // d/da max(a, b) = [a > b] + 1/2 [a = b] (ties split, as in PyTorch)
            Binary::Max | Binary::Min => {
                let wins = if self == Binary::Max { a.gt(b)? } else { a.lt(b)? };
                let ties = mask_as(&a.eq(b)?, g.dtype())?.scale(0.5)?;
                let wa = mask_as(&wins, g.dtype())?.add(&ties)?;
                [when(na, &|| g.mul(&wa))?, when(nb, &|| g.mul(&wa.affine(-1.0, 1.0)?))?]
            }
            // d/da a^b = b a^(b-1), d/db = a^b ln a = y ln a
            Binary::Pow => [
                when(na, &|| g.mul(&b.mul(&a.pow(&b.add_scalar(-1.0)?)?)?))?,
                when(nb, &|| g.mul(&y.mul(&a.log()?)?))?,
            ],
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
        self.op.name()
    }
    fn backward(&self, g: &[Option<Tensor>], needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let Some(g) = &g[0] else { return Ok(vec![None, None]) };
        let [ga, gb] = self.op.backward(&self.a, &self.b, &self.y, g, [needs[0], needs[1]])?;
        let ga = ga.map(|ga| sum_to_shape(&ga, self.a.dims())).transpose()?;
        let gb = gb.map(|gb| sum_to_shape(&gb, self.b.dims())).transpose()?;
        Ok(vec![ga, gb])
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
    maximum => Binary::Max;
    minimum => Binary::Min;
    pow => Binary::Pow;
}

impl Var {
    pub fn binary(&self, rhs: &Var, op: Binary) -> Result<Var> {
        let y = self.value().binary(rhs.value(), op)?;
        let back =
            BinaryBackward { op, a: self.value().clone(), b: rhs.value().clone(), y: y.clone() };
        Ok(Var::from_op1(back, &[self, rhs], y))
    }
}
