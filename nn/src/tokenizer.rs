//! Tokenizers: Hugging Face `tokenizer.json` files through the `tokenizers` crate
//! (byte-level BPE for Llama 3 and SmolLM2), plus small built-in vocabularies.

use serde_json::{Map, Value};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use tensor::{Error, Result};
use tokenizers::models::bpe::BPE;
use tokenizers::models::ModelWrapper;
use tokenizers::Model;

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
    /// Parses the text of a tokenizer.json; `source` names it in errors. The `tokenizers`
    /// crate decides what is a tokenizer: we accept exactly the files it loads, except
    /// those it would run wrongly (`check_loaded`). Before the crate sees the text,
    /// it must be valid JSON and a BPE model's merges must build (`check_merges`):
    /// the crate panics on some broken files there (a cut string inside `"decoder"`, a
    /// merge longer than any token); should another panic be found, it is still an error
    /// here, not an abort.
    pub fn from_json(text: &str, source: &Path) -> Result<Tokenizer> {
        let bad = |m: String| Error::file(source, format!("not a valid tokenizer.json: {m}"));
        let json: Value =
            serde_json::from_str(text).map_err(|e| bad(format!("not valid JSON: {e}")))?;
        check_merges(&json).map_err(bad)?;
        let inner = match std::panic::catch_unwind(|| text.parse::<tokenizers::Tokenizer>()) {
            Ok(Ok(t)) => t,
            // The crate's reason, said in the file's terms where we can.
            Ok(Err(e)) => return Err(bad(explain(&json).unwrap_or_else(|| e.to_string()))),
            Err(_) => return Err(bad("the tokenizers crate failed on it".into())),
        };
        check_loaded(&inner, &json).map_err(bad)?;
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
            return Err(Error::file(
                &self.source,
                format!(
                    "cannot decode token id {bad}: it is \
                not in this tokenizer's vocabulary ({} tokens)",
                    self.vocab_size()
                ),
            ));
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

/// The model object of a tokenizer.json, if it has one.
fn model_of(json: &Value) -> Option<&Map<String, Value>> {
    json.get("model").and_then(Value::as_object)
}

/// The merges of a BPE model (`"type": "BPE"`), checked in order as the crate builds them:
/// both tokens, and the merged token (the second one's first `continuing_subword_prefix`
/// bytes dropped), must be in the vocabulary. The crate returns an error for most broken
/// merges but panics on some: a second token shorter than the prefix, or a merged token
/// longer than any token of the vocabulary. Anything malformed here (no vocabulary, merges
/// that are not a list) is left to the crate, which refuses it.
fn check_merges(json: &Value) -> std::result::Result<(), String> {
    let Some(model) = model_of(json) else { return Ok(()) };
    if model.get("type").and_then(Value::as_str) != Some("BPE") {
        // Without a type the crate tries BPE, then other models: an error in the merges
        // may still load as another model, so only the crate can tell.
        return Ok(());
    }
    let (Some(vocab), Some(merges)) = (
        model.get("vocab").and_then(Value::as_object),
        model.get("merges").and_then(Value::as_array),
    ) else {
        return Ok(());
    };
    let prefix = model.get("continuing_subword_prefix").and_then(Value::as_str).unwrap_or("");
    for (i, m) in merges.iter().enumerate() {
        let (a, b) = match m {
            // The legacy form, "a b"; the crate skips "#version" lines.
            Value::String(s) if s.starts_with("#version") => continue,
            Value::String(s) => match s.split(' ').collect::<Vec<_>>()[..] {
                [a, b] => (a, b),
                _ => return Err(format!("merges[{i}] is {m}, not a pair of tokens")),
            },
            Value::Array(p) => match &p[..] {
                [Value::String(a), Value::String(b)] => (a.as_str(), b.as_str()),
                _ => return Err(format!("merges[{i}] is {m}, not a pair of tokens")),
            },
            _ => return Err(format!("merges[{i}] is {m}, not a pair of tokens")),
        };
        let pair = format!("merges[{i}] ({a:?}, {b:?})");
        if let Some(t) = [a, b].into_iter().find(|t| !vocab.contains_key(*t)) {
            return Err(format!("{pair}: {t:?} is not in the vocabulary"));
        }
        if b.len() < prefix.len() {
            let p = format!("the continuing_subword_prefix {prefix:?}");
            return Err(format!("{pair}: the second token is shorter than {p}"));
        }
        if !b.is_char_boundary(prefix.len()) {
            let p = format!("the continuing_subword_prefix {prefix:?}");
            return Err(format!("{pair}: dropping {p} from the second token cuts a character"));
        }
        let merged = format!("{a}{}", &b[prefix.len()..]);
        if !vocab.contains_key(&merged) {
            return Err(format!("{pair} makes {merged:?}, which is not in the vocabulary"));
        }
    }
    Ok(())
}

/// Files the crate loads but would run wrongly, refused on purpose:
///
/// * a model (BPE, WordPiece, WordLevel) naming an unknown token its vocabulary lacks:
///   encoding any text with a symbol outside the vocabulary fails;
/// * a BPE model with no merges whose vocabulary has tokens only merges make (see
///   [`needs_merges`]): the merges were lost, and every word would be split differently.
fn check_loaded(t: &tokenizers::Tokenizer, json: &Value) -> std::result::Result<(), String> {
    let model = t.get_model();
    let unk = model_of(json).and_then(|m| m.get("unk_token")).and_then(Value::as_str);
    let uses_unk_token = match model {
        ModelWrapper::BPE(_) | ModelWrapper::WordPiece(_) | ModelWrapper::WordLevel(_) => true,
        // A Unigram model names its unknown token by id, which the crate checks.
        ModelWrapper::Unigram(_) => false,
    };
    if let Some(unk) = unk.filter(|u| uses_unk_token && model.token_to_id(u).is_none()) {
        return Err(format!("the unknown token {unk:?} is not in the vocabulary"));
    }
    if let ModelWrapper::BPE(bpe) = model {
        // Parsed as a BPE model, so "merges" is a list.
        let merges = model_of(json).and_then(|m| m.get("merges")).and_then(Value::as_array);
        let no_merges = merges.is_some_and(|m| {
            m.iter().all(|m| m.as_str().is_some_and(|s| s.starts_with("#version")))
        });
        if no_merges {
            let added: HashSet<String> =
                t.get_added_tokens_decoder().into_values().map(|a| a.content).collect();
            if let Some(token) = needs_merges(bpe, &added) {
                return Err(format!(
                    "the BPE model's \"merges\" is empty, but its vocabulary has {token:?}, \
                     which only a merge makes: without the merges every word would split into \
                     single characters"
                ));
            }
        }
    }
    Ok(())
}

/// A token of a BPE model without merges that only a merge could make, if there is one.
/// Without merges the model turns each character of a word into its token (with the
/// `continuing_subword_prefix` after the first, the `end_of_word_suffix` on the last), the
/// unknown token or byte-fallback tokens (`<0x41>`); added tokens are matched before it.
/// A token made no such way that is the merge of two tokens of the vocabulary means the
/// merges were lost. With `ignore_merges` a word found whole in the vocabulary is its own
/// token, so a merged token may be reached as a word: nothing can be concluded there, and
/// the file is accepted, as the crate accepts it.
fn needs_merges(bpe: &BPE, added: &HashSet<String>) -> Option<String> {
    if bpe.ignore_merges {
        return None;
    }
    let vocab = bpe.get_vocab();
    let prefix = bpe.continuing_subword_prefix.as_deref().unwrap_or("");
    let suffix = bpe.end_of_word_suffix.as_deref().unwrap_or("");
    let one_char = |t: &str| {
        let t = t.strip_prefix(prefix).unwrap_or(t);
        let t = t.strip_suffix(suffix).unwrap_or(t);
        t.chars().count() == 1
    };
    let byte_fallback = |t: &str| {
        bpe.byte_fallback
            && t.len() == 6
            && t.starts_with("<0x")
            && t.ends_with('>')
            && t[3..5].chars().all(|c| c.is_ascii_digit() || ('A'..='F').contains(&c))
    };
    let made_otherwise = |t: &str| {
        one_char(t) || byte_fallback(t) || bpe.unk_token.as_deref() == Some(t) || added.contains(t)
    };
    // `a` merged with `prefix + b` makes `a + b`.
    let is_merge = |t: &str| {
        t.char_indices().skip(1).any(|(k, _)| {
            vocab.contains_key(&t[..k]) && vocab.contains_key(&format!("{prefix}{}", &t[k..]))
        })
    };
    let mut found: Vec<&String> =
        vocab.keys().filter(|t| !made_otherwise(t) && is_merge(t)).collect();
    found.sort();
    found.first().map(|t| t.to_string())
}

/// What is wrong with a file the crate refused, said in the file's terms (`None`: only the
/// crate's own message says it). Never a reason to refuse by itself.
fn explain(json: &Value) -> Option<String> {
    let Some(top) = json.as_object() else {
        return Some("the file must be a JSON object".into());
    };
    for key in ["normalizer", "pre_tokenizer", "post_processor", "decoder", "truncation", "padding"]
    {
        match top.get(key) {
            None | Some(Value::Null) | Some(Value::Object(_)) => {}
            Some(other) => {
                return Some(format!("\"{key}\" must be an object or null, got {}", kind(other)))
            }
        }
    }
    if let Some(added) = top.get("added_tokens") {
        let Some(list) = added.as_array() else {
            return Some("\"added_tokens\" must be a list".into());
        };
        for (i, t) in list.iter().enumerate() {
            if t.get("id").and_then(Value::as_u64).is_none_or(|id| id > u32::MAX as u64)
                || t.get("content").and_then(Value::as_str).is_none()
            {
                return Some(format!(
                    "added_tokens[{i}] needs an \"id\" (a token id) and a \"content\" string"
                ));
            }
        }
    }
    let Some(model) = model_of(json) else { return Some("no \"model\" object".into()) };
    let Some(vocab) = model.get("vocab") else {
        return Some("the model has no \"vocab\"".into());
    };
    let kind_name = model
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or(if model.contains_key("merges") { "BPE" } else { "" });
    match vocab {
        Value::Object(m) => {
            if let Some((tok, id)) =
                m.iter().find(|(_, id)| id.as_u64().is_none_or(|i| i > u32::MAX as u64))
            {
                return Some(format!("the vocabulary entry {tok:?} has id {id}, not a token id"));
            }
        }
        // Unigram vocabularies are [piece, score] pairs.
        Value::Array(_) if kind_name == "Unigram" => {}
        other => {
            return Some(format!(
                "the model's \"vocab\" must be an object of token ids, got {}",
                kind(other)
            ))
        }
    }
    if kind_name == "BPE" {
        match model.get("merges") {
            None => return Some("the BPE model has no \"merges\"".into()),
            Some(Value::Array(_)) => {}
            Some(other) => {
                return Some(format!(
                    "the BPE model's \"merges\" must be a list, got {}",
                    kind(other)
                ))
            }
        }
    }
    None
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}
