//! The SwiGLU feed-forward block: `down_proj(silu(gate_proj(x)) * up_proj(x))`, the middle
//! as one fused op (`h = silu(a) * b`, in f32; f64 for f64) beside its composite:
//!
//! ```text
//! silu(a) = a s(a),  s = sigmoid          d/da silu(a) = s(a) (1 + a (1 - s(a)))
//! dL/da = g b s(a) (1 + a (1 - s(a)))     dL/db = g silu(a)
//! ```

use crate::linear::Linear;
use autograd::{Backward, Param, Var};
use ptx::ops::fused_args::{inputs, outputs};
use rayon::prelude::*;
use tensor::cpu::map::sigmoid;
use tensor::{
    bail, AccelDevice, CustomOp, DType, DevIn, DevOut, Elem, HostIn, HostOut, Real, Result, Tensor,
};

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

/// Forward: `(a, b) -> silu(a) * b`. On a GPU: `swiglu_fwd_{f32,f64}` (`ptx/kernels/swiglu.cu`).
struct SwiGlu;
/// Backward: `(a, b, g) -> (da if asked, db if asked)`. On a GPU: `swiglu_bwd_{f32,f64}`.
struct SwiGluBackward {
    want: [bool; 2],
}

fn forward_cpu<T: Real + Elem>(ins: &[HostIn], outs: &mut [HostOut]) -> Result<()> {
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

fn backward_cpu<T: Real + Elem>(
    ins: &[HostIn],
    outs: &mut [HostOut],
    want: [bool; 2],
) -> Result<()> {
    let (a, b, g) = (ins[0].values::<T>()?, ins[1].values::<T>()?, ins[2].values::<T>()?);
    let mut out = 0;
    if want[0] {
        let da: Vec<T> = (0..a.len())
            .into_par_iter()
            .map(|j| {
                let s = sigmoid(a[j]);
                g[j] * b[j] * (s * (T::ONE + a[j] * (T::ONE - s)))
            })
            .collect();
        outs[out].write(&da)?;
        out += 1;
    }
    if want[1] {
        let db: Vec<T> =
            (0..a.len()).into_par_iter().map(|j| g[j] * (a[j] * sigmoid(a[j]))).collect();
        outs[out].write(&db)?;
    }
    Ok(())
}

impl CustomOp for SwiGlu {
    fn name(&self) -> &'static str {
        "swiglu"
    }
    fn cpu(&self, ins: &[HostIn<'_>], outs: &mut [HostOut<'_>]) -> Result<()> {
        match outs[0].dtype() {
            DType::F64 => forward_cpu::<f64>(ins, outs),
            _ => forward_cpu::<f32>(ins, outs),
        }
    }
    fn accel(
        &self,
        _device: &dyn AccelDevice,
        ins: &[DevIn<'_>],
        outs: &mut [DevOut<'_>],
    ) -> Result<()> {
        let ins = inputs(self.name(), ins)?;
        let Some(h) = outputs(self.name(), outs)?.into_iter().next() else {
            bail!(self.name(), "expects an output")
        };
        ptx::ops::swiglu::forward(ins[0], ins[1], h)
    }
}

impl CustomOp for SwiGluBackward {
    fn name(&self) -> &'static str {
        "swiglu backward"
    }
    fn cpu(&self, ins: &[HostIn<'_>], outs: &mut [HostOut<'_>]) -> Result<()> {
        match ins[2].dtype() {
            DType::F64 => backward_cpu::<f64>(ins, outs, self.want),
            _ => backward_cpu::<f32>(ins, outs, self.want),
        }
    }
    fn accel(
        &self,
        _device: &dyn AccelDevice,
        ins: &[DevIn<'_>],
        outs: &mut [DevOut<'_>],
    ) -> Result<()> {
        let ins = inputs(self.name(), ins)?;
        let mut outs = outputs(self.name(), outs)?.into_iter();
        let da = if self.want[0] { outs.next() } else { None };
        let db = if self.want[1] { outs.next() } else { None };
        ptx::ops::swiglu::backward(ins[0], ins[1], ins[2], da, db)
    }
}

struct SwiGluGrad {
    a: Tensor,
    b: Tensor,
}

impl Backward for SwiGluGrad {
    fn name(&self) -> &'static str {
        "swiglu"
    }
    fn backward(&self, g: &[Option<Tensor>], needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let Some(g) = &g[0] else { return Ok(vec![None, None]) };
        let cd = g.dtype().compute();
        let want = [needs[0], needs[1]];
        let shapes: Vec<_> =
            want.iter().filter(|&&w| w).map(|_| (self.a.shape().clone(), cd)).collect();
        let mut outs = Tensor::apply_op(
            &SwiGluBackward { want },
            &[&self.a, &self.b, &g.to_dtype(cd)?],
            &shapes,
        )?
        .into_iter();
        Ok(want.iter().map(|&w| if w { outs.next() } else { None }).collect())
    }
}

/// `silu(a) * b` element-wise (`a`, `b` of one shape), in the compute dtype of `a`.
pub fn swiglu(a: &Var, b: &Var) -> Result<Var> {
    if a.dims() != b.dims() {
        bail!("swiglu", "gate {:?} and up {:?} differ in shape", a.dims(), b.dims())
    }
    let cd = a.dtype().compute();
    let h = Tensor::apply_op(&SwiGlu, &[a.value(), b.value()], &[(a.value().shape().clone(), cd)])?
        .remove(0);
    Ok(Var::from_op1(SwiGluGrad { a: a.value().clone(), b: b.value().clone() }, &[a, b], h))
}

/// The same function from primitive ops (the reference the fused op is tested against).
pub fn swiglu_composite(a: &Var, b: &Var) -> Result<Var> {
    a.silu()?.mul(b)
}
