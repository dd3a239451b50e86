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
    /// Parses the text of a tokenizer.json; `source` names it in errors.
    pub fn from_json(text: &str, source: &Path) -> Result<Tokenizer> {
        let inner: tokenizers::Tokenizer = text.parse().map_err(|e| Error::file(source, format!("not a valid tokenizer.json: {e}")))?;
        Ok(Tokenizer { inner, source: source.to_path_buf() })
    }
    pub fn source(&self) -> &Path {
        &self.source
    }
    /// Token ids of `text`; `add_special` adds what the tokenizer's post-processor adds
    /// (Llama 3: `<|begin_of_text|>` in front).
    pub fn encode(&self, text: &str, add_special: bool) -> Result<Vec<u32>> {
        let enc = self.inner.encode(text, add_special).map_err(|e| Error::file(&self.source, format!("cannot encode {text:?}: {e}")))?;
        Ok(enc.get_ids().to_vec())
    }
    pub fn decode(&self, ids: &[u32], skip_special: bool) -> Result<String> {
        self.inner.decode(ids, skip_special).map_err(|e| Error::file(&self.source, format!("cannot decode: {e}")))
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
    /// The tokenizer.json text (for saving beside a converted model).
    pub fn to_json(&self) -> Result<String> {
        self.inner.to_string(true).map_err(|e| Error::file(&self.source, format!("cannot serialize: {e}")))
    }
}
