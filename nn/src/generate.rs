//! Text generation with a decoding cache: prefill the prompts, then one token per step,
//! greedy or sampled (temperature, top-p) from a seeded RNG, until a stop token or the
//! token budget. Prompts of one batch must have equal length.

use crate::fused::{self, Compute, Fused};
use crate::model::Llama;
use autograd::no_grad;
use ptx::ops::operand::Operand;
use ptx::ops::sample::Choice;
use std::time::Instant;
use tensor::{bail, DType, Device, HostIn, HostOut, Result, Rng, Tensor};

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Sampling {
    Greedy,
    /// Softmax at `temperature`, then the smallest set of tokens whose probability reaches
    /// `top_p` (1.0 keeps all).
    Sample {
        temperature: f64,
        top_p: f64,
    },
}

#[derive(Clone, Debug)]
pub struct GenerateOptions {
    pub max_new_tokens: usize,
    pub sampling: Sampling,
    pub stop_tokens: Vec<u32>,
    pub seed: u64,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions {
            max_new_tokens: 32,
            sampling: Sampling::Greedy,
            stop_tokens: vec![],
            seed: 0,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Generation {
    /// New tokens of each sequence (a stop token, when hit, is the last one).
    pub tokens: Vec<Vec<u32>>,
    pub prefill_seconds: f64,
    pub decode_seconds: f64,
    /// Decoding state size at the end (KV cache or recurrent state), in bytes.
    pub cache_bytes: usize,
}

/// Picks a token from one row of logits, drawing one uniform number from `rng`.
pub fn sample(logits: &[f32], sampling: Sampling, rng: &mut Rng) -> u32 {
    let r = match sampling {
        Sampling::Greedy => 0.0,
        Sampling::Sample { .. } => rng.uniform(),
    };
    choose(logits, sampling, r)
}

/// The token of one row of logits for the uniform number `r` in `[0, 1)`: the first largest
/// logit (greedy), or, sampling, with `p = softmax(logits / temperature)`: the kept set is
/// every token with `p >= tau`, `tau` the largest probability such that the tokens at least
/// that likely hold `top_p` of the mass (the smallest most-likely set reaching `top_p`, with
/// ties at the edge kept); the token is where `r * mass(kept)` falls in the running sum of
/// the kept probabilities in vocabulary order. The reference of [`ChooseTokens`].
pub fn choose(logits: &[f32], sampling: Sampling, r: f64) -> u32 {
    let argmax = || {
        let mut best = 0;
        for (i, &v) in logits.iter().enumerate() {
            if v > logits[best] {
                best = i;
            }
        }
        best as u32
    };
    match sampling {
        Sampling::Greedy => argmax(),
        Sampling::Sample { temperature, top_p } => {
            let t = temperature.max(1e-6);
            let m = logits.iter().cloned().fold(f32::NEG_INFINITY, f32::max) as f64;
            let mut p: Vec<f64> = logits.iter().map(|&v| ((v as f64 - m) / t).exp()).collect();
            let z: f64 = p.iter().sum();
            if !(z > 0.0 && z.is_finite()) {
                return argmax();
            }
            p.iter_mut().for_each(|x| *x /= z);
            let mut sorted = p.clone();
            sorted.sort_by(|a, b| b.partial_cmp(a).unwrap_or(std::cmp::Ordering::Equal));
            let (mut mass, mut tau) = (0.0, sorted[0]);
            for &q in &sorted {
                mass += q;
                tau = q;
                if mass >= top_p {
                    break;
                }
            }
            let kept: f64 = p.iter().filter(|&&q| q >= tau).sum();
            let target = r * kept;
            let mut acc = 0.0;
            let mut last = 0;
            for (i, &q) in p.iter().enumerate() {
                if q >= tau {
                    acc += q;
                    last = i;
                    if target < acc {
                        return i as u32;
                    }
                }
            }
            last as u32
        }
    }
}

/// The uniform number in `[0, 1)` of row `row` at decoding step `step` of a run seeded with
/// `seed`: a counter-based hash (splitmix64), so the device computes the same numbers as the
/// host without any state crossing over.
pub fn uniform_at(seed: u64, step: u64, row: u64) -> f64 {
    let mut z =
        seed ^ step.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ row.wrapping_mul(0xD1B5_4A32_D192_ED03);
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

/// Chooses one token per row of `logits [B, V]` on the logits' device, row `i` with
/// [`uniform_at`]`(seed, step, i)`; the ids `[B]` (i64) stay there to be the next input, and
/// are all that crosses to the host. On a GPU: `choose_greedy` and `choose_sample`
/// (`ptx/kernels/sample.cu`, one block per row).
pub struct ChooseTokens {
    pub sampling: Sampling,
    pub seed: u64,
    pub step: u64,
}

impl Fused for ChooseTokens {
    fn name(&self) -> &'static str {
        "choose_tokens"
    }
    /// The logits are read as f32 whatever their dtype (the sampling arithmetic is f64).
    fn cpu<T: Compute>(&self, ins: &[HostIn], outs: &mut [HostOut]) -> Result<()> {
        let v = ins[0].dims()[1];
        let z = ins[0].values::<f32>()?;
        let ids = outs[0].slice_mut::<i64>()?;
        for (i, id) in ids.iter_mut().enumerate() {
            *id = choose(
                &z[i * v..(i + 1) * v],
                self.sampling,
                uniform_at(self.seed, self.step, i as u64),
            ) as i64;
        }
        Ok(())
    }
    fn gpu(&self, ins: &[Operand], outs: &[Operand]) -> Result<()> {
        let choice = match self.sampling {
            Sampling::Greedy => Choice::Greedy,
            Sampling::Sample { temperature, top_p } => {
                Choice::Sample { temperature, top_p, seed: self.seed, step: self.step }
            }
        };
        ptx::ops::sample::choose(ins[0], outs[0], choice)
    }
}

impl ChooseTokens {
    /// The ids `[B]` (i64, on the logits' device) chosen from `logits [B, V]`.
    pub fn run(&self, logits: &Tensor) -> Result<Tensor> {
        let &[b, _] = logits.dims() else {
            bail!("choose_tokens", "logits must be [B, V], got {:?}", logits.dims())
        };
        Ok(fused::run(self, &[logits], &[(b.into(), DType::I64)])?.remove(0))
    }
}

/// Generates continuations of `prompts` (equal lengths) with `model`.
pub fn generate(model: &Llama, prompts: &[Vec<u32>], opts: &GenerateOptions) -> Result<Generation> {
    let Some(first) = prompts.first() else { bail!("generate", "no prompt given") };
    if first.is_empty() {
        bail!("generate", "the prompt is empty")
    }
    if prompts.iter().any(|p| p.len() != first.len()) {
        let lens: Vec<usize> = prompts.iter().map(|p| p.len()).collect();
        bail!("generate", "prompts of one batch must have equal lengths, got {lens:?}")
    }
    if let Sampling::Sample { temperature, top_p } = opts.sampling {
        if !(temperature > 0.0) || !(top_p > 0.0 && top_p <= 1.0) {
            bail!(
                "generate",
                "temperature must be > 0 and top_p in (0, 1], got {temperature} and {top_p}"
            )
        }
    }
    no_grad(|| {
        let b = prompts.len();
        let mut cache = model.new_cache(b)?;
        let ids: Vec<i64> = prompts.iter().flatten().map(|&t| t as i64).collect();
        let t0 = Instant::now();
        let mut next = choose_next(
            model,
            &Tensor::from_vec(ids, [b, first.len()], &Device::Cpu)?,
            &mut cache,
            opts,
            0,
        )?;
        let prefill_seconds = t0.elapsed().as_secs_f64();
        let t1 = Instant::now();
        let mut out: Vec<Vec<u32>> = vec![vec![]; b];
        let mut done = vec![false; b];
        for step in 0..opts.max_new_tokens {
            // the one read per token: the chosen ids
            for (i, &id) in next.to_vec::<i64>()?.iter().enumerate() {
                if !done[i] {
                    out[i].push(id as u32);
                    done[i] = opts.stop_tokens.contains(&(id as u32));
                }
            }
            if done.iter().all(|&d| d) || step + 1 == opts.max_new_tokens {
                break;
            }
            // The ids are already on the device: they are the next input as they are (a
            // finished sequence runs on with its own choices, which nobody reads).
            next = choose_next(model, &next.reshape([b, 1])?, &mut cache, opts, step as u64 + 1)?;
        }
        Ok(Generation {
            tokens: out,
            prefill_seconds,
            decode_seconds: t1.elapsed().as_secs_f64(),
            cache_bytes: cache.bytes(),
        })
    })
}

/// Runs `ids [B, T]` through the model with the cache and chooses the next token of each
/// sequence on the model's device: `[B]` ids, left there.
fn choose_next(
    model: &Llama,
    ids: &Tensor,
    cache: &mut crate::model::Cache,
    opts: &GenerateOptions,
    step: u64,
) -> Result<Tensor> {
    let logits = model.forward_last(ids, Some(cache))?;
    let (b, v) = (logits.dims()[0], logits.dims()[2]);
    let rows = logits.value().reshape([b, v])?;
    ChooseTokens { sampling: opts.sampling, seed: opts.seed, step }.run(&rows)
}
