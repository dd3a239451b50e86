//! RMSNorm, `y = x / sqrt(mean(x^2) + eps) * w` over the last dim, in f32 (f64 for f64
//! inputs), as one fused op
//! (a single graph node) beside the composite it must match ([`rms_norm_composite`]).

use autograd::{Backward, Param, Var};
use tensor::{bail, DType, Result, Tensor};

#[derive(Clone)]
pub struct RmsNorm {
    pub weight: Param,
    pub eps: f64,
}

struct RmsNormBackward {
    /// `x * r`, the normalized input
    n: Tensor,
    /// `r = 1 / sqrt(mean(x^2) + eps)`, one per row
    r: Tensor,
    w: Tensor,
}

impl Backward for RmsNormBackward {
    fn name(&self) -> &'static str {
        "rms_norm"
    }
    // With n = x r and y = n w:
    //   dL/dw = sum over rows of g * n
    //   dL/dx = r * (g w - n * mean(g w n))      (the mean is over the normalized dim)
    fn backward(&self, g: &[Option<Tensor>], _needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let Some(g) = &g[0] else { return Ok(vec![None, None]) };
        let last = self.n.rank() - 1;
        let dn = g.mul(&self.w)?;
        let dx = self.r.mul(&dn.sub(&self.n.mul(&dn.mul(&self.n)?.mean(last, true)?)?)?)?;
        let gn = g.mul(&self.n)?;
        let d = self.n.dims()[last];
        let dw = gn.reshape_infer(&[None, Some(d)])?.sum(0, false)?;
        Ok(vec![Some(dx), Some(dw)])
    }
}

/// f32 for activations stored in f32/bf16/f16, f64 for f64 (gradchecks).
pub fn compute_dtype(d: DType) -> DType {
    if d == DType::F64 {
        DType::F64
    } else {
        DType::F32
    }
}

/// The fused op: `x [.., D]`, `w [D]`.
pub fn rms_norm(x: &Var, w: &Var, eps: f64) -> Result<Var> {
    let d = *x.dims().last().unwrap_or(&0);
    if w.dims() != [d] {
        bail!("rms_norm", "weight of shape {:?} does not match input features {d}", w.dims())
    }
    let cd = compute_dtype(x.dtype());
    let xf = x.value().to_dtype(cd)?;
    let last = xf.rank() - 1;
    let r = xf.sqr()?.mean(last, true)?.add_scalar(eps)?.rsqrt()?;
    let n = xf.mul(&r)?;
    let wf = w.value().to_dtype(cd)?;
    let y = n.mul(&wf)?;
    let back = RmsNormBackward { n, r, w: wf };
    Ok(Var::from_op1(back, &[x, w], y))
}

/// The same function from primitive ops (the reference the fused op is tested against).
pub fn rms_norm_composite(x: &Var, w: &Var, eps: f64) -> Result<Var> {
    let last = x.rank() - 1;
    let cd = compute_dtype(x.dtype());
    let x = x.to_dtype(cd)?;
    let r = x.sqr()?.mean(last, true)?.add_scalar(eps)?.rsqrt()?;
    x.mul(&r)?.mul(&w.to_dtype(cd)?)
}

impl RmsNorm {
    pub fn forward(&self, x: &Var) -> Result<Var> {
        rms_norm(x, &self.weight.var(), self.eps)
    }
}
