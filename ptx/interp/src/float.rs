//! Floating-point rounding, written once for every format and mode.
//!
//! PTX lets each instruction choose its rounding (ISA 9.7.3: `.rn` to nearest even, `.rz`
//! toward zero, `.rm` toward minus infinity, `.rp` toward plus infinity), flush subnormals
//! (`.ftz`), clamp (`.sat`) or saturate to the largest finite value (`.satfinite`). The host
//! has only round-to-nearest, so results are computed *exactly* as a pair `hi + lo` (`hi` an
//! f64, `lo` the part `hi` could not hold, from the error-free transformations below) and
//! [`round_to`] rounds that exact value to the target format with integer arithmetic.
//!
//! NaN results are NVIDIA's canonical NaN (all bits but the sign set: `0x7fffffff` for f32,
//! `0x7fff` for f16 and bf16, `0x7fffffffffffffff` for f64).

use super::types::Rnd;

/// A binary floating-point format narrower than f64.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fmt {
    pub exp_bits: u32,
    pub mant_bits: u32,
}

pub const F32: Fmt = Fmt { exp_bits: 8, mant_bits: 23 };
pub const F16: Fmt = Fmt { exp_bits: 5, mant_bits: 10 };
pub const BF16: Fmt = Fmt { exp_bits: 8, mant_bits: 7 };

impl Fmt {
    fn bias(self) -> i32 {
        (1 << (self.exp_bits - 1)) - 1
    }
    pub fn canonical_nan(self) -> u64 {
        (1u64 << (self.exp_bits + self.mant_bits)) - 1
    }
    fn inf(self) -> u64 {
        ((1u64 << self.exp_bits) - 1) << self.mant_bits
    }
    fn max_finite(self) -> u64 {
        self.inf() - 1
    }
    fn sign_bit(self) -> u64 {
        1u64 << (self.exp_bits + self.mant_bits)
    }

    /// The exact value of `bits` in this format, as f64.
    pub fn to_f64(self, bits: u64) -> f64 {
        let m = self.mant_bits;
        let sign = if bits & self.sign_bit() != 0 { -1.0 } else { 1.0 };
        let e = ((bits >> m) & ((1 << self.exp_bits) - 1)) as i32;
        let f = (bits & ((1 << m) - 1)) as f64;
        let v = if e == 0 {
            f * 2f64.powi(1 - self.bias() - m as i32)
        } else if e == (1 << self.exp_bits) - 1 {
            if f == 0.0 {
                f64::INFINITY
            } else {
                f64::NAN
            }
        } else {
            (1.0 + f / (1u64 << m) as f64) * 2f64.powi(e - self.bias())
        };
        sign * v
    }

    /// Is `bits` a subnormal (nonzero, zero exponent field)?
    pub fn is_subnormal(self, bits: u64) -> bool {
        (bits >> self.mant_bits) & ((1 << self.exp_bits) - 1) == 0
            && bits & ((1 << self.mant_bits) - 1) != 0
    }
}

/// How to finish a rounded result.
#[derive(Clone, Copy, Debug, Default)]
pub struct Finish {
    /// Flush subnormal results to sign-preserving zero.
    pub ftz: bool,
    /// Overflow gives the largest finite value instead of infinity.
    pub satfinite: bool,
}

/// Rounds the exact value `hi + lo` (`|lo|` below half an f64 ulp of `hi`, or zero) to
/// `fmt` in `mode`, returning its bits.
pub fn round_to(fmt: Fmt, hi: f64, lo: f64, mode: Rnd, fin: Finish) -> u64 {
    let neg = hi.is_sign_negative();
    let sbit = if neg { fmt.sign_bit() } else { 0 };
    if hi.is_nan() {
        return fmt.canonical_nan();
    }
    if hi.is_infinite() {
        return sbit | if fin.satfinite { fmt.max_finite() } else { fmt.inf() };
    }
    if hi == 0.0 {
        return sbit;
    }
    let b = hi.abs().to_bits();
    let ex = (b >> 52) as i32;
    let frac = b & ((1u64 << 52) - 1);
    let (mant, e2) = if ex == 0 { (frac, -1074) } else { (frac | 1 << 52, ex - 1075) };
    // Two guard bits carry the sign of `lo`: x * 2^e is on the same side of every rounding
    // boundary of `fmt` as the exact value (those boundaries are multiples of 2^e2).
    let lo_rel: i64 = if lo == 0.0 || lo.is_nan() {
        0
    } else if (lo > 0.0) != neg {
        1
    } else {
        -1
    };
    let x = ((mant << 2) as i64 + lo_rel) as u64;
    let e = e2 - 2;
    let m = fmt.mant_bits as i32;
    let emin = 1 - fmt.bias();
    let lg = 63 - x.leading_zeros() as i32 + e;
    let mut q = lg.max(emin) - m;
    let shift = q - e;
    let (mut r, rem, half) = if shift >= 64 {
        (0u64, x, u64::MAX)
    } else if shift <= 0 {
        (x << (-shift) as u32, 0, 1)
    } else {
        (x >> shift, x & ((1u64 << shift) - 1), 1u64 << (shift - 1))
    };
    let inexact = rem != 0;
    let up = match mode {
        Rnd::Rn => rem > half || (rem == half && r & 1 == 1),
        Rnd::Rz => false,
        Rnd::Rp => inexact && !neg,
        Rnd::Rm => inexact && neg,
    };
    if up {
        r += 1;
        if r == 2u64 << m {
            r >>= 1;
            q += 1;
        }
    }
    if q + m > fmt.bias() {
        let to_inf = !fin.satfinite
            && match mode {
                Rnd::Rn => true,
                Rnd::Rz => false,
                Rnd::Rp => !neg,
                Rnd::Rm => neg,
            };
        return sbit | if to_inf { fmt.inf() } else { fmt.max_finite() };
    }
    if r < 1u64 << m {
        // Subnormal (or zero).
        if fin.ftz {
            return sbit;
        }
        return sbit | r;
    }
    let exp_field = (q + m + fmt.bias()) as u64;
    sbit | (exp_field << m) | (r - (1u64 << m))
}

/// Rounds `hi + lo` to f64 in `mode`, where `hi` is the round-to-nearest result and `lo` the
/// exact rest (or only its sign). `overflowed`: `hi` is infinite from finite operands.
pub fn round_f64(hi: f64, lo: f64, mode: Rnd, overflowed: bool) -> f64 {
    if hi.is_nan() {
        return f64::from_bits(0x7fff_ffff_ffff_ffff);
    }
    if overflowed {
        let neg = hi < 0.0;
        let to_inf = match mode {
            Rnd::Rn => true,
            Rnd::Rz => false,
            Rnd::Rp => !neg,
            Rnd::Rm => neg,
        };
        return if to_inf { hi } else { f64::MAX.copysign(hi) };
    }
    if lo == 0.0 || lo.is_nan() {
        return hi;
    }
    match mode {
        Rnd::Rn => hi,
        Rnd::Rz if (lo < 0.0) != (hi < 0.0) => next_toward_zero(hi),
        Rnd::Rz => hi,
        Rnd::Rm if lo < 0.0 => next_down(hi),
        Rnd::Rp if lo > 0.0 => next_up(hi),
        Rnd::Rm | Rnd::Rp => hi,
    }
}

pub fn next_up(x: f64) -> f64 {
    if x.is_nan() || x == f64::INFINITY {
        return x;
    }
    if x == 0.0 {
        return f64::from_bits(1);
    }
    let b = x.to_bits();
    f64::from_bits(if x > 0.0 { b + 1 } else { b - 1 })
}

pub fn next_down(x: f64) -> f64 {
    -next_up(-x)
}

fn next_toward_zero(x: f64) -> f64 {
    if x > 0.0 {
        next_down(x)
    } else {
        next_up(x)
    }
}

/// `a + b = s + e` exactly (Knuth's TwoSum; no overflow assumed).
pub fn two_sum(a: f64, b: f64) -> (f64, f64) {
    let s = a + b;
    if !s.is_finite() {
        return (s, 0.0);
    }
    let bb = s - a;
    let e = (a - (s - bb)) + (b - bb);
    (s, e)
}

/// `a * b = p + e` exactly (by a fused multiply-add).
pub fn two_prod(a: f64, b: f64) -> (f64, f64) {
    let p = a * b;
    if !p.is_finite() {
        return (p, 0.0);
    }
    (p, a.mul_add(b, -p))
}

/// Flushes a subnormal f32 to sign-preserving zero (`.ftz` on an input).
pub fn ftz32(x: f32) -> f32 {
    if x.is_subnormal() {
        0.0f32.copysign(x)
    } else {
        x
    }
}

pub fn ftz64(x: f64) -> f64 {
    if x.is_subnormal() {
        0.0f64.copysign(x)
    } else {
        x
    }
}

/// `.sat`: clamps to [0, 1], NaN to 0 (ISA 9.7.3 "Floating-Point Instructions").
pub fn sat(x: f64) -> f64 {
    if x.is_nan() {
        0.0
    } else {
        x.clamp(0.0, 1.0)
    }
}

pub fn canon32(x: f32) -> u64 {
    if x.is_nan() {
        0x7fff_ffff
    } else {
        x.to_bits() as u64
    }
}

pub fn canon64(x: f64) -> u64 {
    if x.is_nan() {
        0x7fff_ffff_ffff_ffff
    } else {
        x.to_bits()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    const FIN: Finish = Finish { ftz: false, satfinite: false };

    #[test]
    fn round_to_nearest_matches_the_host_for_f32() {
        let xs = [
            1.0f64,
            1.0 + 2f64.powi(-24),
            1.0 + 3.0 * 2f64.powi(-24),
            -2.5e-45,
            1e-40,
            3.4028235677973366e38,
            3.5e38,
            f64::MIN_POSITIVE,
            0.1,
            -0.3,
        ];
        for x in xs {
            assert_eq!(round_to(F32, x, 0.0, Rnd::Rn, FIN), (x as f32).to_bits() as u64, "{x}");
        }
    }

    #[test]
    fn directed_modes_and_the_rest_term() {
        let one_plus = 1.0 + 2f64.powi(-30);
        assert_eq!(round_to(F32, one_plus, 0.0, Rnd::Rz, FIN), 1.0f32.to_bits() as u64);
        assert_eq!(
            round_to(F32, one_plus, 0.0, Rnd::Rp, FIN),
            (1.0f32 + f32::EPSILON).to_bits() as u64
        );
        assert_eq!(
            round_to(F32, -one_plus, 0.0, Rnd::Rm, FIN),
            (-1.0f32 - f32::EPSILON).to_bits() as u64
        );
        // Exactly 1.0 plus a tiny positive rest rounds up under .rp, down under .rz.
        assert_eq!(
            round_to(F32, 1.0, 1e-300, Rnd::Rp, FIN),
            (1.0f32 + f32::EPSILON).to_bits() as u64
        );
        assert_eq!(
            round_to(F32, 1.0, -1e-300, Rnd::Rz, FIN),
            (1.0f32 - f32::EPSILON / 2.0).to_bits() as u64
        );
        // A tie broken by the rest.
        let tie = 1.0 + 2f64.powi(-24);
        assert_eq!(round_to(F32, tie, 0.0, Rnd::Rn, FIN), 1.0f32.to_bits() as u64);
        assert_eq!(
            round_to(F32, tie, 1e-300, Rnd::Rn, FIN),
            (1.0f32 + f32::EPSILON).to_bits() as u64
        );
        // Overflow.
        assert_eq!(round_to(F32, 1e39, 0.0, Rnd::Rz, FIN), f32::MAX.to_bits() as u64);
        assert_eq!(round_to(F32, 1e39, 0.0, Rnd::Rn, FIN), f32::INFINITY.to_bits() as u64);
        assert_eq!(round_to(F32, -1e39, 0.0, Rnd::Rp, FIN), f32::MIN.to_bits() as u64);
        assert_eq!(
            round_to(F32, 1e39, 0.0, Rnd::Rn, Finish { ftz: false, satfinite: true }),
            f32::MAX.to_bits() as u64
        );
        // bf16: round to nearest even, NaN canonical.
        assert_eq!(round_to(BF16, 1.0 + 2f64.powi(-8), 0.0, Rnd::Rn, FIN), 0x3f80);
        assert_eq!(round_to(BF16, 1.0 + 3.0 * 2f64.powi(-8), 0.0, Rnd::Rn, FIN), 0x3f82);
        assert_eq!(round_to(BF16, f64::NAN, 0.0, Rnd::Rn, FIN), 0x7fff);
        assert_eq!(BF16.to_f64(0x3f82), 1.015625);
        assert_eq!(F16.to_f64(0x0001), 2f64.powi(-24));
    }
}
