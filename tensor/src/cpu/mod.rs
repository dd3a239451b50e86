//! The CPU backend: the [`BackendStorage`] implementation for host memory ([`CpuStorage`])
//! that sends each op to its kernel file (`map`, `reduce`, `index`, `matmul`). `gemm` is the
//! packed matrix product that CPU bodies of fused ops (in other crates) may call.

pub mod index;
pub mod map;
pub(crate) mod matmul;

/// The packed, cache-blocked matrix product on host slices, and its naive reference: what
/// the CPU bodies of fused ops (attention, the chunked scan) call for their small products.
pub mod gemm {
    pub use super::matmul::gemm::{gemm, gemm_into, GemmScalar, MatRef};
    pub use super::matmul::naive::matmul_naive;
}
pub mod reduce;
pub mod strided;

use crate::backend::{BackendStorage, BinaryOp, CmpOp, Device, ReduceOp, Storage, UnaryOp};
use crate::host::{any_dtype, CpuStorage};
use crate::{bail, DType, Elem, Error, Layout, Result};
use std::any::Any;
use std::sync::Arc;

/// Runs `$body` with `$v` bound to the typed vector of a float dtype; errors for others.
macro_rules! float_dtype {
    ($op:expr, $s:expr, $v:ident => $body:expr) => {
        match $s {
            CpuStorage::F32($v) => $body,
            CpuStorage::F64($v) => $body,
            CpuStorage::BF16($v) => $body,
            CpuStorage::F16($v) => $body,
            CpuStorage::I64(_) | CpuStorage::U8(_) => {
                return Err(Error::op($op, format!("needs a float tensor, got {}", $s.dtype())))
            }
        }
    };
}
/// Runs `$body` with `$a`, `$b` bound to two typed vectors of the same float dtype.
macro_rules! float_pair {
    ($op:expr, $x:expr, $y:expr, $a:ident, $b:ident => $body:expr) => {
        match ($x, $y) {
            (CpuStorage::F32($a), CpuStorage::F32($b)) => $body,
            (CpuStorage::F64($a), CpuStorage::F64($b)) => $body,
            (CpuStorage::BF16($a), CpuStorage::BF16($b)) => $body,
            (CpuStorage::F16($a), CpuStorage::F16($b)) => $body,
            (x, y) => return Err(Error::op($op, format!("needs two float tensors of one dtype, got {} and {}", x.dtype(), y.dtype()))),
        }
    };
}

impl CpuStorage {
    fn arc(self) -> Storage {
        Arc::new(self)
    }
}

fn cpu_of<'a>(op: &'static str, s: &'a dyn BackendStorage) -> Result<&'a CpuStorage> {
    s.as_any()
        .downcast_ref::<CpuStorage>()
        .ok_or_else(|| Error::op(op, format!("operands on different devices (cpu and {})", s.device())))
}

fn ids_of<'a>(op: &'static str, s: &'a dyn BackendStorage) -> Result<&'a [i64]> {
    match cpu_of(op, s)? {
        CpuStorage::I64(v) => Ok(v),
        other => bail!(op, "indices must be i64, got {}", other.dtype()),
    }
}

impl BackendStorage for CpuStorage {
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn device(&self) -> Device {
        Device::Cpu
    }
    fn dtype(&self) -> DType {
        CpuStorage::dtype(self)
    }
    fn len(&self) -> usize {
        CpuStorage::len(self)
    }
    fn to_cpu(&self, layout: &Layout) -> Result<CpuStorage> {
        Ok(any_dtype!(self, v => Elem::wrap(map::copy_strided(v, layout))))
    }
    fn contiguous(&self, layout: &Layout) -> Result<Storage> {
        Ok(self.to_cpu(layout)?.arc())
    }
    fn cast(&self, layout: &Layout, dtype: DType) -> Result<Storage> {
        Ok(any_dtype!(self, v => map::cast(v, layout, dtype)).arc())
    }
    fn unary(&self, layout: &Layout, op: UnaryOp) -> Result<Storage> {
        Ok(float_dtype!("unary", self, v => Elem::wrap(map::unary(v, layout, op))).arc())
    }
    fn binary(&self, layout: &Layout, rhs: &dyn BackendStorage, rhs_layout: &Layout, op: BinaryOp) -> Result<Storage> {
        let rhs = cpu_of("binary", rhs)?;
        Ok(float_pair!("binary", self, rhs, a, b => Elem::wrap(map::binary(a, layout, b, rhs_layout, op))).arc())
    }
    fn cmp(&self, layout: &Layout, rhs: &dyn BackendStorage, rhs_layout: &Layout, op: CmpOp) -> Result<Storage> {
        let rhs = cpu_of("cmp", rhs)?;
        let out = match (self, rhs) {
            (CpuStorage::I64(a), CpuStorage::I64(b)) => map::cmp(a, layout, b, rhs_layout, op),
            (CpuStorage::U8(a), CpuStorage::U8(b)) => map::cmp(a, layout, b, rhs_layout, op),
            (a, b) => float_pair!("cmp", a, b, x, y => map::cmp(x, layout, y, rhs_layout, op)),
        };
        Ok(CpuStorage::U8(out).arc())
    }
    fn where_cond(&self, layout: &Layout, t: &dyn BackendStorage, tl: &Layout, f: &dyn BackendStorage, fl: &Layout) -> Result<Storage> {
        let (t, f) = (cpu_of("where", t)?, cpu_of("where", f)?);
        if t.dtype() != f.dtype() {
            bail!("where", "branches have dtypes {} and {}", t.dtype(), f.dtype())
        }
        let out = any_dtype!(self, c => {
            any_dtype!(t, tv => {
                let fv = Elem::slice(f).expect("dtypes checked equal");
                Elem::wrap(map::where_cond(c, layout, tv, tl, fv, fl))
            })
        });
        Ok(out.arc())
    }
    fn reduce(&self, layout: &Layout, dim: usize, op: ReduceOp) -> Result<Storage> {
        Ok(float_dtype!("reduce", self, v => reduce::reduce(v, layout, dim, op)).arc())
    }
    fn softmax(&self, layout: &Layout, dim: usize, log: bool) -> Result<Storage> {
        Ok(float_dtype!("softmax", self, v => Elem::wrap(reduce::softmax(v, layout, dim, log))).arc())
    }
    fn cumsum(&self, layout: &Layout, dim: usize, reverse: bool) -> Result<Storage> {
        Ok(float_dtype!("cumsum", self, v => Elem::wrap(reduce::cumsum(v, layout, dim, reverse))).arc())
    }
    fn matmul(&self, layout: &Layout, rhs: &dyn BackendStorage, rhs_layout: &Layout) -> Result<Storage> {
        let rhs = cpu_of("matmul", rhs)?;
        matmul::matmul_storage(self, layout, rhs, rhs_layout).map(CpuStorage::arc)
    }
    fn index_select(&self, layout: &Layout, ids: &dyn BackendStorage, ids_layout: &Layout, dim: usize) -> Result<Storage> {
        let ids = map::copy_strided(ids_of("index_select", ids)?, ids_layout);
        Ok(any_dtype!(self, v => Elem::wrap(index::index_select(v, layout, &ids, dim)?)).arc())
    }
    fn gather(&self, layout: &Layout, index: &dyn BackendStorage, il: &Layout, dim: usize) -> Result<Storage> {
        let idx = map::copy_strided(ids_of("gather", index)?, il);
        Ok(any_dtype!(self, v => Elem::wrap(index::gather(v, layout, &idx, il.dims(), dim)?)).arc())
    }
    fn scatter_add(&self, layout: &Layout, index: &dyn BackendStorage, il: &Layout, src: &dyn BackendStorage, sl: &Layout, dim: usize) -> Result<Storage> {
        let idx = map::copy_strided(ids_of("scatter_add", index)?, il);
        let src = cpu_of("scatter_add", src)?;
        Ok(float_pair!("scatter_add", self, src, d, s => Elem::wrap(index::scatter_add(d, layout, &idx, il.dims(), s, sl, dim)?)).arc())
    }
    fn index_add(&self, layout: &Layout, ids: &dyn BackendStorage, il: &Layout, src: &dyn BackendStorage, sl: &Layout, dim: usize) -> Result<Storage> {
        let ids = map::copy_strided(ids_of("index_add", ids)?, il);
        let src = cpu_of("index_add", src)?;
        Ok(float_pair!("index_add", self, src, d, s => Elem::wrap(index::index_add(d, layout, &ids, s, sl, dim)?)).arc())
    }
    fn concat(&self, layout: &Layout, rest: &[(&dyn BackendStorage, &Layout)], dim: usize) -> Result<Storage> {
        let mut parts: Vec<(&CpuStorage, &Layout)> = vec![(self, layout)];
        for (s, l) in rest {
            let s = cpu_of("concat", *s)?;
            if s.dtype() != self.dtype() {
                bail!("concat", "dtypes differ: {} and {}", self.dtype(), s.dtype())
            }
            parts.push((s, l));
        }
        Ok(any_dtype!(self, v => index::concat_parts(v, &parts, dim)).arc())
    }
}
