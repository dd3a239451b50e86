//! What a model file holds, read from its headers only: the config, every tensor's name,
//! shape and stored type (a GGUF's `Q4_1` stays `Q4_1`), and the tokenizer's size. No
//! weight is read or dequantized, so inspecting a model costs megabytes, not its size.

use crate::config::LlamaConfig;
use crate::gguf::GgufFile;
use crate::tokenizer::Tokenizer;
use std::path::Path;
use tensor::safetensors_io::SafetensorsFile;
use tensor::{Error, Result};

/// One stored tensor.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredTensor {
    pub name: String,
    pub shape: Vec<usize>,
    /// The stored type as the file names it (`f32`, `bf16`, `Q4_1`, ...).
    pub dtype: String,
}

impl StoredTensor {
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
}

/// A model file's description.
pub struct Description {
    pub config: LlamaConfig,
    pub tensors: Vec<StoredTensor>,
    /// Tokens of the tokenizer that comes with the model, if one does.
    pub tokenizer_tokens: Option<usize>,
}

/// Describes an HF folder or a GGUF file without loading its weights.
pub fn describe(path: &Path) -> Result<Description> {
    if path.is_dir() {
        describe_hf_dir(path)
    } else if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("gguf")) {
        describe_gguf(path)
    } else if path.exists() {
        Err(Error::file(path, "expected a Hugging Face model folder or a .gguf file"))
    } else {
        Err(Error::file(path, "no such file or folder"))
    }
}

fn describe_gguf(path: &Path) -> Result<Description> {
    let g = GgufFile::open(path)?;
    let config = crate::gguf::convert::config(&g)?;
    let tokenizer = crate::gguf::convert::tokenizer(&g)?;
    let tensors = g
        .tensors
        .iter()
        .map(|t| StoredTensor {
            name: t.name.clone(),
            shape: t.shape(),
            dtype: format!("{:?}", t.kind).replace("K", "_K"),
        })
        .collect();
    Ok(Description { config, tensors, tokenizer_tokens: Some(tokenizer.vocab_size()) })
}

fn describe_hf_dir(dir: &Path) -> Result<Description> {
    let config = LlamaConfig::from_file(dir.join("config.json"))?;
    let single = dir.join("model.safetensors");
    let files: Vec<std::path::PathBuf> = if single.exists() {
        vec![single]
    } else {
        let index = dir.join("model.safetensors.index.json");
        let text = std::fs::read_to_string(&index).map_err(|e| Error::io(&index, e))?;
        let v: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| Error::file(&index, format!("not valid JSON: {e}")))?;
        let map = v
            .get("weight_map")
            .and_then(|m| m.as_object())
            .ok_or_else(|| Error::file(&index, "no \"weight_map\" object"))?;
        let mut shards: Vec<String> = map
            .values()
            .map(|s| {
                s.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| Error::file(&index, "a weight_map entry is not a file name"))
            })
            .collect::<Result<_>>()?;
        shards.sort();
        shards.dedup();
        shards.into_iter().map(|s| dir.join(s)).collect()
    };
    let mut tensors = vec![];
    for f in files {
        let st = SafetensorsFile::open(&f)?;
        for name in st.names() {
            let (shape, dtype) = st.info(name)?;
            tensors.push(StoredTensor { name: name.to_string(), shape, dtype: dtype.to_string() });
        }
    }
    let tok = dir.join("tokenizer.json");
    let tokenizer_tokens =
        if tok.exists() { Some(Tokenizer::from_file(&tok)?.vocab_size()) } else { None };
    Ok(Description { config, tensors, tokenizer_tokens })
}
