//! Reductions along a dim, softmax, log-softmax and cumsum, with their gradients.

use crate::var::{Backward, Var};
use tensor::{Result, Tensor};

/// The reduced gradient (or output) with the reduced dim put back as size 1.
fn keep(t: &Tensor, dim: usize, keepdim: bool) -> Result<Tensor> {
    if keepdim {
        Ok(t.clone())
    } else {
        t.unsqueeze(dim)
    }
}

enum Reduce {
    Sum,
    Mean,
    /// Max or min: `y` kept to find where the extreme values were.
    Extreme {
        x: Tensor,
        y: Tensor,
    },
    LogSumExp {
        x: Tensor,
        y: Tensor,
    },
}

struct ReduceBackward {
    op: Reduce,
    dims: Vec<usize>,
    dim: usize,
    keepdim: bool,
}

impl Backward for ReduceBackward {
    fn name(&self) -> &'static str {
        match self.op {
            Reduce::Sum => "sum",
            Reduce::Mean => "mean",
            Reduce::Extreme { .. } => "max/min",
            Reduce::LogSumExp { .. } => "logsumexp",
        }
    }
    fn backward(&self, g: &[Option<Tensor>], _needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let Some(g) = &g[0] else { return Ok(vec![None]) };
        let g = keep(g, self.dim, self.keepdim)?;
        let gx = match &self.op {
            // d/dx_i sum_j x_j = 1
            Reduce::Sum => g.broadcast_as(self.dims.as_slice())?.contiguous()?,
            // d/dx_i mean_j x_j = 1/n
            Reduce::Mean => {
                g.broadcast_as(self.dims.as_slice())?.scale(1.0 / self.dims[self.dim] as f64)?
            }
            // d/dx_i max_j x_j = [x_i = max] / (number of ties), as torch.amax
            Reduce::Extreme { x, y } => {
                let at = x.eq(&keep(y, self.dim, self.keepdim)?)?.to_dtype(g.dtype())?;
                let count = at.sum(self.dim, true)?;
                at.div(&count)?.mul(&g)?
            }
            // d/dx_i log sum_j e^x_j = e^(x_i - lse) = softmax(x)_i
            Reduce::LogSumExp { x, y } => {
                x.sub(&keep(y, self.dim, self.keepdim)?)?.exp()?.mul(&g)?
            }
        };
        Ok(vec![Some(gx)])
    }
}

enum Along {
    /// y = softmax(x): dx = y * (g - sum(g * y))
    Softmax(Tensor),
    /// y = log_softmax(x): dx = g - softmax(x) * sum(g)
    LogSoftmax(Tensor),
    /// y_i = sum_{j <= i} x_j: dx_j = sum_{i >= j} g_i
    Cumsum,
}

struct AlongBackward {
    op: Along,
    dim: usize,
}

impl Backward for AlongBackward {
    fn name(&self) -> &'static str {
        match self.op {
            Along::Softmax(_) => "softmax",
            Along::LogSoftmax(_) => "log_softmax",
            Along::Cumsum => "cumsum",
        }
    }
    fn backward(&self, g: &[Option<Tensor>], _needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let Some(g) = &g[0] else { return Ok(vec![None]) };
        let d = self.dim;
        let gx = match &self.op {
            Along::Softmax(y) => y.mul(&g.sub(&g.mul(y)?.sum(d, true)?)?)?,
            Along::LogSoftmax(y) => g.sub(&y.exp()?.mul(&g.sum(d, true)?)?)?,
            Along::Cumsum => g.cumsum_reverse(d)?,
        };
        Ok(vec![Some(gx)])
    }
}

impl Var {
    fn reduce(&self, op: Reduce, y: Tensor, dim: usize, keepdim: bool) -> Var {
        Var::from_op1(ReduceBackward { op, dims: self.dims().to_vec(), dim, keepdim }, &[self], y)
    }
    pub fn sum(&self, dim: usize, keepdim: bool) -> Result<Var> {
        let y = self.value().sum(dim, keepdim)?;
        Ok(self.reduce(Reduce::Sum, y, dim, keepdim))
    }
    pub fn mean(&self, dim: usize, keepdim: bool) -> Result<Var> {
        let y = self.value().mean(dim, keepdim)?;
        Ok(self.reduce(Reduce::Mean, y, dim, keepdim))
    }
    pub fn max(&self, dim: usize, keepdim: bool) -> Result<Var> {
        let y = self.value().max(dim, keepdim)?;
        Ok(self.reduce(Reduce::Extreme { x: self.value().clone(), y: y.clone() }, y, dim, keepdim))
    }
    pub fn min(&self, dim: usize, keepdim: bool) -> Result<Var> {
        let y = self.value().min(dim, keepdim)?;
        Ok(self.reduce(Reduce::Extreme { x: self.value().clone(), y: y.clone() }, y, dim, keepdim))
    }
    pub fn logsumexp(&self, dim: usize, keepdim: bool) -> Result<Var> {
        let y = self.value().logsumexp(dim, keepdim)?;
        Ok(self.reduce(
            Reduce::LogSumExp { x: self.value().clone(), y: y.clone() },
            y,
            dim,
            keepdim,
        ))
    }
    pub fn sum_all(&self) -> Result<Var> {
        self.reshape(self.value().numel())?.sum(0, false)
    }
    pub fn mean_all(&self) -> Result<Var> {
        self.reshape(self.value().numel())?.mean(0, false)
    }
    pub fn softmax(&self, dim: usize) -> Result<Var> {
        let y = self.value().softmax(dim)?;
        Ok(Var::from_op1(AlongBackward { op: Along::Softmax(y.clone()), dim }, &[self], y))
    }
    pub fn log_softmax(&self, dim: usize) -> Result<Var> {
        let y = self.value().log_softmax(dim)?;
        Ok(Var::from_op1(AlongBackward { op: Along::LogSoftmax(y.clone()), dim }, &[self], y))
    }
    pub fn cumsum(&self, dim: usize) -> Result<Var> {
        let y = self.value().cumsum(dim)?;
        Ok(Var::from_op1(AlongBackward { op: Along::Cumsum, dim }, &[self], y))
    }
}
