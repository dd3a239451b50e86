//! Comparison and selection (PTX ISA, "Comparison and Selection Instructions: setp, selp";
//! "Half Precision Comparison Instructions: setp" on `.f16 .bf16`).
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
}

pub const OPCODES: &[&str] = &["setp", "selp"];

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
    let ty = m.ty()?;
    if matches!(ty, Ty::F16x2 | Ty::BF16x2 | Ty::Pred) {
        return Err(format!("setp.{} is not supported", ty.name()));
    }
    if cmp.is_float_only() && !ty.is_float() {
        return Err("unordered comparisons, num and nan need a float type".into());
    }
    if matches!(cmp, Cmp::Lo | Cmp::Ls | Cmp::Hi | Cmp::Hs) && ty.is_float() {
        return Err("lo/ls/hi/hs compare integers".into());
    }
    let p = o.dst()?;
    let q = if o.eat('|') { Some(o.dst()?) } else { None };
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

pub fn exec(op: &CmpOp, cx: &mut Ctx) -> Flow {
    match op {
        CmpOp::Setp { cmp, ty, ftz, p, q, a, b, combine: comb } => {
            let t = compare(*cmp, *ty, *ftz, cx.get(a), cx.get(b));
            let (pv, qv) = match comb {
                Some((bop, c, neg)) => {
                    let c = cx.pred(*c) ^ neg;
                    (combine(*bop, t, c), combine(*bop, !t, c))
                }
                None => (t, !t),
            };
            cx.set(*p, pv as u64);
            if let Some(q) = q {
                cx.set(*q, qv as u64);
            }
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
