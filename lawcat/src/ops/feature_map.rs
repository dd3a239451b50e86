//! The Hedgehog feature map's nonlinearity as one fused op: for each row `z` (the last dim,
//! `F` values), `y = [softmax(z), softmax(-z)]` (`2F` values), and its gradient
//!
//! ```text
//! dz = s1 (g1 - <g1, s1>) - s2 (g2 - <g2, s2>),   s1 = softmax(z), s2 = softmax(-z)
//! ```
//!
//! (`g1`, `g2` the halves of the output's cotangent: each softmax's vector-Jacobian product,
//! the second negated by the chain rule through `-z`). It replaces a negation, two softmaxes
//! and a concatenation, forward and backward, by one kernel each way
//! (`ptx/kernels/feature_map.cu`: `hedgehog_fwd_*`, `hedgehog_bwd_*`). [`hedgehog_composite`]
//! is the same function from primitive ops, the reference it is tested against.

use autograd::Var;
use nn::fused::{self, Compute, Fused, FusedGrad, Input};
use ptx::ops::operand::Operand;
use rayon::prelude::*;
use tensor::{HostIn, HostOut, Result};

/// `e^(x - max x) / sum e^(x - max x)` of `x = sign * z` into `out` (the exponentials by the
/// vectorized [`Compute::exp_in_place`], as the CPU's softmax).
fn softmax_into<T: Compute>(z: &[T], sign: T, out: &mut [T]) {
    let m = z.iter().fold(T::NEG_INFINITY, |m, &v| m.max(sign * v));
    for (o, &v) in out.iter_mut().zip(z) {
        *o = sign * v - m;
    }
    T::exp_in_place(out);
    let s: T = out.iter().copied().sum();
    out.iter_mut().for_each(|o| *o = *o / s);
}

/// `[softmax(z), softmax(-z)]` per row; forward `z [.., F] -> y [.., 2F]`, backward
/// `(z, g [.., 2F]) -> dz` (s1 and s2 recomputed from z).
struct HedgehogOp;

impl Fused for HedgehogOp {
    fn name(&self) -> &'static str {
        "hedgehog"
    }
    fn cpu<T: Compute>(&self, ins: &[HostIn], outs: &mut [HostOut]) -> Result<()> {
        let z = ins[0].values::<T>()?;
        let f = ins[0].dims().last().copied().unwrap_or(0).max(1);
        let mut y = vec![T::ZERO; 2 * z.len()];
        y.par_chunks_mut(2 * f).zip(z.par_chunks(f)).for_each(|(y, z)| {
            let (a, b) = y.split_at_mut(f);
            softmax_into(z, T::ONE, a);
            softmax_into(z, -T::ONE, b);
        });
        outs[0].write(&y)
    }
    fn gpu(&self, ins: &[Operand], outs: &[Operand]) -> Result<()> {
        ptx::ops::feature_map::forward(ins[0], outs[0])
    }
}

impl FusedGrad for HedgehogOp {
    fn cpu_backward<T: Compute>(
        &self,
        ins: &[HostIn],
        grads: &mut [Option<HostOut>],
    ) -> Result<()> {
        let Some(dz) = &mut grads[0] else { return Ok(()) };
        let (z, g) = (ins[0].values::<T>()?, ins[1].values::<T>()?);
        let f = ins[0].dims().last().copied().unwrap_or(0).max(1);
        let mut out = vec![T::ZERO; z.len()];
        // s1 and s2 in buffers each worker thread allocates once.
        out.par_chunks_mut(f).zip(z.par_chunks(f)).zip(g.par_chunks(2 * f)).for_each_init(
            || (vec![T::ZERO; f], vec![T::ZERO; f]),
            |(s1, s2), ((d, z), g)| {
                softmax_into(z, T::ONE, s1);
                softmax_into(z, -T::ONE, s2);
                let (g1, g2) = g.split_at(f);
                let d1: T = g1.iter().zip(s1.iter()).map(|(&a, &b)| a * b).sum();
                let d2: T = g2.iter().zip(s2.iter()).map(|(&a, &b)| a * b).sum();
                for j in 0..z.len() {
                    d[j] = s1[j] * (g1[j] - d1) - s2[j] * (g2[j] - d2);
                }
            },
        );
        dz.write(&out)
    }
    fn gpu_backward(&self, ins: &[Operand], grads: &[Option<Operand>]) -> Result<()> {
        match grads[0] {
            Some(dz) => ptx::ops::feature_map::backward(ins[0], ins[1], dz),
            None => Ok(()),
        }
    }
}

/// `[softmax(z), softmax(-z)]` along the last dim of `z [.., F]`: `[.., 2F]`, in the compute
/// dtype of `z`.
pub fn hedgehog(z: &Var) -> Result<Var> {
    let dims = ptx::ops::feature_map::output_dims(z.dims())?;
    let out = (tensor::Shape::from(dims), z.dtype().compute());
    Ok(fused::apply(HedgehogOp, &[Input::Var(z)], &[out], 1)?.remove(0))
}

/// The same function from primitive ops (the reference [`hedgehog`] is tested against).
pub fn hedgehog_composite(z: &Var) -> Result<Var> {
    let last = z.rank().max(1) - 1;
    Var::cat(&[&z.softmax(last)?, &z.neg()?.softmax(last)?], last)
}
