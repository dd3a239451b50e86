//! RMSNorm over the last dim, computed in f32 (f64 for f64 inputs), as one fused op beside
//! the composite it must match ([`rms_norm_composite`]). Per row of `D` features:
//!
//! ```text
//! r = 1 / sqrt(mean(x^2) + eps)      n = x r      y = n w
//! dL/dw = sum over rows of g n
//! dL/dx = r (g w - n mean(g w n))
//! ```

use autograd::{Backward, Param, Var};
use ptx::ops::fused_args::{inputs, outputs};
use rayon::prelude::*;
use tensor::{
    bail, AccelDevice, CustomOp, DType, DevIn, DevOut, Elem, HostIn, HostOut, Real, Result, Tensor,
};

#[derive(Clone)]
pub struct RmsNorm {
    pub weight: Param,
    pub eps: f64,
}

/// Forward: `(x [R, D], w [D]) -> (y [R, D], r [R])`, both in the compute dtype. On a GPU:
/// `rms_norm_fwd_{f32,f64}` (`ptx/kernels/norm.cu`).
struct RmsNormForward {
    eps: f64,
}

/// Backward: `(x, w, r, g) -> (dx if asked, dw if asked)`. On a GPU: `rms_norm_bwd_dx_{f32,f64}`,
/// and for dw `rms_norm_bwd_dw_partial_{f32,f64}` then `rms_norm_bwd_dw_finish_{f32,f64}`
/// (column sums of row chunks in f64, then the chunks in order: deterministic).
struct RmsNormBackward {
    want_dx: bool,
    want_dw: bool,
}

fn forward_cpu<T: Real + Elem>(ins: &[HostIn], outs: &mut [HostOut], eps: f64) -> Result<()> {
    let d = *ins[0].dims().last().unwrap_or(&0);
    let (x, w) = (ins[0].values::<T>()?, ins[1].values::<T>()?);
    let rows = x.len() / d.max(1);
    let eps = T::from_f64(eps);
    let r: Vec<T> = x
        .par_chunks(d.max(1))
        .take(rows)
        .map(|row| {
            T::ONE / (row.iter().map(|&v| v * v).sum::<T>() / T::from_f64(d as f64) + eps).sqrt()
        })
        .collect();
    let mut y = vec![T::ZERO; x.len()];
    y.par_chunks_mut(d.max(1)).zip(x.par_chunks(d.max(1))).enumerate().for_each(|(i, (yr, xr))| {
        for j in 0..d {
            yr[j] = xr[j] * r[i] * w[j];
        }
    });
    outs[0].write(&y)?;
    outs[1].write(&r)
}

fn backward_cpu<T: Real + Elem>(
    ins: &[HostIn],
    outs: &mut [HostOut],
    want_dx: bool,
    want_dw: bool,
) -> Result<()> {
    let d = *ins[0].dims().last().unwrap_or(&0);
    let (x, w, r, g) = (
        ins[0].values::<T>()?,
        ins[1].values::<T>()?,
        ins[2].values::<T>()?,
        ins[3].values::<T>()?,
    );
    let rows = x.len() / d.max(1);
    let mut out = 0;
    if want_dx {
        let mut dx = vec![T::ZERO; x.len()];
        dx.par_chunks_mut(d.max(1)).enumerate().for_each(|(i, dr)| {
            let (xr, gr) = (&x[i * d..(i + 1) * d], &g[i * d..(i + 1) * d]);
            let mean =
                (0..d).map(|j| gr[j] * w[j] * xr[j] * r[i]).sum::<T>() / T::from_f64(d as f64);
            for j in 0..d {
                dr[j] = r[i] * (gr[j] * w[j] - xr[j] * r[i] * mean);
            }
        });
        outs[out].write(&dx)?;
        out += 1;
    }
    if want_dw {
        // Column sums, in f64 over the rows (a batch of sequences is many rows).
        let dw: Vec<T> = (0..d)
            .into_par_iter()
            .map(|j| {
                T::from_f64(
                    (0..rows).map(|i| (g[i * d + j] * x[i * d + j] * r[i]).to_f64()).sum::<f64>(),
                )
            })
            .collect();
        outs[out].write(&dw)?;
    }
    Ok(())
}

impl CustomOp for RmsNormForward {
    fn name(&self) -> &'static str {
        "rms_norm"
    }
    fn cpu(&self, ins: &[HostIn<'_>], outs: &mut [HostOut<'_>]) -> Result<()> {
        match outs[0].dtype() {
            DType::F64 => forward_cpu::<f64>(ins, outs, self.eps),
            _ => forward_cpu::<f32>(ins, outs, self.eps),
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
        let (Some(y), Some(r)) = (outs.next(), outs.next()) else {
            bail!(self.name(), "expects outputs y and r")
        };
        ptx::ops::norm::forward(ins[0], ins[1], y, r, self.eps)
    }
}

impl CustomOp for RmsNormBackward {
    fn name(&self) -> &'static str {
        "rms_norm backward"
    }
    fn cpu(&self, ins: &[HostIn<'_>], outs: &mut [HostOut<'_>]) -> Result<()> {
        match ins[2].dtype() {
            DType::F64 => backward_cpu::<f64>(ins, outs, self.want_dx, self.want_dw),
            _ => backward_cpu::<f32>(ins, outs, self.want_dx, self.want_dw),
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
        let dx = if self.want_dx { outs.next() } else { None };
        let dw = if self.want_dw { outs.next() } else { None };
        ptx::ops::norm::backward(ins[0], ins[1], ins[2], ins[3], dx, dw)
    }
}

struct RmsNormGrad {
    x: Tensor,
    w: Tensor,
    r: Tensor,
}

impl Backward for RmsNormGrad {
    fn name(&self) -> &'static str {
        "rms_norm"
    }
    fn backward(&self, g: &[Option<Tensor>], needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let Some(g) = &g[0] else { return Ok(vec![None, None]) };
        let cd = self.r.dtype();
        let op = RmsNormBackward { want_dx: needs[0], want_dw: needs[1] };
        let mut shapes = vec![];
        if needs[0] {
            shapes.push((self.x.shape().clone(), cd));
        }
        if needs[1] {
            shapes.push((self.w.shape().clone(), cd));
        }
        let mut outs =
            Tensor::apply_op(&op, &[&self.x, &self.w, &self.r, &g.to_dtype(cd)?], &shapes)?
                .into_iter();
        let dx = if needs[0] { outs.next() } else { None };
        let dw = if needs[1] { outs.next() } else { None };
        Ok(vec![dx, dw])
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
    let op = RmsNormForward { eps };
    let mut outs = Tensor::apply_op(
        &op,
        &[x.value(), w.value()],
        &[(x.value().shape().clone(), cd), (rows.into(), cd)],
    )?
    .into_iter();
    let (y, r) = (outs.next().expect("y"), outs.next().expect("r"));
    let back = RmsNormGrad { x: x.value().clone(), w: w.value().clone(), r };
    Ok(Var::from_op1(back, &[x, w], y))
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
