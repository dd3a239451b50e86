//! Choosing the next tokens on the device (`kernels/sample.cu`): `choose_greedy` and
//! `choose_sample`, one block per row of logits. The fused op is `nn::generate::ChooseTokens`;
//! its CPU body (`choose` with `uniform_at`) is the reference.

use super::operand::Operand;
use super::{row_dims, scratch};
use crate::modules::Kernels;
use crate::runtime::KernelArg;
use tensor::{bail, DType, Result};

/// `kernels/sample.ptx`.
pub static KERNELS: Kernels =
    Kernels::new("sample", || vec!["choose_greedy".into(), "choose_sample".into()]);

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
pub fn choose(logits: Operand, ids: Operand, choice: Choice) -> Result<()> {
    let kernel = KERNELS.entry(match choice {
        Choice::Greedy => "choose_greedy",
        Choice::Sample { .. } => "choose_sample",
    })?;
    let k = kernel.name;
    let &[b, v] = logits.dims() else {
        bail!("ptx", "{k}: logits must be [B, V], got {:?}", logits.dims())
    };
    if v == 0 {
        bail!("ptx", "{k}: cannot choose from an empty vocabulary")
    }
    let mut args = vec![logits.rows(k, "logits")?];
    let ids = ids.out(k, "ids", &[b], DType::I64)?;
    let gpu = logits.gpu();
    match choice {
        Choice::Greedy => {
            args.extend([ids, KernelArg::I64(b as i64), KernelArg::I64(v as i64)]);
            if b > 0 {
                gpu.launch(kernel, row_dims(b, v), &args)?;
            }
        }
        Choice::Sample { temperature, top_p, seed, step } => {
            let p = scratch(logits.storage, b * v)?;
            args.extend([p.arg(), ids, KernelArg::I64(b as i64), KernelArg::I64(v as i64)]);
            args.extend([
                KernelArg::F64(temperature.max(1e-6)),
                KernelArg::F64(top_p),
                KernelArg::U64(seed),
                KernelArg::U64(step),
            ]);
            if b > 0 {
                gpu.launch(kernel, row_dims(b, v), &args)?;
            }
        }
    }
    Ok(())
}
