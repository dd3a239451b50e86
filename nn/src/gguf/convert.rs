//! A Llama GGUF as our model: config from `llama.*` metadata, tensors renamed to Hugging
//! Face names with llama.cpp's q/k row permutation undone, and the tokenizer rebuilt from
//! `tokenizer.ggml.*` as a `tokenizer.json`.

use super::{GgufFile, TensorInfo, Value};
use crate::config::{LlamaConfig, RopeScaling};
use crate::model::Llama;
use crate::tokenizer::Tokenizer;
use serde_json::json;
use std::collections::BTreeMap;
use tensor::{DType, Error, Result, Tensor};

/// An optional integer key: absent is `None`, present but not an integer is an error.
fn opt_u64(g: &GgufFile, key: &str) -> Result<Option<u64>> {
    match g.get(key) {
        None => Ok(None),
        Some(v) => v.as_u64().map(Some).ok_or_else(|| {
            Error::file(&g.path, format!("metadata {key:?} is {v:?}, not a non-negative integer"))
        }),
    }
}

/// An optional number key: absent is `None`, present but not a number is an error.
fn opt_f64(g: &GgufFile, key: &str) -> Result<Option<f64>> {
    match g.get(key) {
        None => Ok(None),
        Some(v) => v.as_f64().map(Some).ok_or_else(|| {
            Error::file(&g.path, format!("metadata {key:?} is {v:?}, not a number"))
        }),
    }
}

fn to_usize(g: &GgufFile, key: &str, v: u64) -> Result<usize> {
    usize::try_from(v)
        .map_err(|_| Error::file(&g.path, format!("metadata {key:?} = {v} is too large")))
}

/// A token id key (at most 32 bits; the vocabulary bound is checked with the config).
fn token_id(g: &GgufFile, key: &str) -> Result<Option<u32>> {
    match opt_u64(g, key)? {
        None => Ok(None),
        Some(v) => u32::try_from(v)
            .map(Some)
            .map_err(|_| Error::file(&g.path, format!("metadata {key:?} = {v} is not a token id"))),
    }
}

/// The Llama config a GGUF's metadata describes, checked (`LlamaConfig::validate`) and
/// matched against the tensor table: as many blocks as `block_count` says.
pub fn config(g: &GgufFile) -> Result<LlamaConfig> {
    let arch = g.require("general.architecture")?.as_str().unwrap_or("");
    if arch != "llama" {
        return Err(Error::file(
            &g.path,
            format!("architecture {arch:?} is not supported (this converter reads \"llama\")"),
        ));
    }
    let n = |k: &str| -> Result<usize> {
        let key = format!("llama.{k}");
        to_usize(g, &key, g.require_u64(&key)?)
    };
    let hidden_size = n("embedding_length")?;
    let heads = n("attention.head_count")?;
    let kv_heads = match opt_u64(g, "llama.attention.head_count_kv")? {
        Some(v) => to_usize(g, "llama.attention.head_count_kv", v)?,
        None => heads,
    };
    if heads == 0 || kv_heads == 0 || heads % kv_heads != 0 {
        return Err(Error::file(
            &g.path,
            format!("head counts {heads} / {kv_heads} do not fit grouped-query attention"),
        ));
    }
    let head_dim = match opt_u64(g, "llama.attention.key_length")? {
        Some(v) => to_usize(g, "llama.attention.key_length", v)?,
        None => hidden_size / heads,
    };
    let embd = g
        .info("token_embd.weight")
        .ok_or_else(|| Error::file(&g.path, "no token_embd.weight tensor"))?;
    let vocab_size = match opt_u64(g, "llama.vocab_size")? {
        Some(v) => to_usize(g, "llama.vocab_size", v)?,
        None => embd.shape()[0],
    };
    let rope_theta = opt_f64(g, "llama.rope.freq_base")?.unwrap_or(10000.0);
    if !(rope_theta > 0.0 && rope_theta.is_finite()) {
        return Err(Error::file(
            &g.path,
            format!("llama.rope.freq_base is {rope_theta}: it must be a positive number"),
        ));
    }
    let num_hidden_layers = n("block_count")?;
    // The blocks the tensor table holds: a block count that disagrees is an error here,
    // before anything is sized by it.
    let blocks = g
        .tensors
        .iter()
        .filter_map(|t| t.name.strip_prefix("blk.")?.split_once('.')?.0.parse::<usize>().ok())
        .max()
        .map_or(0, |m| m + 1);
    if blocks != num_hidden_layers {
        return Err(Error::file(
            &g.path,
            format!(
                "llama.block_count is {num_hidden_layers}, but the tensor table holds blocks \
                 0..{blocks}"
            ),
        ));
    }
    let rope_scaling = rope_scaling(g, head_dim, rope_theta)?;
    let mut eos_ids: Vec<u32> = token_id(g, "tokenizer.ggml.eos_token_id")?.into_iter().collect();
    if let Some(eot) = token_id(g, "tokenizer.ggml.eot_token_id")? {
        if !eos_ids.contains(&eot) {
            eos_ids.push(eot);
        }
    }
    let c = LlamaConfig {
        hidden_size,
        intermediate_size: n("feed_forward_length")?,
        num_hidden_layers,
        num_attention_heads: heads,
        num_key_value_heads: kv_heads,
        head_dim,
        vocab_size,
        rms_norm_eps: opt_f64(g, "llama.attention.layer_norm_rms_epsilon")?.unwrap_or(1e-5),
        rope_theta,
        rope_scaling,
        max_position_embeddings: match opt_u64(g, "llama.context_length")? {
            Some(v) => to_usize(g, "llama.context_length", v)?,
            None => 2048,
        },
        tie_word_embeddings: g.info("output.weight").is_none(),
        attention_bias: g.info("blk.0.attn_q.bias").is_some(),
        mlp_bias: g.info("blk.0.ffn_up.bias").is_some(),
        bos_token_id: token_id(g, "tokenizer.ggml.bos_token_id")?,
        eos_token_ids: eos_ids,
        dtype: DType::F32,
    };
    c.validate().map_err(|m| Error::file(&g.path, format!("the llama.* metadata: {m}")))?;
    Ok(c)
}

/// Llama 3.1+ GGUFs store the llama3 rope rule as per-frequency divisors (`rope_freqs`);
/// recover the rule's parameters and check they reproduce every divisor.
fn rope_scaling(g: &GgufFile, head_dim: usize, theta: f64) -> Result<RopeScaling> {
    let kind = g.get("llama.rope.scaling.type").and_then(Value::as_str).unwrap_or("none");
    if kind != "none" && kind != "llama3" {
        return Err(Error::file(
            &g.path,
            format!("rope scaling type {kind:?} is not supported (none, llama3)"),
        ));
    }
    let Some(_) = g.info("rope_freqs.weight") else { return Ok(RopeScaling::Default) };
    let factors = g.tensor("rope_freqs.weight")?.to_vec::<f32>()?;
    if factors.len() != head_dim / 2 {
        return Err(Error::file(
            &g.path,
            format!(
                "rope_freqs.weight has {} values, expected one per rotated pair ({})",
                factors.len(),
                head_dim / 2
            ),
        ));
    }
    if let Some(bad) = factors.iter().find(|f| !(f.is_finite() && **f > 0.0)) {
        return Err(Error::file(
            &g.path,
            format!("rope_freqs.weight holds {bad}: every divisor must be a positive number"),
        ));
    }
    let factor = factors.iter().cloned().fold(1f32, f32::max) as f64;
    let original = match opt_u64(g, "llama.rope.scaling.original_context_length")? {
        Some(v) => to_usize(g, "llama.rope.scaling.original_context_length", v)?.max(1),
        None => 8192,
    };
    let rule = RopeScaling::Llama3 {
        factor,
        low_freq_factor: 1.0,
        high_freq_factor: 4.0,
        original_max_position_embeddings: original,
    };
    let plain = crate::rope::Rope::new(head_dim, theta, &RopeScaling::Default);
    let scaled = crate::rope::Rope::new(head_dim, theta, &rule);
    for (i, f) in factors.iter().enumerate() {
        let implied = plain.inv_freq[i] as f64 / scaled.inv_freq[i] as f64;
        if (implied - *f as f64).abs() > 1e-3 * implied.max(1.0) {
            return Err(Error::file(
                &g.path,
                format!(
                    "rope_freqs[{i}] = {f} does not follow the llama3 rule with factor {factor}, \
                     low 1, high 4, original context {original}"
                ),
            ));
        }
    }
    Ok(rule)
}

/// Undoes llama.cpp's interleaving of q/k rows: GGUF row `h*d + 2i + j` is HF row
/// `h*d + j*d/2 + i` (the converter reshapes `[heads, 2, d/2, in]` and swaps axes 1, 2).
pub fn unpermute_qk(w: &Tensor, heads: usize) -> Result<Tensor> {
    let (out, inp) = (w.dims()[0], w.dims()[1]);
    let d = out / heads;
    w.reshape([heads, d / 2, 2, inp])?.transpose(1, 2)?.contiguous()?.reshape([out, inp])
}

/// The HF name of a GGUF tensor (`None` for tensors with no weight to carry, e.g. `rope_freqs`).
pub fn hf_name(gguf: &str) -> Option<String> {
    let fixed = match gguf {
        "token_embd.weight" => Some("model.embed_tokens.weight"),
        "output_norm.weight" => Some("model.norm.weight"),
        "output.weight" => Some("lm_head.weight"),
        "rope_freqs.weight" => return None,
        _ => None,
    };
    if let Some(f) = fixed {
        return Some(f.to_string());
    }
    let rest = gguf.strip_prefix("blk.")?;
    let (layer, name) = rest.split_once('.')?;
    let (base, suffix) = name.rsplit_once('.')?;
    let hf = match base {
        "attn_norm" => "input_layernorm",
        "ffn_norm" => "post_attention_layernorm",
        "attn_q" => "self_attn.q_proj",
        "attn_k" => "self_attn.k_proj",
        "attn_v" => "self_attn.v_proj",
        "attn_output" => "self_attn.o_proj",
        "ffn_gate" => "mlp.gate_proj",
        "ffn_up" => "mlp.up_proj",
        "ffn_down" => "mlp.down_proj",
        _ => return Some(format!("unknown.{gguf}")),
    };
    Some(format!("model.layers.{layer}.{hf}.{suffix}"))
}

/// The heads whose rows llama.cpp interleaved in a q or k projection (by HF name).
fn qk_heads(name: &str, c: &LlamaConfig) -> Option<usize> {
    if name.contains("q_proj.") {
        Some(c.num_attention_heads)
    } else if name.contains("k_proj.") {
        Some(c.num_key_value_heads)
    } else {
        None
    }
}

/// The weights [`tensors`] makes of the table, each under its HF name (`hf_name`) with its
/// table entry (dequantized, it keeps the entry's shape), q/k rows checked against the
/// heads. The table alone decides these, so `inspect` checks a file with them, reading no
/// weight.
pub fn hf_table<'g>(g: &'g GgufFile, c: &LlamaConfig) -> Result<Vec<(String, &'g TensorInfo)>> {
    let mut out: Vec<(String, &TensorInfo)> = vec![];
    let mut seen = std::collections::HashSet::new();
    for info in &g.tensors {
        let Some(name) = hf_name(&info.name) else { continue };
        if let Some(heads) = qk_heads(&name, c) {
            let shape = info.shape();
            if shape.len() > 2 || shape[0] != heads * c.head_dim {
                return Err(Error::file(
                    &g.path,
                    format!(
                        "tensor {:?} has shape {shape:?}: expected {} rows ({heads} heads of {})",
                        info.name,
                        heads * c.head_dim,
                        c.head_dim
                    ),
                ));
            }
        }
        if !seen.insert(name.clone()) {
            return Err(Error::file(&g.path, format!("two tensors map to {name}")));
        }
        out.push((name, info));
    }
    Ok(out)
}

/// Every weight under its HF name, dequantized to f32, q/k rows in HF order. The f32
/// size of all of them is checked against the memory available first.
pub fn tensors(g: &GgufFile, c: &LlamaConfig) -> Result<BTreeMap<String, Tensor>> {
    let total: u128 = g.tensors.iter().map(|t| t.numel() as u128 * 4).sum();
    tensor::memory::check_fits(
        &format!("{}: the weights dequantized to f32", g.path.display()),
        total,
    )?;
    let mut out = BTreeMap::new();
    for (name, info) in hf_table(g, c)? {
        let mut t = g.tensor(&info.name)?;
        if let Some(heads) = qk_heads(&name, c) {
            t = if t.rank() == 2 {
                unpermute_qk(&t, heads)?
            } else {
                unpermute_qk(&t.unsqueeze(1)?, heads)?.squeeze(1)?
            };
        }
        out.insert(name, t);
    }
    Ok(out)
}

/// The pre-tokenizer of a `tokenizer.ggml.pre` name (llama.cpp's names).
fn pre_tokenizer(g: &GgufFile, pre: &str) -> Result<serde_json::Value> {
    let byte_level = |use_regex: bool| {
        json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true,
               "use_regex": use_regex})
    };
    Ok(match pre {
        "llama-bpe" | "llama3" | "llama-v3" => json!({"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": "(?i:'s|'t|'re|'ve|'m|'ll|'d)|\
                [^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\
                \\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}, "behavior": "Isolated", "invert": false},
            byte_level(false)]}),
        "smollm" | "starcoder" | "refact" => json!({"type": "Sequence", "pretokenizers": [
            {"type": "Digits", "individual_digits": true}, byte_level(true)]}),
        "gpt2" | "default" => byte_level(true),
        other => {
            return Err(Error::file(
                &g.path,
                format!(
                    "tokenizer pre-type {other:?} is not supported (llama-bpe, smollm, starcoder, \
                     gpt2)"
                ),
            ))
        }
    })
}

/// The tokenizer described by the file's `tokenizer.ggml.*` keys (byte-level BPE).
pub fn tokenizer(g: &GgufFile) -> Result<Tokenizer> {
    let model = g.require("tokenizer.ggml.model")?.as_str().unwrap_or("");
    if model != "gpt2" {
        return Err(Error::file(
            &g.path,
            format!("tokenizer model {model:?} is not supported (byte-level BPE, \"gpt2\", is)"),
        ));
    }
    let strings = |key: &str| -> Result<Vec<&str>> {
        let list = g
            .require(key)?
            .as_array()
            .ok_or_else(|| Error::file(&g.path, format!("metadata {key:?} is not a list")))?;
        list.iter()
            .enumerate()
            .map(|(i, v)| {
                v.as_str().ok_or_else(|| {
                    Error::file(&g.path, format!("{key}[{i}] is {v:?}, not a string"))
                })
            })
            .collect()
    };
    let tokens = strings("tokenizer.ggml.tokens")?;
    if tokens.is_empty() {
        return Err(Error::file(&g.path, "tokenizer.ggml.tokens is empty"));
    }
    // Byte-level BPE without its merges silently splits every word into bytes.
    if g.get("tokenizer.ggml.merges").is_none() {
        return Err(Error::file(
            &g.path,
            "tokenizer.ggml.merges is missing: a byte-level BPE tokenizer needs its merges",
        ));
    }
    // An empty list is refused only where the vocabulary has tokens only merges make
    // (`Tokenizer::from_json`, the rule for tokenizer.json files too): llama.cpp loads the rest.
    let merges = strings("tokenizer.ggml.merges")?;
    let types: Vec<u64> = match g.get("tokenizer.ggml.token_type") {
        None => vec![],
        Some(v) => {
            let list = v
                .as_array()
                .ok_or_else(|| Error::file(&g.path, "tokenizer.ggml.token_type is not a list"))?;
            if list.len() != tokens.len() {
                return Err(Error::file(
                    &g.path,
                    format!(
                        "tokenizer.ggml.token_type has {} entries for {} tokens",
                        list.len(),
                        tokens.len()
                    ),
                ));
            }
            list.iter()
                .map(|v| {
                    v.as_u64().ok_or_else(|| {
                        Error::file(
                            &g.path,
                            format!("tokenizer.ggml.token_type holds {v:?}, not an integer"),
                        )
                    })
                })
                .collect::<Result<_>>()?
        }
    };
    let pre = match g.get("tokenizer.ggml.pre") {
        None => "default",
        Some(v) => v.as_str().ok_or_else(|| {
            Error::file(&g.path, format!("tokenizer.ggml.pre is {v:?}, not a string"))
        })?,
    };
    let mut vocab = serde_json::Map::new();
    for (i, t) in tokens.iter().enumerate() {
        if vocab.insert(t.to_string(), json!(i)).is_some() {
            return Err(Error::file(
                &g.path,
                format!("tokenizer.ggml.tokens[{i}] {t:?} appears twice"),
            ));
        }
    }
    // Control (3) and user-defined (4) tokens are matched whole before BPE.
    let added: Vec<serde_json::Value> = types
        .iter()
        .enumerate()
        .filter(|(_, &t)| t == 3 || t == 4)
        .map(|(i, &t)| {
            json!({"id": i, "content": tokens[i], "single_word": false, "lstrip": false,
                   "rstrip": false, "normalized": t == 4, "special": t == 3})
        })
        .collect();
    let add_bos = g.get("tokenizer.ggml.add_bos_token").and_then(Value::as_bool).unwrap_or(false);
    let bos = token_id(g, "tokenizer.ggml.bos_token_id")?.map(|v| v as usize);
    let byte_post = json!({"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": false,
                           "use_regex": true});
    let post = match (add_bos, bos) {
        (true, Some(b)) if b < tokens.len() => {
            let bt = tokens[b];
            json!({"type": "Sequence", "processors": [byte_post, {"type": "TemplateProcessing",
                "single": [{"SpecialToken": {"id": bt, "type_id": 0}},
                           {"Sequence": {"id": "A", "type_id": 0}}],
                "pair": [{"SpecialToken": {"id": bt, "type_id": 0}},
                         {"Sequence": {"id": "A", "type_id": 0}},
                         {"SpecialToken": {"id": bt, "type_id": 1}},
                         {"Sequence": {"id": "B", "type_id": 1}}],
                "special_tokens": {bt: {"id": bt, "ids": [b], "tokens": [bt]}}}]})
        }
        _ => byte_post,
    };
    let doc = json!({
        "version": "1.0", "truncation": null, "padding": null,
        "added_tokens": added, "normalizer": null,
        "pre_tokenizer": pre_tokenizer(g, pre)?,
        "post_processor": post,
        "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true,
                    "use_regex": true},
        "model": {"type": "BPE", "dropout": null, "unk_token": null,
                  "continuing_subword_prefix": null, "end_of_word_suffix": null,
                  "fuse_unk": false, "byte_fallback": false,
                  "ignore_merges": pre.starts_with("llama"), "vocab": vocab, "merges": merges},
    });
    Tokenizer::from_json(&doc.to_string(), &g.path)
}

/// The model and tokenizer of a Llama GGUF file.
pub fn load(path: &std::path::Path) -> Result<(Llama, Tokenizer)> {
    let g = GgufFile::open(path)?;
    let c = config(&g)?;
    // The tokenizer first: it is cheap, and a broken one should not cost a dequantization.
    let tok = tokenizer(&g)?;
    let t = tensors(&g, &c)?;
    let model = Llama::from_tensors(c, t).map_err(|e| Error::file(path, e.to_string()))?;
    Ok((model, tok))
}
