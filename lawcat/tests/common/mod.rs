//! Small models and batches shared by the lawcat tests.
#![allow(dead_code)]

use nn::{Llama, LlamaConfig, RopeScaling};
use tensor::{DType, Device, Rng, Tensor};

/// A tiny random Llama teacher (2 layers, 4 heads of 8, `kv` key/value heads, vocabulary 40).
pub fn teacher(kv: usize, seed: u64) -> Llama {
    let c = LlamaConfig {
        hidden_size: 32,
        intermediate_size: 48,
        num_hidden_layers: 2,
        num_attention_heads: 4,
        num_key_value_heads: kv,
        head_dim: 8,
        vocab_size: 40,
        rms_norm_eps: 1e-5,
        rope_theta: 10000.0,
        rope_scaling: RopeScaling::Default,
        max_position_embeddings: 512,
        tie_word_embeddings: true,
        attention_bias: false,
        mlp_bias: false,
        bos_token_id: None,
        eos_token_ids: vec![],
        dtype: DType::F32,
    };
    Llama::init(&c, &mut Rng::new(seed)).unwrap()
}

/// `[b, t]` random token ids below 40, on the host.
pub fn ids(b: usize, t: usize, seed: u64) -> Tensor {
    let mut rng = Rng::new(seed);
    Tensor::from_vec(
        (0..b * t).map(|_| rng.below(40) as i64).collect::<Vec<_>>(),
        [b, t],
        &Device::Cpu,
    )
    .unwrap()
}
