//! Text generation with a decoding cache: prefill the prompts, then one token per step,
//! greedy or sampled (temperature, top-p) from a seeded RNG, until a stop token or the
//! token budget. Prompts of one batch must have equal length.

use crate::model::Llama;
use autograd::no_grad;
use std::time::Instant;
use tensor::{bail, Result, Rng, Tensor};

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Sampling {
    Greedy,
    /// Softmax at `temperature`, then the smallest set of tokens whose probability reaches
    /// `top_p` (1.0 keeps all).
    Sample { temperature: f64, top_p: f64 },
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
        GenerateOptions { max_new_tokens: 32, sampling: Sampling::Greedy, stop_tokens: vec![], seed: 0 }
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

/// Picks a token from one row of logits.
pub fn sample(logits: &[f32], sampling: Sampling, rng: &mut Rng) -> u32 {
    match sampling {
        Sampling::Greedy => {
            let mut best = 0;
            for (i, &v) in logits.iter().enumerate() {
                if v > logits[best] {
                    best = i;
                }
            }
            best as u32
        }
        Sampling::Sample { temperature, top_p } => {
            let t = temperature.max(1e-6);
            let m = logits.iter().cloned().fold(f32::NEG_INFINITY, f32::max) as f64;
            let mut p: Vec<(usize, f64)> = logits.iter().enumerate().map(|(i, &v)| (i, ((v as f64 - m) / t).exp())).collect();
            let z: f64 = p.iter().map(|x| x.1).sum();
            p.iter_mut().for_each(|x| x.1 /= z);
            p.sort_by(|a, b| b.1.partial_cmp(&a.1).unwrap_or(std::cmp::Ordering::Equal).then(a.0.cmp(&b.0)));
            let mut keep = 0;
            let mut mass = 0.0;
            while keep < p.len() {
                mass += p[keep].1;
                keep += 1;
                if mass >= top_p {
                    break;
                }
            }
            let r = rng.uniform() * mass;
            let mut acc = 0.0;
            for &(i, q) in &p[..keep] {
                acc += q;
                if r < acc {
                    return i as u32;
                }
            }
            p[keep - 1].0 as u32
        }
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
            bail!("generate", "temperature must be > 0 and top_p in (0, 1], got {temperature} and {top_p}")
        }
    }
    no_grad(|| {
        let b = prompts.len();
        let mut rng = Rng::new(opts.seed);
        let mut cache = model.new_cache(b);
        let ids: Vec<i64> = prompts.iter().flatten().map(|&t| t as i64).collect();
        let t0 = Instant::now();
        let mut logits = last_logits(model, &Tensor::from_vec(ids, [b, first.len()])?, &mut cache)?;
        let prefill_seconds = t0.elapsed().as_secs_f64();
        let t1 = Instant::now();
        let mut out: Vec<Vec<u32>> = vec![vec![]; b];
        let mut done = vec![false; b];
        for step in 0..opts.max_new_tokens {
            let mut next = vec![0i64; b];
            for i in 0..b {
                let tok = if done[i] { *out[i].last().unwrap_or(&0) } else { sample(&logits[i], opts.sampling, &mut rng) };
                if !done[i] {
                    out[i].push(tok);
                    done[i] = opts.stop_tokens.contains(&tok);
                }
                next[i] = tok as i64;
            }
            if done.iter().all(|&d| d) || step + 1 == opts.max_new_tokens {
                break;
            }
            logits = last_logits(model, &Tensor::from_vec(next, [b, 1])?, &mut cache)?;
        }
        Ok(Generation { tokens: out, prefill_seconds, decode_seconds: t1.elapsed().as_secs_f64(), cache_bytes: cache.bytes() })
    })
}

/// Runs `ids [B, T]` through the model with the cache; the logits of the last position of
/// each sequence.
fn last_logits(model: &Llama, ids: &Tensor, cache: &mut crate::model::Cache) -> Result<Vec<Vec<f32>>> {
    let out = model.forward(ids, Some(cache), false)?;
    let (b, t, v) = (out.logits.dims()[0], out.logits.dims()[1], out.logits.dims()[2]);
    let last = out.logits.value().narrow(1, t - 1, 1)?.to_vec_f32()?;
    Ok((0..b).map(|i| last[i * v..(i + 1) * v].to_vec()).collect())
}
