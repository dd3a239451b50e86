//! Trainable parameters: a named value that optimizers replace step by step, with a slot
//! where backward passes add their gradients (summed until [`Param::zero_grad`]).

use crate::var::{GradSlot, Var};
use std::sync::{Arc, Mutex, RwLock};
use tensor::{bail, Result, Tensor};

struct ParamInner {
    name: String,
    var: RwLock<Var>,
    slot: GradSlot,
    trainable: RwLock<bool>,
}

/// A shared handle: clones refer to the same parameter.
#[derive(Clone)]
pub struct Param(Arc<ParamInner>);

impl Param {
    pub fn new(name: impl Into<String>, value: Tensor) -> Param {
        let slot: GradSlot = Arc::new(Mutex::new(None));
        let var = Var::leaf_with_slot(value, slot.clone());
        Param(Arc::new(ParamInner {
            name: name.into(),
            var: RwLock::new(var),
            slot,
            trainable: RwLock::new(true),
        }))
    }
    /// A parameter that is used but never trained (a frozen teacher weight).
    pub fn frozen(name: impl Into<String>, value: Tensor) -> Param {
        let p = Param::new(name, value);
        p.set_trainable(false);
        p
    }
    pub fn name(&self) -> &str {
        &self.0.name
    }
    /// The variable to compute with: a leaf that accumulates into this parameter's
    /// gradient, or a constant when the parameter is frozen.
    pub fn var(&self) -> Var {
        let v = self.0.var.read().expect("param lock").clone();
        if self.trainable() {
            v
        } else {
            Var::constant(v.value().clone())
        }
    }
    pub fn value(&self) -> Tensor {
        self.0.var.read().expect("param lock").value().clone()
    }
    /// Replaces the value (same shape and dtype), keeping the gradient slot.
    pub fn set(&self, value: Tensor) -> Result<()> {
        let mut v = self.0.var.write().expect("param lock");
        if value.dims() != v.dims() || value.dtype() != v.dtype() {
            bail!(
                "Param::set",
                "{}: new value {:?} {} differs from {:?} {}",
                self.0.name,
                value.dims(),
                value.dtype(),
                v.dims(),
                v.dtype()
            )
        }
        *v = Var::leaf_with_slot(value, self.0.slot.clone());
        Ok(())
    }
    /// Converts the value to `dtype` (mixed precision: bf16 weights), dropping any gradient.
    pub fn set_dtype(&self, dtype: tensor::DType) -> Result<()> {
        let mut v = self.0.var.write().expect("param lock");
        if v.dtype() != dtype {
            let value = v.value().to_dtype(dtype)?;
            *v = Var::leaf_with_slot(value, self.0.slot.clone());
            *self.0.slot.lock().expect("grad lock") = None;
        }
        Ok(())
    }
    /// Changes the value in place through `f` (an optimizer's fused update). The value's
    /// storage is written directly when nothing else holds it (the graph of the last step
    /// is freed by then); otherwise `f` writes into a copy, as the in-place ops do, so no
    /// one else sees the change. Shape and dtype must stay.
    pub fn update(&self, f: impl FnOnce(&mut Tensor) -> Result<()>) -> Result<()> {
        let mut guard = self.0.var.write().expect("param lock");
        let (dims, dtype) = (guard.dims().to_vec(), guard.dtype());
        match guard.value_mut() {
            Some(value) => f(value)?,
            None => {
                let mut value = guard.value().clone();
                f(&mut value)?;
                *guard = Var::leaf_with_slot(value, self.0.slot.clone());
            }
        }
        if guard.dims() != dims.as_slice() || guard.dtype() != dtype {
            bail!(
                "Param::update",
                "{}: the update changed {:?} {} into {:?} {}",
                self.0.name,
                dims,
                dtype,
                guard.dims(),
                guard.dtype()
            )
        }
        Ok(())
    }
    pub fn grad(&self) -> Option<Tensor> {
        self.0.slot.lock().expect("grad lock").clone()
    }
    pub fn set_grad(&self, g: Option<Tensor>) {
        *self.0.slot.lock().expect("grad lock") = g;
    }
    pub fn zero_grad(&self) {
        self.set_grad(None);
    }
    pub fn trainable(&self) -> bool {
        *self.0.trainable.read().expect("param lock")
    }
    pub fn set_trainable(&self, t: bool) {
        *self.0.trainable.write().expect("param lock") = t;
    }
    pub fn numel(&self) -> usize {
        self.value().numel()
    }
    pub fn ptr_eq(&self, other: &Param) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl std::fmt::Debug for Param {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Param({}, {:?})", self.0.name, self.value())
    }
}
