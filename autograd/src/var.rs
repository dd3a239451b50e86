//! Variables and the recorded graph. A [`Var`] is a tensor value plus, when it was computed
//! from something that needs gradients, the [`Node`] that made it. Nodes hold their inputs
//! (so the graph lives exactly as long as the outputs that reach it) and an op implementing
//! [`Backward`] with whatever it saved from the forward pass.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tensor::{Result, Tensor};

/// The backward rule of one op: from the gradients of its outputs (`None` where nothing
/// flowed back) to the gradients of its inputs. `needs[i]` says whether input `i` wants a
/// gradient (a frozen weight or data does not): a rule computes only those, and returns
/// `None` for the others. Implement it to add a fused op from another crate (see
/// [`Var::from_op`]).
pub trait Backward: Send + Sync {
    fn name(&self) -> &'static str;
    fn backward(
        &self,
        grad_outputs: &[Option<Tensor>],
        needs: &[bool],
    ) -> Result<Vec<Option<Tensor>>>;
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);
static LIVE_NODES: AtomicUsize = AtomicUsize::new(0);

/// How many graph nodes exist right now (process-wide): a training loop that frees its
/// graphs keeps this flat.
pub fn live_nodes() -> usize {
    LIVE_NODES.load(Ordering::SeqCst)
}

pub(crate) fn fresh_id() -> u64 {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

pub(crate) struct Node {
    pub(crate) id: u64,
    /// Taken out (and the saved tensors freed) when backward runs through the node.
    pub(crate) op: Mutex<Option<Box<dyn Backward>>>,
    pub(crate) name: &'static str,
    pub(crate) inputs: Vec<Var>,
    pub(crate) outputs: Vec<u64>,
}

impl Drop for Node {
    fn drop(&mut self) {
        LIVE_NODES.fetch_sub(1, Ordering::SeqCst);
    }
}

pub(crate) type GradSlot = Arc<Mutex<Option<Tensor>>>;

pub(crate) struct VarInner {
    pub(crate) id: u64,
    pub(crate) value: Tensor,
    pub(crate) node: Option<Arc<Node>>,
    pub(crate) requires_grad: bool,
    /// Leaves made by a [`crate::Param`] accumulate their gradient here.
    pub(crate) slot: Option<GradSlot>,
}

/// A value in a computation that may be differentiated.
#[derive(Clone)]
pub struct Var(pub(crate) Arc<VarInner>);

thread_local! {
    static GRAD_ENABLED: Cell<bool> = const { Cell::new(true) };
}

/// Whether ops on this thread record the graph.
pub fn grad_enabled() -> bool {
    GRAD_ENABLED.with(|g| g.get())
}

/// While alive, ops on this thread record nothing (inference, evaluation).
pub struct NoGradGuard {
    prev: bool,
}
impl NoGradGuard {
    pub fn new() -> NoGradGuard {
        NoGradGuard { prev: GRAD_ENABLED.with(|g| g.replace(false)) }
    }
}
impl Default for NoGradGuard {
    fn default() -> Self {
        Self::new()
    }
}
impl Drop for NoGradGuard {
    fn drop(&mut self) {
        GRAD_ENABLED.with(|g| g.set(self.prev));
    }
}

/// Runs `f` without recording a graph.
pub fn no_grad<R>(f: impl FnOnce() -> R) -> R {
    let _g = NoGradGuard::new();
    f()
}

impl Var {
    /// A value that needs no gradient (data, masks, a teacher's outputs).
    pub fn constant(value: Tensor) -> Var {
        Var(Arc::new(VarInner {
            id: fresh_id(),
            value,
            node: None,
            requires_grad: false,
            slot: None,
        }))
    }
    /// A leaf whose gradient [`crate::backward`] reports (gradcheck inputs, probes).
    pub fn leaf(value: Tensor) -> Var {
        Var(Arc::new(VarInner {
            id: fresh_id(),
            value,
            node: None,
            requires_grad: true,
            slot: None,
        }))
    }
    pub(crate) fn leaf_with_slot(value: Tensor, slot: GradSlot) -> Var {
        Var(Arc::new(VarInner {
            id: fresh_id(),
            value,
            node: None,
            requires_grad: true,
            slot: Some(slot),
        }))
    }

    /// Records an op: `outputs` were computed from `inputs` by `op`. When gradients are off
    /// or no input needs one, the outputs are constants and `op` is dropped at once.
    pub fn from_op(op: impl Backward + 'static, inputs: &[&Var], outputs: Vec<Tensor>) -> Vec<Var> {
        let track = grad_enabled() && inputs.iter().any(|v| v.requires_grad());
        if !track {
            return outputs.into_iter().map(Var::constant).collect();
        }
        let ids: Vec<u64> = outputs.iter().map(|_| fresh_id()).collect();
        LIVE_NODES.fetch_add(1, Ordering::SeqCst);
        let node = Arc::new(Node {
            id: fresh_id(),
            name: op.name(),
            op: Mutex::new(Some(Box::new(op))),
            inputs: inputs.iter().map(|v| (*v).clone()).collect(),
            outputs: ids.clone(),
        });
        outputs
            .into_iter()
            .zip(ids)
            .map(|(value, id)| {
                Var(Arc::new(VarInner {
                    id,
                    value,
                    node: Some(node.clone()),
                    requires_grad: true,
                    slot: None,
                }))
            })
            .collect()
    }
    /// [`Var::from_op`] for a single output.
    pub fn from_op1(op: impl Backward + 'static, inputs: &[&Var], output: Tensor) -> Var {
        Var::from_op(op, inputs, vec![output]).pop().expect("one output")
    }

    pub fn value(&self) -> &Tensor {
        &self.0.value
    }
    /// The value, mutably, when this is the only handle to the variable.
    pub(crate) fn value_mut(&mut self) -> Option<&mut Tensor> {
        Arc::get_mut(&mut self.0).map(|inner| &mut inner.value)
    }
    pub fn id(&self) -> u64 {
        self.0.id
    }
    pub fn requires_grad(&self) -> bool {
        self.0.requires_grad
    }
    pub fn is_leaf(&self) -> bool {
        self.0.node.is_none()
    }
    /// The same value cut off from the graph.
    pub fn detach(&self) -> Var {
        Var::constant(self.0.value.clone())
    }
    /// Name of the op that made this value, if any.
    pub fn op_name(&self) -> Option<&'static str> {
        self.0.node.as_ref().map(|n| n.name)
    }
    pub fn dims(&self) -> &[usize] {
        self.0.value.dims()
    }
    pub fn rank(&self) -> usize {
        self.0.value.rank()
    }
    pub fn dtype(&self) -> tensor::DType {
        self.0.value.dtype()
    }
    pub fn dim(&self, d: usize) -> Result<usize> {
        self.0.value.dim(d)
    }
    pub fn to_scalar(&self) -> Result<f64> {
        self.0.value.to_scalar()
    }
}

impl std::fmt::Debug for Var {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Var#{}({:?}, grad={}, op={:?})",
            self.0.id,
            self.0.value,
            self.0.requires_grad,
            self.op_name()
        )
    }
}

impl From<Tensor> for Var {
    fn from(t: Tensor) -> Var {
        Var::constant(t)
    }
}
