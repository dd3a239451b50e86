//! Rotary position embeddings as Hugging Face's Llama applies them: the `rotate_half`
//! convention (pairs `(i, i + d/2)`), frequencies `theta^(-2i/d)`, optionally stretched by
//! the `llama3` rule, angles formed in f32 as transformers does.

use crate::config::{LlamaConfig, RopeScaling};
use crate::fused::{self, Compute, Fused, FusedGrad, Input};
use autograd::Var;
use ptx::ops::operand::Operand;
use rayon::prelude::*;
use std::collections::HashMap;
use std::sync::Mutex;
use tensor::{bail, Device, HostIn, HostOut, Result, Tensor};

#[derive(Debug)]
pub struct Rope {
    /// One inverse frequency per rotated pair, as f32 values.
    pub inv_freq: Vec<f32>,
    pub head_dim: usize,
    /// `(cos, sin)` for positions `0..len` on each device used so far, grown by doubling:
    /// built once per device and length, not per call.
    cache: Mutex<HashMap<String, (Tensor, Tensor)>>,
}

impl Clone for Rope {
    fn clone(&self) -> Rope {
        Rope { inv_freq: self.inv_freq.clone(), head_dim: self.head_dim, cache: Mutex::default() }
    }
}

impl Rope {
    pub fn new(head_dim: usize, theta: f64, scaling: &RopeScaling) -> Rope {
        let half = head_dim / 2;
        let mut inv: Vec<f64> =
            (0..half).map(|i| 1.0 / theta.powf((2 * i) as f64 / head_dim as f64)).collect();
        if let RopeScaling::Llama3 {
            factor,
            low_freq_factor,
            high_freq_factor,
            original_max_position_embeddings,
        } = *scaling
        {
            let old = original_max_position_embeddings as f64;
            let low_wavelen = old / low_freq_factor;
            let high_wavelen = old / high_freq_factor;
            for f in inv.iter_mut() {
                let wavelen = 2.0 * std::f64::consts::PI / *f;
                // long wavelengths are divided by `factor`, short ones kept, the band between
                // interpolated (transformers' `_compute_llama3_parameters`)
                let scaled = if wavelen > low_wavelen { *f / factor } else { *f };
                let medium = !(wavelen < high_wavelen) && !(wavelen > low_wavelen);
                *f = if medium {
                    let smooth =
                        (old / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor);
                    (1.0 - smooth) * scaled / factor + smooth * scaled
                } else {
                    scaled
                };
            }
        }
        Rope {
            inv_freq: inv.into_iter().map(|f| f as f32).collect(),
            head_dim,
            cache: Mutex::default(),
        }
    }
    pub fn from_config(c: &LlamaConfig) -> Rope {
        Rope::new(c.head_dim, c.rope_theta, &c.rope_scaling)
    }
    /// `(cos, sin)`, each `[len, head_dim]` f32, for positions `start..start + len`
    /// (angle `pos * inv_freq` in f32, the table repeated for the two halves).
    pub fn tables(&self, start: usize, len: usize) -> Result<(Tensor, Tensor)> {
        let d = self.head_dim;
        let half = d / 2;
        let mut cos = vec![0f32; len * d];
        let mut sin = vec![0f32; len * d];
        for t in 0..len {
            let pos = (start + t) as f32;
            for i in 0..half {
                let a = (pos * self.inv_freq[i]) as f64;
                let (s, c) = a.sin_cos();
                cos[t * d + i] = c as f32;
                cos[t * d + half + i] = c as f32;
                sin[t * d + i] = s as f32;
                sin[t * d + half + i] = s as f32;
            }
        }
        Ok((
            Tensor::from_vec(cos, [len, d], &Device::Cpu)?,
            Tensor::from_vec(sin, [len, d], &Device::Cpu)?,
        ))
    }
    /// The tables for positions `start..start + len` on `device`, as views of the cached
    /// tables there (built, and uploaded once, when a longer span is first asked for).
    pub fn tables_on(&self, device: &Device, start: usize, len: usize) -> Result<(Tensor, Tensor)> {
        let key = device.to_string();
        let mut cache = self
            .cache
            .lock()
            .map_err(|_| tensor::Error::op("rope", "table cache lock poisoned"))?;
        let have = cache.get(&key).map_or(0, |(c, _)| c.dims()[0]);
        if start + len > have {
            let n = (start + len).max(2 * have).max(64);
            let (c, s) = self.tables(0, n)?;
            cache.insert(key.clone(), (c.to_device(device)?, s.to_device(device)?));
        }
        let (c, s) = &cache[&key];
        Ok((c.narrow(0, start, len)?, s.narrow(0, start, len)?))
    }
}

/// `y = x cos + R(x) sin` along the last dim of `x [B, T, H, d]`, with `R(x) = [-x2, x1]`
/// and tables `cos, sin [T, d]`, as one fused op. Forward `(x, cos, sin) -> y`; the backward
/// `(x, cos, sin, g) -> dx` rotates the other way (`sin -> -sin`): R is orthogonal with
/// `R^T(z) = [z2, -z1]`, so `dL/dx = g cos + R^T(g sin)`, and as both halves of a table row
/// are equal that is the rotation by `-sin`. Kernels: `rope_{f32,f64}`
/// (`ptx/kernels/rope.cu`), sign -1 for the backward.
struct RopeOp;

/// `x [B, T, H, d]` (`ins[x]`) rotated by the tables `ins[1]`, `ins[2]` (by `-sin` when
/// `inverse`), in `T`.
fn rotate<T: Compute>(ins: &[HostIn], x: usize, inverse: bool) -> Result<Vec<T>> {
    let dims = ins[x].dims().to_vec();
    let (t, h, d) = (dims[1], dims[2], dims[3]);
    let half = d / 2;
    let xs = ins[x].values::<T>()?;
    let (cos, sin) = (ins[1].values::<f32>()?, ins[2].values::<f32>()?);
    let sign = if inverse { -T::ONE } else { T::ONE };
    let mut y = vec![T::ZERO; xs.len()];
    y.par_chunks_mut((h * d).max(1)).zip(xs.par_chunks((h * d).max(1))).enumerate().for_each(
        |(bt, (yr, xr))| {
            let ti = bt % t.max(1);
            let (c, s) = (&cos[ti * d..(ti + 1) * d], &sin[ti * d..(ti + 1) * d]);
            for hh in 0..h {
                let (xo, yo) = (&xr[hh * d..(hh + 1) * d], &mut yr[hh * d..(hh + 1) * d]);
                for i in 0..half {
                    let (x1, x2) = (xo[i], xo[half + i]);
                    yo[i] = x1 * T::from_f64(c[i] as f64) + (-x2) * T::from_f64(s[i] as f64) * sign;
                    yo[half + i] = x2 * T::from_f64(c[half + i] as f64)
                        + x1 * T::from_f64(s[half + i] as f64) * sign;
                }
            }
        },
    );
    Ok(y)
}

impl Fused for RopeOp {
    fn name(&self) -> &'static str {
        "rope"
    }
    fn cpu<T: Compute>(&self, ins: &[HostIn], outs: &mut [HostOut]) -> Result<()> {
        outs[0].write(&rotate::<T>(ins, 0, false)?)
    }
    fn gpu(&self, ins: &[Operand], outs: &[Operand]) -> Result<()> {
        ptx::ops::rope::rope(ins[0], ins[1], ins[2], outs[0], false)
    }
}

impl FusedGrad for RopeOp {
    fn cpu_backward<T: Compute>(
        &self,
        ins: &[HostIn],
        grads: &mut [Option<HostOut>],
    ) -> Result<()> {
        match &mut grads[0] {
            Some(dx) => dx.write(&rotate::<T>(ins, 3, true)?),
            None => Ok(()),
        }
    }
    fn gpu_backward(&self, ins: &[Operand], grads: &[Option<Operand>]) -> Result<()> {
        match grads[0] {
            Some(dx) => ptx::ops::rope::rope(ins[3], ins[1], ins[2], dx, true),
            None => Ok(()),
        }
    }
}

/// Rotates `x [B, T, H, d]` at positions `start..start + T`; the result is in the compute
/// dtype of `x`.
pub fn apply_rope(x: &Var, rope: &Rope, start: usize) -> Result<Var> {
    if x.rank() != 4 || x.dims()[3] != rope.head_dim || rope.head_dim % 2 != 0 {
        bail!(
            "rope",
            "expects [B, T, H, {}] with an even head dim, got {:?}",
            rope.head_dim,
            x.dims()
        )
    }
    let t = x.dims()[1];
    let (cos, sin) = rope.tables_on(&x.value().device(), start, t)?;
    let cd = x.dtype().compute();
    let inputs = [Input::Var(x), Input::Data(&cos), Input::Data(&sin)];
    Ok(fused::apply(RopeOp, &inputs, &[(x.value().shape().clone(), cd)], 1)?.remove(0))
}
