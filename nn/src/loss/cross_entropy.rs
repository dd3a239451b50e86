//! Mean next-token cross-entropy of logits `[.., V]` against targets (i64, one per row),
//! as one fused op. With `lse_i = log sum_j exp z_ij`, over the rows that count (target not
//! `ignore_index`), `n` of them:
//!
//! ```text
//! loss      = (1/n) sum_i (lse_i - z_{i, t_i})                        (0 when n = 0)
//! d/dz_ij   = (exp(z_ij - lse_i) - [j = t_i]) / n    on counted rows, 0 on ignored ones
//! ```
//!
//! The forward keeps `lse` and `n` (as tensors on the device: no host read) for the
//! backward, which recomputes the softmax from them in one pass.

use super::{row_lse, rows_cols};
use crate::fused::{self, Compute, Fused, FusedGrad, Input};
use autograd::Var;
use ptx::ops::operand::Operand;
use rayon::prelude::*;
use tensor::{bail, DType, HostIn, HostOut, Result, Tensor};

/// The fused op. Forward `(logits [N, V], targets [N]) -> (loss [], lse [N], count [])`;
/// backward `(logits, targets, lse, count, g []) -> dlogits [N, V]`. Kernels
/// (`ptx/kernels/loss.cu`): `ce_fwd_rows_{f32,f64}` (a block per row) then
/// `ce_fwd_finish_{f32,f64}` (the rows summed in a fixed order); `ce_bwd_{f32,f64}`. A target
/// outside the vocabulary, which the CPU body reports as an error, is not read there: it
/// makes the loss (and that row's gradient) NaN.
struct CrossEntropy {
    ignore_index: Option<i64>,
}

/// The target of row `i` if the row counts; an error when it is outside the vocabulary.
fn target(t: i64, i: usize, v: usize, ignore: Option<i64>) -> Result<Option<usize>> {
    if Some(t) == ignore {
        return Ok(None);
    }
    if t < 0 || t as usize >= v {
        bail!("cross_entropy", "target {t} at row {i} is outside the vocabulary of {v}")
    }
    Ok(Some(t as usize))
}

impl Fused for CrossEntropy {
    fn name(&self) -> &'static str {
        "cross_entropy"
    }
    fn cpu<T: Compute>(&self, ins: &[HostIn], outs: &mut [HostOut]) -> Result<()> {
        let (n, v) = rows_cols("cross_entropy", ins[0].dims())?;
        let z = ins[0].values::<T>()?;
        let t = ins[1].values::<i64>()?;
        let lse: Vec<T> = z.par_chunks(v.max(1)).take(n).map(row_lse).collect();
        let (mut sum, mut count) = (0f64, 0usize);
        for i in 0..n {
            if let Some(ti) = target(t[i], i, v, self.ignore_index)? {
                sum += (lse[i] - z[i * v + ti]).to_f64();
                count += 1;
            }
        }
        let loss = if count == 0 { 0.0 } else { sum / count as f64 };
        outs[0].write(&[T::from_f64(loss)])?;
        outs[1].write(&lse)?;
        outs[2].write(&[T::from_f64(count as f64)])
    }
    fn gpu(&self, ins: &[Operand], outs: &[Operand]) -> Result<()> {
        let [z, t] = [ins[0], ins[1]];
        ptx::ops::loss::cross_entropy_forward(z, t, outs[0], outs[1], outs[2], self.ignore_index)
    }
}

impl FusedGrad for CrossEntropy {
    fn cpu_backward<T: Compute>(
        &self,
        ins: &[HostIn],
        grads: &mut [Option<HostOut>],
    ) -> Result<()> {
        let (n, v) = rows_cols("cross_entropy", ins[0].dims())?;
        let z = ins[0].values::<T>()?;
        let t = ins[1].values::<i64>()?;
        let lse = ins[2].values::<T>()?;
        let count = ins[3].values::<T>()?[0];
        let g = ins[4].values::<T>()?[0];
        let scale = if count > T::ZERO { g / count } else { T::ZERO };
        let mut d = vec![T::ZERO; n * v];
        let targets: Vec<Option<usize>> =
            (0..n).map(|i| target(t[i], i, v, self.ignore_index)).collect::<Result<_>>()?;
        d.par_chunks_mut(v.max(1)).zip(z.par_chunks(v.max(1))).enumerate().for_each(
            |(i, (di, zi))| {
                if let Some(ti) = targets[i] {
                    for (o, &x) in di.iter_mut().zip(zi) {
                        *o = (x - lse[i]).exp() * scale;
                    }
                    di[ti] -= scale;
                }
            },
        );
        match &mut grads[0] {
            Some(dz) => dz.write(&d),
            None => Ok(()),
        }
    }
    fn gpu_backward(&self, ins: &[Operand], grads: &[Option<Operand>]) -> Result<()> {
        let Some(dz) = grads[0] else { return Ok(()) };
        let [z, t, lse, count, g] = [ins[0], ins[1], ins[2], ins[3], ins[4]];
        ptx::ops::loss::cross_entropy_backward(z, t, lse, count, g, dz, self.ignore_index)
    }
}

/// Mean cross-entropy of `logits` `[.., V]` against `targets` (i64, the leading shape of the
/// logits); rows whose target is `ignore_index` do not count. 0 when no row counts. The
/// loss is in the compute dtype of the logits (f32, or f64 for f64 logits).
pub fn cross_entropy(logits: &Var, targets: &Tensor, ignore_index: Option<i64>) -> Result<Var> {
    let (n, _) = rows_cols("cross_entropy", logits.dims())?;
    if targets.dtype() != DType::I64 || targets.numel() != n {
        bail!(
            "cross_entropy",
            "targets must be i64 with one value per row: logits {:?}, targets {:?} {}",
            logits.dims(),
            targets.dims(),
            targets.dtype()
        )
    }
    let cd = logits.dtype().compute();
    let outs = [(().into(), cd), (n.into(), cd), (().into(), cd)];
    let inputs = [Input::Var(logits), Input::Data(targets)];
    Ok(fused::apply(CrossEntropy { ignore_index }, &inputs, &outs, 1)?.remove(0))
}
