//! Extended-precision integer arithmetic (PTX ISA, "Extended-Precision Integer Arithmetic
//! Instructions": `add.cc`, `addc`, `sub.cc`, `subc`, `mad.cc`, `madc`), which the math
//! library's slow paths use for multi-word products (inline assembly in libdevice).
//!
//! The instructions pass a carry through the condition code register's carry flag `CC.CF`,
//! one per thread; the parser gives each function a hidden register `%cc` for it (the flag is
//! not preserved across calls, so a frame of its own is right). On `.u32 .s32 .u64 .s64`,
//! with `n` the type's width and values as unsigned n-bit numbers:
//! * `add.cc d, a, b`: `d = a + b`; CF = the carry out of bit n-1.
//!   `addc{.cc} d, a, b`: `d = a + b + CF` (carry out only with `.cc`).
//! * `sub.cc d, a, b`: `d = a - b`; CF = the borrow (1 when `a < b`).
//!   `subc{.cc} d, a, b`: `d = a - (b + CF)`, with the borrow out.
//! * `mad{.lo,.hi}.cc d, a, b, c`: `d = (a * b).lo_or_hi + c` (the 2n-bit product, signed
//!   for `.s` types); CF = the carry out of the addition. `madc{.lo,.hi}{.cc}`: plus CF.

use super::super::ctx::Ctx;
use super::super::exec::Flow;
use super::super::inst::{use_src, Op, Reg, Src};
use super::super::operands::{Mods, Operands};
use super::super::types::Ty;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CarryKind {
    Add,
    Sub,
    /// `mad` keeping the low (`false`) or high (`true`) half of the product.
    Mad(bool),
}

#[derive(Clone, Debug)]
pub struct CarryOp {
    pub kind: CarryKind,
    pub ty: Ty,
    pub dst: Reg,
    pub a: Src,
    pub b: Src,
    /// The addend of `mad`.
    pub c: Option<Src>,
    pub carry_in: bool,
    pub carry_out: bool,
    /// The hidden register holding `CC.CF`.
    pub cc: Reg,
}

pub const OPCODES: &[&str] = &["addc", "subc", "madc"];

/// Does this instruction belong here (`addc subc madc`, or `add sub mad` with `.cc`)?
pub fn is_carry(m: &Mods) -> bool {
    OPCODES.contains(&m.base) || (matches!(m.base, "add" | "sub" | "mad") && m.peek("cc"))
}

pub fn parse(m: &mut Mods, o: &mut Operands) -> Result<Op, String> {
    let carry_in = m.base.ends_with('c');
    let carry_out = m.has("cc");
    let kind = match m.base {
        "add" | "addc" => CarryKind::Add,
        "sub" | "subc" => CarryKind::Sub,
        _ => match m.one_of(&["lo", "hi"]) {
            Some("hi") => CarryKind::Mad(true),
            Some(_) => CarryKind::Mad(false),
            None => return Err(format!("{} needs .lo or .hi", m.base)),
        },
    };
    let ty = m.ty()?;
    if !matches!(ty, Ty::U32 | Ty::S32 | Ty::U64 | Ty::S64) {
        return Err(format!("{}.cc: .{} is not an extended-precision type", m.base, ty.name()));
    }
    let dst = o.dst()?;
    o.comma()?;
    let a = o.src(ty)?;
    o.comma()?;
    let b = o.src(ty)?;
    let c = if let CarryKind::Mad(_) = kind {
        o.comma()?;
        Some(o.src(ty)?)
    } else {
        None
    };
    let cc = o.res.carry_flag();
    Ok(Op::Carry(CarryOp { kind, ty, dst, a, b, c, carry_in, carry_out, cc }))
}

impl CarryOp {
    pub fn visit_regs(&self, f: &mut dyn FnMut(Reg, bool)) {
        use_src(&self.a, f);
        use_src(&self.b, f);
        if let Some(c) = &self.c {
            use_src(c, f);
        }
        if self.carry_in {
            f(self.cc, false);
        }
        f(self.dst, true);
        if self.carry_out {
            f(self.cc, true);
        }
    }
}

pub fn exec(op: &CarryOp, cx: &mut Ctx) -> Flow {
    let bits = op.ty.bits();
    let mask = op.ty.mask() as u128;
    let unsigned = |v: u64| (v as u128) & mask;
    let (a, b) = (cx.get(&op.a), cx.get(&op.b));
    let cin = if op.carry_in { (cx.reg(op.cc) & 1) as u128 } else { 0 };
    let (d, cout) = match op.kind {
        CarryKind::Add => {
            let s = unsigned(a) + unsigned(b) + cin;
            (s & mask, s >> bits)
        }
        CarryKind::Sub => {
            let sub = unsigned(b) + cin;
            let borrow = (unsigned(a) < sub) as u128;
            ((unsigned(a) + (borrow << bits) - sub) & mask, borrow)
        }
        CarryKind::Mad(hi) => {
            let p = if op.ty.is_signed() {
                let (x, y) = (op.ty.read(a) as i64 as i128, op.ty.read(b) as i64 as i128);
                (x * y) as u128
            } else {
                unsigned(a) * unsigned(b)
            };
            let part = if hi { (p >> bits) & mask } else { p & mask };
            let c = op.c.as_ref().map(|c| unsigned(cx.get(c))).unwrap_or(0);
            let s = part + c + cin;
            (s & mask, s >> bits)
        }
    };
    cx.set(op.dst, op.ty.read(d as u64));
    if op.carry_out {
        cx.set(op.cc, (cout & 1) as u64);
    }
    Flow::Next
}
