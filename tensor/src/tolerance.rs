//! The one place tolerances live. Every comparison of computed values against a reference
//! (tests, the `lawcat audit` command) goes through [`compare`] and a [`Tol`], so a
//! threshold is chosen once, knows its dtype, and says where it comes from.
//!
//! Accepted when, element by element, `|got - want| <= atol + rtol * |want|`, and over the
//! whole tensor `||got - want|| <= rms * ||want|| + atol * sqrt(len)` (the RMS error, with
//! the same absolute slack for results near zero).

use crate::{DType, Result, Tensor};

/// Unit roundoff (half an ulp at 1) of each storage type: the error of one rounding.
pub fn unit_roundoff(dtype: DType) -> f64 {
    match dtype {
        DType::F64 => f64::EPSILON / 2.0,
        DType::F32 => f32::EPSILON as f64 / 2.0,
        DType::BF16 => 2f64.powi(-8),
        DType::F16 => 2f64.powi(-11),
        DType::I64 | DType::U8 => 0.0,
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tol {
    pub atol: f64,
    pub rtol: f64,
    pub rms: f64,
}

impl Tol {
    pub const EXACT: Tol = Tol { atol: 0.0, rtol: 0.0, rms: 0.0 };

    /// One element-wise op against an f64 reference: the input was rounded to the dtype
    /// once and the result rounded once more, and libm functions are within an ulp or two,
    /// so 8 roundoffs leaves room without hiding a wrong formula.
    pub fn elementwise(dtype: DType) -> Tol {
        let u = unit_roundoff(dtype);
        Tol { atol: 8.0 * u, rtol: 8.0 * u, rms: 8.0 * u }
    }

    /// A value summed from `n` terms of size about `scale` (reductions, matmul, softmax):
    /// the worst-case rounding error of a sum grows like `n * u * sum|terms|` (Higham,
    /// "Accuracy and Stability of Numerical Algorithms", 2.2); blocked sums stay far
    /// below it, so `2 * n * u * scale` is strict enough to catch a wrong term.
    pub fn accumulated(dtype: DType, n: usize, scale: f64) -> Tol {
        let u = unit_roundoff(dtype);
        let n = n.max(1) as f64;
        Tol {
            atol: 2.0 * n * u * scale + 8.0 * u,
            rtol: 8.0 * u,
            rms: 2.0 * n.sqrt() * u + 8.0 * u,
        }
    }

    /// Relative error bound for comparing a whole model or op against an outside reference
    /// computed in f32 by other code (the fixtures): different summation orders alone move
    /// results by ~1e-6 relative, so the bounds the issues set (1e-4 for values, 1e-3 for
    /// gradients) are `rel` here.
    pub fn relative(rel: f64) -> Tol {
        Tol { atol: 0.0, rtol: 0.0, rms: rel }
    }
}

/// How far `got` is from `want`.
#[derive(Clone, Debug)]
pub struct Comparison {
    pub max_abs: f64,
    /// Largest difference over the largest reference magnitude.
    pub max_rel: f64,
    /// `||got - want|| / ||want||`.
    pub rel_rms: f64,
    /// Index (flat) of the element most over its bound, with its values.
    pub worst: Option<(usize, f64, f64)>,
    pub pass: bool,
    pub len: usize,
}

impl std::fmt::Display for Comparison {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "max abs {:.3e}, max rel {:.3e}, rel rms {:.3e}",
            self.max_abs, self.max_rel, self.rel_rms
        )?;
        if let Some((i, want, got)) = self.worst {
            write!(f, "; worst at index {i}: expected {want:.8e}, got {got:.8e}")?;
        }
        Ok(())
    }
}

/// Compares two equally long value lists under `tol`. A `Tol::relative` check passes on
/// `max_rel` and `rel_rms`; others need every element within `atol + rtol * |want|` too.
pub fn compare(got: &[f64], want: &[f64], tol: Tol) -> Comparison {
    let len = got.len();
    if got.len() != want.len() {
        return Comparison {
            max_abs: f64::INFINITY,
            max_rel: f64::INFINITY,
            rel_rms: f64::INFINITY,
            worst: None,
            pass: false,
            len,
        };
    }
    let mut max_abs = 0f64;
    let mut max_ref = 0f64;
    let (mut num, mut den) = (0f64, 0f64);
    let mut worst: Option<(usize, f64, f64)> = None;
    let mut worst_excess = f64::NEG_INFINITY;
    let mut all_within = true;
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let d = if g == w { 0.0 } else { (g - w).abs() };
        let d = if d.is_nan() { f64::INFINITY } else { d };
        max_abs = max_abs.max(d);
        max_ref = max_ref.max(w.abs());
        num += d * d;
        if w.is_finite() {
            // An infinite value matched exactly adds nothing to the error, nor to the scale.
            den += w * w;
        }
        let bound = tol.atol + tol.rtol * w.abs();
        let excess = d - bound;
        if excess > worst_excess {
            worst_excess = excess;
            worst = Some((i, w, g));
        }
        if d > bound {
            all_within = false;
        }
    }
    let rel_rms = if den > 0.0 {
        (num / den).sqrt()
    } else if num > 0.0 {
        f64::INFINITY
    } else {
        0.0
    };
    let max_rel = if max_ref > 0.0 {
        max_abs / max_ref
    } else if max_abs > 0.0 {
        f64::INFINITY
    } else {
        0.0
    };
    let relative_only = tol.atol == 0.0 && tol.rtol == 0.0 && tol.rms > 0.0;
    let rms_ok = num == 0.0
        || num.sqrt() <= tol.rms.max(tol.rtol) * den.sqrt() + tol.atol * (len as f64).sqrt();
    let pass =
        if relative_only { max_rel <= tol.rms && rel_rms <= tol.rms } else { all_within && rms_ok };
    Comparison { max_abs, max_rel, rel_rms, worst, pass, len }
}

/// Compares two tensors of one shape.
pub fn compare_tensors(got: &Tensor, want: &Tensor, tol: Tol) -> Result<Comparison> {
    got.expect_shape("compared tensor", want.dims())?;
    Ok(compare(&got.to_vec_f64()?, &want.to_vec_f64()?, tol))
}

/// Panics with the comparison (index, expected, got, max diff) when `got` is not close to
/// `want`. For tests.
#[track_caller]
pub fn assert_close(what: &str, got: &[f64], want: &[f64], tol: Tol) {
    assert_eq!(got.len(), want.len(), "{what}: lengths differ");
    let c = compare(got, want, tol);
    assert!(c.pass, "{what}: not close under {tol:?}: {c}");
}

#[track_caller]
pub fn assert_tensors_close(what: &str, got: &Tensor, want: &Tensor, tol: Tol) {
    assert_eq!(got.dims(), want.dims(), "{what}: shapes differ");
    assert_close(what, &got.to_vec_f64().unwrap(), &want.to_vec_f64().unwrap(), tol);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Infinities matched exactly (an f16 arange or cumsum past 65504) pass an exact check;
    /// a mismatched infinity, or NaN against a number, fails any check.
    #[test]
    fn exact_checks_with_infinities() {
        let inf = f64::INFINITY;
        assert!(compare(&[inf, 1.0, -inf], &[inf, 1.0, -inf], Tol::EXACT).pass);
        assert!(!compare(&[inf, 1.0], &[-inf, 1.0], Tol::EXACT).pass);
        assert!(!compare(&[f64::NAN, 1.0], &[2.0, 1.0], Tol::relative(1e-3)).pass);
        assert!(!compare(&[1.0, 2.0], &[1.0, 2.5], Tol::EXACT).pass);
        assert!(compare(&[inf, 1.0 + 1e-9], &[inf, 1.0], Tol::elementwise(DType::F32)).pass);
    }
}
