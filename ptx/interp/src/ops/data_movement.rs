//! Data movement (PTX ISA, "Data Movement and Conversion Instructions": `mov`, `mov` with
//! vector packing `{a,b}`, `ld`, `ld.global.nc`, `st`, `cvta`). Sections are cited by name:
//! their numbers move between ISA versions. State spaces: `.global .const .shared .local
//! .param` and generic (no space); `mov` of a variable's name gives its address in its
//! space, of a function's name the function's address.
//!
//! A load reads `n * size` bytes (n = 1, 2 or 4 for `.v2`/`.v4`) at an address aligned to the
//! whole vector, little-endian, and writes each element to its register, sign-extended for
//! signed types and zero-extended otherwise (a `.u8` load into a 32-bit register is fine).
//! A store writes the low `size` bytes of each source.

use super::super::ctx::Ctx;
use super::super::exec::Flow;
use super::super::inst::{use_addr, use_src, Addr, Op, Reg, Src};
use super::super::memory::{LOCAL_WINDOW, SHARED_WINDOW};
use super::super::operands::{Mods, Operands};
use super::super::types::{Space, Ty};

#[derive(Clone, Debug)]
pub enum DataOp {
    /// `mov.ty d, a` (a register, literal, special register, or a variable's address).
    Mov {
        dst: Reg,
        src: Src,
    },
    /// `mov.b32 d, {a, b}` / `mov.b64 d, {a, b}` / `{a, b, c, d}`: concatenate, first lowest.
    Pack {
        dst: Reg,
        srcs: [Src; 4],
        n: u8,
        bits: u8,
    },
    /// `mov.b32 {a, b}, s`: split, lowest first.
    Unpack {
        dsts: [Reg; 4],
        n: u8,
        src: Src,
        bits: u8,
    },
    Ld {
        space: Space,
        ty: Ty,
        dsts: [Reg; 4],
        n: u8,
        addr: Addr,
    },
    St {
        space: Space,
        ty: Ty,
        srcs: [Src; 4],
        n: u8,
        addr: Addr,
    },
    /// `cvta.space` (to generic) or `cvta.to.space` (from generic).
    Cvta {
        to: bool,
        space: Space,
        dst: Reg,
        src: Src,
    },
}

pub const OPCODES: &[&str] = &["mov", "ld", "st", "cvta"];

fn vec_len(m: &mut Mods) -> u8 {
    match m.one_of(&["v2", "v4"]) {
        Some("v2") => 2,
        Some("v4") => 4,
        _ => 1,
    }
}

pub fn parse(m: &mut Mods, o: &mut Operands) -> Result<Op, String> {
    let op = match m.base {
        "mov" => {
            let ty = m.ty()?;
            if o.is_punct('{') {
                let n = count_braced(o);
                if !(2..=4).contains(&n) {
                    return Err("mov: a brace list has 2 to 4 entries".into());
                }
                let dsts = o.dst_vec(n)?;
                o.comma()?;
                let src = o.src(ty)?;
                let bits = (ty.bits() / n as u32) as u8;
                DataOp::Unpack { dsts: pad(&dsts, 0), n: n as u8, src, bits }
            } else {
                let dst = o.dst()?;
                o.comma()?;
                if o.is_punct('{') {
                    let n = count_braced(o);
                    if !(2..=4).contains(&n) {
                        return Err("mov: a brace list has 2 to 4 entries".into());
                    }
                    let srcs = o.src_vec(n, Ty::B64)?;
                    let bits = (ty.bits() / n as u32) as u8;
                    DataOp::Pack { dst, srcs: pad(&srcs, Src::Imm(0)), n: n as u8, bits }
                } else {
                    DataOp::Mov { dst, src: o.src(ty)? }
                }
            }
        }
        "ld" | "st" => {
            let space = m.find(Space::parse).unwrap_or(Space::Generic);
            m.has("nc");
            m.skip_hints();
            let n = vec_len(m);
            let ty = m.ty()?;
            if ty == Ty::Pred || ty == Ty::B128 {
                return Err(format!("{}.{} is not supported", m.base, ty.name()));
            }
            if m.base == "ld" {
                let dsts = if n > 1 { o.dst_vec(n as usize)? } else { vec![o.dst()?] };
                o.comma()?;
                let addr = o.addr()?;
                DataOp::Ld { space, ty, dsts: pad(&dsts, 0), n, addr }
            } else {
                let addr = o.addr()?;
                o.comma()?;
                let srcs = if n > 1 { o.src_vec(n as usize, ty)? } else { vec![o.src(ty)?] };
                DataOp::St { space, ty, srcs: pad(&srcs, Src::Imm(0)), n, addr }
            }
        }
        "cvta" => {
            let to = m.has("to");
            let space = m.find(Space::parse).ok_or("cvta: missing state space")?;
            if !matches!(space, Space::Global | Space::Const | Space::Shared | Space::Local) {
                return Err(format!("cvta.{} is not supported", space.name()));
            }
            let ty = m.ty()?;
            if ty.bits() != 64 {
                return Err("cvta: only 64-bit addresses are supported".into());
            }
            let dst = o.dst()?;
            o.comma()?;
            DataOp::Cvta { to, space, dst, src: o.src(ty)? }
        }
        other => return Err(format!("{other} is not a data movement instruction")),
    };
    Ok(Op::Data(op))
}

/// How many comma-separated entries the brace list at the cursor has.
fn count_braced(o: &Operands) -> usize {
    o.braced_len()
}

fn pad<T: Copy>(v: &[T], fill: T) -> [T; 4] {
    let mut a = [fill; 4];
    a[..v.len()].copy_from_slice(v);
    a
}

impl DataOp {
    pub fn visit_regs(&self, f: &mut dyn FnMut(Reg, bool)) {
        match self {
            DataOp::Mov { dst, src } => {
                use_src(src, f);
                f(*dst, true);
            }
            DataOp::Pack { dst, srcs, n, .. } => {
                srcs[..*n as usize].iter().for_each(|s| use_src(s, f));
                f(*dst, true);
            }
            DataOp::Unpack { dsts, n, src, .. } => {
                use_src(src, f);
                dsts[..*n as usize].iter().for_each(|d| f(*d, true));
            }
            DataOp::Ld { dsts, n, addr, .. } => {
                use_addr(addr, f);
                dsts[..*n as usize].iter().for_each(|d| f(*d, true));
            }
            DataOp::St { srcs, n, addr, .. } => {
                use_addr(addr, f);
                srcs[..*n as usize].iter().for_each(|s| use_src(s, f));
            }
            DataOp::Cvta { dst, src, .. } => {
                use_src(src, f);
                f(*dst, true);
            }
        }
    }
}

/// Little-endian bytes to a register value, extended per `ty`.
pub fn from_bytes(ty: Ty, b: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    w[..b.len()].copy_from_slice(b);
    ty.read(u64::from_le_bytes(w))
}

pub fn exec(op: &DataOp, cx: &mut Ctx) -> Flow {
    match op {
        DataOp::Mov { dst, src } => {
            let v = cx.get(src);
            cx.set(*dst, v);
        }
        DataOp::Pack { dst, srcs, n, bits } => {
            let mask = if *bits == 64 { u64::MAX } else { (1u64 << bits) - 1 };
            let mut v = 0u64;
            for (i, s) in srcs[..*n as usize].iter().enumerate() {
                v |= (cx.get(s) & mask) << (i as u32 * *bits as u32);
            }
            cx.set(*dst, v);
        }
        DataOp::Unpack { dsts, n, src, bits } => {
            let mask = if *bits == 64 { u64::MAX } else { (1u64 << bits) - 1 };
            let v = cx.get(src);
            for (i, d) in dsts[..*n as usize].iter().enumerate() {
                cx.set(*d, (v >> (i as u32 * *bits as u32)) & mask);
            }
        }
        DataOp::Ld { space, ty, dsts, n, addr } => {
            let (space, a) = cx.resolve(*space, addr);
            let size = ty.bytes() as usize;
            let mut buf = [0u8; 32];
            let total = size * *n as usize;
            cx.load(space, a, &mut buf[..total]);
            for (i, d) in dsts[..*n as usize].iter().enumerate() {
                cx.set(*d, from_bytes(*ty, &buf[i * size..(i + 1) * size]));
            }
        }
        DataOp::St { space, ty, srcs, n, addr } => {
            let (space, a) = cx.resolve(*space, addr);
            let size = ty.bytes() as usize;
            let mut buf = [0u8; 32];
            for (i, s) in srcs[..*n as usize].iter().enumerate() {
                buf[i * size..(i + 1) * size].copy_from_slice(&cx.get(s).to_le_bytes()[..size]);
            }
            cx.store(space, a, &buf[..size * *n as usize]);
        }
        DataOp::Cvta { to, space, dst, src } => {
            // Global and constant addresses are the same in both spaces; the shared and local
            // windows sit at fixed generic bases (ISA 6.4.1).
            let v = cx.get(src);
            let base = match space {
                Space::Shared => SHARED_WINDOW,
                Space::Local => LOCAL_WINDOW,
                _ => 0,
            };
            cx.set(*dst, if *to { v.wrapping_sub(base) } else { v.wrapping_add(base) });
        }
    }
    Flow::Next
}
