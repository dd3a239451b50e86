//! Teachers in the shapes of real models with random weights (`shape:smollm2-135m`,
//! `shape:llama-3.2-1b`), for timing: a distillation step's speed does not depend on the
//! weights' values, so `lawcat bench step shape:llama-3.2-1b` measures the 1B shape without
//! its weights, as the PyTorch peer (`distill_step_anchor.py`) does. Normal weights with std
//! 0.02 and unit norms ([`nn::Llama::init`]); the configs are the models' `config.json`.

use nn::{LlamaConfig, RopeScaling};
use tensor::DType;

/// The shapes `shape:NAME` names.
pub const NAMES: [&str; 2] = ["smollm2-135m", "llama-3.2-1b"];

/// The config of the model `name` (one of [`NAMES`]).
pub fn config(name: &str) -> Option<LlamaConfig> {
    let base = LlamaConfig {
        hidden_size: 576,
        intermediate_size: 1536,
        num_hidden_layers: 30,
        num_attention_heads: 9,
        num_key_value_heads: 3,
        head_dim: 64,
        vocab_size: 49152,
        rms_norm_eps: 1e-5,
        rope_theta: 100000.0,
        rope_scaling: RopeScaling::Default,
        max_position_embeddings: 8192,
        tie_word_embeddings: true,
        attention_bias: false,
        mlp_bias: false,
        bos_token_id: Some(1),
        eos_token_ids: vec![2],
        dtype: DType::F32,
    };
    match name {
        "smollm2-135m" => Some(base),
        "llama-3.2-1b" => Some(LlamaConfig {
            hidden_size: 2048,
            intermediate_size: 8192,
            num_hidden_layers: 16,
            num_attention_heads: 32,
            num_key_value_heads: 8,
            vocab_size: 128256,
            rope_theta: 500000.0,
            rope_scaling: RopeScaling::Llama3 {
                factor: 32.0,
                low_freq_factor: 1.0,
                high_freq_factor: 4.0,
                original_max_position_embeddings: 8192,
            },
            max_position_embeddings: 131072,
            bos_token_id: Some(128000),
            eos_token_ids: vec![128001, 128008, 128009],
            ..base
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shapes_have_their_models_parameter_counts() {
        // Embedding, per layer (4 projections, 3 MLP matrices, 2 norms), final norm; tied.
        let count = |c: &LlamaConfig| {
            let (d, i, h, kv, hd) = (
                c.hidden_size,
                c.intermediate_size,
                c.num_attention_heads,
                c.num_key_value_heads,
                c.head_dim,
            );
            let layer = d * h * hd * 2 + d * kv * hd * 2 + 3 * d * i + 2 * d;
            c.vocab_size * d + c.num_hidden_layers * layer + d
        };
        // 134,515,008 (SmolLM2-135M) and 1,235,814,400 (Llama-3.2-1B), as HF counts them.
        assert_eq!(count(&config("smollm2-135m").unwrap()), 134_515_008);
        assert_eq!(count(&config("llama-3.2-1b").unwrap()), 1_235_814_400);
        assert!(config("gpt2").is_none());
    }
}
