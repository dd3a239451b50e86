//! What a model file holds, read from its headers only: the config, every tensor's name,
//! shape and stored type (a GGUF's `Q4_1` stays `Q4_1`), and the tokenizer's size; and the
//! weights checked against the config as loading checks them. No weight is read or
//! dequantized, so inspecting a model costs megabytes, not its size.

use crate::config::LlamaConfig;
use crate::gguf::GgufFile;
use crate::tokenizer::Tokenizer;
use std::path::Path;
use tensor::{DType, Error, Result};

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

/// One weight as loading makes it, before the model is built from it.
#[derive(Clone, Debug, PartialEq)]
pub struct Weight {
    /// The HF name (`model.layers.0.self_attn.q_proj.weight`).
    pub name: String,
    pub shape: Vec<usize>,
    pub dtype: DType,
}

/// A model file's description.
pub struct Description {
    pub config: LlamaConfig,
    /// The tensors as the file stores them.
    pub tensors: Vec<StoredTensor>,
    /// The weights loading makes of them: an HF folder's as stored (for shards, those the
    /// index lists), a GGUF's under their HF names, dequantized to f32.
    pub weights: Vec<Weight>,
    /// Tokens of the tokenizer that comes with the model, if one does.
    pub tokenizer_tokens: Option<usize>,
}

/// Which of the weights are checked against the config.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Checked {
    /// A Llama checkpoint: all of them, each must be one of the Llama's.
    All,
    /// A LAWCAT student's folder: those a Llama of the config has, as a student loads its
    /// teacher part; the LAWCAT layers' own tensors are left to the `lawcat` crate.
    LlamaPart,
}

impl Description {
    /// Checks the weights against the config as loading does ([`crate::model::check_weights`],
    /// the rule `Llama::from_tensors` applies): a missing, unexpected or misshapen tensor is
    /// the error loading `path` gives. Returns the number of weights checked.
    pub fn check_weights(&self, path: &Path, which: Checked) -> Result<usize> {
        let llama: std::collections::HashSet<String> = match which {
            Checked::All => Default::default(),
            Checked::LlamaPart => crate::model::expected_shapes(&self.config)
                .into_iter()
                .map(|(name, _)| name)
                .collect(),
        };
        let checked: Vec<&Weight> = self
            .weights
            .iter()
            .filter(|w| which == Checked::All || llama.contains(&w.name))
            .collect();
        let table = checked.iter().map(|w| (w.name.as_str(), w.shape.as_slice(), w.dtype));
        crate::model::check_weights(&self.config, table)
            .map_err(|e| Error::file(path, e.to_string()))?;
        Ok(checked.len())
    }
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
    let weights = crate::gguf::convert::hf_table(&g, &config)?
        .into_iter()
        .map(|(name, t)| Weight { name, shape: t.shape(), dtype: DType::F32 })
        .collect();
    let tensors = g
        .tensors
        .iter()
        .map(|t| StoredTensor {
            name: t.name.clone(),
            shape: t.shape(),
            dtype: format!("{:?}", t.kind).replace("K", "_K"),
        })
        .collect();
    Ok(Description { config, tensors, weights, tokenizer_tokens: Some(tokenizer.vocab_size()) })
}

fn describe_hf_dir(dir: &Path) -> Result<Description> {
    let config = LlamaConfig::from_file(dir.join("config.json"))?;
    let mut tensors = vec![];
    let mut weights = vec![];
    for (f, names) in crate::weights::hf_weight_files(dir)? {
        for name in names {
            let (shape, dtype) = f.info(&name)?;
            tensors.push(StoredTensor {
                name: name.clone(),
                shape: shape.clone(),
                dtype: dtype.to_string(),
            });
            weights.push(Weight { name, shape, dtype });
        }
    }
    let tok = dir.join("tokenizer.json");
    let tokenizer_tokens =
        if tok.exists() { Some(Tokenizer::from_file(&tok)?.vocab_size()) } else { None };
    Ok(Description { config, tensors, weights, tokenizer_tokens })
}
