//! The built-in demo teacher, compiled into the program: a 2-layer softmax-attention Llama
//! (hidden 128, 4 heads, 2 key/value heads) over the demo world's word-level vocabulary,
//! trained from scratch by `lawcat train-teacher` (the command is in the README) on
//! passkey documents of up to 256 tokens. No download is ever needed to run the demo.

use crate::student::AnyModel;
use crate::synth::demo_tokenizer;
use nn::{Llama, LlamaConfig};
use std::path::Path;
use tensor::Result;

const CONFIG: &str = include_str!("../assets/demo-teacher/config.json");
const WEIGHTS: &[u8] = include_bytes!("../assets/demo-teacher/model.safetensors");
/// What the teacher was trained on and how long (written by `lawcat train-teacher`).
pub const TRAINING: &str = include_str!("../assets/demo-teacher/training.json");

pub fn teacher() -> Result<AnyModel> {
    let config = LlamaConfig::from_json_str(CONFIG, Path::new("<built-in teacher>/config.json"))?;
    let tensors =
        tensor::safetensors_io::load_bytes(WEIGHTS, "<built-in teacher>/model.safetensors")?;
    let model = Llama::from_tensors(config, tensors)?;
    Ok(AnyModel { model, tokenizer: Some(demo_tokenizer()?), student: None })
}

/// The length the built-in teacher was trained at.
pub fn training_length() -> usize {
    serde_json::from_str::<serde_json::Value>(TRAINING)
        .ok()
        .and_then(|v| v["config"]["seq_len"].as_u64())
        .unwrap_or(256) as usize
}
