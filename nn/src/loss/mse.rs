//! Mean squared error of two tensors of one shape, as one fused op (`n` elements):
//!
//! ```text
//! mse    = (1/n) sum (a - b)^2
//! d/da   = 2 (a - b) / n,    d/db = -d/da
//! ```

use crate::var::{Backward, Var};
use ptx::ops::fused_args::{inputs, outputs};
use tensor::{
    bail, AccelDevice, CustomOp, DType, DevIn, DevOut, Elem, HostIn, HostOut, Real, Result, Tensor,
};

/// Forward: `(a, b) -> mse []`. On a GPU: `mse_partial_{f32,f64}` (block sums over a grid
/// fixed by the size) then `mean_finish_{f32,f64}` (`ptx/kernels/loss.cu`).
struct MseForward;
/// Backward: `(a, b, g []) -> da` (the caller negates it for `db`). On a GPU: `mse_bwd_{f32,f64}`.
struct MseBackward;

fn forward_cpu<T: Real + Elem>(ins: &[HostIn], outs: &mut [HostOut]) -> Result<()> {
    let (a, b) = (ins[0].values::<T>()?, ins[1].values::<T>()?);
    // Summed in f64: a stage-1 loss adds up millions of squares.
    let s: f64 = a.iter().zip(b.iter()).map(|(&x, &y)| (x - y).to_f64().powi(2)).sum();
    outs[0].write(&[T::from_f64(s / a.len().max(1) as f64)])
}

fn backward_cpu<T: Real + Elem>(ins: &[HostIn], outs: &mut [HostOut]) -> Result<()> {
    let (a, b) = (ins[0].values::<T>()?, ins[1].values::<T>()?);
    let g = ins[2].values::<T>()?[0];
    let f = T::from_f64(2.0) * g / T::from_f64(a.len().max(1) as f64);
    let d: Vec<T> = a.iter().zip(b.iter()).map(|(&x, &y)| (x - y) * f).collect();
    outs[0].write(&d)
}

impl CustomOp for MseForward {
    fn name(&self) -> &'static str {
        "mse"
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
        let Some(loss) = outputs(self.name(), outs)?.into_iter().next() else {
            bail!(self.name(), "expects an output")
        };
        ptx::ops::loss::mse_forward(ins[0], ins[1], loss)
    }
}

impl CustomOp for MseBackward {
    fn name(&self) -> &'static str {
        "mse backward"
    }
    fn cpu(&self, ins: &[HostIn<'_>], outs: &mut [HostOut<'_>]) -> Result<()> {
        match outs[0].dtype() {
            DType::F64 => backward_cpu::<f64>(ins, outs),
            _ => backward_cpu::<f32>(ins, outs),
        }
    }
    fn accel(
        &self,
        _device: &dyn AccelDevice,
        ins: &[DevIn<'_>],
        outs: &mut [DevOut<'_>],
    ) -> Result<()> {
        let ins = inputs(self.name(), ins)?;
        let Some(da) = outputs(self.name(), outs)?.into_iter().next() else {
            bail!(self.name(), "expects an output")
        };
        ptx::ops::loss::mse_backward(ins[0], ins[1], ins[2], da)
    }
}

struct Mse {
    a: Tensor,
    b: Tensor,
}

impl Backward for Mse {
    fn name(&self) -> &'static str {
        "mse"
    }
    fn backward(&self, g: &[Option<Tensor>], needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let Some(g) = &g[0] else { return Ok(vec![None, None]) };
        let cd = self.a.dtype().compute();
        let da = Tensor::apply_op(
            &MseBackward,
            &[&self.a, &self.b, &g.to_dtype(cd)?],
            &[(self.a.dims().into(), cd)],
        )?
        .remove(0);
        let db = if needs[1] { Some(da.neg()?) } else { None };
        Ok(vec![needs[0].then_some(da), db])
    }
}

/// Mean squared error `mean((a - b)^2)` over every element, in the compute dtype of `a`.
pub fn mse(a: &Var, b: &Var) -> Result<Var> {
    if a.dims() != b.dims() {
        bail!("mse", "operands of shapes {:?} and {:?} differ", a.dims(), b.dims())
    }
    let cd = a.dtype().compute();
    let loss =
        Tensor::apply_op(&MseForward, &[a.value(), b.value()], &[(().into(), cd)])?.remove(0);
    Ok(Var::from_op1(Mse { a: a.value().clone(), b: b.value().clone() }, &[a, b], loss))
}
