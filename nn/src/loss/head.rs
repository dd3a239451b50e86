//! Stage 2's loss from final hidden states, the LM heads applied a chunk of rows at a time:
//!
//! ```text
//! loss = kl_div(head_s(h_s), head_t(h_t), T) + w_ce * CE(head_s(h_s), next tokens)
//! ```
//!
//! the same value and gradient as those ops on whole `[N, V]` logits (the KL averaged over
//! the `N` positions, the cross-entropy over the `B (T - 1)` positions that have a next
//! token), but neither model's `[N, V]` logits, nor their gradient, is ever whole in memory:
//! the forward computes each chunk's logits, its share of the loss, and drops them; the
//! backward computes them again, chunk by chunk, each chunk's gradient of the student's
//! hidden states through a small graph of its own (so the student's head weight, when
//! trained, gets its gradient there). The price is one more product with each head (the
//! backward's recomputation); the memory saved is `N V` logits of each model and their f32
//! gradient (SmolLM2, 8 x 1024 tokens: about 4 GB).

use super::{cross_entropy, kl_div};
use crate::linear::Linear;
use autograd::{no_grad, Backward, Var};
use tensor::{bail, DType, Result, Tensor};

/// About this many logits (256 MB in f32) per chunk.
pub const CHUNK_LOGITS: usize = 1 << 26;

/// The loss's settings: the KL's temperature, the cross-entropy's weight (0: none), and the
/// rows per chunk.
#[derive(Clone, Copy, Debug)]
pub struct HeadLoss {
    pub temperature: f64,
    pub ce_weight: f64,
    pub chunk_rows: usize,
}

impl HeadLoss {
    /// Chunks of about [`CHUNK_LOGITS`] logits for a vocabulary of `vocab`.
    pub fn new(temperature: f64, ce_weight: f64, vocab: usize) -> HeadLoss {
        HeadLoss { temperature, ce_weight, chunk_rows: (CHUNK_LOGITS / vocab.max(1)).max(1) }
    }
}

/// What every chunk needs, forward and backward.
struct Parts {
    opts: HeadLoss,
    head_s: Linear,
    head_t: Linear,
    /// The teacher's final hidden states `[N, D]` (data).
    ht: Tensor,
    /// The next token of every row, -1 where there is none (`[N]`, i64), when the
    /// cross-entropy is on.
    targets: Option<Tensor>,
    /// Rows per sequence, and the rows with a next token.
    t: usize,
    counted: usize,
}

impl Parts {
    /// The chunks: `(first row, rows)`.
    fn chunks(&self, n: usize) -> impl Iterator<Item = (usize, usize)> {
        let c = self.opts.chunk_rows.max(1);
        (0..n).step_by(c).map(move |r0| (r0, c.min(n - r0)))
    }
    /// The share of the loss of rows `r0..r0 + rows` of the student's states `hs_c`.
    fn chunk_loss(&self, hs_c: &Var, r0: usize, rows: usize, n: usize) -> Result<Var> {
        let s = self.head_s.forward(hs_c)?;
        let t = no_grad(|| self.head_t.forward(&Var::constant(self.ht.narrow(0, r0, rows)?)))?;
        let mut loss =
            kl_div(&s, t.value(), self.opts.temperature)?.scale(rows as f64 / n as f64)?;
        if let Some(targets) = &self.targets {
            // Rows whose position is the last of its sequence have no next token.
            let counted = (r0..r0 + rows).filter(|r| r % self.t != self.t - 1).count();
            if counted > 0 {
                let ce = cross_entropy(&s, &targets.narrow(0, r0, rows)?, Some(-1))?;
                let w = self.opts.ce_weight * counted as f64 / self.counted as f64;
                loss = loss.add(&ce.scale(w)?)?;
            }
        }
        Ok(loss)
    }
}

struct HeadLossBackward {
    parts: Parts,
    /// The student's final hidden states `[N, D]`, and their shape `[B, T, D]`.
    hs: Tensor,
    dims: Vec<usize>,
}

impl Backward for HeadLossBackward {
    fn name(&self) -> &'static str {
        "head_loss"
    }
    fn backward(&self, g: &[Option<Tensor>], needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let Some(g) = &g[0] else { return Ok(vec![None]) };
        let n = self.hs.dims()[0];
        let mut dh = vec![];
        for (r0, rows) in self.parts.chunks(n) {
            let hv = Var::leaf(self.hs.narrow(0, r0, rows)?);
            let loss = self.parts.chunk_loss(&hv, r0, rows, n)?;
            let grads = loss.backward_with(g.to_dtype(loss.dtype())?)?;
            if needs[0] {
                match grads.get(&hv) {
                    Some(d) => dh.push(d.clone()),
                    None => bail!("head_loss", "chunk at row {r0} gave no gradient"),
                }
            }
        }
        if !needs[0] {
            return Ok(vec![None]);
        }
        Ok(vec![Some(Tensor::cat(&dh.iter().collect::<Vec<_>>(), 0)?.reshape(self.dims.clone())?)])
    }
}

/// The loss above for the student's final hidden states `hs [B, T, D]`, its head `head_s`,
/// the teacher's final states `ht [B, T, D]` (data), its head `head_t`, and the batch's
/// `ids [B, T]` (for the cross-entropy; on the states' device). A scalar in the compute dtype
/// of the student's logits (f32; f64 for f64).
pub fn head_loss(
    hs: &Var,
    head_s: &Linear,
    ht: &Tensor,
    head_t: &Linear,
    ids: &Tensor,
    opts: HeadLoss,
) -> Result<Var> {
    let dims = hs.dims().to_vec();
    if dims.len() != 3 || ht.dims() != dims || ids.dims() != &dims[..2] {
        bail!(
            "head_loss",
            "needs hidden states [B, T, D] of both models and ids [B, T]: got {dims:?}, {:?}, {:?}",
            ht.dims(),
            ids.dims()
        )
    }
    let (b, t, d) = (dims[0], dims[1], dims[2]);
    if t < 2 && opts.ce_weight > 0.0 {
        bail!("head_loss", "the cross-entropy needs at least 2 tokens per sequence, got {t}")
    }
    let n = b * t;
    let targets = if opts.ce_weight > 0.0 {
        let none = Tensor::full(-1.0, [b, 1], DType::I64, &ids.device())?;
        Some(Tensor::cat(&[&ids.narrow(1, 1, t - 1)?, &none], 1)?.reshape(n)?)
    } else {
        None
    };
    let parts = Parts {
        opts,
        head_s: head_s.clone(),
        head_t: head_t.clone(),
        ht: ht.reshape([n, d])?,
        targets,
        t,
        counted: b * t.saturating_sub(1),
    };
    let hs2 = hs.value().reshape([n, d])?;
    let total = no_grad(|| -> Result<Tensor> {
        let mut total: Option<Tensor> = None;
        for (r0, rows) in parts.chunks(n) {
            let l = parts.chunk_loss(&Var::constant(hs2.narrow(0, r0, rows)?), r0, rows, n)?;
            let l = l.value().clone();
            total = Some(match total {
                Some(s) => s.add(&l)?,
                None => l,
            });
        }
        total.ok_or_else(|| tensor::Error::op("head_loss", "no rows"))
    })?;
    Ok(Var::from_op1(HeadLossBackward { parts, hs: hs2, dims }, &[hs], total))
}
