//! The CPU backend: the [`BackendStorage`] implementation for host memory ([`CpuStorage`])
//! that sends each op to its kernel file (`map`, `reduce`, `index`, `matmul`). `gemm` is the
//! packed matrix product that CPU bodies of fused ops (in other crates) may call; `simd` says
//! which instruction set the kernels use here and probes the machine's FMA peak; `vexp` is
//! the vectorized exp of softmax rows (the CPU attention body); `compute` the compute types
//! (f32, f64) the CPU bodies of fused ops are written over.

pub mod compute;
pub mod index;
pub mod map;
pub(crate) mod matmul;
pub mod simd;

pub use compute::Compute;
pub use simd::{fma_peak_gflops, simd_path, Simd};

/// The packed, cache-blocked matrix product on host slices, and its naive reference: what
/// the CPU bodies of fused ops (attention, the chunked scan) call for their small products.
pub mod gemm {
    pub use super::matmul::gemm::{
        blocks_for, gemm, gemm_into, gemm_parallel, gemm_with, Blocks, GemmScalar, MatRef,
    };
    pub use super::matmul::kernels::{f32_avx512_tiles, Kernel};
    pub use super::matmul::naive::matmul_naive;
}
pub mod reduce;
pub mod strided;
pub mod vexp;

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
            (x, y) => {
                return Err(Error::op(
                    $op,
                    format!(
                        "needs two float tensors of one dtype, got {} and {}",
                        x.dtype(),
                        y.dtype()
                    ),
                ))
            }
        }
    };
}

impl CpuStorage {
    fn arc(self) -> Storage {
        Arc::new(self)
    }
}

fn cpu_of<'a>(op: &'static str, s: &'a dyn BackendStorage) -> Result<&'a CpuStorage> {
    s.as_any().downcast_ref::<CpuStorage>().ok_or_else(|| {
        Error::op(op, format!("operands on different devices (cpu and {})", s.device()))
    })
}

fn ids_of<'a>(op: &'static str, s: &'a CpuStorage) -> Result<&'a [i64]> {
    match s {
        CpuStorage::I64(v) => Ok(v),
        other => bail!(op, "indices must be i64, got {}", other.dtype()),
    }
}

/// Every primitive on host memory, each returning new host memory. The CPU backend wraps
/// these as its storage; the checking device ([`crate::check_device`]) runs the very same
/// functions on the host memory it holds.
impl CpuStorage {
    pub(crate) fn h_contiguous(&self, layout: &Layout) -> CpuStorage {
        any_dtype!(self, v => Elem::wrap(map::copy_strided(v, layout)))
    }
    pub(crate) fn h_cast(&self, layout: &Layout, dtype: DType) -> CpuStorage {
        any_dtype!(self, v => map::cast(v, layout, dtype))
    }
    pub(crate) fn h_unary(&self, layout: &Layout, op: UnaryOp) -> Result<CpuStorage> {
        Ok(float_dtype!("unary", self, v => Elem::wrap(map::unary(v, layout, op))))
    }
    pub(crate) fn h_binary(
        &self,
        layout: &Layout,
        rhs: &CpuStorage,
        rhs_layout: &Layout,
        op: BinaryOp,
    ) -> Result<CpuStorage> {
        Ok(float_pair!("binary", self, rhs, a, b =>
            Elem::wrap(map::binary(a, layout, b, rhs_layout, op))))
    }
    pub(crate) fn h_cmp(
        &self,
        layout: &Layout,
        rhs: &CpuStorage,
        rhs_layout: &Layout,
        op: CmpOp,
    ) -> Result<CpuStorage> {
        let out = match (self, rhs) {
            (CpuStorage::I64(a), CpuStorage::I64(b)) => map::cmp(a, layout, b, rhs_layout, op),
            (CpuStorage::U8(a), CpuStorage::U8(b)) => map::cmp(a, layout, b, rhs_layout, op),
            (a, b) => float_pair!("cmp", a, b, x, y => map::cmp(x, layout, y, rhs_layout, op)),
        };
        Ok(CpuStorage::U8(out))
    }
    pub(crate) fn h_where(
        &self,
        layout: &Layout,
        t: &CpuStorage,
        tl: &Layout,
        f: &CpuStorage,
        fl: &Layout,
    ) -> Result<CpuStorage> {
        if t.dtype() != f.dtype() {
            bail!("where", "branches have dtypes {} and {}", t.dtype(), f.dtype())
        }
        Ok(any_dtype!(self, c => {
            any_dtype!(t, tv => {
                let fv = Elem::slice(f).expect("dtypes checked equal");
                Elem::wrap(map::where_cond(c, layout, tv, tl, fv, fl))
            })
        }))
    }
    pub(crate) fn h_reduce(&self, layout: &Layout, dim: usize, op: ReduceOp) -> Result<CpuStorage> {
        Ok(float_dtype!("reduce", self, v => reduce::reduce(v, layout, dim, op)))
    }
    pub(crate) fn h_softmax(&self, layout: &Layout, dim: usize, log: bool) -> Result<CpuStorage> {
        Ok(float_dtype!("softmax", self, v => Elem::wrap(reduce::softmax(v, layout, dim, log))))
    }
    pub(crate) fn h_cumsum(
        &self,
        layout: &Layout,
        dim: usize,
        reverse: bool,
    ) -> Result<CpuStorage> {
        Ok(float_dtype!("cumsum", self, v => Elem::wrap(reduce::cumsum(v, layout, dim, reverse))))
    }
    pub(crate) fn h_matmul(
        &self,
        layout: &Layout,
        rhs: &CpuStorage,
        rhs_layout: &Layout,
    ) -> Result<CpuStorage> {
        matmul::matmul_storage(self, layout, rhs, rhs_layout)
    }
    pub(crate) fn h_index_select(
        &self,
        layout: &Layout,
        ids: &CpuStorage,
        ids_layout: &Layout,
        dim: usize,
    ) -> Result<CpuStorage> {
        let ids = map::copy_strided(ids_of("index_select", ids)?, ids_layout);
        Ok(any_dtype!(self, v => Elem::wrap(index::index_select(v, layout, &ids, dim)?)))
    }
    pub(crate) fn h_gather(
        &self,
        layout: &Layout,
        index: &CpuStorage,
        il: &Layout,
        dim: usize,
    ) -> Result<CpuStorage> {
        let idx = map::copy_strided(ids_of("gather", index)?, il);
        Ok(any_dtype!(self, v => Elem::wrap(index::gather(v, layout, &idx, il.dims(), dim)?)))
    }
    pub(crate) fn h_scatter_add(
        &self,
        layout: &Layout,
        index: &CpuStorage,
        il: &Layout,
        src: &CpuStorage,
        sl: &Layout,
        dim: usize,
    ) -> Result<CpuStorage> {
        let idx = map::copy_strided(ids_of("scatter_add", index)?, il);
        Ok(float_pair!("scatter_add", self, src, d, s =>
            Elem::wrap(index::scatter_add(d, layout, &idx, il.dims(), s, sl, dim)?)))
    }
    pub(crate) fn h_index_add(
        &self,
        layout: &Layout,
        ids: &CpuStorage,
        il: &Layout,
        src: &CpuStorage,
        sl: &Layout,
        dim: usize,
    ) -> Result<CpuStorage> {
        let ids = map::copy_strided(ids_of("index_add", ids)?, il);
        Ok(float_pair!("index_add", self, src, d, s =>
            Elem::wrap(index::index_add(d, layout, &ids, s, sl, dim)?)))
    }
    pub(crate) fn h_concat(
        &self,
        parts: &[(&CpuStorage, &Layout)],
        dim: usize,
    ) -> Result<CpuStorage> {
        for (s, _) in parts {
            if s.dtype() != self.dtype() {
                bail!("concat", "dtypes differ: {} and {}", self.dtype(), s.dtype())
            }
        }
        Ok(any_dtype!(self, v => index::concat_parts(v, parts, dim)))
    }
    pub(crate) fn h_copy_into(
        &mut self,
        dst: &Layout,
        src: &CpuStorage,
        src_layout: &Layout,
    ) -> Result<()> {
        if src.dtype() != self.dtype() {
            bail!("copy_into", "dtypes differ: {} into {}", src.dtype(), self.dtype())
        }
        if dst.dims() != src_layout.dims() {
            bail!("copy_into", "shapes differ: {:?} into {:?}", src_layout.dims(), dst.dims())
        }
        if dst.storage_extent() > self.len() {
            bail!(
                "copy_into",
                "destination {:?} reaches past a storage of {} elements",
                dst,
                self.len()
            )
        }
        any_dtype!(self, d => {
            let s = Elem::slice(src).expect("dtypes checked equal");
            map::copy_into(d, dst, s, src_layout);
        });
        Ok(())
    }
}

impl BackendStorage for CpuStorage {
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
    fn device(&self) -> Device {
        Device::Cpu
    }
    fn host(&self) -> Option<&CpuStorage> {
        Some(self)
    }
    fn host_mut(&mut self) -> Option<&mut CpuStorage> {
        Some(self)
    }
    fn dtype(&self) -> DType {
        CpuStorage::dtype(self)
    }
    fn len(&self) -> usize {
        CpuStorage::len(self)
    }
    fn to_cpu(&self, layout: &Layout) -> Result<CpuStorage> {
        Ok(self.h_contiguous(layout))
    }
    fn contiguous(&self, layout: &Layout) -> Result<Storage> {
        Ok(self.h_contiguous(layout).arc())
    }
    fn cast(&self, layout: &Layout, dtype: DType) -> Result<Storage> {
        Ok(self.h_cast(layout, dtype).arc())
    }
    fn unary(&self, layout: &Layout, op: UnaryOp) -> Result<Storage> {
        self.h_unary(layout, op).map(CpuStorage::arc)
    }
    fn binary(
        &self,
        layout: &Layout,
        rhs: &dyn BackendStorage,
        rhs_layout: &Layout,
        op: BinaryOp,
    ) -> Result<Storage> {
        self.h_binary(layout, cpu_of("binary", rhs)?, rhs_layout, op).map(CpuStorage::arc)
    }
    fn cmp(
        &self,
        layout: &Layout,
        rhs: &dyn BackendStorage,
        rhs_layout: &Layout,
        op: CmpOp,
    ) -> Result<Storage> {
        self.h_cmp(layout, cpu_of("cmp", rhs)?, rhs_layout, op).map(CpuStorage::arc)
    }
    fn where_cond(
        &self,
        layout: &Layout,
        t: &dyn BackendStorage,
        tl: &Layout,
        f: &dyn BackendStorage,
        fl: &Layout,
    ) -> Result<Storage> {
        self.h_where(layout, cpu_of("where", t)?, tl, cpu_of("where", f)?, fl).map(CpuStorage::arc)
    }
    fn reduce(&self, layout: &Layout, dim: usize, op: ReduceOp) -> Result<Storage> {
        self.h_reduce(layout, dim, op).map(CpuStorage::arc)
    }
    fn softmax(&self, layout: &Layout, dim: usize, log: bool) -> Result<Storage> {
        self.h_softmax(layout, dim, log).map(CpuStorage::arc)
    }
    fn cumsum(&self, layout: &Layout, dim: usize, reverse: bool) -> Result<Storage> {
        self.h_cumsum(layout, dim, reverse).map(CpuStorage::arc)
    }
    fn matmul(
        &self,
        layout: &Layout,
        rhs: &dyn BackendStorage,
        rhs_layout: &Layout,
    ) -> Result<Storage> {
        self.h_matmul(layout, cpu_of("matmul", rhs)?, rhs_layout).map(CpuStorage::arc)
    }
    fn index_select(
        &self,
        layout: &Layout,
        ids: &dyn BackendStorage,
        ids_layout: &Layout,
        dim: usize,
    ) -> Result<Storage> {
        self.h_index_select(layout, cpu_of("index_select", ids)?, ids_layout, dim)
            .map(CpuStorage::arc)
    }
    fn gather(
        &self,
        layout: &Layout,
        index: &dyn BackendStorage,
        il: &Layout,
        dim: usize,
    ) -> Result<Storage> {
        self.h_gather(layout, cpu_of("gather", index)?, il, dim).map(CpuStorage::arc)
    }
    fn scatter_add(
        &self,
        layout: &Layout,
        index: &dyn BackendStorage,
        il: &Layout,
        src: &dyn BackendStorage,
        sl: &Layout,
        dim: usize,
    ) -> Result<Storage> {
        self.h_scatter_add(
            layout,
            cpu_of("scatter_add", index)?,
            il,
            cpu_of("scatter_add", src)?,
            sl,
            dim,
        )
        .map(CpuStorage::arc)
    }
    fn index_add(
        &self,
        layout: &Layout,
        ids: &dyn BackendStorage,
        il: &Layout,
        src: &dyn BackendStorage,
        sl: &Layout,
        dim: usize,
    ) -> Result<Storage> {
        self.h_index_add(layout, cpu_of("index_add", ids)?, il, cpu_of("index_add", src)?, sl, dim)
            .map(CpuStorage::arc)
    }
    fn concat(
        &self,
        layout: &Layout,
        rest: &[(&dyn BackendStorage, &Layout)],
        dim: usize,
    ) -> Result<Storage> {
        let mut parts: Vec<(&CpuStorage, &Layout)> = vec![(self, layout)];
        for (s, l) in rest {
            parts.push((cpu_of("concat", *s)?, l));
        }
        self.h_concat(&parts, dim).map(CpuStorage::arc)
    }
    fn copy_into(
        &mut self,
        dst: &Layout,
        src: &dyn BackendStorage,
        src_layout: &Layout,
    ) -> Result<()> {
        self.h_copy_into(dst, cpu_of("copy_into", src)?, src_layout)
    }
}
