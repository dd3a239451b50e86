//! Rotary position embeddings as Hugging Face's Llama applies them: the `rotate_half`
//! convention (pairs `(i, i + d/2)`), frequencies `theta^(-2i/d)`, optionally stretched by
//! the `llama3` rule, angles formed in f32 as transformers does.

use crate::config::{LlamaConfig, RopeScaling};
use autograd::{Backward, Var};
use tensor::{bail, Result, Tensor};

#[derive(Clone, Debug)]
pub struct Rope {
    /// One inverse frequency per rotated pair, as f32 values.
    pub inv_freq: Vec<f32>,
    pub head_dim: usize,
}

impl Rope {
    pub fn new(head_dim: usize, theta: f64, scaling: &RopeScaling) -> Rope {
        let half = head_dim / 2;
        let mut inv: Vec<f64> = (0..half).map(|i| 1.0 / theta.powf((2 * i) as f64 / head_dim as f64)).collect();
        if let RopeScaling::Llama3 { factor, low_freq_factor, high_freq_factor, original_max_position_embeddings } = *scaling {
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
                    let smooth = (old / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor);
                    (1.0 - smooth) * scaled / factor + smooth * scaled
                } else {
                    scaled
                };
            }
        }
        Rope { inv_freq: inv.into_iter().map(|f| f as f32).collect(), head_dim }
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
        Ok((Tensor::from_vec(cos, [len, d])?, Tensor::from_vec(sin, [len, d])?))
    }
}

/// `[-x2, x1]` for `x = [x1, x2]` split at the middle of the last dim.
fn rotate_half(x: &Tensor, sign: f64) -> Result<Tensor> {
    let last = x.rank() - 1;
    let h = x.dims()[last] / 2;
    let (x1, x2) = (x.narrow(last, 0, h)?, x.narrow(last, h, h)?);
    Tensor::cat(&[&x2.scale(-sign)?, &x1.scale(sign)?], last)
}

struct RopeBackward {
    cos: Tensor,
    sin: Tensor,
}

impl Backward for RopeBackward {
    fn name(&self) -> &'static str {
        "rope"
    }
    // y = x cos + R(x) sin with R(x) = [-x2, x1]; R is orthogonal with R^T(z) = [z2, -z1],
    // so dL/dx = g cos + R^T(g sin).
    fn backward(&self, g: &[Option<Tensor>], _needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let Some(g) = &g[0] else { return Ok(vec![None]) };
        let gx = g.mul(&self.cos)?.add(&rotate_half(&g.mul(&self.sin)?, -1.0)?)?;
        Ok(vec![Some(gx)])
    }
}

/// Rotates `x [B, T, H, d]` at positions `start..start + T`.
pub fn apply_rope(x: &Var, rope: &Rope, start: usize) -> Result<Var> {
    if x.rank() != 4 || x.dims()[3] != rope.head_dim {
        bail!("rope", "expects [B, T, H, {}], got {:?}", rope.head_dim, x.dims())
    }
    let t = x.dims()[1];
    let (cos, sin) = rope.tables(start, t)?;
    let (cos, sin) = (cos.unsqueeze(1)?, sin.unsqueeze(1)?);
    let xv = x.value().to_dtype(crate::norm::compute_dtype(x.dtype()))?;
    let y = xv.mul(&cos)?.add(&rotate_half(&xv, 1.0)?.mul(&sin)?)?;
    Ok(Var::from_op1(RopeBackward { cos, sin }, &[x], y))
}
