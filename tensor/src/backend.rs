//! The device boundary. Every primitive op a tensor can run is a method of
//! [`BackendStorage`], with no default bodies: the CPU implements all of them (`cpu/`), an
//! accelerator (the `ptx` crate's CUDA device and PTX interpreter, or the checking device in
//! `check_device`) implements the same trait for its own storage, so it slots in beside the
//! CPU without touching the ops or the autograd rules built on top. A backend that forgets an
//! op does not compile. Fused ops defined in other crates cross the boundary as
//! [`crate::CustomOp`]s (`custom_op`, above this file): their CPU bodies run on any storage
//! the host addresses ([`BackendStorage::host`]), their accelerator bodies on the rest.

use crate::host::CpuStorage;
use crate::transfer::TransferLog;
use crate::{DType, Layout, Result};
use std::any::Any;
use std::fmt::Debug;
use std::sync::Arc;

/// Shared, immutable storage; views share it, ops make new storage. (In-place writes go
/// through [`crate::Tensor::apply_op_inplace`] and [`crate::Tensor::slice_assign`], which
/// copy first when the storage is shared, so a view never changes under its holder.)
pub type Storage = Arc<dyn BackendStorage>;

/// Where a tensor's storage lives.
#[derive(Clone, Debug)]
pub enum Device {
    Cpu,
    /// An accelerator: the `ptx` crate's CUDA device or PTX interpreter, or the checking
    /// device ([`crate::check_device`]).
    Accel(Arc<dyn AccelDevice>),
}

impl Device {
    pub fn is_cpu(&self) -> bool {
        matches!(self, Device::Cpu)
    }
    pub fn same(&self, other: &Device) -> bool {
        match (self, other) {
            (Device::Cpu, Device::Cpu) => true,
            (Device::Accel(a), Device::Accel(b)) => {
                a.ordinal() == b.ordinal() && a.name() == b.name()
            }
            (Device::Cpu, Device::Accel(_)) | (Device::Accel(_), Device::Cpu) => false,
        }
    }
    /// The transfers this device logged (see [`AccelDevice::transfer_log`]); none on the CPU.
    pub fn transfer_log(&self) -> Option<&TransferLog> {
        match self {
            Device::Cpu => None,
            Device::Accel(a) => a.transfer_log(),
        }
    }
    /// Waits until every queued op of this device has finished (a no-op on the CPU).
    pub fn synchronize(&self) -> Result<()> {
        match self {
            Device::Cpu => Ok(()),
            Device::Accel(a) => a.synchronize(),
        }
    }
}

impl std::fmt::Display for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Device::Cpu => f.write_str("cpu"),
            Device::Accel(a) => write!(f, "{}:{}", a.name(), a.ordinal()),
        }
    }
}

/// An accelerator: where its memory comes from and how host data gets there. Its storage
/// implements [`BackendStorage`] for the primitives.
pub trait AccelDevice: Send + Sync + Debug {
    /// The kind, as users name it on the command line (`cuda`, `interp`, `check`).
    fn name(&self) -> &str;
    fn ordinal(&self) -> usize;
    fn as_any(&self) -> &dyn Any;
    /// Copies host data to the device: a transfer.
    fn upload(&self, data: &CpuStorage) -> Result<Storage>;
    /// New storage of `n` elements of `dtype` whose contents are unspecified: every op that
    /// asks for it writes all of it.
    fn alloc(&self, n: usize, dtype: DType) -> Result<Box<dyn BackendStorage>>;
    /// `n` copies of `value` in `dtype`, made on the device (no transfer).
    fn full(&self, value: f64, n: usize, dtype: DType) -> Result<Storage>;
    /// `start, start + 1, ..., start + n - 1` in `dtype`, made on the device.
    fn arange(&self, start: i64, n: usize, dtype: DType) -> Result<Storage>;
    /// Waits for every queued op to finish.
    fn synchronize(&self) -> Result<()>;
    /// The record of every transfer to and from this device, where it keeps one (the
    /// checking, GPU and interpreter devices do).
    fn transfer_log(&self) -> Option<&TransferLog> {
        None
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum UnaryOp {
    Neg,
    Exp,
    Log,
    Sqrt,
    Rsqrt,
    Recip,
    Sqr,
    Abs,
    Relu,
    Silu,
    Sigmoid,
    LogSigmoid,
    Softplus,
    Tanh,
    /// `x` for x > 0, `alpha * (exp(x) - 1)` otherwise.
    Elu(f64),
    Powf(f64),
    /// `x * mul + add`.
    Affine {
        mul: f64,
        add: f64,
    },
    Clamp {
        min: f64,
        max: f64,
    },
}

/// The element-wise ops of two operands (the one list: autograd adds each one's derivative).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    Max,
    Min,
    Pow,
}

impl BinaryOp {
    /// The name of the tensor method that runs it (for error messages).
    pub fn name(self) -> &'static str {
        match self {
            BinaryOp::Add => "add",
            BinaryOp::Sub => "sub",
            BinaryOp::Mul => "mul",
            BinaryOp::Div => "div",
            BinaryOp::Max => "maximum",
            BinaryOp::Min => "minimum",
            BinaryOp::Pow => "pow",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReduceOp {
    Sum,
    Max,
    Min,
    ArgMax,
    ArgMin,
    LogSumExp,
}

/// The primitive ops, each over strided inputs, each returning new contiguous storage.
/// Binary inputs arrive already broadcast to the output shape (stride 0 where stretched).
pub trait BackendStorage: Send + Sync + Debug + 'static {
    fn as_any(&self) -> &dyn Any;
    fn as_any_mut(&mut self) -> &mut dyn Any;
    fn device(&self) -> Device;
    fn dtype(&self) -> DType;
    /// Elements held (not bytes).
    fn len(&self) -> usize;
    /// The host memory behind this storage, where the host addresses it directly (the CPU's
    /// and the checking device's): fused ops run their CPU bodies on it, in place. `None`
    /// for device memory (fused ops run their accelerator bodies there).
    fn host(&self) -> Option<&CpuStorage>;
    fn host_mut(&mut self) -> Option<&mut CpuStorage>;
    /// The elements of `layout`, contiguous, on the host.
    fn to_cpu(&self, layout: &Layout) -> Result<CpuStorage>;
    fn contiguous(&self, layout: &Layout) -> Result<Storage>;
    fn cast(&self, layout: &Layout, dtype: DType) -> Result<Storage>;
    fn unary(&self, layout: &Layout, op: UnaryOp) -> Result<Storage>;
    fn binary(
        &self,
        layout: &Layout,
        rhs: &dyn BackendStorage,
        rhs_layout: &Layout,
        op: BinaryOp,
    ) -> Result<Storage>;
    /// Comparison; the result is U8 (1 where true).
    fn cmp(
        &self,
        layout: &Layout,
        rhs: &dyn BackendStorage,
        rhs_layout: &Layout,
        op: CmpOp,
    ) -> Result<Storage>;
    /// `self` is the condition (non-zero = true).
    fn where_cond(
        &self,
        layout: &Layout,
        on_true: &dyn BackendStorage,
        true_layout: &Layout,
        on_false: &dyn BackendStorage,
        false_layout: &Layout,
    ) -> Result<Storage>;
    /// Reduces `dim`; the output has the input's shape with `dim` of size 1.
    /// ArgMax/ArgMin give I64.
    fn reduce(&self, layout: &Layout, dim: usize, op: ReduceOp) -> Result<Storage>;
    fn softmax(&self, layout: &Layout, dim: usize, log: bool) -> Result<Storage>;
    /// Inclusive cumulative sum along `dim` (from the end when `reverse`).
    fn cumsum(&self, layout: &Layout, dim: usize, reverse: bool) -> Result<Storage>;
    /// `[..., m, k] @ [..., k, n]`, batch dims already equal (broadcast with stride 0).
    fn matmul(
        &self,
        layout: &Layout,
        rhs: &dyn BackendStorage,
        rhs_layout: &Layout,
    ) -> Result<Storage>;
    /// Rows `ids` (I64, 1-D) of `dim`.
    fn index_select(
        &self,
        layout: &Layout,
        ids: &dyn BackendStorage,
        ids_layout: &Layout,
        dim: usize,
    ) -> Result<Storage>;
    /// `out[i][j][k] = self[i][index[i][j][k]][k]` for dim = 1 (torch.gather).
    fn gather(
        &self,
        layout: &Layout,
        index: &dyn BackendStorage,
        index_layout: &Layout,
        dim: usize,
    ) -> Result<Storage>;
    /// A copy of `self` with `src` added at `index` along `dim` (torch.scatter_add).
    fn scatter_add(
        &self,
        layout: &Layout,
        index: &dyn BackendStorage,
        index_layout: &Layout,
        src: &dyn BackendStorage,
        src_layout: &Layout,
        dim: usize,
    ) -> Result<Storage>;
    /// A copy of `self` with slice `i` of `src` added to slice `ids[i]` along `dim`
    /// (torch.index_add).
    fn index_add(
        &self,
        layout: &Layout,
        ids: &dyn BackendStorage,
        ids_layout: &Layout,
        src: &dyn BackendStorage,
        src_layout: &Layout,
        dim: usize,
    ) -> Result<Storage>;
    /// `self` followed by `rest` along `dim`; all of one dtype, shapes equal but for `dim`.
    fn concat(
        &self,
        layout: &Layout,
        rest: &[(&dyn BackendStorage, &Layout)],
        dim: usize,
    ) -> Result<Storage>;
    /// Writes the elements of `src` (seen through `src_layout`) into the places `dst` picks
    /// out of `self`, in place; shapes equal, dtypes equal.
    fn copy_into(
        &mut self,
        dst: &Layout,
        src: &dyn BackendStorage,
        src_layout: &Layout,
    ) -> Result<()>;
}
