//! Asynchronous copies global -> shared (PTX ISA, "Data Movement and Conversion
//! Instructions: cp.async, cp.async.commit_group, cp.async.wait_group, cp.async.wait_all",
//! and "Parallel Synchronization and Communication Instructions: cp.async.mbarrier.arrive").
//!
//! `cp.async.ca.shared.global [dst], [src], cp-size{, src-size}` (`.cg`: cp-size 16 only)
//! starts copying `cp-size` (4, 8 or 16) bytes; with `src-size` smaller than `cp-size` only
//! that many bytes are read and the rest of the destination is filled with zeros; with an
//! `ignore-src` predicate that is true, nothing is read and all bytes are zero.
//! `cp.async.commit_group` closes the thread's copies issued so far into a group;
//! `cp.async.wait_group N` waits until at most `N` of the thread's groups are pending;
//! `cp.async.wait_all` is `commit_group` then `wait_group 0`. Only then is the data
//! guaranteed to be in shared memory, and only for the issuing thread (other threads need a
//! barrier after the wait).
//!
//! `cp.async.mbarrier.arrive{.noinc}{.shared{::cta}}.b64 [addr]` makes an mbarrier track the
//! thread's copies instead: an arrive-on that fires once all the thread's earlier `cp.async`
//! copies have completed; its semantics are the mbarrier family's (`sync.rs`,
//! [`super::sync::cp_async_arrive`]).
//!
//! The interpreter reads the source when the copy is issued and writes the destination when
//! a wait completes its group (or when the thread exits, or a `cp.async.mbarrier.arrive`
//! completes all its copies), so reading the destination early sees stale data, and the
//! checker reports that read.

use super::super::check::{AccessKind, Who};
use super::super::ctx::{access, AsyncState, BlockEnv, Ctx, PendingCopy};
use super::super::exec::Flow;
use super::super::inst::{use_addr, use_src, Addr, Op, Reg, Src};
use super::super::operands::{Mods, Operands};
use super::super::types::{Space, Ty};

#[derive(Clone, Debug)]
pub enum AsyncOp {
    Copy {
        dst: Addr,
        src: Addr,
        size: u8,
        src_size: Option<Src>,
        ignore: Option<(Reg, bool)>,
    },
    Commit,
    Wait {
        groups: u32,
    },
    WaitAll,
    /// `cp.async.mbarrier.arrive`: the mbarrier object at `addr` (in `space`: generic or
    /// shared) tracks the thread's copies so far.
    MbarrierArrive {
        noinc: bool,
        space: Space,
        addr: Addr,
    },
}

pub const OPCODES: &[&str] = &["cp"];

pub fn parse(m: &mut Mods, o: &mut Operands) -> Result<Op, String> {
    if !m.has("async") {
        return Err("only cp.async is supported".into());
    }
    let op = if m.has("commit_group") {
        AsyncOp::Commit
    } else if m.has("wait_group") {
        AsyncOp::Wait { groups: o.int()? as u32 }
    } else if m.has("wait_all") {
        AsyncOp::WaitAll
    } else if m.has("mbarrier") {
        if !m.has("arrive") {
            return Err("cp.async.mbarrier needs .arrive".into());
        }
        let noinc = m.has("noinc");
        let space = match m.find(Space::parse) {
            None => Space::Generic,
            Some(Space::Shared) => Space::Shared,
            Some(s) => {
                return Err(format!("mbarrier objects live in shared memory, not .{}", s.name()))
            }
        };
        if m.ty()? != Ty::B64 {
            return Err("cp.async.mbarrier.arrive takes .b64".into());
        }
        AsyncOp::MbarrierArrive { noinc, space, addr: o.addr()? }
    } else {
        let cg = m.has("cg");
        let ca = m.has("ca");
        if cg == ca {
            return Err("cp.async needs .ca or .cg".into());
        }
        if m.find(Space::parse) != Some(Space::Shared)
            || m.find(Space::parse) != Some(Space::Global)
        {
            return Err("cp.async copies .shared.global".into());
        }
        m.skip_hints();
        let dst = o.addr()?;
        o.comma()?;
        let src = o.addr()?;
        o.comma()?;
        let size = o.int()?;
        if !matches!(size, 4 | 8 | 16) || (cg && size != 16) {
            return Err(format!("cp.async: cp-size {size} is not allowed (4, 8, 16; .cg only 16)"));
        }
        let (mut src_size, mut ignore) = (None, None);
        if o.eat(',') {
            if o.next_is_pred() {
                ignore = Some(o.pred()?);
            } else {
                src_size = Some(o.src(Ty::U32)?);
            }
        }
        AsyncOp::Copy { dst, src, size: size as u8, src_size, ignore }
    };
    Ok(Op::Async(op))
}

impl AsyncOp {
    pub fn visit_regs(&self, f: &mut dyn FnMut(Reg, bool)) {
        match self {
            AsyncOp::Copy { dst, src, src_size, ignore, .. } => {
                use_addr(dst, f);
                use_addr(src, f);
                if let Some(s) = src_size {
                    use_src(s, f);
                }
                if let Some((p, _)) = ignore {
                    f(*p, false);
                }
            }
            AsyncOp::MbarrierArrive { addr, .. } => use_addr(addr, f),
            AsyncOp::Commit | AsyncOp::Wait { .. } | AsyncOp::WaitAll => {}
        }
    }
}

/// Lands completed copies in shared memory (as writes by the thread that issued them).
pub fn complete(env: &mut BlockEnv, thread: u32, copies: Vec<PendingCopy>) {
    for c in copies {
        let len = c.len as usize;
        env.check.async_completed(c.dst as usize, len);
        let data = c.data;
        access(
            env,
            Who { thread, pc: c.pc },
            Space::Shared,
            c.dst as u64,
            len,
            AccessKind::Write,
            &mut |m| m.copy_from_slice(&data[..len]),
        );
    }
}

/// Completes the oldest groups until at most `keep` are pending.
pub fn wait(env: &mut BlockEnv, thread: u32, st: &mut AsyncState, keep: usize) {
    while st.groups.len() > keep {
        let g = st.groups.pop_front().unwrap_or_default();
        complete(env, thread, g);
    }
}

pub fn exec(op: &AsyncOp, cx: &mut Ctx) -> Flow {
    match op {
        AsyncOp::Copy { dst, src, size, src_size, ignore } => {
            let (_, d) = cx.resolve(Space::Shared, dst);
            let (_, s) = cx.resolve(Space::Global, src);
            let size = *size as usize;
            let n = match (ignore, src_size) {
                (Some((p, neg)), _) if cx.pred(*p) ^ neg => 0,
                (_, Some(ss)) => (cx.get(ss) as usize).min(size),
                _ => size,
            };
            let mut data = [0u8; 16];
            if n > 0 {
                cx.load(Space::Global, s, &mut data[..n]);
                if s % size as u64 != 0 && n < size {
                    cx.env.check.misaligned(cx.who, Space::Global, s, size as u32);
                }
            }
            let shared = cx.env.shared.len() as u64;
            if d.checked_add(size as u64).is_none_or(|e| e > shared) {
                let msg = format!(
                    "cp.async writes {size} bytes at shared offset {d}, but the \
                    block has {shared} bytes of shared memory"
                );
                cx.env.check.out_of_bounds(cx.who, Space::Shared, d, msg);
                return Flow::Next;
            }
            if d % size as u64 != 0 {
                cx.env.check.misaligned(cx.who, Space::Shared, d, size as u32);
            }
            cx.env.check.async_issued(d as usize, size);
            cx.asyncs.uncommitted.push(PendingCopy {
                dst: d as u32,
                data,
                len: size as u8,
                pc: cx.who.pc,
            });
        }
        AsyncOp::Commit => {
            let g = std::mem::take(&mut cx.asyncs.uncommitted);
            cx.asyncs.groups.push_back(g);
        }
        AsyncOp::Wait { groups } => wait(cx.env, cx.who.thread, cx.asyncs, *groups as usize),
        AsyncOp::WaitAll => {
            let g = std::mem::take(&mut cx.asyncs.uncommitted);
            cx.asyncs.groups.push_back(g);
            wait(cx.env, cx.who.thread, cx.asyncs, 0);
        }
        AsyncOp::MbarrierArrive { noinc, space, addr } => {
            super::sync::cp_async_arrive(cx, *space, addr, *noinc)
        }
    }
    Flow::Next
}
