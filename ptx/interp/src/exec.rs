//! The execution model: one block at a time, each thread with its own program counter and
//! its own stack of function frames.
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
//! A `call` pushes a frame (the callee's registers, `.param` and `.local` spaces; see
//! `ops/control.rs` for what passes between the frames) and `ret` pops it; a program counter
//! indexes the whole module's code, so threads in different functions, or in the same
//! function called from different places, are told apart by it alone.
//!
//! Barriers and `exit` (ISA "exit", "bar, barrier"): when threads exit, a barrier for all
//! threads of the block (no thread count) that only exited threads are missing from is
//! released, and the checker notes it ([`ProblemKind::BarrierReleasedByExit`]); a barrier with
//! a thread count is not (exited threads never arrive), so it can deadlock. Under the strict
//! setting the rule is the CUDA programming guide's: a barrier must be reached by every
//! thread of the block, and one that exited threads are missing from is released with a
//! [`ProblemKind::BarrierDivergence`] error, counted or not.
//!
//! When no thread can move, the scheduler looks at why: a barrier as above, or a collective
//! that names exited lanes, is released with a problem report (as the hardware would not hang
//! there); a collective whose lanes wait elsewhere is run for the lanes present, reported as
//! divergent; anything else is a deadlock, an error.
//!
//! Spinning (ISA "mbarrier.test_wait/mbarrier.try_wait", "nanosleep"): a thread that polls for
//! something only another thread can do (an mbarrier wait that answers false) or sleeps
//! (`nanosleep`) yields ([`Flow::Yield`]): its instruction completes and its slice ends, so
//! the others run. The scheduler counts the block's progress, the events another thread could
//! notice (`BlockEnv::progress`: writes and atomics that change global or shared memory,
//! barrier arrivals, collectives, exits). When every thread still running has polled twice with no
//! progress in between, nothing can change what they poll: the phase they wait for can never
//! complete, and the launch ends with a deadlock naming the wait (rather than spinning to the
//! instruction limit). A program that gives up after some number of polls is stopped there
//! too, which is right only in that its wait could never have succeeded.

mod calls;

use super::check::{UninitRead, Who};
use super::ctx::{self, BlockEnv, Ctx, FrameBase};
use super::error::LaunchError;
use super::inst::{Addr, Op, Reg, Src};
use super::module::{Code, Function, Module};
use super::ops;
use super::ops::data_movement::DataOp;
use super::problem::ProblemKind;
use super::rng::Rng;
use super::types::Space;

/// What an instruction asks of the scheduler.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    Next,
    Jump(u32),
    /// End the thread (`exit`).
    Exit,
    /// Return from the current function (`ret`; in a kernel, the same as `exit`).
    Ret,
    /// Call function `func` (an index in the module) with the current instruction's `call`.
    Call {
        func: u32,
    },
    /// An indirect call through an address that is no function's.
    BadCall {
        addr: u64,
    },
    /// `trap`: abort the kernel.
    Trap,
    /// An instruction the interpreter cannot run ([`Op::Unsupported`]).
    Unsupported,
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
    /// Let the other threads run: the instruction completed (the program counter moves on)
    /// and the thread's slice ends. `poll`: it asked whether something only another thread
    /// can do has happened, and it had not (an mbarrier wait that answered false), which
    /// the scheduler counts to find a spin that can never end; `nanosleep` yields without
    /// polling.
    Yield {
        poll: bool,
    },
}

/// The lanes of a warp executing a collective together.
pub struct Group<'a, 'g> {
    /// Linear thread indices, in lane order.
    pub threads: &'a [u32],
    ths: &'a mut [Thread],
    pub env: &'a mut BlockEnv<'g>,
    pub pc: u32,
}

impl Group<'_, '_> {
    /// Thread `t`'s registers (of its current frame).
    pub fn regs_of(&self, t: u32) -> &[u64] {
        &self.ths[t as usize].regs
    }

    pub fn get(&self, t: u32, s: &Src) -> u64 {
        let th = &self.ths[t as usize];
        match s {
            Src::Reg(r) => th.regs[*r as usize],
            Src::Imm(v) => *v,
            Src::Sreg(sr) => ctx::sreg(&self.env.geo, t, self.env.clock, *sr),
            Src::Symbol(b) => ctx::symbol_addr(self.env, th.frame, *b),
        }
    }

    pub fn set(&mut self, t: u32, r: Reg, v: u64) {
        let th = &mut self.ths[t as usize];
        th.regs[r as usize] = v;
    }

    pub fn resolve(&self, t: u32, space: Space, a: &Addr) -> (Space, u64) {
        let th = &self.ths[t as usize];
        ctx::resolve_addr(self.env, th.frame, space, a, |r| th.regs[r as usize])
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

    /// A write by lane thread `t` (reported to the checker as that thread's access).
    pub fn store(&mut self, t: u32, space: Space, addr: u64, data: &[u8]) {
        let who = Who { thread: t, pc: self.pc };
        ctx::access(
            self.env,
            who,
            space,
            addr,
            data.len(),
            super::check::AccessKind::Write,
            &mut |m| m.copy_from_slice(data),
        );
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Status {
    Ready,
    AtBarrier(u32),
    AtCollective { mask: u32 },
    Exited,
}

/// A caller's frame, saved while its callee runs.
struct Saved {
    func: u32,
    /// The `call` instruction (the caller resumes after it).
    call_pc: u32,
    /// The caller's registers and their definition bits.
    regs: Vec<u64>,
    defined: Vec<u64>,
    frame: FrameBase,
    /// The thread's local and parameter stacks' lengths before the call.
    local_top: usize,
    param_top: usize,
}

/// A register loaded from uninitialised memory, whose report waits for its use.
struct Taint {
    depth: usize,
    reg: Reg,
    read: UninitRead,
}

struct Thread {
    pc: u32,
    status: Status,
    asyncs: ctx::AsyncState,
    /// The function running (an index in the module) and its frame.
    func: u32,
    frame: FrameBase,
    /// The current frame's registers, and one bit per register: written yet? (Only when
    /// checking.) The callers' frames wait in `callers`, so that a thread that never calls
    /// has one frame and nothing else, and the executor reaches a register directly.
    regs: Vec<u64>,
    defined: Vec<u64>,
    callers: Vec<Saved>,
    /// Register buffers of returned frames, for the next call to reuse.
    spare: Vec<Vec<u64>>,
    taints: Vec<Taint>,
    /// Polls that found nothing since the block's progress last moved (`poll_epoch`: its
    /// value then), and the last polling instruction.
    polls: u32,
    poll_epoch: u64,
    poll_pc: u32,
}

#[derive(Default, Clone)]
struct Barrier {
    /// Threads waiting (`bar.sync`).
    waiting: Vec<u32>,
    /// Every arrival, waiting or not, with its instruction.
    arrivals: Vec<(u32, u32, bool)>,
    expected: u32,
    /// The arrivals gave a thread count (not "all threads of the block").
    counted: bool,
}

/// Tuning and limits of a block run.
#[derive(Clone, Copy, Debug)]
pub struct RunLimits {
    pub max_slice: u32,
    pub instruction_limit: u64,
    /// Frames a thread may stack (calls in progress) before the launch fails.
    pub call_depth: usize,
    /// The CUDA programming guide's barrier rule instead of the ISA's (see the module doc).
    pub strict: bool,
}

/// One block's threads and barriers.
pub struct BlockRun<'f, 'e, 'g> {
    module: &'f Module,
    code: &'f Code,
    f: &'f Function,
    env: &'e mut BlockEnv<'g>,
    checking: bool,
    threads: Vec<Thread>,
    ready: Vec<u32>,
    /// Threads that have exited.
    exited: u32,
    /// Threads that polled twice with no progress since (`spin_epoch`: the block's progress
    /// when they were counted).
    spinners: u32,
    spin_epoch: u64,
    barriers: Vec<Barrier>,
    rng: &'e mut Rng,
    limits: RunLimits,
}

impl<'f, 'e, 'g> BlockRun<'f, 'e, 'g> {
    /// Block `env.geo.block` of a launch of entry `func` (an index in the module).
    pub fn new(
        module: &'f Module,
        func: u32,
        env: &'e mut BlockEnv<'g>,
        rng: &'e mut Rng,
        limits: RunLimits,
    ) -> Self {
        let f = &module.functions[func as usize];
        let n = env.geo.n_threads as usize;
        let nregs = f.n_regs as usize;
        let words = nregs.div_ceil(64).max(1);
        let checking = env.check.enabled;
        let start = f.body.as_ref().map(|b| b.start).unwrap_or(0);
        BlockRun {
            module,
            code: &module.code,
            f,
            checking,
            threads: (0..n)
                .map(|_| Thread {
                    pc: start,
                    status: Status::Ready,
                    asyncs: Default::default(),
                    func,
                    frame: FrameBase::default(),
                    regs: vec![0; nregs],
                    defined: if checking { vec![0; words] } else { vec![] },
                    callers: vec![],
                    spare: vec![],
                    taints: vec![],
                    polls: 0,
                    poll_epoch: 0,
                    poll_pc: 0,
                })
                .collect(),
            ready: (0..n as u32).collect(),
            exited: 0,
            spinners: 0,
            spin_epoch: 0,
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

    // ---- register definitions (for the checker's uninitialised-register test) ----

    fn is_defined(&self, t: u32, r: Reg) -> bool {
        let th = &self.threads[t as usize];
        th.defined[r as usize >> 6] & (1 << (r & 63)) != 0
    }

    #[inline]
    fn mark_def(&mut self, t: u32, r: Reg) {
        let th = &mut self.threads[t as usize];
        th.defined[r as usize >> 6] |= 1 << (r & 63);
        if !th.taints.is_empty() {
            // The register is overwritten: an uninitialised value it held was never used.
            let depth = th.callers.len();
            if let Some(i) = th.taints.iter().position(|x| x.depth == depth && x.reg == r) {
                let x = th.taints.swap_remove(i);
                self.env.check.report_uninit(x.read, false);
            }
        }
    }

    #[inline(always)]
    fn mark_defs(&mut self, t: u32, pc: usize) {
        if !self.checking {
            return;
        }
        let code = self.code;
        let (d0, d1) = code.def_ranges[pc];
        let defs = &code.defs[d0 as usize..d1 as usize];
        let th = &mut self.threads[t as usize];
        for &r in defs {
            th.defined[r as usize >> 6] |= 1 << (r & 63);
        }
        if !th.taints.is_empty() {
            self.overwrite_taints(t, defs);
        }
    }

    /// Registers `defs` of thread `t` are overwritten: uninitialised values they held were
    /// never used.
    #[cold]
    fn overwrite_taints(&mut self, t: u32, defs: &[Reg]) {
        for &r in defs {
            self.mark_def(t, r);
        }
    }

    fn check_uses(&mut self, t: u32, pc: usize) {
        let code = self.code;
        let (u0, u1) = code.use_ranges[pc];
        let uses = &code.uses[u0 as usize..u1 as usize];
        let th = &self.threads[t as usize];
        for &r in uses {
            if th.defined[r as usize >> 6] & (1 << (r & 63)) == 0 {
                self.env.check.uninit_register(Who { thread: t, pc: pc as u32 }, r);
            }
        }
        if th.taints.is_empty() {
            return;
        }
        // A register holding a value loaded from uninitialised memory: now used.
        for &r in uses {
            let th = &mut self.threads[t as usize];
            let depth = th.callers.len();
            if let Some(i) = th.taints.iter().position(|x| x.depth == depth && x.reg == r) {
                let x = th.taints.swap_remove(i);
                self.env.check.report_uninit(x.read, true);
            }
        }
    }

    /// The uninitialised reads the instruction at `pc` just made: a plain load's wait on the
    /// registers it wrote; any other instruction's are reported now.
    fn settle_uninit(&mut self, t: u32, pc: usize, loaded: bool) {
        let reads = self.env.check.take_uninit();
        let (d0, d1) = self.code.def_ranges[pc];
        if !loaded || d0 == d1 {
            for r in reads {
                self.env.check.report_uninit(r, true);
            }
            return;
        }
        let Some(read) = reads.into_iter().next() else { return };
        let th = &mut self.threads[t as usize];
        let depth = th.callers.len();
        for i in d0..d1 {
            let reg = self.code.defs[i as usize];
            th.taints.retain(|x| !(x.depth == depth && x.reg == reg));
            th.taints.push(Taint { depth, reg, read: read.clone() });
        }
    }

    /// The values of thread `t` still waiting for a use in frames deeper than `depth` were
    /// never used.
    fn drop_taints(&mut self, t: u32, depth: usize) {
        let th = &mut self.threads[t as usize];
        if th.taints.iter().all(|x| x.depth < depth) {
            return;
        }
        let (gone, keep): (Vec<Taint>, Vec<Taint>) =
            std::mem::take(&mut th.taints).into_iter().partition(|x| x.depth >= depth);
        th.taints = keep;
        for x in gone {
            self.env.check.report_uninit(x.read, false);
        }
    }

    /// Runs thread `t` for up to `budget` instructions, stopping at a synchronisation point.
    fn run_slice(&mut self, t: u32, budget: u32) -> Result<(), LaunchError> {
        let code = self.code;
        let checking = self.checking;
        let limit = self.limits.instruction_limit;
        for _ in 0..budget {
            let pc = self.threads[t as usize].pc as usize;
            let inst = &code.insts[pc];
            self.env.clock += 1;
            if self.env.clock > limit {
                return Err(self.over_limit());
            }
            let who = Who { thread: t, pc: pc as u32 };
            if let Some(g) = inst.guard {
                if checking {
                    self.check_guard(t, who, g.reg);
                }
                let th = &mut self.threads[t as usize];
                if (th.regs[g.reg as usize] & 1 != 0) == g.negate {
                    th.pc += 1;
                    continue;
                }
            }
            if checking {
                self.check_uses(t, pc);
            }
            let th = &mut self.threads[t as usize];
            let flow = {
                let mut cx = Ctx {
                    regs: &mut th.regs,
                    who,
                    frame: th.frame,
                    asyncs: &mut th.asyncs,
                    env: self.env,
                };
                ops::exec(&inst.op, &mut cx)
            };
            // The common cases first: on to the next instruction, or a jump (with the checker
            // on, the registers written are marked and uninitialised loads settled).
            match flow {
                Flow::Next if !checking => {
                    th.pc += 1;
                    continue;
                }
                Flow::Jump(target) if !checking => {
                    th.pc = target;
                    continue;
                }
                Flow::Next => {
                    th.pc += 1;
                    self.mark_defs(t, pc);
                    if self.env.check.has_uninit() {
                        let loaded = matches!(inst.op, Op::Data(DataOp::Ld { .. }));
                        self.settle_uninit(t, pc, loaded);
                    }
                    continue;
                }
                _ => {}
            }
            if let Flow::Yield { .. } = flow {
                self.mark_defs(t, pc);
                self.threads[t as usize].pc += 1;
            }
            if checking && self.env.check.has_uninit() {
                self.settle_uninit(t, pc, false);
            }
            match flow {
                // Handled above.
                Flow::Next => {}
                Flow::Jump(target) => self.threads[t as usize].pc = target,
                Flow::Exit => {
                    self.exit(t);
                    return Ok(());
                }
                Flow::Ret => {
                    if self.threads[t as usize].callers.is_empty() {
                        self.exit(t);
                        return Ok(());
                    }
                    self.ret(t);
                }
                Flow::Call { func } => self.call(t, pc as u32, func)?,
                Flow::BadCall { addr } => {
                    let site = self.env.check.site(who);
                    return Err(self.kernel_err(format!(
                        "{site}: indirect call to 0x{addr:x}, which is not the address of a \
                         function of the module"
                    )));
                }
                Flow::Trap => {
                    let site = self.env.check.site(who);
                    return Err(self.kernel_err(format!("{site}: trap: the kernel aborted")));
                }
                Flow::Unsupported => {
                    let Op::Unsupported(msg) = &inst.op else { unreachable!("flow of an op") };
                    let site = self.env.check.site(who);
                    return Err(LaunchError::Unsupported {
                        kernel: self.f.name.clone(),
                        detail: format!("{site}: {msg}"),
                    });
                }
                Flow::Barrier { id, count, wait, aligned } => {
                    self.arrive(t, pc as u32, id, count, wait, aligned)?;
                    return Ok(());
                }
                Flow::Yield { poll } => {
                    if poll {
                        self.poll(t, pc as u32)?;
                    }
                    return Ok(());
                }
                Flow::Collective { mask } => {
                    self.env.progress += 1;
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

    #[cold]
    fn over_limit(&self) -> LaunchError {
        LaunchError::InstructionLimit {
            kernel: self.f.name.clone(),
            limit: self.limits.instruction_limit,
        }
    }

    /// The checker's view of a guard predicate: a use of its register.
    #[inline]
    fn check_guard(&mut self, t: u32, who: Who, r: Reg) {
        if !self.is_defined(t, r) {
            self.env.check.uninit_register(who, r);
        }
        if !self.threads[t as usize].taints.is_empty() {
            self.check_guard_taint(t, r);
        }
    }

    /// A guard predicate is a use of its register.
    fn check_guard_taint(&mut self, t: u32, r: Reg) {
        let th = &mut self.threads[t as usize];
        let depth = th.callers.len();
        if let Some(i) = th.taints.iter().position(|x| x.depth == depth && x.reg == r) {
            let x = th.taints.swap_remove(i);
            self.env.check.report_uninit(x.read, true);
        }
    }

    fn exit(&mut self, t: u32) {
        // Copies still in flight land before the thread is gone.
        let mut st = std::mem::take(&mut self.threads[t as usize].asyncs);
        let g = std::mem::take(&mut st.uncommitted);
        st.groups.push_back(g);
        ops::async_copy::wait(self.env, t, &mut st, 0);
        if self.checking {
            self.drop_taints(t, 0);
        }
        self.threads[t as usize].status = Status::Exited;
        self.exited += 1;
        self.env.progress += 1;
        if !self.limits.strict {
            self.release_by_exit(None);
        }
    }

    // ---- spin detection ----

    /// Thread `t`'s poll at `pc` found nothing (see the module doc): when every thread still
    /// running has polled twice with no progress in between, the launch is deadlocked.
    fn poll(&mut self, t: u32, pc: u32) -> Result<(), LaunchError> {
        let now = self.env.progress;
        if self.spin_epoch != now {
            self.spin_epoch = now;
            self.spinners = 0;
        }
        let th = &mut self.threads[t as usize];
        if th.poll_epoch != now {
            th.poll_epoch = now;
            th.polls = 0;
        }
        th.polls += 1;
        th.poll_pc = pc;
        if th.polls == 2 {
            self.spinners += 1;
        }
        if (self.spinners as usize) < self.ready.len() {
            return Ok(());
        }
        // Where they poll, most common first.
        let mut at: Vec<(u32, u32, u32)> = vec![];
        for &u in &self.ready {
            let pc = self.threads[u as usize].poll_pc;
            match at.iter_mut().find(|x| x.0 == pc) {
                Some(x) => x.1 += 1,
                None => at.push((pc, 1, u)),
            }
        }
        at.sort_by_key(|x| std::cmp::Reverse(x.1));
        let mut parts: Vec<String> = at
            .iter()
            .take(3)
            .map(|&(pc, n, u)| {
                let site = self.env.check.site(Who { thread: u, pc });
                format!("{n} thread(s) at {site}")
            })
            .collect();
        if at.len() > 3 {
            parts.push(format!("and at {} more instructions", at.len() - 3));
        }
        let what = format!(
            "every thread still running spins on a poll nothing can satisfy: {}; each polled \
             twice with nothing happening in between (no store, atomic, arrival or exit), so the \
             mbarrier phase they wait for can never complete",
            parts.join(", ")
        );
        Err(self.deadlock(vec![what], "no thread can make progress"))
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
            b.counted = count.is_some();
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
        self.env.progress += 1;
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
        } else if !self.limits.strict {
            self.release_by_exit(Some(t));
        }
        Ok(())
    }

    /// The ISA's `exit` rule: a barrier for all threads of the block that only exited threads
    /// are missing from is released (and noted). `current`: the thread running now.
    fn release_by_exit(&mut self, current: Option<u32>) {
        let exited = self.exited;
        if exited == 0 {
            return;
        }
        for id in 0..16u32 {
            let b = &self.barriers[id as usize];
            if b.arrivals.is_empty() || b.counted || b.arrivals.len() as u32 + exited < b.expected {
                continue;
            }
            let (t, pc, _) = b.arrivals[0];
            let detail = format!(
                "barrier {id} waited for all {} threads of the block; {} arrived and the other \
                 {exited} exited without reaching it, which releases it (ISA `exit`); the CUDA \
                 programming guide asks every thread to reach a __syncthreads() (an error under \
                 the strict setting)",
                b.expected,
                b.arrivals.len()
            );
            self.env.check.report(
                ProblemKind::BarrierReleasedByExit,
                Who { thread: t, pc },
                None,
                detail,
            );
            self.complete_barrier(id, current, true);
        }
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
                        (self.code.insts[pc0 as usize].line, self.code.insts[pc as usize].line);
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
        let inst = &self.code.insts[pc as usize];
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
            let mut g = Group { threads: members, ths: &mut self.threads, env: self.env, pc };
            ops::collective(&inst.op, &mut g);
        }
        if self.checking && self.env.check.has_uninit() {
            for r in self.env.check.take_uninit() {
                self.env.check.report_uninit(r, true);
            }
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
                    let line = self.code.insts.get(pc as usize).map(|i| i.line).unwrap_or(0);
                    let text = self.code.texts.get(pc as usize).map(|s| s.as_str()).unwrap_or("");
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
        let exited = self.threads.iter().filter(|t| t.status == Status::Exited).count() as u32;
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
            if pass == 0 && self.limits.strict {
                // 2. Strict: a barrier that only exited threads are missing from is a
                // divergence (released as the hardware would).
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
        Err(self.deadlock(vec![], "no thread can move"))
    }

    /// A deadlock error: `parts` (what the threads do), then the block's barriers waited at
    /// and its exited threads, then `end`.
    fn deadlock(&self, mut parts: Vec<String>, end: &str) -> LaunchError {
        let exited = self.exited;
        for id in 0..16u32 {
            let b = &self.barriers[id as usize];
            if let Some(&(t, pc, _)) = b.arrivals.first() {
                let site = self.env.check.site(Who { thread: t, pc });
                let why = if b.counted && b.arrivals.len() as u32 + exited >= b.expected {
                    " (exited threads do not arrive at a barrier with a thread count: ISA \
                     `exit` releases only barriers for all threads)"
                } else {
                    ""
                };
                parts.push(format!(
                    "{} of {} threads wait at barrier {id} (first: {site}){why}",
                    b.arrivals.len(),
                    b.expected
                ));
            }
        }
        if exited > 0 {
            parts.push(format!("{exited} threads exited"));
        }
        let block = self.env.geo.block;
        LaunchError::Deadlock {
            kernel: self.f.name.clone(),
            detail: format!(
                "block ({},{},{}): {}; {end}",
                block[0],
                block[1],
                block[2],
                parts.join("; ")
            ),
        }
    }
}
