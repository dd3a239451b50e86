//! Views and joins: reshape, permute, narrow, broadcast, squeeze/unsqueeze, concat, stack,
//! `where`. Their gradients move the incoming gradient back into the input's shape.

use super::sum_to_shape;
use crate::var::{Backward, Var};
use tensor::{Result, Shape, Tensor};

enum View {
    /// Any view that is undone by reshaping the gradient (reshape, squeeze, unsqueeze).
    Reshape {
        from: Vec<usize>,
    },
    Permute {
        perm: Vec<usize>,
    },
    Narrow {
        dims: Vec<usize>,
        dim: usize,
        start: usize,
    },
    Broadcast {
        from: Vec<usize>,
    },
}

impl Backward for View {
    fn name(&self) -> &'static str {
        match self {
            View::Reshape { .. } => "reshape",
            View::Permute { .. } => "permute",
            View::Narrow { .. } => "narrow",
            View::Broadcast { .. } => "broadcast",
        }
    }
    fn backward(&self, g: &[Option<Tensor>], _needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let Some(g) = &g[0] else { return Ok(vec![None]) };
        let gx = match self {
            // reshape is a relabelling: the gradient is relabelled back
            View::Reshape { from } => g.reshape(from.as_slice())?,
            // permute by p: the gradient is permuted by p's inverse
            View::Permute { perm } => {
                let mut inv = vec![0; perm.len()];
                for (i, &p) in perm.iter().enumerate() {
                    inv[p] = i;
                }
                g.permute(&inv)?
            }
            // narrow picks a window: the gradient is the window padded with zeros
            View::Narrow { dims, dim, start } => {
                let len = g.dims()[*dim];
                let mut before = dims.clone();
                before[*dim] = *start;
                let mut after = dims.clone();
                after[*dim] = dims[*dim] - start - len;
                let z0 = Tensor::zeros(before, g.dtype(), &g.device())?;
                let z1 = Tensor::zeros(after, g.dtype(), &g.device())?;
                Tensor::cat(&[&z0, g, &z1], *dim)?
            }
            // broadcast copies values: their gradients are summed back
            View::Broadcast { from } => sum_to_shape(g, from)?,
        };
        Ok(vec![Some(gx)])
    }
}

/// Concatenation: each input's gradient is its window of the output's gradient.
struct Cat {
    dim: usize,
    sizes: Vec<usize>,
}
impl Backward for Cat {
    fn name(&self) -> &'static str {
        "cat"
    }
    fn backward(&self, g: &[Option<Tensor>], needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let Some(g) = &g[0] else { return Ok(vec![None; self.sizes.len()]) };
        let mut at = 0;
        let mut out = vec![];
        for (&s, &need) in self.sizes.iter().zip(needs) {
            out.push(if need { Some(g.narrow(self.dim, at, s)?) } else { None });
            at += s;
        }
        Ok(out)
    }
}

/// `where(cond, a, b)`: the gradient goes to `a` where cond holds, to `b` elsewhere.
struct Where {
    cond: Tensor,
    a: Vec<usize>,
    b: Vec<usize>,
}
impl Backward for Where {
    fn name(&self) -> &'static str {
        "where"
    }
    fn backward(&self, g: &[Option<Tensor>], needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let Some(g) = &g[0] else { return Ok(vec![None, None]) };
        let z = Tensor::zeros((), g.dtype(), &g.device())?;
        let ga = if needs[0] {
            Some(sum_to_shape(&self.cond.where_cond(g, &z)?, &self.a)?)
        } else {
            None
        };
        let gb = if needs[1] {
            Some(sum_to_shape(&self.cond.where_cond(&z, g)?, &self.b)?)
        } else {
            None
        };
        Ok(vec![ga, gb])
    }
}

impl Var {
    fn view(&self, y: Tensor, v: View) -> Var {
        Var::from_op1(v, &[self], y)
    }
    pub fn reshape(&self, shape: impl Into<Shape>) -> Result<Var> {
        let y = self.value().reshape(shape)?;
        Ok(self.view(y, View::Reshape { from: self.dims().to_vec() }))
    }
    pub fn flatten_from(&self, start: usize) -> Result<Var> {
        let y = self.value().flatten_from(start)?;
        Ok(self.view(y, View::Reshape { from: self.dims().to_vec() }))
    }
    pub fn squeeze(&self, dim: usize) -> Result<Var> {
        let y = self.value().squeeze(dim)?;
        Ok(self.view(y, View::Reshape { from: self.dims().to_vec() }))
    }
    pub fn unsqueeze(&self, dim: usize) -> Result<Var> {
        let y = self.value().unsqueeze(dim)?;
        Ok(self.view(y, View::Reshape { from: self.dims().to_vec() }))
    }
    pub fn permute(&self, perm: &[usize]) -> Result<Var> {
        let y = self.value().permute(perm)?;
        Ok(self.view(y, View::Permute { perm: perm.to_vec() }))
    }
    pub fn transpose(&self, a: usize, b: usize) -> Result<Var> {
        let mut perm: Vec<usize> = (0..self.rank()).collect();
        if a >= perm.len() || b >= perm.len() {
            return self.value().transpose(a, b).map(Var::constant);
        }
        perm.swap(a, b);
        self.permute(&perm)
    }
    /// Swaps the last two dims.
    pub fn t(&self) -> Result<Var> {
        if self.rank() < 2 {
            return self.value().t().map(Var::constant);
        }
        self.transpose(self.rank() - 2, self.rank() - 1)
    }
    pub fn narrow(&self, dim: usize, start: usize, len: usize) -> Result<Var> {
        let y = self.value().narrow(dim, start, len)?;
        Ok(self.view(y, View::Narrow { dims: self.dims().to_vec(), dim, start }))
    }
    pub fn select(&self, dim: usize, i: usize) -> Result<Var> {
        self.narrow(dim, i, 1)?.squeeze(dim)
    }
    /// `n` pieces of `dim`, as [`Tensor::chunk`] cuts them (an error for `n = 0`).
    pub fn chunk(&self, n: usize, dim: usize) -> Result<Vec<Var>> {
        let size = self.dim(dim)?;
        if n == 0 {
            tensor::bail!("chunk", "cannot split into 0 pieces")
        }
        let step = size.div_ceil(n).max(1);
        (0..size).step_by(step).map(|s| self.narrow(dim, s, step.min(size - s))).collect()
    }
    pub fn broadcast_as(&self, shape: impl Into<Shape>) -> Result<Var> {
        let y = self.value().broadcast_as(shape)?;
        Ok(self.view(y, View::Broadcast { from: self.dims().to_vec() }))
    }
    /// A contiguous copy (same value, same gradient).
    pub fn contiguous(&self) -> Result<Var> {
        if self.value().is_contiguous() {
            return Ok(self.clone());
        }
        let y = self.value().contiguous()?;
        Ok(self.view(y, View::Reshape { from: self.dims().to_vec() }))
    }
    pub fn cat(vars: &[&Var], dim: usize) -> Result<Var> {
        let ts: Vec<&Tensor> = vars.iter().map(|v| v.value()).collect();
        let y = Tensor::cat(&ts, dim)?;
        let sizes = vars.iter().map(|v| v.dims()[dim]).collect();
        Ok(Var::from_op1(Cat { dim, sizes }, vars, y))
    }
    pub fn stack(vars: &[&Var], dim: usize) -> Result<Var> {
        let ex = vars.iter().map(|v| v.unsqueeze(dim)).collect::<Result<Vec<_>>>()?;
        Var::cat(&ex.iter().collect::<Vec<_>>(), dim)
    }
    /// `cond ? self : other` element-wise (cond is data, not differentiated).
    pub fn where_cond(cond: &Tensor, a: &Var, b: &Var) -> Result<Var> {
        let y = cond.where_cond(a.value(), b.value())?;
        let back = Where { cond: cond.clone(), a: a.dims().to_vec(), b: b.dims().to_vec() };
        Ok(Var::from_op1(back, &[a, b], y))
    }
}
