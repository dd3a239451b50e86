//! SGD with momentum, as PyTorch's `torch.optim.SGD` (no dampening, no Nesterov):
//! ```text
//! g <- g + wd p            (L2 weight decay, when set)
//! b <- mu b + g            (b = g on the first step)
//! p <- p - lr b
//! ```

use super::{check_kind, meta, meta_f64, state_tensor, Optimizer};
use autograd::Param;
use std::collections::HashMap;
use tensor::{Result, Tensor};

pub struct Sgd {
    params: Vec<Param>,
    pub lr: f64,
    pub momentum: f64,
    pub weight_decay: f64,
    t: u64,
    buf: Vec<Option<Tensor>>,
}

impl Sgd {
    pub fn new(params: Vec<Param>, lr: f64, momentum: f64) -> Sgd {
        let n = params.len();
        Sgd { params, lr, momentum, weight_decay: 0.0, t: 0, buf: vec![None; n] }
    }
}

impl Optimizer for Sgd {
    fn step(&mut self) -> Result<()> {
        self.t += 1;
        for (i, p) in self.params.iter().enumerate() {
            let Some(g) = p.grad() else { continue };
            if !p.trainable() {
                continue;
            }
            let x = p.value();
            let mut g = g.to_dtype(x.dtype())?;
            if self.weight_decay != 0.0 {
                g = g.add(&x.scale(self.weight_decay)?)?;
            }
            let d = if self.momentum != 0.0 {
                let b = match &self.buf[i] {
                    Some(b) => b.scale(self.momentum)?.add(&g)?,
                    None => g,
                };
                self.buf[i] = Some(b.clone());
                b
            } else {
                g
            };
            p.set(x.sub(&d.scale(self.lr)?)?)?;
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
        let tensors = self
            .params
            .iter()
            .zip(&self.buf)
            .filter_map(|(p, b)| {
                b.as_ref().map(|b| (format!("{}.momentum_buffer", p.name()), b.clone()))
            })
            .collect();
        let scalars =
            [("lr", self.lr), ("momentum", self.momentum), ("weight_decay", self.weight_decay)];
        (tensors, meta("sgd", self.t, &scalars))
    }
    fn load_state(
        &mut self,
        tensors: &HashMap<String, Tensor>,
        meta: &HashMap<String, String>,
    ) -> Result<()> {
        check_kind(meta, "sgd", "SGD", "Sgd::load_state")?;
        self.t = meta_f64(meta, "step")? as u64;
        self.lr = meta_f64(meta, "lr")?;
        self.momentum = meta_f64(meta, "momentum")?;
        self.weight_decay = meta_f64(meta, "weight_decay")?;
        for (i, p) in self.params.iter().enumerate() {
            self.buf[i] =
                state_tensor(tensors, &format!("{}.momentum_buffer", p.name()), &p.value())?;
        }
        Ok(())
    }
}
