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
//!
//! Half precision: `atom.add.noftz.{f16,bf16,f16x2,bf16x2}` and `red.add.noftz...` add in
//! round-to-nearest-even, keep subnormal inputs and results (`.noftz` is required), and on the
//! packed types add each 16-bit half on its own. `atom.cas.b16` compares and swaps 2 bytes.
//! The vector forms (`.global` only) run one atomic per element, each indivisible on its own
//! (the ISA promises no more): `atom.global.v2/v4.add.f32`, `atom.global.{v2,v4,v8}.{add,min,
//! max}.noftz.{f16,bf16}` and `atom.global.{v2,v4}.{add,min,max}.noftz.{f16x2,bf16x2}` with
//! brace lists `d` and `b` of that many elements, element `i` at `a + i * size`. `min`/`max`
//! on half types ignore a NaN operand (both NaN: canonical NaN) and order -0 below +0, as the
//! `min`/`max` instructions do.

use super::super::ctx::Ctx;
use super::super::exec::Flow;
use super::super::inst::{use_addr, use_src, Addr, Op, Reg, Src};
use super::super::operands::{Mods, Operands};
use super::super::types::{Rnd, Space, Ty};
use super::float::{bin_lane, kind, Bin, Mode};

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
    /// The vector forms' other elements (`d` and `b` from the second on).
    pub vec: Option<Box<AtomVec>>,
}

#[derive(Clone, Debug)]
pub struct AtomVec {
    pub dst: Vec<Reg>,
    pub b: Vec<Src>,
}

pub const OPCODES: &[&str] = &["atom", "red"];

pub fn parse(m: &mut Mods, o: &mut Operands) -> Result<Op, String> {
    let is_red = m.base == "red";
    m.skip_hints();
    let space = m.find(Space::parse).unwrap_or(Space::Generic);
    if !matches!(space, Space::Generic | Space::Global | Space::Shared) {
        return Err(format!("{}.{} is not defined", m.base, space.name()));
    }
    let noftz = m.has("noftz");
    let n_vec = match m.one_of(&["v2", "v4", "v8"]) {
        Some("v2") => 2,
        Some("v4") => 4,
        Some("v8") => 8,
        _ => 1,
    };
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
    let half = matches!(ty, Ty::F16 | Ty::BF16 | Ty::F16x2 | Ty::BF16x2);
    let ok = match (kind, n_vec) {
        (AtomKind::And | AtomKind::Or | AtomKind::Xor, 1) => matches!(ty, Ty::B32 | Ty::B64),
        (AtomKind::Exch, 1) => matches!(ty, Ty::B32 | Ty::B64 | Ty::U32 | Ty::U64 | Ty::S32),
        (AtomKind::Cas, 1) => {
            matches!(ty, Ty::B16 | Ty::B32 | Ty::B64 | Ty::U32 | Ty::U64 | Ty::S32)
        }
        (AtomKind::Add, 1) => half || matches!(ty, Ty::U32 | Ty::S32 | Ty::U64 | Ty::F32 | Ty::F64),
        (AtomKind::Inc | AtomKind::Dec, 1) => ty == Ty::U32,
        (AtomKind::Min | AtomKind::Max, 1) => matches!(ty, Ty::U32 | Ty::S32 | Ty::U64 | Ty::S64),
        (AtomKind::Add, 2 | 4) if ty == Ty::F32 => true,
        (AtomKind::Add | AtomKind::Min | AtomKind::Max, 2 | 4 | 8) => {
            matches!(ty, Ty::F16 | Ty::BF16) || (n_vec < 8 && matches!(ty, Ty::F16x2 | Ty::BF16x2))
        }
        _ => false,
    };
    let vec_name = if n_vec > 1 { format!(".v{n_vec}") } else { String::new() };
    if !ok {
        return Err(format!("{}{vec_name}.{:?}.{} is not supported", m.base, kind, ty.name())
            .to_lowercase());
    }
    if half && !noftz {
        return Err(format!("{}.{:?}.{} requires .noftz", m.base, kind, ty.name()).to_lowercase());
    }
    if n_vec > 1 && space != Space::Global && space != Space::Generic {
        return Err(format!("{}{vec_name} is defined on .global only", m.base));
    }
    if is_red && kind == AtomKind::Cas {
        return Err("red.cas is not defined".into());
    }
    if n_vec > 1 {
        let dst = if is_red {
            vec![]
        } else {
            let d = o.dst_vec(n_vec)?;
            o.comma()?;
            d
        };
        let addr = o.addr()?;
        o.comma()?;
        let b = o.src_vec(n_vec, ty)?;
        let vec = Some(Box::new(AtomVec { dst: dst.clone(), b: b.clone() }));
        return Ok(Op::Atomic(AtomOp {
            kind,
            space,
            ty,
            dst: dst.first().copied(),
            addr,
            b: b[0],
            c: None,
            vec,
        }));
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
    Ok(Op::Atomic(AtomOp { kind, space, ty, dst, addr, b, c, vec: None }))
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
        if let Some(v) = &self.vec {
            v.b.iter().for_each(|s| use_src(s, f));
            v.dst.iter().for_each(|d| f(*d, true));
        }
    }
}

/// Round to nearest even, subnormals kept (`.noftz`).
const NOFTZ_RN: Mode = Mode { rnd: Rnd::Rn, ftz: false, sat: false, nan: false };

/// A half-precision add, min or max of each 16-bit lane of `o` and `b`.
fn half_op(op: Bin, ty: Ty, o: u64, b: u64) -> u64 {
    let (k, n) = kind(ty);
    (0..n).fold(0, |acc, i| {
        let sh = 16 * i;
        let r = bin_lane(op, k, NOFTZ_RN, (o >> sh) & 0xffff, (b >> sh) & 0xffff);
        acc | (r & 0xffff) << sh
    })
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
        (AtomKind::Add, Ty::F16 | Ty::BF16 | Ty::F16x2 | Ty::BF16x2) => half_op(Bin::Add, ty, o, b),
        (AtomKind::Min, Ty::F16 | Ty::BF16 | Ty::F16x2 | Ty::BF16x2) => half_op(Bin::Min, ty, o, b),
        (AtomKind::Max, Ty::F16 | Ty::BF16 | Ty::F16x2 | Ty::BF16x2) => half_op(Bin::Max, ty, o, b),
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
    if let Some(v) = &op.vec {
        let (kind, ty, size) = (op.kind, op.ty, op.ty.bytes() as u64);
        // The vector as a whole is aligned to its size (ISA "Addresses as Operands").
        let total = size * v.b.len() as u64;
        if a % total != 0 {
            cx.env.check.misaligned(cx.who, space, a, total as u32);
        }
        for (i, bs) in v.b.iter().enumerate() {
            let b = cx.get(bs);
            let old = cx.atomic(space, a + i as u64 * size, size as usize, &mut |old| {
                apply(kind, ty, old, b, 0)
            });
            if let Some(d) = v.dst.get(i) {
                cx.set(*d, ty.read(old));
            }
        }
        return Flow::Next;
    }
    let b = cx.get(&op.b);
    let c = op.c.as_ref().map(|c| cx.get(c)).unwrap_or(0);
    let (kind, ty) = (op.kind, op.ty);
    let old = cx.atomic(space, a, ty.bytes() as usize, &mut |old| apply(kind, ty, old, b, c));
    if let Some(d) = op.dst {
        cx.set(d, ty.read(old));
    }
    Flow::Next
}
