//! `lawcat generate MODEL --prompt ...`: text from a model, greedy or sampled.

use anyhow::{bail, Context};
use nn::generate::{generate, GenerateOptions, Sampling};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// A Hugging Face model folder or a .gguf file.
    pub model: PathBuf,
    /// The prompt text.
    #[arg(long)]
    pub prompt: String,
    /// Most tokens to generate after the prompt.
    #[arg(long, default_value_t = 32)]
    pub max_new_tokens: usize,
    /// 0 for greedy decoding.
    #[arg(long, default_value_t = 0.0)]
    pub temperature: f64,
    /// Nucleus sampling: draw from the smallest set of tokens whose probability reaches this
    /// (1: all tokens; used with --temperature > 0).
    #[arg(long, default_value_t = 1.0)]
    pub top_p: f64,
    /// Sampling seed: the same seed, prompt and settings give the same text.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Add the tokenizer's special tokens (e.g. Llama 3's <|begin_of_text|>) to the prompt.
    #[arg(long)]
    pub add_special: bool,
    /// Ignore the model's end-of-sequence tokens and generate the full --max-new-tokens.
    #[arg(long)]
    pub no_stop: bool,
}

pub fn run(a: &Args) -> anyhow::Result<ExitCode> {
    if a.temperature < 0.0 {
        bail!("--temperature must be >= 0, got {}", a.temperature);
    }
    if !(a.top_p > 0.0 && a.top_p <= 1.0) {
        bail!("--top-p must be in (0, 1], got {}", a.top_p);
    }
    let loaded = super::load(&a.model)?;
    let tok = loaded
        .tokenizer
        .as_ref()
        .with_context(|| format!("{} has no tokenizer", a.model.display()))?;
    let ids = tok.encode(&a.prompt, a.add_special)?;
    if ids.is_empty() {
        bail!("the prompt encodes to no tokens");
    }
    let total = ids.len().saturating_add(a.max_new_tokens);
    tensor::memory::check_fits(
        &format!("{} prompt tokens and --max-new-tokens {}", ids.len(), a.max_new_tokens),
        nn::model::forward_memory_estimate(&loaded.model.config, 1, total),
    )?;
    let sampling = if a.temperature == 0.0 {
        Sampling::Greedy
    } else {
        Sampling::Sample { temperature: a.temperature, top_p: a.top_p }
    };
    let stop = if a.no_stop { vec![] } else { loaded.model.config.eos_token_ids.clone() };
    let opts = GenerateOptions {
        max_new_tokens: a.max_new_tokens,
        sampling,
        stop_tokens: stop,
        seed: a.seed,
    };
    let g = generate(&loaded.model, &[ids.clone()], &opts)?;
    let text = tok.decode(&g.tokens[0], false)?;
    outln!("{}{}", a.prompt, text);
    let n = g.tokens[0].len();
    eprintln!(
        "[{} prompt tokens in {:.2} s, {} new tokens at {:.1} tokens/s, decoding state {:.1} KiB]",
        ids.len(),
        g.prefill_seconds,
        n,
        n.saturating_sub(1) as f64 / g.decode_seconds.max(1e-9),
        g.cache_bytes as f64 / 1024.0
    );
    Ok(ExitCode::SUCCESS)
}
