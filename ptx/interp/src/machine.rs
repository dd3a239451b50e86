//! The machine: global memory (with the module-scope variables of the modules it has
//! loaded) plus a seeded scheduler, and the launch that runs a kernel over a grid of blocks
//! and returns what the checker found.

use std::collections::HashMap;

use super::check::Checker;
use super::ctx::{BlockEnv, Geometry, RESERVED_SMEM_BYTES};
use super::error::{LaunchError, MemError};
use super::exec::{BlockRun, RunLimits};
use super::memory::Global;
use super::module::{Module, Param, Target};
use super::ops::control::function_addr;
use super::problem::LaunchReport;
use super::rng::Rng;
use super::types::{Space, Ty};

/// Shared memory one block may use (sm_90: 227 KiB with the opt-in).
pub const MAX_SHARED_BYTES: u32 = 227 * 1024;
/// Threads per block (all current GPUs).
pub const MAX_THREADS: u32 = 1024;

/// A kernel argument, checked against the entry's `.param` types.
#[derive(Clone, Debug, PartialEq)]
pub enum Arg {
    U32(u32),
    S32(i32),
    U64(u64),
    S64(i64),
    F32(f32),
    F64(f64),
    /// A device address (from [`Machine::alloc`]), for a `.u64`/`.b64` parameter.
    Ptr(u64),
    /// The bytes of a by-value array parameter (`.param .align 8 .b8 name[16]`).
    Bytes(Vec<u8>),
}

impl Arg {
    fn name(&self) -> &'static str {
        match self {
            Arg::U32(_) => "u32",
            Arg::S32(_) => "s32",
            Arg::U64(_) => "u64",
            Arg::S64(_) => "s64",
            Arg::F32(_) => "f32",
            Arg::F64(_) => "f64",
            Arg::Ptr(_) => "pointer",
            Arg::Bytes(_) => "bytes",
        }
    }

    /// Its bytes if it fits parameter `p`.
    fn bytes_for(&self, p: &Param) -> Option<Vec<u8>> {
        let t = p.ty;
        if p.array.is_some() {
            return match self {
                Arg::Bytes(b) if b.len() == p.bytes() as usize => Some(b.clone()),
                _ => None,
            };
        }
        match self {
            // A parameter's signedness is how the kernel reads the bits (nvcc declares every
            // integer parameter unsigned): integers of the right width fit either way.
            Arg::U32(v) if matches!(t, Ty::U32 | Ty::S32 | Ty::B32) => {
                Some(v.to_le_bytes().to_vec())
            }
            Arg::S32(v) if matches!(t, Ty::S32 | Ty::U32 | Ty::B32) => {
                Some(v.to_le_bytes().to_vec())
            }
            Arg::U64(v) | Arg::Ptr(v) if matches!(t, Ty::U64 | Ty::S64 | Ty::B64) => {
                Some(v.to_le_bytes().to_vec())
            }
            Arg::S64(v) if matches!(t, Ty::S64 | Ty::U64 | Ty::B64) => {
                Some(v.to_le_bytes().to_vec())
            }
            Arg::F32(v) if matches!(t, Ty::F32 | Ty::B32) => Some(v.to_le_bytes().to_vec()),
            Arg::F64(v) if matches!(t, Ty::F64 | Ty::B64) => Some(v.to_le_bytes().to_vec()),
            _ => None,
        }
    }
}

/// Global memory and a seeded scheduler. Launches run on the calling thread.
pub struct Machine {
    global: Global,
    seed: u64,
    launches: u64,
    checking: bool,
    problem_cap: usize,
    limits: RunLimits,
    /// The addresses of the variables of each module loaded (by module id; 0 for an
    /// `.extern` variable no module here defines).
    loaded: HashMap<u64, Vec<u64>>,
}

impl Machine {
    /// A machine whose block order, thread interleaving and fresh-memory garbage all follow
    /// from `seed`.
    pub fn new(seed: u64) -> Machine {
        Machine {
            global: Global::new(seed),
            seed,
            launches: 0,
            checking: true,
            problem_cap: 10,
            limits: RunLimits {
                max_slice: 16,
                instruction_limit: 1 << 34,
                call_depth: 1024,
                strict: false,
            },
            loaded: HashMap::new(),
        }
    }

    /// The strict setting (off by default): barriers follow the CUDA programming guide's
    /// rule (every thread of the block reaches a `bar.sync` the others wait at; a thread that
    /// exits before it is a barrier-divergence error) instead of the ISA's (`exit` releases a
    /// barrier for all threads that only exited threads are missing from, with a note), and
    /// every note is reported as an error (`problem.rs`).
    pub fn set_strict(&mut self, on: bool) {
        self.limits.strict = on;
    }

    /// A launch fails when a thread has this many calls in progress (default 1024).
    pub fn set_call_depth_limit(&mut self, frames: usize) {
        self.limits.call_depth = frames.max(2);
    }

    /// The address of module-scope `.global` or `.const` variable `name` of `module` (a
    /// `__device__` or `__constant__` variable) on this machine, to read or write it with
    /// [`Machine::read`] and [`Machine::write`] before or after a launch (as
    /// `cudaMemcpyFromSymbol`/`ToSymbol` do). The machine loads the module's variables, with
    /// their initial values, the first time a launch or this call names the module; they keep
    /// their values across launches. `None` when the module has no such variable (or it is
    /// `.extern`, defined in another module).
    pub fn symbol(&mut self, module: &Module, name: &str) -> Option<u64> {
        let i = module.variables.iter().position(|v| v.name == name)?;
        let addrs = self.load(module).ok()?;
        Some(addrs[i]).filter(|&a| a != 0)
    }

    /// Allocates and initialises `module`'s variables on first use: their addresses.
    fn load(&mut self, module: &Module) -> Result<Vec<u64>, MemError> {
        if let Some(a) = self.loaded.get(&module.id) {
            return Ok(a.clone());
        }
        let mut addrs = vec![];
        for v in &module.variables {
            addrs.push(if v.is_extern {
                0
            } else {
                let ro = v.space == Space::Const;
                self.global.alloc_var(&v.name, v.init.clone(), ro, v.align as u64)?
            });
        }
        // Addresses in initializers (`= {f, g}`, `= generic(table)`).
        for (v, &at) in module.variables.iter().zip(&addrs) {
            for r in &v.relocs {
                let target = match r.target {
                    Target::Var(i) => addrs[i as usize],
                    Target::Func(f) => function_addr(f),
                };
                let value = (target.wrapping_add(r.addend as u64) & r.mask) >> r.shift;
                let (i, off) = self.global.find(at + r.offset, r.size as u64).expect("allocated");
                let bytes = &mut self.global.allocs[i].data[off..off + r.size as usize];
                bytes.copy_from_slice(&value.to_le_bytes()[..r.size as usize]);
            }
        }
        self.loaded.insert(module.id, addrs.clone());
        Ok(addrs)
    }

    /// Turns the checker's shadow tracking (initialisation, races, in-flight copies,
    /// register definitions) on or off; bounds and alignment are always checked. On by
    /// default.
    pub fn set_checking(&mut self, on: bool) {
        self.checking = on;
    }

    /// At most this many problems of each kind are listed (default 10).
    pub fn set_problem_cap(&mut self, cap: usize) {
        self.problem_cap = cap.max(1);
    }

    /// A launch stops with an error after this many instructions (default 2^34).
    pub fn set_instruction_limit(&mut self, limit: u64) {
        self.limits.instruction_limit = limit;
    }

    /// A thread runs at most this many instructions before the scheduler may switch (default
    /// 16; 1 interleaves after every instruction).
    pub fn set_max_slice(&mut self, n: u32) {
        self.limits.max_slice = n.max(1);
    }

    /// Allocates `bytes` of global memory: a 256-byte aligned device address; the contents
    /// are garbage and count as never written.
    pub fn alloc(&mut self, bytes: u64) -> Result<u64, MemError> {
        self.global.alloc(bytes)
    }

    pub fn free(&mut self, addr: u64) -> Result<(), MemError> {
        self.global.free(addr)
    }

    /// Copies host bytes to device memory (they count as written).
    pub fn write(&mut self, addr: u64, bytes: &[u8]) -> Result<(), MemError> {
        let len = bytes.len() as u64;
        let (i, off) = self.global.find(addr, len).ok_or(MemError::OutOfRange { addr, len })?;
        let a = &mut self.global.allocs[i];
        a.data[off..off + bytes.len()].copy_from_slice(bytes);
        a.mark_init(off, bytes.len());
        Ok(())
    }

    /// Copies device memory to the host.
    pub fn read(&self, addr: u64, len: u64) -> Result<Vec<u8>, MemError> {
        self.view(addr, len).map(|s| s.to_vec())
    }

    /// Device memory, borrowed (no copy).
    pub fn view(&self, addr: u64, len: u64) -> Result<&[u8], MemError> {
        let i = self
            .global
            .allocs
            .partition_point(|a| a.base <= addr)
            .checked_sub(1)
            .ok_or(MemError::OutOfRange { addr, len })?;
        let a = &self.global.allocs[i];
        let off = addr - a.base;
        if off.checked_add(len).is_none_or(|e| e > a.size()) {
            return Err(MemError::OutOfRange { addr, len });
        }
        Ok(&a.data[off as usize..(off + len) as usize])
    }

    /// Runs `entry` over `grid` blocks of `block` threads with `dynamic_shared_bytes` of
    /// `.extern .shared` memory. Problems the checker finds are in the report; a launch that
    /// cannot start (bad geometry or arguments) or cannot finish (deadlock, runaway loop) is
    /// an error.
    pub fn launch(
        &mut self,
        module: &Module,
        entry: &str,
        grid: [u32; 3],
        block: [u32; 3],
        dynamic_shared_bytes: u32,
        args: &[Arg],
    ) -> Result<LaunchReport, LaunchError> {
        let fi = module.functions.iter().position(|f| f.is_entry && f.name == entry).ok_or_else(
            || LaunchError::NoEntry {
                kernel: entry.to_string(),
                entries: module.entries().join(", "),
            },
        )?;
        let f = &module.functions[fi];
        let bad = |message: String| LaunchError::BadLaunch { kernel: entry.to_string(), message };
        if grid.contains(&0) || block.contains(&0) {
            return Err(bad(format!(
                "grid {grid:?} and block {block:?} must be at least 1 in every dimension"
            )));
        }
        let n_threads: u64 = block.iter().map(|&d| d as u64).product();
        if n_threads > MAX_THREADS as u64 || block[0] > 1024 || block[1] > 1024 || block[2] > 64 {
            return Err(bad(format!(
                "block {block:?} is over the limits (1024 threads; x, y <= 1024, z <= 64)"
            )));
        }
        if grid[0] >= 1 << 31 || grid[1] > 65535 || grid[2] > 65535 {
            return Err(bad(format!("grid {grid:?} is over the limits (x < 2^31, y, z <= 65535)")));
        }
        if let Some(r) = f.reqntid {
            if block != r {
                return Err(bad(format!(
                    ".reqntid {},{},{} requires exactly that block, launched with {block:?}",
                    r[0], r[1], r[2]
                )));
            }
        }
        if let Some(m) = f.maxntid {
            let max: u64 = m.iter().map(|&d| d as u64).product();
            if n_threads > max {
                return Err(bad(format!(
                    ".maxntid {},{},{} allows at most {max} threads, launched with {n_threads}",
                    m[0], m[1], m[2]
                )));
            }
        }
        let dyn_off = f.dyn_shared_offset();
        let user_shared = dyn_off as u64 + dynamic_shared_bytes as u64;
        if user_shared > MAX_SHARED_BYTES as u64 {
            return Err(bad(format!(
                "{user_shared} bytes of shared memory ({} static + \
                {dynamic_shared_bytes} dynamic) is over the {MAX_SHARED_BYTES}-byte limit",
                f.shared_static
            )));
        }
        if args.len() != f.params.len() {
            let want: Vec<String> =
                f.params.iter().map(|p| format!("{} .{}", p.name, p.ty.name())).collect();
            return Err(bad(format!(
                "takes {} arguments ({}), given {}",
                f.params.len(),
                want.join(", "),
                args.len()
            )));
        }
        let mut params = vec![0u8; f.param_bytes as usize];
        for (i, (p, a)) in f.params.iter().zip(args).enumerate() {
            let b = a.bytes_for(p).ok_or_else(|| {
                bad(format!(
                    "argument {} ({}) does not fit parameter {} (.{}{})",
                    i + 1,
                    a.name(),
                    p.name,
                    p.ty.name(),
                    p.array.map(|n| format!("[{n}]")).unwrap_or_default()
                ))
            })?;
            params[p.offset as usize..p.offset as usize + b.len()].copy_from_slice(&b);
        }
        let vars =
            self.load(module).map_err(|e| bad(format!("loading the module's variables: {e}")))?;
        // The reserved shared region, after the block's own shared memory (ctx.rs).
        let (reserved_offset, reserved_bytes) = if module.uses_reserved_smem {
            ((user_shared as u32).next_multiple_of(16), RESERVED_SMEM_BYTES)
        } else {
            (0, 0)
        };
        let shared_bytes = if reserved_bytes > 0 {
            (reserved_offset + reserved_bytes) as u64
        } else {
            user_shared
        };
        self.launches += 1;
        let mut rng = Rng::new(self.seed ^ self.launches.wrapping_mul(0x2545_f491_4f6c_dd1d));
        let n_blocks = grid.iter().map(|&d| d as u64).product::<u64>();
        let geo = Geometry {
            grid,
            block_dim: block,
            block: [0; 3],
            n_threads: n_threads as u32,
            dyn_shared_offset: dyn_off,
            dyn_shared_bytes: dynamic_shared_bytes,
            reserved_offset,
            reserved_bytes,
            launch: self.launches,
        };
        let mut check = Checker::new(module, f, grid, block, self.checking, self.problem_cap);
        check.strict = self.limits.strict;
        let param_stack_base = f.param_bytes.next_multiple_of(16);
        let entry_params = f.frame_param_bytes.saturating_sub(param_stack_base) as usize;
        let n = n_threads as usize;
        let mut env = BlockEnv {
            global: &mut self.global,
            shared: vec![],
            local: vec![vec![]; n],
            params: &params,
            param_stack: vec![vec![]; n],
            param_stack_base,
            vars: &vars,
            n_functions: module.functions.len(),
            check,
            geo,
            clock: 0,
            progress: 0,
            printed: String::new(),
        };
        // Blocks run one after another in a seeded order (a random permutation for grids
        // that fit in memory, otherwise a seeded rotation).
        let order: Box<dyn Iterator<Item = u64>> = if n_blocks <= 1 << 20 {
            Box::new(rng.permutation(n_blocks as usize).into_iter().map(|b| b as u64))
        } else {
            let start = rng.below(n_blocks);
            Box::new((0..n_blocks).map(move |i| (i + start) % n_blocks))
        };
        for b in order {
            let bc = [
                (b % grid[0] as u64) as u32,
                ((b / grid[0] as u64) % grid[1] as u64) as u32,
                (b / (grid[0] as u64 * grid[1] as u64)) as u32,
            ];
            env.geo.block = bc;
            env.shared = vec![0u8; shared_bytes as usize];
            rng.fill(&mut env.shared);
            for l in env.local.iter_mut() {
                l.clear();
                l.resize(f.local_bytes as usize, 0);
            }
            for p in env.param_stack.iter_mut() {
                p.clear();
                p.resize(entry_params, 0);
            }
            env.check.begin_block(bc, shared_bytes as usize);
            BlockRun::new(module, fi as u32, &mut env, &mut rng, self.limits).run()?;
        }
        let instructions = env.clock;
        let printed = std::mem::take(&mut env.printed);
        let (problems, suppressed) = env.check.finish();
        Ok(LaunchReport { problems, suppressed, instructions, printed })
    }
}
