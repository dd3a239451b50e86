//! The one skeleton of every fused op (RMSNorm, RoPE, SwiGLU, the losses, the AdamW update,
//! blocked attention, token choice here; conv1d and gated linear attention in `lawcat`).
//!
//! A fused op is one type. It implements [`Fused`]: its CPU body, written once over the
//! compute type (`T: Compute`, f32, or f64 for f64 operands), and its GPU body, which calls
//! the launchers of its kernels. A differentiable one also implements [`FusedGrad`]: the
//! backward's two bodies, beside the forward's. Everything else is here, once:
//!
//! * one dtype dispatcher: the compute type is [`Fused::compute_dtype`] (by default that of
//!   the first output, which every op writes in its compute type);
//! * one device prologue (`ptx::device::operands`): the device is a GPU or the interpreter,
//!   every operand lives on it;
//! * one way to ask for only the gradients wanted: the backward bodies get one slot per
//!   forward input, `None` where no gradient is wanted, and compute only the others;
//! * the autograd node: [`apply`] runs the forward, keeps what the backward reads (the
//!   forward's inputs and its saved outputs) and, on the way back, runs the backward with
//!   the outputs' cotangents (zeros where none flowed) for the inputs that need a gradient.

use autograd::Var;
use ptx::ops::operand::Operand;
use tensor::{
    bail, AccelDevice, CustomOp, DType, DevIn, DevOut, HostIn, HostOut, Result, Shape, Tensor,
};

pub use tensor::cpu::Compute;

/// A fused op: one type, a CPU body and a GPU body.
pub trait Fused: Send + Sync + 'static {
    /// The op's name, in errors.
    fn name(&self) -> &'static str;
    /// The compute dtype of a call (f32 or f64; anything else is an error): by default that of
    /// the first output.
    fn compute_dtype(&self, _ins: &[DType], outs: &[DType]) -> DType {
        outs.first().map_or(DType::F32, |d| d.compute())
    }
    /// Computes on host memory, in the compute type `T`.
    fn cpu<T: Compute>(&self, ins: &[HostIn], outs: &mut [HostOut]) -> Result<()>;
    /// Launches the op's kernels on operands of one GPU or interpreter device.
    fn gpu(&self, ins: &[Operand], outs: &[Operand]) -> Result<()>;
}

/// The backward of a differentiable fused op. Its inputs are the forward's inputs, then the
/// forward's saved outputs (those after the visible ones, see [`apply`]), then the cotangents
/// of the visible outputs (in the compute dtype); `grads` has one slot per forward input,
/// `None` where no gradient is wanted. A body writes every slot it is given, nothing else.
pub trait FusedGrad: Fused {
    fn cpu_backward<T: Compute>(&self, ins: &[HostIn], grads: &mut [Option<HostOut>])
        -> Result<()>;
    fn gpu_backward(&self, ins: &[Operand], grads: &[Option<Operand>]) -> Result<()>;
}

/// The compute dtype's body: `$body` with `$t` the compute type.
macro_rules! dispatch {
    ($name:expr, $dtype:expr, $t:ident => $body:expr) => {
        match $dtype {
            DType::F32 => {
                type $t = f32;
                $body
            }
            DType::F64 => {
                type $t = f64;
                $body
            }
            dt @ (DType::BF16 | DType::F16 | DType::I64 | DType::U8) => {
                bail!($name, "computes in f32 or f64, not {dt}")
            }
        }
    };
}

fn host_dtypes(ins: &[HostIn], outs: &[HostOut]) -> (Vec<DType>, Vec<DType>) {
    (ins.iter().map(|i| i.dtype()).collect(), outs.iter().map(|o| o.dtype()).collect())
}

/// A forward as the tensor crate runs it.
struct Forward<'a, F>(&'a F);

impl<F: Fused> CustomOp for Forward<'_, F> {
    fn name(&self) -> &'static str {
        self.0.name()
    }
    fn cpu(&self, ins: &[HostIn<'_>], outs: &mut [HostOut<'_>]) -> Result<()> {
        let (di, dout) = host_dtypes(ins, outs);
        dispatch!(self.0.name(), self.0.compute_dtype(&di, &dout), T => self.0.cpu::<T>(ins, outs))
    }
    fn accel(
        &self,
        device: &dyn AccelDevice,
        ins: &[DevIn<'_>],
        outs: &mut [DevOut<'_>],
    ) -> Result<()> {
        let (_, ins, outs) = ptx::device::operands(self.0.name(), device, ins, outs)?;
        self.0.gpu(&ins, &outs)
    }
}

/// A backward as the tensor crate runs it: its outputs are the wanted gradients, in order.
struct Backward<'a, F> {
    op: &'a F,
    want: &'a [bool],
}

/// `outs` (the wanted gradients, in order) spread over one slot per input.
fn slots<O>(
    op: &'static str,
    want: &[bool],
    outs: impl IntoIterator<Item = O>,
) -> Result<Vec<Option<O>>> {
    let mut outs = outs.into_iter();
    let slots = want.iter().map(|&w| if w { outs.next() } else { None }).collect::<Vec<_>>();
    if slots.iter().zip(want).any(|(s, w)| s.is_some() != *w) || outs.next().is_some() {
        bail!(op, "the outputs do not match the gradients asked for")
    }
    Ok(slots)
}

impl<F: FusedGrad> CustomOp for Backward<'_, F> {
    fn name(&self) -> &'static str {
        self.op.name()
    }
    fn cpu(&self, ins: &[HostIn<'_>], outs: &mut [HostOut<'_>]) -> Result<()> {
        // The gradients are written in the compute dtype.
        let cd = outs.first().map_or(DType::F32, |o| o.dtype().compute());
        let outs = outs.iter_mut().map(|o| HostOut { data: &mut *o.data, layout: o.layout });
        let mut grads = slots(self.op.name(), self.want, outs)?;
        dispatch!(self.op.name(), cd, T => self.op.cpu_backward::<T>(ins, &mut grads))
    }
    fn accel(
        &self,
        device: &dyn AccelDevice,
        ins: &[DevIn<'_>],
        outs: &mut [DevOut<'_>],
    ) -> Result<()> {
        let (_, ins, outs) = ptx::device::operands(self.op.name(), device, ins, outs)?;
        let grads = slots(self.op.name(), self.want, outs)?;
        self.op.gpu_backward(&ins, &grads)
    }
}

/// Runs `op` on `inputs` (all on one device) into new contiguous outputs of the given shapes
/// and dtypes: the body of that device.
pub fn run<F: Fused>(
    op: &F,
    inputs: &[&Tensor],
    outputs: &[(Shape, DType)],
) -> Result<Vec<Tensor>> {
    Tensor::apply_op(&Forward(op), inputs, outputs)
}

/// Runs `op` writing into `outputs` in place (decoding states, optimizer state).
pub fn run_inplace<F: Fused>(
    op: &F,
    inputs: &[&Tensor],
    outputs: &mut [&mut Tensor],
) -> Result<()> {
    Tensor::apply_op_inplace(&Forward(op), inputs, outputs)
}

/// The backward of `op` on plain tensors: `ins` as [`FusedGrad`] describes them, one flag per
/// forward input in `want`, each gradient of shape `shapes[i]` in the compute dtype `cd`.
/// Returns one slot per forward input (`None` where not wanted).
pub fn backward<F: FusedGrad>(
    op: &F,
    ins: &[&Tensor],
    want: &[bool],
    shapes: &[Shape],
    cd: DType,
) -> Result<Vec<Option<Tensor>>> {
    if want.len() != shapes.len() {
        bail!(op.name(), "{} gradient flags for {} inputs", want.len(), shapes.len())
    }
    if !want.iter().any(|&w| w) {
        return Ok(vec![None; want.len()]);
    }
    let outs: Vec<(Shape, DType)> =
        shapes.iter().zip(want).filter(|(_, w)| **w).map(|(s, _)| (s.clone(), cd)).collect();
    let got = Tensor::apply_op(&Backward { op, want }, ins, &outs)?;
    slots(op.name(), want, got)
}

/// An input of a differentiable fused op: a variable (which may want a gradient) or data
/// (targets, a teacher's logits, angle tables: never one).
#[derive(Clone, Copy)]
pub enum Input<'a> {
    Var(&'a Var),
    Data(&'a Tensor),
}

impl Input<'_> {
    fn value(&self) -> &Tensor {
        match self {
            Input::Var(v) => v.value(),
            Input::Data(t) => t,
        }
    }
}

/// The autograd node of a differentiable fused op.
struct Node<F> {
    op: F,
    /// The forward's inputs, then its saved outputs.
    saved: Vec<Tensor>,
    /// Which forward inputs are variables (in order: the node's inputs).
    vars: Vec<bool>,
    shapes: Vec<Shape>,
    /// The visible outputs' shapes (zero cotangents where none flowed back).
    visible: Vec<Shape>,
    cd: DType,
}

impl<F: FusedGrad> autograd::Backward for Node<F> {
    fn name(&self) -> &'static str {
        self.op.name()
    }
    fn backward(&self, grads: &[Option<Tensor>], needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let n_vars = self.vars.iter().filter(|v| **v).count();
        if grads.iter().all(|g| g.is_none()) {
            return Ok(vec![None; n_vars]);
        }
        let device = self.saved[0].device();
        let cots: Vec<Tensor> = grads
            .iter()
            .zip(&self.visible)
            .map(|(g, s)| match g {
                Some(g) => g.to_dtype(self.cd),
                None => Tensor::zeros(s.clone(), self.cd, &device),
            })
            .collect::<Result<_>>()?;
        let mut needs = needs.iter();
        let want: Vec<bool> =
            self.vars.iter().map(|&v| v && *needs.next().unwrap_or(&false)).collect();
        let ins: Vec<&Tensor> = self.saved.iter().chain(&cots).collect();
        let got = backward(&self.op, &ins, &want, &self.shapes, self.cd)?;
        Ok(got.into_iter().zip(&self.vars).filter(|(_, v)| **v).map(|(g, _)| g).collect())
    }
}

/// Runs the differentiable fused op `op` forward on `inputs` into outputs of the given shapes
/// and dtypes. The first `visible` outputs are its results (returned as variables, recorded
/// in the graph when an input needs a gradient); the rest are saved for the backward (a
/// norm's `1/rms`, a loss's row log-sum-exps).
pub fn apply<F: FusedGrad>(
    op: F,
    inputs: &[Input],
    outputs: &[(Shape, DType)],
    visible: usize,
) -> Result<Vec<Var>> {
    let values: Vec<&Tensor> = inputs.iter().map(|i| i.value()).collect();
    let mut outs = run(&op, &values, outputs)?;
    let saved_outs = outs.split_off(visible.min(outs.len()));
    let vars: Vec<&Var> = inputs
        .iter()
        .filter_map(|i| match i {
            Input::Var(v) => Some(*v),
            Input::Data(_) => None,
        })
        .collect();
    let in_dtypes: Vec<DType> = values.iter().map(|t| t.dtype()).collect();
    let out_dtypes: Vec<DType> = outputs.iter().map(|(_, d)| *d).collect();
    let cd = op.compute_dtype(&in_dtypes, &out_dtypes);
    let node = Node {
        saved: values.iter().map(|t| (*t).clone()).chain(saved_outs).collect(),
        vars: inputs.iter().map(|i| matches!(i, Input::Var(_))).collect(),
        shapes: values.iter().map(|t| t.shape().clone()).collect(),
        visible: outputs[..visible.min(outputs.len())].iter().map(|(s, _)| s.clone()).collect(),
        cd,
        op,
    };
    Ok(Var::from_op(node, &vars, outs))
}
