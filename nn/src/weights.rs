//! Checkpoints in Hugging Face's layout: a folder with `config.json`, the weights as
//! `model.safetensors` or shards listed in `model.safetensors.index.json`, and usually a
//! `tokenizer.json`. Reading maps the files; saving writes each file atomically.

use crate::config::LlamaConfig;
use crate::model::Llama;
use crate::tokenizer::Tokenizer;
use std::collections::BTreeMap;
use std::path::Path;
use tensor::safetensors_io::{save, SafetensorsFile};
use tensor::{Error, Result, Tensor};

/// All tensors of a folder's safetensors weights (single file or sharded).
pub fn read_hf_tensors(dir: &Path) -> Result<BTreeMap<String, Tensor>> {
    let mut out = BTreeMap::new();
    for (f, names) in hf_weight_files(dir)? {
        for name in names {
            let t = f.load(&name)?;
            out.insert(name, t);
        }
    }
    Ok(out)
}

/// The safetensors files of a folder's weights, opened (headers only), each with the
/// tensors [`read_hf_tensors`] takes from it: every tensor of `model.safetensors`, or those
/// `model.safetensors.index.json` lists in each shard (each checked to be there).
pub fn hf_weight_files(dir: &Path) -> Result<Vec<(SafetensorsFile, Vec<String>)>> {
    let single = dir.join("model.safetensors");
    let index = dir.join("model.safetensors.index.json");
    if single.exists() {
        let f = SafetensorsFile::open(&single)?;
        let names = f.names().into_iter().map(str::to_string).collect();
        return Ok(vec![(f, names)]);
    }
    if !index.exists() {
        return Err(Error::file(
            dir,
            "no model.safetensors or model.safetensors.index.json in this folder",
        ));
    }
    let text = std::fs::read_to_string(&index).map_err(|e| Error::io(&index, e))?;
    let v: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| Error::file(&index, format!("not valid JSON: {e}")))?;
    let map = v
        .get("weight_map")
        .and_then(|m| m.as_object())
        .ok_or_else(|| Error::file(&index, "no \"weight_map\" object"))?;
    let mut by_shard: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, shard) in map {
        let shard = shard.as_str().ok_or_else(|| {
            Error::file(&index, format!("weight_map entry {name:?} is not a file name"))
        })?;
        by_shard.entry(shard.to_string()).or_default().push(name.clone());
    }
    let mut out = vec![];
    for (shard, names) in by_shard {
        let f = SafetensorsFile::open(dir.join(&shard))?;
        if let Some(name) = names.iter().find(|n| !f.contains(n)) {
            return Err(Error::file(
                f.path(),
                format!("the index lists {name:?} in this shard, but it is not there"),
            ));
        }
        out.push((f, names));
    }
    Ok(out)
}

/// A model with what came with it.
pub struct Loaded {
    pub model: Llama,
    pub tokenizer: Option<Tokenizer>,
}

/// Loads an HF folder: config, weights, and the tokenizer when there is one.
pub fn load_hf_dir(dir: &Path) -> Result<Loaded> {
    let config = LlamaConfig::from_file(dir.join("config.json"))?;
    let tok = dir.join("tokenizer.json");
    let tokenizer = if tok.exists() { Some(Tokenizer::from_file(&tok)?) } else { None };
    let tensors = read_hf_tensors(dir)?;
    let model =
        Llama::from_tensors(config, tensors).map_err(|e| Error::file(dir, e.to_string()))?;
    if let Some(t) = &tokenizer {
        check_vocab(&model, t, dir)?;
    }
    Ok(Loaded { model, tokenizer })
}

/// A tokenizer that makes ids the model has no embedding row for is an error naming both.
pub fn check_vocab(model: &Llama, tok: &Tokenizer, model_path: &Path) -> Result<()> {
    let rows = model.embed_tokens.weight.value().dims()[0];
    match tok.max_id() {
        Some(max) if max as usize >= rows => Err(Error::file(
            tok.source(),
            format!(
                "the tokenizer has token ids up to {max}, but \
                the model {} has a vocabulary of {rows}: the two do not belong together",
                model_path.display()
            ),
        )),
        _ => Ok(()),
    }
}

/// Count of NaN and infinite values in a float tensor, read in place.
fn non_finite(t: &Tensor) -> Result<usize> {
    use rayon::prelude::*;
    fn count<T: tensor::Elem>(t: &Tensor, bad: fn(&T) -> bool) -> Result<usize> {
        let c = t.contiguous()?;
        c.with_cpu_slice::<T, usize>(|s, l| {
            s[l.offset()..l.offset() + c.numel()].par_iter().filter(|x| bad(x)).count()
        })
    }
    match t.dtype() {
        tensor::DType::F32 => count::<f32>(t, |x| !x.is_finite()),
        tensor::DType::F64 => count::<f64>(t, |x| !x.is_finite()),
        tensor::DType::BF16 => count::<tensor::bf16>(t, |x| !x.is_finite()),
        tensor::DType::F16 => count::<tensor::f16>(t, |x| !x.is_finite()),
        tensor::DType::I64 | tensor::DType::U8 => Ok(0),
    }
}

/// What is suspicious about a loaded model without making it unusable: weights holding
/// NaN or infinite values (each tensor named), a tokenizer with fewer tokens than the
/// model's vocabulary (ids it cannot decode).
pub fn load_warnings(model: &Llama, tok: Option<&Tokenizer>) -> Result<Vec<String>> {
    let mut out = vec![];
    for (name, p) in model.named_params() {
        let n = non_finite(&p.value())?;
        if n > 0 {
            out.push(format!("tensor {name} holds {n} NaN or infinite value(s)"));
        }
    }
    if let Some(t) = tok {
        let rows = model.embed_tokens.weight.value().dims()[0];
        if t.vocab_size() < rows {
            out.push(format!(
                "the tokenizer {} has {} tokens, the model's vocabulary {rows}: ids \
                past the tokenizer's cannot be decoded",
                t.source().display(),
                t.vocab_size()
            ));
        }
    }
    Ok(out)
}

/// Saves a model as an HF folder (`config.json`, `model.safetensors`, and `tokenizer.json`
/// when given); each file is written whole or not at all.
pub fn save_hf_dir(model: &Llama, tokenizer: Option<&Tokenizer>, dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let params = model.named_params();
    let values: Vec<(String, Tensor)> =
        params.iter().map(|(n, p)| (n.clone(), p.value())).collect();
    let meta = std::collections::HashMap::from([("format".to_string(), "pt".to_string())]);
    save(values.iter().map(|(n, t)| (n.as_str(), t)), Some(meta), dir.join("model.safetensors"))?;
    tensor::atomic::write_bytes_atomic(
        &dir.join("config.json"),
        model.config.to_json().as_bytes(),
    )?;
    if let Some(t) = tokenizer {
        tensor::atomic::write_bytes_atomic(&dir.join("tokenizer.json"), t.to_json()?.as_bytes())?;
    }
    Ok(())
}
