//! Choosing the next tokens on the device (`kernels/sample.cu`): `choose_greedy` and
//! `choose_sample`, one block per row of logits. The fused op is `nn::generate::ChooseTokens`;
//! its CPU body (`choose` with `uniform_at`) is the reference.

use super::fused_args::{out_ptr, row_dims, rows_in, scratch, In, Out};
use crate::runtime::KernelArg;
use tensor::{bail, DType, Result};

/// How a row's token is chosen.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Choice {
    /// The first index of the largest logit.
    Greedy,
    /// From softmax(logits / temperature) within the top-p set, with the uniform number of
    /// `(seed, step, row)`.
    Sample { temperature: f64, top_p: f64, seed: u64, step: u64 },
}

/// `ids [b]` (i64, contiguous) chosen from `logits [b, v]` (any float dtype, read as f32, any
/// layout; `v >= 1`).
pub fn choose(logits: In, ids: Out, choice: Choice) -> Result<()> {
    let kernel = match choice {
        Choice::Greedy => "choose_greedy",
        Choice::Sample { .. } => "choose_sample",
    };
    let &[b, v] = logits.1.dims() else {
        bail!(kernel, "logits must be [B, V], got {:?}", logits.1.dims())
    };
    if v == 0 {
        bail!(kernel, "cannot choose from an empty vocabulary")
    }
    let mut args = rows_in(kernel, "logits", logits)?;
    let ids = out_ptr(kernel, "ids", &ids, DType::I64, &[b])?;
    let gpu = logits.0.gpu();
    match choice {
        Choice::Greedy => {
            args.extend([ids, KernelArg::I64(b as i64), KernelArg::I64(v as i64)]);
            if b > 0 {
                gpu.launch("sample", kernel, row_dims(b, v), &args)?;
            }
        }
        Choice::Sample { temperature, top_p, seed, step } => {
            let p = scratch(logits.0, b * v)?;
            args.extend([p.arg(), ids, KernelArg::I64(b as i64), KernelArg::I64(v as i64)]);
            args.extend([
                KernelArg::F64(temperature.max(1e-6)),
                KernelArg::F64(top_p),
                KernelArg::U64(seed),
                KernelArg::U64(step),
            ]);
            if b > 0 {
                gpu.launch("sample", kernel, row_dims(b, v), &args)?;
            }
        }
    }
    Ok(())
}
