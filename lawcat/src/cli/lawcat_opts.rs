//! Command-line flags for every LAWCAT option (shared by `distill` and `demo`).

use crate::config::{FeatureMap, GateKind, LawcatConfig};
use anyhow::bail;

#[derive(clap::Args, Clone, Debug)]
pub struct LawcatFlags {
    /// Feature map: hedgehog, elu (elu+1), relu or identity.
    #[arg(long, default_value = "hedgehog")]
    pub feature_map: String,
    /// Hedgehog projection width per head (0: the head dim).
    #[arg(long, default_value_t = 0)]
    pub feature_dim: usize,
    /// Gate: per-feature (GLA) or per-head (one scalar per head).
    #[arg(long, default_value = "per-feature")]
    pub gate: String,
    /// Rank of the low-rank gate projection x G1 G2.
    #[arg(long, default_value_t = 16)]
    pub gate_rank: usize,
    /// Gate temperature tau: g = logsigmoid(x G1 G2 + b_g) / tau.
    #[arg(long, default_value_t = 16.0)]
    pub gate_tau: f64,
    /// Initial gate bias b_g (larger: slower forgetting at the start).
    #[arg(long, default_value_t = 4.0)]
    pub gate_bias_init: f64,
    /// Leave out the causal conv on q and k (the ablation).
    #[arg(long)]
    pub no_conv: bool,
    /// Causal conv kernel width W (taps over the current and W-1 earlier tokens).
    #[arg(long, default_value_t = 4)]
    pub conv_width: usize,
    /// Plain gated linear attention instead of the normalized form.
    #[arg(long)]
    pub no_normalize: bool,
    /// RoPE on q and k before the feature map.
    #[arg(long)]
    pub rope: bool,
    /// Scan chunk length (0: the recurrent form).
    #[arg(long, default_value_t = 64)]
    pub chunk: usize,
}

impl LawcatFlags {
    pub fn config(&self) -> anyhow::Result<LawcatConfig> {
        let feature_map = match self.feature_map.as_str() {
            "hedgehog" => FeatureMap::Hedgehog,
            "elu" | "elu+1" => FeatureMap::EluPlusOne,
            "relu" => FeatureMap::Relu,
            "identity" => FeatureMap::Identity,
            other => bail!("--feature-map {other:?}: expected hedgehog, elu, relu or identity"),
        };
        let gate = match self.gate.as_str() {
            "per-feature" => GateKind::PerFeature,
            "per-head" => GateKind::PerHead,
            other => bail!("--gate {other:?}: expected per-feature or per-head"),
        };
        let c = LawcatConfig {
            conv: !self.no_conv,
            conv_width: self.conv_width,
            feature_map,
            feature_dim: self.feature_dim,
            gate,
            gate_rank: self.gate_rank,
            gate_tau: self.gate_tau,
            gate_bias_init: self.gate_bias_init,
            normalize: !self.no_normalize,
            rope: self.rope,
            chunk: self.chunk,
            ..LawcatConfig::default()
        };
        if let Err(m) = c.validate() {
            bail!("{m}");
        }
        Ok(c)
    }
}
