//! The LAWCAT attention layer, which takes the place of one softmax attention block:
//!
//! 1. `q, k, v = W_q x, W_k x, W_v x` (the teacher's projections; k, v repeated to H heads)
//! 2. causal depthwise conv over time on q and on k (identity-initialised)
//! 3. `phi_q, phi_k = phi(q~), phi(k~)`, one feature map shared by q and k
//! 4. `g = logsigmoid(x G1 G2 + b_g) / tau` (per head and feature, or per head)
//! 5. normalized gated linear attention of `(phi_q, phi_k, v, g)`
//! 6. heads concatenated, the teacher's `o_proj`
//!
//! Decoding keeps `(S, z)` and the last `W - 1` projected q/k rows: constant memory.

use crate::config::{FeatureMap, GateKind, LawcatConfig};
use crate::ops::conv1d::{conv1d, conv1d_step, conv1d_step_inplace, identity_weight};
use crate::ops::gla::{forward as gla_forward, gla, gla_normalized, GlaMode, GlaStep, NormState};
use autograd::{grad_enabled, Param, Var};
use nn::block::{AttentionBlock, LayerState};
use nn::linear::Linear;
use nn::rope::{apply_rope, Rope};
use std::any::Any;
use std::collections::BTreeMap;
use std::sync::Arc;
use tensor::{bail, DType, Error, Result, Rng, Tensor};

/// A linear layer with an optional low-rank update: `x W^T + (alpha / r) (x A^T) B^T`
/// (B starts at zero, so the update starts at zero).
#[derive(Clone)]
pub struct LoraLinear {
    pub base: Linear,
    pub lora: Option<(Param, Param, f64)>,
}

impl LoraLinear {
    pub fn forward(&self, x: &Var) -> Result<Var> {
        let y = self.base.forward(x)?;
        match &self.lora {
            None => Ok(y),
            Some((a, b, scale)) => {
                let low = Linear::new(a.clone(), None).forward(x)?;
                y.add(&Linear::new(b.clone(), None).forward(&low)?.scale(*scale)?)
            }
        }
    }
    fn add_lora(&mut self, name: &str, rank: usize, alpha: f64, rng: &mut Rng) -> Result<()> {
        let (out, inp) = (self.base.out_features(), self.base.in_features());
        let dev = self.base.weight.value().device();
        let bound = 1.0 / (inp as f64).sqrt();
        let a = Param::new(
            format!("{name}.lora_A"),
            Tensor::rand_uniform([rank, inp], -bound, bound, DType::F32, &dev, rng)?,
        );
        let b = Param::new(format!("{name}.lora_B"), Tensor::zeros([out, rank], DType::F32, &dev)?);
        self.lora = Some((a, b, alpha / rank as f64));
        Ok(())
    }
}

pub struct LawcatAttention {
    pub cfg: LawcatConfig,
    pub q_proj: LoraLinear,
    pub k_proj: LoraLinear,
    pub v_proj: LoraLinear,
    pub o_proj: LoraLinear,
    /// `[H d, W]` and `[H_kv d, W]`.
    pub conv_q: Option<Param>,
    pub conv_k: Option<Param>,
    /// Hedgehog `P`: `[H, d, f]`.
    pub feature_map: Option<Param>,
    /// `G1 [rank, D]`, `G2 [H F or H, rank]`, `b_g [H F or H]`.
    pub gate_g1: Param,
    pub gate_g2: Param,
    pub gate_bias: Param,
    pub num_heads: usize,
    pub num_kv_heads: usize,
    pub head_dim: usize,
    pub rope: Arc<Rope>,
}

/// What a LAWCAT layer keeps while decoding, on the layer's device, written in place
/// token by token: the scan's state `S [B, H, F, V]` (for normalized GLA with the
/// normaliser `z` as one more column, `[B, H, F, V + 1]`, as the scan carries it) and the
/// last `W - 1` projected q and k rows for the convolutions.
pub struct LawcatState {
    pub s: Tensor,
    pub q_tail: Tensor,
    pub k_tail: Tensor,
    pub len: usize,
}

impl LayerState for LawcatState {
    fn bytes(&self) -> usize {
        [&self.s, &self.q_tail, &self.k_tail]
            .into_iter()
            .map(|t| t.numel() * t.dtype().size_in_bytes())
            .sum()
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// The LAWCAT parameter names of a layer, under `prefix` (`model.layers.N.self_attn`).
fn names(prefix: &str) -> [String; 6] {
    [
        "conv_q.weight",
        "conv_k.weight",
        "feature_map.weight",
        "gate.g1.weight",
        "gate.g2.weight",
        "gate.g2.bias",
    ]
    .map(|n| format!("{prefix}.{n}"))
}

impl LawcatAttention {
    /// A fresh LAWCAT layer around a teacher attention block's projections.
    pub fn from_teacher(
        t: &nn::attention::LlamaAttention,
        cfg: &LawcatConfig,
        prefix: &str,
        rng: &mut Rng,
    ) -> Result<LawcatAttention> {
        cfg.validate().map_err(|m| Error::op("LawcatAttention", m))?;
        let (h, hkv, d) = (t.num_heads, t.num_kv_heads, t.head_dim);
        let hidden = t.q_proj.in_features();
        let f = if cfg.feature_dim == 0 { d } else { cfg.feature_dim };
        let phi = cfg.phi_dim(d);
        let gate_out = match cfg.gate {
            GateKind::PerFeature => h * phi,
            GateKind::PerHead => h,
        };
        let [cq, ck, fm, g1, g2, gb] = names(prefix);
        // the layer's tensors live where the teacher's do (drawn on the host, so a seed
        // gives the same student on every device)
        let dev = t.q_proj.weight.value().device();
        let conv = |name: String, ch: usize| {
            cfg.conv
                .then(|| {
                    identity_weight(ch, cfg.conv_width).to_device(&dev).map(|w| Param::new(name, w))
                })
                .transpose()
        };
        let fmap = (cfg.feature_map == FeatureMap::Hedgehog)
            .then(|| {
                let mut eye = vec![0f32; h * d * f];
                for hh in 0..h {
                    for i in 0..d.min(f) {
                        eye[hh * d * f + i * f + i] = 1.0;
                    }
                }
                Tensor::from_vec(eye, [h, d, f], &dev).map(|t| Param::new(fm, t))
            })
            .transpose()?;
        let wrap = |l: &Linear| LoraLinear { base: l.clone(), lora: None };
        let mut layer = LawcatAttention {
            cfg: cfg.clone(),
            q_proj: wrap(&t.q_proj),
            k_proj: wrap(&t.k_proj),
            v_proj: wrap(&t.v_proj),
            o_proj: wrap(&t.o_proj),
            conv_q: conv(cq, h * d)?,
            conv_k: conv(ck, hkv * d)?,
            feature_map: fmap,
            gate_g1: Param::new(
                g1,
                Tensor::randn(
                    [cfg.gate_rank, hidden],
                    1.0 / (hidden as f64).sqrt(),
                    DType::F32,
                    &dev,
                    rng,
                )?,
            ),
            gate_g2: Param::new(
                g2,
                Tensor::randn(
                    [gate_out, cfg.gate_rank],
                    0.1 / (cfg.gate_rank as f64).sqrt(),
                    DType::F32,
                    &dev,
                    rng,
                )?,
            ),
            gate_bias: Param::new(
                gb,
                Tensor::full(cfg.gate_bias_init, gate_out, DType::F32, &dev)?,
            ),
            num_heads: h,
            num_kv_heads: hkv,
            head_dim: d,
            rope: t.rope.clone(),
        };
        if cfg.lora_rank > 0 {
            layer.add_lora(prefix, rng)?;
        }
        Ok(layer)
    }

    /// Adds LoRA (rank and alpha from the config) to q/k/v/o.
    pub fn add_lora(&mut self, prefix: &str, rng: &mut Rng) -> Result<()> {
        let (r, a) = (self.cfg.lora_rank.max(1), self.cfg.lora_alpha);
        self.cfg.lora_rank = r;
        for (name, l) in [
            ("q_proj", &mut self.q_proj),
            ("k_proj", &mut self.k_proj),
            ("v_proj", &mut self.v_proj),
            ("o_proj", &mut self.o_proj),
        ] {
            l.add_lora(&format!("{prefix}.{name}"), r, a, rng)?;
        }
        Ok(())
    }

    /// Rebuilds a saved layer: the teacher's projections plus the LAWCAT tensors, removed
    /// from `tensors`; a missing or misshapen tensor is an error naming it.
    pub fn from_saved(
        t: &nn::attention::LlamaAttention,
        cfg: &LawcatConfig,
        prefix: &str,
        tensors: &mut BTreeMap<String, Tensor>,
    ) -> Result<LawcatAttention> {
        let mut layer = LawcatAttention::from_teacher(
            t,
            &LawcatConfig { lora_rank: 0, ..cfg.clone() },
            prefix,
            &mut Rng::new(0),
        )?;
        if cfg.lora_rank > 0 {
            layer.cfg.lora_rank = cfg.lora_rank;
            layer.add_lora(prefix, &mut Rng::new(0))?;
        }
        for (_, p) in layer.own_params() {
            let t = tensors
                .remove(p.name())
                .ok_or_else(|| Error::op("load student", format!("missing tensor {}", p.name())))?;
            let want = p.value();
            if t.dims() != want.dims() {
                bail!(
                    "load student",
                    "{} has shape {:?}, expected {:?}",
                    p.name(),
                    t.dims(),
                    want.dims()
                )
            }
            p.set(t.to_dtype(want.dtype())?.to_device(&want.device())?)?;
        }
        Ok(layer)
    }

    /// The parameters LAWCAT adds (conv, feature map, gate, LoRA), by name.
    pub fn own_params(&self) -> Vec<(String, Param)> {
        let mut out: Vec<Param> = [&self.conv_q, &self.conv_k, &self.feature_map]
            .into_iter()
            .flatten()
            .cloned()
            .collect();
        out.extend([self.gate_g1.clone(), self.gate_g2.clone(), self.gate_bias.clone()]);
        for l in [&self.q_proj, &self.k_proj, &self.v_proj, &self.o_proj] {
            if let Some((a, b, _)) = &l.lora {
                out.extend([a.clone(), b.clone()]);
            }
        }
        out.into_iter().map(|p| (p.name().to_string(), p)).collect()
    }

    fn phi_dim(&self) -> usize {
        self.cfg.phi_dim(self.head_dim)
    }

    /// `[B, T, H_kv, d]` -> `[B, T, H, d]`, each kv head serving `H / H_kv` query heads.
    fn repeat_kv(&self, x: &Var) -> Result<Var> {
        let rep = self.num_heads / self.num_kv_heads;
        if rep == 1 {
            return Ok(x.clone());
        }
        let (b, t) = (x.dims()[0], x.dims()[1]);
        x.unsqueeze(3)?.broadcast_as([b, t, self.num_kv_heads, rep, self.head_dim])?.reshape([
            b,
            t,
            self.num_heads,
            self.head_dim,
        ])
    }

    /// `phi(u)` for `u [B, T, H, d]` -> `[B, T, H, F]`.
    pub fn phi(&self, u: &Var) -> Result<Var> {
        match self.cfg.feature_map {
            FeatureMap::Hedgehog => {
                let p = self.feature_map.as_ref().expect("hedgehog has a projection").var();
                let (b, t, h, d) = (u.dims()[0], u.dims()[1], u.dims()[2], u.dims()[3]);
                let f = p.dims()[2];
                let z = u.permute(&[2, 0, 1, 3])?.reshape([h, b * t, d])?;
                let z = nn::linear::autocast_matmul(&z, &p)?
                    .reshape([h, b, t, f])?
                    .permute(&[1, 2, 0, 3])?;
                crate::ops::feature_map::hedgehog(&z)
            }
            FeatureMap::EluPlusOne => u.elu(1.0)?.add_scalar(1.0),
            FeatureMap::Relu => u.relu(),
            FeatureMap::Identity => Ok(u.clone()),
        }
    }

    /// Log forget gates `[B, T, H, F]` for the layer input `x [B, T, D]`.
    pub fn gate(&self, x: &Var) -> Result<Var> {
        let (b, t) = (x.dims()[0], x.dims()[1]);
        let (h, f) = (self.num_heads, self.phi_dim());
        let low = Linear::new(self.gate_g1.clone(), None).forward(x)?;
        let logits =
            Linear::new(self.gate_g2.clone(), Some(self.gate_bias.clone())).forward(&low)?;
        let g = logits.log_sigmoid()?.scale(1.0 / self.cfg.gate_tau)?;
        match self.cfg.gate {
            GateKind::PerFeature => g.reshape([b, t, h, f]),
            GateKind::PerHead => g.reshape([b, t, h, 1])?.broadcast_as([b, t, h, f]),
        }
    }

    /// The plain scan's output scale `F^-1/2` (the normalized scan divides instead).
    fn scale(&self) -> f64 {
        if self.cfg.normalize {
            1.0
        } else {
            1.0 / (self.phi_dim() as f64).sqrt()
        }
    }

    /// The scan for decoding, advancing `state` in place: one token by the recurrent step,
    /// a longer prompt by the configured form from the state, copied back into it. For the
    /// normalized scan `v` gets its column of ones (so the state's last column is `z`) and
    /// the output is divided by the normaliser.
    fn scan_inplace(
        &self,
        pq: &Var,
        pk: &Var,
        v: &Var,
        g: &Var,
        state: &mut Tensor,
    ) -> Result<Var> {
        let (b, t, h, d) = (v.dims()[0], v.dims()[1], v.dims()[2], v.dims()[3]);
        let g = if g.rank() == 4 { g.value().contiguous()? } else { g.value().clone() };
        let v1 = if self.cfg.normalize {
            Tensor::cat(
                &[v.value(), &Tensor::ones([b, t, h, 1], v.dtype(), &v.value().device())?],
                3,
            )?
        } else {
            v.value().clone()
        };
        let o1 = if t == 1 || self.mode() == GlaMode::Recurrent {
            let mut o = Tensor::zeros([b, t, h, v1.dims()[3]], DType::F32, &v1.device())?;
            nn::fused::run_inplace(
                &GlaStep { scale: self.scale() },
                &[pq.value(), pk.value(), &v1, &g],
                &mut [state, &mut o],
            )?;
            o
        } else {
            let (o, fin) = gla_forward(
                pq.value(),
                pk.value(),
                &v1,
                &g,
                Some(state),
                self.scale(),
                self.mode(),
            )?;
            state.slice_assign(0, 0, &fin)?;
            o
        };
        let o = if self.cfg.normalize {
            o1.narrow(3, 0, d)?.div(&o1.narrow(3, d, 1)?.add_scalar(self.cfg.eps)?)?
        } else {
            o1
        };
        Ok(Var::constant(o))
    }

    fn mode(&self) -> GlaMode {
        if self.cfg.chunk == 0 {
            GlaMode::Recurrent
        } else {
            GlaMode::Chunked(self.cfg.chunk)
        }
    }
}

impl AttentionBlock for LawcatAttention {
    fn forward(&self, x: &Var, start: usize, state: Option<&mut dyn LayerState>) -> Result<Var> {
        if x.rank() != 3 {
            bail!("LawcatAttention", "input must be [B, T, D], got {:?}", x.dims())
        }
        let (b, t) = (x.dims()[0], x.dims()[1]);
        let (h, hkv, d) = (self.num_heads, self.num_kv_heads, self.head_dim);
        let mut st = match state {
            Some(s) => match s.as_any_mut().downcast_mut::<LawcatState>() {
                Some(s) => Some(s),
                None => bail!("LawcatAttention", "the decoding state given is not a LAWCAT state"),
            },
            None => None,
        };
        if let Some(s) = &st {
            if s.len != start {
                bail!(
                    "LawcatAttention",
                    "state holds {} positions but the input starts at {start}",
                    s.len
                )
            }
        }
        let mut q = self.q_proj.forward(x)?;
        let mut k = self.k_proj.forward(x)?;
        let v = self.v_proj.forward(x)?;
        // Decoding without a graph advances the states in place; with a graph (training
        // through a state) the differentiable forms compute new ones.
        let inplace = !(grad_enabled()
            && (x.requires_grad() || self.own_params().iter().any(|(_, p)| p.trainable())));
        if let (Some(cq), Some(ck)) = (&self.conv_q, &self.conv_k) {
            match st.as_deref_mut() {
                Some(s) if inplace => {
                    q = Var::constant(conv1d_step_inplace(
                        q.value(),
                        &mut s.q_tail,
                        &cq.value(),
                        None,
                    )?);
                    k = Var::constant(conv1d_step_inplace(
                        k.value(),
                        &mut s.k_tail,
                        &ck.value(),
                        None,
                    )?);
                }
                Some(s) => {
                    let (q2, qt) = conv1d_step(&q, &s.q_tail, &cq.var(), None)?;
                    let (k2, kt) = conv1d_step(&k, &s.k_tail, &ck.var(), None)?;
                    s.q_tail = qt;
                    s.k_tail = kt;
                    q = q2;
                    k = k2;
                }
                None => {
                    q = conv1d(&q, &cq.var(), None)?;
                    k = conv1d(&k, &ck.var(), None)?;
                }
            }
        }
        let mut q = q.reshape([b, t, h, d])?;
        let mut k = self.repeat_kv(&k.reshape([b, t, hkv, d])?)?;
        let v = self.repeat_kv(&v.reshape([b, t, hkv, d])?)?;
        if self.cfg.rope {
            q = apply_rope(&q, &self.rope, start)?;
            k = apply_rope(&k, &self.rope, start)?;
        }
        let (pq, pk) = (self.phi(&q)?, self.phi(&k)?);
        let g = self.gate(x)?;
        let o = match st.as_deref_mut() {
            Some(s) if inplace => self.scan_inplace(&pq, &pk, &v, &g, &mut s.s)?,
            _ if self.cfg.normalize => {
                let init = match st.as_deref() {
                    Some(s) => Some(NormState {
                        s: Var::constant(s.s.narrow(3, 0, d)?),
                        z: Var::constant(s.s.narrow(3, d, 1)?.squeeze(3)?),
                    }),
                    None => None,
                };
                let (o, fin) =
                    gla_normalized(&pq, &pk, &v, &g, init.as_ref(), self.cfg.eps, self.mode())?;
                if let Some(s) = st.as_deref_mut() {
                    s.s = Tensor::cat(&[fin.s.value(), &fin.z.value().unsqueeze(3)?], 3)?;
                }
                o
            }
            _ => {
                let init = st.as_deref().map(|s| Var::constant(s.s.clone()));
                let (o, fin) = gla(&pq, &pk, &v, &g, init.as_ref(), self.scale(), self.mode())?;
                if let Some(s) = st.as_deref_mut() {
                    s.s = fin.value().clone();
                }
                o
            }
        };
        if let Some(s) = st.as_deref_mut() {
            s.len += t;
        }
        self.o_proj.forward(&o.reshape([b, t, h * d])?)
    }

    fn new_state(&self, batch: usize) -> Result<Box<dyn LayerState>> {
        let (h, hkv, d, f) = (self.num_heads, self.num_kv_heads, self.head_dim, self.phi_dim());
        let w = if self.cfg.conv { self.cfg.conv_width - 1 } else { 0 };
        let dev = self.q_proj.base.weight.value().device();
        let cols = if self.cfg.normalize { d + 1 } else { d };
        Ok(Box::new(LawcatState {
            s: Tensor::zeros([batch, h, f, cols], DType::F32, &dev)?,
            q_tail: Tensor::zeros([batch, w, h * d], DType::F32, &dev)?,
            k_tail: Tensor::zeros([batch, w, hkv * d], DType::F32, &dev)?,
            len: 0,
        }))
    }

    fn named_params(&self, prefix: &str) -> Vec<(String, Param)> {
        let mut out = vec![];
        for (name, l) in [
            ("q_proj", &self.q_proj),
            ("k_proj", &self.k_proj),
            ("v_proj", &self.v_proj),
            ("o_proj", &self.o_proj),
        ] {
            out.extend(l.base.named_params(&format!("{prefix}.{name}")));
        }
        out.extend(self.own_params());
        out
    }

    fn kind(&self) -> &'static str {
        "lawcat"
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}
