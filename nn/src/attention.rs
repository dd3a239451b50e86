//! Grouped-query causal softmax attention, as in Hugging Face's `LlamaAttention`:
//! q/k/v projections, RoPE on q and k, `softmax(q k^T / sqrt(d) + causal mask) v` in f32
//! with each key/value head serving `H / H_kv` query heads, then `o_proj`.
//!
//! Two paths compute the same thing: [`sdpa`] from differentiable primitives (training, and
//! the reference), and `attention_kernel::sdpa_blocked` (inference: online softmax over key
//! blocks, memory linear in length, reading the KV cache in place).

use crate::attention_kernel::sdpa_blocked;
use crate::block::{AttentionBlock, LayerState};
use crate::linear::Linear;
use crate::rope::{apply_rope, Rope};
use autograd::{grad_enabled, Param, Var};
use std::any::Any;
use std::sync::Arc;
use tensor::{bail, Result, Tensor};

pub struct LlamaAttention {
    pub q_proj: Linear,
    pub k_proj: Linear,
    pub v_proj: Linear,
    pub o_proj: Linear,
    pub num_heads: usize,
    pub num_kv_heads: usize,
    pub head_dim: usize,
    pub rope: Arc<Rope>,
}

/// Keys and values of the positions seen so far, in chunks `[B, s_i, H_kv, d]` (appending
/// is O(new tokens); chunks are merged now and then to keep their number small).
#[derive(Default)]
pub struct KvCache {
    pub k: Vec<Tensor>,
    pub v: Vec<Tensor>,
    pub len: usize,
}

impl KvCache {
    const MAX_CHUNKS: usize = 32;
    pub fn append(&mut self, k: Tensor, v: Tensor) -> Result<()> {
        self.len += k.dims()[1];
        self.k.push(k);
        self.v.push(v);
        if self.k.len() > Self::MAX_CHUNKS {
            let k = Tensor::cat(&self.k.iter().collect::<Vec<_>>(), 1)?;
            let v = Tensor::cat(&self.v.iter().collect::<Vec<_>>(), 1)?;
            self.k = vec![k];
            self.v = vec![v];
        }
        Ok(())
    }
}

impl LayerState for KvCache {
    fn bytes(&self) -> usize {
        self.k.iter().chain(&self.v).map(|t| t.numel() * t.dtype().size_in_bytes()).sum()
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// The additive causal mask `[T, S]` for queries at `start..start+T` over keys `0..S`:
/// 0 where the key is at or before the query, -inf after.
pub fn causal_mask(t: usize, s: usize, start: usize) -> Result<Tensor> {
    let mut m = vec![0f32; t * s];
    for i in 0..t {
        for j in (start + i + 1).min(s)..s {
            m[i * s + j] = f32::NEG_INFINITY;
        }
    }
    Tensor::from_vec(m, [t, s])
}

/// Scaled dot-product attention from differentiable primitives.
/// `q [B, T, H, d]`, `k, v [B, S, H_kv, d]`, queries at `start..start+T`; returns `[B, T, H, d]`.
pub fn sdpa(q: &Var, k: &Var, v: &Var, start: usize) -> Result<Var> {
    let (b, t, h, d) = (q.dims()[0], q.dims()[1], q.dims()[2], q.dims()[3]);
    let (s, hkv) = (k.dims()[1], k.dims()[2]);
    if h % hkv != 0 || k.dims() != v.dims() || k.dims()[3] != d {
        bail!("sdpa", "q {:?}, k {:?}, v {:?} do not fit grouped-query attention", q.dims(), k.dims(), v.dims())
    }
    let rep = h / hkv;
    // Query heads of one group side by side: [B, H_kv, rep * T, d] (k and v are not repeated).
    let qg = q.reshape([b, t, hkv, rep, d])?.permute(&[0, 2, 3, 1, 4])?.reshape([b, hkv, rep * t, d])?;
    let kt = k.permute(&[0, 2, 3, 1])?; // [B, H_kv, d, S]
    let scores = qg.matmul(&kt)?.scale(1.0 / (d as f64).sqrt())?.reshape([b, hkv, rep, t, s])?;
    let masked = scores.add(&Var::constant(causal_mask(t, s, start)?))?;
    let p = masked.softmax(4)?.reshape([b, hkv, rep * t, s])?;
    let o = p.matmul(&v.permute(&[0, 2, 1, 3])?)?; // [B, H_kv, rep * T, d]
    o.reshape([b, hkv, rep, t, d])?.permute(&[0, 3, 1, 2, 4])?.reshape([b, t, h, d])
}

impl LlamaAttention {
    /// q, k, v `[B, T, heads, d]` for input `x [B, T, D]` at positions `start..`, RoPE applied.
    pub fn qkv(&self, x: &Var, start: usize) -> Result<(Var, Var, Var)> {
        let (b, t) = (x.dims()[0], x.dims()[1]);
        let q = self.q_proj.forward(x)?.reshape([b, t, self.num_heads, self.head_dim])?;
        let k = self.k_proj.forward(x)?.reshape([b, t, self.num_kv_heads, self.head_dim])?;
        let v = self.v_proj.forward(x)?.reshape([b, t, self.num_kv_heads, self.head_dim])?;
        Ok((apply_rope(&q, &self.rope, start)?, apply_rope(&k, &self.rope, start)?, v))
    }
}

impl AttentionBlock for LlamaAttention {
    fn forward(&self, x: &Var, start: usize, state: Option<&mut dyn LayerState>) -> Result<Var> {
        if x.rank() != 3 {
            bail!("LlamaAttention", "input must be [B, T, D], got {:?}", x.dims())
        }
        let (b, t) = (x.dims()[0], x.dims()[1]);
        let (q, k, v) = self.qkv(x, start)?;
        let training = grad_enabled() && (q.requires_grad() || k.requires_grad() || v.requires_grad());
        let out = match state {
            None if training => sdpa(&q, &k, &v, start)?,
            None => Var::constant(sdpa_blocked(q.value(), &[k.value().clone()], &[v.value().clone()], start)?),
            Some(st) => {
                let Some(cache) = st.as_any_mut().downcast_mut::<KvCache>() else {
                    bail!("LlamaAttention", "the decoding state given is not a KV cache")
                };
                if cache.len != start {
                    bail!("LlamaAttention", "KV cache holds {} positions but the input starts at {start}", cache.len)
                }
                if training {
                    // Earlier positions are data; this call's keys and values keep their graph.
                    let past_k: Vec<Var> = cache.k.iter().cloned().map(Var::constant).collect();
                    let past_v: Vec<Var> = cache.v.iter().cloned().map(Var::constant).collect();
                    let kc = Var::cat(&past_k.iter().chain(std::iter::once(&k)).collect::<Vec<_>>(), 1)?;
                    let vc = Var::cat(&past_v.iter().chain(std::iter::once(&v)).collect::<Vec<_>>(), 1)?;
                    cache.append(k.value().clone(), v.value().clone())?;
                    sdpa(&q, &kc, &vc, start)?
                } else {
                    cache.append(k.value().clone(), v.value().clone())?;
                    Var::constant(sdpa_blocked(q.value(), &cache.k, &cache.v, start)?)
                }
            }
        };
        self.o_proj.forward(&out.reshape([b, t, self.num_heads * self.head_dim])?)
    }
    fn new_state(&self, _batch: usize) -> Box<dyn LayerState> {
        Box::new(KvCache::default())
    }
    fn named_params(&self, prefix: &str) -> Vec<(String, Param)> {
        [("q_proj", &self.q_proj), ("k_proj", &self.k_proj), ("v_proj", &self.v_proj), ("o_proj", &self.o_proj)]
            .into_iter()
            .flat_map(|(name, l)| l.named_params(&format!("{prefix}.{name}")))
            .collect()
    }
    fn kind(&self) -> &'static str {
        "softmax"
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}
