//! The checking accelerator: a [`Device::Accel`] whose memory is host memory, which counts
//! every transfer between it and the host and refuses to mix its tensors with another
//! device's. Everything that runs on a GPU runs on it unchanged (primitives through the very
//! CPU functions, fused ops through their CPU bodies, in place), so the tests of the model
//! and of distillation run on it in CI, where there is no GPU, and prove that a step keeps
//! its data on the device: a silent host round-trip shows up in [`CheckDevice::transfers`],
//! a constant built on the host is a different-device error.
//!
//! `lawcat --device check` runs any command on it (as a way to audit transfers).

use crate::backend::{
    AccelDevice, BackendStorage, BinaryOp, CmpOp, Device, ReduceOp, Storage, UnaryOp,
};
use crate::host::CpuStorage;
use crate::transfer::{Direction, Transfer, TransferLog};
use crate::{DType, Error, Layout, Result};
use std::any::Any;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// A checking device. Each one made is a device of its own (ordinals count up), so tests
/// running side by side count only their own transfers. Clones are handles to one device.
#[derive(Clone, Debug)]
pub struct CheckDevice {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    ordinal: usize,
    log: TransferLog,
}

static NEXT_ORDINAL: AtomicUsize = AtomicUsize::new(0);

impl CheckDevice {
    pub fn new() -> CheckDevice {
        CheckDevice {
            inner: Arc::new(Inner {
                ordinal: NEXT_ORDINAL.fetch_add(1, Ordering::Relaxed),
                log: TransferLog::default(),
            }),
        }
    }
    /// A fresh checking device as a [`Device`].
    pub fn device() -> Device {
        Device::Accel(Arc::new(CheckDevice::new()))
    }
    /// The checking device behind `device`, if it is one.
    pub fn of(device: &Device) -> Option<&CheckDevice> {
        match device {
            Device::Accel(a) => a.as_any().downcast_ref::<CheckDevice>(),
            Device::Cpu => None,
        }
    }
    /// Every transfer since the device was made or last [`CheckDevice::reset`].
    pub fn transfers(&self) -> Vec<Transfer> {
        self.inner.log.transfers()
    }
    pub fn reset(&self) {
        self.inner.log.reset();
    }
    fn record(&self, direction: Direction, data: &CpuStorage) {
        self.inner.log.record(direction, data.dtype(), data.len());
    }
    fn own(&self, data: CpuStorage) -> CheckStorage {
        CheckStorage { data, device: self.clone() }
    }
}

impl Default for CheckDevice {
    fn default() -> Self {
        CheckDevice::new()
    }
}

/// Host memory owned by a checking device.
#[derive(Debug)]
pub struct CheckStorage {
    data: CpuStorage,
    device: CheckDevice,
}

impl CheckStorage {
    fn wrap(&self, data: CpuStorage) -> Storage {
        Arc::new(self.device.own(data))
    }
    fn wrap_res(&self, data: Result<CpuStorage>) -> Result<Storage> {
        data.map(|d| self.wrap(d))
    }
    /// The host memory of an operand of an op on this device; an error when it lives
    /// elsewhere (the checking device never mixes).
    fn other<'a>(&self, op: &'static str, s: &'a dyn BackendStorage) -> Result<&'a CpuStorage> {
        match s.as_any().downcast_ref::<CheckStorage>() {
            Some(c) if Arc::ptr_eq(&c.device.inner, &self.device.inner) => Ok(&c.data),
            _ => Err(Error::op(
                op,
                format!(
                    "operands on different devices: check:{} and {}",
                    self.device.inner.ordinal,
                    s.device()
                ),
            )),
        }
    }
}

impl BackendStorage for CheckStorage {
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
    fn device(&self) -> Device {
        Device::Accel(Arc::new(self.device.clone()))
    }
    fn dtype(&self) -> DType {
        self.data.dtype()
    }
    fn len(&self) -> usize {
        self.data.len()
    }
    /// Fused ops run their CPU bodies on this memory, in place: no transfer.
    fn host(&self) -> Option<&CpuStorage> {
        Some(&self.data)
    }
    fn host_mut(&mut self) -> Option<&mut CpuStorage> {
        Some(&mut self.data)
    }
    fn to_cpu(&self, layout: &Layout) -> Result<CpuStorage> {
        let out = self.data.h_contiguous(layout);
        self.device.record(Direction::Download, &out);
        Ok(out)
    }
    fn contiguous(&self, layout: &Layout) -> Result<Storage> {
        Ok(self.wrap(self.data.h_contiguous(layout)))
    }
    fn cast(&self, layout: &Layout, dtype: DType) -> Result<Storage> {
        Ok(self.wrap(self.data.h_cast(layout, dtype)))
    }
    fn unary(&self, layout: &Layout, op: UnaryOp) -> Result<Storage> {
        self.wrap_res(self.data.h_unary(layout, op))
    }
    fn binary(
        &self,
        layout: &Layout,
        rhs: &dyn BackendStorage,
        rl: &Layout,
        op: BinaryOp,
    ) -> Result<Storage> {
        self.wrap_res(self.data.h_binary(layout, self.other("binary", rhs)?, rl, op))
    }
    fn cmp(
        &self,
        layout: &Layout,
        rhs: &dyn BackendStorage,
        rl: &Layout,
        op: CmpOp,
    ) -> Result<Storage> {
        self.wrap_res(self.data.h_cmp(layout, self.other("cmp", rhs)?, rl, op))
    }
    fn where_cond(
        &self,
        layout: &Layout,
        t: &dyn BackendStorage,
        tl: &Layout,
        f: &dyn BackendStorage,
        fl: &Layout,
    ) -> Result<Storage> {
        self.wrap_res(self.data.h_where(
            layout,
            self.other("where", t)?,
            tl,
            self.other("where", f)?,
            fl,
        ))
    }
    fn reduce(&self, layout: &Layout, dim: usize, op: ReduceOp) -> Result<Storage> {
        self.wrap_res(self.data.h_reduce(layout, dim, op))
    }
    fn softmax(&self, layout: &Layout, dim: usize, log: bool) -> Result<Storage> {
        self.wrap_res(self.data.h_softmax(layout, dim, log))
    }
    fn cumsum(&self, layout: &Layout, dim: usize, reverse: bool) -> Result<Storage> {
        self.wrap_res(self.data.h_cumsum(layout, dim, reverse))
    }
    fn matmul(&self, layout: &Layout, rhs: &dyn BackendStorage, rl: &Layout) -> Result<Storage> {
        self.wrap_res(self.data.h_matmul(layout, self.other("matmul", rhs)?, rl))
    }
    fn index_select(
        &self,
        layout: &Layout,
        ids: &dyn BackendStorage,
        il: &Layout,
        dim: usize,
    ) -> Result<Storage> {
        self.wrap_res(self.data.h_index_select(layout, self.other("index_select", ids)?, il, dim))
    }
    fn gather(
        &self,
        layout: &Layout,
        index: &dyn BackendStorage,
        il: &Layout,
        dim: usize,
    ) -> Result<Storage> {
        self.wrap_res(self.data.h_gather(layout, self.other("gather", index)?, il, dim))
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
        self.wrap_res(self.data.h_scatter_add(
            layout,
            self.other("scatter_add", index)?,
            il,
            self.other("scatter_add", src)?,
            sl,
            dim,
        ))
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
        self.wrap_res(self.data.h_index_add(
            layout,
            self.other("index_add", ids)?,
            il,
            self.other("index_add", src)?,
            sl,
            dim,
        ))
    }
    fn concat(
        &self,
        layout: &Layout,
        rest: &[(&dyn BackendStorage, &Layout)],
        dim: usize,
    ) -> Result<Storage> {
        let mut parts: Vec<(&CpuStorage, &Layout)> = vec![(&self.data, layout)];
        for (s, l) in rest {
            parts.push((self.other("concat", *s)?, l));
        }
        self.wrap_res(self.data.h_concat(&parts, dim))
    }
    fn copy_into(
        &mut self,
        dst: &Layout,
        src: &dyn BackendStorage,
        src_layout: &Layout,
    ) -> Result<()> {
        let src = self.other("copy_into", src)?;
        self.data.h_copy_into(dst, src, src_layout)
    }
}

impl AccelDevice for CheckDevice {
    fn name(&self) -> &str {
        "check"
    }
    fn ordinal(&self) -> usize {
        self.inner.ordinal
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn transfer_log(&self) -> Option<&TransferLog> {
        Some(&self.inner.log)
    }
    fn upload(&self, data: &CpuStorage) -> Result<Storage> {
        self.record(Direction::Upload, data);
        Ok(Arc::new(self.own(data.clone())))
    }
    fn alloc(&self, n: usize, dtype: DType) -> Result<Box<dyn BackendStorage>> {
        Ok(Box::new(self.own(CpuStorage::full(0.0, n, dtype))))
    }
    fn full(&self, value: f64, n: usize, dtype: DType) -> Result<Storage> {
        Ok(Arc::new(self.own(CpuStorage::full(value, n, dtype))))
    }
    fn arange(&self, start: i64, n: usize, dtype: DType) -> Result<Storage> {
        let v: Vec<f64> = (0..n).map(|i| (start + i as i64) as f64).collect();
        Ok(Arc::new(self.own(CpuStorage::F64(v).h_cast(&Layout::contiguous(n), dtype))))
    }
    fn synchronize(&self) -> Result<()> {
        Ok(())
    }
}
