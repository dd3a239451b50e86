//! # nn
//!
//! The teacher side of lawcat-rs: the Llama architecture read like the reference
//! implementation (Hugging Face transformers' `LlamaForCausalLM`), trainable through
//! `autograd`, loadable from the files people keep models in.
//!
//! * `fused` — the one skeleton of a fused op (CPU body over the compute type, GPU body,
//!   wanted gradients, the autograd node); every fused op here and in `lawcat` is written on it.
//! * `config` — HF `config.json` in both styles (`rope_scaling`/`torch_dtype` and
//!   `rope_parameters`/`dtype`).
//! * `linear`, `norm`, `rope`, `attention`, `mlp`, `model` — the layers; `block` — the
//!   attention-slot trait the LAWCAT student plugs into; `attention_kernel` — the blocked
//!   inference attention.
//! * `weights` — HF folders (single or sharded safetensors); `gguf` — llama.cpp files,
//!   dequantized and converted to the HF layout; `tokenizer` — `tokenizer.json`;
//!   `inspect` — what a model file holds, from its headers only.
//! * `generate` — KV-cache decoding, greedy or sampled.
//! * `loss` — cross-entropy, KL to a teacher, MSE (fused ops); `optim` — SGD, AdamW, gradient
//!   clipping, learning-rate schedules, optimizer state save/restore. They sit above
//!   `autograd`, which knows only tensors and gradients.
//!
//! Dependencies and why: `tokenizers` (HF's tokenizer implementation, so ids match the
//! reference exactly; built without its download features), `serde`/`serde_json`
//! (config and tokenizer files), `memmap2` (map GGUF files), `half` (f16 scales in GGUF
//! blocks), `rayon` (the attention kernel's parallel loop).

pub mod attention;
pub mod attention_kernel;
pub mod block;
pub mod config;
pub mod fused;
pub mod generate;
pub mod gguf;
pub mod inspect;
pub mod linear;
pub mod loss;
pub mod mlp;
pub mod model;
pub mod norm;
pub mod optim;
pub mod rope;
pub mod tokenizer;
pub mod weights;

pub use block::{AttentionBlock, LayerState};
pub use config::{LlamaConfig, RopeScaling};
pub use loss::{cross_entropy, kl_div, mse};
pub use model::{Cache, DecoderLayer, Llama, Output};
pub use tokenizer::Tokenizer;

use std::path::Path;
use tensor::{Error, Result};

/// Loads a model from an HF folder or a `.gguf` file, with its tokenizer when it has one.
pub fn load_model(path: &Path) -> Result<weights::Loaded> {
    if path.is_dir() {
        weights::load_hf_dir(path)
    } else if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("gguf")) {
        let (model, tok) = gguf::convert::load(path)?;
        weights::check_vocab(&model, &tok, path)?;
        Ok(weights::Loaded { model, tokenizer: Some(tok) })
    } else if path.exists() {
        Err(Error::file(path, "expected a Hugging Face model folder or a .gguf file"))
    } else {
        Err(Error::file(path, "no such file or folder"))
    }
}
