//! Tensor-level ops: argument checks, broadcasting and dtype promotion, then one call into
//! the storage's backend. Output shapes are worked out here, so a backend only sees
//! layouts it can index.

use crate::backend::{BinaryOp, CmpOp, ReduceOp, UnaryOp};
use crate::layout::broadcast_shapes;
use crate::{bail, DType, Result, Tensor};

macro_rules! unary_fns {
    ($($name:ident => $op:expr, $doc:literal;)*) => {
        $(#[doc = $doc] pub fn $name(&self) -> Result<Tensor> { self.unary($op) })*
    };
}
macro_rules! binary_fns {
    ($($name:ident => $op:expr;)*) => {
        $(pub fn $name(&self, rhs: &Tensor) -> Result<Tensor> { self.binary(rhs, $op) })*
    };
}
macro_rules! cmp_fns {
    ($($name:ident => $op:expr;)*) => {
        $(/// Element-wise comparison with broadcasting; U8 result (1 where true).
        pub fn $name(&self, rhs: &Tensor) -> Result<Tensor> { self.compare(rhs, $op) })*
    };
}

fn same_device(op: &'static str, a: &Tensor, b: &Tensor) -> Result<()> {
    if !a.device().same(&b.device()) {
        bail!(op, "operands on different devices: {} and {}", a.device(), b.device())
    }
    Ok(())
}

impl Tensor {
    pub fn unary(&self, op: UnaryOp) -> Result<Tensor> {
        if !self.dtype().is_float() {
            bail!("unary", "{op:?} needs a float tensor, got {}", self.dtype())
        }
        Ok(Tensor::contiguous_from(self.storage().unary(self.layout(), op)?, self.shape()))
    }
    unary_fns! {
        neg => UnaryOp::Neg, "`-x`";
        exp => UnaryOp::Exp, "`e^x`";
        log => UnaryOp::Log, "natural log";
        sqrt => UnaryOp::Sqrt, "square root";
        rsqrt => UnaryOp::Rsqrt, "`1 / sqrt(x)`";
        recip => UnaryOp::Recip, "`1 / x`";
        sqr => UnaryOp::Sqr, "`x^2`";
        abs => UnaryOp::Abs, "`|x|`";
        relu => UnaryOp::Relu, "`max(x, 0)`";
        silu => UnaryOp::Silu, "`x * sigmoid(x)`";
        sigmoid => UnaryOp::Sigmoid, "`1 / (1 + e^-x)`";
        log_sigmoid => UnaryOp::LogSigmoid, "`log(sigmoid(x)) = -softplus(-x)`";
        softplus => UnaryOp::Softplus, "`log(1 + e^x)`";
        tanh => UnaryOp::Tanh, "hyperbolic tangent";
    }
    /// `x` for x > 0, `alpha * (e^x - 1)` otherwise.
    pub fn elu(&self, alpha: f64) -> Result<Tensor> {
        self.unary(UnaryOp::Elu(alpha))
    }
    pub fn powf(&self, e: f64) -> Result<Tensor> {
        self.unary(UnaryOp::Powf(e))
    }
    /// `x * mul + add`.
    pub fn affine(&self, mul: f64, add: f64) -> Result<Tensor> {
        self.unary(UnaryOp::Affine { mul, add })
    }
    pub fn scale(&self, s: f64) -> Result<Tensor> {
        self.affine(s, 0.0)
    }
    pub fn add_scalar(&self, s: f64) -> Result<Tensor> {
        self.affine(1.0, s)
    }
    pub fn clamp(&self, min: f64, max: f64) -> Result<Tensor> {
        self.unary(UnaryOp::Clamp { min, max })
    }

    /// Both operands broadcast to their common shape, promoted to a common float dtype.
    fn broadcast_pair(&self, rhs: &Tensor, op: &'static str) -> Result<(Tensor, Tensor)> {
        same_device(op, self, rhs)?;
        let shape = broadcast_shapes(op, self.dims(), rhs.dims())?;
        let (mut a, mut b) = (self.clone(), rhs.clone());
        if a.dtype() != b.dtype() {
            if !(a.dtype().is_float() && b.dtype().is_float()) {
                bail!(op, "dtypes {} and {} do not mix", a.dtype(), b.dtype())
            }
            let d = DType::promote(a.dtype(), b.dtype());
            a = a.to_dtype(d)?;
            b = b.to_dtype(d)?;
        }
        Ok((a.broadcast_as(&shape)?, b.broadcast_as(shape)?))
    }
    pub fn binary(&self, rhs: &Tensor, op: BinaryOp) -> Result<Tensor> {
        let name = op.name();
        let (a, b) = self.broadcast_pair(rhs, name)?;
        if !a.dtype().is_float() {
            bail!(name, "needs float tensors, got {}", a.dtype())
        }
        let s = a.storage().binary(a.layout(), &**b.storage(), b.layout(), op)?;
        Ok(Tensor::contiguous_from(s, a.shape()))
    }
    binary_fns! {
        add => BinaryOp::Add;
        sub => BinaryOp::Sub;
        mul => BinaryOp::Mul;
        div => BinaryOp::Div;
        maximum => BinaryOp::Max;
        minimum => BinaryOp::Min;
        pow => BinaryOp::Pow;
    }
    pub fn compare(&self, rhs: &Tensor, op: CmpOp) -> Result<Tensor> {
        let (a, b) = self.broadcast_pair(rhs, "compare")?;
        let s = a.storage().cmp(a.layout(), &**b.storage(), b.layout(), op)?;
        Ok(Tensor::contiguous_from(s, a.shape()))
    }
    cmp_fns! {
        eq => CmpOp::Eq;
        ne => CmpOp::Ne;
        lt => CmpOp::Lt;
        le => CmpOp::Le;
        gt => CmpOp::Gt;
        ge => CmpOp::Ge;
    }
    /// `self` is the condition: picks `on_true` where it is non-zero, `on_false` elsewhere;
    /// all three broadcast together.
    pub fn where_cond(&self, on_true: &Tensor, on_false: &Tensor) -> Result<Tensor> {
        same_device("where", self, on_true)?;
        same_device("where", self, on_false)?;
        let shape = broadcast_shapes("where", self.dims(), on_true.dims())?;
        let shape = broadcast_shapes("where", shape.dims(), on_false.dims())?;
        let (mut t, mut f) = (on_true.clone(), on_false.clone());
        if t.dtype() != f.dtype() {
            let d = DType::promote(t.dtype(), f.dtype());
            t = t.to_dtype(d)?;
            f = f.to_dtype(d)?;
        }
        let (c, t, f) =
            (self.broadcast_as(&shape)?, t.broadcast_as(&shape)?, f.broadcast_as(&shape)?);
        let s = c.storage().where_cond(
            c.layout(),
            &**t.storage(),
            t.layout(),
            &**f.storage(),
            f.layout(),
        )?;
        Ok(Tensor::contiguous_from(s, shape))
    }

    fn reduce_op(
        &self,
        dim: usize,
        keepdim: bool,
        op: ReduceOp,
        name: &'static str,
    ) -> Result<Tensor> {
        self.layout().check_dim(name, dim)?;
        if self.dims()[dim] == 0 && op != ReduceOp::Sum {
            bail!(name, "cannot reduce an empty dim {dim} of shape {:?}", self.dims())
        }
        let s = self.storage().reduce(self.layout(), dim, op)?;
        let mut dims = self.dims().to_vec();
        dims[dim] = 1;
        let out = Tensor::contiguous_from(s, dims);
        if keepdim {
            Ok(out)
        } else {
            out.squeeze(dim)
        }
    }
    pub fn sum(&self, dim: usize, keepdim: bool) -> Result<Tensor> {
        self.reduce_op(dim, keepdim, ReduceOp::Sum, "sum")
    }
    pub fn mean(&self, dim: usize, keepdim: bool) -> Result<Tensor> {
        let n = self.dim(dim)?;
        self.sum(dim, keepdim)?.scale(1.0 / n as f64)
    }
    pub fn max(&self, dim: usize, keepdim: bool) -> Result<Tensor> {
        self.reduce_op(dim, keepdim, ReduceOp::Max, "max")
    }
    pub fn min(&self, dim: usize, keepdim: bool) -> Result<Tensor> {
        self.reduce_op(dim, keepdim, ReduceOp::Min, "min")
    }
    /// Index of the first largest value (I64).
    pub fn argmax(&self, dim: usize, keepdim: bool) -> Result<Tensor> {
        self.reduce_op(dim, keepdim, ReduceOp::ArgMax, "argmax")
    }
    pub fn argmin(&self, dim: usize, keepdim: bool) -> Result<Tensor> {
        self.reduce_op(dim, keepdim, ReduceOp::ArgMin, "argmin")
    }
    /// `log(sum(exp(x)))` along `dim`, computed around the max.
    pub fn logsumexp(&self, dim: usize, keepdim: bool) -> Result<Tensor> {
        self.reduce_op(dim, keepdim, ReduceOp::LogSumExp, "logsumexp")
    }
    /// Sum of every element (rank 0).
    pub fn sum_all(&self) -> Result<Tensor> {
        self.flatten_all()?.sum(0, false)
    }
    pub fn mean_all(&self) -> Result<Tensor> {
        self.sum_all()?.scale(1.0 / self.numel() as f64)
    }
    pub fn max_all(&self) -> Result<Tensor> {
        self.flatten_all()?.max(0, false)
    }
    pub fn softmax(&self, dim: usize) -> Result<Tensor> {
        self.layout().check_dim("softmax", dim)?;
        Ok(Tensor::contiguous_from(
            self.storage().softmax(self.layout(), dim, false)?,
            self.shape(),
        ))
    }
    pub fn log_softmax(&self, dim: usize) -> Result<Tensor> {
        self.layout().check_dim("log_softmax", dim)?;
        Ok(Tensor::contiguous_from(self.storage().softmax(self.layout(), dim, true)?, self.shape()))
    }
    /// Inclusive cumulative sum along `dim`.
    pub fn cumsum(&self, dim: usize) -> Result<Tensor> {
        self.layout().check_dim("cumsum", dim)?;
        Ok(Tensor::contiguous_from(self.storage().cumsum(self.layout(), dim, false)?, self.shape()))
    }
    /// Inclusive cumulative sum from the end: `out_i = sum_{j >= i} x_j`.
    pub fn cumsum_reverse(&self, dim: usize) -> Result<Tensor> {
        self.layout().check_dim("cumsum", dim)?;
        Ok(Tensor::contiguous_from(self.storage().cumsum(self.layout(), dim, true)?, self.shape()))
    }

    /// Matrix product with NumPy semantics: `[..., m, k] @ [..., k, n]`, batch dims
    /// broadcast; a 1-D operand is a row (left) or column (right) vector, dropped after.
    pub fn matmul(&self, rhs: &Tensor) -> Result<Tensor> {
        same_device("matmul", self, rhs)?;
        if self.rank() == 0 || rhs.rank() == 0 {
            bail!(
                "matmul",
                "needs at least 1-D operands, got {:?} and {:?}",
                self.dims(),
                rhs.dims()
            )
        }
        let a = if self.rank() == 1 { self.unsqueeze(0)? } else { self.clone() };
        let b = if rhs.rank() == 1 { rhs.unsqueeze(1)? } else { rhs.clone() };
        let (ra, rb) = (a.rank(), b.rank());
        let (m, k) = (a.dims()[ra - 2], a.dims()[ra - 1]);
        let (k2, n) = (b.dims()[rb - 2], b.dims()[rb - 1]);
        if k != k2 {
            bail!("matmul", "inner dims differ: {:?} @ {:?}", self.dims(), rhs.dims())
        }
        let batch = broadcast_shapes("matmul", &a.dims()[..ra - 2], &b.dims()[..rb - 2])?;
        let mut da = batch.dims().to_vec();
        da.extend([m, k]);
        let mut db = batch.dims().to_vec();
        db.extend([k, n]);
        let (a, b) = (a.broadcast_as(da)?, b.broadcast_as(db)?);
        let s = a.storage().matmul(a.layout(), &**b.storage(), b.layout())?;
        let mut dout = batch.dims().to_vec();
        dout.extend([m, n]);
        let mut out = Tensor::contiguous_from(s, dout);
        if rhs.rank() == 1 {
            out = out.squeeze(out.rank() - 1)?;
        }
        if self.rank() == 1 {
            out = out.squeeze(out.rank() - if rhs.rank() == 1 { 1 } else { 2 })?;
        }
        Ok(out)
    }

    fn check_index(&self, op: &'static str, idx: &Tensor) -> Result<()> {
        same_device(op, self, idx)?;
        if idx.dtype() != DType::I64 {
            bail!(op, "indices must be i64, got {}", idx.dtype())
        }
        Ok(())
    }
    /// Slices `ids` (1-D, I64) of `dim`: embedding lookup is `weight.index_select(ids, 0)`.
    pub fn index_select(&self, ids: &Tensor, dim: usize) -> Result<Tensor> {
        self.check_index("index_select", ids)?;
        self.layout().check_dim("index_select", dim)?;
        if ids.rank() != 1 {
            bail!("index_select", "indices must be 1-D, got shape {:?}", ids.dims())
        }
        let s = self.storage().index_select(self.layout(), &**ids.storage(), ids.layout(), dim)?;
        let mut dims = self.dims().to_vec();
        dims[dim] = ids.numel();
        Ok(Tensor::contiguous_from(s, dims))
    }
    /// torch.gather along `dim`; the output has `index`'s shape.
    pub fn gather(&self, index: &Tensor, dim: usize) -> Result<Tensor> {
        self.check_index("gather", index)?;
        self.layout().check_dim("gather", dim)?;
        let s = self.storage().gather(self.layout(), &**index.storage(), index.layout(), dim)?;
        Ok(Tensor::contiguous_from(s, index.shape()))
    }
    /// A copy with `src` added where `index` points along `dim` (torch.scatter_add).
    pub fn scatter_add(&self, index: &Tensor, src: &Tensor, dim: usize) -> Result<Tensor> {
        self.check_index("scatter_add", index)?;
        same_device("scatter_add", self, src)?;
        self.layout().check_dim("scatter_add", dim)?;
        let src = src.to_dtype(self.dtype())?;
        let s = self.storage().scatter_add(
            self.layout(),
            &**index.storage(),
            index.layout(),
            &**src.storage(),
            src.layout(),
            dim,
        )?;
        Ok(Tensor::contiguous_from(s, self.shape()))
    }
    /// A copy with slice `j` of `src` added to slice `ids[j]` along `dim` (torch.index_add).
    pub fn index_add(&self, ids: &Tensor, src: &Tensor, dim: usize) -> Result<Tensor> {
        self.check_index("index_add", ids)?;
        same_device("index_add", self, src)?;
        self.layout().check_dim("index_add", dim)?;
        if ids.rank() != 1 {
            bail!("index_add", "indices must be 1-D, got shape {:?}", ids.dims())
        }
        let src = src.to_dtype(self.dtype())?;
        let s = self.storage().index_add(
            self.layout(),
            &**ids.storage(),
            ids.layout(),
            &**src.storage(),
            src.layout(),
            dim,
        )?;
        Ok(Tensor::contiguous_from(s, self.shape()))
    }

    /// True when every element is finite (NaN and infinities are not).
    pub fn all_finite(&self) -> Result<bool> {
        Ok(self.to_vec_f64()?.iter().all(|v| v.is_finite()))
    }
}
