//! Floating-point arithmetic (PTX ISA, "Floating-Point Instructions": `add sub mul fma mad
//! div neg abs min max rcp sqrt rsqrt sin cos lg2 ex2 tanh copysign`; "Half Precision
//! Floating-Point Instructions": the same on `.f16 .f16x2 .bf16 .bf16x2`).
//!
//! Every result is the exact result rounded once in the instruction's mode (see
//! [`crate::float`]): `fma`/`mad` are fused (one rounding of a*b+c), `add`/`mul`/
//! `div`/`sqrt`/`rcp` are IEEE 754 correctly rounded in `.rn .rz .rm .rp`. `.ftz` flushes
//! subnormal inputs and results to sign-preserving zero; `.sat` clamps results to [0, 1]
//! (NaN to 0). Packed `x2` types compute each 16-bit half on its own.
//!
//! The `.approx` and `.full` forms are documented by the ISA only to an error bound (about 1
//! to 2 ulp for `rcp/sqrt/div.approx/full.f32`, relative 2^-22.9 for `rsqrt.approx.f32`,
//! 2^-22.5 for `ex2.approx.f32`, absolute 2^-22.6 for `lg2.approx.f32`, absolute 2^-20.9 in
//! [-pi, pi] for `sin/cos.approx.f32`, relative 2^-11 for `tanh.approx.f32`). This
//! interpreter computes them more exactly: the f64 library function rounded to nearest in
//! the result type, so a kernel that passes here may still differ from the GPU within those
//! bounds (compare with a tolerance, never bit for bit).
//!
//! `min`/`max`: a NaN operand is ignored (both NaN: canonical NaN; `.NaN`: any NaN gives
//! NaN); -0 is less than +0.

use super::super::ctx::Ctx;
use super::super::exec::Flow;
use super::super::float::{self as fl, round_f64, round_to, two_prod, two_sum, Finish, Fmt};
use super::super::inst::{use_src, Op, Reg, Src};
use super::super::operands::{Mods, Operands};
use super::super::types::{Rnd, Ty};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bin {
    Add,
    Sub,
    Mul,
    Div,
    Min,
    Max,
    Copysign,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Un {
    Neg,
    Abs,
    Rcp,
    Sqrt,
    Rsqrt,
    Ex2,
    Lg2,
    Sin,
    Cos,
    Tanh,
}

/// Rounding and the other result modifiers of one instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mode {
    pub rnd: Rnd,
    pub ftz: bool,
    pub sat: bool,
    /// `min/max.NaN`: NaN operands propagate.
    pub nan: bool,
}

#[derive(Clone, Debug)]
pub enum FloatOp {
    Bin {
        op: Bin,
        ty: Ty,
        m: Mode,
        dst: Reg,
        a: Src,
        b: Src,
    },
    /// `fma.rnd` / `mad.rnd`: a*b+c rounded once.
    Fma {
        ty: Ty,
        m: Mode,
        dst: Reg,
        a: Src,
        b: Src,
        c: Src,
    },
    Un {
        op: Un,
        ty: Ty,
        m: Mode,
        dst: Reg,
        a: Src,
    },
}

pub const OPCODES: &[&str] = &[
    "add", "sub", "mul", "fma", "mad", "div", "min", "max", "neg", "abs", "rcp", "sqrt", "rsqrt",
    "ex2", "lg2", "sin", "cos", "tanh", "copysign",
];

pub fn parse(m: &mut Mods, o: &mut Operands) -> Result<Op, String> {
    let base = m.base;
    let rnd = m.find(|s| match Rnd::parse(s) {
        Some((r, false)) => Some(r),
        _ => None,
    });
    let approx = m.one_of(&["approx", "full"]).is_some();
    let ftz = m.has("ftz");
    let sat = m.has("sat") || m.has("satfinite");
    let nan = m.has("NaN");
    m.has("noftz");
    let ty = m.ty()?;
    if !ty.is_float() {
        return Err(format!("{base}.{} is not a float instruction", ty.name()));
    }
    let mm = Mode { rnd: rnd.unwrap_or(Rnd::Rn), ftz, sat, nan };
    let scalar_only = |what: &str| -> Result<(), String> {
        if matches!(ty, Ty::F32 | Ty::F64) {
            Ok(())
        } else {
            Err(format!("{what}.{} is not supported (only .f32 and .f64)", ty.name()))
        }
    };
    let op = match base {
        "add" | "sub" | "mul" | "div" | "min" | "max" | "copysign" => {
            let op = match base {
                "add" => Bin::Add,
                "sub" => Bin::Sub,
                "mul" => Bin::Mul,
                "div" => Bin::Div,
                "min" => Bin::Min,
                "max" => Bin::Max,
                _ => Bin::Copysign,
            };
            if matches!(op, Bin::Div | Bin::Copysign) {
                scalar_only(base)?;
            }
            if approx && op != Bin::Div {
                return Err(format!("{base}.approx is not defined"));
            }
            let dst = o.dst()?;
            o.comma()?;
            let a = o.src(ty)?;
            o.comma()?;
            FloatOp::Bin { op, ty, m: mm, dst, a, b: o.src(ty)? }
        }
        "fma" | "mad" => {
            let dst = o.dst()?;
            o.comma()?;
            let a = o.src(ty)?;
            o.comma()?;
            let b = o.src(ty)?;
            o.comma()?;
            FloatOp::Fma { ty, m: mm, dst, a, b, c: o.src(ty)? }
        }
        _ => {
            let op = match base {
                "neg" => Un::Neg,
                "abs" => Un::Abs,
                "rcp" => Un::Rcp,
                "sqrt" => Un::Sqrt,
                "rsqrt" => Un::Rsqrt,
                "ex2" => Un::Ex2,
                "lg2" => Un::Lg2,
                "sin" => Un::Sin,
                "cos" => Un::Cos,
                "tanh" => Un::Tanh,
                other => return Err(format!("{other} is not a float instruction")),
            };
            match op {
                Un::Neg | Un::Abs | Un::Tanh | Un::Ex2 => {}
                Un::Rcp | Un::Sqrt | Un::Rsqrt | Un::Lg2 | Un::Sin | Un::Cos => scalar_only(base)?,
            }
            let dst = o.dst()?;
            o.comma()?;
            FloatOp::Un { op, ty, m: mm, dst, a: o.src(ty)? }
        }
    };
    Ok(Op::Float(op))
}

impl FloatOp {
    pub fn visit_regs(&self, f: &mut dyn FnMut(Reg, bool)) {
        match self {
            FloatOp::Bin { dst, a, b, .. } => {
                use_src(a, f);
                use_src(b, f);
                f(*dst, true);
            }
            FloatOp::Fma { dst, a, b, c, .. } => {
                use_src(a, f);
                use_src(b, f);
                use_src(c, f);
                f(*dst, true);
            }
            FloatOp::Un { dst, a, .. } => {
                use_src(a, f);
                f(*dst, true);
            }
        }
    }
}

/// The scalar format of a float type, and how many lanes it packs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    F64,
    Narrow(Fmt),
}

pub fn kind(ty: Ty) -> (Kind, u32) {
    match ty {
        Ty::F64 => (Kind::F64, 1),
        Ty::F32 => (Kind::Narrow(fl::F32), 1),
        Ty::F16 => (Kind::Narrow(fl::F16), 1),
        Ty::BF16 => (Kind::Narrow(fl::BF16), 1),
        Ty::F16x2 => (Kind::Narrow(fl::F16), 2),
        Ty::BF16x2 => (Kind::Narrow(fl::BF16), 2),
        _ => (Kind::F64, 1),
    }
}

/// Decodes bits of one lane to its exact value (`.ftz` flushing subnormal inputs).
pub fn decode(k: Kind, bits: u64, ftz: bool) -> f64 {
    match k {
        Kind::F64 => {
            let v = f64::from_bits(bits);
            if ftz {
                fl::ftz64(v)
            } else {
                v
            }
        }
        Kind::Narrow(f) if f == fl::F32 => {
            let v = f32::from_bits(bits as u32);
            (if ftz { fl::ftz32(v) } else { v }) as f64
        }
        Kind::Narrow(f) => {
            let v = f.to_f64(bits);
            if ftz && f.is_subnormal(bits) {
                0.0f64.copysign(v)
            } else {
                v
            }
        }
    }
}

/// Rounds the exact `hi + lo` to one lane of `k` and applies `.sat`.
fn encode(k: Kind, hi: f64, lo: f64, m: Mode, overflowed: bool) -> u64 {
    let hi = if m.sat { fl::sat(hi) } else { hi };
    let lo = if m.sat && (hi == 0.0 || hi == 1.0) { 0.0 } else { lo };
    match k {
        Kind::F64 => {
            let v = round_f64(hi, lo, m.rnd, overflowed && !m.sat);
            fl::canon64(if m.ftz { fl::ftz64(v) } else { v })
        }
        Kind::Narrow(f) => round_to(f, hi, lo, m.rnd, Finish { ftz: m.ftz, satfinite: false }),
    }
}

/// The sign of an exact zero sum (IEEE 754 6.3): x + x keeps x's sign; otherwise +0, or -0
/// when rounding toward minus infinity.
fn zero_sum_sign(s: f64, x: f64, y: f64, rnd: Rnd) -> f64 {
    if s != 0.0 || (x == 0.0 && y == 0.0 && x.is_sign_negative() == y.is_sign_negative()) {
        s
    } else if rnd == Rnd::Rm {
        -0.0
    } else {
        0.0
    }
}

/// One binary operation on one lane.
pub fn bin_lane(op: Bin, k: Kind, m: Mode, a: u64, b: u64) -> u64 {
    let (x, y) = (decode(k, a, m.ftz), decode(k, b, m.ftz));
    let finite = x.is_finite() && y.is_finite();
    let (hi, lo) = match op {
        Bin::Add | Bin::Sub => {
            let y = if op == Bin::Sub { -y } else { y };
            let (s, e) = two_sum(x, y);
            (zero_sum_sign(s, x, y, m.rnd), e)
        }
        Bin::Mul => two_prod(x, y),
        Bin::Div => {
            let q = x / y;
            let r = (-q).mul_add(y, x);
            (q, if q.is_finite() && q != 0.0 { r / y } else { 0.0 })
        }
        Bin::Min | Bin::Max => {
            let v = if x.is_nan() && y.is_nan() || (m.nan && (x.is_nan() || y.is_nan())) {
                f64::NAN
            } else if x.is_nan() {
                y
            } else if y.is_nan() {
                x
            } else if x == y {
                // Equal values, or zeros of either sign: -0 < +0.
                let neg = if op == Bin::Min {
                    x.is_sign_negative() || y.is_sign_negative()
                } else {
                    x.is_sign_negative() && y.is_sign_negative()
                };
                x.abs().copysign(if neg { -1.0 } else { 1.0 })
            } else if (op == Bin::Min) == (x < y) {
                x
            } else {
                y
            };
            (v, 0.0)
        }
        Bin::Copysign => (y.abs().copysign(x), 0.0),
    };
    encode(k, hi, lo, m, finite && hi.is_infinite())
}

pub fn fma_lane(k: Kind, m: Mode, a: u64, b: u64, c: u64) -> u64 {
    let (x, y, z) = (decode(k, a, m.ftz), decode(k, b, m.ftz), decode(k, c, m.ftz));
    let finite = x.is_finite() && y.is_finite() && z.is_finite();
    let (p, pe) = two_prod(x, y);
    let (s, e) = two_sum(p, z);
    let (hi, lo) = match k {
        // a*b is exact in f64 for every narrower format, so s + e is the exact result.
        Kind::Narrow(_) => (zero_sum_sign(s, p, z, m.rnd), e),
        Kind::F64 => {
            let r = x.mul_add(y, z);
            // The rest's sign (exact unless it cancels to below an ulp of the rest).
            (zero_sum_sign(r, p, z, m.rnd), ((s - r) + e) + pe)
        }
    };
    encode(k, hi, lo, m, finite && hi.is_infinite())
}

pub fn un_lane(op: Un, k: Kind, m: Mode, a: u64) -> u64 {
    let width = match k {
        Kind::F64 => 64,
        Kind::Narrow(f) => f.exp_bits + f.mant_bits + 1,
    };
    let sign = 1u64 << (width - 1);
    if matches!(op, Un::Neg | Un::Abs) {
        let a = if m.ftz && decode(k, a, true) == 0.0 { a & sign } else { a };
        return if op == Un::Neg { a ^ sign } else { a & !sign };
    }
    let x = decode(k, a, m.ftz);
    let (hi, lo) = match op {
        Un::Rcp => {
            let q = 1.0 / x;
            let r = (-q).mul_add(x, 1.0);
            (q, if q.is_finite() && q != 0.0 { r / x } else { 0.0 })
        }
        Un::Sqrt => {
            let s = x.sqrt();
            (s, if s.is_finite() && s != 0.0 { (-s).mul_add(s, x) } else { 0.0 })
        }
        Un::Rsqrt => (1.0 / x.sqrt(), 0.0),
        Un::Ex2 => (x.exp2(), 0.0),
        Un::Lg2 => (x.log2(), 0.0),
        Un::Sin => (x.sin(), 0.0),
        Un::Cos => (x.cos(), 0.0),
        Un::Tanh => (x.tanh(), 0.0),
        Un::Neg | Un::Abs => unreachable!("handled above"),
    };
    encode(k, hi, lo, m, false)
}

/// Applies a lane function to each lane of a (possibly packed) value.
fn lanes(ty: Ty, f: impl Fn(Kind, u64, u64, u64) -> u64, a: u64, b: u64, c: u64) -> u64 {
    let (k, n) = kind(ty);
    if n == 1 {
        return f(k, a, b, c);
    }
    let lo = f(k, a & 0xffff, b & 0xffff, c & 0xffff);
    let hi = f(k, (a >> 16) & 0xffff, (b >> 16) & 0xffff, (c >> 16) & 0xffff);
    (hi << 16) | lo
}

pub fn exec(op: &FloatOp, cx: &mut Ctx) -> Flow {
    match op {
        FloatOp::Bin { op, ty, m, dst, a, b } => {
            let (x, y) = (cx.get(a), cx.get(b));
            // The common case, computed natively: IEEE f32 round-to-nearest is the host's.
            let v = if *ty == Ty::F32
                && *m == (Mode { rnd: Rnd::Rn, ftz: false, sat: false, nan: false })
                && matches!(op, Bin::Add | Bin::Sub | Bin::Mul)
            {
                let (x, y) = (f32::from_bits(x as u32), f32::from_bits(y as u32));
                fl::canon32(match op {
                    Bin::Add => x + y,
                    Bin::Sub => x - y,
                    _ => x * y,
                })
            } else {
                lanes(*ty, |k, a, b, _| bin_lane(*op, k, *m, a, b), x, y, 0)
            };
            cx.set(*dst, v);
        }
        FloatOp::Fma { ty, m, dst, a, b, c } => {
            let (x, y, z) = (cx.get(a), cx.get(b), cx.get(c));
            let v = if *ty == Ty::F32
                && *m == (Mode { rnd: Rnd::Rn, ftz: false, sat: false, nan: false })
            {
                fl::canon32(
                    f32::from_bits(x as u32)
                        .mul_add(f32::from_bits(y as u32), f32::from_bits(z as u32)),
                )
            } else {
                lanes(*ty, |k, a, b, c| fma_lane(k, *m, a, b, c), x, y, z)
            };
            cx.set(*dst, v);
        }
        FloatOp::Un { op, ty, m, dst, a } => {
            let v = lanes(*ty, |k, a, _, _| un_lane(*op, k, *m, a), cx.get(a), 0, 0);
            cx.set(*dst, v);
        }
    }
    Flow::Next
}

#[cfg(test)]
mod tests {
    use super::*;
    const RN: Mode = Mode { rnd: Rnd::Rn, ftz: false, sat: false, nan: false };
    fn f32k() -> Kind {
        Kind::Narrow(fl::F32)
    }
    fn b(x: f32) -> u64 {
        x.to_bits() as u64
    }

    #[test]
    fn rounding_modes_and_flags() {
        let rz = Mode { rnd: Rnd::Rz, ..RN };
        let rp = Mode { rnd: Rnd::Rp, ..RN };
        let rm = Mode { rnd: Rnd::Rm, ..RN };
        // 1 + 2^-30 is between 1 and 1 + eps.
        let tiny = b(2f32.powi(-30));
        assert_eq!(bin_lane(Bin::Add, f32k(), rz, b(1.0), tiny), b(1.0));
        assert_eq!(bin_lane(Bin::Add, f32k(), rp, b(1.0), tiny), b(1.0 + f32::EPSILON));
        assert_eq!(
            bin_lane(Bin::Add, f32k(), rm, b(-1.0), b(-(2f32.powi(-30)))),
            b(-1.0 - f32::EPSILON)
        );
        // x + (-x) is -0 only when rounding down.
        assert_eq!(bin_lane(Bin::Add, f32k(), rm, b(1.5), b(-1.5)), b(-0.0));
        assert_eq!(bin_lane(Bin::Add, f32k(), RN, b(1.5), b(-1.5)), b(0.0));
        // fma is fused: (1+e)(1-e) - 1 = -e^2 exactly, which a separate multiply loses.
        let e = 2f32.powi(-13);
        assert_eq!(fma_lane(f32k(), RN, b(1.0 + e), b(1.0 - e), b(-1.0)), b(-(e * e)));
        // .sat and .ftz.
        assert_eq!(bin_lane(Bin::Add, f32k(), Mode { sat: true, ..RN }, b(0.75), b(0.5)), b(1.0));
        assert_eq!(
            bin_lane(Bin::Mul, f32k(), Mode { sat: true, ..RN }, b(f32::NAN), b(1.0)),
            b(0.0)
        );
        assert_eq!(bin_lane(Bin::Mul, f32k(), Mode { ftz: true, ..RN }, b(1e-39), b(1.0)), b(0.0));
        assert_eq!(bin_lane(Bin::Mul, f32k(), RN, b(1e-39), b(1.0)), b(1e-39));
        // div and sqrt are correctly rounded in each direction.
        assert_eq!(bin_lane(Bin::Div, f32k(), RN, b(1.0), b(3.0)), b(1.0 / 3.0));
        // (1/3 rounds up to nearest, so .rp agrees and .rz is one ulp below.)
        assert_eq!(bin_lane(Bin::Div, f32k(), rp, b(1.0), b(3.0)), b(1.0 / 3.0));
        assert_eq!(bin_lane(Bin::Div, f32k(), rz, b(1.0), b(3.0)), b(1.0 / 3.0) - 1);
        assert_eq!(un_lane(Un::Sqrt, f32k(), rp, b(2.0)), b(2f32.sqrt()) + 1);
        assert_eq!(un_lane(Un::Sqrt, f32k(), rm, b(2.0)), b(2f32.sqrt()));
        // min/max with NaN and signed zeros.
        assert_eq!(bin_lane(Bin::Min, f32k(), RN, b(f32::NAN), b(2.0)), b(2.0));
        assert_eq!(bin_lane(Bin::Max, f32k(), RN, b(f32::NAN), b(f32::NAN)), 0x7fff_ffff);
        assert_eq!(bin_lane(Bin::Min, f32k(), RN, b(0.0), b(-0.0)), b(-0.0));
        assert_eq!(bin_lane(Bin::Max, f32k(), RN, b(-0.0), b(0.0)), b(0.0));
        // f64 directed rounding.
        let d = |x: f64| x.to_bits();
        assert_eq!(bin_lane(Bin::Add, Kind::F64, rp, d(1.0), d(1e-30)), d(1.0 + f64::EPSILON));
        assert_eq!(
            bin_lane(Bin::Add, Kind::F64, rz, d(1.0), d(-1e-30)),
            d(1.0 - f64::EPSILON / 2.0)
        );
        assert_eq!(bin_lane(Bin::Mul, Kind::F64, rz, d(1e300), d(1e300)), d(f64::MAX));
        // bf16 packed: each half rounds on its own (1 + 2^-8 is a tie: to even).
        let one = 0x3f80u64;
        let v = lanes(
            Ty::BF16x2,
            |k, a, b, c| fma_lane(k, RN, a, b, c),
            one | one << 16,
            one | one << 16,
            0x3b80 | 0x3c00 << 16,
        );
        assert_eq!(v & 0xffff, 0x3f80, "1 + 2^-8 ties to 1");
        assert_eq!(v >> 16, 0x3f81, "1 + 2^-7 is exact");
    }
}
