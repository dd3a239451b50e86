//! `ptx/kernels/sample.cu`, launcher `ptx::ops::sample`, fused op `nn::generate`
//! (ChooseTokens): `choose_greedy` and `choose_sample` (temperature, top-p, seeded per row
//! and step), the ids equal to the CPU's, on logits with many ties now and then.

use super::helpers::{host, view};
use super::{gen, Case, Check};
use nn::generate::{ChooseTokens, Sampling};
use tensor::tolerance::Tol;
use tensor::{DType, Device, Result, Rng, Tensor};

/// Choosing tokens (`sample.cu`): greedy and sampled (temperature, top-p, seeded per row and
/// step), the ids equal to the CPU's; logits with many ties (integers) sometimes.
fn choose_tokens(device: &Device, rng: &mut Rng, size: usize) -> Result<Vec<Check>> {
    let b = gen::len(rng, size, &[1, 3, 5], &[1, 8]);
    let v = gen::len(rng, size, &[1, 5, 60, 129], &[1000, 32000]);
    let zd = [DType::F32, DType::F32, DType::BF16][rng.below(3)];
    let scale = [1.0, 4.0, 16.0][rng.below(3)];
    let (z_cpu, z_dev) = view(&[b, v], zd, -scale, scale, device, rng)?;
    let (z_cpu, z_dev) = if rng.below(3) == 0 {
        // integer logits: ties for the first maximum and at the edge of the top-p set
        let r = Tensor::from_vec(
            z_cpu.to_vec_f64()?.iter().map(|x| x.round()).collect::<Vec<_>>(),
            [b, v],
            &Device::Cpu,
        )?
        .to_dtype(zd)?;
        let dev = r.to_device(device)?;
        (r, dev)
    } else {
        (z_cpu, z_dev)
    };
    let sampling = match rng.below(3) {
        0 => Sampling::Greedy,
        _ => Sampling::Sample {
            temperature: 0.5 + rng.uniform(),
            top_p: [1.0, 0.9, 0.5, rng.uniform()][rng.below(4)],
        },
    };
    let op =
        ChooseTokens { sampling, seed: rng.below(1 << 30) as u64, step: rng.below(100) as u64 };
    let (ids, ids_ref) = (op.run(&z_dev)?, op.run(&z_cpu)?);
    Ok(vec![Check::new(
        format!("choose_tokens {sampling:?}, {zd} logits [{b}, {v}]"),
        host(&ids)?,
        ids_ref,
        Tol::EXACT,
    )])
}

pub fn cases() -> Vec<Case> {
    vec![Case { family: "sample", kernel: "choose_tokens", run: choose_tokens }]
}
