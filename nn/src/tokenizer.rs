//! Tokenizers: Hugging Face `tokenizer.json` files through the `tokenizers` crate
//! (byte-level BPE for Llama 3 and SmolLM2), plus small built-in vocabularies.

use std::path::{Path, PathBuf};
use tensor::{Error, Result};

#[derive(Clone)]
pub struct Tokenizer {
    inner: tokenizers::Tokenizer,
    source: PathBuf,
}

impl Tokenizer {
    pub fn from_file(path: impl AsRef<Path>) -> Result<Tokenizer> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Tokenizer::from_json(&text, path)
    }
    /// Parses the text of a tokenizer.json; `source` names it in errors. The text is
    /// checked here first (valid JSON, a model with a vocabulary, a BPE model with its
    /// merges) because the `tokenizers` crate panics on some broken files (a cut string
    /// inside `"decoder"`) and silently tokenizes differently on others (no merges).
    pub fn from_json(text: &str, source: &Path) -> Result<Tokenizer> {
        validate_json(text)
            .map_err(|m| Error::file(source, format!("not a valid tokenizer.json: {m}")))?;
        // The checks above keep every file we know of away from the crate's panics; should
        // another one be found, it is still an error here, not an abort.
        let parsed = std::panic::catch_unwind(|| text.parse::<tokenizers::Tokenizer>());
        let inner = match parsed {
            Ok(r) => {
                r.map_err(|e| Error::file(source, format!("not a valid tokenizer.json: {e}")))?
            }
            Err(_) => {
                return Err(Error::file(
                    source,
                    "not a valid tokenizer.json: the tokenizers crate failed on it",
                ))
            }
        };
        Ok(Tokenizer { inner, source: source.to_path_buf() })
    }
    pub fn source(&self) -> &Path {
        &self.source
    }
    /// Token ids of `text`; `add_special` adds what the tokenizer's post-processor adds
    /// (Llama 3: `<|begin_of_text|>` in front).
    pub fn encode(&self, text: &str, add_special: bool) -> Result<Vec<u32>> {
        let enc = self
            .inner
            .encode(text, add_special)
            .map_err(|e| Error::file(&self.source, format!("cannot encode {text:?}: {e}")))?;
        Ok(enc.get_ids().to_vec())
    }
    /// The text of `ids`; an id the vocabulary lacks is an error (the crate would drop it).
    pub fn decode(&self, ids: &[u32], skip_special: bool) -> Result<String> {
        if let Some(bad) = ids.iter().find(|&&id| self.inner.id_to_token(id).is_none()) {
            return Err(Error::file(&self.source, format!("cannot decode token id {bad}: it is not in this tokenizer's vocabulary ({} tokens)", self.vocab_size())));
        }
        self.inner
            .decode(ids, skip_special)
            .map_err(|e| Error::file(&self.source, format!("cannot decode: {e}")))
    }
    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }
    pub fn id_to_token(&self, id: u32) -> Option<String> {
        self.inner.id_to_token(id)
    }
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }
    /// The largest token id (added tokens included); `None` for an empty vocabulary.
    pub fn max_id(&self) -> Option<u32> {
        self.inner.get_vocab(true).values().copied().max()
    }
    /// The tokenizer.json text (for saving beside a converted model).
    pub fn to_json(&self) -> Result<String> {
        self.inner
            .to_string(true)
            .map_err(|e| Error::file(&self.source, format!("cannot serialize: {e}")))
    }
}

/// Structural checks of a tokenizer.json before the `tokenizers` crate sees it.
fn validate_json(text: &str) -> std::result::Result<(), String> {
    use serde_json::Value;
    let v: Value = serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?;
    let top = v.as_object().ok_or("the file must be a JSON object")?;
    for key in ["normalizer", "pre_tokenizer", "post_processor", "decoder", "truncation", "padding"]
    {
        match top.get(key) {
            None | Some(Value::Null) | Some(Value::Object(_)) => {}
            Some(other) => {
                return Err(format!("\"{key}\" must be an object or null, got {}", kind(other)))
            }
        }
    }
    if let Some(added) = top.get("added_tokens") {
        let list = added.as_array().ok_or("\"added_tokens\" must be a list")?;
        for (i, t) in list.iter().enumerate() {
            if t.get("id").and_then(Value::as_u64).is_none_or(|id| id > u32::MAX as u64)
                || t.get("content").and_then(Value::as_str).is_none()
            {
                return Err(format!(
                    "added_tokens[{i}] needs an \"id\" (a token id) and a \"content\" string"
                ));
            }
        }
    }
    let model = top.get("model").and_then(Value::as_object).ok_or("no \"model\" object")?;
    let vocab = model.get("vocab").ok_or("the model has no \"vocab\"")?;
    let kind_name = model
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or(if model.contains_key("merges") { "BPE" } else { "" });
    match vocab {
        Value::Object(m) => {
            if let Some((tok, id)) =
                m.iter().find(|(_, id)| id.as_u64().is_none_or(|i| i > u32::MAX as u64))
            {
                return Err(format!("the vocabulary entry {tok:?} has id {id}, not a token id"));
            }
        }
        // Unigram vocabularies are [piece, score] pairs.
        Value::Array(_) if kind_name == "Unigram" => {}
        other => {
            return Err(format!(
                "the model's \"vocab\" must be an object of token ids, got {}",
                kind(other)
            ))
        }
    }
    if let Some(unk) = model.get("unk_token").and_then(Value::as_str) {
        let known = match vocab {
            Value::Object(m) => m.contains_key(unk),
            _ => true,
        };
        if !known {
            return Err(format!("the unknown token {unk:?} is not in the vocabulary"));
        }
    }
    if kind_name == "BPE" {
        let merges = model.get("merges").ok_or("the BPE model has no \"merges\": without them every word splits into single characters")?;
        let merges = merges.as_array().ok_or("the BPE model's \"merges\" must be a list")?;
        let multi_char = vocab.as_object().is_some_and(|m| m.keys().any(|t| t.chars().count() > 1));
        if merges.is_empty() && multi_char {
            return Err("the BPE model's \"merges\" is empty, but its vocabulary has multi-character tokens: without merges they are never produced".into());
        }
        for (i, m) in merges.iter().enumerate() {
            let ok = match m {
                Value::String(s) => s.split(' ').count() == 2,
                Value::Array(p) => p.len() == 2 && p.iter().all(Value::is_string),
                _ => false,
            };
            if !ok {
                return Err(format!("merges[{i}] is {m}, not a pair of tokens"));
            }
        }
    }
    Ok(())
}

fn kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "a list",
        serde_json::Value::Object(_) => "an object",
    }
}
