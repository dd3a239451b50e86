//! Cross-crate tests against the outside references in `../shared/fixtures` (made by
//! independent implementations: HF transformers, PyTorch, HF tokenizers). This library
//! only finds the fixtures; the tests are in `tests/`.

use std::path::PathBuf;

/// `../shared/fixtures` seen from the workspace root (this crate's folder is `tests/`).
pub fn fixtures() -> PathBuf {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    here.join("../../shared/fixtures")
}

/// The path of one fixture file or folder, checked to exist (with a message saying where
/// it was looked for when it does not).
pub fn fixture(rel: &str) -> PathBuf {
    let p = fixtures().join(rel);
    assert!(p.exists(), "fixture {} not found (looked in {})", rel, p.display());
    p
}

/// SmolLM2-135M-Instruct (Q4_1 GGUF), fetched into `.data/` by `scripts/fetch-smollm2.sh`
/// (which the test command runs first).
pub fn smollm2() -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.data/SmolLM2-135M-Instruct.Q4_1.gguf");
    assert!(p.exists(), "{} is missing: run scripts/fetch-smollm2.sh (scripts/test.sh does)", p.display());
    p
}
