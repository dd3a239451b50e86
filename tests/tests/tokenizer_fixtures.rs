//! A Llama-3-style tokenizer (Llama 3's pre-tokenizer split, byte-level BPE with
//! `ignore_merges`, its special tokens, `<|begin_of_text|>` added in front; a small
//! vocabulary trained by `fixtures/make_fixtures.py`) through our wrapper, against HF
//! tokenizers' ids with and without special tokens and its decoded text, on whitespace,
//! unicode, byte-level fall-back, digits, contractions and special-token cases.

use lawcat_tests::{check, fixture};

#[test]
fn llama3_style_cases_match_hf_tokenizers() {
    let tok = check::tokenizer(&fixture("tokenizer/cases.json"));
    assert_eq!(
        tok.token_to_id("<|begin_of_text|>"),
        Some(600),
        "special tokens follow the 600 learned ones, as in Llama 3"
    );
}
