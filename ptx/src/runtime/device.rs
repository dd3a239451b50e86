//! A GPU (or the interpreter) and its typed buffers, below the launchers: [`GpuDevice`] is a
//! [`Backend`] with its caching [`Pool`] and transfer log, [`GpuStorage`] a pool buffer with
//! its dtype and length. The launchers (`crate::ops`) take `GpuStorage`s; the tensor device
//! built on both (`crate::device`: `tensor::AccelDevice`, `tensor::BackendStorage`) sits
//! above the launchers.

use super::pool::{Buffer, Pool, PoolStats};
use super::profile::{EntryTime, Profiler};
use super::{Backend, KernelArg, LaunchDims};
use crate::modules::Entry;
use std::sync::Arc;
use tensor::transfer::TransferLog;
use tensor::{DType, Error, Result};

/// A device of the `cuda` or `interp` kind. Clones are handles to one device.
#[derive(Clone, Debug)]
pub struct GpuDevice {
    pool: Arc<Pool>,
    pub(crate) log: Arc<TransferLog>,
    profile: Arc<Profiler>,
}

impl GpuDevice {
    pub fn new(backend: Arc<dyn Backend>) -> GpuDevice {
        GpuDevice { pool: Pool::new(backend), log: Arc::default(), profile: Arc::default() }
    }
    pub fn backend(&self) -> &Arc<dyn Backend> {
        self.pool.backend()
    }
    pub fn pool_stats(&self) -> PoolStats {
        self.pool.stats()
    }
    /// Restarts the pool's peaks from what it holds now ([`Pool::reset_peaks`]).
    pub fn reset_peaks(&self) {
        self.pool.reset_peaks()
    }
    /// New storage for `len` elements of `dtype` (contents unspecified).
    pub fn storage(&self, dtype: DType, len: usize) -> Result<GpuStorage> {
        let bytes = len
            .checked_mul(dtype.size_in_bytes())
            .ok_or_else(|| Error::op("ptx", format!("{len} {dtype} elements overflow")))?;
        Ok(GpuStorage { buf: Arc::new(self.pool.alloc(bytes)?), dtype, len, device: self.clone() })
    }
    /// Queues a launch (see [`Backend::launch`]), timed while the profile is on.
    pub fn launch(&self, entry: Entry, dims: LaunchDims, args: &[KernelArg]) -> Result<()> {
        let backend = &**self.backend();
        if self.profile.is_on() {
            self.profile.time(backend, entry, dims, || backend.launch(entry, dims, args))
        } else {
            backend.launch(entry, dims, args)
        }
    }
    /// Starts timing every launch (see [`super::profile`]).
    pub fn profile_start(&self) -> Result<()> {
        self.profile.start(&**self.backend())
    }
    /// Stops timing; the device time per entry since [`GpuDevice::profile_start`].
    pub fn profile_take(&self) -> Result<Vec<EntryTime>> {
        self.profile.take(&**self.backend())
    }
    /// Whether `other` is a handle to this very device (one pool).
    pub fn same(&self, other: &GpuDevice) -> bool {
        Arc::ptr_eq(&self.pool, &other.pool)
    }
}

/// Device memory holding `len` elements of one dtype.
#[derive(Clone, Debug)]
pub struct GpuStorage {
    buf: Arc<Buffer>,
    dtype: DType,
    len: usize,
    device: GpuDevice,
}

impl GpuStorage {
    pub fn addr(&self) -> u64 {
        self.buf.addr()
    }
    pub fn dtype(&self) -> DType {
        self.dtype
    }
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    pub fn gpu(&self) -> &GpuDevice {
        &self.device
    }
    /// The address as a kernel argument.
    pub fn arg(&self) -> KernelArg {
        KernelArg::Ptr(self.addr())
    }
}
