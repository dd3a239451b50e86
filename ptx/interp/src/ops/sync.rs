//! Block and warp synchronisation (PTX ISA, "Parallel Synchronization and Communication
//! Instructions": `bar`/`barrier`, `bar.warp.sync`, `membar`/`fence`, `nanosleep`, and the
//! `mbarrier` family).
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
//! interpreter already does, so they run as no-ops. `nanosleep.u32 t` suspends the thread for
//! between 0 and 2t nanoseconds ("nanosleep"): here for 0, but it yields, so that other
//! threads run before it goes on ([`Flow::Yield`]).
//!
//! # mbarrier (ISA, "Parallel Synchronization and Communication Instructions: mbarrier")
//!
//! An *mbarrier object* is 8 bytes of shared memory, aligned to 8 ("Size and alignment of
//! mbarrier object"), that counts (ISA "Contents of the mbarrier object") its current phase,
//! the arrivals still pending in it, the arrivals expected in each phase (`[0, 2^20 - 1]`) and
//! a transaction count, tx-count (`[-(2^20 - 1), 2^20 - 1]`). Its layout is opaque in the ISA;
//! this interpreter keeps the four fields in the 64 bits themselves ([`Mbar`]), so the object
//! lives, is copied and is overwritten exactly where the program puts it. The operations:
//! * `mbarrier.init [a], count`: phase 0, `count` expected and pending arrivals, tx-count 0
//!   ("mbarrier.init"; `count` in `[1, 2^20 - 1]`).
//! * *arrive-on* `count` ("Arrive-on operation on mbarrier object"): pending -= count. The
//!   *phase completes* when pending arrivals and tx-count are both zero ("Phase completion of
//!   the mbarrier object"): the phase advances, pending becomes the expected count.
//! * `mbarrier.arrive{.expect_tx}{.noComplete}.b64 state, [a]{, count}` ("mbarrier.arrive"):
//!   `.expect_tx` first adds `txCount` to tx-count (an *expect-tx* operation), then arrives
//!   once; otherwise arrives `count` times (default 1). `.noComplete` promises the arrival does
//!   not complete the phase. `state` is an opaque value naming the phase arrived in (`_` for
//!   `.shared::cluster`).
//! * `mbarrier.arrive_drop...` ("mbarrier.arrive_drop"): the same, after lowering the expected
//!   count of every later phase by `count` (a thread leaving the party).
//! * `mbarrier.expect_tx [a], txCount` / `mbarrier.complete_tx [a], txCount`
//!   ("mbarrier.expect_tx", "mbarrier.complete_tx"): tx-count += / -= txCount; a complete-tx
//!   can complete the phase.
//! * `mbarrier.test_wait{.parity}.b64 waitComplete, [a], state|phaseParity` and
//!   `mbarrier.try_wait{.parity}.b64 waitComplete, [a], state|phaseParity{, suspendTimeHint}`
//!   ("mbarrier.test_wait/mbarrier.try_wait"): true when the phase `state` names (or the phase
//!   of parity `phaseParity`, which must be the current or the previous phase) has completed,
//!   that is, when the object's phase parity differs from it. `test_wait` never blocks;
//!   `try_wait` may suspend the thread up to a system-dependent time limit, which the ISA lets
//!   be zero: here both answer at once, and an answer of false yields to the other threads
//!   ([`Flow::Yield`]), so that code that loops on them (as nvcc's does) lets them arrive.
//!   When every thread still running polls twice with nothing happening in between, the
//!   phase can never complete: the scheduler ends the launch with a deadlock (`exec.rs`).
//! * `mbarrier.pending_count.b64 count, state` ("mbarrier.pending_count"): the pending arrivals
//!   that `state` (from an arrive with `.noComplete`) recorded: those of the phase as that
//!   arrive found it, before its own arrivals (what an H100 answers).
//! * `mbarrier.inval [a]` ("mbarrier.inval"): the object is no longer an mbarrier.
//! * `cp.async.mbarrier.arrive{.noinc}.b64 [a]` ("cp.async.mbarrier.arrive") is decoded by the
//!   cp.async family; [`cp_async_arrive`] is its semantics: the thread's copies so far land,
//!   then an arrive-on, whose pending-count increment first (without `.noinc`) nets to zero.
//!
//! Undefined behaviour that the checker reports: any operation but `init` on memory that holds
//! no mbarrier (never written by the block, never initialised, or invalidated: uninitialised
//! shared memory, and a wait on it answers "complete" so that its loop ends), `init` counts out
//! of range, more arrivals than the phase has pending (or a drop below zero expected), a
//! `.noComplete` arrival that completes the phase, a tx-count out of range (mbarrier misuse),
//! and an object outside shared memory (out of bounds). Completing a phase orders the memory
//! accesses before it against those after it, for the race check (a conservative stand-in for
//! the release/acquire pairs of arrive and wait).

use super::super::ctx::{concrete, Ctx};
use super::super::exec::{Flow, Group};
use super::super::inst::{use_addr, use_src, Addr, Op, Reg, Src};
use super::super::operands::{Mods, Operands};
use super::super::problem::ProblemKind;
use super::super::types::{Space, Ty};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MbarOp {
    Init,
    Inval,
    ExpectTx,
    CompleteTx,
    /// `arrive` / `arrive_drop` (`drop`), with `.expect_tx` or `.noComplete`.
    Arrive {
        drop: bool,
        expect_tx: bool,
        no_complete: bool,
    },
    /// `test_wait` / `try_wait` (`try_wait`), on a state or on a phase parity (`parity`).
    Wait {
        parity: bool,
        try_wait: bool,
    },
    /// The arrive-on of `cp.async.mbarrier.arrive` (see [`cp_async_arrive`]).
    AsyncArrive {
        noinc: bool,
    },
}

#[derive(Clone, Debug)]
pub enum SyncOp {
    Bar {
        id: Src,
        count: Option<Src>,
        wait: bool,
        aligned: bool,
    },
    WarpSync {
        mask: Src,
    },
    Fence,
    Nanosleep {
        t: Src,
    },
    /// An mbarrier operation on the object at `addr`: `dst` is the state or waitComplete
    /// result, `a` the count, txCount, state or phaseParity operand, `hint` try_wait's
    /// suspendTimeHint.
    Mbarrier {
        op: MbarOp,
        space: Space,
        addr: Addr,
        dst: Option<Reg>,
        a: Option<Src>,
        hint: Option<Src>,
    },
    PendingCount {
        dst: Reg,
        state: Src,
    },
}

pub const OPCODES: &[&str] = &["bar", "barrier", "membar", "fence", "nanosleep", "mbarrier"];

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
        "nanosleep" => {
            if m.ty()? != Ty::U32 {
                return Err("nanosleep takes .u32".into());
            }
            SyncOp::Nanosleep { t: o.src(Ty::U32)? }
        }
        "mbarrier" => parse_mbarrier(m, o)?,
        _ => {
            m.skip_hints();
            while m.one_of(&["gl", "sc", "proxy", "async", "alias"]).is_some() {}
            m.find(super::super::types::Space::parse);
            SyncOp::Fence
        }
    };
    Ok(Op::Sync(op))
}

/// The mbarrier forms of the ISA (see the file's documentation).
fn parse_mbarrier(m: &mut Mods, o: &mut Operands) -> Result<SyncOp, String> {
    let op = match m.one_of(&[
        "init",
        "inval",
        "expect_tx",
        "complete_tx",
        "arrive",
        "arrive_drop",
        "test_wait",
        "try_wait",
        "pending_count",
    ]) {
        Some("init") => MbarOp::Init,
        Some("inval") => MbarOp::Inval,
        Some("expect_tx") => MbarOp::ExpectTx,
        Some("complete_tx") => MbarOp::CompleteTx,
        Some(w @ ("arrive" | "arrive_drop")) => {
            let expect_tx = m.has("expect_tx");
            let no_complete = m.has("noComplete");
            if expect_tx && no_complete {
                return Err(format!("mbarrier.{w}: .expect_tx and .noComplete do not combine"));
            }
            MbarOp::Arrive { drop: w == "arrive_drop", expect_tx, no_complete }
        }
        Some(w @ ("test_wait" | "try_wait")) => {
            MbarOp::Wait { parity: m.has("parity"), try_wait: w == "try_wait" }
        }
        Some(_) => {
            if m.ty()? != Ty::B64 {
                return Err("mbarrier.pending_count takes .b64".into());
            }
            let dst = o.dst()?;
            o.comma()?;
            return Ok(SyncOp::PendingCount { dst, state: o.src(Ty::B64)? });
        }
        None => return Err("mbarrier needs an operation (init, arrive, try_wait, ...)".into()),
    };
    m.skip_hints();
    // A cluster of one CTA: its shared::cluster window holds only this CTA's shared memory,
    // at the same offsets.
    let cluster = m.has("shared::cluster");
    let space = if cluster {
        Space::Shared
    } else {
        match m.find(Space::parse) {
            None => Space::Generic,
            Some(Space::Shared) => Space::Shared,
            Some(s) => {
                return Err(format!("mbarrier objects live in shared memory, not .{}", s.name()))
            }
        }
    };
    if m.ty()? != Ty::B64 {
        return Err("mbarrier takes .b64".into());
    }
    let (mut dst, mut a, mut hint) = (None, None, None);
    if matches!(op, MbarOp::Arrive { .. } | MbarOp::Wait { .. }) {
        dst = Some(o.dst()?);
        o.comma()?;
    }
    let addr = o.addr()?;
    match op {
        MbarOp::Init | MbarOp::ExpectTx | MbarOp::CompleteTx => {
            o.comma()?;
            a = Some(o.src(Ty::U32)?);
        }
        MbarOp::Inval | MbarOp::AsyncArrive { .. } => {}
        MbarOp::Arrive { expect_tx, no_complete, .. } => {
            if o.eat(',') {
                a = Some(o.src(Ty::U32)?);
            } else if expect_tx || no_complete {
                return Err("mbarrier.arrive with .expect_tx or .noComplete needs a count".into());
            }
        }
        MbarOp::Wait { parity, try_wait } => {
            o.comma()?;
            a = Some(o.src(if parity { Ty::U32 } else { Ty::B64 })?);
            if try_wait && o.eat(',') {
                hint = Some(o.src(Ty::U32)?);
            }
        }
    }
    Ok(SyncOp::Mbarrier { op, space, addr, dst, a, hint })
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
            SyncOp::Nanosleep { t } => use_src(t, f),
            SyncOp::Mbarrier { addr, dst, a, hint, .. } => {
                use_addr(addr, f);
                for s in [a, hint].into_iter().flatten() {
                    use_src(s, f);
                }
                if let Some(d) = dst {
                    f(*d, true);
                }
            }
            SyncOp::PendingCount { dst, state } => {
                use_src(state, f);
                f(*dst, true);
            }
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
        SyncOp::Nanosleep { .. } => Flow::Yield { poll: false },
        SyncOp::Mbarrier { op, space, addr, dst, a, .. } => {
            let (space, at) = cx.resolve(*space, addr);
            let a = a.as_ref().map(|s| cx.get(s)).unwrap_or(1);
            let v = mbarrier(cx, *op, space, at, a);
            if let (Some(v), Some(d)) = (v, dst) {
                cx.set(*d, v);
            }
            match op {
                // Not complete: only another thread can change that.
                MbarOp::Wait { .. } if v == Some(0) => Flow::Yield { poll: true },
                _ => Flow::Next,
            }
        }
        SyncOp::PendingCount { dst, state } => {
            let s = cx.get(state);
            cx.set(*dst, s & Mbar::COUNT_MASK);
            Flow::Next
        }
    }
}

/// `bar.warp.sync` completes: its lanes' memory accesses are ordered.
pub fn collective(op: &SyncOp, g: &mut Group) {
    match op {
        SyncOp::WarpSync { .. } => g.env.check.barrier(Some(g.threads)),
        SyncOp::Bar { .. }
        | SyncOp::Fence
        | SyncOp::Nanosleep { .. }
        | SyncOp::Mbarrier { .. }
        | SyncOp::PendingCount { .. } => {}
    }
}

// ---- mbarrier ----

/// The mbarrier object's four counters, as this interpreter packs them into its 64 bits:
/// expected arrivals in bits 0..20, pending arrivals in 20..40, tx-count (two's complement)
/// in 40..61, a tag `0b01` in 61..63 that marks an initialised object, and the phase parity
/// in bit 63. (The ISA keeps the layout opaque; only these counters are specified.)
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mbar {
    pub phase: bool,
    pub expected: u32,
    pub pending: u32,
    pub tx: i32,
}

/// What one arrive, expect-tx or complete-tx did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// The phase the operation counted in completed.
    pub completed: bool,
    /// Why the operation is undefined behaviour, if it is.
    pub undefined: Option<String>,
}

impl Mbar {
    /// Counts are in `[0, 2^20 - 1]`, tx-count in `[-(2^20 - 1), 2^20 - 1]`.
    pub const MAX_COUNT: u32 = (1 << 20) - 1;
    pub const COUNT_MASK: u64 = (1 << 20) - 1;
    const TAG: u64 = 0b01 << 61;
    const TAG_MASK: u64 = 0b11 << 61;

    /// `mbarrier.init` with `count` (in range: the caller checks).
    pub fn init(count: u32) -> Mbar {
        Mbar { phase: false, expected: count, pending: count, tx: 0 }
    }

    pub fn to_bits(self) -> u64 {
        let tx = (self.tx as i64 as u64) & ((1 << 21) - 1);
        self.expected as u64
            | (self.pending as u64) << 20
            | tx << 40
            | Self::TAG
            | (self.phase as u64) << 63
    }

    /// The object in `bits`, or `None` when they hold no initialised mbarrier (the tag is
    /// missing, or more arrivals pend than any phase expects).
    pub fn from_bits(bits: u64) -> Option<Mbar> {
        if bits & Self::TAG_MASK != Self::TAG {
            return None;
        }
        let tx = (((bits >> 40) & ((1 << 21) - 1)) << 43) as i64 >> 43;
        let m = Mbar {
            phase: bits >> 63 != 0,
            expected: (bits & Self::COUNT_MASK) as u32,
            pending: ((bits >> 20) & Self::COUNT_MASK) as u32,
            tx: tx as i32,
        };
        (m.pending <= m.expected).then_some(m)
    }

    /// The opaque `state` an arrive returns: the phase arrived in (bit 63) and the arrivals
    /// that were pending in it just before this one (bits 0..20, for `mbarrier.pending_count`:
    /// the object as the arrive found it, as an H100's answers show).
    pub fn state(phase: bool, pending: u32) -> u64 {
        (phase as u64) << 63 | pending as u64
    }

    /// Has the phase named by parity `p` completed? (It is the current phase, not yet, or
    /// the one before it, which has.)
    pub fn completed(self, p: bool) -> bool {
        self.phase != p
    }

    fn complete_if_done(&mut self) -> bool {
        if self.pending == 0 && self.tx == 0 {
            self.phase = !self.phase;
            self.pending = self.expected;
            true
        } else {
            false
        }
    }

    /// The expect-tx (`delta > 0`) or complete-tx (`delta < 0`) operation.
    pub fn tx(&mut self, delta: i64, may_complete: bool) -> Outcome {
        let mut out = Outcome::default();
        let t = self.tx as i64 + delta;
        let max = Self::MAX_COUNT as i64;
        if !(-max..=max).contains(&t) {
            out.undefined =
                Some(format!("tx-count {t} is outside its range [-(2^20 - 1), 2^20 - 1]"));
        }
        self.tx = t.clamp(-max, max) as i32;
        if may_complete {
            out.completed = self.complete_if_done();
        }
        out
    }

    /// The arrive-on operation with `count` (after `drop` lowers the expected count), with
    /// `.noComplete` when `no_complete`.
    pub fn arrive(&mut self, count: u32, drop: bool, no_complete: bool) -> Outcome {
        let mut out = Outcome::default();
        if count == 0 || count > Self::MAX_COUNT {
            out.undefined = Some(format!("arrival count {count} is outside [1, 2^20 - 1]"));
        }
        if drop {
            if count > self.expected {
                out.undefined = Some(format!(
                    "arrive_drop lowers the expected arrivals by {count}, but only {} are \
                     expected",
                    self.expected
                ));
            }
            self.expected = self.expected.saturating_sub(count);
        }
        if count > self.pending {
            out.undefined = Some(format!(
                "{count} arrival(s) on a phase with only {} pending (more threads arrive than \
                 mbarrier.init counted, or a thread arrives twice)",
                self.pending
            ));
        }
        self.pending = self.pending.saturating_sub(count);
        if no_complete && self.pending == 0 && self.tx == 0 {
            out.undefined = Some(
                ".noComplete arrival completes the phase (it was the last pending one)".into(),
            );
        }
        out.completed = self.complete_if_done();
        out
    }
}

/// Runs one mbarrier operation for the thread in `cx` on the object at `space:addr`;
/// returns the destination's value (state or waitComplete), if the operation has one. Where
/// there is no object (not in shared memory, or not an mbarrier) it is reported and the
/// answer is 1: a wait gives up instead of spinning on nothing.
fn mbarrier(cx: &mut Ctx, op: MbarOp, space: Space, addr: u64, operand: u64) -> Option<u64> {
    let a = operand as u32;
    let (sp, off) = concrete(space, addr);
    let name = op_name(op);
    if sp != Space::Shared {
        let detail = format!(
            "mbarrier.{name}: the object must be in shared memory, but this address is in {} \
             memory",
            sp.name()
        );
        cx.env.check.out_of_bounds(cx.who, sp, off, detail);
        // No object: a wait gives up.
        return Some(1);
    }
    if op == MbarOp::Init {
        if !(1..=Mbar::MAX_COUNT).contains(&a) {
            misuse(cx, off, format!("mbarrier.init with count {a} (the range is [1, 2^20 - 1])"));
        }
        let bits = Mbar::init(a.clamp(1, Mbar::MAX_COUNT)).to_bits();
        cx.store(Space::Shared, off, &bits.to_le_bytes());
        return None;
    }
    // Peek first (no access yet) so that a missing object is reported as such. Bytes this
    // block never wrote hold no object, whatever they happen to contain (the checker knows
    // which were written; with it off, only the object's tag tells).
    let i = off as usize;
    let Some(b) = cx.env.shared.get(i..i.saturating_add(8)) else {
        // Reports the out-of-bounds access; a wait on it gives up.
        cx.atomic(Space::Shared, off, 8, &mut |old| old);
        return Some(1);
    };
    let bits = u64::from_le_bytes(b.try_into().unwrap_or_default());
    let written = cx.env.check.shared_written(i, 8);
    if !written || Mbar::from_bits(bits).is_none() {
        let what = if written {
            "shared bytes that hold no mbarrier object (never given to mbarrier.init, or \
             invalidated by mbarrier.inval)"
        } else {
            "shared bytes no thread of this block wrote: no mbarrier object (never given to \
             mbarrier.init)"
        };
        cx.env.check.report(
            ProblemKind::UninitShared,
            cx.who,
            Some(off),
            format!("mbarrier.{name} on {what}"),
        );
        // No access (the bytes stay as they were, unwritten), and "complete" as the answer,
        // so that a wait loop on the missing object ends.
        return Some(1);
    }
    let mut result = 0u64;
    let mut outcome = Outcome::default();
    cx.atomic(Space::Shared, off, 8, &mut |old| {
        let Some(mut m) = Mbar::from_bits(old) else { return old };
        match op {
            MbarOp::Init => {}
            MbarOp::Inval => return 0,
            MbarOp::ExpectTx => outcome = m.tx(a as i64, false),
            MbarOp::CompleteTx => outcome = m.tx(-(a as i64), true),
            MbarOp::AsyncArrive { noinc } => {
                // Without .noinc the pending count first goes up by one: no net change.
                m.pending = (m.pending + !noinc as u32).min(Mbar::MAX_COUNT);
                outcome = m.arrive(1, false, false);
            }
            MbarOp::Arrive { drop, expect_tx, no_complete } => {
                let phase = m.phase;
                let mut before = Outcome::default();
                let count = if expect_tx {
                    before = m.tx(a as i64, false);
                    1
                } else {
                    a
                };
                let pending = m.pending;
                outcome = m.arrive(count, drop, no_complete);
                outcome.undefined = outcome.undefined.take().or(before.undefined);
                result = Mbar::state(phase, pending);
            }
            MbarOp::Wait { parity, .. } => {
                let p = if parity { a & 1 != 0 } else { operand >> 63 != 0 };
                result = m.completed(p) as u64;
            }
        }
        m.to_bits()
    });
    finish(cx, off, name, &outcome);
    match op {
        MbarOp::Arrive { .. } | MbarOp::Wait { .. } => Some(result),
        MbarOp::Init
        | MbarOp::Inval
        | MbarOp::ExpectTx
        | MbarOp::CompleteTx
        | MbarOp::AsyncArrive { .. } => None,
    }
}

/// Reports undefined behaviour, and tells the checker of a completed phase.
fn finish(cx: &mut Ctx, off: u64, name: &str, out: &Outcome) {
    if let Some(u) = &out.undefined {
        misuse(cx, off, format!("mbarrier.{name}: {u}"));
    }
    if out.completed {
        cx.env.check.barrier(None);
    }
}

/// Undefined behaviour of an mbarrier's counts.
fn misuse(cx: &mut Ctx, off: u64, detail: String) {
    let who = cx.who;
    cx.env.check.report(ProblemKind::MbarrierMisuse, who, Some(off), detail);
}

fn op_name(op: MbarOp) -> &'static str {
    match op {
        MbarOp::Init => "init",
        MbarOp::Inval => "inval",
        MbarOp::ExpectTx => "expect_tx",
        MbarOp::CompleteTx => "complete_tx",
        MbarOp::Arrive { drop: false, .. } => "arrive",
        MbarOp::Arrive { drop: true, .. } => "arrive_drop",
        MbarOp::Wait { try_wait: false, .. } => "test_wait",
        MbarOp::Wait { try_wait: true, .. } => "try_wait",
        MbarOp::AsyncArrive { .. } => "arrive (cp.async.mbarrier.arrive)",
    }
}

/// `cp.async.mbarrier.arrive{.noinc}{.shared{::cta}}.b64 [addr]` ("cp.async.mbarrier.arrive"):
/// an arrive-on that fires when all the thread's earlier `cp.async` copies have completed.
/// Here they complete now (committed or not: they land in shared memory, and the groups they
/// were in no longer count as pending for `cp.async.wait_group`), then the arrive-on runs.
/// Without `.noinc` the pending count is raised by one first, so the arrival does not count
/// against the phase's expected arrivals.
pub fn cp_async_arrive(cx: &mut Ctx, space: Space, addr: &Addr, noinc: bool) {
    let (space, at) = cx.resolve(space, addr);
    let thread = cx.who.thread;
    let uncommitted = std::mem::take(&mut cx.asyncs.uncommitted);
    super::async_copy::complete(cx.env, thread, uncommitted);
    super::async_copy::wait(cx.env, thread, cx.asyncs, 0);
    mbarrier(cx, MbarOp::AsyncArrive { noinc }, space, at, 1);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mbarrier_bits_round_trip() {
        for m in [
            Mbar::init(1),
            Mbar {
                phase: true,
                expected: Mbar::MAX_COUNT,
                pending: 7,
                tx: -(Mbar::MAX_COUNT as i32),
            },
            Mbar { phase: false, expected: 3, pending: 0, tx: Mbar::MAX_COUNT as i32 },
        ] {
            assert_eq!(Mbar::from_bits(m.to_bits()), Some(m));
        }
        // Zeroed memory, or more pending than expected, is no mbarrier.
        assert_eq!(Mbar::from_bits(0), None);
        let bad = Mbar { phase: false, expected: 2, pending: 3, tx: 0 };
        assert_eq!(Mbar::from_bits(bad.to_bits()), None);
    }

    #[test]
    fn phases_complete_on_arrivals_and_transactions() {
        let mut m = Mbar::init(2);
        assert!(!m.arrive(1, false, false).completed);
        assert!(m.arrive(1, false, false).completed);
        assert_eq!((m.phase, m.pending), (true, 2));
        // Pending arrivals done, bytes outstanding: complete only when they are.
        m.tx(8, false);
        assert!(!m.arrive(2, false, false).completed);
        assert!(!m.tx(-4, true).completed);
        assert!(m.tx(-4, true).completed);
        assert!(!m.phase);
        // A drop lowers the expected count of the phases after.
        let out = m.arrive(1, true, false);
        assert!(!out.completed && out.undefined.is_none());
        assert!(m.arrive(1, false, false).completed);
        assert_eq!(m.pending, 1);
        // Undefined: more than pending, or a .noComplete arrival that completes.
        let mut copy = m;
        assert!(copy.arrive(2, false, false).undefined.is_some());
        assert!(m.arrive(1, false, true).undefined.is_some());
    }
}
