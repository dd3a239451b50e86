//! `lawcat inspect MODEL`: what a model is, without running it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// A Hugging Face model folder or a .gguf file.
    pub model: PathBuf,
}

pub fn run(a: &Args) -> anyhow::Result<ExitCode> {
    let loaded = super::load(&a.model)?;
    let m = &loaded.model;
    let c = &m.config;
    println!("model        {}", a.model.display());
    println!("architecture Llama, {} layers, hidden {}, ffn {}", c.num_hidden_layers, c.hidden_size, c.intermediate_size);
    println!("attention    {} heads, {} key/value heads, head dim {}", c.num_attention_heads, c.num_key_value_heads, c.head_dim);
    let kinds: Vec<&str> = m.layers.iter().map(|l| l.self_attn.kind()).collect();
    println!("mixers       {}", summarize(&kinds));
    println!("vocab        {} (embeddings {})", c.vocab_size, if c.tie_word_embeddings { "tied to the head" } else { "separate from the head" });
    println!("rope         theta {}, {:?}", c.rope_theta, c.rope_scaling);
    println!("norm eps     {:e}", c.rms_norm_eps);
    let params = m.named_params();
    let total: usize = params.iter().map(|(_, p)| p.numel()).sum();
    let mut by_dtype: BTreeMap<String, usize> = BTreeMap::new();
    for (_, p) in &params {
        *by_dtype.entry(p.value().dtype().to_string()).or_default() += p.numel();
    }
    println!("parameters   {total} ({:.1} M)", total as f64 / 1e6);
    for (d, n) in by_dtype {
        println!("  {d:<5}      {n}");
    }
    match &loaded.tokenizer {
        Some(t) => println!("tokenizer    {} tokens", t.vocab_size()),
        None => println!("tokenizer    none"),
    }
    Ok(ExitCode::SUCCESS)
}

fn summarize(kinds: &[&str]) -> String {
    let mut out: Vec<(String, usize)> = vec![];
    for k in kinds {
        match out.last_mut() {
            Some((last, n)) if last == k => *n += 1,
            _ => out.push((k.to_string(), 1)),
        }
    }
    out.iter().map(|(k, n)| format!("{n} x {k}")).collect::<Vec<_>>().join(", ")
}
