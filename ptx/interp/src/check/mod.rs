//! The checker: a separate pass over the execution. The executor tells it what happens
//! (every memory access with its thread and instruction, every register read before a write,
//! every barrier, every asynchronous copy issued and completed, every collective that does
//! not line up) and the checker alone decides what is a problem, keeps the shadow state
//! (which bytes were written, by whom, in which barrier interval) and writes the reports.
//! No instruction's semantics know it exists.
//!
//! Reports are capped per kind, and one instruction reports one problem of each kind (a
//! loop repeating the same bad read says so once); the rest are counted as suppressed.

mod race;

use std::collections::{BTreeMap, HashMap, HashSet};

use super::error::Site;
use super::memory::Alloc;
use super::module::Function;
use super::problem::{Problem, ProblemKind};
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

pub struct Checker<'f> {
    /// Off: only bounds and alignment are reported (the accesses cannot run without them).
    pub enabled: bool,
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
}

fn coords(linear: u32, dim: [u32; 3]) -> [u32; 3] {
    [linear % dim[0], (linear / dim[0]) % dim[1], linear / (dim[0] * dim[1])]
}

impl<'f> Checker<'f> {
    pub fn new(
        func: &'f Function,
        grid: [u32; 3],
        block_dim: [u32; 3],
        enabled: bool,
        cap: usize,
    ) -> Checker<'f> {
        let n_threads = block_dim.iter().product();
        Checker {
            enabled,
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
        }
    }

    /// A new block starts: its shared memory is fresh (unwritten) and no barrier has passed.
    pub fn begin_block(&mut self, block: [u32; 3], shared_bytes: usize) {
        self.block = block;
        self.block_linear = block[0] + self.grid[0] * (block[1] + self.grid[1] * block[2]);
        self.sync = race::SyncState::new(self.n_threads);
        if self.enabled {
            self.shared = vec![Shadow::default(); shared_bytes];
            self.shared_init = vec![0; shared_bytes.div_ceil(64)];
            self.shared_pending = vec![0; shared_bytes];
        }
    }

    pub fn site(&self, who: Who) -> Site {
        let pc = who.pc as usize;
        Site {
            line: self.func.insts.get(pc).map(|i| i.line).unwrap_or(self.func.line),
            instruction: self.func.texts.get(pc).cloned().unwrap_or_default(),
            block: self.block,
            thread: coords(who.thread, self.block_dim),
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
        self.problems.push(Problem { kind, kernel: self.func.name.clone(), site, address, detail });
    }

    pub fn finish(self) -> (Vec<Problem>, Vec<(ProblemKind, u64)>) {
        (self.problems, self.suppressed.into_iter().collect())
    }

    /// Describes another thread of the launch (by its global id) and where it acted.
    fn other(&self, gtid: u32, pc: u32) -> String {
        let b = gtid / self.n_threads;
        let t = coords(gtid % self.n_threads, self.block_dim);
        let bc = coords(b, self.grid);
        let line = self.func.insts.get(pc as usize).map(|i| i.line).unwrap_or(0);
        let text = self.func.texts.get(pc as usize).map(|s| s.as_str()).unwrap_or("");
        format!(
            "thread ({},{},{}) of block ({},{},{}) at line {line} `{text}`",
            t[0], t[1], t[2], bc[0], bc[1], bc[2]
        )
    }

    fn gtid(&self, thread: u32) -> u32 {
        self.block_linear * self.n_threads + thread
    }

    // ---- registers ----

    pub fn uninit_register(&mut self, who: Who, reg: u32) {
        if self.enabled {
            let name = self.func.reg_names.get(reg as usize).cloned().unwrap_or_default();
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

    /// A global access of `len` bytes at offset `off` of `alloc`, inside its bounds.
    pub fn global(
        &mut self,
        who: Who,
        alloc: &mut Alloc,
        off: usize,
        len: usize,
        kind: AccessKind,
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
                self.report(
                    ProblemKind::UninitGlobal,
                    who,
                    Some(alloc.base + i as u64),
                    format!(
                        "{len}-byte read of global memory never written since it was allocated \
                         (byte {} of the {}-byte allocation at 0x{:x})",
                        i,
                        alloc.size(),
                        alloc.base
                    ),
                );
            }
        }
        if kind != AccessKind::Read {
            alloc.mark_init(off, len);
        }
        if kind == AccessKind::Atomic {
            return;
        }
        let size = alloc.size() as usize;
        let shadow = self.global.entry(alloc.base).or_insert_with(|| vec![Shadow::default(); size]);
        let me = self.block_linear * self.n_threads + who.thread;
        let found = race::access(
            &self.sync,
            &mut shadow[off..off + len],
            me,
            self.n_threads,
            who.pc,
            kind == AccessKind::Write,
        );
        if let Some(c) = found {
            let what = c.describe(kind == AccessKind::Write);
            let other = self.other(c.other, c.other_pc);
            self.report(
                ProblemKind::GlobalRace,
                who,
                Some(addr),
                format!("{what} {other}, with nothing ordering the two"),
            );
        }
    }

    // ---- shared memory ----

    /// A shared access of `len` bytes at offset `off`, inside the block's shared memory.
    pub fn shared(&mut self, who: Who, off: usize, len: usize, kind: AccessKind) {
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
                self.report(
                    ProblemKind::UninitShared,
                    who,
                    Some(i as u64),
                    format!("{len}-byte read of shared memory that no thread of this block wrote"),
                );
            }
        }
        if kind != AccessKind::Read {
            for i in off..off + len {
                self.shared_init[i >> 6] |= 1 << (i & 63);
            }
        }
        if kind == AccessKind::Atomic {
            return;
        }
        let me = self.gtid(who.thread);
        let found = race::access(
            &self.sync,
            &mut self.shared[off..off + len],
            me,
            self.n_threads,
            who.pc,
            kind == AccessKind::Write,
        );
        if let Some(c) = found {
            let what = c.describe(kind == AccessKind::Write);
            let other = self.other(c.other, c.other_pc);
            self.report(
                ProblemKind::SharedRace,
                who,
                Some(off as u64),
                format!("{what} {other}, with no barrier between"),
            );
        }
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
