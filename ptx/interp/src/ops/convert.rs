//! Conversions (PTX ISA, "Data Movement and Conversion Instructions: cvt", and "cvt.pack"
//! forms `cvt.rn.f16x2.f32` / `cvt.rn.bf16x2.f32`).
//!
//! * integer to integer: sign- or zero-extend / truncate; `.sat` clamps to the destination
//!   range.
//! * integer to float: the integer rounded once in `.rn .rz .rm .rp` (default `.rn`).
//! * float to integer: rounded to an integral value by `.rni .rzi .rmi .rpi` (required),
//!   then clamped to the destination range (PTX float-to-integer conversions saturate).
//!   NaN gives 0, except from `.f64` to a 64-bit integer, where it gives `1 << 63` (ISA 9.0:
//!   "(MAXINT >> 1) + 1 for unsigned, MININT for signed").
//! * float to float: widening is exact; narrowing rounds in `.rn .rz .rm .rp` (`.rn` for
//!   `bf16`/`f16` round-to-nearest-even); the same type with `.rni ...` rounds to an integral
//!   value. `.ftz` flushes subnormal f32 inputs and results, `.sat` clamps to [0, 1],
//!   `.relu` clamps negative results to +0, `.satfinite` turns overflow into the largest
//!   finite value. NaN results are canonical.
//! * `cvt.frnd.f16x2.f32 d, a, b` / `.bf16x2`: `a` converted into the upper half, `b` into
//!   the lower half.
//! * `.tf32` (a `.b32` holding an f32 whose 13 low mantissa bits are zero):
//!   `cvt.rna{.satfinite}.tf32.f32 d, a` rounds to nearest with ties away from zero,
//!   `cvt.{rn,rz}{.satfinite}{.relu}.tf32.f32` to nearest even or toward zero (NaN: see
//!   [`to_tf32`]).
//!
//! # 8-bit floats (`.e4m3x2`, `.e5m2x2`)
//!
//! The OCP FP8 formats: `e4m3` (sign, 4 exponent bits with bias 7, 3 mantissa bits; no
//! infinities, `S.1111.111` is NaN, the largest value is 448 = `0x7e`) and `e5m2` (5 exponent
//! bits with bias 15, 2 mantissa bits, IEEE-like: `0x7c` is infinity, the largest finite value
//! 57344 = `0x7b`). Both have subnormals (`e4m3` down to 2^-9, `e5m2` to 2^-16).
//! * `cvt.rn.satfinite{.relu}.{e4m3x2,e5m2x2}.f32 d, a, b`: each of `a` and `b` rounded to
//!   nearest even; `a` goes to the upper byte of the `.b16` `d`, `b` to the lower.
//!   `.satfinite` (required) turns every value beyond the largest finite one, infinities
//!   included, into the largest finite value of that sign; NaN gives NaN (`0x7f`).
//!   `.relu` turns negative results, -0 included, into +0.
//! * `cvt.rn.satfinite{.relu}.{e4m3x2,e5m2x2}.f16x2 d, a`: the same on the two halves of `a`
//!   (upper half to upper byte).
//! * `cvt.rn{.relu}.f16x2.{e4m3x2,e5m2x2} d, a`: each byte of the `.b16` `a` widened
//!   exactly to f16 (upper byte to upper half); NaN gives the canonical f16 NaN `0x7fff`;
//!   `.relu` as above.

use super::super::ctx::Ctx;
use super::super::exec::Flow;
use super::super::float::{self as fl, round_f64, round_to, Finish};
use super::super::inst::{use_src, Op, Reg, Src};
use super::super::operands::{Mods, Operands};
use super::super::types::{Rnd, Ty};
use super::float::{decode, kind, Kind};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CvtMode {
    pub rnd: Option<Rnd>,
    /// `.rni .rzi .rmi .rpi`: round to an integral value.
    pub integral: bool,
    pub ftz: bool,
    pub sat: bool,
    pub relu: bool,
    pub satfinite: bool,
}

/// An 8-bit float format (see the file's documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fp8 {
    E4m3,
    E5m2,
}

/// What a `cvt` converts between.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    /// Between two fundamental types (and the `.f16x2`/`.bf16x2` packing of two `.f32`).
    Scalar { dty: Ty, sty: Ty },
    /// `.f32` to `.tf32`; `rna`: round to nearest, ties away from zero.
    Tf32 { rna: bool },
    /// Two `.f32` (`from` = F32, with `b`) or one `.f16x2` to a pair of 8-bit floats.
    ToFp8 { fmt: Fp8, from: Ty },
    /// A pair of 8-bit floats to `.f16x2`.
    FromFp8 { fmt: Fp8 },
}

#[derive(Clone, Debug)]
pub struct CvtOp {
    pub form: Form,
    pub m: CvtMode,
    pub dst: Reg,
    pub a: Src,
    /// The second source of the packing forms (`.f16x2`/`.bf16x2`/`.e4m3x2`/`.e5m2x2` from
    /// two `.f32`).
    pub b: Option<Src>,
}

pub const OPCODES: &[&str] = &["cvt"];

/// Type names of `cvt` forms beyond the fundamental types (for what is and is not supported).
const NARROW: &[&str] = &[
    "tf32", "e4m3x2", "e5m2x2", "e2m1x2", "e2m3x2", "e3m2x2", "ue8m0x2", "e4m3x4", "e5m2x4",
    "e2m1x4", "e2m3x4", "e3m2x4",
];

pub fn parse(m: &mut Mods, o: &mut Operands) -> Result<Op, String> {
    let rna = m.has("rna");
    let r = m.find(Rnd::parse);
    let mode = CvtMode {
        rnd: r.map(|x| x.0),
        integral: r.is_some_and(|x| x.1),
        ftz: m.has("ftz"),
        sat: m.has("sat"),
        relu: m.has("relu"),
        satfinite: m.has("satfinite"),
    };
    // The type modifiers in order, fundamental or narrow.
    let mut owned: Vec<String> = vec![];
    while let Some(n) =
        m.find(|s| (Ty::parse(s).is_some() || NARROW.contains(&s)).then(|| s.to_string()))
    {
        owned.push(n);
    }
    let names: Vec<&str> = owned.iter().map(|s| s.as_str()).collect();
    let fp8 = |s: &str| match s {
        "e4m3x2" => Some(Fp8::E4m3),
        "e5m2x2" => Some(Fp8::E5m2),
        _ => None,
    };
    let seen = || names.iter().map(|n| format!(".{n}")).collect::<Vec<_>>().join("");
    let only_rn = mode.rnd == Some(Rnd::Rn) && !mode.integral && !rna && !mode.ftz && !mode.sat;
    let narrow = match names[..] {
        ["tf32", "f32"] => {
            let ok = (rna && mode.rnd.is_none())
                || matches!(mode.rnd, Some(Rnd::Rn | Rnd::Rz)) && !mode.integral;
            if !ok || mode.ftz || mode.sat || (rna && mode.relu) {
                return Err(
                    "cvt.tf32.f32 takes .rna{.satfinite} or .rn/.rz{.satfinite}{.relu}".into()
                );
            }
            Some(Form::Tf32 { rna })
        }
        [d, s] if fp8(d).is_some() && matches!(s, "f32" | "f16x2") => {
            if !only_rn || !mode.satfinite {
                return Err(format!(
                    "cvt{}: the form is cvt.rn.satfinite{{.relu}}{}",
                    seen(),
                    seen()
                ));
            }
            let from = if s == "f32" { Ty::F32 } else { Ty::F16x2 };
            Some(Form::ToFp8 { fmt: fp8(d).unwrap_or(Fp8::E4m3), from })
        }
        ["f16x2", s] if fp8(s).is_some() => {
            if !only_rn || mode.satfinite {
                return Err(format!("cvt{}: the form is cvt.rn{{.relu}}{}", seen(), seen()));
            }
            Some(Form::FromFp8 { fmt: fp8(s).unwrap_or(Fp8::E4m3) })
        }
        _ => None,
    };
    if let Some(form) = narrow {
        let dst = o.dst()?;
        o.comma()?;
        let a_ty = match form {
            Form::ToFp8 { from: Ty::F16x2, .. } => Ty::B32,
            Form::FromFp8 { .. } => Ty::B16,
            _ => Ty::F32,
        };
        let a = o.src(a_ty)?;
        let b = if matches!(form, Form::ToFp8 { from: Ty::F32, .. }) {
            o.comma()?;
            Some(o.src(Ty::F32)?)
        } else {
            None
        };
        return Ok(Op::Cvt(CvtOp { form, m: mode, dst, a, b }));
    }
    let (dty, sty) = match names[..] {
        [d, s] => match (Ty::parse(d), Ty::parse(s)) {
            (Some(d), Some(s)) => (d, s),
            _ => {
                return Err(format!(
                    "cvt{} is not supported (supported: the fundamental types, .tf32.f32, \
                     .e4m3x2/.e5m2x2 from .f32 and .f16x2, and .f16x2 from .e4m3x2/.e5m2x2)",
                    seen()
                ))
            }
        },
        _ => {
            let rest = m.finish().err().map(|e| format!("; {e}")).unwrap_or_default();
            return Err(format!(
                "cvt needs a destination and a source type; given {} known type(s): `{}`{rest}",
                names.len(),
                seen()
            ));
        }
    };
    if rna {
        return Err(format!("cvt.rna{} is not defined (.rna is for .tf32.f32)", seen()));
    }
    if dty == Ty::Pred || sty == Ty::Pred || sty.bits() > 64 || dty.bits() > 64 {
        return Err(format!("cvt.{}.{} is not supported", dty.name(), sty.name()));
    }
    let packed = matches!(dty, Ty::F16x2 | Ty::BF16x2);
    if packed && sty != Ty::F32 {
        return Err(format!("cvt.{}.{}: packing converts from .f32", dty.name(), sty.name()));
    }
    if matches!(sty, Ty::F16x2 | Ty::BF16x2) {
        return Err(format!("cvt from .{} is not supported", sty.name()));
    }
    if sty.is_float() && !dty.is_float() && !mode.integral {
        return Err("cvt from float to integer needs .rni, .rzi, .rmi or .rpi".into());
    }
    if mode.integral && dty.is_float() && dty != sty {
        return Err("cvt: .rni/.rzi/.rmi/.rpi between different float types is not defined".into());
    }
    let dst = o.dst()?;
    o.comma()?;
    let a = o.src(sty)?;
    let b = if packed {
        o.comma()?;
        Some(o.src(sty)?)
    } else {
        None
    };
    Ok(Op::Cvt(CvtOp { form: Form::Scalar { dty, sty }, m: mode, dst, a, b }))
}

impl CvtOp {
    pub fn visit_regs(&self, f: &mut dyn FnMut(Reg, bool)) {
        use_src(&self.a, f);
        if let Some(b) = &self.b {
            use_src(b, f);
        }
        f(self.dst, true);
    }
}

/// The range of an integer type as i128.
fn int_range(t: Ty) -> (i128, i128) {
    let bits = t.bits();
    if t.is_signed() {
        (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1)
    } else {
        (0, (1i128 << bits) - 1)
    }
}

/// Rounds an exact value held as an i128 integer to a float type.
fn int_to_float(v: i128, dty: Ty, rnd: Rnd, fin: Finish) -> u64 {
    let hi = v as f64;
    let lo = (v - hi as i128) as f64;
    match kind(dty).0 {
        Kind::F64 => round_f64(hi, lo, rnd, false).to_bits(),
        Kind::Narrow(f) => round_to(f, hi, lo, rnd, fin),
    }
}

/// One scalar conversion: `sty` bits to `dty` bits.
pub fn convert(dty: Ty, sty: Ty, m: CvtMode, a: u64) -> u64 {
    let rnd = m.rnd.unwrap_or(Rnd::Rn);
    let fin = Finish { ftz: m.ftz, satfinite: m.satfinite };
    match (sty.is_float(), dty.is_float()) {
        (false, false) => {
            let v = if sty.is_signed() { sty.read(a) as i64 as i128 } else { sty.read(a) as i128 };
            let v = if m.sat {
                let (lo, hi) = int_range(dty);
                v.clamp(lo, hi)
            } else {
                v
            };
            dty.read(v as u64)
        }
        (false, true) => {
            let v = if sty.is_signed() { sty.read(a) as i64 as i128 } else { sty.read(a) as i128 };
            int_to_float(v, dty, rnd, fin)
        }
        (true, false) => {
            let x = decode(kind(sty).0, a, m.ftz);
            if x.is_nan() {
                return if sty == Ty::F64 && dty.bits() == 64 { 1u64 << 63 } else { 0 };
            }
            let r = integral(x, rnd);
            let (lo, hi) = int_range(dty);
            let v = if r >= hi as f64 {
                hi
            } else if r <= lo as f64 {
                lo
            } else {
                r as i128
            };
            dty.read(v as u64)
        }
        (true, true) => {
            let (sk, dk) = (kind(sty).0, kind(dty).0);
            let x = decode(sk, a, m.ftz);
            let x = if m.integral { integral(x, rnd) } else { x };
            let mut v = if m.sat { fl::sat(x) } else { x };
            if m.relu && !v.is_nan() && v < 0.0 {
                v = 0.0;
            }
            match dk {
                Kind::F64 => fl::canon64(v),
                Kind::Narrow(f) => round_to(f, v, 0.0, rnd, fin),
            }
        }
    }
}

/// Rounds to an integral value in `rnd` (`.rni` ties to even).
fn integral(x: f64, rnd: Rnd) -> f64 {
    match rnd {
        Rnd::Rn => x.round_ties_even(),
        Rnd::Rz => x.trunc(),
        Rnd::Rm => x.floor(),
        Rnd::Rp => x.ceil(),
    }
}

impl Fp8 {
    fn mant_bits(self) -> i32 {
        match self {
            Fp8::E4m3 => 3,
            Fp8::E5m2 => 2,
        }
    }

    fn bias(self) -> i32 {
        match self {
            Fp8::E4m3 => 7,
            Fp8::E5m2 => 15,
        }
    }

    /// The largest finite value's bits (448 and 57344).
    fn max_bits(self) -> u64 {
        match self {
            Fp8::E4m3 => 0x7e,
            Fp8::E5m2 => 0x7b,
        }
    }

    /// The exact value of `bits` (one byte).
    pub fn to_f64(self, bits: u64) -> f64 {
        let (m, bias) = (self.mant_bits(), self.bias());
        let sign = if bits & 0x80 != 0 { -1.0 } else { 1.0 };
        let e = ((bits & 0x7f) >> m) as i32;
        let f = (bits & ((1 << m) - 1)) as f64;
        let v = match (self, e) {
            (Fp8::E4m3, 15) if f == 7.0 => f64::NAN,
            (Fp8::E5m2, 31) if f == 0.0 => f64::INFINITY,
            (Fp8::E5m2, 31) => f64::NAN,
            (_, 0) => f * 2f64.powi(1 - bias - m),
            _ => (1.0 + f / (1 << m) as f64) * 2f64.powi(e - bias),
        };
        sign * v
    }

    /// `x` rounded to nearest even in this format, with `.satfinite` (and `.relu`).
    pub fn round_satfinite(self, x: f64, relu: bool) -> u64 {
        if x.is_nan() {
            return 0x7f;
        }
        if relu && x.is_sign_negative() {
            return 0;
        }
        let sign = if x.is_sign_negative() { 0x80 } else { 0 };
        let a = x.abs();
        let (m, bias) = (self.mant_bits(), self.bias());
        let emin = 1 - bias;
        let max = self.to_f64(self.max_bits());
        if a >= max {
            return sign | self.max_bits();
        }
        // The spacing of the format's values around `a`: 2^(e - m), with e = max(e(a), emin).
        let e = if a == 0.0 { emin } else { (((a.to_bits() >> 52) as i32) - 1023).max(emin) };
        let q = 2f64.powi(e - m);
        let r = (a / q).round_ties_even() * q;
        if r >= max {
            return sign | self.max_bits();
        }
        if r < 2f64.powi(emin) {
            return sign | (r / 2f64.powi(emin - m)) as u64;
        }
        let er = ((r.to_bits() >> 52) as i32) - 1023;
        let frac = (r / 2f64.powi(er - m)) as u64 - (1 << m);
        sign | ((er + bias) as u64) << m | frac
    }
}

/// `.f32` to `.tf32` (an f32 bit pattern with the 13 low mantissa bits cleared). Finite
/// values round in the mode; `.satfinite` turns a result beyond the largest finite tf32
/// into it. NaN: `.rn`/`.rz` give the canonical NaN `0x7fffe000`; `.rna` clears the 13 low
/// bits of the NaN as they are (so a NaN whose payload lies only there becomes infinity) and
/// `.rna.satfinite` then lowers a result with the all-ones exponent by one tf32 ulp, as an
/// H100 does (tests/instructions.rs compares all of it with one).
pub fn to_tf32(a: u32, rna: bool, m: CvtMode) -> u64 {
    let x = f32::from_bits(a);
    let (sign, mag) = (a & 0x8000_0000, a & 0x7fff_ffff);
    if x.is_nan() && !rna {
        return 0x7fff_e000;
    }
    if m.relu && x.is_sign_negative() {
        return 0;
    }
    let r = if x.is_nan() {
        mag & !0x1fff
    } else if x.is_infinite() {
        mag
    } else if rna {
        (mag + 0x1000) & !0x1fff
    } else {
        let tf = fl::Fmt { exp_bits: 8, mant_bits: 10 };
        let rnd = m.rnd.unwrap_or(Rnd::Rn);
        let fin = Finish { ftz: false, satfinite: false };
        (round_to(tf, f32::from_bits(mag) as f64, 0.0, rnd, fin) as u32) << 13
    };
    let r = if m.satfinite && r >= 0x7f80_0000 { r - 0x2000 } else { r };
    (sign | r) as u64
}

pub fn exec(op: &CvtOp, cx: &mut Ctx) -> Flow {
    let a = cx.get(&op.a);
    let v = match (op.form, &op.b) {
        (Form::Scalar { dty, sty }, None) => convert(dty, sty, op.m, a),
        (Form::Scalar { dty, sty }, Some(b)) => {
            let half = if dty == Ty::F16x2 { Ty::F16 } else { Ty::BF16 };
            let hi = convert(half, sty, op.m, a);
            let lo = convert(half, sty, op.m, cx.get(b));
            (hi << 16) | lo
        }
        (Form::Tf32 { rna }, _) => to_tf32(a as u32, rna, op.m),
        (Form::ToFp8 { fmt, .. }, Some(b)) => {
            let (x, y) = (f32::from_bits(a as u32) as f64, f32::from_bits(cx.get(b) as u32) as f64);
            fmt.round_satfinite(x, op.m.relu) << 8 | fmt.round_satfinite(y, op.m.relu)
        }
        (Form::ToFp8 { fmt, .. }, None) => {
            let (hi, lo) = (fl::F16.to_f64((a >> 16) & 0xffff), fl::F16.to_f64(a & 0xffff));
            fmt.round_satfinite(hi, op.m.relu) << 8 | fmt.round_satfinite(lo, op.m.relu)
        }
        (Form::FromFp8 { fmt }, _) => {
            let half = |byte: u64| {
                let x = fmt.to_f64(byte);
                let x = if op.m.relu && !x.is_nan() && x.is_sign_negative() { 0.0 } else { x };
                round_to(fl::F16, x, 0.0, Rnd::Rn, Finish::default())
            };
            half((a >> 8) & 0xff) << 16 | half(a & 0xff)
        }
    };
    cx.set(op.dst, v);
    Flow::Next
}
