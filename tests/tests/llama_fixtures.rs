//! Our Llama against HF transformers on the tiny fixtures: logits and every hidden state
//! (relative error < 1e-4), the loss (< 1e-5), every parameter gradient (< 1e-3), and
//! greedy generation token for token, on the CPU and on the checking device.
//! `tiny-llama` is f32 with untied embeddings and GQA 4:2; `tiny-llama-bf16-tied` is bf16
//! with tied embeddings, GQA 4:1 and a head dim other than hidden / heads; both use llama3
//! RoPE scaling.

use lawcat_tests::{check, fixture};
use tensor::testing::devices;

#[test]
fn tiny_llama_matches_transformers() {
    for d in devices() {
        check::llama(&fixture("tiny-llama"), &d);
    }
}

#[test]
fn tiny_llama_bf16_tied_matches_transformers() {
    for d in devices() {
        check::llama(&fixture("tiny-llama-bf16-tied"), &d);
    }
}
