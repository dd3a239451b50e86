//! Losses, each a fused op (one graph node, a CPU body and an accelerator body for its
//! forward and for its backward, nothing of size `[N, V]` kept between them beyond the
//! inputs): cross-entropy against targets, the KL divergence to a teacher's distribution,
//! mean squared error. Each is tested against the composite of primitive ops it replaces.
//! [`head_loss`] is stage 2's KL (and cross-entropy) taken from final hidden states with the
//! LM heads applied a chunk of rows at a time, never the whole `[N, V]` logits.

mod cross_entropy;
mod head;
mod kl;
mod mse;

pub use cross_entropy::cross_entropy;
pub use head::{head_loss, HeadLoss, CHUNK_LOGITS};
pub use kl::kl_div;
pub use mse::mse;

use tensor::{bail, Real, Result};

/// `[.., V]` as `(rows, V)`.
pub(crate) fn rows_cols(op: &'static str, dims: &[usize]) -> Result<(usize, usize)> {
    let Some(&v) = dims.last() else { bail!(op, "needs logits of rank >= 1, got a scalar") };
    let n: usize = dims[..dims.len() - 1].iter().product();
    Ok((n, v))
}

/// The max and `log sum exp` of one row (the row's softmax is `exp(z - lse)`).
pub(crate) fn row_lse<T: Real>(z: &[T]) -> T {
    let m = z.iter().fold(T::NEG_INFINITY, |a, &b| a.max(b));
    if m == T::NEG_INFINITY {
        return m;
    }
    let s: T = z.iter().map(|&x| (x - m).exp()).sum();
    m + s.ln()
}
