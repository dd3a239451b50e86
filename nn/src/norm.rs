//! RMSNorm over the last dim, computed in f32 (f64 for f64 inputs), as one fused op beside
//! the composite it must match ([`rms_norm_composite`]). Per row of `D` features:
//!
//! ```text
//! r = 1 / sqrt(mean(x^2) + eps)      n = x r      y = n w
//! dL/dw = sum over rows of g n
//! dL/dx = r (g w - n mean(g w n))
//! ```

use crate::fused::{self, Compute, Fused, FusedGrad, Input};
use autograd::{Param, Var};
use ptx::ops::operand::Operand;
use rayon::prelude::*;
use tensor::{bail, HostIn, HostOut, Result};

#[derive(Clone)]
pub struct RmsNorm {
    pub weight: Param,
    pub eps: f64,
}

/// RMSNorm, one fused op. Forward `(x [R, D], w [D]) -> (y [R, D], r [R])` (both in the
/// compute dtype; `r` is saved for the backward); backward `(x, w, r, g) -> (dx, dw)`.
/// Kernels (`ptx/kernels/norm.cu`): `rms_norm_fwd_{f32,f64}`; `rms_norm_bwd_dx_{f32,f64}`,
/// and for dw `rms_norm_bwd_dw_partial_{f32,f64}` then `rms_norm_bwd_dw_finish_{f32,f64}`
/// (column sums of row chunks in f64, then the chunks in order: deterministic).
struct RmsNormOp {
    eps: f64,
}

impl Fused for RmsNormOp {
    fn name(&self) -> &'static str {
        "rms_norm"
    }
    fn cpu<T: Compute>(&self, ins: &[HostIn], outs: &mut [HostOut]) -> Result<()> {
        let d = *ins[0].dims().last().unwrap_or(&0);
        let (x, w) = (ins[0].values::<T>()?, ins[1].values::<T>()?);
        let rows = x.len() / d.max(1);
        let eps = T::from_f64(self.eps);
        let r: Vec<T> = x
            .par_chunks(d.max(1))
            .take(rows)
            .map(|row| {
                T::ONE
                    / (row.iter().map(|&v| v * v).sum::<T>() / T::from_f64(d as f64) + eps).sqrt()
            })
            .collect();
        let mut y = vec![T::ZERO; x.len()];
        y.par_chunks_mut(d.max(1)).zip(x.par_chunks(d.max(1))).enumerate().for_each(
            |(i, (yr, xr))| {
                for j in 0..d {
                    yr[j] = xr[j] * r[i] * w[j];
                }
            },
        );
        outs[0].write(&y)?;
        outs[1].write(&r)
    }
    fn gpu(&self, ins: &[Operand], outs: &[Operand]) -> Result<()> {
        ptx::ops::norm::forward(ins[0], ins[1], outs[0], outs[1], self.eps)
    }
}

impl FusedGrad for RmsNormOp {
    fn cpu_backward<T: Compute>(
        &self,
        ins: &[HostIn],
        grads: &mut [Option<HostOut>],
    ) -> Result<()> {
        let d = *ins[0].dims().last().unwrap_or(&0);
        let (x, w, r, g) = (
            ins[0].values::<T>()?,
            ins[1].values::<T>()?,
            ins[2].values::<T>()?,
            ins[3].values::<T>()?,
        );
        let rows = x.len() / d.max(1);
        if let Some(out) = &mut grads[0] {
            let mut dx = vec![T::ZERO; x.len()];
            dx.par_chunks_mut(d.max(1)).enumerate().for_each(|(i, dr)| {
                let (xr, gr) = (&x[i * d..(i + 1) * d], &g[i * d..(i + 1) * d]);
                let mean =
                    (0..d).map(|j| gr[j] * w[j] * xr[j] * r[i]).sum::<T>() / T::from_f64(d as f64);
                for j in 0..d {
                    dr[j] = r[i] * (gr[j] * w[j] - xr[j] * r[i] * mean);
                }
            });
            out.write(&dx)?;
        }
        if let Some(out) = &mut grads[1] {
            // Column sums, in f64 over the rows (a batch of sequences is many rows).
            let dw: Vec<T> = (0..d)
                .into_par_iter()
                .map(|j| {
                    T::from_f64(
                        (0..rows)
                            .map(|i| (g[i * d + j] * x[i * d + j] * r[i]).to_f64())
                            .sum::<f64>(),
                    )
                })
                .collect();
            out.write(&dw)?;
        }
        Ok(())
    }
    fn gpu_backward(&self, ins: &[Operand], grads: &[Option<Operand>]) -> Result<()> {
        ptx::ops::norm::backward(ins[0], ins[1], ins[2], ins[3], grads[0], grads[1])
    }
}

/// The fused op: `x [.., D]`, `w [D]`; the output is in the compute dtype of `x`.
pub fn rms_norm(x: &Var, w: &Var, eps: f64) -> Result<Var> {
    let d = *x.dims().last().unwrap_or(&0);
    if x.rank() == 0 || w.dims() != [d] {
        bail!(
            "rms_norm",
            "weight of shape {:?} does not match input of shape {:?}",
            w.dims(),
            x.dims()
        )
    }
    let cd = x.dtype().compute();
    let rows = x.value().numel() / d.max(1);
    let outs = [(x.value().shape().clone(), cd), (rows.into(), cd)];
    Ok(fused::apply(RmsNormOp { eps }, &[Input::Var(x), Input::Var(w)], &outs, 1)?.remove(0))
}

/// The same function from primitive ops (the reference the fused op is tested against).
pub fn rms_norm_composite(x: &Var, w: &Var, eps: f64) -> Result<Var> {
    let last = x.rank() - 1;
    let cd = x.dtype().compute();
    let x = x.to_dtype(cd)?;
    let r = x.sqr()?.mean(last, true)?.add_scalar(eps)?.rsqrt()?;
    x.mul(&r)?.mul(&w.to_dtype(cd)?)
}

impl RmsNorm {
    pub fn forward(&self, x: &Var) -> Result<Var> {
        rms_norm(x, &self.weight.var(), self.eps)
    }
}
