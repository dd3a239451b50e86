//! Optimizers (SGD with momentum, AdamW), gradient clipping by global norm, learning-rate
//! schedules, and saving/restoring optimizer state so a run resumes exactly.

mod adamw;
mod schedule;
mod sgd;

pub use adamw::{AdamW, AdamWUpdate};
pub use schedule::LrSchedule;
pub use sgd::Sgd;

use autograd::Param;
use std::collections::HashMap;
use std::path::Path;
use tensor::{bail, DType, Error, Result, Tensor};

/// What every optimizer does.
pub trait Optimizer {
    /// Applies one update from the gradients in the parameters' slots.
    fn step(&mut self) -> Result<()>;
    fn params(&self) -> &[Param];
    fn lr(&self) -> f64;
    fn set_lr(&mut self, lr: f64);
    /// Updates taken so far.
    fn steps(&self) -> u64;
    /// The state to save (named tensors) and its scalars (as metadata strings).
    fn state(&self) -> (Vec<(String, Tensor)>, HashMap<String, String>);
    /// Restores what [`Optimizer::state`] gave.
    fn load_state(
        &mut self,
        tensors: &HashMap<String, Tensor>,
        meta: &HashMap<String, String>,
    ) -> Result<()>;

    fn zero_grad(&self) {
        for p in self.params() {
            p.zero_grad();
        }
    }
    /// Saves the state to a safetensors file (atomically).
    fn save_state(&self, path: &Path) -> Result<()> {
        let (tensors, meta) = self.state();
        tensor::safetensors_io::save(tensors.iter().map(|(n, t)| (n.as_str(), t)), Some(meta), path)
    }
    /// Loads a state saved by [`Optimizer::save_state`].
    fn restore_state(&mut self, path: &Path) -> Result<()> {
        let f = tensor::safetensors_io::SafetensorsFile::open(path)?;
        let tensors: HashMap<String, Tensor> = f.load_all()?.into_iter().collect();
        let meta = f.metadata().clone();
        self.load_state(&tensors, &meta).map_err(|e| Error::file(path, e.to_string()))
    }
}

/// Scales all gradients so that their global L2 norm is at most `max_norm` (as PyTorch's
/// `clip_grad_norm_`: factor `max_norm / (norm + 1e-6)` when above; a norm that is not
/// finite leaves the gradients as they are). Returns the norm before clipping as an f64
/// scalar on the gradients' device: everything happens there, and reading the norm (for
/// logging, with the loss) is the caller's one host read. `None` when no parameter has a
/// gradient.
pub fn clip_grad_norm(params: &[Param], max_norm: f64) -> Result<Option<Tensor>> {
    let grads: Vec<(&Param, Tensor)> =
        params.iter().filter_map(|p| p.grad().map(|g| (p, g))).collect();
    if grads.is_empty() {
        return Ok(None);
    }
    let squares: Vec<Tensor> = grads
        .iter()
        .map(|(_, g)| g.to_dtype(DType::F64)?.sqr()?.sum_all()?.reshape(1))
        .collect::<Result<_>>()?;
    let norm = Tensor::cat(&squares.iter().collect::<Vec<_>>(), 0)?.sum_all()?.sqrt()?;
    // factor = max / (norm + 1e-6) where norm is finite and above max, 1 elsewhere
    let one = norm.ones_like()?;
    let finite = norm.sub(&norm)?.eq(&norm.zeros_like()?)?;
    let above = norm.gt(&norm.full_like(max_norm)?)?;
    let clipped = norm.full_like(max_norm)?.div(&norm.add_scalar(1e-6)?)?;
    let factor = finite.where_cond(&above.where_cond(&clipped, &one)?, &one)?;
    for (p, g) in grads {
        p.set_grad(Some(g.mul(&factor.to_dtype(g.dtype())?)?));
    }
    Ok(Some(norm))
}

/// The metadata of a saved state: the optimizer's kind, its step, and its scalars.
pub(crate) fn meta(kind: &str, step: u64, scalars: &[(&str, f64)]) -> HashMap<String, String> {
    let mut m = HashMap::from([
        ("optimizer".to_string(), kind.to_string()),
        ("step".to_string(), step.to_string()),
    ]);
    m.extend(scalars.iter().map(|(k, v)| (k.to_string(), format!("{v:e}"))));
    m
}

/// An error unless `meta` is the state of a `kind` optimizer (`name` as users know it, in
/// "not an {name} state"; `who` the caller).
pub(crate) fn check_kind(
    meta: &HashMap<String, String>,
    kind: &str,
    name: &str,
    who: &'static str,
) -> Result<()> {
    if meta.get("optimizer").map(String::as_str) != Some(kind) {
        bail!(
            who,
            "the saved state is not an {name} state (optimizer = {:?})",
            meta.get("optimizer")
        )
    }
    Ok(())
}

pub(crate) fn meta_f64(meta: &HashMap<String, String>, key: &str) -> Result<f64> {
    match meta.get(key).map(|s| s.parse::<f64>()) {
        Some(Ok(v)) => Ok(v),
        _ => bail!("optimizer state", "missing or unreadable {key:?} in the saved state"),
    }
}

/// The saved tensor `name`, checked against the shape it must have.
pub(crate) fn state_tensor(
    tensors: &HashMap<String, Tensor>,
    name: &str,
    like: &Tensor,
) -> Result<Option<Tensor>> {
    match tensors.get(name) {
        None => Ok(None),
        Some(t) if t.dims() == like.dims() => {
            Ok(Some(t.to_dtype(like.dtype())?.to_device(&like.device())?))
        }
        Some(t) => bail!(
            "optimizer state",
            "{name} has shape {:?}, the parameter has {:?}",
            t.dims(),
            like.dims()
        ),
    }
}
