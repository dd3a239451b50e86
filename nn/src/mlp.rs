//! The SwiGLU feed-forward block: `down_proj(silu(gate_proj(x)) * up_proj(x))`.

use crate::linear::Linear;
use autograd::{Param, Var};
use tensor::Result;

#[derive(Clone)]
pub struct Mlp {
    pub gate_proj: Linear,
    pub up_proj: Linear,
    pub down_proj: Linear,
}

impl Mlp {
    pub fn forward(&self, x: &Var) -> Result<Var> {
        let g = self.gate_proj.forward(x)?.silu()?;
        self.down_proj.forward(&g.mul(&self.up_proj.forward(x)?)?)
    }
    pub fn named_params(&self, prefix: &str) -> Vec<(String, Param)> {
        [("gate_proj", &self.gate_proj), ("up_proj", &self.up_proj), ("down_proj", &self.down_proj)]
            .into_iter()
            .flat_map(|(name, l)| l.named_params(&format!("{prefix}.{name}")))
            .collect()
    }
}
