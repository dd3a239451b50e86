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
use crate::var::{Backward, Var};
use ptx::ops::fused_args::{inputs, outputs};
use rayon::prelude::*;
use tensor::{
    bail, AccelDevice, CustomOp, DType, DevIn, DevOut, HostIn, HostOut, Real, Result, Tensor,
};

/// Forward: `(logits [N, V], targets [N]) -> (loss [], lse [N], count [])`. On a GPU:
/// `ce_fwd_rows_{f32,f64}` (a block per row) then `ce_fwd_finish_{f32,f64}` (the rows summed
/// in a fixed order; `ptx/kernels/loss.cu`). A target outside the vocabulary, which the CPU
/// body reports as an error, is not read there: it makes the loss NaN.
struct CrossEntropyForward {
    ignore_index: Option<i64>,
}

/// Backward: `(logits, targets, lse, count, g []) -> dlogits [N, V]`. On a GPU:
/// `ce_bwd_{f32,f64}` (a row whose target is outside the vocabulary gets NaN).
struct CrossEntropyBackward {
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

fn forward_cpu<T: Real + tensor::Elem>(
    ins: &[HostIn],
    outs: &mut [HostOut],
    ignore: Option<i64>,
) -> Result<()> {
    let (n, v) = rows_cols("cross_entropy", ins[0].dims())?;
    let z = ins[0].values::<T>()?;
    let t = ins[1].values::<i64>()?;
    let lse: Vec<T> = z.par_chunks(v.max(1)).take(n).map(row_lse).collect();
    let (mut sum, mut count) = (0f64, 0usize);
    for i in 0..n {
        if let Some(ti) = target(t[i], i, v, ignore)? {
            sum += (lse[i] - z[i * v + ti]).to_f64();
            count += 1;
        }
    }
    let loss = if count == 0 { 0.0 } else { sum / count as f64 };
    outs[0].write(&[T::from_f64(loss)])?;
    outs[1].write(&lse)?;
    outs[2].write(&[T::from_f64(count as f64)])
}

fn backward_cpu<T: Real + tensor::Elem>(
    ins: &[HostIn],
    outs: &mut [HostOut],
    ignore: Option<i64>,
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
        (0..n).map(|i| target(t[i], i, v, ignore)).collect::<Result<_>>()?;
    d.par_chunks_mut(v.max(1)).zip(z.par_chunks(v.max(1))).enumerate().for_each(|(i, (di, zi))| {
        if let Some(ti) = targets[i] {
            for (o, &x) in di.iter_mut().zip(zi) {
                *o = (x - lse[i]).exp() * scale;
            }
            di[ti] -= scale;
        }
    });
    outs[0].write(&d)
}

impl CustomOp for CrossEntropyForward {
    fn name(&self) -> &'static str {
        "cross_entropy"
    }
    fn cpu(&self, ins: &[HostIn<'_>], outs: &mut [HostOut<'_>]) -> Result<()> {
        match outs[0].dtype() {
            DType::F64 => forward_cpu::<f64>(ins, outs, self.ignore_index),
            _ => forward_cpu::<f32>(ins, outs, self.ignore_index),
        }
    }
    fn accel(
        &self,
        _device: &dyn AccelDevice,
        ins: &[DevIn<'_>],
        outs: &mut [DevOut<'_>],
    ) -> Result<()> {
        let ins = inputs(self.name(), ins)?;
        let [loss, lse, count]: [_; 3] = outputs(self.name(), outs)?
            .try_into()
            .map_err(|_| tensor::Error::op(self.name(), "expects outputs loss, lse and count"))?;
        ptx::ops::loss::cross_entropy_forward(ins[0], ins[1], loss, lse, count, self.ignore_index)
    }
}

impl CustomOp for CrossEntropyBackward {
    fn name(&self) -> &'static str {
        "cross_entropy backward"
    }
    fn cpu(&self, ins: &[HostIn<'_>], outs: &mut [HostOut<'_>]) -> Result<()> {
        match outs[0].dtype() {
            DType::F64 => backward_cpu::<f64>(ins, outs, self.ignore_index),
            _ => backward_cpu::<f32>(ins, outs, self.ignore_index),
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
        ptx::ops::loss::cross_entropy_backward(
            ins[0],
            ins[1],
            ins[2],
            ins[3],
            ins[4],
            dz,
            self.ignore_index,
        )
    }
}

struct CrossEntropy {
    logits: Tensor,
    targets: Tensor,
    lse: Tensor,
    count: Tensor,
    ignore_index: Option<i64>,
}

impl Backward for CrossEntropy {
    fn name(&self) -> &'static str {
        "cross_entropy"
    }
    fn backward(&self, g: &[Option<Tensor>], _needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let Some(g) = &g[0] else { return Ok(vec![None]) };
        let cd = self.lse.dtype();
        let g = g.to_dtype(cd)?;
        let op = CrossEntropyBackward { ignore_index: self.ignore_index };
        let d = Tensor::apply_op(
            &op,
            &[&self.logits, &self.targets, &self.lse, &self.count, &g],
            &[(self.logits.dims().into(), cd)],
        )?;
        Ok(vec![d.into_iter().next()])
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
    let op = CrossEntropyForward { ignore_index };
    let mut outs = Tensor::apply_op(
        &op,
        &[logits.value(), targets],
        &[(().into(), cd), (n.into(), cd), (().into(), cd)],
    )?
    .into_iter();
    let (loss, lse, count) =
        (outs.next().expect("loss"), outs.next().expect("lse"), outs.next().expect("count"));
    let back = CrossEntropy {
        logits: logits.value().clone(),
        targets: targets.clone(),
        lse,
        count,
        ignore_index,
    };
    Ok(Var::from_op1(back, &[logits], loss))
}
