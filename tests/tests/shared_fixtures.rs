//! A cross-check on the project's shared fixtures (`../shared/fixtures`, made apart from
//! ours, with larger models and the full Llama-3 tokenizer), run when that folder sits
//! beside the repository and skipped otherwise (a fresh clone has none). The same checks as
//! on `fixtures/`, on every fixture found there.

use lawcat_tests::{check, shared_fixtures};
use std::path::{Path, PathBuf};

fn files(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> =
        std::fs::read_dir(dir).map(|d| d.flatten().map(|e| e.path()).collect()).unwrap_or_default();
    v.retain(|p| p.to_string_lossy().ends_with(suffix));
    v.sort();
    v
}

#[test]
fn shared_fixtures_pass_the_same_checks() {
    let Some(root) = shared_fixtures() else {
        eprintln!("no ../shared/fixtures beside the repository: cross-check skipped");
        return;
    };
    let mut seen = 0;
    for model in ["tiny-llama", "tiny-llama-bf16-tied"] {
        if root.join(model).join("reference.safetensors").exists() {
            check::llama(&root.join(model), &tensor::Device::Cpu);
            seen += 1;
        }
    }
    for f in files(&root.join("gla"), ".safetensors") {
        if f.to_string_lossy().contains("normalized") {
            check::gla_normalized(&f);
        } else {
            check::gla(&f);
        }
        seen += 1;
    }
    for f in files(&root.join("conv1d"), ".safetensors") {
        check::conv1d(&f);
        seen += 1;
    }
    for f in files(&root.join("tokenizer"), "cases.json") {
        let tok = check::tokenizer(&f);
        if f.to_string_lossy().contains("llama3") {
            assert_eq!(tok.vocab_size(), 128256);
        }
        seen += 1;
    }
    assert!(seen >= 5, "only {seen} fixtures found in {}", root.display());
}
