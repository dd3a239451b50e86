//! The SwiGLU feed-forward block: `down_proj(silu(gate_proj(x)) * up_proj(x))`, the middle
//! as one fused op (`h = silu(a) * b`, in f32; f64 for f64) beside its composite:
//!
//! ```text
//! silu(a) = a s(a),  s = sigmoid          d/da silu(a) = s(a) (1 + a (1 - s(a)))
//! dL/da = g b s(a) (1 + a (1 - s(a)))     dL/db = g silu(a)
//! ```

use crate::fused::{self, Compute, Fused, FusedGrad, Input};
use crate::linear::Linear;
use autograd::{Param, Var};
use ptx::ops::operand::Operand;
use rayon::prelude::*;
use tensor::cpu::map::sigmoid;
use tensor::{bail, HostIn, HostOut, Result};

#[derive(Clone)]
pub struct Mlp {
    pub gate_proj: Linear,
    pub up_proj: Linear,
    pub down_proj: Linear,
}

impl Mlp {
    pub fn forward(&self, x: &Var) -> Result<Var> {
        let h = swiglu(&self.gate_proj.forward(x)?, &self.up_proj.forward(x)?)?;
        self.down_proj.forward(&h)
    }
    pub fn named_params(&self, prefix: &str) -> Vec<(String, Param)> {
        [("gate_proj", &self.gate_proj), ("up_proj", &self.up_proj), ("down_proj", &self.down_proj)]
            .into_iter()
            .flat_map(|(name, l)| l.named_params(&format!("{prefix}.{name}")))
            .collect()
    }
}

/// `h = silu(a) * b` and its gradients, one fused op. Forward `(a, b) -> h`; backward
/// `(a, b, g) -> (da, db)`. Kernels: `swiglu_fwd_{f32,f64}`, `swiglu_bwd_{f32,f64}`
/// (`ptx/kernels/swiglu.cu`).
struct SwiGlu;

impl Fused for SwiGlu {
    fn name(&self) -> &'static str {
        "swiglu"
    }
    fn cpu<T: Compute>(&self, ins: &[HostIn], outs: &mut [HostOut]) -> Result<()> {
        let (a, b) = (ins[0].values::<T>()?, ins[1].values::<T>()?);
        let mut h = vec![T::ZERO; a.len()];
        h.par_chunks_mut(4096).enumerate().for_each(|(c, hs)| {
            for (i, o) in hs.iter_mut().enumerate() {
                let j = c * 4096 + i;
                *o = a[j] * sigmoid(a[j]) * b[j];
            }
        });
        outs[0].write(&h)
    }
    fn gpu(&self, ins: &[Operand], outs: &[Operand]) -> Result<()> {
        ptx::ops::swiglu::forward(ins[0], ins[1], outs[0])
    }
}

impl FusedGrad for SwiGlu {
    fn cpu_backward<T: Compute>(
        &self,
        ins: &[HostIn],
        grads: &mut [Option<HostOut>],
    ) -> Result<()> {
        let (a, b, g) = (ins[0].values::<T>()?, ins[1].values::<T>()?, ins[2].values::<T>()?);
        if let Some(da) = &mut grads[0] {
            let v: Vec<T> = (0..a.len())
                .into_par_iter()
                .map(|j| {
                    let s = sigmoid(a[j]);
                    g[j] * b[j] * (s * (T::ONE + a[j] * (T::ONE - s)))
                })
                .collect();
            da.write(&v)?;
        }
        if let Some(db) = &mut grads[1] {
            let v: Vec<T> =
                (0..a.len()).into_par_iter().map(|j| g[j] * (a[j] * sigmoid(a[j]))).collect();
            db.write(&v)?;
        }
        Ok(())
    }
    fn gpu_backward(&self, ins: &[Operand], grads: &[Option<Operand>]) -> Result<()> {
        ptx::ops::swiglu::backward(ins[0], ins[1], ins[2], grads[0], grads[1])
    }
}

/// `silu(a) * b` element-wise (`a`, `b` of one shape), in the compute dtype of `a`.
pub fn swiglu(a: &Var, b: &Var) -> Result<Var> {
    if a.dims() != b.dims() {
        bail!("swiglu", "gate {:?} and up {:?} differ in shape", a.dims(), b.dims())
    }
    let cd = a.dtype().compute();
    let out = (a.value().shape().clone(), cd);
    Ok(fused::apply(SwiGlu, &[Input::Var(a), Input::Var(b)], &[out], 1)?.remove(0))
}

/// The same function from primitive ops (the reference the fused op is tested against).
pub fn swiglu_composite(a: &Var, b: &Var) -> Result<Var> {
    a.silu()?.mul(b)
}
