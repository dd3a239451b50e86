//! A vectorized f32 `exp` for softmax inner loops (the CPU attention body): `x - m` for a
//! row's running maximum `m`, then `exp`, in place, and the row's sum, 8 lanes at a time;
//! and the same `exp` alone over a slice ([`exp_in_place`], the decay factors of the chunked
//! GLA form, whose exponents are all <= 0).
//!
//! The method is the classic one (Cephes' `expf`): `x = n ln 2 + r` with `n` the nearest
//! integer to `x / ln 2` and `|r| <= ln 2 / 2`, `ln 2` split in two parts so `r` is exact to
//! about 2^-30; `e^r` by a degree-7 polynomial (Horner, every step one fused multiply-add);
//! `2^n` written straight into the exponent bits. Error within 2 ulp of the true value over
//! the normal range (tested against f64 below). Arguments below ln(f32::MIN_POSITIVE)
//! (-87.3365) give 0 (the true value is subnormal or 0: `-inf` gives exactly 0, as a causal
//! mask needs), above 88 give `inf` (true values up to 88.72 are finite: softmax never
//! asks, its arguments are `<= 0`), NaN gives NaN.
//!
//! [`exp_scalar`] is the naive reference beside the fast path, and more: it performs the very
//! same f32 operations (fused multiply-adds where the vector code fuses), so every element
//! is bit for bit the same on every SIMD level, and [`exp_sub_sum`] adds the row in 8 lanes
//! on every level too (the portable path keeps 8 partial sums), so a row's sum is also the
//! same on an AVX2 machine, an AVX-512 one and a machine with neither.

use super::simd::{selected, Simd};

const LOG2E: f32 = std::f32::consts::LOG2_E;
/// `ln 2 = LN2_HI + LN2_LO`, `LN2_HI` with few mantissa bits so `n * LN2_HI` is exact.
const LN2_HI: f32 = 0.693_359_375;
const LN2_LO: f32 = -2.121_944_4e-4;
/// `e^r ~ 1 + r + r^2 (P[5] + r (P[4] + ... + r P[0]))` on `|r| <= ln 2 / 2`.
const P: [f32; 6] =
    [1.987_569_1e-4, 1.398_199_9e-3, 8.333_452e-3, 4.166_579_6e-2, 1.666_666_5e-1, 5.000_000_1e-1];
/// Below: 0. `ln(f32::MIN_POSITIVE)`.
const LO: f32 = -87.336_55;
/// Above: `inf` (keeps `n <= 127`, so `2^n` is one exponent field).
const HI: f32 = 88.0;

/// `e^x` by the method above, one value.
pub fn exp_scalar(x: f32) -> f32 {
    if x.is_nan() {
        return x;
    }
    if x < LO {
        return 0.0;
    }
    if x > HI {
        return f32::INFINITY;
    }
    let n = x.mul_add(LOG2E, 0.5).floor();
    let r = (-n).mul_add(LN2_LO, (-n).mul_add(LN2_HI, x));
    let p = P[1..].iter().fold(P[0], |p, &c| p.mul_add(r, c));
    let y = p.mul_add(r * r, r) + 1.0;
    y * f32::from_bits(((n as i32 + 127) << 23) as u32)
}

/// `xs[i] = e^(xs[i] - m)` in place; returns their sum (8 partial sums, lane `i` taking
/// elements `i, i + 8, ...`, added pairwise at the end).
pub fn exp_sub_sum(xs: &mut [f32], m: f32) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if selected() != Simd::Portable {
        // SAFETY: a level above Portable is selected only where AVX2 and FMA are present.
        return unsafe { exp_sub_sum_avx2(xs, m) };
    }
    exp_sub_sum_portable(xs, m)
}

/// `xs[i] = e^(xs[i])` in place, each value bit for bit [`exp_scalar`]'s.
pub fn exp_in_place(xs: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if selected() != Simd::Portable {
        // SAFETY: a level above Portable is selected only where AVX2 and FMA are present.
        return unsafe { exp_in_place_avx2(xs) };
    }
    xs.iter_mut().for_each(|x| *x = exp_scalar(*x));
}

/// [`exp_in_place`] on 8-lane AVX2 vectors.
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn exp_in_place_avx2(xs: &mut [f32]) {
    use std::arch::x86_64::*;
    let full = xs.len() / 8 * 8;
    for c in (0..full).step_by(8) {
        let p = xs.as_mut_ptr().add(c);
        _mm256_storeu_ps(p, exp8(_mm256_loadu_ps(p)));
    }
    xs[full..].iter_mut().for_each(|x| *x = exp_scalar(*x));
}

/// [`exp_sub_sum`] with [`exp_scalar`] and 8 partial sums in an array.
pub fn exp_sub_sum_portable(xs: &mut [f32], m: f32) -> f32 {
    let mut lanes = [0f32; 8];
    for (i, x) in xs.iter_mut().enumerate() {
        *x = exp_scalar(*x - m);
        lanes[i % 8] += *x;
    }
    fold_lanes(lanes)
}

fn fold_lanes(l: [f32; 8]) -> f32 {
    ((l[0] + l[4]) + (l[1] + l[5])) + ((l[2] + l[6]) + (l[3] + l[7]))
}

/// [`exp_sub_sum`] on 8-lane AVX2 vectors.
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn exp_sub_sum_avx2(xs: &mut [f32], m: f32) -> f32 {
    use std::arch::x86_64::*;
    let full = xs.len() / 8 * 8;
    let mv = _mm256_set1_ps(m);
    let mut acc = _mm256_setzero_ps();
    for c in (0..full).step_by(8) {
        let p = xs.as_mut_ptr().add(c);
        let x = _mm256_sub_ps(_mm256_loadu_ps(p), mv);
        let e = exp8(x);
        _mm256_storeu_ps(p, e);
        acc = _mm256_add_ps(acc, e);
    }
    let mut lanes = [0f32; 8];
    _mm256_storeu_ps(lanes.as_mut_ptr(), acc);
    for (i, x) in xs[full..].iter_mut().enumerate() {
        *x = exp_scalar(*x - m);
        lanes[i] += *x;
    }
    fold_lanes(lanes)
}

/// [`exp_scalar`] on 8 lanes: the same operations in the same order.
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn exp8(x: std::arch::x86_64::__m256) -> std::arch::x86_64::__m256 {
    use std::arch::x86_64::*;
    let s = _mm256_set1_ps;
    let nan = _mm256_cmp_ps::<_CMP_UNORD_Q>(x, x);
    let under = _mm256_cmp_ps::<_CMP_LT_OQ>(x, s(LO));
    let over = _mm256_cmp_ps::<_CMP_GT_OQ>(x, s(HI));
    // In range for the arithmetic below; the lanes clamped here are replaced at the end.
    let xc = _mm256_min_ps(_mm256_max_ps(x, s(LO)), s(HI));
    let n = _mm256_floor_ps(_mm256_fmadd_ps(xc, s(LOG2E), s(0.5)));
    let r = _mm256_fnmadd_ps(n, s(LN2_LO), _mm256_fnmadd_ps(n, s(LN2_HI), xc));
    let mut p = s(P[0]);
    for &c in &P[1..] {
        p = _mm256_fmadd_ps(p, r, s(c));
    }
    let y = _mm256_add_ps(_mm256_fmadd_ps(p, _mm256_mul_ps(r, r), r), s(1.0));
    let scale = _mm256_castsi256_ps(_mm256_slli_epi32::<23>(_mm256_add_epi32(
        _mm256_cvttps_epi32(n),
        _mm256_set1_epi32(127),
    )));
    let e = _mm256_mul_ps(y, scale);
    let e = _mm256_blendv_ps(e, _mm256_setzero_ps(), under);
    let e = _mm256_blendv_ps(e, s(f32::INFINITY), over);
    _mm256_blendv_ps(e, x, nan)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ulps(got: f32, want: f64) -> f64 {
        (got as f64 - want).abs() / (want.abs() * f32::EPSILON as f64)
    }

    /// Within 2 ulp of f64's exp over the range softmax uses and beyond; the edges as
    /// documented.
    #[test]
    fn exp_scalar_is_within_two_ulp() {
        let mut worst = 0f64;
        let mut x = LO + 1e-3;
        while x < HI {
            worst = worst.max(ulps(exp_scalar(x), (x as f64).exp()));
            x += 0.0137;
        }
        for x in [0.0f32, -0.0, 1e-30, -1e-30, 0.5, -0.5, 1.0, -1.0, -80.0, 80.0] {
            worst = worst.max(ulps(exp_scalar(x), (x as f64).exp()));
        }
        assert!(worst <= 2.0, "worst error {worst} ulp");
        assert_eq!(exp_scalar(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp_scalar(-100.0), 0.0);
        assert_eq!(exp_scalar(f32::INFINITY), f32::INFINITY);
        assert!(exp_scalar(f32::NAN).is_nan());
        assert_eq!(exp_scalar(0.0), 1.0);
    }

    /// Every SIMD path gives the portable path's values and sum bit for bit, tails included.
    #[test]
    fn every_path_equals_the_portable_one() {
        let mut rng = crate::Rng::new(5);
        for len in [0usize, 1, 7, 8, 9, 63, 256, 1000] {
            let mut v: Vec<f32> = (0..len).map(|_| (rng.uniform() as f32 - 0.8) * 120.0).collect();
            if len > 3 {
                v[1] = f32::NEG_INFINITY;
                v[2] = f32::NAN;
            }
            let m = 3.5;
            let (mut a, mut b) = (v.clone(), v.clone());
            let sa = exp_sub_sum_portable(&mut a, m);
            let sb = exp_sub_sum(&mut b, m);
            assert_eq!(
                a.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
                b.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
                "len {len}"
            );
            assert_eq!(sa.to_bits(), sb.to_bits(), "len {len}");
            for (x, e) in v.iter().zip(&a) {
                assert_eq!(e.to_bits(), exp_scalar(x - m).to_bits());
            }
            let mut c = v.clone();
            exp_in_place(&mut c);
            for (x, e) in v.iter().zip(&c) {
                assert_eq!(e.to_bits(), exp_scalar(*x).to_bits(), "exp_in_place, len {len}");
            }
        }
    }
}
