//! `KL(p_teacher || p_student)` of next-token distributions, averaged over the `N` rows of
//! `[.., V]` logits, both distributions softmaxes at temperature `T`, as one fused op. With
//! `log p = z_t/T - lse_t` and `log q = z_s/T - lse_s` per row:
//!
//! ```text
//! kl        = (1/N) sum_i sum_j p_ij (log p_ij - log q_ij)
//! d/dz_s,ij = (q_ij - p_ij) / (T N)
//! ```
//!
//! The forward keeps both rows' `lse` for the backward, which rebuilds `p` and `q` from the
//! logits in one pass; the teacher's logits are data (no gradient).

use super::{row_lse, rows_cols};
use crate::var::{Backward, Var};
use ptx::ops::fused_args::{inputs, outputs};
use rayon::prelude::*;
use tensor::{
    bail, AccelDevice, CustomOp, DType, DevIn, DevOut, Elem, HostIn, HostOut, Real, Result, Tensor,
};

/// Forward: `(student [N, V], teacher [N, V]) -> (kl [], lse_s [N], lse_t [N])`. On a GPU:
/// `kl_fwd_rows_{f32,f64}` (a block per row) then `mean_finish_{f32,f64}` (`ptx/kernels/loss.cu`).
struct KlForward {
    temperature: f64,
}

/// Backward: `(student, teacher, lse_s, lse_t, g []) -> dstudent [N, V]`. On a GPU: `kl_bwd_{f32,f64}`.
struct KlBackward {
    temperature: f64,
}

fn forward_cpu<T: Real + Elem>(ins: &[HostIn], outs: &mut [HostOut], temp: f64) -> Result<()> {
    let (n, v) = rows_cols("kl_div", ins[0].dims())?;
    let inv_t = T::from_f64(1.0 / temp);
    let scaled = |h: &HostIn| -> Result<Vec<T>> {
        Ok(h.values::<T>()?.iter().map(|&x| x * inv_t).collect())
    };
    let (zs, zt) = (scaled(&ins[0])?, scaled(&ins[1])?);
    let lse_s: Vec<T> = zs.par_chunks(v.max(1)).take(n).map(row_lse).collect();
    let lse_t: Vec<T> = zt.par_chunks(v.max(1)).take(n).map(row_lse).collect();
    // Each term in T, the sums in f64 (a vocabulary row is tens of thousands of terms).
    let rows: Vec<f64> = (0..n)
        .into_par_iter()
        .map(|i| {
            let (s, t) = (&zs[i * v..(i + 1) * v], &zt[i * v..(i + 1) * v]);
            s.iter()
                .zip(t)
                .map(|(&a, &b)| {
                    let lp = b - lse_t[i];
                    (lp.exp() * (lp - (a - lse_s[i]))).to_f64()
                })
                .sum::<f64>()
        })
        .collect();
    let kl = rows.into_iter().sum::<f64>() / n.max(1) as f64;
    outs[0].write(&[T::from_f64(kl)])?;
    outs[1].write(&lse_s)?;
    outs[2].write(&lse_t)
}

fn backward_cpu<T: Real + Elem>(ins: &[HostIn], outs: &mut [HostOut], temp: f64) -> Result<()> {
    let (n, v) = rows_cols("kl_div", ins[0].dims())?;
    let inv_t = T::from_f64(1.0 / temp);
    let (zs, zt) = (ins[0].values::<T>()?, ins[1].values::<T>()?);
    let (lse_s, lse_t) = (ins[2].values::<T>()?, ins[3].values::<T>()?);
    let g = ins[4].values::<T>()?[0];
    let scale = g * inv_t / T::from_f64(n.max(1) as f64);
    let mut d = vec![T::ZERO; n * v];
    d.par_chunks_mut(v.max(1)).enumerate().for_each(|(i, di)| {
        for (j, o) in di.iter_mut().enumerate() {
            let q = (zs[i * v + j] * inv_t - lse_s[i]).exp();
            let p = (zt[i * v + j] * inv_t - lse_t[i]).exp();
            *o = (q - p) * scale;
        }
    });
    outs[0].write(&d)
}

impl CustomOp for KlForward {
    fn name(&self) -> &'static str {
        "kl_div"
    }
    fn cpu(&self, ins: &[HostIn<'_>], outs: &mut [HostOut<'_>]) -> Result<()> {
        match outs[0].dtype() {
            DType::F64 => forward_cpu::<f64>(ins, outs, self.temperature),
            _ => forward_cpu::<f32>(ins, outs, self.temperature),
        }
    }
    fn accel(
        &self,
        _device: &dyn AccelDevice,
        ins: &[DevIn<'_>],
        outs: &mut [DevOut<'_>],
    ) -> Result<()> {
        let ins = inputs(self.name(), ins)?;
        let [kl, lse_s, lse_t]: [_; 3] = outputs(self.name(), outs)?
            .try_into()
            .map_err(|_| tensor::Error::op(self.name(), "expects outputs kl, lse_s and lse_t"))?;
        ptx::ops::loss::kl_forward(ins[0], ins[1], kl, lse_s, lse_t, self.temperature)
    }
}

impl CustomOp for KlBackward {
    fn name(&self) -> &'static str {
        "kl_div backward"
    }
    fn cpu(&self, ins: &[HostIn<'_>], outs: &mut [HostOut<'_>]) -> Result<()> {
        match outs[0].dtype() {
            DType::F64 => backward_cpu::<f64>(ins, outs, self.temperature),
            _ => backward_cpu::<f32>(ins, outs, self.temperature),
        }
    }
    fn accel(
        &self,
        _device: &dyn AccelDevice,
        ins: &[DevIn<'_>],
        outs: &mut [DevOut<'_>],
    ) -> Result<()> {
        let ins = inputs(self.name(), ins)?;
        let Some(dz) = outputs(self.name(), outs)?.into_iter().next() else {
            bail!(self.name(), "expects an output")
        };
        ptx::ops::loss::kl_backward(ins[0], ins[1], ins[2], ins[3], ins[4], dz, self.temperature)
    }
}

struct KlToTeacher {
    student: Tensor,
    teacher: Tensor,
    lse_s: Tensor,
    lse_t: Tensor,
    temperature: f64,
}

impl Backward for KlToTeacher {
    fn name(&self) -> &'static str {
        "kl_div"
    }
    fn backward(&self, g: &[Option<Tensor>], _needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let Some(g) = &g[0] else { return Ok(vec![None]) };
        let cd = self.lse_s.dtype();
        let op = KlBackward { temperature: self.temperature };
        let ins = [&self.student, &self.teacher, &self.lse_s, &self.lse_t, &g.to_dtype(cd)?];
        let d = Tensor::apply_op(&op, &ins, &[(self.student.dims().into(), cd)])?;
        Ok(vec![d.into_iter().next()])
    }
}

/// `KL(p_teacher || p_student)` of the next-token distributions, averaged over positions;
/// both are softmaxes at `temperature` of the logits `[.., V]`. The teacher's logits are
/// data. The result is in the compute dtype of the student's logits.
pub fn kl_div(student_logits: &Var, teacher_logits: &Tensor, temperature: f64) -> Result<Var> {
    if student_logits.dims() != teacher_logits.dims() {
        bail!(
            "kl_div",
            "student logits {:?} and teacher logits {:?} differ in shape",
            student_logits.dims(),
            teacher_logits.dims()
        )
    }
    if !(temperature > 0.0 && temperature.is_finite()) {
        bail!("kl_div", "temperature must be positive, got {temperature}")
    }
    let (n, _) = rows_cols("kl_div", student_logits.dims())?;
    let cd = student_logits.dtype().compute();
    let op = KlForward { temperature };
    let outs = Tensor::apply_op(
        &op,
        &[student_logits.value(), teacher_logits],
        &[(().into(), cd), (n.into(), cd), (n.into(), cd)],
    )?;
    let [kl, lse_s, lse_t]: [Tensor; 3] =
        outs.try_into().map_err(|_| tensor::Error::op("kl_div", "expected three outputs"))?;
    let back = KlToTeacher {
        student: student_logits.value().clone(),
        teacher: teacher_logits.clone(),
        lse_s,
        lse_t,
        temperature,
    };
    Ok(Var::from_op1(back, &[student_logits], kl))
}
