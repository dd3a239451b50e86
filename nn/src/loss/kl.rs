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
use crate::fused::{self, Compute, Fused, FusedGrad, Input};
use autograd::Var;
use ptx::ops::operand::Operand;
use rayon::prelude::*;
use tensor::{bail, HostIn, HostOut, Result, Tensor};

/// The fused op. Forward `(student [N, V], teacher [N, V]) -> (kl [], lse_s [N], lse_t [N])`;
/// backward `(student, teacher, lse_s, lse_t, g []) -> dstudent [N, V]`. Kernels
/// (`ptx/kernels/loss.cu`): `kl_fwd_rows_{f32,f64}` (a block per row) then
/// `mean_finish_{f32,f64}`; `kl_bwd_{f32,f64}`.
struct Kl {
    temperature: f64,
}

impl Fused for Kl {
    fn name(&self) -> &'static str {
        "kl_div"
    }
    fn cpu<T: Compute>(&self, ins: &[HostIn], outs: &mut [HostOut]) -> Result<()> {
        let (n, v) = rows_cols("kl_div", ins[0].dims())?;
        let inv_t = T::from_f64(1.0 / self.temperature);
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
    fn gpu(&self, ins: &[Operand], outs: &[Operand]) -> Result<()> {
        let [kl, lse_s, lse_t] = [outs[0], outs[1], outs[2]];
        ptx::ops::loss::kl_forward(ins[0], ins[1], kl, lse_s, lse_t, self.temperature)
    }
}

impl FusedGrad for Kl {
    fn cpu_backward<T: Compute>(
        &self,
        ins: &[HostIn],
        grads: &mut [Option<HostOut>],
    ) -> Result<()> {
        let (n, v) = rows_cols("kl_div", ins[0].dims())?;
        let inv_t = T::from_f64(1.0 / self.temperature);
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
        match &mut grads[0] {
            Some(dz) => dz.write(&d),
            None => Ok(()),
        }
    }
    fn gpu_backward(&self, ins: &[Operand], grads: &[Option<Operand>]) -> Result<()> {
        let Some(dz) = grads[0] else { return Ok(()) };
        let [s, t, lse_s, lse_t, g] = [ins[0], ins[1], ins[2], ins[3], ins[4]];
        ptx::ops::loss::kl_backward(s, t, lse_s, lse_t, g, dz, self.temperature)
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
    let outs = [(().into(), cd), (n.into(), cd), (n.into(), cd)];
    let inputs = [Input::Var(student_logits), Input::Data(teacher_logits)];
    Ok(fused::apply(Kl { temperature }, &inputs, &outs, 1)?.remove(0))
}
