//! The Llama-3 tokenizer through our wrapper against HF tokenizers' ids, with and without
//! special tokens, and the decode round trip.

use lawcat_tests::fixture;
use nn::Tokenizer;

#[test]
fn llama3_cases_match_hf_tokenizers() {
    let dir = fixture("tokenizer");
    let tok = Tokenizer::from_file(dir.join("llama3-tokenizer.json")).unwrap();
    let cases: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("llama3-cases.json")).unwrap()).unwrap();
    let ids = |v: &serde_json::Value| -> Vec<u32> { v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect() };
    let cases = cases["cases"].as_array().unwrap();
    assert!(cases.len() >= 3);
    for c in cases {
        let text = c["text"].as_str().unwrap();
        assert_eq!(tok.encode(text, true).unwrap(), ids(&c["ids_with_special"]), "with special: {text:?}");
        let plain = tok.encode(text, false).unwrap();
        assert_eq!(plain, ids(&c["ids_plain"]), "plain: {text:?}");
        assert_eq!(tok.decode(&plain, false).unwrap(), c["decoded"].as_str().unwrap(), "decode: {text:?}");
    }
    assert_eq!(tok.vocab_size(), 128256);
}
