//! # tensor
//!
//! The tensor type of lawcat-rs: f32, f64, bf16 and f16 storage (plus i64 ids and u8 masks),
//! shape + strides + offset over shared storage, zero-copy views, broadcasting element-wise
//! ops, reductions, softmax, cumsum, indexing, a packed cache-blocked matmul with AVX-512,
//! AVX2+FMA and portable micro-kernels (picked at run time, `cpu::simd`), and safetensors I/O.
//!
//! Layout of the crate:
//! * `layout` — shapes, strides, views (pure index arithmetic).
//! * `host` — host memory ([`CpuStorage`]), what files and transfers read and write.
//! * `backend` — the device boundary: the [`BackendStorage`] trait every device implements;
//!   `transfer` — the log of host <-> device transfers a device keeps; `check_device` — the
//!   checking accelerator; `custom_op` — fused ops from other crates, run on any device.
//! * `cpu/` — the CPU backend (`map`, `reduce`, `index` kernels, rayon-parallel), with
//!   `cpu/matmul/` (batched matmul: driver, packed GEMM, micro-kernels, the naive reference)
//!   and `cpu::gemm`, the matrix product CPU bodies of fused ops may call.
//! * `tensor`, `view`, `ops` — the user-facing [`Tensor`] API.
//! * `safetensors_io`, `atomic` — files; `random` — seeded RNG; `tolerance` — comparisons;
//!   `sha256` — content hashes (checkpoints, teachers); `memory` — refusing sizes that cannot
//!   fit.
//!
//! Dependencies and why: `half` (bf16/f16 types), `rayon` (CPU parallelism), `bytemuck`
//! (safe byte views for file I/O), `safetensors` (header parsing/serialization),
//! `memmap2` (map large weight files instead of reading them whole), `thiserror` (errors),
//! `serde_json` (JSON sidecar files).

pub mod atomic;
pub mod backend;
pub mod check_device;
pub mod cpu;
pub mod custom_op;
mod display;
mod dtype;
mod error;
mod host;
pub mod layout;
pub mod memory;
mod ops;
pub mod random;
pub mod safetensors_io;
mod send_ptr;
pub mod sha256;
mod tensor;
#[cfg(feature = "testing")]
pub mod testing;
pub mod tolerance;
pub mod transfer;
mod view;

pub use backend::{
    AccelDevice, BackendStorage, BinaryOp, CmpOp, Device, ReduceOp, Storage, UnaryOp,
};
pub use custom_op::{CustomOp, DevIn, DevOut, HostIn, HostOut};
pub use dtype::{DType, Elem, FloatElem, Real};
pub use error::{Error, Result};
pub use half::{bf16, f16};
pub use host::CpuStorage;
pub use layout::{Layout, Shape};
pub use random::Rng;
pub use tensor::Tensor;
