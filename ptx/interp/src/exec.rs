//! The execution model: one block at a time, each thread with its own program counter.
//!
//! A CUDA block's threads are grouped in warps of 32 consecutive linear thread indices
//! (`x + y*nx + z*nx*ny`). Since Volta (sm_70) each thread has its own program counter
//! ("independent thread scheduling"): threads of a warp may diverge and interleave, and meet
//! only where the program makes them: a block barrier (`bar.sync`), a warp collective
//! (`shfl.sync`, `vote.sync`, `mma.sync`, `ldmatrix`, `bar.warp.sync`), or `exit`.
//!
//! The scheduler mimics exactly that and nothing stronger: it picks a ready thread at
//! random (seeded), runs it for a random number of instructions (1 to `max_slice`) or until
//! it reaches a synchronisation point, and repeats. A thread at a barrier waits until the
//! barrier's count is reached; a thread at a collective waits until every lane of its member
//! mask is at the same instruction, then the lanes execute it together. A kernel whose
//! result depends on the interleaving is racy; running it under several seeds shows it, and
//! the checker reports the race whatever the order.
//!
//! When no thread can move, the scheduler looks at why: a barrier that only exited threads
//! are missing from, or a collective that names exited lanes, is released with a problem
//! report (as the hardware would not hang there); a collective whose lanes wait elsewhere is
//! run for the lanes present, reported as divergent; anything else is a deadlock, an error.

use super::check::Who;
use super::ctx::{self, BlockEnv, Ctx};
use super::error::LaunchError;
use super::inst::{Addr, Reg, Src};
use super::module::Function;
use super::ops;
use super::problem::ProblemKind;
use super::rng::Rng;
use super::types::Space;

/// What an instruction asks of the scheduler.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    Next,
    Jump(u32),
    Exit,
    /// Arrive at block barrier `id`; wait for it when `wait`.
    Barrier {
        id: u32,
        count: Option<u32>,
        wait: bool,
        aligned: bool,
    },
    /// Wait for the lanes of `mask`, then run together.
    Collective {
        mask: u32,
    },
}

/// The lanes of a warp executing a collective together.
pub struct Group<'a, 'g> {
    /// Linear thread indices, in lane order.
    pub threads: &'a [u32],
    regs: &'a mut [u64],
    nregs: usize,
    pub env: &'a mut BlockEnv<'g>,
    pub pc: u32,
}

impl Group<'_, '_> {
    pub fn regs_of(&self, t: u32) -> &[u64] {
        &self.regs[t as usize * self.nregs..(t as usize + 1) * self.nregs]
    }

    pub fn get(&self, t: u32, s: &Src) -> u64 {
        match s {
            Src::Reg(r) => self.regs[t as usize * self.nregs + *r as usize],
            Src::Imm(v) => *v,
            Src::Sreg(sr) => ctx::sreg(&self.env.geo, t, self.env.clock, *sr),
            Src::Symbol(b) => ctx::symbol_addr(&self.env.geo, *b),
        }
    }

    pub fn set(&mut self, t: u32, r: Reg, v: u64) {
        self.regs[t as usize * self.nregs + r as usize] = v;
    }

    pub fn resolve(&self, t: u32, space: Space, a: &Addr) -> (Space, u64) {
        let off = a.offset as u64;
        match a.base {
            super::inst::Base::Reg(r) => {
                (space, self.regs[t as usize * self.nregs + r as usize].wrapping_add(off))
            }
            _ => {
                let b = ctx::symbol_addr(&self.env.geo, a.base);
                let sp = match a.base {
                    super::inst::Base::Param(_) => Space::Param,
                    super::inst::Base::Local(_) => Space::Local,
                    super::inst::Base::Absolute => space,
                    _ => Space::Shared,
                };
                (sp, b.wrapping_add(off))
            }
        }
    }

    /// A read by lane thread `t` (reported to the checker as that thread's access).
    pub fn load(&mut self, t: u32, space: Space, addr: u64, buf: &mut [u8]) {
        let who = Who { thread: t, pc: self.pc };
        let ok = ctx::access(
            self.env,
            who,
            space,
            addr,
            buf.len(),
            super::check::AccessKind::Read,
            &mut |m| buf.copy_from_slice(m),
        );
        if !ok {
            buf.fill(0);
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Status {
    Ready,
    AtBarrier(u32),
    AtCollective { mask: u32 },
    Exited,
}

struct Thread {
    pc: u32,
    status: Status,
    asyncs: ctx::AsyncState,
}

#[derive(Default, Clone)]
struct Barrier {
    /// Threads waiting (`bar.sync`).
    waiting: Vec<u32>,
    /// Every arrival, waiting or not, with its instruction.
    arrivals: Vec<(u32, u32, bool)>,
    expected: u32,
}

/// Tuning and limits of a block run.
#[derive(Clone, Copy, Debug)]
pub struct RunLimits {
    pub max_slice: u32,
    pub instruction_limit: u64,
}

/// One block's threads, registers and barriers.
pub struct BlockRun<'f, 'e, 'g> {
    f: &'f Function,
    env: &'e mut BlockEnv<'g>,
    nregs: usize,
    regs: Vec<u64>,
    /// One bit per register per thread: written yet?
    defined: Vec<u64>,
    words: usize,
    threads: Vec<Thread>,
    ready: Vec<u32>,
    barriers: Vec<Barrier>,
    rng: &'e mut Rng,
    limits: RunLimits,
}

impl<'f, 'e, 'g> BlockRun<'f, 'e, 'g> {
    pub fn new(
        f: &'f Function,
        env: &'e mut BlockEnv<'g>,
        rng: &'e mut Rng,
        limits: RunLimits,
    ) -> Self {
        let n = env.geo.n_threads as usize;
        let nregs = f.n_regs as usize;
        let words = nregs.div_ceil(64).max(1);
        let checking = env.check.enabled;
        BlockRun {
            f,
            nregs,
            regs: vec![0; n * nregs],
            defined: if checking { vec![0; n * words] } else { vec![] },
            words,
            threads: (0..n)
                .map(|_| Thread { pc: 0, status: Status::Ready, asyncs: Default::default() })
                .collect(),
            ready: (0..n as u32).collect(),
            barriers: vec![Barrier::default(); 16],
            env,
            rng,
            limits,
        }
    }

    fn kernel_err(&self, detail: String) -> LaunchError {
        LaunchError::Fault { kernel: self.f.name.clone(), detail }
    }

    /// Runs the block to the end.
    pub fn run(mut self) -> Result<(), LaunchError> {
        loop {
            if self.ready.is_empty() {
                if self.threads.iter().all(|t| t.status == Status::Exited) {
                    return Ok(());
                }
                self.resolve_stuck()?;
                continue;
            }
            let i = self.rng.below(self.ready.len() as u64) as usize;
            let t = self.ready[i];
            let budget = 1 + self.rng.below(self.limits.max_slice as u64) as u32;
            self.run_slice(t, budget)?;
            if self.threads[t as usize].status != Status::Ready {
                self.ready.swap_remove(i);
            }
        }
    }

    fn is_defined(&self, t: u32, r: Reg) -> bool {
        self.defined[t as usize * self.words + (r as usize >> 6)] & (1 << (r & 63)) != 0
    }

    fn mark_defs(&mut self, t: u32, pc: usize) {
        if self.defined.is_empty() {
            return;
        }
        let (d0, d1) = self.f.def_ranges[pc];
        for &r in &self.f.defs[d0 as usize..d1 as usize] {
            self.defined[t as usize * self.words + (r as usize >> 6)] |= 1 << (r & 63);
        }
    }

    fn check_uses(&mut self, t: u32, pc: usize) {
        let (u0, u1) = self.f.use_ranges[pc];
        for i in u0..u1 {
            let r = self.f.uses[i as usize];
            if !self.is_defined(t, r) {
                self.env.check.uninit_register(Who { thread: t, pc: pc as u32 }, r);
            }
        }
    }

    /// Runs thread `t` for up to `budget` instructions, stopping at a synchronisation point.
    fn run_slice(&mut self, t: u32, budget: u32) -> Result<(), LaunchError> {
        let nregs = self.nregs;
        let base = t as usize * nregs;
        let checking = !self.defined.is_empty();
        for _ in 0..budget {
            let pc = self.threads[t as usize].pc as usize;
            let Some(inst) = self.f.insts.get(pc) else {
                // Falling off the end of the body ends the thread, as `ret` would.
                self.exit(t);
                return Ok(());
            };
            self.env.clock += 1;
            if self.env.clock > self.limits.instruction_limit {
                return Err(LaunchError::InstructionLimit {
                    kernel: self.f.name.clone(),
                    limit: self.limits.instruction_limit,
                });
            }
            if let Some(g) = inst.guard {
                if checking && !self.is_defined(t, g.reg) {
                    self.env.check.uninit_register(Who { thread: t, pc: pc as u32 }, g.reg);
                }
                if (self.regs[base + g.reg as usize] & 1 != 0) == g.negate {
                    self.threads[t as usize].pc += 1;
                    continue;
                }
            }
            if checking {
                self.check_uses(t, pc);
            }
            let flow = {
                let th = &mut self.threads[t as usize];
                let mut cx = Ctx {
                    regs: &mut self.regs[base..base + nregs],
                    who: Who { thread: t, pc: pc as u32 },
                    asyncs: &mut th.asyncs,
                    env: self.env,
                };
                ops::exec(&inst.op, &mut cx)
            };
            match flow {
                Flow::Next => {
                    self.mark_defs(t, pc);
                    self.threads[t as usize].pc += 1;
                }
                Flow::Jump(target) => self.threads[t as usize].pc = target,
                Flow::Exit => {
                    self.exit(t);
                    return Ok(());
                }
                Flow::Barrier { id, count, wait, aligned } => {
                    self.arrive(t, pc as u32, id, count, wait, aligned)?;
                    return Ok(());
                }
                Flow::Collective { mask } => {
                    self.threads[t as usize].status = Status::AtCollective { mask };
                    if let Some(members) = self.gather(t, false) {
                        self.run_collective(pc as u32, &members, Some(t));
                    }
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    fn exit(&mut self, t: u32) {
        // Copies still in flight land before the thread is gone.
        let mut st = std::mem::take(&mut self.threads[t as usize].asyncs);
        let g = std::mem::take(&mut st.uncommitted);
        st.groups.push_back(g);
        ops::async_copy::wait(self.env, t, &mut st, 0);
        self.threads[t as usize].status = Status::Exited;
    }

    // ---- block barriers ----

    fn arrive(
        &mut self,
        t: u32,
        pc: u32,
        id: u32,
        count: Option<u32>,
        wait: bool,
        aligned: bool,
    ) -> Result<(), LaunchError> {
        let n = self.env.geo.n_threads;
        let who = Who { thread: t, pc };
        if id >= 16 {
            return Err(self.kernel_err(format!(
                "{}: barrier {id} does not exist (0 to 15)",
                self.env.check.site(who)
            )));
        }
        let expected = count.unwrap_or(n);
        if expected > n
            || expected == 0
            || (count.is_some() && !expected.is_multiple_of(32) && expected != n)
        {
            return Err(self.kernel_err(format!(
                "{}: barrier {id} with a count of {expected} threads in a block of {n} (the count \
                 must be a multiple of 32, at most the block size)",
                self.env.check.site(who)
            )));
        }
        let b = &mut self.barriers[id as usize];
        if b.arrivals.is_empty() {
            b.expected = expected;
        } else if b.expected != expected {
            let first = b.expected;
            self.env.check.report(
                ProblemKind::BarrierDivergence,
                who,
                None,
                format!(
                    "barrier {id} is given a count of {expected} here but {first} by a thread that \
                     arrived earlier"
                ),
            );
        }
        let b = &mut self.barriers[id as usize];
        b.arrivals.push((t, pc, aligned));
        if wait {
            b.waiting.push(t);
            self.threads[t as usize].status = Status::AtBarrier(id);
        } else {
            self.threads[t as usize].pc += 1;
        }
        if b.arrivals.len() as u32 >= b.expected {
            self.complete_barrier(id, Some(t), false);
        }
        Ok(())
    }

    /// Releases barrier `id`. `with_exited`: exited threads count as participants (their
    /// accesses all happened before it), for a barrier released without them.
    fn complete_barrier(&mut self, id: u32, current: Option<u32>, with_exited: bool) {
        let b = std::mem::take(&mut self.barriers[id as usize]);
        // `.aligned`: all threads of a warp must arrive by the same instruction.
        let mut by_warp: std::collections::BTreeMap<u32, (u32, u32, bool)> = Default::default();
        for &(t, pc, aligned) in &b.arrivals {
            match by_warp.get(&(t / 32)) {
                Some(&(t0, pc0, al0)) if pc0 != pc && (aligned || al0) => {
                    let (l0, l1) =
                        (self.f.insts[pc0 as usize].line, self.f.insts[pc as usize].line);
                    self.env.check.report(
                        ProblemKind::BarrierDivergence,
                        Who { thread: t, pc },
                        None,
                        format!(
                            "threads of warp {} reach barrier {id} at different instructions \
                             (lines {l0} and {l1}, e.g. thread {t0} at line {l0}); bar.sync is \
                             .aligned: the whole warp must execute the same one",
                            t / 32
                        ),
                    );
                }
                Some(_) => {}
                None => {
                    by_warp.insert(t / 32, (t, pc, aligned));
                }
            }
        }
        let mut members: Vec<u32> = b.arrivals.iter().map(|a| a.0).collect();
        if with_exited {
            members.extend(
                (0..self.threads.len() as u32)
                    .filter(|&t| self.threads[t as usize].status == Status::Exited),
            );
        }
        self.env.check.barrier(Some(&members));
        for w in b.waiting {
            let th = &mut self.threads[w as usize];
            th.pc += 1;
            th.status = Status::Ready;
            if Some(w) != current {
                self.ready.push(w);
            }
        }
    }

    // ---- warp collectives ----

    /// The lanes of `t`'s collective, if they are all there (or, when `partial`, the lanes
    /// present whatever is missing).
    fn gather(&self, t: u32, partial: bool) -> Option<Vec<u32>> {
        let Status::AtCollective { mask } = self.threads[t as usize].status else { return None };
        let pc = self.threads[t as usize].pc;
        let warp = t / 32;
        let mut members = vec![];
        for lane in 0..32 {
            if mask & (1 << lane) == 0 && lane != t % 32 {
                continue;
            }
            let u = warp * 32 + lane;
            match self.threads.get(u as usize) {
                Some(th) if matches!(th.status, Status::AtCollective { .. }) && th.pc == pc => {
                    members.push(u)
                }
                _ if partial => {}
                _ => return None,
            }
        }
        Some(members)
    }

    fn run_collective(&mut self, pc: u32, members: &[u32], current: Option<u32>) {
        let inst = &self.f.insts[pc as usize];
        // Every lane must be in its own mask, and all must give the same mask.
        let masks: Vec<u32> = members
            .iter()
            .map(|&u| match self.threads[u as usize].status {
                Status::AtCollective { mask } => mask,
                _ => 0,
            })
            .collect();
        for (i, &u) in members.iter().enumerate() {
            if masks[i] & (1 << (u % 32)) == 0 {
                self.env.check.report(
                    ProblemKind::CollectiveMask,
                    Who { thread: u, pc },
                    None,
                    format!(
                        "membermask 0x{:08x} does not contain the executing lane {}",
                        masks[i],
                        u % 32
                    ),
                );
            } else if masks[i] != masks[0] {
                self.env.check.report(
                    ProblemKind::CollectiveMask,
                    Who { thread: u, pc },
                    None,
                    format!(
                        "lanes of one warp give different member masks (0x{:08x} here, 0x{:08x} in \
                         lane {})",
                        masks[i],
                        masks[0],
                        members[0] % 32
                    ),
                );
            }
        }
        {
            let mut g = Group {
                threads: members,
                regs: &mut self.regs,
                nregs: self.nregs,
                env: self.env,
                pc,
            };
            ops::collective(&inst.op, &mut g);
        }
        for &u in members {
            self.mark_defs(u, pc as usize);
            let th = &mut self.threads[u as usize];
            th.pc += 1;
            th.status = Status::Ready;
            if Some(u) != current {
                self.ready.push(u);
            }
        }
    }

    /// Where a missing lane is, for reports.
    fn whereabouts(&self, u: u32) -> String {
        match self.threads.get(u as usize) {
            None => "does not exist (the block is smaller)".into(),
            Some(th) => {
                let at = |pc: u32| {
                    let line = self.f.insts.get(pc as usize).map(|i| i.line).unwrap_or(0);
                    let text = self.f.texts.get(pc as usize).map(|s| s.as_str()).unwrap_or("");
                    format!("line {line} `{text}`")
                };
                match th.status {
                    Status::Exited => "has exited".into(),
                    Status::AtBarrier(id) => format!("waits at barrier {id}, {}", at(th.pc)),
                    Status::AtCollective { .. } => format!("waits at {}", at(th.pc)),
                    Status::Ready => format!("is at {}", at(th.pc)),
                }
            }
        }
    }

    /// No thread is ready: release what the hardware would release, with a report, or fail.
    fn resolve_stuck(&mut self) -> Result<(), LaunchError> {
        let n = self.threads.len() as u32;
        let waiting: Vec<u32> = (0..n)
            .filter(|&t| matches!(self.threads[t as usize].status, Status::AtCollective { .. }))
            .collect();
        // 1. A collective whose missing lanes have all exited (or do not exist).
        for pass in 0..2 {
            for &t in &waiting {
                let Status::AtCollective { mask } = self.threads[t as usize].status else {
                    continue;
                };
                let Some(members) = self.gather(t, true) else { continue };
                let warp = t / 32;
                let missing: Vec<u32> = (0..32)
                    .filter(|l| mask & (1 << l) != 0)
                    .map(|l| warp * 32 + l)
                    .filter(|u| !members.contains(u))
                    .collect();
                let gone = |u: &u32| {
                    self.threads.get(*u as usize).is_none_or(|th| th.status == Status::Exited)
                };
                if pass == 0 && !missing.iter().all(gone) {
                    continue;
                }
                let pc = self.threads[t as usize].pc;
                let (kind, what) = if pass == 0 {
                    (ProblemKind::CollectiveMask, "named in the membermask")
                } else {
                    (ProblemKind::CollectiveDivergence, "not converged with this collective")
                };
                let lanes: Vec<String> = missing
                    .iter()
                    .take(4)
                    .map(|u| format!("lane {} {}", u % 32, self.whereabouts(*u)))
                    .collect();
                let more = if missing.len() > 4 {
                    format!(" and {} more", missing.len() - 4)
                } else {
                    String::new()
                };
                self.env.check.report(
                    kind,
                    Who { thread: t, pc },
                    None,
                    format!(
                        "membermask 0x{mask:08x}: {} {what}{more}; ran with the {} lanes present",
                        lanes.join(", "),
                        members.len()
                    ),
                );
                self.run_collective(pc, &members, None);
                return Ok(());
            }
            if pass == 0 {
                // 2. A barrier that only exited threads are missing from.
                let exited =
                    self.threads.iter().filter(|t| t.status == Status::Exited).count() as u32;
                for id in 0..16u32 {
                    let b = &self.barriers[id as usize];
                    if b.arrivals.is_empty() || b.arrivals.len() as u32 + exited < b.expected {
                        continue;
                    }
                    let (t, pc, _) = b.arrivals[0];
                    let detail = format!(
                        "barrier {id} expects {} threads but only {} arrive: {exited} threads of \
                         the block exited without reaching it (released as the hardware would; a \
                         barrier must be reached by all threads it counts)",
                        b.expected,
                        b.arrivals.len()
                    );
                    self.env.check.report(
                        ProblemKind::BarrierDivergence,
                        Who { thread: t, pc },
                        None,
                        detail,
                    );
                    self.complete_barrier(id, None, true);
                    return Ok(());
                }
            }
        }
        // 3. Nothing can move: a deadlock.
        let mut parts = vec![];
        for id in 0..16u32 {
            let b = &self.barriers[id as usize];
            if let Some(&(t, pc, _)) = b.arrivals.first() {
                let site = self.env.check.site(Who { thread: t, pc });
                parts.push(format!(
                    "{} of {} threads wait at barrier {id} (first: {site})",
                    b.arrivals.len(),
                    b.expected
                ));
            }
        }
        let exited = self.threads.iter().filter(|t| t.status == Status::Exited).count();
        if exited > 0 {
            parts.push(format!("{exited} threads exited"));
        }
        let block = self.env.geo.block;
        Err(LaunchError::Deadlock {
            kernel: self.f.name.clone(),
            detail: format!(
                "block ({},{},{}): {}; no thread can move",
                block[0],
                block[1],
                block[2],
                parts.join("; ")
            ),
        })
    }
}
