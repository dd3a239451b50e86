//! Block and warp synchronisation (PTX ISA, "Parallel Synchronization and Communication
//! Instructions": `bar`/`barrier`, `bar.warp.sync`, `membar`/`fence`).
//!
//! `bar.sync a{, b}` (the same as `barrier.sync.aligned`) makes the thread wait at barrier
//! `a` (0 to 15) until `b` threads (all threads of the block when `b` is absent) have
//! arrived; `bar.arrive a, b` counts the thread as arrived without waiting (producer side).
//! `.aligned` promises every thread of a warp executes the same barrier instruction; the
//! checker reports warps that do not. Completing a barrier also orders the memory accesses
//! of its participants (before it, against after it). What a barrier that can never
//! complete does is up to the scheduler (`exec.rs`): a deadlock error, or, when only
//! exited threads are missing, a reported problem.
//!
//! `bar.warp.sync mask` waits until every lane in `mask` reaches it and orders their
//! memory accesses; `membar`/`fence` order memory, which a sequentially consistent
//! interpreter already does, so they run as no-ops.

use super::super::ctx::Ctx;
use super::super::exec::{Flow, Group};
use super::super::inst::{use_src, Op, Reg, Src};
use super::super::operands::{Mods, Operands};
use super::super::types::Ty;

#[derive(Clone, Debug)]
pub enum SyncOp {
    Bar { id: Src, count: Option<Src>, wait: bool, aligned: bool },
    WarpSync { mask: Src },
    Fence,
}

pub const OPCODES: &[&str] = &["bar", "barrier", "membar", "fence"];

pub fn parse(m: &mut Mods, o: &mut Operands) -> Result<Op, String> {
    let base = m.base;
    let warp = base == "bar" && m.has("warp");
    let op = match base {
        "bar" if warp => {
            if !m.has("sync") {
                return Err("bar.warp needs .sync".into());
            }
            SyncOp::WarpSync { mask: o.src(Ty::B32)? }
        }
        "bar" | "barrier" => {
            m.has("cta");
            let wait = match m.one_of(&["sync", "arrive", "red"]) {
                Some("sync") => true,
                Some("arrive") => false,
                Some(_) => return Err("bar.red is not supported".into()),
                None if m.base == "bar" => true,
                None => return Err("barrier needs .sync or .arrive".into()),
            };
            let aligned = m.base == "bar" || m.has("aligned");
            let id = o.src(Ty::U32)?;
            let count = if o.eat(',') { Some(o.src(Ty::U32)?) } else { None };
            if !wait && count.is_none() {
                return Err("bar.arrive needs a thread count".into());
            }
            SyncOp::Bar { id, count, wait, aligned }
        }
        _ => {
            m.skip_hints();
            while m.one_of(&["gl", "sc", "proxy", "async", "alias"]).is_some() {}
            m.find(super::super::types::Space::parse);
            SyncOp::Fence
        }
    };
    Ok(Op::Sync(op))
}

impl SyncOp {
    pub fn visit_regs(&self, f: &mut dyn FnMut(Reg, bool)) {
        match self {
            SyncOp::Bar { id, count, .. } => {
                use_src(id, f);
                if let Some(c) = count {
                    use_src(c, f);
                }
            }
            SyncOp::WarpSync { mask } => use_src(mask, f),
            SyncOp::Fence => {}
        }
    }
}

pub fn exec(op: &SyncOp, cx: &mut Ctx) -> Flow {
    match op {
        SyncOp::Bar { id, count, wait, aligned } => Flow::Barrier {
            id: cx.get(id) as u32,
            count: count.as_ref().map(|c| cx.get(c) as u32),
            wait: *wait,
            aligned: *aligned,
        },
        SyncOp::WarpSync { mask } => Flow::Collective { mask: cx.get(mask) as u32 },
        SyncOp::Fence => Flow::Next,
    }
}

/// `bar.warp.sync` completes: its lanes' memory accesses are ordered.
pub fn collective(op: &SyncOp, g: &mut Group) {
    if let SyncOp::WarpSync { .. } = op {
        g.env.check.barrier(Some(g.threads));
    }
}
