//! Element-wise ops of one input. Each arm of [`UnaryBackwardRule::backward`] is the
//! derivative of the op of the same name (`tensor::UnaryOp`), written next to it as `d/dx`;
//! the match has no wildcard, so a new op without a derivative does not compile.

use super::mask_as;
use crate::var::{Backward, Var};
use tensor::{Result, Tensor};

/// The ops are the tensor crate's [`UnaryOp`]s (their forward lives there, once); this
/// file adds each one's derivative.
pub use tensor::UnaryOp as Unary;

/// The backward rules of the element-wise ops.
pub trait UnaryBackwardRule {
    /// `g * dy/dx`, from the input `x` and the output `y`.
    fn backward(self, x: &Tensor, y: &Tensor, g: &Tensor) -> Result<Tensor>;
}

impl UnaryBackwardRule for Unary {
    fn backward(self, x: &Tensor, y: &Tensor, g: &Tensor) -> Result<Tensor> {
        let zero = || Tensor::zeros((), x.dtype(), &x.device());
        match self {
            // d/dx -x = -1
            Unary::Neg => g.neg(),
            // d/dx e^x = e^x = y
            Unary::Exp => g.mul(y),
            // d/dx ln x = 1/x
            Unary::Log => g.div(x),
            // d/dx sqrt x = 1 / (2 sqrt x) = 0.5 / y
            Unary::Sqrt => g.div(y)?.scale(0.5),
            // d/dx x^-1/2 = -1/2 x^-3/2 = -0.5 y^3
            Unary::Rsqrt => g.mul(&y.powf(3.0)?)?.scale(-0.5),
            // d/dx 1/x = -1/x^2 = -y^2
            Unary::Recip => g.mul(&y.sqr()?)?.neg(),
            // d/dx x^2 = 2x
            Unary::Sqr => g.mul(x)?.scale(2.0),
            // d/dx |x| = sign(x) (0 at 0)
            Unary::Abs => {
                let sign = mask_as(&x.gt(&zero()?)?, x.dtype())?
                    .sub(&mask_as(&x.lt(&zero()?)?, x.dtype())?)?;
                g.mul(&sign)
            }
            // d/dx max(x, 0) = [x > 0]
            Unary::Relu => g.mul(&mask_as(&x.gt(&zero()?)?, x.dtype())?),
            // d/dx x s(x) = s(x) (1 + x (1 - s(x))), s = sigmoid
            Unary::Silu => {
                let s = x.sigmoid()?;
                let d = s.mul(&x.mul(&s.affine(-1.0, 1.0)?)?.add_scalar(1.0)?)?;
                g.mul(&d)
            }
            // d/dx s(x) = s(x) (1 - s(x)) = y (1 - y)
            Unary::Sigmoid => g.mul(&y.mul(&y.affine(-1.0, 1.0)?)?),
            // d/dx log s(x) = 1 - s(x) = s(-x)
            Unary::LogSigmoid => g.mul(&x.neg()?.sigmoid()?),
            // d/dx log(1 + e^x) = s(x)
            Unary::Softplus => g.mul(&x.sigmoid()?),
            // d/dx tanh x = 1 - tanh^2 x = 1 - y^2
            Unary::Tanh => g.mul(&y.sqr()?.affine(-1.0, 1.0)?),
            // d/dx elu(x) = 1 for x > 0, alpha e^x = y + alpha otherwise
            Unary::Elu(a) => {
                let pos = x.gt(&zero()?)?;
                g.mul(
                    &pos.where_cond(&Tensor::ones((), x.dtype(), &x.device())?, &y.add_scalar(a)?)?,
                )
            }
            // d/dx x^e = e x^(e-1)
            Unary::Powf(e) => g.mul(&x.powf(e - 1.0)?)?.scale(e),
            // d/dx (m x + a) = m
            Unary::Affine { mul, .. } => g.scale(mul),
            // d/dx clamp(x, lo, hi) = [lo <= x <= hi]
            Unary::Clamp { min, max } => {
                let inside =
                    mask_as(&x.ge(&Tensor::scalar(min, x.dtype(), &x.device())?)?, x.dtype())?
                        .mul(&mask_as(
                            &x.le(&Tensor::scalar(max, x.dtype(), &x.device())?)?,
                            x.dtype(),
                        )?)?;
                g.mul(&inside)
            }
        }
    }
}

struct UnaryBackward {
    op: Unary,
    x: Tensor,
    y: Tensor,
}

impl Backward for UnaryBackward {
    fn name(&self) -> &'static str {
        "unary"
    }
    fn backward(&self, g: &[Option<Tensor>], _needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let Some(g) = &g[0] else { return Ok(vec![None]) };
        Ok(vec![Some(self.op.backward(&self.x, &self.y, g)?)])
    }
}

/// A dtype conversion; the gradient converts back (to f32 for bf16/f16 inputs, see
/// [`crate::grad_dtype`]).
struct CastBackward {
    from: tensor::DType,
}
impl Backward for CastBackward {
    fn name(&self) -> &'static str {
        "to_dtype"
    }
    fn backward(&self, g: &[Option<Tensor>], _needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        Ok(vec![g[0].as_ref().map(|g| g.to_dtype(crate::grad_dtype(self.from))).transpose()?])
    }
}

macro_rules! unary_methods {
    ($($name:ident => $op:expr;)*) => {
        impl Var {
            $(pub fn $name(&self) -> Result<Var> { self.unary($op) })*
        }
    };
}
unary_methods! {
    neg => Unary::Neg;
    exp => Unary::Exp;
    log => Unary::Log;
    sqrt => Unary::Sqrt;
    rsqrt => Unary::Rsqrt;
    recip => Unary::Recip;
    sqr => Unary::Sqr;
    abs => Unary::Abs;
    relu => Unary::Relu;
    silu => Unary::Silu;
    sigmoid => Unary::Sigmoid;
    log_sigmoid => Unary::LogSigmoid;
    softplus => Unary::Softplus;
    tanh => Unary::Tanh;
}

impl Var {
    pub fn unary(&self, op: Unary) -> Result<Var> {
        let y = self.value().unary(op)?;
        Ok(Var::from_op1(UnaryBackward { op, x: self.value().clone(), y: y.clone() }, &[self], y))
    }
    pub fn elu(&self, alpha: f64) -> Result<Var> {
        self.unary(Unary::Elu(alpha))
    }
    pub fn powf(&self, e: f64) -> Result<Var> {
        self.unary(Unary::Powf(e))
    }
    pub fn affine(&self, mul: f64, add: f64) -> Result<Var> {
        self.unary(Unary::Affine { mul, add })
    }
    pub fn scale(&self, s: f64) -> Result<Var> {
        self.affine(s, 0.0)
    }
    pub fn add_scalar(&self, s: f64) -> Result<Var> {
        self.affine(1.0, s)
    }
    pub fn clamp(&self, min: f64, max: f64) -> Result<Var> {
        self.unary(Unary::Clamp { min, max })
    }
    pub fn to_dtype(&self, dtype: tensor::DType) -> Result<Var> {
        if dtype == self.dtype() {
            return Ok(self.clone());
        }
        let y = self.value().to_dtype(dtype)?;
        Ok(Var::from_op1(CastBackward { from: self.dtype() }, &[self], y))
    }
}
