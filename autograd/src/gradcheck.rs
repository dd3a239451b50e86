//! Gradient checking: analytic gradients from the backward pass against central finite
//! differences, in f64. For functions with several or non-scalar outputs, the checked
//! scalar is `sum_o <out_o, r_o>` with fixed random cotangents `r_o`, so every output and
//! every element of it is exercised.

use crate::backward::backward_multi;
use crate::var::{no_grad, Var};
use tensor::tolerance::{compare, Comparison, Tol};
use tensor::{bail, DType, Device, Result, Rng, Tensor};

pub struct GradcheckOptions {
    pub eps: f64,
    /// Central differences in f64 with eps = 1e-6 carry ~1e-10 relative rounding error
    /// and ~eps^2 truncation error; 1e-6 absolute + 1e-5 relative flags any wrong rule.
    pub tol: Tol,
    pub seed: u64,
}

impl Default for GradcheckOptions {
    fn default() -> Self {
        GradcheckOptions { eps: 1e-6, tol: Tol { atol: 1e-6, rtol: 1e-5, rms: 1e-5 }, seed: 0 }
    }
}

/// Checks `f` at `inputs` (converted to f64); returns one comparison per input, or an error
/// naming the first input whose gradient is off.
pub fn gradcheck<F>(f: F, inputs: &[Tensor], opts: &GradcheckOptions) -> Result<Vec<Comparison>>
where
    F: Fn(&[Var]) -> Result<Vec<Var>>,
{
    let xs: Vec<Tensor> =
        inputs.iter().map(|t| t.to_dtype(DType::F64)?.contiguous()).collect::<Result<_>>()?;
    let leaves: Vec<Var> = xs.iter().map(|t| Var::leaf(t.clone())).collect();
    let outs = f(&leaves)?;
    let mut rng = Rng::new(opts.seed);
    let cots: Vec<Tensor> = outs
        .iter()
        .map(|o| Tensor::randn(o.dims(), 1.0, DType::F64, &Device::Cpu, &mut rng))
        .collect::<Result<_>>()?;
    let roots: Vec<(&Var, Tensor)> = outs
        .iter()
        .zip(&cots)
        .filter(|(o, _)| o.requires_grad())
        .map(|(o, c)| (o, c.clone()))
        .collect();
    let grads = if roots.is_empty() { Default::default() } else { backward_multi(&roots)? };
    let objective = |xs: &[Tensor]| -> Result<f64> {
        no_grad(|| {
            let vs: Vec<Var> = xs.iter().map(|t| Var::constant(t.clone())).collect();
            let outs = f(&vs)?;
            let mut s = 0.0;
            for (o, c) in outs.iter().zip(&cots) {
                let ov = o.value().to_vec_f64()?;
                s += ov.iter().zip(c.to_vec_f64()?).map(|(a, b)| a * b).sum::<f64>();
            }
            Ok(s)
        })
    };
    let mut reports = vec![];
    for (i, x) in xs.iter().enumerate() {
        let analytic = match grads.get(&leaves[i]) {
            Some(g) => g.to_vec_f64()?,
            None => vec![0.0; x.numel()],
        };
        let base = x.to_vec_f64()?;
        let mut numeric = vec![0.0; base.len()];
        for j in 0..base.len() {
            let mut probe = xs.clone();
            let mut v = base.clone();
            v[j] = base[j] + opts.eps;
            probe[i] = Tensor::from_vec(v.clone(), x.dims(), &Device::Cpu)?;
            let up = objective(&probe)?;
            v[j] = base[j] - opts.eps;
            probe[i] = Tensor::from_vec(v, x.dims(), &Device::Cpu)?;
            let down = objective(&probe)?;
            numeric[j] = (up - down) / (2.0 * opts.eps);
        }
        let c = compare(&analytic, &numeric, opts.tol);
        if !c.pass {
            bail!(
                "gradcheck",
                "input {i} of shape {:?}: analytic vs numeric gradient: {c}",
                x.dims()
            )
        }
        reports.push(c);
    }
    Ok(reports)
}
