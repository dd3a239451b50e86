//! The checker: a separate pass over the execution. The executor tells it what happens
//! (every memory access with its thread and instruction, every register read before a write,
//! every barrier, every asynchronous copy issued and completed, every collective that does
//! not line up) and the checker alone decides what is a problem, keeps the shadow state
//! (which bytes were written, by whom, in which barrier interval) and writes the reports.
//! No instruction's semantics know it exists.
//!
//! Reports are capped per kind, and one instruction reports one problem of each kind (a
//! loop repeating the same bad read says so once); the rest are counted as suppressed. Each
//! report has its kind's level (an error or a note, `problem.rs`); under the strict setting
//! every report is an error.
//!
//! A read of memory never written is held back until the thread uses the value: a plain load
//! reports it when an instruction reads the loaded register (an error), or as a note when
//! the register is overwritten, or its frame or thread ends, first. The executor tells the
//! checker which registers a load wrote ([`Checker::take_uninit`]) and which it reads and
//! writes; every other instruction that reads uninitialised memory reports it at once.

mod race;

use std::collections::{BTreeMap, HashMap, HashSet};

use super::error::Site;
use super::memory::Alloc;
use super::module::{Function, Module};
use super::problem::{Level, Problem, ProblemKind};
use super::types::Space;
pub use race::Shadow;

/// Who performs an event: a thread of the current block (linear index) at an instruction.
#[derive(Clone, Copy, Debug)]
pub struct Who {
    pub thread: u32,
    pub pc: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccessKind {
    Read,
    Write,
    /// A read-modify-write by `atom`/`red`: checked for bounds and initialisation, never a
    /// race (atomics are how threads are meant to share).
    Atomic,
}

/// A read of uninitialised memory not yet reported: its report, waiting for the thread to use
/// (or drop) the value.
#[derive(Clone, Debug)]
pub struct UninitRead {
    pub kind: ProblemKind,
    pub who: Who,
    pub address: u64,
    pub detail: String,
}

pub struct Checker<'f> {
    /// Off: only bounds and alignment are reported (the accesses cannot run without them).
    pub enabled: bool,
    /// Every report is an error.
    pub strict: bool,
    module: &'f Module,
    func: &'f Function,
    grid: [u32; 3],
    block_dim: [u32; 3],
    n_threads: u32,
    block: [u32; 3],
    block_linear: u32,
    cap: usize,
    problems: Vec<Problem>,
    seen: HashSet<(ProblemKind, u32)>,
    listed: HashMap<ProblemKind, usize>,
    suppressed: BTreeMap<ProblemKind, u64>,
    sync: race::SyncState,
    shared: Vec<Shadow>,
    shared_init: Vec<u64>,
    shared_pending: Vec<u8>,
    global: HashMap<u64, Vec<Shadow>>,
    /// Uninitialised reads of the current instruction, not yet reported.
    uninit: Vec<UninitRead>,
    /// Per thread, the `call` instructions of its live frames and the functions they called.
    calls: HashMap<u32, Vec<(u32, u32)>>,
}

fn coords(linear: u32, dim: [u32; 3]) -> [u32; 3] {
    [linear % dim[0], (linear / dim[0]) % dim[1], linear / (dim[0] * dim[1])]
}

impl<'f> Checker<'f> {
    pub fn new(
        module: &'f Module,
        func: &'f Function,
        grid: [u32; 3],
        block_dim: [u32; 3],
        enabled: bool,
        cap: usize,
    ) -> Checker<'f> {
        let n_threads = block_dim.iter().product();
        Checker {
            enabled,
            strict: false,
            module,
            func,
            grid,
            block_dim,
            n_threads,
            block: [0; 3],
            block_linear: 0,
            cap,
            problems: vec![],
            seen: HashSet::new(),
            listed: HashMap::new(),
            suppressed: BTreeMap::new(),
            sync: race::SyncState::new(n_threads),
            shared: vec![],
            shared_init: vec![],
            shared_pending: vec![],
            global: HashMap::new(),
            uninit: vec![],
            calls: HashMap::new(),
        }
    }

    /// A new block starts: its shared memory is fresh (unwritten) and no barrier has passed.
    pub fn begin_block(&mut self, block: [u32; 3], shared_bytes: usize) {
        self.block = block;
        self.block_linear = block[0] + self.grid[0] * (block[1] + self.grid[1] * block[2]);
        self.sync = race::SyncState::new(self.n_threads);
        self.calls.clear();
        if self.enabled {
            self.shared = vec![Shadow::default(); shared_bytes];
            self.shared_init = vec![0; shared_bytes.div_ceil(64)];
            self.shared_pending = vec![0; shared_bytes];
        }
    }

    pub fn site(&self, who: Who) -> Site {
        let pc = who.pc as usize;
        let code = &self.module.code;
        let f = code.func.get(pc).map(|&i| &self.module.functions[i as usize]);
        let in_func = f.filter(|f| f.name != self.func.name);
        let called_from = in_func.and_then(|_| {
            let fi = code.func[pc];
            let (call, callee) = *self.calls.get(&who.thread)?.last()?;
            (callee == fi).then(|| code.insts[call as usize].line)
        });
        Site {
            line: code.insts.get(pc).map(|i| i.line).unwrap_or(self.func.line),
            instruction: code.texts.get(pc).cloned().unwrap_or_default(),
            function: in_func.map(|f| f.name.clone()),
            called_from,
            block: self.block,
            thread: coords(who.thread, self.block_dim),
        }
    }

    /// Thread `thread` entered function `callee` by the `call` at `pc`.
    pub fn enter_call(&mut self, thread: u32, pc: u32, callee: u32) {
        self.calls.entry(thread).or_default().push((pc, callee));
    }

    /// Thread `thread` returned from its innermost call.
    pub fn leave_call(&mut self, thread: u32) {
        if let Some(v) = self.calls.get_mut(&thread) {
            v.pop();
        }
    }

    /// Records a problem (unless this instruction already reported one of this kind, or the
    /// kind is over its cap).
    pub fn report(&mut self, kind: ProblemKind, who: Who, address: Option<u64>, detail: String) {
        if !self.seen.insert((kind, who.pc)) {
            *self.suppressed.entry(kind).or_default() += 1;
            return;
        }
        let n = self.listed.entry(kind).or_default();
        if *n >= self.cap {
            *self.suppressed.entry(kind).or_default() += 1;
            return;
        }
        *n += 1;
        let site = self.site(who);
        let level = if self.strict { Level::Error } else { kind.level() };
        self.problems.push(Problem {
            kind,
            level,
            kernel: self.func.name.clone(),
            site,
            address,
            detail,
        });
    }

    pub fn finish(self) -> (Vec<Problem>, Vec<(ProblemKind, u64)>) {
        (self.problems, self.suppressed.into_iter().collect())
    }

    /// Describes another thread of the launch (by its global id) and where it acted.
    fn other(&self, gtid: u32, pc: u32) -> String {
        let b = gtid / self.n_threads;
        let t = coords(gtid % self.n_threads, self.block_dim);
        let bc = coords(b, self.grid);
        let code = &self.module.code;
        let line = code.insts.get(pc as usize).map(|i| i.line).unwrap_or(0);
        let text = code.texts.get(pc as usize).map(|s| s.as_str()).unwrap_or("");
        let func = match code.func.get(pc as usize) {
            Some(&i) if self.module.functions[i as usize].name != self.func.name => {
                format!(" in {}", self.module.functions[i as usize].name)
            }
            _ => String::new(),
        };
        format!(
            "thread ({},{},{}) of block ({},{},{}) at line {line} `{text}`{func}",
            t[0], t[1], t[2], bc[0], bc[1], bc[2]
        )
    }

    /// A race report: an error, or a note when the conflict is a same-value write.
    fn race(&mut self, kind: ProblemKind, who: Who, addr: u64, c: race::Conflict, write: bool) {
        let other = self.other(c.other, c.other_pc);
        if c.benign {
            self.report(
                ProblemKind::SameValueWrites,
                who,
                Some(addr),
                format!(
                    "this write stores the same bytes as an earlier write by {other}, with \
                     nothing ordering the two: same-value writes, benign under the ISA's memory \
                     model (a {} race otherwise)",
                    if kind == ProblemKind::SharedRace { "shared" } else { "global" }
                ),
            );
            return;
        }
        let what = c.describe(write);
        let tail = if kind == ProblemKind::SharedRace {
            "with no barrier between"
        } else {
            "with nothing ordering the two"
        };
        self.report(kind, who, Some(addr), format!("{what} {other}, {tail}"));
    }

    /// A read of uninitialised memory: held back for the executor to settle (the thread may
    /// never use the value).
    fn uninit_read(&mut self, kind: ProblemKind, who: Who, address: u64, detail: String) {
        self.uninit.push(UninitRead { kind, who, address, detail });
    }

    /// The uninitialised reads the instruction just executed made (the executor ties them to
    /// the registers it loaded, or reports them at once with [`Checker::report_uninit`]).
    pub fn take_uninit(&mut self) -> Vec<UninitRead> {
        std::mem::take(&mut self.uninit)
    }

    pub fn has_uninit(&self) -> bool {
        !self.uninit.is_empty()
    }

    /// Reports a held-back uninitialised read: the value was used (an error of its kind), or
    /// never (a note).
    pub fn report_uninit(&mut self, u: UninitRead, used: bool) {
        if used {
            self.report(u.kind, u.who, Some(u.address), u.detail);
        } else {
            let detail = format!("{}; the value loaded was never used", u.detail);
            self.report(ProblemKind::UninitUnused, u.who, Some(u.address), detail);
        }
    }

    fn gtid(&self, thread: u32) -> u32 {
        self.block_linear * self.n_threads + thread
    }

    // ---- registers ----

    pub fn uninit_register(&mut self, who: Who, reg: u32) {
        if self.enabled {
            let f = self.module.function_at(who.pc);
            let name = f.reg_names.get(reg as usize).cloned().unwrap_or_default();
            self.report(
                ProblemKind::UninitRegister,
                who,
                None,
                format!("register {name} is read before any instruction of this thread wrote it"),
            );
        }
    }

    // ---- bounds and alignment (always on: an access that fails them cannot run) ----

    pub fn out_of_bounds(&mut self, who: Who, space: Space, addr: u64, detail: String) {
        self.report(
            ProblemKind::OutOfBounds,
            who,
            Some(addr),
            format!("{} memory: {detail}", space.name()),
        );
    }

    pub fn misaligned(&mut self, who: Who, space: Space, addr: u64, len: u32) {
        self.report(
            ProblemKind::Misaligned,
            who,
            Some(addr),
            format!(
                "{len}-byte {} access at an address that is not a multiple of {len}",
                space.name()
            ),
        );
    }

    // ---- global memory ----

    /// A global access of `len` bytes at offset `off` of `alloc`, inside its bounds. `same`:
    /// a write that stored the bytes already there.
    pub fn global(
        &mut self,
        who: Who,
        alloc: &mut Alloc,
        off: usize,
        len: usize,
        kind: AccessKind,
        same: bool,
    ) {
        if !self.enabled {
            if kind != AccessKind::Read {
                alloc.mark_init(off, len);
            }
            return;
        }
        let addr = alloc.base + off as u64;
        if kind != AccessKind::Write {
            if let Some(i) = alloc.first_uninit(off, len) {
                let detail = format!(
                    "{len}-byte read of global memory never written since it was allocated \
                     (byte {i} of {})",
                    alloc.describe()
                );
                let addr = alloc.base + i as u64;
                if kind == AccessKind::Read {
                    self.uninit_read(ProblemKind::UninitGlobal, who, addr, detail);
                } else {
                    self.report(ProblemKind::UninitGlobal, who, Some(addr), detail);
                }
            }
        }
        if kind != AccessKind::Read {
            alloc.mark_init(off, len);
        }
        let size = alloc.size() as usize;
        let shadow = self.global.entry(alloc.base).or_insert_with(|| vec![Shadow::default(); size]);
        if kind == AccessKind::Atomic {
            race::atomic_write(&mut shadow[off..off + len]);
            return;
        }
        let me = self.block_linear * self.n_threads + who.thread;
        let write = kind == AccessKind::Write;
        let found = race::access(
            &self.sync,
            &mut shadow[off..off + len],
            me,
            self.n_threads,
            who.pc,
            write,
            same,
        );
        if let Some(c) = found {
            self.race(ProblemKind::GlobalRace, who, addr, c, write);
        }
    }

    // ---- shared memory ----

    /// A shared access of `len` bytes at offset `off`, inside the block's shared memory.
    /// `same`: a write that stored the bytes already there.
    pub fn shared(&mut self, who: Who, off: usize, len: usize, kind: AccessKind, same: bool) {
        if !self.enabled {
            return;
        }
        if let Some(i) = (off..off + len).find(|&i| self.shared_pending[i] > 0) {
            let verb = if kind == AccessKind::Read { "read" } else { "written" };
            self.report(
                ProblemKind::AsyncCopyUnwaited,
                who,
                Some(i as u64),
                format!(
                    "shared byte {verb} while a cp.async into it is still in flight (no \
                     cp.async.wait_group/wait_all completed it)"
                ),
            );
        }
        if kind != AccessKind::Write {
            if let Some(i) =
                (off..off + len).find(|&i| self.shared_init[i >> 6] & (1 << (i & 63)) == 0)
            {
                let detail =
                    format!("{len}-byte read of shared memory that no thread of this block wrote");
                if kind == AccessKind::Read {
                    self.uninit_read(ProblemKind::UninitShared, who, i as u64, detail);
                } else {
                    self.report(ProblemKind::UninitShared, who, Some(i as u64), detail);
                }
            }
        }
        if kind != AccessKind::Read {
            for i in off..off + len {
                self.shared_init[i >> 6] |= 1 << (i & 63);
            }
        }
        if kind == AccessKind::Atomic {
            race::atomic_write(&mut self.shared[off..off + len]);
            return;
        }
        let me = self.gtid(who.thread);
        let write = kind == AccessKind::Write;
        let found = race::access(
            &self.sync,
            &mut self.shared[off..off + len],
            me,
            self.n_threads,
            who.pc,
            write,
            same,
        );
        if let Some(c) = found {
            self.race(ProblemKind::SharedRace, who, off as u64, c, write);
        }
    }

    /// Has a thread of this block written every one of shared bytes `off..off+len`? A query
    /// that changes nothing, for the one instruction family whose meaning depends on it: an
    /// mbarrier operation on bytes never written finds no mbarrier object there, whatever
    /// the bytes happen to hold. `true` when the checker is off (nothing is tracked then).
    pub fn shared_written(&self, off: usize, len: usize) -> bool {
        !self.enabled
            || (off..off + len)
                .all(|i| self.shared_init.get(i >> 6).is_some_and(|w| w & (1 << (i & 63)) != 0))
    }

    /// A `cp.async` into shared bytes `off..off+len` was issued (not yet complete).
    pub fn async_issued(&mut self, off: usize, len: usize) {
        if self.enabled {
            for b in &mut self.shared_pending[off..off + len] {
                *b = b.saturating_add(1);
            }
        }
    }

    /// That copy completed (a wait covered it); the data write follows as a shared write.
    pub fn async_completed(&mut self, off: usize, len: usize) {
        if self.enabled {
            for b in &mut self.shared_pending[off..off + len] {
                *b = b.saturating_sub(1);
            }
        }
    }

    // ---- synchronisation ----

    /// A barrier completed among `members` (linear thread indices; `None`: the whole block).
    pub fn barrier(&mut self, members: Option<&[u32]>) {
        self.sync.barrier(members);
    }
}
