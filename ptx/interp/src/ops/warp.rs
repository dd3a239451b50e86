//! Warp collectives (PTX ISA, "Data Movement and Conversion Instructions: shfl.sync";
//! "Parallel Synchronization and Communication Instructions: vote.sync, redux.sync,
//! activemask").
//!
//! A `.sync` collective makes each thread wait until every lane named in `membermask` has
//! reached the same instruction (with the same mask); then all of them execute it together.
//! The executing lane must be in its own mask. The scheduler gathers the lanes; this file
//! says what they compute once gathered ([`collective`]).
//!
//! `shfl.sync.mode.b32 d{|p}, a, b, c, membermask`: with `lane` the thread's lane,
//! `clamp = c[4:0]`, `segmask = c[12:8]`, `maxLane = (lane & segmask) | (clamp & ~segmask)`,
//! `minLane = lane & segmask`, the source lane `j` is
//! * `.up`:   `lane - b`, valid when `j >= maxLane`
//! * `.down`: `lane + b`, valid when `j <= maxLane`
//! * `.bfly`: `lane ^ b`, valid when `j <= maxLane`
//! * `.idx`:  `minLane | (b[4:0] & ~segmask)`, valid when `j <= maxLane`
//!
//! and `d` is lane `j`'s `a` when valid, the thread's own `a` otherwise; `p` says whether it
//! was valid. Reading a lane that is not taking part is undefined in PTX; here it gives the
//! thread's own `a`.
//!
//! `vote.sync.{all,any,uni}.pred d, {!}a, membermask` and `vote.sync.ballot.b32 d, {!}a,
//! membermask` (bit i set when lane i's predicate is true). `redux.sync.op.type d, a,
//! membermask`: the reduction over the lanes (`add min max` on `.u32/.s32`, `and or xor`
//! on `.b32`).
//!
//! `activemask.b32 d` (ISA "activemask") is no collective: it asks which lanes of
//! the warp are active, executing it together with the thread; exited, inactive and
//! predicated-off lanes give 0. Which lanes run together is the scheduler's choice under
//! independent thread scheduling (CUDA promises no convergence); this interpreter runs every
//! instruction but the `.sync` collectives for one thread at a time, so the lanes executing
//! `activemask` together are the thread alone: `d` is the thread's own lane bit (a subset
//! of what a GPU may give, and one a correct program must handle: `__activemask()` is never a
//! promise that other lanes are there).

use super::super::ctx::Ctx;
use super::super::exec::{Flow, Group};
use super::super::inst::{use_src, Op, Reg, Src};
use super::super::operands::{Mods, Operands};
use super::super::types::Ty;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShflMode {
    Up,
    Down,
    Bfly,
    Idx,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VoteMode {
    All,
    Any,
    Uni,
    Ballot,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReduxOp {
    Add,
    Min,
    Max,
    And,
    Or,
    Xor,
}

#[derive(Clone, Debug)]
pub enum WarpOp {
    Shfl { mode: ShflMode, dst: Reg, p: Option<Reg>, a: Src, b: Src, c: Src, mask: Src },
    Vote { mode: VoteMode, dst: Reg, a: Reg, negate: bool, mask: Src },
    Redux { op: ReduxOp, ty: Ty, dst: Reg, a: Src, mask: Src },
    Activemask { dst: Reg },
}

pub const OPCODES: &[&str] = &["shfl", "vote", "redux", "activemask"];

pub fn parse(m: &mut Mods, o: &mut Operands) -> Result<Op, String> {
    if m.base == "activemask" {
        if m.ty()? != Ty::B32 {
            return Err("activemask takes .b32".into());
        }
        return Ok(Op::Warp(WarpOp::Activemask { dst: o.dst()? }));
    }
    if !m.has("sync") {
        return Err(format!("{} without .sync (deprecated before sm_70) is not supported", m.base));
    }
    let op = match m.base {
        "shfl" => {
            let mode = match m.one_of(&["up", "down", "bfly", "idx"]) {
                Some("up") => ShflMode::Up,
                Some("down") => ShflMode::Down,
                Some("bfly") => ShflMode::Bfly,
                Some(_) => ShflMode::Idx,
                None => return Err("shfl.sync needs .up, .down, .bfly or .idx".into()),
            };
            if m.ty()? != Ty::B32 {
                return Err("shfl.sync takes .b32".into());
            }
            let dst = o.dst()?;
            let p = if o.eat('|') { Some(o.dst()?) } else { None };
            o.comma()?;
            let a = o.src(Ty::B32)?;
            o.comma()?;
            let b = o.src(Ty::B32)?;
            o.comma()?;
            let c = o.src(Ty::B32)?;
            o.comma()?;
            WarpOp::Shfl { mode, dst, p, a, b, c, mask: o.src(Ty::B32)? }
        }
        "vote" => {
            let mode = match m.one_of(&["all", "any", "uni", "ballot"]) {
                Some("all") => VoteMode::All,
                Some("any") => VoteMode::Any,
                Some("uni") => VoteMode::Uni,
                Some(_) => VoteMode::Ballot,
                None => return Err("vote.sync needs .all, .any, .uni or .ballot".into()),
            };
            let ty = m.ty()?;
            if (mode == VoteMode::Ballot) != (ty == Ty::B32)
                || (mode != VoteMode::Ballot && ty != Ty::Pred)
            {
                return Err("vote.sync: .ballot takes .b32, the others .pred".into());
            }
            let dst = o.dst()?;
            o.comma()?;
            let (a, negate) = o.pred()?;
            o.comma()?;
            WarpOp::Vote { mode, dst, a, negate, mask: o.src(Ty::B32)? }
        }
        _ => {
            let op = match m.one_of(&["add", "min", "max", "and", "or", "xor"]) {
                Some("add") => ReduxOp::Add,
                Some("min") => ReduxOp::Min,
                Some("max") => ReduxOp::Max,
                Some("and") => ReduxOp::And,
                Some("or") => ReduxOp::Or,
                Some(_) => ReduxOp::Xor,
                None => return Err("redux.sync needs an operation".into()),
            };
            let ty = m.ty()?;
            if !matches!(ty, Ty::U32 | Ty::S32 | Ty::B32) {
                return Err(format!("redux.sync.{} is not supported", ty.name()));
            }
            let dst = o.dst()?;
            o.comma()?;
            let a = o.src(ty)?;
            o.comma()?;
            WarpOp::Redux { op, ty, dst, a, mask: o.src(Ty::B32)? }
        }
    };
    Ok(Op::Warp(op))
}

impl WarpOp {
    pub fn visit_regs(&self, f: &mut dyn FnMut(Reg, bool)) {
        match self {
            WarpOp::Shfl { dst, p, a, b, c, mask, .. } => {
                for s in [a, b, c, mask] {
                    use_src(s, f);
                }
                f(*dst, true);
                if let Some(p) = p {
                    f(*p, true);
                }
            }
            WarpOp::Vote { dst, a, mask, .. } => {
                f(*a, false);
                use_src(mask, f);
                f(*dst, true);
            }
            WarpOp::Redux { dst, a, mask, .. } => {
                use_src(a, f);
                use_src(mask, f);
                f(*dst, true);
            }
            WarpOp::Activemask { dst } => f(*dst, true),
        }
    }
}

pub fn exec(op: &WarpOp, cx: &mut Ctx) -> Flow {
    let mask = match op {
        WarpOp::Shfl { mask, .. } | WarpOp::Vote { mask, .. } | WarpOp::Redux { mask, .. } => mask,
        WarpOp::Activemask { dst } => {
            cx.set(*dst, 1u64 << (cx.who.thread % 32));
            return Flow::Next;
        }
    };
    Flow::Collective { mask: cx.get(mask) as u32 }
}

/// The source lane of `shfl.sync` for `lane`, and whether it is in range.
pub fn shfl_source(mode: ShflMode, lane: u32, b: u32, c: u32) -> (u32, bool) {
    let clamp = c & 0x1f;
    let seg = (c >> 8) & 0x1f;
    let max_lane = (lane & seg) | (clamp & !seg);
    let min_lane = lane & seg;
    let (j, ok) = match mode {
        ShflMode::Up => {
            let j = lane as i64 - b as i64;
            (j, j >= max_lane as i64)
        }
        ShflMode::Down => {
            let j = lane as i64 + b as i64;
            (j, j <= max_lane as i64)
        }
        ShflMode::Bfly => {
            let j = (lane ^ b) as i64;
            (j, j <= max_lane as i64)
        }
        ShflMode::Idx => {
            let j = (min_lane | (b & 0x1f & !seg)) as i64;
            (j, j <= max_lane as i64)
        }
    };
    if ok {
        (j as u32, true)
    } else {
        (lane, false)
    }
}

/// Executes a gathered warp collective for `g.threads` (lanes of one warp).
pub fn collective(op: &WarpOp, g: &mut Group) {
    let n = g.threads.len();
    match op {
        WarpOp::Shfl { mode, dst, p, a, b, c, .. } => {
            let vals: Vec<u64> = g.threads.iter().map(|&t| g.get(t, a)).collect();
            let mut out = Vec::with_capacity(n);
            for &t in g.threads {
                let (j, ok) = shfl_source(*mode, t % 32, g.get(t, b) as u32, g.get(t, c) as u32);
                let src = g.threads.iter().position(|&u| u % 32 == j);
                let own = g.get(t, a);
                out.push((src.map(|i| vals[i]).unwrap_or(own) & 0xffff_ffff, ok));
            }
            for (i, &t) in g.threads.iter().enumerate() {
                g.set(t, *dst, out[i].0);
                if let Some(p) = p {
                    g.set(t, *p, out[i].1 as u64);
                }
            }
        }
        WarpOp::Vote { mode, dst, a, negate, .. } => {
            let preds: Vec<bool> =
                g.threads.iter().map(|&t| (g.regs_of(t)[*a as usize] & 1 != 0) ^ negate).collect();
            let ballot: u64 = g
                .threads
                .iter()
                .zip(&preds)
                .filter(|(_, p)| **p)
                .map(|(t, _)| 1u64 << (t % 32))
                .sum();
            let v = match mode {
                VoteMode::All => preds.iter().all(|p| *p) as u64,
                VoteMode::Any => preds.iter().any(|p| *p) as u64,
                VoteMode::Uni => (preds.iter().all(|p| *p) || preds.iter().all(|p| !*p)) as u64,
                VoteMode::Ballot => ballot,
            };
            for &t in g.threads {
                g.set(t, *dst, v);
            }
        }
        WarpOp::Redux { op, ty, dst, a, .. } => {
            let vals: Vec<u64> = g.threads.iter().map(|&t| g.get(t, a) & 0xffff_ffff).collect();
            let signed = *ty == Ty::S32;
            let v = vals.iter().copied().reduce(|x, y| match op {
                ReduxOp::Add => x.wrapping_add(y) & 0xffff_ffff,
                ReduxOp::Min if signed => ((x as i32).min(y as i32)) as u32 as u64,
                ReduxOp::Max if signed => ((x as i32).max(y as i32)) as u32 as u64,
                ReduxOp::Min => x.min(y),
                ReduxOp::Max => x.max(y),
                ReduxOp::And => x & y,
                ReduxOp::Or => x | y,
                ReduxOp::Xor => x ^ y,
            });
            for &t in g.threads {
                g.set(t, *dst, ty.read(v.unwrap_or(0)));
            }
        }
        WarpOp::Activemask { .. } => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shfl_lanes_and_clamps() {
        // down by 1 with the usual c = 0x1f: lane 31 has no source and keeps its own.
        assert_eq!(shfl_source(ShflMode::Down, 3, 1, 0x1f), (4, true));
        assert_eq!(shfl_source(ShflMode::Down, 31, 1, 0x1f), (31, false));
        // up with c = 0: lanes below the offset keep their own.
        assert_eq!(shfl_source(ShflMode::Up, 1, 2, 0), (1, false));
        assert_eq!(shfl_source(ShflMode::Up, 5, 2, 0), (3, true));
        // bfly within a 32-lane warp.
        assert_eq!(shfl_source(ShflMode::Bfly, 5, 16, 0x1f), (21, true));
        // idx: broadcast lane 7.
        assert_eq!(shfl_source(ShflMode::Idx, 20, 7, 0x1f), (7, true));
        // Segments of 8 lanes (width 8 as in __shfl_sync(m, v, i, 8): c = ((32-8)<<8) | 0x1f).
        let c = (24 << 8) | 0x1f;
        assert_eq!(shfl_source(ShflMode::Idx, 13, 2, c), (10, true));
        assert_eq!(
            shfl_source(ShflMode::Down, 14, 2, (24 << 8) | 0x7),
            (14, false),
            "past the segment end"
        );
        assert_eq!(shfl_source(ShflMode::Down, 12, 2, (24 << 8) | 0x7), (14, true));
    }
}
