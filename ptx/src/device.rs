//! The GPU (or the interpreter) as a tensor device, above the launchers: [`GpuDevice`]
//! implements `tensor::AccelDevice` and [`GpuStorage`] `tensor::BackendStorage`, each
//! primitive one host launcher of [`crate::ops`]. [`operands`] is the one prologue of every
//! fused op's accelerator body: it checks that the device is a GPU or interpreter device and
//! every operand lives on it, and hands the body its operands.

use crate::ops;
use crate::ops::operand::Operand;
use crate::runtime::{GpuDevice, GpuStorage};
use std::any::Any;
use std::sync::Arc;
use tensor::transfer::{Direction, TransferLog};
use tensor::{
    AccelDevice, BackendStorage, BinaryOp, CmpOp, CpuStorage, DType, DevIn, DevOut, Device, Error,
    Layout, ReduceOp, Result, Storage, UnaryOp,
};

impl GpuDevice {
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
}

/// The storage of an operand of an op on `device`: an error when it lives elsewhere.
fn on<'a>(op: &str, device: &GpuDevice, s: &'a dyn BackendStorage) -> Result<&'a GpuStorage> {
    match s.as_any().downcast_ref::<GpuStorage>() {
        Some(g) if g.gpu().same(device) => Ok(g),
        _ => Err(Error::op(
            "ptx",
            format!("{op}: operands on different devices: {} and {}", device.device(), s.device()),
        )),
    }
}

/// The prologue of a fused op's accelerator body: `device` must be a `cuda` or `interp`
/// device and every input and output must live on it; returns the device and the operands
/// (outputs as operands too: a kernel writes through their addresses).
#[allow(clippy::type_complexity)]
pub fn operands<'a>(
    op: &str,
    device: &'a dyn AccelDevice,
    ins: &[DevIn<'a>],
    outs: &'a [DevOut<'_>],
) -> Result<(&'a GpuDevice, Vec<Operand<'a>>, Vec<Operand<'a>>)> {
    let gpu = GpuDevice::of(op, device)?;
    let ins = ins
        .iter()
        .map(|d| Ok(Operand::new(on(op, gpu, d.storage)?, d.layout)))
        .collect::<Result<_>>()?;
    let outs = outs
        .iter()
        .map(|d| Ok(Operand::new(on(op, gpu, &*d.storage)?, d.layout)))
        .collect::<Result<_>>()?;
    Ok((gpu, ins, outs))
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
        Ok(Arc::new(s))
    }
    fn alloc(&self, n: usize, dtype: DType) -> Result<Box<dyn BackendStorage>> {
        Ok(Box::new(self.storage(dtype, n)?))
    }
    fn full(&self, value: f64, n: usize, dtype: DType) -> Result<Storage> {
        let s = self.storage(dtype, n)?;
        ops::fill::fill(&s, value)?;
        Ok(Arc::new(s))
    }
    fn arange(&self, start: i64, n: usize, dtype: DType) -> Result<Storage> {
        let s = self.storage(dtype, n)?;
        ops::fill::arange(&s, start)?;
        Ok(Arc::new(s))
    }
    fn synchronize(&self) -> Result<()> {
        self.backend().synchronize()
    }
}

impl GpuStorage {
    fn arc(self) -> Storage {
        Arc::new(self)
    }
    /// The storage of an operand of an op on this device; an error when it lives elsewhere.
    fn other<'a>(&self, op: &str, s: &'a dyn BackendStorage) -> Result<&'a GpuStorage> {
        on(op, self.gpu(), s)
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
        self.gpu().device()
    }
    fn dtype(&self) -> DType {
        self.dtype()
    }
    fn len(&self) -> usize {
        self.len()
    }
    fn host(&self) -> Option<&CpuStorage> {
        None
    }
    fn host_mut(&mut self) -> Option<&mut CpuStorage> {
        None
    }
    fn to_cpu(&self, layout: &Layout) -> Result<CpuStorage> {
        // A dense view is read where it lies; any other is made contiguous on the device first.
        let size = self.dtype().size_in_bytes();
        let (c, start) = if layout.is_contiguous() {
            ops::operand::check_view("download", "view", self, layout)?;
            (self.clone(), layout.offset() * size)
        } else {
            (ops::copy::contiguous(self, layout)?, 0)
        };
        self.gpu().log.record(Direction::Download, self.dtype(), layout.numel());
        let mut bytes = vec![0u8; layout.numel() * size];
        if !bytes.is_empty() {
            self.gpu().backend().dtoh(c.addr() + start as u64, &mut bytes)?;
        }
        CpuStorage::from_bytes(&bytes, c.dtype())
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
