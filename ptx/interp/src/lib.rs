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
//! * [`Module::parse`] reads a PTX file ([`Module::entries`], [`Module::params`] describe it);
//!   anything it does not support is a [`ParseError`] naming the line, never skipped.
//! * [`Machine`] owns global memory ([`Machine::alloc`], [`Machine::free`],
//!   [`Machine::write`], [`Machine::read`], [`Machine::view`]) and a seed.
//! * [`Machine::launch`] runs an entry over a grid and returns a [`LaunchReport`]: the
//!   [`Problem`]s found (kind, kernel, PTX line, instruction text, block, thread, address,
//!   detail) and the instruction count. A launch that cannot run (bad arguments, deadlock,
//!   endless loop) is a [`LaunchError`].
//!
//! # The execution model, in short
//!
//! A launch is a *grid* of *blocks* (CTAs); a block is up to 1024 threads that share
//! `.shared` memory and can wait for each other at barriers; its threads form *warps* of 32
//! consecutive thread indices. Each thread runs the same instructions with its own
//! registers (`.reg`, typed, but here each holds 64 raw bits) and its own program counter.
//! The interpreter runs blocks one after another in a seeded random order (blocks may not
//! depend on each other's progress: a kernel that spins waiting for another block does not
//! finish here), and inside a block interleaves threads at random between synchronisation
//! points (`exec.rs` explains). Memory is sequentially consistent: every store is visible at
//! once, which is stronger than the GPU; the checker reports the accesses that relied on it
//! (races).
//!
//! State spaces: `.param` (kernel arguments, read-only), `.global` (the machine's
//! allocations), `.shared` (per block: static variables, then the `.extern .shared` dynamic
//! part), `.local` (per thread), and generic addresses that cover all three (see
//! `memory.rs` for the windows).
//!
//! # What is supported
//!
//! Directives: `.version .target .address_size 64`, `.visible .weak .extern`, `.entry` and
//! `.func` (bodies parsed; `call` is not supported), `.param` (scalars, `.ptr`, `.align`,
//! byte arrays), `.reg` with `%r<N>` ranges, `.shared` (with `.align`, module or function
//! scope), `.extern .shared` arrays, `.local` arrays, `{ }` scopes, labels, `@p`/`@!p`
//! guards, `.maxntid .reqntid .minnctapersm .maxnreg` (`.reqntid`/`.maxntid` are launch
//! checks), `.pragma`, `.loc`/`.file`/`.section` (skipped). Special registers: `%tid
//! %ntid %ctaid %nctaid` (`.x .y .z`), `%laneid %warpid %nwarpid %lanemask_{eq,lt,le,gt,ge}
//! %clock %clock64 %dynamic_smem_size %total_smem_size`.
//!
//! Instructions, one family per file under `ops/` (each cites its ISA section):
//! * data movement: `mov` (incl. `{a,b}` pack/unpack), `ld`/`st` (`.param .global .shared
//!   .local` and generic, `.v2 .v4`, `.nc`, cache hints), `cvta`/`cvta.to` (`.global
//!   .shared .local`);
//! * integer: `add sub` (`.sat`), `mul mad` (`.lo .hi .wide`), `div rem min max neg abs
//!   popc clz brev bfe bfi prmt`, logic `and or xor not cnot lop3 shl shr` (also on `.pred`);
//! * float: `add sub mul fma mad div min max neg abs copysign rcp sqrt rsqrt ex2 lg2 sin cos
//!   tanh` on `.f32 .f64` (and `.f16 .bf16` and their `x2` for the arithmetic), every
//!   rounding mode, `.ftz .sat .approx .full`;
//! * `cvt` between all integer and float types with every rounding mode, `.sat .ftz .relu
//!   .satfinite`, and `cvt.rn.{f16x2,bf16x2}.f32`;
//! * `setp` (every comparison, `.and .or .xor`, `p|q`), `selp`;
//! * control: `bra` (`.uni`), `ret`, `exit`;
//! * sync: `bar.sync`/`barrier.sync` (id and count), `bar.arrive`, `bar.warp.sync`,
//!   `membar`/`fence` (no-ops);
//! * warp: `shfl.sync` (up/down/bfly/idx, clamp and segment mask), `vote.sync`
//!   (all/any/uni/ballot), `redux.sync`;
//! * atomics: `atom`/`red` on global, shared and generic (`add and or xor exch cas inc dec
//!   min max`);
//! * tensor cores: `mma.sync.aligned.m16n8k16.row.col` (`.f32.bf16.bf16.f32`,
//!   `.f32.f16.f16.f32`, `.f16.f16.f16.f16`), `ldmatrix.sync.aligned.m8n8.{x1,x2,x4}{.trans}`;
//! * async copies: `cp.async.{ca,cg}.shared.global` (4/8/16 bytes, `src-size` zero-fill,
//!   `ignore-src`), `cp.async.commit_group`, `cp.async.wait_group N`, `cp.async.wait_all`.
//!
//! # The checker
//!
//! A separate pass ([`check`]) that the executor feeds with events. It reports
//! out-of-bounds and misaligned accesses, reads of registers never written, of shared
//! memory the block never wrote and of global bytes never written since allocation, shared
//! and global races (two threads, one writing, nothing ordering them; atomics exempt),
//! barriers not all threads reach or that a warp reaches at different instructions, warp
//! collectives whose mask names exited or missing lanes or whose lanes are not converged,
//! and reads of a `cp.async` destination before the wait that completes it. See
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
pub use module::{Function, Module, Param};
pub use problem::{LaunchReport, Problem, ProblemKind};
