//! `lawcat inspect MODEL`: what a model is, without running it, from the files' headers
//! (no weight is read: inspecting a 1B model costs megabytes), with the stored types. The
//! weights' names and shapes are checked against the config as loading checks them, so a
//! model inspect passes has no tensor that `generate` would refuse.

use crate::student::{is_student, read_info};
use nn::inspect::{describe, Checked, Description, StoredTensor, Weight};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// A Hugging Face model folder, a student folder or a .gguf file ("builtin" for the
    /// built-in demo teacher).
    pub model: PathBuf,
}

pub fn run(a: &Args) -> anyhow::Result<ExitCode> {
    let (d, kinds, checked) = if a.model.as_os_str() == "builtin" {
        let m = super::load_named("builtin")?;
        let params = m.model.named_params();
        let tensors = params
            .iter()
            .map(|(name, p)| StoredTensor {
                name: name.clone(),
                shape: p.value().dims().to_vec(),
                dtype: p.value().dtype().to_string(),
            })
            .collect();
        let weights = params
            .iter()
            .map(|(name, p)| Weight {
                name: name.clone(),
                shape: p.value().dims().to_vec(),
                dtype: p.value().dtype(),
            })
            .collect();
        let kinds: Vec<&str> = m.model.layers.iter().map(|l| l.self_attn.kind()).collect();
        let d = Description {
            config: m.model.config.clone(),
            tensors,
            weights,
            tokenizer_tokens: m.tokenizer.map(|t| t.vocab_size()),
        };
        // Loaded, so checked already.
        let n = d.weights.len();
        (d, kinds, format!("{n}, checked as the model loaded"))
    } else {
        let d = describe(&a.model)?;
        let n = d.config.num_hidden_layers;
        if a.model.is_dir() && is_student(&a.model) {
            read_info(&a.model)?;
            // As a student loads: its teacher part against the config here; the LAWCAT
            // layers' tensors are matched to lawcat.json when it loads (they need weights).
            let base = d.check_weights(&a.model, Checked::LlamaPart)?;
            let own = d.weights.len() - base;
            let what = format!(
                "{base} of the Llama checked against the config; the LAWCAT layers' {own} \
                 are checked when the student loads"
            );
            (d, vec!["lawcat"; n], what)
        } else {
            let all = d.check_weights(&a.model, Checked::All)?;
            (d, vec!["softmax"; n], format!("{all} checked against the config"))
        }
    };
    let c = &d.config;
    outln!("model        {}", a.model.display());
    outln!(
        "architecture Llama, {} layers, hidden {}, ffn {}",
        c.num_hidden_layers,
        c.hidden_size,
        c.intermediate_size
    );
    outln!(
        "attention    {} heads, {} key/value heads, head dim {}",
        c.num_attention_heads,
        c.num_key_value_heads,
        c.head_dim
    );
    outln!("mixers       {}", summarize(&kinds));
    outln!(
        "vocab        {} (embeddings {})",
        c.vocab_size,
        if c.tie_word_embeddings { "tied to the head" } else { "separate from the head" }
    );
    outln!("rope         theta {}, {:?}", c.rope_theta, c.rope_scaling);
    outln!("norm eps     {:e}", c.rms_norm_eps);
    let weights: Vec<&StoredTensor> =
        d.tensors.iter().filter(|t| !t.name.ends_with("rotary_emb.inv_freq")).collect();
    let total: usize = weights.iter().map(|t| t.numel()).sum();
    let mut by_dtype: BTreeMap<&str, usize> = BTreeMap::new();
    for t in &weights {
        *by_dtype.entry(t.dtype.as_str()).or_default() += t.numel();
    }
    outln!("parameters   {total} ({:.1} M)", total as f64 / 1e6);
    for (dtype, n) in by_dtype {
        outln!("  {dtype:<5}      {n}");
    }
    outln!("weights      {checked}");
    match d.tokenizer_tokens {
        Some(n) => outln!("tokenizer    {n} tokens"),
        None => outln!("tokenizer    none"),
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
