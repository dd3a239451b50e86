//! AdamW (Loshchilov & Hutter), the update of PyTorch's `torch.optim.AdamW`:
//! ```text
//! p   <- p * (1 - lr * wd)                       decoupled weight decay
//! m   <- b1 m + (1 - b1) g                       first moment
//! v   <- b2 v + (1 - b2) g^2                     second moment
//! p   <- p - (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
//! ```

use super::{meta_f64, state_tensor, Optimizer};
use crate::Param;
use std::collections::HashMap;
use tensor::{bail, Result, Tensor};

pub struct AdamW {
    params: Vec<Param>,
    pub lr: f64,
    pub betas: (f64, f64),
    pub eps: f64,
    pub weight_decay: f64,
    t: u64,
    m: Vec<Option<Tensor>>,
    v: Vec<Option<Tensor>>,
}

impl AdamW {
    /// PyTorch's defaults but for the learning rate: betas (0.9, 0.999), eps 1e-8, wd 0.01.
    pub fn new(params: Vec<Param>, lr: f64) -> AdamW {
        let n = params.len();
        AdamW { params, lr, betas: (0.9, 0.999), eps: 1e-8, weight_decay: 0.01, t: 0, m: vec![None; n], v: vec![None; n] }
    }
    pub fn with_weight_decay(mut self, wd: f64) -> Self {
        self.weight_decay = wd;
        self
    }
    pub fn with_betas(mut self, b1: f64, b2: f64) -> Self {
        self.betas = (b1, b2);
        self
    }
    pub fn with_eps(mut self, eps: f64) -> Self {
        self.eps = eps;
        self
    }
}

impl Optimizer for AdamW {
    fn step(&mut self) -> Result<()> {
        self.t += 1;
        let (b1, b2) = self.betas;
        let bc1 = 1.0 - b1.powi(self.t as i32);
        let bc2 = 1.0 - b2.powi(self.t as i32);
        for (i, p) in self.params.iter().enumerate() {
            let Some(g) = p.grad() else { continue };
            if !p.trainable() {
                continue;
            }
            let mut x = p.value();
            let g = g.to_dtype(x.dtype())?;
            if self.weight_decay != 0.0 {
                x = x.scale(1.0 - self.lr * self.weight_decay)?;
            }
            let m = match &self.m[i] {
                Some(m) => m.scale(b1)?.add(&g.scale(1.0 - b1)?)?,
                None => g.scale(1.0 - b1)?,
            };
            let v = match &self.v[i] {
                Some(v) => v.scale(b2)?.add(&g.sqr()?.scale(1.0 - b2)?)?,
                None => g.sqr()?.scale(1.0 - b2)?,
            };
            let denom = v.sqrt()?.scale(1.0 / bc2.sqrt())?.add_scalar(self.eps)?;
            x = x.sub(&m.div(&denom)?.scale(self.lr / bc1)?)?;
            p.set(x)?;
            self.m[i] = Some(m);
            self.v[i] = Some(v);
        }
        Ok(())
    }
    fn params(&self) -> &[Param] {
        &self.params
    }
    fn lr(&self) -> f64 {
        self.lr
    }
    fn set_lr(&mut self, lr: f64) {
        self.lr = lr;
    }
    fn steps(&self) -> u64 {
        self.t
    }
    fn state(&self) -> (Vec<(String, Tensor)>, HashMap<String, String>) {
        let mut tensors = vec![];
        for (i, p) in self.params.iter().enumerate() {
            if let Some(m) = &self.m[i] {
                tensors.push((format!("{}.exp_avg", p.name()), m.clone()));
            }
            if let Some(v) = &self.v[i] {
                tensors.push((format!("{}.exp_avg_sq", p.name()), v.clone()));
            }
        }
        let meta = HashMap::from([
            ("optimizer".to_string(), "adamw".to_string()),
            ("step".to_string(), self.t.to_string()),
            ("lr".to_string(), format!("{:e}", self.lr)),
            ("beta1".to_string(), format!("{:e}", self.betas.0)),
            ("beta2".to_string(), format!("{:e}", self.betas.1)),
            ("eps".to_string(), format!("{:e}", self.eps)),
            ("weight_decay".to_string(), format!("{:e}", self.weight_decay)),
        ]);
        (tensors, meta)
    }
    fn load_state(&mut self, tensors: &HashMap<String, Tensor>, meta: &HashMap<String, String>) -> Result<()> {
        if meta.get("optimizer").map(String::as_str) != Some("adamw") {
            bail!("AdamW::load_state", "the saved state is not an AdamW state (optimizer = {:?})", meta.get("optimizer"))
        }
        self.t = meta_f64(meta, "step")? as u64;
        self.lr = meta_f64(meta, "lr")?;
        self.betas = (meta_f64(meta, "beta1")?, meta_f64(meta, "beta2")?);
        self.eps = meta_f64(meta, "eps")?;
        self.weight_decay = meta_f64(meta, "weight_decay")?;
        for (i, p) in self.params.iter().enumerate() {
            let like = p.value();
            self.m[i] = state_tensor(tensors, &format!("{}.exp_avg", p.name()), &like)?;
            self.v[i] = state_tensor(tensors, &format!("{}.exp_avg_sq", p.name()), &like)?;
        }
        Ok(())
    }
}
