//! Mean squared error of two tensors of one shape, as one fused op (`n` elements):
//!
//! ```text
//! mse    = (1/n) sum (a - b)^2
//! d/da   = 2 (a - b) / n,    d/db = -d/da
//! ```

use crate::fused::{self, Compute, Fused, FusedGrad, Input};
use autograd::Var;
use ptx::ops::operand::Operand;
use tensor::{bail, HostIn, HostOut, Result};

/// The fused op. Forward `(a, b) -> mse []`; backward `(a, b, g []) -> (da, db)`. Kernels
/// (`ptx/kernels/loss.cu`): `mse_partial_{f32,f64}` (block sums over a grid fixed by the
/// size) then `mean_finish_{f32,f64}`; `mse_bwd_{f32,f64}` (db as da with a and b swapped:
/// `y - x` is exactly `-(x - y)`).
struct Mse;

/// `2 g (x - y) / n` of `ins[x]`, `ins[y]` and the cotangent `ins[2]`.
fn gradient<T: Compute>(ins: &[HostIn], x: usize, y: usize) -> Result<Vec<T>> {
    let (a, b) = (ins[x].values::<T>()?, ins[y].values::<T>()?);
    let g = ins[2].values::<T>()?[0];
    let f = T::from_f64(2.0) * g / T::from_f64(a.len().max(1) as f64);
    Ok(a.iter().zip(b.iter()).map(|(&x, &y)| (x - y) * f).collect())
}

impl Fused for Mse {
    fn name(&self) -> &'static str {
        "mse"
    }
    fn cpu<T: Compute>(&self, ins: &[HostIn], outs: &mut [HostOut]) -> Result<()> {
        let (a, b) = (ins[0].values::<T>()?, ins[1].values::<T>()?);
        // Summed in f64: a stage-1 loss adds up millions of squares.
        let s: f64 = a.iter().zip(b.iter()).map(|(&x, &y)| (x - y).to_f64().powi(2)).sum();
        outs[0].write(&[T::from_f64(s / a.len().max(1) as f64)])
    }
    fn gpu(&self, ins: &[Operand], outs: &[Operand]) -> Result<()> {
        ptx::ops::loss::mse_forward(ins[0], ins[1], outs[0])
    }
}

impl FusedGrad for Mse {
    fn cpu_backward<T: Compute>(
        &self,
        ins: &[HostIn],
        grads: &mut [Option<HostOut>],
    ) -> Result<()> {
        if let Some(da) = &mut grads[0] {
            da.write(&gradient::<T>(ins, 0, 1)?)?;
        }
        if let Some(db) = &mut grads[1] {
            db.write(&gradient::<T>(ins, 1, 0)?)?;
        }
        Ok(())
    }
    fn gpu_backward(&self, ins: &[Operand], grads: &[Option<Operand>]) -> Result<()> {
        if let Some(da) = grads[0] {
            ptx::ops::loss::mse_backward(ins[0], ins[1], ins[2], da)?;
        }
        if let Some(db) = grads[1] {
            ptx::ops::loss::mse_backward(ins[1], ins[0], ins[2], db)?;
        }
        Ok(())
    }
}

/// Mean squared error `mean((a - b)^2)` over every element, in the compute dtype of `a`.
pub fn mse(a: &Var, b: &Var) -> Result<Var> {
    if a.dims() != b.dims() {
        bail!("mse", "operands of shapes {:?} and {:?} differ", a.dims(), b.dims())
    }
    let cd = a.dtype().compute();
    Ok(fused::apply(Mse, &[Input::Var(a), Input::Var(b)], &[(().into(), cd)], 1)?.remove(0))
}
