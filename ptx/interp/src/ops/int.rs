//! Integer arithmetic and logic (PTX ISA, "Integer Arithmetic Instructions": `add sub mul
//! mad div rem abs neg min max popc clz bfind brev bfe bfi`; "Logic and Shift Instructions": `and
//! or xor not cnot lop3 shf shl shr`; "Data Movement and Conversion Instructions": `prmt`).
//!
//! Values are the register's low `bits` bits, read as signed for `.sN` types. Results wrap
//! modulo 2^bits unless `.sat` (only `add.sat.s32`/`sub.sat.s32`). `and or xor not` on
//! `.pred` work on the 0/1 predicate values. Division by zero is unspecified in PTX; here
//! `div` by zero gives all ones (unsigned) or -1 (signed) and `rem` by zero gives the dividend.
//!
//! `bfind{.shiftamt}.type d, a` (`.u32 .u64 .s32 .s64`): the bit position of the most
//! significant 1 (for a negative signed value, of the most significant 0: the first bit that
//! differs from the sign), `0xffffffff` when there is none; `.shiftamt` gives `bits - 1 - pos`
//! instead, the left shift that brings that bit to the top.
//!
//! `shf.{l,r}.{wrap,clamp}.b32 d, a, b, c` (funnel shift, "Logic and Shift Instructions:
//! shf"): shifts the 64-bit value `b:a` (`b` the high word) left or right by `c` (`.wrap`:
//! `c mod 32`; `.clamp`: `min(c, 32)`) and keeps the high word (`.l`) or the low word (`.r`);
//! with `a == b` it is a rotate.

use super::super::ctx::Ctx;
use super::super::exec::Flow;
use super::super::inst::{use_src, Op, Reg, Src};
use super::super::operands::{Mods, Operands};
use super::super::types::Ty;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bin {
    Add,
    AddSat,
    Sub,
    SubSat,
    MulLo,
    MulHi,
    /// `mul.wide`: the full 2n-bit product of n-bit operands.
    MulWide,
    Div,
    Rem,
    Min,
    Max,
    And,
    Or,
    Xor,
    Shl,
    Shr,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Un {
    Neg,
    Abs,
    Not,
    Cnot,
    Popc,
    Clz,
    Brev,
    Bfind,
    BfindShift,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MadMode {
    Lo,
    Hi,
    Wide,
}

#[derive(Clone, Debug)]
pub enum IntOp {
    Bin {
        op: Bin,
        ty: Ty,
        dst: Reg,
        a: Src,
        b: Src,
    },
    Un {
        op: Un,
        ty: Ty,
        dst: Reg,
        a: Src,
    },
    /// `mad.mode d, a, b, c`: `mul.mode(a, b) + c`.
    Mad {
        mode: MadMode,
        ty: Ty,
        dst: Reg,
        a: Src,
        b: Src,
        c: Src,
    },
    /// `bfe d, a, pos, len`: extract a bit field (sign-extended for `.s`).
    Bfe {
        ty: Ty,
        dst: Reg,
        a: Src,
        pos: Src,
        len: Src,
    },
    /// `bfi d, f, b, pos, len`: insert the low `len` bits of `f` into `b` at `pos`.
    Bfi {
        ty: Ty,
        dst: Reg,
        f: Src,
        b: Src,
        pos: Src,
        len: Src,
    },
    /// `prmt.b32 d, a, b, c`: pick bytes of {b, a} by the selectors in `c` (default mode).
    Prmt {
        dst: Reg,
        a: Src,
        b: Src,
        c: Src,
    },
    /// `lop3.b32 d, a, b, c, lut`: any 3-input bitwise function.
    Lop3 {
        dst: Reg,
        a: Src,
        b: Src,
        c: Src,
        lut: u8,
    },
    /// `shf.{l,r}.{wrap,clamp}.b32 d, a, b, c`: funnel shift of `b:a` by `c`.
    Shf {
        left: bool,
        clamp: bool,
        dst: Reg,
        a: Src,
        b: Src,
        c: Src,
    },
}

pub const OPCODES: &[&str] = &[
    "add", "sub", "mul", "mad", "div", "rem", "min", "max", "and", "or", "xor", "shl", "shr",
    "neg", "abs", "not", "cnot", "popc", "clz", "brev", "bfe", "bfi", "prmt", "lop3", "bfind",
    "shf",
];

/// Is this opcode with these modifiers an integer instruction (not a float one)?
pub fn is_int(m: &Mods) -> bool {
    m.peek_ty().is_none_or(|t| !t.is_float())
}

pub fn parse(m: &mut Mods, o: &mut Operands) -> Result<Op, String> {
    let base = m.base;
    let op = match base {
        "add" | "sub" | "mul" | "div" | "rem" | "min" | "max" | "and" | "or" | "xor" | "shl"
        | "shr" => {
            let sat = m.has("sat");
            let op = match base {
                "add" if sat => Bin::AddSat,
                "add" => Bin::Add,
                "sub" if sat => Bin::SubSat,
                "sub" => Bin::Sub,
                "mul" => match m.one_of(&["lo", "hi", "wide"]) {
                    Some("hi") => Bin::MulHi,
                    Some("wide") => Bin::MulWide,
                    Some(_) => Bin::MulLo,
                    None => return Err("mul on integers needs .lo, .hi or .wide".into()),
                },
                "div" => Bin::Div,
                "rem" => Bin::Rem,
                "min" => Bin::Min,
                "max" => Bin::Max,
                "and" => Bin::And,
                "or" => Bin::Or,
                "xor" => Bin::Xor,
                "shl" => Bin::Shl,
                _ => Bin::Shr,
            };
            let ty = m.ty()?;
            if sat && ty != Ty::S32 {
                return Err(format!("{base}.sat is only defined for .s32"));
            }
            if op == Bin::MulWide && !matches!(ty, Ty::U16 | Ty::S16 | Ty::U32 | Ty::S32) {
                return Err("mul.wide takes .u16/.s16/.u32/.s32".into());
            }
            if ty == Ty::Pred && !matches!(op, Bin::And | Bin::Or | Bin::Xor) {
                return Err(format!("{base} on .pred is not defined"));
            }
            let dst = o.dst()?;
            o.comma()?;
            let a = o.src(ty)?;
            o.comma()?;
            let bty = if matches!(op, Bin::Shl | Bin::Shr) { Ty::U32 } else { ty };
            let b = o.src(bty)?;
            IntOp::Bin { op, ty, dst, a, b }
        }
        "neg" | "abs" | "not" | "cnot" | "popc" | "clz" | "brev" | "bfind" => {
            let op = match base {
                "neg" => Un::Neg,
                "abs" => Un::Abs,
                "not" => Un::Not,
                "cnot" => Un::Cnot,
                "popc" => Un::Popc,
                "clz" => Un::Clz,
                "bfind" if m.has("shiftamt") => Un::BfindShift,
                "bfind" => Un::Bfind,
                _ => Un::Brev,
            };
            let ty = m.ty()?;
            if matches!(op, Un::Bfind | Un::BfindShift)
                && !matches!(ty, Ty::U32 | Ty::U64 | Ty::S32 | Ty::S64)
            {
                return Err(format!("bfind.{} is not defined", ty.name()));
            }
            let dst = o.dst()?;
            o.comma()?;
            IntOp::Un { op, ty, dst, a: o.src(ty)? }
        }
        "mad" => {
            let mode = match m.one_of(&["lo", "hi", "wide"]) {
                Some("hi") => MadMode::Hi,
                Some("wide") => MadMode::Wide,
                Some(_) => MadMode::Lo,
                None => return Err("mad on integers needs .lo, .hi or .wide".into()),
            };
            let ty = m.ty()?;
            let dst = o.dst()?;
            o.comma()?;
            let a = o.src(ty)?;
            o.comma()?;
            let b = o.src(ty)?;
            o.comma()?;
            let cty = if mode == MadMode::Wide { wide(ty) } else { ty };
            let c = o.src(cty)?;
            IntOp::Mad { mode, ty, dst, a, b, c }
        }
        "bfe" => {
            let ty = m.ty()?;
            let dst = o.dst()?;
            o.comma()?;
            let a = o.src(ty)?;
            o.comma()?;
            let pos = o.src(Ty::U32)?;
            o.comma()?;
            let len = o.src(Ty::U32)?;
            IntOp::Bfe { ty, dst, a, pos, len }
        }
        "bfi" => {
            let ty = m.ty()?;
            let dst = o.dst()?;
            o.comma()?;
            let f = o.src(ty)?;
            o.comma()?;
            let b = o.src(ty)?;
            o.comma()?;
            let pos = o.src(Ty::U32)?;
            o.comma()?;
            let len = o.src(Ty::U32)?;
            IntOp::Bfi { ty, dst, f, b, pos, len }
        }
        "prmt" => {
            if m.one_of(&["f4e", "b4e", "rc8", "ecl", "ecr", "rc16"]).is_some() {
                return Err("prmt: only the default mode is supported".into());
            }
            let ty = m.ty()?;
            if ty != Ty::B32 {
                return Err("prmt takes .b32".into());
            }
            let dst = o.dst()?;
            o.comma()?;
            let a = o.src(ty)?;
            o.comma()?;
            let b = o.src(ty)?;
            o.comma()?;
            IntOp::Prmt { dst, a, b, c: o.src(ty)? }
        }
        "lop3" => {
            let ty = m.ty()?;
            if ty != Ty::B32 {
                return Err("lop3 takes .b32".into());
            }
            let dst = o.dst()?;
            o.comma()?;
            let a = o.src(ty)?;
            o.comma()?;
            let b = o.src(ty)?;
            o.comma()?;
            let c = o.src(ty)?;
            o.comma()?;
            let lut = o.int()? as u8;
            IntOp::Lop3 { dst, a, b, c, lut }
        }
        "shf" => {
            let left = match m.one_of(&["l", "r"]) {
                Some(d) => d == "l",
                None => return Err("shf needs a direction, .l or .r".into()),
            };
            let clamp = match m.one_of(&["wrap", "clamp"]) {
                Some(w) => w == "clamp",
                None => return Err("shf needs a mode, .wrap or .clamp".into()),
            };
            if m.ty()? != Ty::B32 {
                return Err("shf takes .b32".into());
            }
            let dst = o.dst()?;
            o.comma()?;
            let a = o.src(Ty::B32)?;
            o.comma()?;
            let b = o.src(Ty::B32)?;
            o.comma()?;
            IntOp::Shf { left, clamp, dst, a, b, c: o.src(Ty::U32)? }
        }
        other => return Err(format!("{other} is not an integer instruction")),
    };
    Ok(Op::Int(op))
}

/// The type twice as wide (for `.wide` results).
pub fn wide(ty: Ty) -> Ty {
    match ty {
        Ty::U16 => Ty::U32,
        Ty::S16 => Ty::S32,
        Ty::U32 => Ty::U64,
        Ty::S32 => Ty::S64,
        t => t,
    }
}

impl IntOp {
    pub fn visit_regs(&self, f: &mut dyn FnMut(Reg, bool)) {
        let (dst, srcs): (Reg, Vec<&Src>) = match self {
            IntOp::Bin { dst, a, b, .. } => (*dst, vec![a, b]),
            IntOp::Un { dst, a, .. } => (*dst, vec![a]),
            IntOp::Mad { dst, a, b, c, .. } => (*dst, vec![a, b, c]),
            IntOp::Bfe { dst, a, pos, len, .. } => (*dst, vec![a, pos, len]),
            IntOp::Bfi { dst, f: fv, b, pos, len, .. } => (*dst, vec![fv, b, pos, len]),
            IntOp::Prmt { dst, a, b, c } => (*dst, vec![a, b, c]),
            IntOp::Lop3 { dst, a, b, c, .. } => (*dst, vec![a, b, c]),
            IntOp::Shf { dst, a, b, c, .. } => (*dst, vec![a, b, c]),
        };
        srcs.into_iter().for_each(|s| use_src(s, f));
        f(dst, true);
    }
}

/// `mul.lo/.hi/.wide` of two values already read as `ty` (sign-extended when signed).
fn mul(mode: MadMode, ty: Ty, a: u64, b: u64) -> u64 {
    let bits = ty.bits();
    let p: i128 = if ty.is_signed() {
        (a as i64 as i128) * (b as i64 as i128)
    } else {
        (a as u128 * b as u128) as i128
    };
    match mode {
        MadMode::Lo => p as u64 & ty.mask(),
        MadMode::Hi => (p >> bits) as u64 & ty.mask(),
        MadMode::Wide => wide(ty).read(p as u64),
    }
}

/// One binary integer operation on `ty` (the semantics of `add` through `shr`).
pub fn bin(op: Bin, ty: Ty, a: u64, b: u64) -> u64 {
    let bits = ty.bits();
    let (a, b) =
        (ty.read(a), if matches!(op, Bin::Shl | Bin::Shr) { b & 0xffff_ffff } else { ty.read(b) });
    let signed = ty.is_signed();
    let r = match op {
        Bin::Add => a.wrapping_add(b),
        Bin::Sub => a.wrapping_sub(b),
        Bin::AddSat => (a as i32).saturating_add(b as i32) as i64 as u64,
        Bin::SubSat => (a as i32).saturating_sub(b as i32) as i64 as u64,
        Bin::MulLo => mul(MadMode::Lo, ty, a, b),
        Bin::MulHi => mul(MadMode::Hi, ty, a, b),
        Bin::MulWide => return mul(MadMode::Wide, ty, a, b),
        Bin::Div if b == 0 => ty.mask(),
        Bin::Div if signed => (a as i64).wrapping_div(b as i64) as u64,
        Bin::Div => a / b,
        Bin::Rem if b == 0 => a,
        Bin::Rem if signed => (a as i64).wrapping_rem(b as i64) as u64,
        Bin::Rem => a % b,
        Bin::Min if signed => (a as i64).min(b as i64) as u64,
        Bin::Min => a.min(b),
        Bin::Max if signed => (a as i64).max(b as i64) as u64,
        Bin::Max => a.max(b),
        Bin::And => a & b,
        Bin::Or => a | b,
        Bin::Xor => a ^ b,
        // Shift amounts beyond the width shift everything out (ISA: "clamped to N").
        Bin::Shl if b >= bits as u64 => 0,
        Bin::Shl => a << b,
        Bin::Shr if signed => (a as i64 >> b.min(63)) as u64,
        Bin::Shr if b >= bits as u64 => 0,
        Bin::Shr => a >> b,
    };
    ty.read(r)
}

/// `shf` (see the file's documentation): the ISA's `n = clamp ? min(c, 32) : c & 0x1f`, then
/// `.l`: the high word of `b:a << n`; `.r`: the low word of `b:a >> n`.
pub fn shf(left: bool, clamp: bool, a: u32, b: u32, c: u32) -> u32 {
    let n = if clamp { c.min(32) } else { c & 0x1f };
    let v = (b as u64) << 32 | a as u64;
    if left {
        ((v << n) >> 32) as u32
    } else {
        (v >> n) as u32
    }
}

pub fn un(op: Un, ty: Ty, a: u64) -> u64 {
    let bits = ty.bits();
    let a = ty.read(a);
    match op {
        Un::Neg => ty.read(a.wrapping_neg()),
        Un::Abs => ty.read((a as i64).wrapping_abs() as u64),
        Un::Not if ty == Ty::Pred => a ^ 1,
        Un::Not => ty.read(!a),
        Un::Cnot => (a == 0) as u64,
        Un::Popc => (a & ty.mask()).count_ones() as u64,
        Un::Clz => ((a & ty.mask()).leading_zeros() - (64 - bits)) as u64,
        Un::Brev => (a & ty.mask()).reverse_bits() >> (64 - bits),
        Un::Bfind | Un::BfindShift => {
            // Signed negative values look for the first 0 below the sign.
            let v = if ty.is_signed() && (a as i64) < 0 { !a } else { a } & ty.mask();
            match (v.checked_ilog2(), op) {
                (None, _) => 0xffff_ffff,
                (Some(p), Un::Bfind) => p as u64,
                (Some(p), _) => (bits - 1 - p) as u64,
            }
        }
    }
}

pub fn exec(op: &IntOp, cx: &mut Ctx) -> Flow {
    match op {
        IntOp::Bin { op, ty, dst, a, b } => {
            let v = bin(*op, *ty, cx.get(a), cx.get(b));
            cx.set(*dst, v);
        }
        IntOp::Un { op, ty, dst, a } => {
            let v = un(*op, *ty, cx.get(a));
            cx.set(*dst, v);
        }
        IntOp::Mad { mode, ty, dst, a, b, c } => {
            let p = mul(*mode, *ty, ty.read(cx.get(a)), ty.read(cx.get(b)));
            let rty = if *mode == MadMode::Wide { wide(*ty) } else { *ty };
            cx.set(*dst, rty.read(p.wrapping_add(rty.read(cx.get(c)))));
        }
        IntOp::Bfe { ty, dst, a, pos, len } => {
            let (a, pos, len) = (ty.read(cx.get(a)), cx.get(pos) & 0xff, cx.get(len) & 0xff);
            let msb = ty.bits() as u64 - 1;
            let sbit =
                if !ty.is_signed() || len == 0 { 0 } else { (a >> (pos + len - 1).min(msb)) & 1 };
            let mut d = 0u64;
            for i in 0..=msb {
                let bit = if i < len && pos + i <= msb { (a >> (pos + i)) & 1 } else { sbit };
                d |= bit << i;
            }
            cx.set(*dst, ty.read(d));
        }
        IntOp::Bfi { ty, dst, f, b, pos, len } => {
            let (fv, mut d, pos, len) =
                (cx.get(f), ty.read(cx.get(b)), cx.get(pos) & 0xff, cx.get(len) & 0xff);
            let msb = ty.bits() as u64 - 1;
            for i in 0..len {
                if pos + i > msb {
                    break;
                }
                d = (d & !(1 << (pos + i))) | (((fv >> i) & 1) << (pos + i));
            }
            cx.set(*dst, ty.read(d));
        }
        IntOp::Prmt { dst, a, b, c } => {
            let bytes = ((cx.get(b) & 0xffff_ffff) << 32) | (cx.get(a) & 0xffff_ffff);
            let sel = cx.get(c);
            let mut d = 0u64;
            for n in 0..4 {
                let s = (sel >> (4 * n)) & 0xf;
                let mut byte = (bytes >> (8 * (s & 7))) & 0xff;
                if s & 8 != 0 {
                    byte = if byte & 0x80 != 0 { 0xff } else { 0 };
                }
                d |= byte << (8 * n);
            }
            cx.set(*dst, d);
        }
        IntOp::Lop3 { dst, a, b, c, lut } => {
            let (a, b, c) = (cx.get(a), cx.get(b), cx.get(c));
            let mut d = 0u64;
            for idx in 0..8 {
                if lut >> idx & 1 != 0 {
                    let pa = if idx & 4 != 0 { a } else { !a };
                    let pb = if idx & 2 != 0 { b } else { !b };
                    let pc = if idx & 1 != 0 { c } else { !c };
                    d |= pa & pb & pc;
                }
            }
            cx.set(*dst, d & 0xffff_ffff);
        }
        IntOp::Shf { left, clamp, dst, a, b, c } => {
            let (a, b, c) = (cx.get(a) as u32, cx.get(b) as u32, cx.get(c) as u32);
            cx.set(*dst, shf(*left, *clamp, a, b, c) as u64);
        }
    }
    Flow::Next
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_signs_and_shifts() {
        assert_eq!(bin(Bin::Add, Ty::U32, 0xffff_ffff, 1), 0);
        assert_eq!(bin(Bin::AddSat, Ty::S32, i32::MAX as u64, 1) as i64, i32::MAX as i64);
        assert_eq!(bin(Bin::MulHi, Ty::U32, 0x8000_0000, 4), 2);
        assert_eq!(bin(Bin::MulWide, Ty::S32, (-3i32) as u32 as u64, 5) as i64, -15);
        assert_eq!(bin(Bin::MulWide, Ty::U32, 0xffff_ffff, 0xffff_ffff), 0xffff_fffe_0000_0001);
        assert_eq!(bin(Bin::Shr, Ty::S32, (-8i32) as u32 as u64, 40) as i64, -1);
        assert_eq!(bin(Bin::Shl, Ty::B32, 1, 32), 0);
        assert_eq!(bin(Bin::Min, Ty::S32, (-1i32) as u64, 1) as i64, -1);
        assert_eq!(bin(Bin::Min, Ty::U32, (-1i32) as u32 as u64, 1), 1);
        assert_eq!(bin(Bin::Div, Ty::S32, (-7i32) as u64, 2) as i64, -3);
        assert_eq!(bin(Bin::Rem, Ty::S32, (-7i32) as u64, 2) as i64, -1);
        assert_eq!(un(Un::Clz, Ty::B32, 1), 31);
        assert_eq!(un(Un::Brev, Ty::B32, 1), 0x8000_0000);
        assert_eq!(un(Un::Popc, Ty::B64, u64::MAX), 64);
        assert_eq!(un(Un::Bfind, Ty::U32, 0x8000_0001), 31);
        assert_eq!(un(Un::BfindShift, Ty::U32, 0x8000_0001), 0);
        assert_eq!(un(Un::Bfind, Ty::U32, 0), 0xffff_ffff);
        assert_eq!(un(Un::BfindShift, Ty::U32, 0), 0xffff_ffff);
        assert_eq!(un(Un::Bfind, Ty::S32, (-1i32) as u32 as u64), 0xffff_ffff);
        assert_eq!(un(Un::Bfind, Ty::S32, (-2i32) as u32 as u64), 0);
        assert_eq!(un(Un::Bfind, Ty::S64, 5), 2);
        assert_eq!(un(Un::BfindShift, Ty::U64, 1), 63);
        assert_eq!(un(Un::Not, Ty::Pred, 1), 0);
    }

    #[test]
    fn funnel_shifts() {
        let (a, b) = (0x89ab_cdef, 0x0123_4567);
        // Left: the high word of b:a << n; right: the low word of b:a >> n.
        assert_eq!(shf(true, false, a, b, 8), 0x2345_6789);
        assert_eq!(shf(false, false, a, b, 8), 0x6789_abcd);
        assert_eq!(shf(true, false, a, b, 0), b);
        assert_eq!(shf(false, false, a, b, 0), a);
        // .wrap takes the amount mod 32, .clamp caps it at 32 (the other word, whole).
        assert_eq!(shf(true, false, a, b, 40), 0x2345_6789);
        assert_eq!(shf(true, true, a, b, 40), a);
        assert_eq!(shf(false, true, a, b, 40), b);
        assert_eq!(shf(false, true, a, b, 32), b);
        // a == b: a rotate.
        for n in 0..32 {
            assert_eq!(shf(true, false, a, a, n), a.rotate_left(n));
            assert_eq!(shf(false, false, a, a, n), a.rotate_right(n));
        }
    }
}
