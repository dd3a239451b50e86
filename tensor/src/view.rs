//! Zero-copy views: reshape (when the strides allow), permute, transpose, narrow, select,
//! broadcast, squeeze, unsqueeze, and the copying ones that cannot be views: concat, stack.

use crate::{bail, Result, Shape, Tensor};

impl Tensor {
    /// The same elements in a new shape; a view when possible, a copy otherwise.
    pub fn reshape(&self, shape: impl Into<Shape>) -> Result<Tensor> {
        let shape = shape.into();
        if shape.numel() != self.numel() {
            bail!(
                "reshape",
                "cannot reshape {:?} ({} elements) to {shape:?} ({} elements)",
                self.dims(),
                self.numel(),
                shape.numel()
            )
        }
        match self.layout().reshape(shape.dims()) {
            Some(l) => Ok(self.with_layout(l)),
            None => self.contiguous()?.reshape(shape),
        }
    }
    /// Reshape with one dim given as `None`, worked out from the others.
    pub fn reshape_infer(&self, dims: &[Option<usize>]) -> Result<Tensor> {
        let known: usize = dims.iter().flatten().product();
        let holes = dims.iter().filter(|d| d.is_none()).count();
        if holes > 1 || (holes == 1 && (known == 0 || self.numel() % known != 0)) {
            bail!("reshape", "cannot infer {dims:?} for shape {:?}", self.dims())
        }
        let fill = if known == 0 { 0 } else { self.numel() / known };
        self.reshape(dims.iter().map(|d| d.unwrap_or(fill)).collect::<Vec<_>>())
    }
    /// Flattens dims `start..` into one.
    pub fn flatten_from(&self, start: usize) -> Result<Tensor> {
        if start > self.rank() {
            bail!("flatten", "start dim {start} out of range for shape {:?}", self.dims())
        }
        let mut d = self.dims()[..start].to_vec();
        d.push(self.dims()[start..].iter().product());
        self.reshape(d)
    }
    pub fn flatten_all(&self) -> Result<Tensor> {
        self.reshape(self.numel())
    }
    pub fn permute(&self, perm: &[usize]) -> Result<Tensor> {
        Ok(self.with_layout(self.layout().permute(perm)?))
    }
    pub fn transpose(&self, a: usize, b: usize) -> Result<Tensor> {
        Ok(self.with_layout(self.layout().transpose(a, b)?))
    }
    /// Swaps the last two dims.
    pub fn t(&self) -> Result<Tensor> {
        if self.rank() < 2 {
            bail!("t", "needs at least 2 dims, got shape {:?}", self.dims())
        }
        self.transpose(self.rank() - 2, self.rank() - 1)
    }
    pub fn narrow(&self, dim: usize, start: usize, len: usize) -> Result<Tensor> {
        Ok(self.with_layout(self.layout().narrow(dim, start, len)?))
    }
    /// Index `i` of `dim`, with that dim removed.
    pub fn select(&self, dim: usize, i: usize) -> Result<Tensor> {
        self.narrow(dim, i, 1)?.squeeze(dim)
    }
    /// `n` pieces of `dim` of (nearly) equal size, the last one possibly shorter.
    pub fn chunk(&self, n: usize, dim: usize) -> Result<Vec<Tensor>> {
        let size = self.dim(dim)?;
        if n == 0 {
            bail!("chunk", "cannot split into 0 pieces")
        }
        let step = size.div_ceil(n).max(1);
        (0..size).step_by(step).map(|s| self.narrow(dim, s, step.min(size - s))).collect()
    }
    pub fn broadcast_as(&self, shape: impl Into<Shape>) -> Result<Tensor> {
        Ok(self.with_layout(self.layout().broadcast_as(shape.into().dims())?))
    }
    pub fn squeeze(&self, dim: usize) -> Result<Tensor> {
        Ok(self.with_layout(self.layout().squeeze(dim)?))
    }
    pub fn unsqueeze(&self, dim: usize) -> Result<Tensor> {
        Ok(self.with_layout(self.layout().unsqueeze(dim)?))
    }

    /// Joins tensors along an existing dim.
    pub fn cat(tensors: &[&Tensor], dim: usize) -> Result<Tensor> {
        let Some(first) = tensors.first() else { bail!("cat", "no tensors given") };
        first.layout().check_dim("cat", dim)?;
        let mut out_dims = first.dims().to_vec();
        out_dims[dim] = 0;
        for t in tensors {
            let same_rank = t.rank() == first.rank();
            let same_other =
                same_rank && (0..t.rank()).all(|d| d == dim || t.dims()[d] == first.dims()[d]);
            if !same_other {
                bail!(
                    "cat",
                    "shapes {:?} and {:?} differ outside dim {dim}",
                    first.dims(),
                    t.dims()
                )
            }
            if t.dtype() != first.dtype() {
                bail!("cat", "dtypes {} and {} differ", first.dtype(), t.dtype())
            }
            out_dims[dim] += t.dims()[dim];
        }
        let rest: Vec<_> = tensors[1..].iter().map(|t| (&**t.storage(), t.layout())).collect();
        let storage = first.storage().concat(first.layout(), &rest, dim)?;
        Ok(Tensor::contiguous_from(storage, out_dims))
    }
    /// Joins tensors of one shape along a new dim.
    pub fn stack(tensors: &[&Tensor], dim: usize) -> Result<Tensor> {
        let expanded = tensors.iter().map(|t| t.unsqueeze(dim)).collect::<Result<Vec<_>>>()?;
        Tensor::cat(&expanded.iter().collect::<Vec<_>>(), dim)
    }
}
