//! The [`Tensor`] type: shared storage plus a strided [`Layout`]. Cloning is cheap (the
//! storage is reference-counted); views share storage; every op makes new storage.

use crate::backend::{BackendStorage, Device, Storage};
use crate::host::CpuStorage;
use crate::random::Rng;
use crate::{bail, DType, Elem, Error, Layout, Result, Shape};
use std::sync::Arc;

#[derive(Clone)]
pub struct Tensor {
    storage: Storage,
    layout: Layout,
}

impl Tensor {
    /// A tensor over `storage` seen through `layout` (checked to stay inside the storage).
    pub fn from_storage(storage: Storage, layout: Layout) -> Result<Tensor> {
        if layout.storage_extent() > storage.len() {
            bail!(
                "from_storage",
                "layout {:?} reaches past a storage of {} elements",
                layout,
                storage.len()
            )
        }
        Ok(Tensor { storage, layout })
    }
    /// A contiguous tensor over new storage (the shape is trusted to match).
    pub(crate) fn contiguous_from(storage: Storage, shape: impl Into<Shape>) -> Tensor {
        let layout = Layout::contiguous(shape);
        debug_assert_eq!(layout.numel(), storage.len());
        Tensor { storage, layout }
    }
    pub(crate) fn with_layout(&self, layout: Layout) -> Tensor {
        Tensor { storage: self.storage.clone(), layout }
    }
    /// Host data as a tensor on the CPU.
    pub fn from_cpu(data: CpuStorage, shape: impl Into<Shape>) -> Result<Tensor> {
        let shape = shape.into();
        if data.len() != shape.numel() {
            bail!(
                "from_cpu",
                "{} elements do not fill shape {shape:?} ({} elements)",
                data.len(),
                shape.numel()
            )
        }
        Ok(Tensor::contiguous_from(Arc::new(data), shape))
    }
    /// Host data as a tensor on `device` (an upload, for an accelerator).
    pub fn from_host(data: CpuStorage, shape: impl Into<Shape>, device: &Device) -> Result<Tensor> {
        Tensor::from_cpu(data, shape)?.to_device(device)
    }
    /// A vector as a tensor on `device`.
    pub fn from_vec<T: Elem>(
        data: Vec<T>,
        shape: impl Into<Shape>,
        device: &Device,
    ) -> Result<Tensor> {
        Tensor::from_host(T::wrap(data), shape, device)
    }
    /// A rank-0 tensor on `device`.
    pub fn scalar(value: f64, dtype: DType, device: &Device) -> Result<Tensor> {
        Tensor::full(value, (), dtype, device)
    }
    /// `value` everywhere, made on `device` (no transfer).
    pub fn full(
        value: f64,
        shape: impl Into<Shape>,
        dtype: DType,
        device: &Device,
    ) -> Result<Tensor> {
        let shape = shape.into();
        let storage: Storage = match device {
            Device::Cpu => Arc::new(CpuStorage::full(value, shape.numel(), dtype)),
            Device::Accel(d) => d.full(value, shape.numel(), dtype)?,
        };
        Ok(Tensor::contiguous_from(storage, shape))
    }
    pub fn zeros(shape: impl Into<Shape>, dtype: DType, device: &Device) -> Result<Tensor> {
        Tensor::full(0.0, shape, dtype, device)
    }
    pub fn ones(shape: impl Into<Shape>, dtype: DType, device: &Device) -> Result<Tensor> {
        Tensor::full(1.0, shape, dtype, device)
    }
    /// `value` in this tensor's shape, dtype and device.
    pub fn full_like(&self, value: f64) -> Result<Tensor> {
        Tensor::full(value, self.shape(), self.dtype(), &self.device())
    }
    /// Zeros of this tensor's shape, dtype and device.
    pub fn zeros_like(&self) -> Result<Tensor> {
        self.full_like(0.0)
    }
    pub fn ones_like(&self) -> Result<Tensor> {
        self.full_like(1.0)
    }
    /// `start, start + 1, ..., end - 1`, made on `device`.
    pub fn arange(start: i64, end: i64, dtype: DType, device: &Device) -> Result<Tensor> {
        let n = (end.max(start) - start) as usize;
        let storage: Storage = match device {
            Device::Cpu => {
                let v: Vec<f64> = (0..n).map(|i| (start + i as i64) as f64).collect();
                Arc::new(CpuStorage::F64(v)).cast(&Layout::contiguous(n), dtype)?
            }
            Device::Accel(d) => d.arange(start, n, dtype)?,
        };
        Ok(Tensor::contiguous_from(storage, n))
    }
    /// Standard normal values times `std`, from `rng`. The values are drawn on the host, so
    /// one seed gives the same tensor on every device (then uploaded to `device`).
    pub fn randn(
        shape: impl Into<Shape>,
        std: f64,
        dtype: DType,
        device: &Device,
        rng: &mut Rng,
    ) -> Result<Tensor> {
        let shape = shape.into();
        let v: Vec<f64> = (0..shape.numel()).map(|_| rng.normal() * std).collect();
        Tensor::from_vec(v, shape, &Device::Cpu)?.to_dtype(dtype)?.to_device(device)
    }
    /// Uniform values in `[lo, hi)`, from `rng` (drawn on the host, as [`Tensor::randn`]).
    pub fn rand_uniform(
        shape: impl Into<Shape>,
        lo: f64,
        hi: f64,
        dtype: DType,
        device: &Device,
        rng: &mut Rng,
    ) -> Result<Tensor> {
        let shape = shape.into();
        let v: Vec<f64> = (0..shape.numel()).map(|_| lo + (hi - lo) * rng.uniform()).collect();
        Tensor::from_vec(v, shape, &Device::Cpu)?.to_dtype(dtype)?.to_device(device)
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }
    pub fn storage(&self) -> &Storage {
        &self.storage
    }
    pub fn shape(&self) -> &Shape {
        self.layout.shape()
    }
    pub fn dims(&self) -> &[usize] {
        self.layout.dims()
    }
    pub fn rank(&self) -> usize {
        self.dims().len()
    }
    /// Size of `dim`, an error naming the shape when out of range.
    pub fn dim(&self, dim: usize) -> Result<usize> {
        self.layout.check_dim("dim", dim)?;
        Ok(self.dims()[dim])
    }
    pub fn numel(&self) -> usize {
        self.layout.numel()
    }
    pub fn dtype(&self) -> DType {
        self.storage.dtype()
    }
    pub fn device(&self) -> Device {
        self.storage.device()
    }
    pub fn is_contiguous(&self) -> bool {
        self.layout.is_contiguous()
    }
    /// True when both share storage (a view of the other, or a clone).
    pub fn same_storage(&self, other: &Tensor) -> bool {
        Arc::ptr_eq(&self.storage, &other.storage)
    }

    /// A contiguous tensor with the same elements (itself when already contiguous).
    pub fn contiguous(&self) -> Result<Tensor> {
        if self.is_contiguous() {
            return Ok(self.clone());
        }
        Ok(Tensor::contiguous_from(self.storage.contiguous(&self.layout)?, self.shape()))
    }
    pub fn to_dtype(&self, dtype: DType) -> Result<Tensor> {
        if dtype == self.dtype() {
            return Ok(self.clone());
        }
        Ok(Tensor::contiguous_from(self.storage.cast(&self.layout, dtype)?, self.shape()))
    }
    /// Gives this tensor storage of its own (copying the whole storage when a view or clone
    /// shares it), so it can be written in place without any other tensor seeing the write.
    pub(crate) fn make_storage_unique(&mut self) -> Result<()> {
        if Arc::get_mut(&mut self.storage).is_none() {
            self.storage = self.storage.contiguous(&Layout::contiguous(self.storage.len()))?;
        }
        Ok(())
    }
    /// The storage, mutably, when no other tensor shares it.
    pub(crate) fn storage_mut(&mut self) -> Option<&mut dyn BackendStorage> {
        Arc::get_mut(&mut self.storage)
    }
    /// Writes `src` over positions `start..start + src.dim(dim)` of `dim`, in place (the
    /// storage is copied first if another tensor shares it). How decoding caches grow
    /// without re-concatenating.
    pub fn slice_assign(&mut self, dim: usize, start: usize, src: &Tensor) -> Result<()> {
        if !self.device().same(&src.device()) {
            bail!(
                "slice_assign",
                "operands on different devices: {} and {}",
                self.device(),
                src.device()
            )
        }
        self.layout.check_dim("slice_assign", dim)?;
        if src.rank() != self.rank() {
            bail!(
                "slice_assign",
                "source of shape {:?} does not fit destination {:?}",
                src.dims(),
                self.dims()
            )
        }
        let dst = self.layout.narrow(dim, start, src.dims()[dim])?;
        if dst.dims() != src.dims() {
            bail!(
                "slice_assign",
                "source of shape {:?} does not fit {:?} at {start} of dim {dim}",
                src.dims(),
                self.dims()
            )
        }
        let src = src.to_dtype(self.dtype())?;
        self.make_storage_unique()?;
        let s = Arc::get_mut(&mut self.storage).expect("made unique above");
        s.copy_into(&dst, &**src.storage(), src.layout())
    }
    pub fn to_device(&self, device: &Device) -> Result<Tensor> {
        if device.same(&self.device()) {
            return Ok(self.clone());
        }
        let host = self.storage.to_cpu(&self.layout)?;
        let storage: Storage = match device {
            Device::Cpu => Arc::new(host),
            Device::Accel(d) => d.upload(&host)?,
        };
        Ok(Tensor::contiguous_from(storage, self.shape()))
    }
    /// The elements, contiguous, on the host.
    pub fn to_cpu_storage(&self) -> Result<CpuStorage> {
        self.storage.to_cpu(&self.layout)
    }
    /// The elements as a `Vec<T>`; `T` must be this tensor's dtype.
    pub fn to_vec<T: Elem>(&self) -> Result<Vec<T>> {
        if T::DTYPE != self.dtype() {
            bail!("to_vec", "tensor is {}, asked for {}", self.dtype(), T::DTYPE)
        }
        let s = self.to_cpu_storage()?;
        Ok(T::slice(&s).expect("dtype checked").to_vec())
    }
    pub fn to_vec_f32(&self) -> Result<Vec<f32>> {
        self.to_dtype(DType::F32)?.to_vec()
    }
    pub fn to_vec_f64(&self) -> Result<Vec<f64>> {
        self.to_dtype(DType::F64)?.to_vec()
    }
    pub fn to_vec_i64(&self) -> Result<Vec<i64>> {
        self.to_dtype(DType::I64)?.to_vec()
    }
    /// The single value of a one-element tensor.
    pub fn to_scalar(&self) -> Result<f64> {
        if self.numel() != 1 {
            bail!(
                "to_scalar",
                "tensor of shape {:?} has {} elements, not 1",
                self.dims(),
                self.numel()
            )
        }
        Ok(self.to_vec_f64()?[0])
    }

    /// This tensor's host data (the whole storage) and layout, borrowed; `None` when the
    /// tensor is not on the CPU or not of element type `T`.
    pub fn as_cpu_slice<T: Elem>(&self) -> Option<(&[T], &Layout)> {
        let cpu = self.storage.as_any().downcast_ref::<CpuStorage>()?;
        Some((T::slice(cpu)?, &self.layout))
    }

    /// Runs `f` on this tensor's host data and layout without copying; an error when the
    /// tensor is not on the CPU or not of element type `T`. For kernels outside this crate.
    pub fn with_cpu_slice<T: Elem, R>(&self, f: impl FnOnce(&[T], &Layout) -> R) -> Result<R> {
        let Some(cpu) = self.storage.as_any().downcast_ref::<CpuStorage>() else {
            bail!("with_cpu_slice", "tensor is on {}, not the CPU", self.device())
        };
        let Some(data) = T::slice(cpu) else {
            bail!("with_cpu_slice", "tensor is {}, asked for {}", self.dtype(), T::DTYPE)
        };
        Ok(f(data, &self.layout))
    }

    /// Errors unless the shape is exactly `expect` (for checking inputs from outside).
    pub fn expect_shape(&self, what: &str, expect: &[usize]) -> Result<()> {
        if self.dims() != expect {
            return Err(Error::op(
                "shape check",
                format!("{what}: expected shape {expect:?}, got {:?}", self.dims()),
            ));
        }
        Ok(())
    }
}
