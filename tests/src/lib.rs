//! Cross-crate tests against the reference fixtures in `fixtures/` (made by
//! `fixtures/make_fixtures.py` with independent implementations: HF transformers, PyTorch,
//! HF tokenizers). This library finds the fixtures and holds the checks, one per fixture
//! kind, so that the same check runs on our fixtures and, when a `../shared/fixtures`
//! folder sits beside the repository, on those too; and it writes GGUF files from a
//! description (`gguf`). The tests are in `tests/`.

pub mod check;
pub mod gguf;

use std::path::PathBuf;

/// A small Llama config for tests that save, edit and load models (2 layers, hidden 32, 4
/// heads of 8 over 2 key/value heads, BOS 1, EOS 2, f32) with a vocabulary of `vocab`.
pub fn small_llama(vocab: usize) -> nn::LlamaConfig {
    nn::LlamaConfig {
        hidden_size: 32,
        intermediate_size: 48,
        num_hidden_layers: 2,
        num_attention_heads: 4,
        num_key_value_heads: 2,
        head_dim: 8,
        vocab_size: vocab,
        rms_norm_eps: 1e-5,
        rope_theta: 10000.0,
        rope_scaling: nn::RopeScaling::Default,
        max_position_embeddings: 256,
        tie_word_embeddings: true,
        attention_bias: false,
        mlp_bias: false,
        bos_token_id: Some(1),
        eos_token_ids: vec![2],
        dtype: tensor::DType::F32,
    }
}

/// The repository's `fixtures/` folder (this crate's folder is `tests/`).
pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures")
}

/// The path of one fixture file or folder, checked to exist (with a message saying where
/// it was looked for when it does not).
pub fn fixture(rel: &str) -> PathBuf {
    let p = fixtures().join(rel);
    assert!(
        p.exists(),
        "fixture {} not found (looked in {}; fixtures/make_fixtures.py makes it)",
        rel,
        p.display()
    );
    p
}

/// `../shared/fixtures` beside the repository, when there is one (the project's shared
/// folder; a fresh clone has none).
pub fn shared_fixtures() -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures");
    p.is_dir().then_some(p)
}

/// SmolLM2-135M-Instruct (Q4_1 GGUF), fetched into `.data/` by `scripts/fetch-smollm2.sh`
/// (which the test command runs first).
pub fn smollm2() -> PathBuf {
    let p =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.data/SmolLM2-135M-Instruct.Q4_1.gguf");
    assert!(
        p.exists(),
        "{} is missing: run scripts/fetch-smollm2.sh (scripts/test.sh does)",
        p.display()
    );
    p
}
