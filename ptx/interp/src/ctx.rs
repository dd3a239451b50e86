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
use super::types::{Space, Sreg};

/// The launch geometry and the current block.
#[derive(Clone, Copy, Debug)]
pub struct Geometry {
    pub grid: [u32; 3],
    pub block_dim: [u32; 3],
    pub block: [u32; 3],
    pub n_threads: u32,
    pub dyn_shared_offset: u32,
    pub dyn_shared_bytes: u32,
    pub local_bytes: u32,
}

/// Memory and checker shared by the threads of the running block.
pub struct BlockEnv<'g> {
    pub global: &'g mut Global,
    pub shared: Vec<u8>,
    /// All threads' local memory, `local_bytes` each.
    pub local: Vec<u8>,
    pub params: &'g [u8],
    pub check: Checker<'g>,
    pub geo: Geometry,
    /// Instructions executed so far in the launch, all threads (also `%clock`).
    pub clock: u64,
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
    pub regs: &'a mut [u64],
    pub who: Who,
    pub asyncs: &'a mut AsyncState,
    pub env: &'a mut BlockEnv<'g>,
}

pub fn thread_coords(linear: u32, dim: [u32; 3]) -> [u32; 3] {
    [linear % dim[0], (linear / dim[0]) % dim[1], linear / (dim[0] * dim[1])]
}

/// A special register's value for thread `t` (ISA 10).
pub fn sreg(geo: &Geometry, t: u32, clock: u64, s: Sreg) -> u64 {
    let lane = t % 32;
    match s {
        Sreg::Tid(d) => thread_coords(t, geo.block_dim)[d as usize] as u64,
        Sreg::Ntid(d) => geo.block_dim[d as usize] as u64,
        Sreg::Ctaid(d) => geo.block[d as usize] as u64,
        Sreg::Nctaid(d) => geo.grid[d as usize] as u64,
        Sreg::Laneid => lane as u64,
        Sreg::Warpid => (t / 32) as u64,
        Sreg::Nwarpid => geo.n_threads.div_ceil(32) as u64,
        Sreg::LanemaskEq => 1u64 << lane,
        Sreg::LanemaskLt => (1u64 << lane) - 1,
        Sreg::LanemaskLe => (2u64 << lane) - 1,
        Sreg::LanemaskGt => !((2u64 << lane) - 1) & 0xffff_ffff,
        Sreg::LanemaskGe => !((1u64 << lane) - 1) & 0xffff_ffff,
        Sreg::Clock => clock & 0xffff_ffff,
        Sreg::Clock64 => clock,
        Sreg::DynamicSmemSize => geo.dyn_shared_bytes as u64,
        Sreg::TotalSmemSize => (geo.dyn_shared_offset + geo.dyn_shared_bytes) as u64,
    }
}

/// The address of a variable, in its own state space (`mov.u64 %rd, smem;`).
pub fn symbol_addr(geo: &Geometry, b: Base) -> u64 {
    match b {
        Base::Shared(o) | Base::Param(o) | Base::Local(o) => o as u64,
        Base::DynShared => geo.dyn_shared_offset as u64,
        Base::Absolute | Base::Reg(_) => 0,
    }
}

impl<'a, 'g> Ctx<'a, 'g> {
    #[inline]
    pub fn get(&self, s: &Src) -> u64 {
        match s {
            Src::Reg(r) => self.regs[*r as usize],
            Src::Imm(v) => *v,
            Src::Sreg(sr) => sreg(&self.env.geo, self.who.thread, self.env.clock, *sr),
            Src::Symbol(b) => symbol_addr(&self.env.geo, *b),
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
    pub fn resolve(&self, space: Space, a: &Addr) -> (Space, u64) {
        let off = a.offset as u64;
        match a.base {
            Base::Reg(r) => (space, self.regs[r as usize].wrapping_add(off)),
            Base::Absolute => (space, off),
            Base::Shared(o) => (Space::Shared, (o as u64).wrapping_add(off)),
            Base::DynShared => {
                (Space::Shared, (self.env.geo.dyn_shared_offset as u64).wrapping_add(off))
            }
            Base::Param(o) => (Space::Param, (o as u64).wrapping_add(off)),
            Base::Local(o) => (Space::Local, (o as u64).wrapping_add(off)),
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
        access(self.env, self.who, space, addr, data.len(), AccessKind::Write, &mut |m| {
            m.copy_from_slice(data)
        });
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
/// runs `f` on the bytes. Returns false (nothing done) when the access is out of bounds.
pub fn access(
    env: &mut BlockEnv<'_>,
    who: Who,
    space: Space,
    addr: u64,
    len: usize,
    kind: AccessKind,
    f: &mut dyn FnMut(&mut [u8]),
) -> bool {
    let (space, addr) = concrete(space, addr);
    // Natural alignment: a power-of-two access (a whole vector too) must be aligned to its
    // size, up to 16 bytes. (Partial copies, like a cp.async src-size, check theirs.)
    if len > 1 && len.is_power_of_two() && addr % (len as u64).min(16) != 0 {
        env.check.misaligned(who, space, addr, len as u32);
    }
    match space {
        Space::Global | Space::Generic => match env.global.find(addr, len as u64) {
            Some((i, off)) => {
                let a = &mut env.global.allocs[i];
                env.check.global(who, a, off, len, kind);
                f(&mut a.data[off..off + len]);
                true
            }
            None => {
                let d = env.global.describe_miss(addr, len as u64);
                env.check.out_of_bounds(who, Space::Global, addr, d);
                false
            }
        },
        Space::Shared => {
            let size = env.shared.len() as u64;
            if addr.checked_add(len as u64).is_none_or(|e| e > size) {
                let g = env.geo;
                env.check.out_of_bounds(
                    who,
                    space,
                    addr,
                    format!(
                        "{len}-byte access at offset {addr}, but the block has {size} bytes \
                        of shared memory ({} static, {} dynamic)",
                        g.dyn_shared_offset, g.dyn_shared_bytes
                    ),
                );
                return false;
            }
            let off = addr as usize;
            env.check.shared(who, off, len, kind);
            f(&mut env.shared[off..off + len]);
            true
        }
        Space::Local => {
            let lb = env.geo.local_bytes as u64;
            if addr.checked_add(len as u64).is_none_or(|e| e > lb) {
                env.check.out_of_bounds(
                    who,
                    space,
                    addr,
                    format!(
                        "{len}-byte access at offset \
                    {addr}, but each thread has {lb} bytes of local memory"
                    ),
                );
                return false;
            }
            let off = (who.thread as u64 * lb + addr) as usize;
            f(&mut env.local[off..off + len]);
            true
        }
        Space::Param => {
            let size = env.params.len() as u64;
            if kind != AccessKind::Read {
                env.check.out_of_bounds(who, space, addr, "kernel parameters are read-only".into());
                return false;
            }
            if addr.checked_add(len as u64).is_none_or(|e| e > size) {
                env.check.out_of_bounds(
                    who,
                    space,
                    addr,
                    format!(
                        "{len}-byte access at offset {addr}, but the parameters take {size} bytes"
                    ),
                );
                return false;
            }
            let mut tmp = env.params[addr as usize..addr as usize + len].to_vec();
            f(&mut tmp);
            true
        }
    }
}
