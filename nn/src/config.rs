//! `config.json` as Hugging Face writes it for Llama models, in both styles found in the
//! wild: `rope_theta` + `rope_scaling` + `torch_dtype` (Llama-3.2 releases) and
//! `rope_parameters` + `dtype` (newer transformers). Every missing or wrong key is an error
//! naming the file and the key.

use serde_json::{json, Map, Value};
use std::path::Path;
use tensor::{DType, Error, Result};

#[derive(Clone, Debug, PartialEq)]
pub enum RopeScaling {
    /// Plain RoPE: `theta^(-2i/d)`.
    Default,
    /// Llama 3's frequency-dependent stretch of the long wavelengths.
    Llama3 {
        factor: f64,
        low_freq_factor: f64,
        high_freq_factor: f64,
        original_max_position_embeddings: usize,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct LlamaConfig {
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub num_key_value_heads: usize,
    pub head_dim: usize,
    pub vocab_size: usize,
    pub rms_norm_eps: f64,
    pub rope_theta: f64,
    pub rope_scaling: RopeScaling,
    pub max_position_embeddings: usize,
    pub tie_word_embeddings: bool,
    pub attention_bias: bool,
    pub mlp_bias: bool,
    pub bos_token_id: Option<u32>,
    pub eos_token_ids: Vec<u32>,
    /// The dtype the weights are stored in.
    pub dtype: DType,
}

fn err(path: &Path, msg: impl Into<String>) -> Error {
    Error::file(path, msg)
}

struct Reader<'a> {
    path: &'a Path,
    obj: &'a Map<String, Value>,
}

impl Reader<'_> {
    fn get(&self, key: &str) -> Option<&Value> {
        self.obj.get(key).filter(|v| !v.is_null())
    }
    fn usize(&self, key: &str) -> Result<usize> {
        match self.get(key) {
            Some(v) => v.as_u64().map(|x| x as usize).ok_or_else(|| {
                err(self.path, format!("key {key:?} must be a non-negative integer, got {v}"))
            }),
            None => Err(err(self.path, format!("missing key {key:?}"))),
        }
    }
    fn usize_or(&self, key: &str, default: usize) -> Result<usize> {
        if self.get(key).is_some() {
            self.usize(key)
        } else {
            Ok(default)
        }
    }
    fn f64_or(&self, key: &str, default: f64) -> Result<f64> {
        match self.get(key) {
            Some(v) => v
                .as_f64()
                .ok_or_else(|| err(self.path, format!("key {key:?} must be a number, got {v}"))),
            None => Ok(default),
        }
    }
    fn bool_or(&self, key: &str, default: bool) -> Result<bool> {
        match self.get(key) {
            Some(v) => v.as_bool().ok_or_else(|| {
                err(self.path, format!("key {key:?} must be true or false, got {v}"))
            }),
            None => Ok(default),
        }
    }
}

fn rope_from(path: &Path, obj: &Map<String, Value>, what: &str) -> Result<RopeScaling> {
    let r = Reader { path, obj };
    let kind = obj
        .get("rope_type")
        .or_else(|| obj.get("type"))
        .and_then(Value::as_str)
        .unwrap_or("default");
    match kind {
        "default" => Ok(RopeScaling::Default),
        "llama3" => Ok(RopeScaling::Llama3 {
            factor: r.f64_or("factor", f64::NAN).and_then(|v| {
                if v.is_nan() {
                    Err(err(path, format!("{what}: llama3 scaling needs \"factor\"")))
                } else {
                    Ok(v)
                }
            })?,
            low_freq_factor: r.f64_or("low_freq_factor", 1.0)?,
            high_freq_factor: r.f64_or("high_freq_factor", 4.0)?,
            original_max_position_embeddings: r
                .usize_or("original_max_position_embeddings", 8192)?,
        }),
        other => Err(err(
            path,
            format!("{what}: unsupported rope_type {other:?} (supported: \"default\", \"llama3\")"),
        )),
    }
}

/// `bos_token_id` / `eos_token_id`: null, one id or a list of ids. Anything else (a
/// negative number, one past 32 bits, a string) is an error, not a dropped or wrapped id.
fn token_ids(path: &Path, key: &str, v: Option<&Value>) -> Result<Vec<u32>> {
    let one = |x: &Value| {
        x.as_u64().filter(|&i| i <= u32::MAX as u64).map(|i| i as u32).ok_or_else(|| {
            err(path, format!("{key} {x} is not a token id (an integer from 0 to 2^32-1)"))
        })
    };
    match v {
        None | Some(Value::Null) => Ok(vec![]),
        Some(Value::Array(a)) => a.iter().map(one).collect(),
        Some(x) => Ok(vec![one(x)?]),
    }
}

impl LlamaConfig {
    pub fn from_file(path: impl AsRef<Path>) -> Result<LlamaConfig> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        LlamaConfig::from_json_str(&text, path)
    }

    /// Parses the text of a config.json; `path` names it in errors.
    pub fn from_json_str(text: &str, path: &Path) -> Result<LlamaConfig> {
        let v: Value =
            serde_json::from_str(text).map_err(|e| err(path, format!("not valid JSON: {e}")))?;
        let obj = v.as_object().ok_or_else(|| err(path, "the config must be a JSON object"))?;
        let r = Reader { path, obj };
        let model_type = obj.get("model_type").and_then(Value::as_str).unwrap_or("");
        let archs: Vec<&str> = obj
            .get("architectures")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if model_type != "llama" && !archs.contains(&"LlamaForCausalLM") {
            return Err(err(
                path,
                format!(
                    "not a Llama model: model_type {model_type:?}, architectures {archs:?} (this \
                     loader reads model_type \"llama\" / LlamaForCausalLM)"
                ),
            ));
        }
        if let Some(act) = obj.get("hidden_act").and_then(Value::as_str) {
            if act != "silu" {
                return Err(err(
                    path,
                    format!("hidden_act {act:?} is not supported (Llama uses \"silu\")"),
                ));
            }
        }
        let hidden_size = r.usize("hidden_size")?;
        let num_attention_heads = r.usize("num_attention_heads")?;
        if num_attention_heads == 0 {
            return Err(err(path, "num_attention_heads must be positive"));
        }
        let num_key_value_heads = r.usize_or("num_key_value_heads", num_attention_heads)?;
        if num_key_value_heads == 0 || num_attention_heads % num_key_value_heads != 0 {
            return Err(err(
                path,
                format!(
                    "num_attention_heads ({num_attention_heads}) must be a multiple of \
                     num_key_value_heads ({num_key_value_heads})"
                ),
            ));
        }
        let head_dim = match r.get("head_dim") {
            Some(_) => r.usize("head_dim")?,
            None => {
                if hidden_size % num_attention_heads != 0 {
                    return Err(err(
                        path,
                        format!(
                            "hidden_size ({hidden_size}) is not divisible by num_attention_heads \
                             ({num_attention_heads}) and no head_dim is given"
                        ),
                    ));
                }
                hidden_size / num_attention_heads
            }
        };
        if head_dim % 2 != 0 || head_dim == 0 {
            return Err(err(
                path,
                format!("head_dim {head_dim} must be even and positive (RoPE rotates pairs)"),
            ));
        }
        // RoPE: new style `rope_parameters` (which also carries rope_theta), or the old keys.
        let (rope_theta, rope_scaling) = match obj.get("rope_parameters").filter(|v| !v.is_null()) {
            Some(Value::Object(rp)) => {
                let theta = Reader { path, obj: rp }
                    .f64_or("rope_theta", r.f64_or("rope_theta", 10000.0)?)?;
                (theta, rope_from(path, rp, "rope_parameters")?)
            }
            Some(other) => {
                return Err(err(path, format!("rope_parameters must be an object, got {other}")))
            }
            None => {
                let scaling = match obj.get("rope_scaling").filter(|v| !v.is_null()) {
                    Some(Value::Object(rs)) => rope_from(path, rs, "rope_scaling")?,
                    Some(other) => {
                        return Err(err(
                            path,
                            format!("rope_scaling must be an object or null, got {other}"),
                        ))
                    }
                    None => RopeScaling::Default,
                };
                (r.f64_or("rope_theta", 10000.0)?, scaling)
            }
        };
        if obj.get("rope_theta").is_some_and(Value::is_null) {
            return Err(err(
                path,
                "rope_theta is null: it must be a positive number (leave the key out for the \
                 default 10000)",
            ));
        }
        let dtype_name = obj
            .get("dtype")
            .or_else(|| obj.get("torch_dtype"))
            .and_then(Value::as_str)
            .unwrap_or("float32");
        let dtype = DType::parse(dtype_name)
            .filter(|d| d.is_float())
            .ok_or_else(|| err(path, format!("unsupported dtype {dtype_name:?}")))?;
        let cfg = LlamaConfig {
            hidden_size,
            intermediate_size: r.usize("intermediate_size")?,
            num_hidden_layers: r.usize("num_hidden_layers")?,
            num_attention_heads,
            num_key_value_heads,
            head_dim,
            vocab_size: r.usize("vocab_size")?,
            rms_norm_eps: r.f64_or("rms_norm_eps", 1e-6)?,
            rope_theta,
            rope_scaling,
            max_position_embeddings: r.usize_or("max_position_embeddings", 2048)?,
            tie_word_embeddings: r.bool_or("tie_word_embeddings", false)?,
            attention_bias: r.bool_or("attention_bias", false)?,
            mlp_bias: r.bool_or("mlp_bias", false)?,
            bos_token_id: token_ids(path, "bos_token_id", obj.get("bos_token_id"))?
                .first()
                .copied(),
            eos_token_ids: token_ids(path, "eos_token_id", obj.get("eos_token_id"))?,
            dtype,
        };
        cfg.validate().map_err(|m| err(path, m))?;
        Ok(cfg)
    }

    /// Checks what no valid Llama has, for configs from any source (config.json, GGUF
    /// metadata): every size positive and small enough that the tensors' element counts
    /// fit in 64 bits, `rms_norm_eps`, `rope_theta` and the rope scaling numbers positive
    /// and finite, token ids inside the vocabulary. Whether the weights match the sizes is
    /// checked when they are loaded.
    pub fn validate(&self) -> std::result::Result<(), String> {
        let sizes = [
            ("hidden_size", self.hidden_size),
            ("intermediate_size", self.intermediate_size),
            ("num_hidden_layers", self.num_hidden_layers),
            ("num_attention_heads", self.num_attention_heads),
            ("num_key_value_heads", self.num_key_value_heads),
            ("head_dim", self.head_dim),
            ("vocab_size", self.vocab_size),
        ];
        for (k, v) in sizes {
            if v == 0 {
                return Err(format!("{k} must be positive"));
            }
        }
        // Far beyond any real model (the largest have ~130 layers and 2^18 tokens), and
        // small enough that no product of these sizes below overflows.
        for (k, v, most) in [
            ("num_hidden_layers", self.num_hidden_layers, 1usize << 16),
            ("vocab_size", self.vocab_size, 1 << 28),
            ("hidden_size", self.hidden_size, 1 << 20),
            ("intermediate_size", self.intermediate_size, 1 << 22),
            ("num_attention_heads", self.num_attention_heads, 1 << 12),
            ("head_dim", self.head_dim, 1 << 14),
        ] {
            if v > most {
                return Err(format!(
                    "{k} {v} is larger than any model this loader takes (at most {most})"
                ));
            }
        }
        if self.num_key_value_heads > self.num_attention_heads
            || self.num_attention_heads % self.num_key_value_heads != 0
        {
            return Err(format!(
                "num_attention_heads ({}) must be a multiple of num_key_value_heads ({})",
                self.num_attention_heads, self.num_key_value_heads
            ));
        }
        if self.head_dim % 2 != 0 {
            return Err(format!("head_dim {} must be even (RoPE rotates pairs)", self.head_dim));
        }
        if !(self.rms_norm_eps > 0.0 && self.rms_norm_eps.is_finite()) {
            return Err(format!(
                "rms_norm_eps must be a positive number, got {}",
                self.rms_norm_eps
            ));
        }
        if !(self.rope_theta > 0.0 && self.rope_theta.is_finite()) {
            return Err(format!("rope_theta must be a positive number, got {}", self.rope_theta));
        }
        if let RopeScaling::Llama3 {
            factor,
            low_freq_factor,
            high_freq_factor,
            original_max_position_embeddings,
        } = self.rope_scaling
        {
            for (k, v) in [
                ("factor", factor),
                ("low_freq_factor", low_freq_factor),
                ("high_freq_factor", high_freq_factor),
            ] {
                if !(v > 0.0 && v.is_finite()) {
                    return Err(format!("rope scaling {k} must be a positive number, got {v}"));
                }
            }
            if high_freq_factor <= low_freq_factor {
                return Err(format!(
                    "rope scaling high_freq_factor ({high_freq_factor}) must be larger than \
                     low_freq_factor ({low_freq_factor})"
                ));
            }
            if original_max_position_embeddings == 0 {
                return Err("rope scaling original_max_position_embeddings must be positive".into());
            }
        }
        if self.max_position_embeddings == 0 {
            return Err("max_position_embeddings must be positive".into());
        }
        for (k, id) in self
            .bos_token_id
            .iter()
            .map(|&i| ("bos_token_id", i))
            .chain(self.eos_token_ids.iter().map(|&i| ("eos_token_id", i)))
        {
            if id as usize >= self.vocab_size {
                return Err(format!(
                    "{k} {id} is outside the vocabulary of {} tokens",
                    self.vocab_size
                ));
            }
        }
        Ok(())
    }

    /// The config.json text for this config (Llama-3.2 style keys).
    pub fn to_json(&self) -> String {
        let rope_scaling = match &self.rope_scaling {
            RopeScaling::Default => Value::Null,
            RopeScaling::Llama3 {
                factor,
                low_freq_factor,
                high_freq_factor,
                original_max_position_embeddings,
            } => json!({
                "rope_type": "llama3", "factor": factor, "low_freq_factor": low_freq_factor,
                "high_freq_factor": high_freq_factor,
                "original_max_position_embeddings": original_max_position_embeddings
            }),
        };
        let dtype = match self.dtype {
            DType::BF16 => "bfloat16",
            DType::F16 => "float16",
            DType::F64 => "float64",
            DType::F32 | DType::I64 | DType::U8 => "float32",
        };
        let v = json!({
            "architectures": ["LlamaForCausalLM"],
            "model_type": "llama",
            "hidden_size": self.hidden_size,
            "intermediate_size": self.intermediate_size,
            "num_hidden_layers": self.num_hidden_layers,
            "num_attention_heads": self.num_attention_heads,
            "num_key_value_heads": self.num_key_value_heads,
            "head_dim": self.head_dim,
            "vocab_size": self.vocab_size,
            "rms_norm_eps": self.rms_norm_eps,
            "hidden_act": "silu",
            "rope_theta": self.rope_theta,
            "rope_scaling": rope_scaling,
            "max_position_embeddings": self.max_position_embeddings,
            "tie_word_embeddings": self.tie_word_embeddings,
            "attention_bias": self.attention_bias,
            "mlp_bias": self.mlp_bias,
            "bos_token_id": self.bos_token_id,
            "eos_token_id": if self.eos_token_ids.len() == 1 {
                json!(self.eos_token_ids[0])
            } else {
                json!(self.eos_token_ids)
            },
            "torch_dtype": dtype,
        });
        serde_json::to_string_pretty(&v).expect("config serializes")
    }

    /// Parameters of the model, embeddings and head included (tied head counted once).
    pub fn num_parameters(&self) -> usize {
        let (d, f, v) = (self.hidden_size, self.intermediate_size, self.vocab_size);
        let q = self.num_attention_heads * self.head_dim;
        let kv = self.num_key_value_heads * self.head_dim;
        let attn =
            d * q + 2 * d * kv + q * d + if self.attention_bias { q + 2 * kv + d } else { 0 };
        let mlp = 3 * d * f + if self.mlp_bias { 2 * f + d } else { 0 };
        let layer = attn + mlp + 2 * d;
        v * d
            + self.num_hidden_layers * layer
            + d
            + if self.tie_word_embeddings { 0 } else { v * d }
    }
}
