//! The compute types of the CPU bodies of fused ops: f32 (for f32, bf16 and f16 operands) and
//! f64 (for f64 ones). A body written once over `T: Compute` runs in either; one dispatcher
//! (`nn::fused`) picks `T` from the operands' dtype.

use super::gemm::GemmScalar;
use crate::{FloatElem, Real};

/// A compute type whose storage type is itself (f32 or f64), with a GEMM and a slice exp.
pub trait Compute: FloatElem<C = Self> + Real + GemmScalar {
    /// `xs[i] = e^(xs[i])`: for f32 the vectorized [`super::vexp`] (within 2 ulp), for f64 the
    /// library's `exp`.
    fn exp_in_place(xs: &mut [Self]);
}

impl Compute for f32 {
    fn exp_in_place(xs: &mut [f32]) {
        super::vexp::exp_in_place(xs)
    }
}

impl Compute for f64 {
    fn exp_in_place(xs: &mut [f64]) {
        xs.iter_mut().for_each(|x| *x = x.exp())
    }
}
