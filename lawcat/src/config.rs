//! Every LAWCAT option, with the spec's defaults. Where `docs/LAWCAT.md` leaves a choice
//! open it is an option here, recorded in each student's `lawcat.json`.

use serde::{Deserialize, Serialize};

/// The feature map `phi` applied (shared) to queries and keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeatureMap {
    /// `[softmax(u P_h), softmax(-u P_h)]`, `P_h` identity-initialised (Hedgehog /
    /// LoLCATs "softmax-fullspace"); feature dim `2 f`.
    Hedgehog,
    /// `elu(u) + 1`.
    EluPlusOne,
    Relu,
    Identity,
}

/// How finely the forget gate acts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GateKind {
    /// One gate per head and feature (GLA).
    PerFeature,
    /// One scalar gate per head ("simple GLA").
    PerHead,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LawcatConfig {
    /// Causal depthwise conv over time on q and k (false: the ablation without it).
    pub conv: bool,
    /// Conv kernel width `W`.
    pub conv_width: usize,
    pub feature_map: FeatureMap,
    /// Hedgehog projection width `f` per head (0: the head dim).
    pub feature_dim: usize,
    pub gate: GateKind,
    /// Rank of the gate's low-rank projection `x G1 G2`.
    pub gate_rank: usize,
    /// `g = logsigmoid(x G1 G2 + b_g) / tau`.
    pub gate_tau: f64,
    /// Initial value of `b_g` (larger: slower forgetting at the start of training). The
    /// default 4 starts every gate at `logsigmoid(4) / 16 = -0.0011` per step (half-life
    /// ~600 tokens): students distilled on short sequences then keep more of the context.
    pub gate_bias_init: f64,
    /// Normalized GLA (divide by `phi_q . z`); false gives plain GLA with scale `F^-1/2`.
    pub normalize: bool,
    /// Added to the denominator of the normalized form.
    pub eps: f64,
    /// RoPE on q and k before the feature map.
    pub rope: bool,
    /// Chunk length of the scan (0: the recurrent form).
    pub chunk: usize,
    /// LoRA rank on q/k/v/o in stage 2 (0: none).
    pub lora_rank: usize,
    pub lora_alpha: f64,
}

impl Default for LawcatConfig {
    fn default() -> Self {
        LawcatConfig {
            conv: true,
            conv_width: 4,
            feature_map: FeatureMap::Hedgehog,
            feature_dim: 0,
            gate: GateKind::PerFeature,
            gate_rank: 16,
            gate_tau: 16.0,
            gate_bias_init: 4.0,
            normalize: true,
            eps: 1e-6,
            rope: false,
            chunk: 64,
            lora_rank: 0,
            lora_alpha: 16.0,
        }
    }
}

impl LawcatConfig {
    /// Feature dim after the map, for a head dim `d`.
    pub fn phi_dim(&self, head_dim: usize) -> usize {
        let f = if self.feature_dim == 0 { head_dim } else { self.feature_dim };
        match self.feature_map {
            FeatureMap::Hedgehog => 2 * f,
            FeatureMap::EluPlusOne | FeatureMap::Relu | FeatureMap::Identity => head_dim,
        }
    }
    pub fn validate(&self) -> Result<(), String> {
        if self.conv && self.conv_width == 0 {
            return Err("conv_width must be at least 1".into());
        }
        if self.gate_rank == 0 {
            return Err("gate_rank must be at least 1".into());
        }
        if !(self.gate_tau > 0.0 && self.gate_tau.is_finite()) {
            return Err(format!("gate_tau must be a positive number, got {}", self.gate_tau));
        }
        if !self.gate_bias_init.is_finite() {
            return Err(format!("gate_bias_init must be a number, got {}", self.gate_bias_init));
        }
        if !(self.eps >= 0.0 && self.eps.is_finite()) {
            return Err(format!("eps must be a number >= 0, got {}", self.eps));
        }
        if self.lora_rank > 0 && !(self.lora_alpha > 0.0 && self.lora_alpha.is_finite()) {
            return Err("lora_alpha must be a positive number".into());
        }
        // Sizes that shape parameters: bounded far above any sensible choice, so a broken
        // lawcat.json or flag cannot ask for terabytes.
        for (k, v, most) in [
            ("conv_width", self.conv_width, 1usize << 12),
            ("feature_dim", self.feature_dim, 1 << 14),
            ("gate_rank", self.gate_rank, 1 << 14),
            ("lora_rank", self.lora_rank, 1 << 14),
            ("chunk", self.chunk, 1 << 16),
        ] {
            if v > most {
                return Err(format!(
                    "{k} {v} is larger than this implementation takes (at most {most})"
                ));
            }
        }
        Ok(())
    }
}
