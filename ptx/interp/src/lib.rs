//! A PTX interpreter and checker: runs the exact PTX text a GPU would load, on the CPU, and
//! reports the bugs compute-sanitizer would (and some it would not).
//!
//! Dependencies: the standard library only, so it runs anywhere, without CUDA. lawcat-rs uses
//! it as a device (`ptx::runtime::interp`) and for `lawcat ptx check`.
//!
//! # Using it
//!
//! ```
//! use ptx_interp::{Arg, Machine, Module};
//! let text = r#"
//! .version 8.0
//! .target sm_90
//! .address_size 64
//! .visible .entry add_one(.param .u64 out, .param .u32 n) {
//!     .reg .pred %p<2>; .reg .b32 %r<4>; .reg .b64 %rd<4>;
//!     ld.param.u64 %rd1, [out];
//!     ld.param.u32 %r1, [n];
//!     mov.u32 %r2, %tid.x;
//!     setp.ge.u32 %p1, %r2, %r1;
//!     @%p1 bra DONE;
//!     cvta.to.global.u64 %rd2, %rd1;
//!     mul.wide.u32 %rd3, %r2, 4;
//!     add.s64 %rd2, %rd2, %rd3;
//!     add.u32 %r3, %r2, 1;
//!     st.global.u32 [%rd2], %r3;
//! DONE:
//!     ret;
//! }"#;
//! let module = Module::parse(text, "add_one.ptx").unwrap();
//! let mut m = Machine::new(7);
//! let out = m.alloc(4 * 40).unwrap();
//! let report = m
//!     .launch(&module, "add_one", [1, 1, 1], [64, 1, 1], 0, &[Arg::Ptr(out), Arg::U32(40)])
//!     .unwrap();
//! assert!(report.is_clean(), "{:?}", report.problems);
//! assert_eq!(&m.read(out, 8).unwrap(), &[1, 0, 0, 0, 2, 0, 0, 0]);
//! ```
//!
//! * [`Module::parse`] reads a PTX file ([`Module::entries`], [`Module::params`],
//!   [`Module::variables`] describe it). Malformed text is a [`ParseError`] naming the line;
//!   an instruction the interpreter cannot run (or a variable defined in another module) is
//!   kept, and only a launch that reaches it fails ([`LaunchError::Unsupported`], naming the
//!   instruction, its line and the thread), so one unsupported construct never rejects the
//!   entries that do not use it.
//! * [`Machine`] owns global memory ([`Machine::alloc`], [`Machine::free`],
//!   [`Machine::write`], [`Machine::read`], [`Machine::view`]), the module-scope variables
//!   of the modules it launched ([`Machine::symbol`]: a `__device__` or `__constant__`
//!   variable's address, to read or write before or after a launch) and a seed.
//! * [`Machine::launch`] runs an entry over a grid and returns a [`LaunchReport`]: the
//!   [`Problem`]s found (kind, level, kernel, PTX line, instruction text, the `.func` it is
//!   in and where that was called from, block, thread, address, detail), what the kernel
//!   printed, and the instruction count. A launch that cannot run (bad arguments, deadlock,
//!   including threads spinning on an mbarrier phase that can never complete, endless loop,
//!   `trap`, runaway recursion, an unsupported instruction) is a [`LaunchError`].
//! * Problems are errors or notes ([`Level`]): notes are what the ISA allows but is worth
//!   knowing (a barrier released by `exit`, same-value writes, an uninitialised value loaded
//!   and never used); [`LaunchReport::is_clean`] means no errors. [`Machine::set_strict`]
//!   applies the CUDA programming guide's barrier rule and makes every note an error.
//!
//! # The execution model, in short
//!
//! A launch is a *grid* of *blocks* (CTAs); a block is up to 1024 threads that share
//! `.shared` memory and can wait for each other at barriers; its threads form *warps* of 32
//! consecutive thread indices. Each thread runs the same instructions with its own
//! registers (`.reg`, typed, but here each holds 64 raw bits) and its own program counter,
//! and calls `.func`s on its own stack of frames (registers, `.param` and `.local` space
//! per frame). The interpreter runs blocks one after another in a seeded random order
//! (blocks may not depend on each other's progress: a kernel that spins waiting for another block
//! does not finish here), and inside a block interleaves threads at random between synchronisation
//! points, and wherever a thread polls or sleeps (`exec.rs` explains). Memory is sequentially
//! consistent: every store is visible at once, which is stronger than the GPU; the checker reports
//! the accesses that relied on it (races).
//!
//! State spaces: `.param` (kernel arguments, read-only; a frame's parameters and the
//! `.param` variables a body declares for its calls), `.global` (the machine's allocations
//! and module-scope variables), `.const` (module-scope variables, read-only for kernels),
//! `.shared` (per block: the module's static variables and those of `.func` bodies, the
//! entry's own, then the `.extern .shared` dynamic part, then the reserved region when the
//! module reads `%reserved_smem_offset_*`), `.local` (per thread, per frame), and generic
//! addresses that cover them (see `memory.rs` for the windows).
//!
//! # What is supported
//!
//! Directives: `.version .target .address_size 64`, `.visible .weak .extern .common`,
//! `.entry` and `.func` (declarations, prototypes and definitions; `.func` return values and
//! parameters), `.callprototype` and `.calltargets` (read, for indirect calls), `.param`
//! (scalars, `.ptr`, `.align`, byte arrays), `.reg` with `%r<N>` ranges, module-scope
//! `.global` and `.const` variables (`.align`, `.v2/.v4`, arrays of any rank, `[]` sized by
//! the initializer; initializers of integers, floats (`0f`/`0d` images or decimals), brace
//! lists, addresses of variables and functions: `sym`, `sym+N`, `generic(sym)+N`,
//! `0xff00(sym)`; zero where none; `.extern` ones defined in no module here fail the
//! instructions that use them), `.shared` (with `.align`, module, `.func` or entry scope),
//! `.extern .shared` arrays, `.local` arrays, `{ }` scopes, labels, `@p`/`@!p` guards,
//! `.maxntid .reqntid .minnctapersm .maxnreg` (`.reqntid`/`.maxntid` are launch checks),
//! `.pragma`, `.loc`/`.file`/`.section` (skipped). Special registers: `%tid %ntid %ctaid
//! %nctaid` (`.x .y .z`), `%laneid %warpid %nwarpid %smid %nsmid %gridid
//! %lanemask_{eq,lt,le,gt,ge} %clock %clock_hi %clock64 %globaltimer{,_lo,_hi} %pm0..7{,_64}
//! %envreg0..31 %dynamic_smem_size %total_smem_size %aggr_smem_size
//! %reserved_smem_offset_{begin,end,cap,0,1}`, the cluster registers (a cluster of one
//! block) and `%current_graph_exec`; `ctx::sreg` gives the values.
//!
//! Instructions, one family per file under `ops/` (each cites its ISA section):
//! * data movement: `mov` (incl. `{a,b}` pack/unpack, addresses of variables and functions),
//!   `ld`/`st` (`.param .global .const .shared .local` and generic, `.v2 .v4`, `.nc`, cache
//!   hints), `cvta`/`cvta.to` (`.global .const .shared .local`);
//! * integer: `add sub` (`.sat`), `mul mad` (`.lo .hi .wide`), `div rem min max neg abs
//!   popc clz bfind brev bfe bfi prmt`, logic `and or xor not cnot lop3 shl shr` (also on
//!   `.pred`), the funnel shift `shf.{l,r}.{wrap,clamp}.b32`; extended precision with the
//!   carry flag `add.cc addc sub.cc subc mad.cc madc` (`carry.rs`);
//! * float: `add sub mul fma mad div min max neg abs copysign rcp sqrt rsqrt ex2 lg2 sin cos
//!   tanh` on `.f32 .f64` (and `.f16 .bf16` and their `x2` for the arithmetic), every
//!   rounding mode, `.ftz .sat .approx .full`;
//! * `cvt` between all integer and float types with every rounding mode, `.sat .ftz .relu
//!   .satfinite`; `cvt.rn.{f16x2,bf16x2}.f32`; to and from the 8-bit floats
//!   (`.e4m3x2 .e5m2x2` from `.f32` pairs and `.f16x2`, to `.f16x2`) and to `.tf32` (`.rna
//!   .rn .rz`);
//! * comparison: `setp` (every comparison, `.and .or .xor`, `p|q`, also packed on `.f16x2
//!   .bf16x2`: one predicate per half), `set` (a value: 1.0 or all ones, per half on packed
//!   types), `selp`;
//! * control: `bra` (`.uni`), `call` (`.uni`, direct and through a register, with `.param`
//!   arguments and return values, recursion), `ret`, `exit`, `trap`; system calls `vprintf`
//!   (formatted into [`LaunchReport::printed`]), `malloc`, `free`, and `__assertfail`
//!   (`assert()`: an [`ProblemKind::AssertionFailed`] error, the thread ends);
//! * sync: `bar.sync`/`barrier.sync` (id and count), `bar.arrive`, `bar.warp.sync`,
//!   `membar`/`fence` (no-ops), `nanosleep` (yields to the other threads); the mbarrier
//!   family (`mbarrier.init inval arrive arrive_drop` with `.expect_tx .noComplete`,
//!   `expect_tx complete_tx test_wait try_wait` with `.parity`, `pending_count`; a cluster is
//!   one block, so `.shared::cluster` is the block's shared memory);
//! * warp: `shfl.sync` (up/down/bfly/idx, clamp and segment mask), `vote.sync`
//!   (all/any/uni/ballot), `redux.sync`, `activemask` (the thread's own lane: no lanes are
//!   promised to run together);
//! * atomics: `atom`/`red` on global, shared and generic (`add and or xor exch cas inc dec
//!   min max`), `atom.cas.b16`, half precision (`add.noftz` on `.f16 .bf16 .f16x2 .bf16x2`)
//!   and the vector forms on global memory (`.v2 .v4 .v8` of `add min max` on `.f32` and the
//!   half types);
//! * tensor cores: `mma.sync.aligned.m16n8k16.row.col` (`.f32.bf16.bf16.f32`,
//!   `.f32.f16.f16.f32`, `.f16.f16.f16.f16`), `ldmatrix.sync.aligned.m8n8.{x1,x2,x4}{.trans}`,
//!   and `wmma.load/mma/store` (`.m16n16k16 .m32n8k16 .m8n32k16` on `.f16 .bf16 .s8 .u8`,
//!   `.m16n16k8` on `.tf32`, `.m8n8k4` on `.f64`; row or column major, any stride);
//! * async copies: `cp.async.{ca,cg}.shared.global` (4/8/16 bytes, `src-size` zero-fill,
//!   `ignore-src`), `cp.async.commit_group`, `cp.async.wait_group N`, `cp.async.wait_all`,
//!   and `cp.async.mbarrier.arrive{.noinc}` (the copies tracked by an mbarrier).
//!
//! (The families' files list what each supports beyond this.)
//!
//! # The checker
//!
//! A separate pass ([`check`]) that the executor feeds with events. It reports
//! out-of-bounds accesses (naming the buffer the address is nearest to, or saying it is in
//! none) and misaligned ones, writes to read-only memory, reads of registers never written,
//! of shared memory the block never wrote and of global bytes never written since allocation
//! (as a note when the loaded value is never used), shared and global races (two threads,
//! one writing, nothing ordering them; naming both; atomics exempt; same-value writes are a
//! note), barriers not all threads reach or that a warp reaches at different instructions
//! (a barrier for all threads that `exit` released is a note), warp collectives whose mask
//! names exited or missing lanes or whose lanes are not converged, reads of a `cp.async`
//! destination before the wait that completes it, mbarrier operations on memory that holds
//! no mbarrier object and the undefined uses of its counts, and failed assertions. See
//! [`ProblemKind`].

pub mod check;
mod ctx;
pub mod error;
pub mod exec;
pub mod float;
pub mod inst;
mod lexer;
pub mod machine;
pub mod memory;
pub mod module;
pub mod operands;
pub mod ops;
mod parse;
pub mod problem;
mod rng;
pub mod types;

pub use error::{LaunchError, MemError, ParseError, Site};
pub use machine::{Arg, Machine};
pub use module::{Function, Module, Param, Variable};
pub use problem::{LaunchReport, Level, Problem, ProblemKind};
