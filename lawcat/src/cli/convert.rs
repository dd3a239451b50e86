//! `lawcat convert GGUF OUT_DIR`: a llama.cpp file as a Hugging Face folder.

use anyhow::Context;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// The .gguf file (Llama architecture).
    pub gguf: PathBuf,
    /// The folder to write config.json, model.safetensors and tokenizer.json into.
    pub out_dir: PathBuf,
}

pub fn run(a: &Args) -> anyhow::Result<ExitCode> {
    let (model, tok) = nn::gguf::convert::load(&a.gguf)
        .with_context(|| format!("reading {}", a.gguf.display()))?;
    nn::weights::save_hf_dir(&model, Some(&tok), &a.out_dir)
        .with_context(|| format!("writing {}", a.out_dir.display()))?;
    let n: usize = model.named_params().iter().map(|(_, p)| p.numel()).sum();
    outln!(
        "wrote {} ({} parameters, f32, tokenizer with {} tokens)",
        a.out_dir.display(),
        n,
        tok.vocab_size()
    );
    Ok(ExitCode::SUCCESS)
}
