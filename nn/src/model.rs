//! `LlamaForCausalLM`: token embedding, decoder layers (pre-norm attention and SwiGLU, each
//! with a residual), final RMSNorm, and the LM head (tied to the embedding or separate).
//! Field names follow the checkpoint (`embed_tokens`, `self_attn`, `input_layernorm` ...).

use crate::attention::LlamaAttention;
use crate::block::{AttentionBlock, LayerState};
use crate::config::LlamaConfig;
use crate::linear::{Embedding, Linear};
use crate::loss::cross_entropy;
use crate::mlp::Mlp;
use crate::norm::RmsNorm;
use crate::rope::Rope;
use autograd::{Param, Var};
use std::collections::BTreeMap;
use std::sync::Arc;
use tensor::{bail, DType, Device, Error, Result, Rng, Tensor};

pub struct DecoderLayer {
    pub input_layernorm: RmsNorm,
    pub self_attn: Box<dyn AttentionBlock>,
    pub post_attention_layernorm: RmsNorm,
    pub mlp: Mlp,
}

impl DecoderLayer {
    /// `x + attn(norm(x))`, then `h + mlp(norm(h))`.
    pub fn forward(
        &self,
        x: &Var,
        start: usize,
        state: Option<&mut dyn LayerState>,
    ) -> Result<Var> {
        Ok(self.forward_parts(x, start, state)?.output)
    }
    /// [`forward`](Self::forward), also handing back the attention block's input and output
    /// (what LAWCAT's attention transfer matches, layer by layer).
    pub fn forward_parts(
        &self,
        x: &Var,
        start: usize,
        state: Option<&mut dyn LayerState>,
    ) -> Result<LayerParts> {
        let attn_in = self.input_layernorm.forward(x)?;
        let attn_out = self.self_attn.forward(&attn_in, start, state)?;
        let h = x.add(&attn_out)?;
        let output = h.add(&self.mlp.forward(&self.post_attention_layernorm.forward(&h)?)?)?;
        Ok(LayerParts { output, attn_in, attn_out })
    }
}

/// One decoder layer's output with its attention block's input (after the norm) and output.
pub struct LayerParts {
    pub output: Var,
    pub attn_in: Var,
    pub attn_out: Var,
}

pub struct Llama {
    pub config: LlamaConfig,
    pub embed_tokens: Embedding,
    pub layers: Vec<DecoderLayer>,
    pub norm: RmsNorm,
    /// `None` when the head is tied to `embed_tokens`.
    pub lm_head: Option<Linear>,
    pub rope: Arc<Rope>,
}

/// Per-layer decoding states (KV caches for softmax attention).
pub struct Cache {
    pub layers: Vec<Box<dyn LayerState>>,
    /// Positions already processed.
    pub len: usize,
}

impl Cache {
    /// Bytes held by all layers.
    pub fn bytes(&self) -> usize {
        self.layers.iter().map(|l| l.bytes()).sum()
    }
}

pub struct Output {
    /// `[B, T, V]` f32.
    pub logits: Var,
    /// When asked for: the input of every layer, then the final normed state (L + 1).
    pub hidden_states: Vec<Var>,
}

impl Llama {
    /// A randomly initialised model (for tests and for training small teachers): normal
    /// weights with std 0.02 as in HF's `_init_weights`, norms at 1.
    pub fn init(config: &LlamaConfig, rng: &mut Rng) -> Result<Llama> {
        let mut tensors = BTreeMap::new();
        for (name, shape) in expected_shapes(config) {
            let t = if name.ends_with("norm.weight") {
                Tensor::ones(shape, DType::F32, &Device::Cpu)?
            } else {
                Tensor::randn(shape, 0.02, DType::F32, &Device::Cpu, rng)?
            };
            tensors.insert(name, t);
        }
        Llama::from_tensors(config.clone(), tensors)
    }

    /// Builds the model from tensors named as in HF checkpoints. Missing, unexpected or
    /// wrongly shaped tensors are reported together in one error.
    pub fn from_tensors(
        config: LlamaConfig,
        mut tensors: BTreeMap<String, Tensor>,
    ) -> Result<Llama> {
        config.validate().map_err(|m| Error::op("load Llama", format!("config: {m}")))?;
        check_weights(&config, tensors.iter().map(|(n, t)| (n.as_str(), t.dims(), t.dtype())))?;
        let mut take = |name: &str| Param::new(name, tensors.remove(name).expect("checked above"));
        let c = &config;
        let rope = Arc::new(Rope::from_config(c));
        let linear = |take: &mut dyn FnMut(&str) -> Param, p: &str, bias: bool| {
            Linear::new(take(&format!("{p}.weight")), bias.then(|| take(&format!("{p}.bias"))))
        };
        let embed_tokens = Embedding { weight: take("model.embed_tokens.weight") };
        let mut layers = vec![];
        for i in 0..c.num_hidden_layers {
            let p = format!("model.layers.{i}");
            let a = format!("{p}.self_attn");
            let m = format!("{p}.mlp");
            let attn = LlamaAttention {
                q_proj: linear(&mut take, &format!("{a}.q_proj"), c.attention_bias),
                k_proj: linear(&mut take, &format!("{a}.k_proj"), c.attention_bias),
                v_proj: linear(&mut take, &format!("{a}.v_proj"), c.attention_bias),
                o_proj: linear(&mut take, &format!("{a}.o_proj"), c.attention_bias),
                num_heads: c.num_attention_heads,
                num_kv_heads: c.num_key_value_heads,
                head_dim: c.head_dim,
                rope: rope.clone(),
            };
            layers.push(DecoderLayer {
                input_layernorm: RmsNorm {
                    weight: take(&format!("{p}.input_layernorm.weight")),
                    eps: c.rms_norm_eps,
                },
                self_attn: Box::new(attn),
                post_attention_layernorm: RmsNorm {
                    weight: take(&format!("{p}.post_attention_layernorm.weight")),
                    eps: c.rms_norm_eps,
                },
                mlp: Mlp {
                    gate_proj: linear(&mut take, &format!("{m}.gate_proj"), c.mlp_bias),
                    up_proj: linear(&mut take, &format!("{m}.up_proj"), c.mlp_bias),
                    down_proj: linear(&mut take, &format!("{m}.down_proj"), c.mlp_bias),
                },
            });
        }
        let norm = RmsNorm { weight: take("model.norm.weight"), eps: c.rms_norm_eps };
        let lm_head = (!c.tie_word_embeddings).then(|| Linear::new(take("lm_head.weight"), None));
        Ok(Llama { config, embed_tokens, layers, norm, lm_head, rope })
    }

    /// A model sharing every parameter of this one (the same handles) but with the given
    /// attention blocks, one per layer: how a student is made from its teacher.
    pub fn with_blocks(&self, blocks: Vec<Box<dyn AttentionBlock>>) -> Result<Llama> {
        if blocks.len() != self.layers.len() {
            bail!("Llama::with_blocks", "{} blocks for {} layers", blocks.len(), self.layers.len())
        }
        let layers = self
            .layers
            .iter()
            .zip(blocks)
            .map(|(l, b)| DecoderLayer {
                input_layernorm: l.input_layernorm.clone(),
                self_attn: b,
                post_attention_layernorm: l.post_attention_layernorm.clone(),
                mlp: l.mlp.clone(),
            })
            .collect();
        Ok(Llama {
            config: self.config.clone(),
            embed_tokens: self.embed_tokens.clone(),
            layers,
            norm: self.norm.clone(),
            lm_head: self.lm_head.clone(),
            rope: self.rope.clone(),
        })
    }

    /// Every parameter by its checkpoint name (the tied head appears once, as the embedding).
    pub fn named_params(&self) -> Vec<(String, Param)> {
        let mut out =
            vec![("model.embed_tokens.weight".to_string(), self.embed_tokens.weight.clone())];
        for (i, l) in self.layers.iter().enumerate() {
            let p = format!("model.layers.{i}");
            out.push((format!("{p}.input_layernorm.weight"), l.input_layernorm.weight.clone()));
            out.extend(l.self_attn.named_params(&format!("{p}.self_attn")));
            out.push((
                format!("{p}.post_attention_layernorm.weight"),
                l.post_attention_layernorm.weight.clone(),
            ));
            out.extend(l.mlp.named_params(&format!("{p}.mlp")));
        }
        out.push(("model.norm.weight".to_string(), self.norm.weight.clone()));
        if let Some(h) = &self.lm_head {
            out.push(("lm_head.weight".to_string(), h.weight.clone()));
        }
        out
    }

    /// Moves every parameter to `device`, in place (students share their teacher's
    /// parameters, so moving either moves both).
    pub fn to_device(&self, device: &Device) -> Result<()> {
        move_params(self.named_params().iter().map(|(_, p)| p), device)
    }
    /// Converts every float parameter to `dtype` (bf16 weights for mixed precision).
    pub fn to_dtype(&self, dtype: DType) -> Result<()> {
        for (_, p) in self.named_params() {
            if p.value().dtype().is_float() {
                p.set_dtype(dtype)?;
            }
        }
        Ok(())
    }
    /// The device the parameters are on.
    pub fn device(&self) -> Device {
        self.embed_tokens.weight.value().device()
    }

    pub fn new_cache(&self, batch: usize) -> Result<Cache> {
        Ok(Cache {
            layers: self
                .layers
                .iter()
                .map(|l| l.self_attn.new_state(batch))
                .collect::<Result<_>>()?,
            len: 0,
        })
    }

    /// Logits `[B, T, V]` for token ids `[B, T]` (i64). With a cache, the ids continue
    /// what the cache has seen; `hidden_states` asks for every layer's input as well.
    pub fn forward(
        &self,
        ids: &Tensor,
        cache: Option<&mut Cache>,
        hidden_states: bool,
    ) -> Result<Output> {
        let (x, hidden_states) = self.trunk(ids, cache, hidden_states)?;
        Ok(Output { logits: self.head(&x)?, hidden_states })
    }

    /// The logits of the last position only, `[B, 1, V]` (what decoding needs: prefill
    /// computes no `[B, T, V]` logits).
    pub fn forward_last(&self, ids: &Tensor, cache: Option<&mut Cache>) -> Result<Var> {
        let (x, _) = self.trunk(ids, cache, false)?;
        let t = x.dims()[1];
        self.head(&x.narrow(1, t - 1, 1)?)
    }

    /// Embedding, layers and final norm: the normed states `[B, T, D]` (and, when asked,
    /// every layer's input followed by those states).
    fn trunk(
        &self,
        ids: &Tensor,
        cache: Option<&mut Cache>,
        hidden_states: bool,
    ) -> Result<(Var, Vec<Var>)> {
        if ids.rank() != 2 || ids.dtype() != DType::I64 || ids.dims()[1] == 0 {
            bail!(
                "Llama::forward",
                "token ids must be i64 [B, T] with T > 0, got {:?} {}",
                ids.dims(),
                ids.dtype()
            )
        }
        let t = ids.dims()[1];
        let mut x = self.embed_tokens.forward(ids)?;
        let mut hs = vec![];
        let start = cache.as_ref().map_or(0, |c| c.len);
        match cache {
            Some(cache) => {
                if cache.layers.len() != self.layers.len() {
                    bail!(
                        "Llama::forward",
                        "cache has {} layers, the model {}",
                        cache.layers.len(),
                        self.layers.len()
                    )
                }
                for (layer, st) in self.layers.iter().zip(cache.layers.iter_mut()) {
                    if hidden_states {
                        hs.push(x.clone());
                    }
                    x = layer.forward(&x, start, Some(st.as_mut()))?;
                }
                cache.len += t;
            }
            None => {
                for layer in &self.layers {
                    if hidden_states {
                        hs.push(x.clone());
                    }
                    x = layer.forward(&x, 0, None)?;
                }
            }
        }
        let x = self.norm.forward(&x)?;
        if hidden_states {
            hs.push(x.clone());
        }
        Ok((x, hs))
    }

    /// The final normed hidden states `[B, T, D]` for token ids `[B, T]` (what the LM head
    /// takes: [`Llama::head_layer`]).
    pub fn hidden(&self, ids: &Tensor) -> Result<Var> {
        Ok(self.trunk(ids, None, false)?.0)
    }

    /// The LM head on final hidden states `[.., D]`.
    pub fn head(&self, x: &Var) -> Result<Var> {
        self.head_layer().forward(x)
    }

    /// The LM head as a layer: `lm_head`, or the embedding table when they are tied.
    pub fn head_layer(&self) -> Linear {
        match &self.lm_head {
            Some(h) => h.clone(),
            None => Linear::new(self.embed_tokens.weight.clone(), None),
        }
    }

    /// Mean next-token cross-entropy over `ids [B, T]` (positions 0..T-2 predict 1..T-1).
    pub fn loss(&self, ids: &Tensor) -> Result<Var> {
        let ids = self.ids_to_device(ids)?;
        let out = self.forward(&ids, None, false)?;
        next_token_loss(&out.logits, &ids)
    }

    /// Token ids on the model's device, checked against the vocabulary when they come from
    /// the host: the one upload of a batch, for the forward and the loss's targets alike.
    pub fn ids_to_device(&self, ids: &Tensor) -> Result<Tensor> {
        if ids.device().is_cpu() {
            self.embed_tokens.ids_to_device(ids)
        } else {
            Ok(ids.clone())
        }
    }
}

/// Moves each parameter's value to `device` in place (a no-op for those already there).
pub fn move_params<'a>(params: impl IntoIterator<Item = &'a Param>, device: &Device) -> Result<()> {
    for p in params {
        let v = p.value();
        if !v.device().same(device) {
            p.set(v.to_device(device)?)?;
        }
    }
    Ok(())
}

/// Cross-entropy of `logits [B, T, V]` predicting `ids [B, T]` shifted by one.
pub fn next_token_loss(logits: &Var, ids: &Tensor) -> Result<Var> {
    let (b, t) = (ids.dims()[0], ids.dims()[1]);
    if t < 2 {
        bail!("next_token_loss", "needs at least 2 tokens per sequence, got {t}")
    }
    let v = logits.dims()[2];
    let pred = logits.narrow(1, 0, t - 1)?.reshape([b * (t - 1), v])?;
    let target = ids
        .narrow(1, 1, t - 1)?
        .contiguous()?
        .reshape(b * (t - 1))?
        .to_device(&logits.value().device())?;
    cross_entropy(&pred, &target, None)
}

/// A lower bound of the memory one forward pass over `[batch, len]` tokens needs besides
/// the weights, in bytes: the logits, a layer's activations and every layer's keys and
/// values. In `u128`, so sizes from a flag or a file cannot overflow it.
pub fn forward_memory_estimate(c: &LlamaConfig, batch: usize, len: usize) -> u128 {
    let tokens = batch as u128 * len as u128;
    let kv = 2 * c.num_hidden_layers as u128 * c.num_key_value_heads as u128 * c.head_dim as u128;
    let activations = 4 * c.hidden_size as u128 + 2 * c.intermediate_size as u128;
    tokens * 4 * (c.vocab_size as u128 + kv + activations)
}

/// Every tensor a model with this config has, with its shape.
pub fn expected_shapes(c: &LlamaConfig) -> Vec<(String, Vec<usize>)> {
    let (d, f, v) = (c.hidden_size, c.intermediate_size, c.vocab_size);
    let q = c.num_attention_heads * c.head_dim;
    let kv = c.num_key_value_heads * c.head_dim;
    let mut out = vec![("model.embed_tokens.weight".to_string(), vec![v, d])];
    for i in 0..c.num_hidden_layers {
        let p = format!("model.layers.{i}");
        out.push((format!("{p}.input_layernorm.weight"), vec![d]));
        for (name, o, inp) in
            [("q_proj", q, d), ("k_proj", kv, d), ("v_proj", kv, d), ("o_proj", d, q)]
        {
            out.push((format!("{p}.self_attn.{name}.weight"), vec![o, inp]));
            if c.attention_bias {
                out.push((format!("{p}.self_attn.{name}.bias"), vec![o]));
            }
        }
        out.push((format!("{p}.post_attention_layernorm.weight"), vec![d]));
        for (name, o, inp) in [("gate_proj", f, d), ("up_proj", f, d), ("down_proj", d, f)] {
            out.push((format!("{p}.mlp.{name}.weight"), vec![o, inp]));
            if c.mlp_bias {
                out.push((format!("{p}.mlp.{name}.bias"), vec![o]));
            }
        }
    }
    out.push(("model.norm.weight".to_string(), vec![d]));
    if !c.tie_word_embeddings {
        out.push(("lm_head.weight".to_string(), vec![v, d]));
    }
    out
}

/// Checks a table of weights (name, shape, dtype) against the tensors a Llama of config `c`
/// has ([`expected_shapes`]): the layers held against the config's count, then missing,
/// wrongly shaped, non-float and unexpected tensors, reported together in one error. What
/// [`Llama::from_tensors`] checks of the tensors it is given, and `inspect` of a file's
/// headers, so inspecting a file fails exactly where loading it would.
pub fn check_weights<'a>(
    c: &LlamaConfig,
    table: impl IntoIterator<Item = (&'a str, &'a [usize], DType)>,
) -> Result<()> {
    let table: BTreeMap<&str, (&[usize], DType)> =
        table.into_iter().map(|(n, shape, dtype)| (n, (shape, dtype))).collect();
    let expect = expected_shapes(c);
    let mut problems = vec![];
    // The layers the weights hold, against the config's count (said first: it explains
    // every missing or unexpected layer tensor below).
    let held = table
        .keys()
        .filter_map(|n| n.strip_prefix("model.layers.")?.split_once('.')?.0.parse::<usize>().ok())
        .max()
        .map_or(0, |m| m + 1);
    if held != c.num_hidden_layers {
        problems.push(format!(
            "the config says {} layers, the weights hold {held}",
            c.num_hidden_layers
        ));
    }
    for (name, shape) in &expect {
        match table.get(name.as_str()) {
            None => problems.push(format!("missing {name} {shape:?}")),
            Some((dims, _)) if *dims != shape.as_slice() => {
                problems.push(format!("{name} has shape {dims:?}, expected {shape:?}"))
            }
            Some((_, dtype)) if !dtype.is_float() => {
                problems.push(format!("{name} has dtype {dtype}, expected a float"))
            }
            Some(_) => {}
        }
    }
    let known: std::collections::HashSet<&str> = expect.iter().map(|(n, _)| n.as_str()).collect();
    // HF checkpoints may carry precomputed rotary tables; they are derived, not weights.
    for (name, (shape, _)) in
        table.iter().filter(|(n, _)| !known.contains(*n) && !n.ends_with("rotary_emb.inv_freq"))
    {
        problems.push(format!("unexpected {name} {shape:?}"));
    }
    if problems.is_empty() {
        return Ok(());
    }
    const SHOWN: usize = 12;
    let more = if problems.len() > SHOWN {
        format!("\n  ... and {} more", problems.len() - SHOWN)
    } else {
        String::new()
    };
    Err(Error::op(
        "load Llama",
        format!(
            "{} problem(s) with the weights:\n  {}{more}",
            problems.len(),
            problems[..problems.len().min(SHOWN)].join("\n  ")
        ),
    ))
}
