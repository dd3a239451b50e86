//! Fused ops defined outside this crate (the role candle's `CustomOp` plays): conv1d, gated
//! linear attention, blocked softmax attention, RMSNorm, RoPE, SwiGLU, the losses, the AdamW
//! update. A fused op is one type with a CPU body and an accelerator body over (storage,
//! layout) inputs; [`Tensor::apply_op`] checks that every operand is on one device and runs
//! the body of that device, writing into outputs it allocates there (or, for
//! [`Tensor::apply_op_inplace`], into tensors the caller owns: decoding states).
//!
//! Outputs are written, never read, by a body that makes them (a fresh output's contents are
//! unspecified on an accelerator); an in-place output is read and written.

use crate::backend::{AccelDevice, BackendStorage, Device, Storage};
use crate::host::CpuStorage;
use crate::{bail, DType, Elem, Error, Layout, Result, Shape, Tensor};
use std::borrow::Cow;

/// An input of a CPU body: host memory seen through a layout.
#[derive(Clone, Copy)]
pub struct HostIn<'a> {
    pub data: &'a CpuStorage,
    pub layout: &'a Layout,
}

/// An output of a CPU body: host memory to write through a layout.
pub struct HostOut<'a> {
    pub data: &'a mut CpuStorage,
    pub layout: &'a Layout,
}

/// An input of an accelerator body.
#[derive(Clone, Copy)]
pub struct DevIn<'a> {
    pub storage: &'a dyn BackendStorage,
    pub layout: &'a Layout,
}

/// An output of an accelerator body.
pub struct DevOut<'a> {
    pub storage: &'a mut dyn BackendStorage,
    pub layout: &'a Layout,
}

/// A fused op: one type, a CPU body and an accelerator body (which launches the kernels
/// named in the op's file).
pub trait CustomOp: Send + Sync {
    /// The op's name, in errors.
    fn name(&self) -> &'static str;
    /// Computes on host memory.
    fn cpu(&self, ins: &[HostIn<'_>], outs: &mut [HostOut<'_>]) -> Result<()>;
    /// Computes on an accelerator's memory (kernel launches; no transfers).
    fn accel(
        &self,
        device: &dyn AccelDevice,
        ins: &[DevIn<'_>],
        outs: &mut [DevOut<'_>],
    ) -> Result<()>;
}

impl<'a> HostIn<'a> {
    pub fn dims(&self) -> &[usize] {
        self.layout.dims()
    }
    pub fn dtype(&self) -> DType {
        self.data.dtype()
    }
    /// The elements in logical (row-major) order as `T`, borrowed when the storage already
    /// is `T` and the layout contiguous, converted otherwise. For floats read in their
    /// compute type (`values::<f32>()` of bf16 storage) and for ids.
    pub fn values<T: Elem>(&self) -> Result<Cow<'a, [T]>> {
        if self.layout.numel() == 0 {
            return Ok(Cow::Owned(vec![]));
        }
        if let Some(v) = T::slice(self.data) {
            if self.layout.is_contiguous() {
                let o = self.layout.offset();
                return Ok(Cow::Borrowed(&v[o..o + self.layout.numel()]));
            }
        }
        let c = self.data.h_cast(self.layout, T::DTYPE);
        Ok(Cow::Owned(
            T::slice(&c).ok_or_else(|| Error::op("custom op", "cast gave another dtype"))?.to_vec(),
        ))
    }
}

impl HostOut<'_> {
    pub fn dims(&self) -> &[usize] {
        self.layout.dims()
    }
    pub fn dtype(&self) -> DType {
        self.data.dtype()
    }
    /// The current contents, as [`HostIn::values`] reads them (for in-place outputs, which
    /// are read before they are written).
    pub fn values<T: Elem>(&self) -> Result<Vec<T>> {
        Ok(HostIn { data: &*self.data, layout: self.layout }.values::<T>()?.into_owned())
    }
    /// The output's elements as a mutable slice of its own element type; the layout must be
    /// contiguous (fresh outputs always are).
    pub fn slice_mut<T: Elem>(&mut self) -> Result<&mut [T]> {
        if !self.layout.is_contiguous() {
            bail!("custom op", "output layout {:?} is not contiguous", self.layout)
        }
        let (o, n, dt) = (self.layout.offset(), self.layout.numel(), self.data.dtype());
        let o = if n == 0 { 0 } else { o };
        let v = T::slice_mut(self.data).ok_or_else(|| {
            Error::op("custom op", format!("output is {dt}, the body wrote {}", T::DTYPE))
        })?;
        Ok(&mut v[o..o + n])
    }
    /// Writes values given in a compute type (f32 or f64), rounding once to the output's
    /// dtype.
    pub fn write<C: crate::Real>(&mut self, values: &[C]) -> Result<()> {
        fn go<T: Elem, C: crate::Real>(out: &mut HostOut, values: &[C]) -> Result<()> {
            let s = out.slice_mut::<T>()?;
            if s.len() != values.len() {
                bail!("custom op", "{} values for an output of {} elements", values.len(), s.len())
            }
            s.iter_mut().zip(values).for_each(|(o, v)| *o = T::from_f64_as(v.to_f64()));
            Ok(())
        }
        match self.dtype() {
            DType::F64 => go::<f64, C>(self, values),
            DType::F32 => go::<f32, C>(self, values),
            DType::BF16 => go::<half::bf16, C>(self, values),
            DType::F16 => go::<half::f16, C>(self, values),
            dt @ (DType::I64 | DType::U8) => {
                bail!("custom op", "cannot write float values into a {dt} output")
            }
        }
    }
}

/// The error an accelerator body gives on a device it has no kernel for.
pub fn no_kernel(op: &'static str, device: &dyn AccelDevice) -> Error {
    Error::op(op, format!("no kernel for this op on the {} device", device.name()))
}

/// The one device every operand is on, or an error naming the op and both devices.
fn common_device(op: &dyn CustomOp, tensors: impl IntoIterator<Item = Device>) -> Result<Device> {
    let mut it = tensors.into_iter();
    let Some(first) = it.next() else { bail!(op.name(), "a custom op needs at least one operand") };
    for d in it {
        if !d.same(&first) {
            bail!(op.name(), "operands on different devices: {first} and {d}")
        }
    }
    Ok(first)
}

impl Tensor {
    /// Runs `op` on `inputs` (all on one device), into new contiguous outputs of the given
    /// shapes and dtypes on that device.
    pub fn apply_op(
        op: &dyn CustomOp,
        inputs: &[&Tensor],
        outputs: &[(Shape, DType)],
    ) -> Result<Vec<Tensor>> {
        let device = common_device(op, inputs.iter().map(|t| t.device()))?;
        let layouts: Vec<Layout> =
            outputs.iter().map(|(s, _)| Layout::contiguous(s.clone())).collect();
        let mut data: Vec<Box<dyn BackendStorage>> = outputs
            .iter()
            .map(|(s, dt)| match &device {
                Device::Cpu => Ok(Box::new(CpuStorage::full(0.0, s.numel(), *dt)) as _),
                Device::Accel(dev) => dev.alloc(s.numel(), *dt),
            })
            .collect::<Result<_>>()?;
        let mut outs: Vec<(&mut dyn BackendStorage, &Layout)> =
            data.iter_mut().map(|d| &mut **d).zip(&layouts).collect();
        run(op, &device, inputs, &mut outs)?;
        data.into_iter()
            .zip(layouts)
            .map(|(d, l)| Tensor::from_storage(Storage::from(d), l))
            .collect()
    }

    /// Runs `op` on `inputs`, writing into `outputs` in place (each read and written through
    /// its layout). An output whose storage is shared (a view or clone of it is alive) is
    /// copied first, so no other tensor sees the write.
    pub fn apply_op_inplace(
        op: &dyn CustomOp,
        inputs: &[&Tensor],
        outputs: &mut [&mut Tensor],
    ) -> Result<()> {
        let device = common_device(
            op,
            inputs.iter().map(|t| t.device()).chain(outputs.iter().map(|t| t.device())),
        )?;
        for o in outputs.iter_mut() {
            o.make_storage_unique()?;
        }
        let layouts: Vec<Layout> = outputs.iter().map(|t| t.layout().clone()).collect();
        let mut outs: Vec<(&mut dyn BackendStorage, &Layout)> = outputs
            .iter_mut()
            .map(|t| t.storage_mut().expect("made unique above"))
            .zip(&layouts)
            .collect();
        run(op, &device, inputs, &mut outs)
    }
}

/// Runs the body of `op` that fits `device`: the CPU body where the host addresses the
/// memory (the CPU's, and the checking device's, in place), the accelerator body elsewhere.
fn run(
    op: &dyn CustomOp,
    device: &Device,
    inputs: &[&Tensor],
    outs: &mut [(&mut dyn BackendStorage, &Layout)],
) -> Result<()> {
    let host: Option<Vec<HostIn>> = inputs
        .iter()
        .map(|t| t.storage().host().map(|data| HostIn { data, layout: t.layout() }))
        .collect();
    match (host, device) {
        (Some(ins), _) => {
            let mut hout = Vec::with_capacity(outs.len());
            for (s, layout) in outs.iter_mut() {
                let Some(data) = s.host_mut() else {
                    bail!(
                        op.name(),
                        "an output is on {} where host memory was expected",
                        s.device()
                    )
                };
                hout.push(HostOut { data, layout });
            }
            op.cpu(&ins, &mut hout)
        }
        (None, Device::Accel(dev)) => {
            let ins: Vec<DevIn> = inputs
                .iter()
                .map(|t| DevIn { storage: &**t.storage(), layout: t.layout() })
                .collect();
            let mut outs: Vec<DevOut> =
                outs.iter_mut().map(|(s, layout)| DevOut { storage: &mut **s, layout }).collect();
            op.accel(&**dev, &ins, &mut outs)
        }
        (None, Device::Cpu) => bail!(op.name(), "an operand on the CPU is not host memory"),
    }
}
