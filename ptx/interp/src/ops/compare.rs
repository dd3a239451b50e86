//! Comparison and selection (PTX ISA, "Comparison and Selection Instructions: set, setp,
//! selp"; "Half Precision Comparison Instructions: set, setp" on `.f16 .bf16 .f16x2 .bf16x2`).
//!
//! `setp.CmpOp{.BoolOp}.type p{|q}, a, b{, {!}c}`: `p = (a CmpOp b) BoolOp c` and, when `q`
//! is given, `q = !(a CmpOp b) BoolOp c`.
//! * integers: `eq ne` on bits; `lt le gt ge` signed for `.sN`, unsigned for `.uN`/`.bN`;
//!   `lo ls hi hs` unsigned always.
//! * floats: `eq ne lt le gt ge` are *ordered*: false when either operand is NaN (so
//!   `ne` with a NaN is false); `equ neu ltu leu gtu geu` are *unordered*: true when either is
//!   NaN; `num` is true when neither is NaN, `nan` when either is. `.ftz` flushes subnormal
//!   inputs.
//!
//! On `.f16x2 .bf16x2` each 16-bit half is compared on its own: `p` takes the lower halves'
//! result, `q` the upper halves' (each combined with `c`), so `q` is no complement there.
//!
//! `set.CmpOp{.BoolOp}{.ftz}.dtype.stype d, a, b{, {!}c}` is `setp` writing a value:
//! `r = (a CmpOp b) BoolOp c`, and `d` is `r ? one : 0`, where *one* is 1.0 for a float
//! `dtype` (`.f32`, `.f16`, `.bf16`) and all bits set for an integer one (`0xffffffff` for
//! `.u32 .s32`, `0xffff` for `.u16 .s16`). With a packed `stype` (`.f16x2 .bf16x2`) each half
//! gets its own result: 1.0 in the half's format for a packed `dtype`, `0xffff` for `.u32
//! .s32`.
//!
//! `selp.type d, a, b, c`: `d = c ? a : b`.

use super::super::ctx::Ctx;
use super::super::exec::Flow;
use super::super::inst::{use_src, Op, Reg, Src};
use super::super::operands::{Mods, Operands};
use super::super::types::Ty;
use super::float::{decode, kind};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Lo,
    Ls,
    Hi,
    Hs,
    Equ,
    Neu,
    Ltu,
    Leu,
    Gtu,
    Geu,
    Num,
    Nan,
}

impl Cmp {
    fn parse(s: &str) -> Option<Cmp> {
        Some(match s {
            "eq" => Cmp::Eq,
            "ne" => Cmp::Ne,
            "lt" => Cmp::Lt,
            "le" => Cmp::Le,
            "gt" => Cmp::Gt,
            "ge" => Cmp::Ge,
            "lo" => Cmp::Lo,
            "ls" => Cmp::Ls,
            "hi" => Cmp::Hi,
            "hs" => Cmp::Hs,
            "equ" => Cmp::Equ,
            "neu" => Cmp::Neu,
            "ltu" => Cmp::Ltu,
            "leu" => Cmp::Leu,
            "gtu" => Cmp::Gtu,
            "geu" => Cmp::Geu,
            "num" => Cmp::Num,
            "nan" => Cmp::Nan,
            _ => return None,
        })
    }

    fn is_float_only(self) -> bool {
        matches!(
            self,
            Cmp::Equ | Cmp::Neu | Cmp::Ltu | Cmp::Leu | Cmp::Gtu | Cmp::Geu | Cmp::Num | Cmp::Nan
        )
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BoolOp {
    And,
    Or,
    Xor,
}

#[derive(Clone, Debug)]
pub enum CmpOp {
    Setp {
        cmp: Cmp,
        ty: Ty,
        ftz: bool,
        p: Reg,
        q: Option<Reg>,
        a: Src,
        b: Src,
        combine: Option<(BoolOp, Reg, bool)>,
    },
    Selp {
        dst: Reg,
        a: Src,
        b: Src,
        c: Reg,
    },
    Set {
        cmp: Cmp,
        dty: Ty,
        sty: Ty,
        ftz: bool,
        dst: Reg,
        a: Src,
        b: Src,
        combine: Option<(BoolOp, Reg, bool)>,
    },
}

pub const OPCODES: &[&str] = &["setp", "selp", "set"];

pub fn parse(m: &mut Mods, o: &mut Operands) -> Result<Op, String> {
    if m.base == "selp" {
        let ty = m.ty()?;
        let dst = o.dst()?;
        o.comma()?;
        let a = o.src(ty)?;
        o.comma()?;
        let b = o.src(ty)?;
        o.comma()?;
        let c = o.dst()?;
        return Ok(Op::Cmp(CmpOp::Selp { dst, a, b, c }));
    }
    let cmp = m.find(Cmp::parse).ok_or("setp: missing comparison")?;
    let bop = match m.one_of(&["and", "or", "xor"]) {
        Some("and") => Some(BoolOp::And),
        Some("or") => Some(BoolOp::Or),
        Some(_) => Some(BoolOp::Xor),
        None => None,
    };
    let ftz = m.has("ftz");
    let tys = m.tys();
    let (dty, ty) = match (m.base, &tys[..]) {
        ("setp", [t]) => (Ty::Pred, *t),
        ("set", [d, s]) => (*d, *s),
        ("setp", _) => return Err("setp takes one type".into()),
        _ => return Err("set takes a destination and a source type".into()),
    };
    if ty == Ty::Pred || ty.bits() > 64 {
        return Err(format!("{}.{} is not defined", m.base, ty.name()));
    }
    if cmp.is_float_only() && !ty.is_float() {
        return Err("unordered comparisons, num and nan need a float type".into());
    }
    if matches!(cmp, Cmp::Lo | Cmp::Ls | Cmp::Hi | Cmp::Hs) && ty.is_float() {
        return Err("lo/ls/hi/hs compare integers".into());
    }
    let packed = matches!(ty, Ty::F16x2 | Ty::BF16x2);
    let dst_ok = match dty {
        Ty::Pred => true,
        Ty::U32 | Ty::S32 => true,
        Ty::F32 => !packed,
        Ty::U16 | Ty::S16 | Ty::F16 | Ty::BF16 => !packed,
        Ty::F16x2 => ty == Ty::F16x2,
        Ty::BF16x2 => ty == Ty::BF16x2,
        _ => false,
    };
    if !dst_ok {
        return Err(format!("set.{}.{} is not defined", dty.name(), ty.name()));
    }
    let p = o.dst()?;
    let q = if dty == Ty::Pred && o.eat('|') { Some(o.dst()?) } else { None };
    o.comma()?;
    let a = o.src(ty)?;
    o.comma()?;
    let b = o.src(ty)?;
    let combine = match bop {
        Some(op) => {
            o.comma()?;
            let (c, neg) = o.pred()?;
            Some((op, c, neg))
        }
        None => None,
    };
    if dty != Ty::Pred {
        return Ok(Op::Cmp(CmpOp::Set { cmp, dty, sty: ty, ftz, dst: p, a, b, combine }));
    }
    Ok(Op::Cmp(CmpOp::Setp { cmp, ty, ftz, p, q, a, b, combine }))
}

impl CmpOp {
    pub fn visit_regs(&self, f: &mut dyn FnMut(Reg, bool)) {
        match self {
            CmpOp::Setp { p, q, a, b, combine, .. } => {
                use_src(a, f);
                use_src(b, f);
                if let Some((_, c, _)) = combine {
                    f(*c, false);
                }
                f(*p, true);
                if let Some(q) = q {
                    f(*q, true);
                }
            }
            CmpOp::Selp { dst, a, b, c } => {
                use_src(a, f);
                use_src(b, f);
                f(*c, false);
                f(*dst, true);
            }
            CmpOp::Set { dst, a, b, combine, .. } => {
                use_src(a, f);
                use_src(b, f);
                if let Some((_, c, _)) = combine {
                    f(*c, false);
                }
                f(*dst, true);
            }
        }
    }
}

/// The comparison `a cmp b` on values of `ty`.
pub fn compare(cmp: Cmp, ty: Ty, ftz: bool, a: u64, b: u64) -> bool {
    if ty.is_float() {
        let k = kind(ty).0;
        let (x, y) = (decode(k, a, ftz), decode(k, b, ftz));
        let unordered = x.is_nan() || y.is_nan();
        return match cmp {
            Cmp::Eq => x == y,
            Cmp::Ne => !unordered && x != y,
            Cmp::Lt => x < y,
            Cmp::Le => x <= y,
            Cmp::Gt => x > y,
            Cmp::Ge => x >= y,
            Cmp::Equ => unordered || x == y,
            Cmp::Neu => x != y,
            Cmp::Ltu => unordered || x < y,
            Cmp::Leu => unordered || x <= y,
            Cmp::Gtu => unordered || x > y,
            Cmp::Geu => unordered || x >= y,
            Cmp::Num => !unordered,
            Cmp::Nan => unordered,
            Cmp::Lo | Cmp::Ls | Cmp::Hi | Cmp::Hs => false,
        };
    }
    let (a, b) = (ty.read(a), ty.read(b));
    let (sa, sb) = (a as i64, b as i64);
    let signed = ty.is_signed();
    match cmp {
        Cmp::Eq => a == b,
        Cmp::Ne => a != b,
        Cmp::Lt if signed => sa < sb,
        Cmp::Le if signed => sa <= sb,
        Cmp::Gt if signed => sa > sb,
        Cmp::Ge if signed => sa >= sb,
        Cmp::Lt | Cmp::Lo => a < b,
        Cmp::Le | Cmp::Ls => a <= b,
        Cmp::Gt | Cmp::Hi => a > b,
        Cmp::Ge | Cmp::Hs => a >= b,
        Cmp::Equ | Cmp::Neu | Cmp::Ltu | Cmp::Leu | Cmp::Gtu | Cmp::Geu | Cmp::Num | Cmp::Nan => {
            false
        }
    }
}

fn combine(op: BoolOp, x: bool, c: bool) -> bool {
    match op {
        BoolOp::And => x && c,
        BoolOp::Or => x || c,
        BoolOp::Xor => x ^ c,
    }
}

/// The halves of a packed `.f16x2`/`.bf16x2` comparison (lower, upper), as scalar type.
fn halves(ty: Ty, a: u64) -> (Ty, u64, u64) {
    let half = if ty == Ty::F16x2 { Ty::F16 } else { Ty::BF16 };
    (half, a & 0xffff, (a >> 16) & 0xffff)
}

/// `set`'s value for a true result in `dty`: 1.0, or all bits.
fn set_true(dty: Ty) -> u64 {
    match dty {
        Ty::F32 => 1f32.to_bits() as u64,
        Ty::F16 | Ty::F16x2 => 0x3c00,
        Ty::BF16 | Ty::BF16x2 => 0x3f80,
        t => t.mask(),
    }
}

pub fn exec(op: &CmpOp, cx: &mut Ctx) -> Flow {
    let comb = |cx: &Ctx, c: &Option<(BoolOp, Reg, bool)>, t: bool| match c {
        Some((bop, c, neg)) => combine(*bop, t, cx.pred(*c) ^ neg),
        None => t,
    };
    match op {
        CmpOp::Setp { cmp, ty, ftz, p, q, a, b, combine: c } => {
            let (x, y) = (cx.get(a), cx.get(b));
            let (pv, qv) = if matches!(ty, Ty::F16x2 | Ty::BF16x2) {
                let ((h, xl, xh), (_, yl, yh)) = (halves(*ty, x), halves(*ty, y));
                let lo = compare(*cmp, h, *ftz, xl, yl);
                let hi = compare(*cmp, h, *ftz, xh, yh);
                (comb(cx, c, lo), comb(cx, c, hi))
            } else {
                let t = compare(*cmp, *ty, *ftz, x, y);
                (comb(cx, c, t), comb(cx, c, !t))
            };
            cx.set(*p, pv as u64);
            if let Some(q) = q {
                cx.set(*q, qv as u64);
            }
        }
        CmpOp::Set { cmp, dty, sty, ftz, dst, a, b, combine: c } => {
            let (x, y) = (cx.get(a), cx.get(b));
            let v = if matches!(sty, Ty::F16x2 | Ty::BF16x2) {
                let ((h, xl, xh), (_, yl, yh)) = (halves(*sty, x), halves(*sty, y));
                let one = if dty.is_float() { set_true(*dty) } else { 0xffff };
                let lo = comb(cx, c, compare(*cmp, h, *ftz, xl, yl));
                let hi = comb(cx, c, compare(*cmp, h, *ftz, xh, yh));
                (if hi { one << 16 } else { 0 }) | if lo { one } else { 0 }
            } else if comb(cx, c, compare(*cmp, *sty, *ftz, x, y)) {
                set_true(*dty)
            } else {
                0
            };
            cx.set(*dst, v);
        }
        CmpOp::Selp { dst, a, b, c } => {
            let v = if cx.pred(*c) { cx.get(a) } else { cx.get(b) };
            cx.set(*dst, v);
        }
    }
    Flow::Next
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordered_unordered_signed_unsigned() {
        let nan = f32::NAN.to_bits() as u64;
        let one = 1f32.to_bits() as u64;
        assert!(!compare(Cmp::Ne, Ty::F32, false, nan, one));
        assert!(compare(Cmp::Neu, Ty::F32, false, nan, one));
        assert!(!compare(Cmp::Lt, Ty::F32, false, nan, one));
        assert!(compare(Cmp::Ltu, Ty::F32, false, nan, one));
        assert!(compare(Cmp::Nan, Ty::F32, false, one, nan));
        assert!(!compare(Cmp::Num, Ty::F32, false, one, nan));
        assert!(compare(Cmp::Eq, Ty::F32, false, 0, 0x8000_0000), "+0 == -0");
        let m1 = (-1i32) as u32 as u64;
        assert!(compare(Cmp::Lt, Ty::S32, false, m1, 1));
        assert!(!compare(Cmp::Lt, Ty::U32, false, m1, 1));
        assert!(compare(Cmp::Hi, Ty::S32, false, m1, 1), "hi is unsigned even on .s32");
        assert!(compare(Cmp::Eq, Ty::F32, true, 1, 0), ".ftz: a subnormal equals zero");
    }
}
