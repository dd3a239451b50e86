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
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tensor::{bail, Device, Result, Tensor};

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

/// Keys and values of the positions seen so far, written in place into buffers
/// `[B, capacity, H_kv, d]` that double when full (so appending a token copies one row, and
/// a prompt of any length is one write); attention reads the first `len` positions as a
/// view.
#[derive(Default)]
pub struct KvCache {
    pub k: Option<Tensor>,
    pub v: Option<Tensor>,
    pub len: usize,
}

impl KvCache {
    /// Appends `k, v [B, T, H_kv, d]` at position `len`.
    pub fn append(&mut self, k: &Tensor, v: &Tensor) -> Result<()> {
        let t = k.dims()[1];
        let need = self.len + t;
        for (buf, new) in [(&mut self.k, k), (&mut self.v, v)] {
            let cap = buf.as_ref().map_or(0, |b| b.dims()[1]);
            if need > cap {
                let mut dims = new.dims().to_vec();
                dims[1] = need.max(2 * cap).max(16);
                let mut grown = Tensor::zeros(dims, new.dtype(), &new.device())?;
                if let Some(old) = buf.as_ref() {
                    grown.slice_assign(1, 0, &old.narrow(1, 0, self.len)?)?;
                }
                *buf = Some(grown);
            }
            buf.as_mut().expect("allocated above").slice_assign(1, self.len, new)?;
        }
        self.len = need;
        Ok(())
    }
    /// The keys and values of positions `0..len`, as views of the buffers.
    pub fn view(&self) -> Result<(Tensor, Tensor)> {
        match (&self.k, &self.v) {
            (Some(k), Some(v)) => Ok((k.narrow(1, 0, self.len)?, v.narrow(1, 0, self.len)?)),
            _ => bail!("KvCache", "the cache is empty"),
        }
    }
}

impl LayerState for KvCache {
    /// The bytes the cache holds for its positions (its buffers may be up to twice that).
    fn bytes(&self) -> usize {
        [&self.k, &self.v]
            .into_iter()
            .flatten()
            .map(|t| t.numel() / t.dims()[1].max(1) * self.len * t.dtype().size_in_bytes())
            .sum()
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// The additive causal mask `[T, S]` for queries at `start..start+T` over keys `0..S`:
/// 0 where the key is at or before the query, -inf after (on the host).
pub fn causal_mask(t: usize, s: usize, start: usize) -> Result<Tensor> {
    let mut m = vec![0f32; t * s];
    for i in 0..t {
        for j in (start + i + 1).min(s)..s {
            m[i * s + j] = f32::NEG_INFINITY;
        }
    }
    Tensor::from_vec(m, [t, s], &Device::Cpu)
}

/// Causal masks built once per device and shape (and uploaded once), not per call.
#[derive(Default)]
pub struct MaskCache {
    masks: Mutex<HashMap<(String, usize, usize, usize), Tensor>>,
}

impl MaskCache {
    pub fn get(&self, device: &Device, t: usize, s: usize, start: usize) -> Result<Tensor> {
        let key = (device.to_string(), t, s, start);
        let mut masks = self
            .masks
            .lock()
            .map_err(|_| tensor::Error::op("causal_mask", "mask cache lock poisoned"))?;
        if let Some(m) = masks.get(&key) {
            return Ok(m.clone());
        }
        let m = causal_mask(t, s, start)?.to_device(device)?;
        if masks.len() >= 16 {
            masks.clear(); // a handful of shapes recur in training; keep memory bounded
        }
        masks.insert(key, m.clone());
        Ok(m)
    }
}

static MASKS: std::sync::LazyLock<MaskCache> = std::sync::LazyLock::new(MaskCache::default);

/// Scaled dot-product attention from differentiable primitives.
/// `q [B, T, H, d]`, `k, v [B, S, H_kv, d]`, queries at `start..start+T`; returns `[B, T, H, d]`.
pub fn sdpa(q: &Var, k: &Var, v: &Var, start: usize) -> Result<Var> {
    let (b, t, h, d) = (q.dims()[0], q.dims()[1], q.dims()[2], q.dims()[3]);
    let (s, hkv) = (k.dims()[1], k.dims()[2]);
    if h % hkv != 0 || k.dims() != v.dims() || k.dims()[3] != d {
        bail!(
            "sdpa",
            "q {:?}, k {:?}, v {:?} do not fit grouped-query attention",
            q.dims(),
            k.dims(),
            v.dims()
        )
    }
    let rep = h / hkv;
    // Query heads of one group side by side: [B, H_kv, rep * T, d] (k and v are not repeated).
    let qg =
        q.reshape([b, t, hkv, rep, d])?.permute(&[0, 2, 3, 1, 4])?.reshape([b, hkv, rep * t, d])?;
    let kt = k.permute(&[0, 2, 3, 1])?; // [B, H_kv, d, S]
    let scores = qg.matmul(&kt)?.scale(1.0 / (d as f64).sqrt())?.reshape([b, hkv, rep, t, s])?;
    let masked = scores.add(&Var::constant(MASKS.get(&q.value().device(), t, s, start)?))?;
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
        let training =
            grad_enabled() && (q.requires_grad() || k.requires_grad() || v.requires_grad());
        // Inference under autocast takes q, k and v in its dtype, as PyTorch's SDPA does
        // (bf16: the tensor-core kernels; a KV cache of half the bytes).
        let (q, k, v) = match crate::linear::autocast() {
            Some(low) if !training => (
                Var::constant(q.value().to_dtype(low)?),
                Var::constant(k.value().to_dtype(low)?),
                Var::constant(v.value().to_dtype(low)?),
            ),
            _ => (q, k, v),
        };
        let out = match state {
            None if training => sdpa(&q, &k, &v, start)?,
            None => Var::constant(sdpa_blocked(q.value(), k.value(), v.value(), start)?),
            Some(st) => {
                let Some(cache) = st.as_any_mut().downcast_mut::<KvCache>() else {
                    bail!("LlamaAttention", "the decoding state given is not a KV cache")
                };
                if cache.len != start {
                    bail!(
                        "LlamaAttention",
                        "KV cache holds {} positions but the input starts at {start}",
                        cache.len
                    )
                }
                if training {
                    // Earlier positions are data; this call's keys and values keep their graph.
                    let past = (cache.len > 0).then(|| cache.view()).transpose()?;
                    cache.append(k.value(), v.value())?;
                    match past {
                        Some((pk, pv)) => {
                            let kc = Var::cat(&[&Var::constant(pk), &k], 1)?;
                            let vc = Var::cat(&[&Var::constant(pv), &v], 1)?;
                            sdpa(&q, &kc, &vc, start)?
                        }
                        None => sdpa(&q, &k, &v, start)?,
                    }
                } else {
                    cache.append(k.value(), v.value())?;
                    let (kc, vc) = cache.view()?;
                    Var::constant(sdpa_blocked(q.value(), &kc, &vc, start)?)
                }
            }
        };
        self.o_proj.forward(&out.reshape([b, t, self.num_heads * self.head_dim])?)
    }
    fn new_state(&self, _batch: usize) -> Result<Box<dyn LayerState>> {
        Ok(Box::new(KvCache::default()))
    }
    fn named_params(&self, prefix: &str) -> Vec<(String, Param)> {
        [
            ("q_proj", &self.q_proj),
            ("k_proj", &self.k_proj),
            ("v_proj", &self.v_proj),
            ("o_proj", &self.o_proj),
        ]
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
