//! The backward pass: nodes in reverse topological order, each op's rule applied once,
//! gradients summed where a value was used more than once. Running through a node frees
//! what it saved; a second backward through the same graph is an error, as in PyTorch.

use crate::var::{Node, Var};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use tensor::{bail, DType, Error, Result, Tensor};

/// Gradients of the leaves reached by a backward pass, by leaf.
#[derive(Default, Debug)]
pub struct Gradients {
    map: HashMap<u64, Tensor>,
}

impl Gradients {
    pub fn get(&self, v: &Var) -> Option<&Tensor> {
        self.map.get(&v.id())
    }
    pub fn len(&self) -> usize {
        self.map.len()
    }
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

/// The dtype a gradient of a `dtype` value is kept in: its own, except that bf16/f16
/// values get f32 gradients (rounding a gradient to 8 bits of mantissa loses too much; the
/// optimizer rounds once, when it writes the parameter).
pub fn grad_dtype(dtype: DType) -> DType {
    match dtype {
        DType::BF16 | DType::F16 => DType::F32,
        DType::F32 | DType::F64 | DType::I64 | DType::U8 => dtype,
    }
}

fn add_grad(map: &mut HashMap<u64, Tensor>, id: u64, g: Tensor) -> Result<()> {
    match map.remove(&id) {
        Some(prev) => {
            map.insert(id, prev.add(&g)?);
        }
        None => {
            map.insert(id, g);
        }
    }
    Ok(())
}

static GRADIENT_MASKS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

/// Whether backward rules are told which inputs need gradients (on by default). Turning it
/// off makes every rule compute every gradient (frozen weights' included, then dropped):
/// how `lawcat bench step` measures what the masks save, in one run.
pub fn set_gradient_masks(on: bool) {
    GRADIENT_MASKS.store(on, std::sync::atomic::Ordering::Relaxed);
}

pub fn gradient_masks() -> bool {
    GRADIENT_MASKS.load(std::sync::atomic::Ordering::Relaxed)
}

/// Every node reachable from `roots`, each after all nodes that consume its outputs.
fn reverse_topo(roots: &[&Var]) -> Vec<Arc<Node>> {
    let mut order = Vec::new();
    let mut seen = HashSet::new();
    // Iterative post-order DFS: (node, next input to visit).
    let mut stack: Vec<(Arc<Node>, usize)> = Vec::new();
    for r in roots {
        if let Some(n) = &r.0.node {
            if seen.insert(n.id) {
                stack.push((n.clone(), 0));
            }
        }
        while let Some((node, i)) = stack.pop() {
            if i < node.inputs.len() {
                let child = node.inputs[i].0.node.clone();
                stack.push((node, i + 1));
                if let Some(c) = child {
                    if seen.insert(c.id) {
                        stack.push((c, 0));
                    }
                }
            } else {
                order.push(node);
            }
        }
    }
    order.reverse();
    order
}

/// Backpropagates `cotangent` of every root; returns the gradients of the leaves reached,
/// and adds them into the gradient slots of parameters.
pub fn backward_multi(roots: &[(&Var, Tensor)]) -> Result<Gradients> {
    let mut grads: HashMap<u64, Tensor> = HashMap::new();
    for (v, g) in roots {
        if !v.requires_grad() {
            bail!(
                "backward",
                "the output does not require a gradient (no parameter or leaf in \
                its graph, or built under no_grad)"
            )
        }
        if g.dims() != v.dims() {
            bail!(
                "backward",
                "gradient shape {:?} differs from output shape {:?}",
                g.dims(),
                v.dims()
            )
        }
        add_grad(&mut grads, v.id(), g.to_dtype(grad_dtype(v.dtype()))?)?;
    }
    let vars: Vec<&Var> = roots.iter().map(|(v, _)| *v).collect();
    let mut leaves: HashMap<u64, Var> =
        roots.iter().filter(|(v, _)| v.is_leaf()).map(|(v, _)| (v.id(), (*v).clone())).collect();
    for node in reverse_topo(&vars) {
        let outs: Vec<Option<Tensor>> = node.outputs.iter().map(|id| grads.remove(id)).collect();
        let op =
            node.op.lock().map_err(|_| Error::op("backward", "a graph lock was poisoned"))?.take();
        let Some(op) = op else {
            bail!(
                "backward",
                "op {} was already run backward: its graph is freed after one backward pass",
                node.name
            )
        };
        if outs.iter().all(Option::is_none) {
            continue;
        }
        let needs: Vec<bool> =
            node.inputs.iter().map(|v| v.requires_grad() || !gradient_masks()).collect();
        let ins = op.backward(&outs, &needs)?;
        drop(op);
        if ins.len() != node.inputs.len() {
            bail!(
                "backward",
                "op {} returned {} gradients for {} inputs",
                node.name,
                ins.len(),
                node.inputs.len()
            )
        }
        for (input, g) in node.inputs.iter().zip(ins) {
            let Some(g) = g else { continue };
            if !input.requires_grad() {
                continue;
            }
            if g.dims() != input.dims() {
                bail!(
                    "backward",
                    "op {} gave a gradient of shape {:?} for an input of shape {:?}",
                    node.name,
                    g.dims(),
                    input.dims()
                )
            }
            let g = g.to_dtype(grad_dtype(input.dtype()))?;
            add_grad(&mut grads, input.id(), g)?;
            if input.is_leaf() {
                leaves.entry(input.id()).or_insert_with(|| input.clone());
            }
        }
    }
    let mut out = Gradients::default();
    for (id, leaf) in leaves {
        if let Some(g) = grads.remove(&id) {
            if let Some(slot) = &leaf.0.slot {
                let mut s = slot
                    .lock()
                    .map_err(|_| Error::op("backward", "a gradient slot lock was poisoned"))?;
                *s = Some(match s.take() {
                    Some(prev) => prev.add(&g)?,
                    None => g.clone(),
                });
            }
            out.map.insert(id, g);
        }
    }
    Ok(out)
}

impl Var {
    /// Backpropagates from a one-element output (a loss), seeding it with 1.
    pub fn backward(&self) -> Result<Gradients> {
        if self.value().numel() != 1 {
            bail!(
                "backward",
                "needs a one-element output, got shape {:?}; use backward_with for others",
                self.dims()
            )
        }
        let one = self.value().ones_like()?;
        backward_multi(&[(self, one)])
    }
    /// Backpropagates a given gradient of this output.
    pub fn backward_with(&self, grad: Tensor) -> Result<Gradients> {
        backward_multi(&[(self, grad)])
    }
}
