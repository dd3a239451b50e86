//! The GPU (or the interpreter) as a tensor device: [`GpuDevice`] implements
//! `tensor::AccelDevice` over a [`Backend`] and its caching [`Pool`], and [`GpuStorage`] (a
//! pool buffer with its dtype and length) implements `tensor::BackendStorage`, each primitive
//! a host launcher of [`crate::ops`]. Fused ops run their accelerator bodies here
//! ([`GpuDevice::run_custom`]); those call the same launchers.

use super::pool::{Buffer, Pool, PoolStats};
use super::{Backend, KernelArg};
use crate::ops;
use std::any::Any;
use std::sync::Arc;
use tensor::check_device::{Direction, TransferLog};
use tensor::{
    AccelDevice, BackendStorage, BinaryOp, CmpOp, CpuStorage, CustomOp, DType, DevIn, DevOut,
    Device, Error, Layout, ReduceOp, Result, Storage, UnaryOp,
};

/// A device of the `cuda` or `interp` kind. Clones are handles to one device.
#[derive(Clone, Debug)]
pub struct GpuDevice {
    pool: Arc<Pool>,
    log: Arc<TransferLog>,
}

impl GpuDevice {
    pub fn new(backend: Arc<dyn Backend>) -> GpuDevice {
        GpuDevice { pool: Pool::new(backend), log: Arc::default() }
    }
    /// As a tensor [`Device`].
    pub fn device(&self) -> Device {
        Device::Accel(Arc::new(self.clone()))
    }
    /// The GPU device behind `device`, or an error naming the op that needed one.
    pub fn of<'a>(op: &str, device: &'a dyn AccelDevice) -> Result<&'a GpuDevice> {
        device.as_any().downcast_ref::<GpuDevice>().ok_or_else(|| {
            Error::op(
                "ptx",
                format!(
                    "{op}: {}:{} is not a cuda or interp device",
                    device.name(),
                    device.ordinal()
                ),
            )
        })
    }
    pub fn backend(&self) -> &Arc<dyn Backend> {
        self.pool.backend()
    }
    pub fn pool_stats(&self) -> PoolStats {
        self.pool.stats()
    }
    /// New storage for `len` elements of `dtype` (contents unspecified).
    pub fn storage(&self, dtype: DType, len: usize) -> Result<GpuStorage> {
        let bytes = len
            .checked_mul(dtype.size_in_bytes())
            .ok_or_else(|| Error::op("ptx", format!("{len} {dtype} elements overflow")))?;
        Ok(GpuStorage { buf: Arc::new(self.pool.alloc(bytes)?), dtype, len, device: self.clone() })
    }
    /// Queues a launch (see [`Backend::launch`]).
    pub fn launch(
        &self,
        module: &'static str,
        entry: &'static str,
        dims: super::LaunchDims,
        args: &[KernelArg],
    ) -> Result<()> {
        self.backend().launch(module, entry, dims, args)
    }
    fn same(&self, other: &GpuDevice) -> bool {
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
    fn arc(self) -> Storage {
        Arc::new(self)
    }
    /// The storage of an operand of an op on this device; an error when it lives elsewhere.
    pub fn other<'a>(&self, op: &str, s: &'a dyn BackendStorage) -> Result<&'a GpuStorage> {
        match s.as_any().downcast_ref::<GpuStorage>() {
            Some(g) if g.device.same(&self.device) => Ok(g),
            _ => Err(Error::op(
                "ptx",
                format!(
                    "{op}: operands on different devices: {} and {}",
                    self.device(),
                    s.device()
                ),
            )),
        }
    }
}

/// The storage behind an input of a fused op's accelerator body.
pub fn input<'a>(op: &str, d: &DevIn<'a>) -> Result<&'a GpuStorage> {
    d.storage.as_any().downcast_ref::<GpuStorage>().ok_or_else(|| {
        Error::op(
            "ptx",
            format!("{op}: an input is on {}, not a cuda or interp device", d.storage.device()),
        )
    })
}

/// The storage behind an output of a fused op's accelerator body.
pub fn output<'a, 'b>(op: &str, d: &'b mut DevOut<'a>) -> Result<&'b mut GpuStorage> {
    let dev = d.storage.device();
    d.storage.as_any_mut().downcast_mut::<GpuStorage>().ok_or_else(|| {
        Error::op("ptx", format!("{op}: an output is on {dev}, not a cuda or interp device"))
    })
}

/// The outputs of a backward that computes only the gradients asked for: slot `i` holds the
/// next output (its storage and layout) where `want[i]`, `None` elsewhere; the outputs come
/// in slot order.
pub fn wanted_outputs<const N: usize>(
    op: &'static str,
    want: &[bool; N],
    outs: &mut [DevOut<'_>],
) -> Result<[Option<(GpuStorage, Layout)>; N]> {
    let mut slots: [Option<(GpuStorage, Layout)>; N] = std::array::from_fn(|_| None);
    let mut next = outs.iter_mut();
    for (w, slot) in want.iter().zip(slots.iter_mut()) {
        if *w {
            let o = next
                .next()
                .ok_or_else(|| Error::op(op, "fewer outputs than gradients asked for"))?;
            let l = o.layout.clone();
            *slot = Some((output(op, o)?.clone(), l));
        }
    }
    Ok(slots)
}

impl AccelDevice for GpuDevice {
    fn name(&self) -> &str {
        self.backend().kind()
    }
    fn ordinal(&self) -> usize {
        self.backend().ordinal()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn transfer_log(&self) -> Option<&TransferLog> {
        Some(&self.log)
    }
    fn upload(&self, data: &CpuStorage) -> Result<Storage> {
        self.log.record(Direction::Upload, data.dtype(), data.len());
        let s = self.storage(data.dtype(), data.len())?;
        self.backend().htod(s.addr(), data.as_bytes())?;
        Ok(s.arc())
    }
    fn alloc(&self, n: usize, dtype: DType) -> Result<Box<dyn BackendStorage>> {
        Ok(Box::new(self.storage(dtype, n)?))
    }
    fn full(&self, value: f64, n: usize, dtype: DType) -> Result<Storage> {
        let s = self.storage(dtype, n)?;
        ops::fill::fill(&s, value)?;
        Ok(s.arc())
    }
    fn arange(&self, start: i64, n: usize, dtype: DType) -> Result<Storage> {
        let s = self.storage(dtype, n)?;
        ops::fill::arange(&s, start)?;
        Ok(s.arc())
    }
    fn run_custom(
        &self,
        op: &dyn CustomOp,
        ins: &[DevIn<'_>],
        outs: &mut [DevOut<'_>],
    ) -> Result<()> {
        op.accel(self, ins, outs)
    }
    fn synchronize(&self) -> Result<()> {
        self.backend().synchronize()
    }
}

impl BackendStorage for GpuStorage {
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
    fn device(&self) -> Device {
        self.device.device()
    }
    fn dtype(&self) -> DType {
        self.dtype
    }
    fn len(&self) -> usize {
        self.len
    }
    fn to_cpu(&self, layout: &Layout) -> Result<CpuStorage> {
        // A dense view is read where it lies; any other is made contiguous on the device first.
        let size = self.dtype.size_in_bytes();
        let (c, start) = if layout.is_contiguous() {
            ops::check_view("download", "view", self, layout)?;
            (self.clone(), layout.offset() * size)
        } else {
            (ops::copy::contiguous(self, layout)?, 0)
        };
        self.device.log.record(Direction::Download, self.dtype, layout.numel());
        let mut bytes = vec![0u8; layout.numel() * size];
        if !bytes.is_empty() {
            self.device.backend().dtoh(c.addr() + start as u64, &mut bytes)?;
        }
        CpuStorage::from_bytes(&bytes, c.dtype)
            .ok_or_else(|| Error::op("download", "byte count does not fit the dtype"))
    }
    fn contiguous(&self, layout: &Layout) -> Result<Storage> {
        Ok(ops::copy::contiguous(self, layout)?.arc())
    }
    fn cast(&self, layout: &Layout, dtype: DType) -> Result<Storage> {
        Ok(ops::copy::cast(self, layout, dtype)?.arc())
    }
    fn unary(&self, layout: &Layout, op: UnaryOp) -> Result<Storage> {
        Ok(ops::elementwise::unary(self, layout, op)?.arc())
    }
    fn binary(
        &self,
        layout: &Layout,
        rhs: &dyn BackendStorage,
        rl: &Layout,
        op: BinaryOp,
    ) -> Result<Storage> {
        Ok(ops::elementwise::binary(self, layout, self.other("binary", rhs)?, rl, op)?.arc())
    }
    fn cmp(
        &self,
        layout: &Layout,
        rhs: &dyn BackendStorage,
        rl: &Layout,
        op: CmpOp,
    ) -> Result<Storage> {
        Ok(ops::elementwise::cmp(self, layout, self.other("cmp", rhs)?, rl, op)?.arc())
    }
    fn where_cond(
        &self,
        layout: &Layout,
        t: &dyn BackendStorage,
        tl: &Layout,
        f: &dyn BackendStorage,
        fl: &Layout,
    ) -> Result<Storage> {
        Ok(ops::elementwise::where_cond(
            self,
            layout,
            self.other("where", t)?,
            tl,
            self.other("where", f)?,
            fl,
        )?
        .arc())
    }
    fn reduce(&self, layout: &Layout, dim: usize, op: ReduceOp) -> Result<Storage> {
        Ok(ops::reduce::reduce(self, layout, dim, op)?.arc())
    }
    fn softmax(&self, layout: &Layout, dim: usize, log: bool) -> Result<Storage> {
        Ok(ops::reduce::softmax(self, layout, dim, log)?.arc())
    }
    fn cumsum(&self, layout: &Layout, dim: usize, reverse: bool) -> Result<Storage> {
        Ok(ops::reduce::cumsum(self, layout, dim, reverse)?.arc())
    }
    fn matmul(&self, layout: &Layout, rhs: &dyn BackendStorage, rl: &Layout) -> Result<Storage> {
        Ok(ops::matmul::matmul(self, layout, self.other("matmul", rhs)?, rl)?.arc())
    }
    fn index_select(
        &self,
        layout: &Layout,
        ids: &dyn BackendStorage,
        il: &Layout,
        dim: usize,
    ) -> Result<Storage> {
        Ok(ops::index::index_select(self, layout, self.other("index_select", ids)?, il, dim)?.arc())
    }
    fn gather(
        &self,
        layout: &Layout,
        index: &dyn BackendStorage,
        il: &Layout,
        dim: usize,
    ) -> Result<Storage> {
        Ok(ops::index::gather(self, layout, self.other("gather", index)?, il, dim)?.arc())
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
        Ok(ops::index::scatter_add(
            self,
            layout,
            self.other("scatter_add", index)?,
            il,
            self.other("scatter_add", src)?,
            sl,
            dim,
        )?
        .arc())
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
        Ok(ops::index::index_add(
            self,
            layout,
            self.other("index_add", ids)?,
            il,
            self.other("index_add", src)?,
            sl,
            dim,
        )?
        .arc())
    }
    fn concat(
        &self,
        layout: &Layout,
        rest: &[(&dyn BackendStorage, &Layout)],
        dim: usize,
    ) -> Result<Storage> {
        let mut parts: Vec<(&GpuStorage, &Layout)> = vec![(self, layout)];
        for (s, l) in rest {
            parts.push((self.other("concat", *s)?, l));
        }
        Ok(ops::copy::concat(&parts, dim)?.arc())
    }
    fn copy_into(
        &mut self,
        dst: &Layout,
        src: &dyn BackendStorage,
        src_layout: &Layout,
    ) -> Result<()> {
        let src = self.other("copy_into", src)?.clone();
        ops::copy::copy_into(self, dst, &src, src_layout)
    }
}
