//! AdamW (Loshchilov & Hutter), the update of PyTorch's `torch.optim.AdamW`:
//! ```text
//! p   <- p * (1 - lr * wd)                       decoupled weight decay
//! m   <- b1 m + (1 - b1) g                       first moment
//! v   <- b2 v + (1 - b2) g^2                     second moment
//! p   <- p - (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
//! ```
//! One fused op per parameter ([`AdamWUpdate`]), on the parameter's device, in place. The
//! moments are kept in the parameter's compute dtype (f32; f64 for f64 parameters), and a
//! bf16/f16 parameter keeps an f32 master copy that the update reads and writes, the
//! parameter itself being that copy rounded once per step.

use super::{check_kind, meta, meta_f64, state_tensor, Optimizer};
use crate::fused::{self, Compute, Fused};
use autograd::Param;
use ptx::ops::adamw::Hyper;
use ptx::ops::operand::Operand;
use std::collections::HashMap;
use tensor::{bail, bf16, f16, DType, HostIn, HostOut, Result, Tensor};

/// The update of one parameter: input the gradient; in place `[param, m, v]`, plus the f32
/// master copy `[.., master]` for a bf16/f16 parameter. Every element is independent. On a
/// GPU: `adamw_{f32,f64}` (`ptx/kernels/adamw.cu`), bit for bit the CPU body's arithmetic.
pub struct AdamWUpdate(pub Hyper);

impl Fused for AdamWUpdate {
    fn name(&self) -> &'static str {
        "adamw"
    }
    /// The moments' dtype (f32, or f64 for an f64 parameter).
    fn compute_dtype(&self, _ins: &[DType], outs: &[DType]) -> DType {
        outs.get(1).map_or(DType::F32, |d| d.compute())
    }
    fn cpu<T: Compute>(&self, ins: &[HostIn], outs: &mut [HostOut]) -> Result<()> {
        let h = &self.0;
        let c = |x: f64| T::from_f64(x);
        let (decay, b1, b2, nb1, nb2) = (
            c(1.0 - h.lr * h.weight_decay),
            c(h.beta1),
            c(h.beta2),
            c(1.0 - h.beta1),
            c(1.0 - h.beta2),
        );
        let (inv_sqrt_bc2, eps, step) = (c(1.0 / h.bc2.sqrt()), c(h.eps), c(h.lr / h.bc1));
        let g = ins[0].values::<T>()?;
        let has_master = outs.len() == 4;
        let mut x: Vec<T> =
            if has_master { outs[3].slice_mut::<T>()?.to_vec() } else { outs[0].values::<T>()? };
        {
            let (m_out, rest) = outs[1..].split_at_mut(1);
            let m = m_out[0].slice_mut::<T>()?;
            let v = rest[0].slice_mut::<T>()?;
            if m.len() != g.len() || v.len() != g.len() || x.len() != g.len() {
                bail!(
                    "adamw",
                    "gradient, moments and parameter differ in size: {}, {}, {}, {}",
                    g.len(),
                    m.len(),
                    v.len(),
                    x.len()
                )
            }
            for i in 0..g.len() {
                // the order of operations of the composite this op replaces (bit for bit)
                let mut p = x[i];
                if h.weight_decay != 0.0 {
                    p = p * decay;
                }
                m[i] = m[i] * b1 + g[i] * nb1;
                v[i] = v[i] * b2 + g[i] * g[i] * nb2;
                let denom = v[i].sqrt() * inv_sqrt_bc2 + eps;
                x[i] = p - m[i] / denom * step;
            }
        }
        if has_master {
            outs[3].slice_mut::<T>()?.copy_from_slice(&x);
        }
        // A bf16/f16 parameter is its f32 master copy rounded to nearest even, from f32:
        // `HostOut::write` goes through f64, and half's f64 -> bf16/f16 conversions drop the
        // low 32 bits of the f64 before rounding (a tie is then seen where the f32 is above
        // it), which the GPU's `cvt.rn` does not do.
        match outs[0].dtype() {
            DType::BF16 => outs[0]
                .slice_mut::<bf16>()?
                .iter_mut()
                .zip(&x)
                .for_each(|(o, v)| *o = bf16::from_f32(v.to_f64() as f32)),
            DType::F16 => outs[0]
                .slice_mut::<f16>()?
                .iter_mut()
                .zip(&x)
                .for_each(|(o, v)| *o = f16::from_f32(v.to_f64() as f32)),
            DType::F32 | DType::F64 | DType::I64 | DType::U8 => outs[0].write(&x)?,
        }
        Ok(())
    }
    fn gpu(&self, ins: &[Operand], outs: &[Operand]) -> Result<()> {
        let [param, m, v] = [outs[0], outs[1], outs[2]];
        ptx::ops::adamw::step(ins[0], param, m, v, outs.get(3).copied(), self.0)
    }
}

/// What AdamW keeps for one parameter.
#[derive(Clone)]
struct Slot {
    m: Tensor,
    v: Tensor,
    /// The f32 value of a bf16/f16 parameter.
    master: Option<Tensor>,
}

pub struct AdamW {
    params: Vec<Param>,
    pub lr: f64,
    pub betas: (f64, f64),
    pub eps: f64,
    pub weight_decay: f64,
    t: u64,
    slots: Vec<Option<Slot>>,
}

impl AdamW {
    /// PyTorch's defaults but for the learning rate: betas (0.9, 0.999), eps 1e-8, wd 0.01.
    pub fn new(params: Vec<Param>, lr: f64) -> AdamW {
        let n = params.len();
        AdamW {
            params,
            lr,
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.01,
            t: 0,
            slots: vec![None; n],
        }
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
    /// Zero moments (and the master copy) for a parameter seen for the first time. The
    /// moments get storages of their own: the update writes both in place, and a shared
    /// storage would be copied first.
    fn fresh_slot(p: &Tensor) -> Result<Slot> {
        let cd = p.dtype().compute();
        let m = Tensor::zeros(p.shape(), cd, &p.device())?;
        let v = Tensor::zeros(p.shape(), cd, &p.device())?;
        let master = (cd != p.dtype()).then(|| p.to_dtype(cd)).transpose()?;
        Ok(Slot { m, v, master })
    }
}

impl Optimizer for AdamW {
    fn step(&mut self) -> Result<()> {
        self.t += 1;
        let (b1, b2) = self.betas;
        let op = AdamWUpdate(Hyper {
            lr: self.lr,
            beta1: b1,
            beta2: b2,
            eps: self.eps,
            weight_decay: self.weight_decay,
            bc1: 1.0 - b1.powi(self.t as i32),
            bc2: 1.0 - b2.powi(self.t as i32),
        });
        for (i, p) in self.params.iter().enumerate() {
            let Some(g) = p.grad() else { continue };
            if !p.trainable() {
                continue;
            }
            let slot = match &mut self.slots[i] {
                Some(s) => s,
                empty => empty.insert(AdamW::fresh_slot(&p.value())?),
            };
            p.update(|x| {
                let Slot { m, v, master } = slot;
                match master {
                    Some(master) => fused::run_inplace(&op, &[&g], &mut [x, m, v, master]),
                    None => fused::run_inplace(&op, &[&g], &mut [x, m, v]),
                }
            })?;
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
        for (p, s) in self.params.iter().zip(&self.slots) {
            if let Some(s) = s {
                tensors.push((format!("{}.exp_avg", p.name()), s.m.clone()));
                tensors.push((format!("{}.exp_avg_sq", p.name()), s.v.clone()));
                if let Some(master) = &s.master {
                    tensors.push((format!("{}.master", p.name()), master.clone()));
                }
            }
        }
        let scalars = [
            ("lr", self.lr),
            ("beta1", self.betas.0),
            ("beta2", self.betas.1),
            ("eps", self.eps),
            ("weight_decay", self.weight_decay),
        ];
        (tensors, meta("adamw", self.t, &scalars))
    }
    fn load_state(
        &mut self,
        tensors: &HashMap<String, Tensor>,
        meta: &HashMap<String, String>,
    ) -> Result<()> {
        check_kind(meta, "adamw", "AdamW", "AdamW::load_state")?;
        self.t = meta_f64(meta, "step")? as u64;
        self.lr = meta_f64(meta, "lr")?;
        self.betas = (meta_f64(meta, "beta1")?, meta_f64(meta, "beta2")?);
        self.eps = meta_f64(meta, "eps")?;
        self.weight_decay = meta_f64(meta, "weight_decay")?;
        for (i, p) in self.params.iter().enumerate() {
            let value = p.value();
            let cd = value.dtype().compute();
            let like = value.to_dtype(cd)?;
            let m = state_tensor(tensors, &format!("{}.exp_avg", p.name()), &like)?;
            let v = state_tensor(tensors, &format!("{}.exp_avg_sq", p.name()), &like)?;
            self.slots[i] = match (m, v) {
                (Some(m), Some(v)) => {
                    let master =
                        match state_tensor(tensors, &format!("{}.master", p.name()), &like)? {
                            Some(ms) if cd != value.dtype() => Some(ms),
                            _ if cd != value.dtype() => Some(like),
                            _ => None,
                        };
                    Some(Slot { m, v, master })
                }
                (None, None) => None,
                _ => bail!(
                    "AdamW::load_state",
                    "{}: the saved state has one moment without the other",
                    p.name()
                ),
            };
        }
        Ok(())
    }
}
