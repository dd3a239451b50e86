//! Atomic read-modify-write (PTX ISA, "Parallel Synchronization and Communication
//! Instructions: atom, red").
//!
//! `atom{.sem}{.scope}{.space}.op.type d, [a], b{, c}` reads the old value at `a`, writes
//! `op(old, b)` and returns the old value in `d`; `red` does the same without `d`. Operations:
//! `and or xor` (`.b32 .b64`), `exch` (`.b32 .b64`), `cas` (write `c` if `old == b`), `add`
//! (`.u32 .s32 .u64 .f32 .f64`), `inc` (`old >= b ? 0 : old + 1`) and `dec`
//! (`old == 0 || old > b ? b : old - 1`) on `.u32`, `min max` (`.u32 .s32 .u64 .s64`).
//! `atom.add.f32` rounds to nearest even and does not flush subnormals on sm_90. The interpreter
//! runs one thread at a time, so every atomic is trivially indivisible; memory order and scope
//! qualifiers are accepted and change nothing.

use super::super::ctx::Ctx;
use super::super::exec::Flow;
use super::super::inst::{use_addr, use_src, Addr, Op, Reg, Src};
use super::super::operands::{Mods, Operands};
use super::super::types::{Space, Ty};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AtomKind {
    And,
    Or,
    Xor,
    Exch,
    Cas,
    Add,
    Inc,
    Dec,
    Min,
    Max,
}

#[derive(Clone, Debug)]
pub struct AtomOp {
    pub kind: AtomKind,
    pub space: Space,
    pub ty: Ty,
    /// `None` for `red`.
    pub dst: Option<Reg>,
    pub addr: Addr,
    pub b: Src,
    pub c: Option<Src>,
}

pub const OPCODES: &[&str] = &["atom", "red"];

pub fn parse(m: &mut Mods, o: &mut Operands) -> Result<Op, String> {
    let is_red = m.base == "red";
    m.skip_hints();
    let space = m.find(Space::parse).unwrap_or(Space::Generic);
    if !matches!(space, Space::Generic | Space::Global | Space::Shared) {
        return Err(format!("{}.{} is not defined", m.base, space.name()));
    }
    m.has("noftz");
    let kind =
        match m.one_of(&["and", "or", "xor", "exch", "cas", "add", "inc", "dec", "min", "max"]) {
            Some("and") => AtomKind::And,
            Some("or") => AtomKind::Or,
            Some("xor") => AtomKind::Xor,
            Some("exch") => AtomKind::Exch,
            Some("cas") => AtomKind::Cas,
            Some("add") => AtomKind::Add,
            Some("inc") => AtomKind::Inc,
            Some("dec") => AtomKind::Dec,
            Some("min") => AtomKind::Min,
            Some(_) => AtomKind::Max,
            None => return Err(format!("{}: missing operation", m.base)),
        };
    let ty = m.ty()?;
    let ok = match kind {
        AtomKind::And | AtomKind::Or | AtomKind::Xor => matches!(ty, Ty::B32 | Ty::B64),
        AtomKind::Exch | AtomKind::Cas => {
            matches!(ty, Ty::B32 | Ty::B64 | Ty::U32 | Ty::U64 | Ty::S32)
        }
        AtomKind::Add => matches!(ty, Ty::U32 | Ty::S32 | Ty::U64 | Ty::F32 | Ty::F64),
        AtomKind::Inc | AtomKind::Dec => ty == Ty::U32,
        AtomKind::Min | AtomKind::Max => matches!(ty, Ty::U32 | Ty::S32 | Ty::U64 | Ty::S64),
    };
    if !ok {
        return Err(format!("{}.{:?}.{} is not supported", m.base, kind, ty.name()).to_lowercase());
    }
    if is_red && kind == AtomKind::Cas {
        return Err("red.cas is not defined".into());
    }
    let dst = if is_red {
        None
    } else {
        let d = o.dst()?;
        o.comma()?;
        Some(d)
    };
    let addr = o.addr()?;
    o.comma()?;
    let b = o.src(ty)?;
    let c = if kind == AtomKind::Cas {
        o.comma()?;
        Some(o.src(ty)?)
    } else {
        None
    };
    Ok(Op::Atomic(AtomOp { kind, space, ty, dst, addr, b, c }))
}

impl AtomOp {
    pub fn visit_regs(&self, f: &mut dyn FnMut(Reg, bool)) {
        use_addr(&self.addr, f);
        use_src(&self.b, f);
        if let Some(c) = &self.c {
            use_src(c, f);
        }
        if let Some(d) = self.dst {
            f(d, true);
        }
    }
}

/// The new value an atomic writes, from the old one.
pub fn apply(kind: AtomKind, ty: Ty, old: u64, b: u64, c: u64) -> u64 {
    let (o, b) = (ty.read(old), ty.read(b));
    let r = match (kind, ty) {
        (AtomKind::And, _) => o & b,
        (AtomKind::Or, _) => o | b,
        (AtomKind::Xor, _) => o ^ b,
        (AtomKind::Exch, _) => b,
        (AtomKind::Cas, _) => {
            if o == b {
                c
            } else {
                o
            }
        }
        (AtomKind::Add, Ty::F32) => {
            super::super::float::canon32(f32::from_bits(o as u32) + f32::from_bits(b as u32))
        }
        (AtomKind::Add, Ty::F64) => {
            super::super::float::canon64(f64::from_bits(o) + f64::from_bits(b))
        }
        (AtomKind::Add, _) => o.wrapping_add(b),
        (AtomKind::Inc, _) => {
            if o >= b {
                0
            } else {
                o + 1
            }
        }
        (AtomKind::Dec, _) => {
            if o == 0 || o > b {
                b
            } else {
                o - 1
            }
        }
        (AtomKind::Min, _) if ty.is_signed() => (o as i64).min(b as i64) as u64,
        (AtomKind::Max, _) if ty.is_signed() => (o as i64).max(b as i64) as u64,
        (AtomKind::Min, _) => o.min(b),
        (AtomKind::Max, _) => o.max(b),
    };
    r & ty.mask()
}

pub fn exec(op: &AtomOp, cx: &mut Ctx) -> Flow {
    let (space, a) = cx.resolve(op.space, &op.addr);
    let b = cx.get(&op.b);
    let c = op.c.as_ref().map(|c| cx.get(c)).unwrap_or(0);
    let (kind, ty) = (op.kind, op.ty);
    let old = cx.atomic(space, a, ty.bytes() as usize, &mut |old| apply(kind, ty, old, b, c));
    if let Some(d) = op.dst {
        cx.set(d, ty.read(old));
    }
    Flow::Next
}
