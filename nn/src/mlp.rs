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
        let mut out = vec![];
        for (name, l) in [("gate_proj", &self.gate_proj), ("up_proj", &self.up_proj), ("down_proj", &self.down_proj)] {
            out.push((format!("{prefix}.{name}.weight"), l.weight.clone()));
            if let Some(b) = &l.bias {
                out.push((format!("{prefix}.{name}.bias"), b.clone()));
            }
        }
        out
    }
}
