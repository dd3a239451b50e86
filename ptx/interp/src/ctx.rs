//! What one thread's instruction can touch: its registers, the special registers, and memory
//! in every state space, through accesses that tell the checker what they do.
//!
//! Addresses (ISA 6.4): an instruction with a state space (`ld.global`, `st.shared`) takes an
//! address in that space; one without takes a generic address, which this interpreter maps
//! by window (see [`super::memory`]): the shared window to the block's shared memory, the
//! local window to the thread's local memory, everything else to global memory.

use super::check::{AccessKind, Checker, Who};
use super::inst::{Addr, Base, Reg, Src};
use super::memory::{Global, LOCAL_WINDOW, SHARED_WINDOW, WINDOW_BYTES};
use super::ops::control::function_addr;
use super::problem::ProblemKind;
use super::types::{Space, Sreg};

/// Bytes of the shared memory region reserved for system software (ISA 10,
/// "%reserved_smem_offset_begin ..."; CUDA reserves 1 KiB per block on sm_80 and later). The
/// interpreter sets it aside, after the block's static and dynamic shared memory, only for
/// modules that read one of those registers (cooperative groups' multi-warp tiles keep their
/// scratch at `%reserved_smem_offset_1`); otherwise every one of them reads 0. Accesses to
/// the region are not checked (compute-sanitizer does not check it either), so in such a
/// module an overrun of the dynamic shared array into it goes unreported.
pub const RESERVED_SMEM_BYTES: u32 = 1024;

/// The launch geometry and the current block.
#[derive(Clone, Copy, Debug)]
pub struct Geometry {
    pub grid: [u32; 3],
    pub block_dim: [u32; 3],
    pub block: [u32; 3],
    pub n_threads: u32,
    pub dyn_shared_offset: u32,
    pub dyn_shared_bytes: u32,
    /// The reserved shared region: its offset and size (0 and 0 when the module reads no
    /// `%reserved_smem_offset_*`).
    pub reserved_offset: u32,
    pub reserved_bytes: u32,
    /// This launch's number on the machine (`%gridid`).
    pub launch: u64,
}

/// Memory and checker shared by the threads of the running block.
pub struct BlockEnv<'g> {
    pub global: &'g mut Global,
    pub shared: Vec<u8>,
    /// Each thread's local memory: its stack of frames, as long as the live frames.
    pub local: Vec<Vec<u8>>,
    /// The kernel's arguments (parameter addresses below their length: read-only).
    pub params: &'g [u8],
    /// Each thread's parameter space above the kernel arguments (the `.param` variables its
    /// frames declare, and the parameters of the `.func`s it is in), starting at address
    /// `param_stack_base`, as long as the live frames.
    pub param_stack: Vec<Vec<u8>>,
    pub param_stack_base: u32,
    /// The machine's address of each module-scope variable (`Module::variables`).
    pub vars: &'g [u64],
    pub n_functions: usize,
    pub check: Checker<'g>,
    pub geo: Geometry,
    /// Instructions executed so far in the launch, all threads (also `%clock`).
    pub clock: u64,
    /// Events of the running block that another thread could notice: writes and atomics that
    /// change global or shared memory (counted here), barrier arrivals, collectives and exits
    /// (counted by the scheduler). A thread polling for something only another thread can
    /// do waits in vain while this stands still (`exec.rs`, spin detection).
    pub progress: u64,
    /// What the kernel printed (`printf`).
    pub printed: String,
}

/// Where the current function's frame of a thread starts in its local and parameter spaces.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FrameBase {
    pub local: u32,
    pub param: u32,
}

/// One asynchronous copy in flight (ISA 9.7.9.25 `cp.async`): the source bytes were read
/// when it was issued; they land in shared memory when a wait completes its group.
#[derive(Clone, Debug)]
pub struct PendingCopy {
    pub dst: u32,
    pub data: [u8; 16],
    pub len: u8,
    pub pc: u32,
}

/// A thread's `cp.async` state: copies not yet committed, and committed groups oldest first.
#[derive(Clone, Debug, Default)]
pub struct AsyncState {
    pub uncommitted: Vec<PendingCopy>,
    pub groups: std::collections::VecDeque<Vec<PendingCopy>>,
}

/// One thread executing one instruction.
pub struct Ctx<'a, 'g> {
    /// The registers of the thread's current frame.
    pub regs: &'a mut [u64],
    pub who: Who,
    pub frame: FrameBase,
    pub asyncs: &'a mut AsyncState,
    pub env: &'a mut BlockEnv<'g>,
}

pub fn thread_coords(linear: u32, dim: [u32; 3]) -> [u32; 3] {
    [linear % dim[0], (linear / dim[0]) % dim[1], linear / (dim[0] * dim[1])]
}

/// A special register's value for thread `t` (ISA 10). The interpreter is one SM running one
/// block at a time, launched outside any cluster (a cluster of one block) and any graph, with
/// no performance counters and no driver environment: `%smid` 0, `%nsmid` 1, `%pm*` 0,
/// `%envreg*` 0, `%current_graph_exec` 0; `%globaltimer` counts nanoseconds as the
/// instruction clock.
pub fn sreg(geo: &Geometry, t: u32, clock: u64, s: Sreg) -> u64 {
    let lane = t % 32;
    // In allocation units of 128 bytes on sm_8x and sm_9x ("%total_smem_size").
    let total = ((geo.dyn_shared_offset + geo.dyn_shared_bytes) as u64).next_multiple_of(128);
    let reserved = geo.reserved_offset as u64;
    match s {
        Sreg::Tid(d) => thread_coords(t, geo.block_dim)[d as usize] as u64,
        Sreg::Ntid(d) => geo.block_dim[d as usize] as u64,
        Sreg::Ctaid(d) | Sreg::Clusterid(d) => geo.block[d as usize] as u64,
        Sreg::Nctaid(d) | Sreg::Nclusterid(d) => geo.grid[d as usize] as u64,
        Sreg::Laneid => lane as u64,
        Sreg::Warpid => (t / 32) as u64,
        Sreg::Nwarpid => geo.n_threads.div_ceil(32) as u64,
        Sreg::Smid => 0,
        Sreg::Nsmid => 1,
        Sreg::Gridid => geo.launch,
        Sreg::LanemaskEq => 1u64 << lane,
        Sreg::LanemaskLt => (1u64 << lane) - 1,
        Sreg::LanemaskLe => (2u64 << lane) - 1,
        Sreg::LanemaskGt => !((2u64 << lane) - 1) & 0xffff_ffff,
        Sreg::LanemaskGe => !((1u64 << lane) - 1) & 0xffff_ffff,
        Sreg::Clock => clock & 0xffff_ffff,
        Sreg::ClockHi => (clock >> 32) & 0xffff_ffff,
        Sreg::Clock64 | Sreg::Globaltimer => clock,
        Sreg::GlobaltimerLo => clock & 0xffff_ffff,
        Sreg::GlobaltimerHi => clock >> 32,
        Sreg::Pm(_, _) | Sreg::Envreg(_) | Sreg::CurrentGraphExec => 0,
        Sreg::DynamicSmemSize => geo.dyn_shared_bytes as u64,
        // Static and dynamic shared memory of the block ("%total_smem_size"), and with the
        // reserved region ("%aggr_smem_size").
        Sreg::TotalSmemSize => total,
        Sreg::AggrSmemSize => total + geo.reserved_bytes as u64,
        Sreg::ReservedSmemBegin => reserved,
        Sreg::ReservedSmemEnd => reserved + geo.reserved_bytes as u64,
        Sreg::ReservedSmemCap => geo.reserved_bytes as u64,
        // Two offsets in the region, half of it each (cooperative groups needs 288 bytes at
        // `_1`).
        Sreg::ReservedSmemOffset(i) => reserved + (i as u64 * geo.reserved_bytes as u64 / 2),
        Sreg::IsExplicitCluster => 0,
        Sreg::ClusterCtaid(_) | Sreg::ClusterCtarank => 0,
        Sreg::ClusterNctaid(_) | Sreg::ClusterNctarank => 1,
    }
}

/// The address of a variable, in its own state space (`mov.u64 %rd, smem;`): a frame's
/// variables are at its bases; a module variable is where the machine loaded it.
pub fn symbol_addr(env: &BlockEnv, frame: FrameBase, b: Base) -> u64 {
    match b {
        Base::Shared(o) => o as u64,
        Base::Param(o) => frame.param as u64 + o as u64,
        Base::Local(o) => frame.local as u64 + o as u64,
        Base::DynShared => env.geo.dyn_shared_offset as u64,
        Base::Var(i) => env.vars[i as usize],
        Base::Func(i) => function_addr(i),
        Base::Absolute | Base::Reg(_) => 0,
    }
}

/// The state space and address an address operand names, for an instruction on `space`,
/// given the base register's value.
pub fn resolve_addr(
    env: &BlockEnv,
    frame: FrameBase,
    space: Space,
    a: &Addr,
    reg: impl Fn(Reg) -> u64,
) -> (Space, u64) {
    let off = a.offset as u64;
    let sp = match a.base {
        Base::Reg(r) => return (space, reg(r).wrapping_add(off)),
        Base::Absolute => return (space, off),
        Base::Shared(_) | Base::DynShared => Space::Shared,
        Base::Param(_) => Space::Param,
        Base::Local(_) => Space::Local,
        // Global and constant addresses are generic ones too.
        Base::Var(_) | Base::Func(_) => space,
    };
    (sp, symbol_addr(env, frame, a.base).wrapping_add(off))
}

impl<'a, 'g> Ctx<'a, 'g> {
    #[inline]
    pub fn get(&self, s: &Src) -> u64 {
        match s {
            Src::Reg(r) => self.regs[*r as usize],
            Src::Imm(v) => *v,
            Src::Sreg(_) | Src::Symbol(_) => self.get_slow(s),
        }
    }

    /// [`Ctx::get`] of a special register or a variable's address (rare: kept out of line so
    /// that `get` inlines).
    #[inline(never)]
    fn get_slow(&self, s: &Src) -> u64 {
        match s {
            Src::Reg(r) => self.regs[*r as usize],
            Src::Imm(v) => *v,
            Src::Sreg(sr) => sreg(&self.env.geo, self.who.thread, self.env.clock, *sr),
            Src::Symbol(b) => symbol_addr(self.env, self.frame, *b),
        }
    }

    #[inline]
    pub fn reg(&self, r: Reg) -> u64 {
        self.regs[r as usize]
    }

    #[inline]
    pub fn set(&mut self, r: Reg, v: u64) {
        self.regs[r as usize] = v;
    }

    #[inline]
    pub fn pred(&self, r: Reg) -> bool {
        self.regs[r as usize] & 1 != 0
    }

    /// The state space and address an address operand names, for an instruction on `space`.
    #[inline]
    pub fn resolve(&self, space: Space, a: &Addr) -> (Space, u64) {
        match a.base {
            Base::Reg(r) => (space, self.regs[r as usize].wrapping_add(a.offset as u64)),
            _ => resolve_addr(self.env, self.frame, space, a, |r| self.regs[r as usize]),
        }
    }

    /// Reads `buf.len()` bytes; on a problem (reported) the bytes read as zero.
    pub fn load(&mut self, space: Space, addr: u64, buf: &mut [u8]) {
        let ok = access(self.env, self.who, space, addr, buf.len(), AccessKind::Read, &mut |m| {
            buf.copy_from_slice(m)
        });
        if !ok {
            buf.fill(0);
        }
    }

    /// Writes `data`; on a problem (reported) nothing is written.
    pub fn store(&mut self, space: Space, addr: u64, data: &[u8]) {
        access_impl(
            self.env,
            self.who,
            space,
            addr,
            data.len(),
            AccessKind::Write,
            Some(data),
            &mut |m| m.copy_from_slice(data),
        );
    }

    /// An atomic read-modify-write of `size` bytes (little-endian): writes `f(old)`,
    /// returns `old`.
    pub fn atomic(
        &mut self,
        space: Space,
        addr: u64,
        size: usize,
        f: &mut dyn FnMut(u64) -> u64,
    ) -> u64 {
        let mut old = 0u64;
        access(self.env, self.who, space, addr, size, AccessKind::Atomic, &mut |m| {
            let mut b = [0u8; 8];
            b[..size].copy_from_slice(m);
            old = u64::from_le_bytes(b);
            let new = f(old).to_le_bytes();
            m.copy_from_slice(&new[..size]);
        });
        old
    }
}

/// Maps a generic address to its state space (ISA 6.4.1).
pub fn concrete(space: Space, addr: u64) -> (Space, u64) {
    match space {
        Space::Generic if (SHARED_WINDOW..SHARED_WINDOW + WINDOW_BYTES).contains(&addr) => {
            (Space::Shared, addr - SHARED_WINDOW)
        }
        Space::Generic if (LOCAL_WINDOW..LOCAL_WINDOW + WINDOW_BYTES).contains(&addr) => {
            (Space::Local, addr - LOCAL_WINDOW)
        }
        Space::Generic => (Space::Global, addr),
        s => (s, addr),
    }
}

/// One access of `len` bytes by `who`: checks alignment and bounds, tells the checker, and
/// runs `f` on the bytes. Returns false (nothing done) when the access is out of bounds or
/// writes read-only memory.
pub fn access(
    env: &mut BlockEnv<'_>,
    who: Who,
    space: Space,
    addr: u64,
    len: usize,
    kind: AccessKind,
    f: &mut dyn FnMut(&mut [u8]),
) -> bool {
    access_impl(env, who, space, addr, len, kind, None, f)
}

/// Whether a write leaves memory as it was: comparing with the data to write when the caller
/// has it, else with a copy taken before `f` writes.
fn write_same(mem: &mut [u8], data: Option<&[u8]>, f: &mut dyn FnMut(&mut [u8])) -> bool {
    match data {
        Some(d) => {
            let same = mem == d;
            f(mem);
            same
        }
        None => {
            let mut old = [0u8; 32];
            let n = mem.len().min(32);
            old[..n].copy_from_slice(&mem[..n]);
            f(mem);
            mem.len() <= 32 && mem == &old[..n]
        }
    }
}

/// [`access`], with the bytes a write stores when the caller has them (`data`).
#[allow(clippy::too_many_arguments)]
fn access_impl(
    env: &mut BlockEnv<'_>,
    who: Who,
    space: Space,
    addr: u64,
    len: usize,
    kind: AccessKind,
    data: Option<&[u8]>,
    f: &mut dyn FnMut(&mut [u8]),
) -> bool {
    let (space, addr) = concrete(space, addr);
    // Natural alignment: a power-of-two access (a whole vector too) must be aligned to its
    // size, up to 16 bytes. (Partial copies, like a cp.async src-size, check theirs.)
    if len > 1 && len.is_power_of_two() && addr % (len as u64).min(16) != 0 {
        env.check.misaligned(who, space, addr, len as u32);
    }
    match space {
        Space::Global | Space::Generic | Space::Const => match env.global.find(addr, len as u64) {
            Some((i, off)) => {
                let a = &mut env.global.allocs[i];
                if space == Space::Const && !a.read_only {
                    let d = format!(
                        "{len}-byte access at 0x{addr:x}, which is in {}, not in a .const \
                             variable",
                        a.describe()
                    );
                    env.check.out_of_bounds(who, space, addr, d);
                    return false;
                }
                if a.read_only && kind != AccessKind::Read {
                    let d = format!(
                        "{len}-byte write to {} (constant memory: kernels may only read it)",
                        a.describe()
                    );
                    env.check.report(ProblemKind::ReadOnlyWrite, who, Some(addr), d);
                    return false;
                }
                if kind == AccessKind::Read {
                    env.check.global(who, a, off, len, kind, false);
                    f(&mut a.data[off..off + len]);
                } else {
                    let same = write_same(&mut a.data[off..off + len], data, f);
                    env.check.global(who, a, off, len, kind, same);
                    env.progress += !same as u64;
                }
                true
            }
            None => {
                let d = env.global.describe_miss(addr, len as u64);
                env.check.out_of_bounds(who, space, addr, d);
                false
            }
        },
        Space::Shared => {
            let size = env.shared.len() as u64;
            if addr.checked_add(len as u64).is_none_or(|e| e > size) {
                let g = env.geo;
                let reserved = if g.reserved_bytes > 0 {
                    format!(", {} reserved", g.reserved_bytes)
                } else {
                    String::new()
                };
                env.check.out_of_bounds(
                    who,
                    space,
                    addr,
                    format!(
                        "{len}-byte access at offset {addr}, but the block has {} bytes \
                        of shared memory ({} static, {} dynamic{reserved})",
                        g.dyn_shared_offset + g.dyn_shared_bytes,
                        g.dyn_shared_offset,
                        g.dyn_shared_bytes
                    ),
                );
                return false;
            }
            let off = addr as usize;
            let reserved = off >= env.geo.reserved_offset as usize && env.geo.reserved_bytes > 0;
            if kind == AccessKind::Read {
                if !reserved {
                    env.check.shared(who, off, len, kind, false);
                }
                f(&mut env.shared[off..off + len]);
            } else {
                let same = write_same(&mut env.shared[off..off + len], data, f);
                // The reserved region belongs to system software (cooperative groups): not
                // checked, as compute-sanitizer does not check it either.
                if !reserved {
                    env.check.shared(who, off, len, kind, same);
                }
                env.progress += !same as u64;
            }
            true
        }
        Space::Local => {
            let stack = &mut env.local[who.thread as usize];
            let top = stack.len() as u64;
            if addr.checked_add(len as u64).is_none_or(|e| e > top) {
                let detail = format!(
                    "{len}-byte access at offset {addr}, but the thread's live frames hold {top} \
                     bytes of local memory{}",
                    if addr < top + (1 << 20) && addr >= top {
                        " (a frame of a function that has returned?)"
                    } else {
                        ""
                    }
                );
                env.check.out_of_bounds(who, space, addr, detail);
                return false;
            }
            let off = addr as usize;
            f(&mut stack[off..off + len]);
            true
        }
        Space::Param => {
            let kp = env.params.len() as u64;
            let base = env.param_stack_base as u64;
            let stack = &mut env.param_stack[who.thread as usize];
            let end = addr.checked_add(len as u64);
            if end.is_some_and(|e| e <= kp) {
                if kind != AccessKind::Read {
                    let d = format!(
                        "{len}-byte write at offset {addr}: kernel parameters are \
                                     read-only"
                    );
                    env.check.report(ProblemKind::ReadOnlyWrite, who, Some(addr), d);
                    return false;
                }
                let mut tmp = env.params[addr as usize..addr as usize + len].to_vec();
                f(&mut tmp);
                return true;
            }
            let top = base + stack.len() as u64;
            if addr < base || end.is_none_or(|e| e > top) {
                env.check.out_of_bounds(
                    who,
                    space,
                    addr,
                    format!(
                        "{len}-byte access at offset {addr}, but the kernel's parameters take \
                        {kp} bytes and the thread's frames' parameters end at {top}"
                    ),
                );
                return false;
            }
            let off = (addr - base) as usize;
            f(&mut stack[off..off + len]);
            true
        }
    }
}

/// Reads `len` bytes at a generic address without checking (system calls reading a string
/// or an argument buffer); `None` when they are not all in one place.
pub fn peek(env: &BlockEnv, thread: u32, addr: u64, len: usize) -> Option<Vec<u8>> {
    match concrete(Space::Generic, addr) {
        (Space::Shared, a) => env.shared.get(a as usize..a as usize + len).map(|s| s.to_vec()),
        (Space::Local, a) => {
            env.local[thread as usize].get(a as usize..a as usize + len).map(|s| s.to_vec())
        }
        (_, a) => env.global.bytes(a, len as u64).map(|s| s.to_vec()),
    }
}
