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

#[derive(Clone, Debug)]
pub struct CvtOp {
    pub dty: Ty,
    pub sty: Ty,
    pub m: CvtMode,
    pub dst: Reg,
    pub a: Src,
    /// The second source of the packing forms (`.f16x2`/`.bf16x2` from two `.f32`).
    pub b: Option<Src>,
}

pub const OPCODES: &[&str] = &["cvt"];

pub fn parse(m: &mut Mods, o: &mut Operands) -> Result<Op, String> {
    let r = m.find(Rnd::parse);
    let mode = CvtMode {
        rnd: r.map(|x| x.0),
        integral: r.is_some_and(|x| x.1),
        ftz: m.has("ftz"),
        sat: m.has("sat"),
        relu: m.has("relu"),
        satfinite: m.has("satfinite"),
    };
    let tys = m.tys();
    let [dty, sty] = tys[..] else {
        return Err("cvt needs a destination and a source type".into());
    };
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
    Ok(Op::Cvt(CvtOp { dty, sty, m: mode, dst, a, b }))
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

pub fn exec(op: &CvtOp, cx: &mut Ctx) -> Flow {
    let v = match &op.b {
        None => convert(op.dty, op.sty, op.m, cx.get(&op.a)),
        Some(b) => {
            let half = if op.dty == Ty::F16x2 { Ty::F16 } else { Ty::BF16 };
            let hi = convert(half, op.sty, op.m, cx.get(&op.a));
            let lo = convert(half, op.sty, op.m, cx.get(b));
            (hi << 16) | lo
        }
    };
    cx.set(op.dst, v);
    Flow::Next
}
