//! The launch interface, below the launchers. A [`Backend`] is where kernels run: device
//! memory by address, copies, and launching an entry of one of the shipped PTX modules
//! ([`crate::modules`]) with arguments. Two implement it: [`cuda`] (the driver, through
//! cudarc) and [`interp`] (the PTX interpreter, with its checker). On top of it: the caching
//! allocator ([`pool`]) and the device and its typed buffers ([`device`]). Every host
//! launcher in [`crate::ops`] is written once against these, so it runs unchanged on the GPU
//! or on the CPU-side interpreter; the tensor device (`crate::device`) sits above the
//! launchers.

pub mod cuda;
pub mod device;
pub mod interp;
pub mod pool;
pub mod profile;

pub use device::{GpuDevice, GpuStorage};

use crate::modules::Entry;
use tensor::Result;

/// A kernel argument, in the order of the entry's `.param`s.
#[derive(Clone, Debug, PartialEq)]
pub enum KernelArg {
    /// A device address (of a buffer of the same backend).
    Ptr(u64),
    U32(u32),
    I32(i32),
    U64(u64),
    I64(i64),
    F32(f32),
    F64(f64),
    /// A by-value struct or array parameter (`.param .align 8 .b8 name[N]`), as its bytes.
    Bytes(Vec<u8>),
}

/// Grid, block (threads) and dynamic shared memory (bytes) of one launch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LaunchDims {
    pub grid: [u32; 3],
    pub block: [u32; 3],
    pub shared: u32,
}

impl LaunchDims {
    /// `blocks` blocks of `threads` threads along x, no dynamic shared memory.
    pub fn linear(blocks: u32, threads: u32) -> LaunchDims {
        LaunchDims { grid: [blocks, 1, 1], block: [threads, 1, 1], shared: 0 }
    }
    /// Enough blocks of `threads` threads along x for `n` items, one per thread.
    pub fn cover(n: usize, threads: u32) -> Result<LaunchDims> {
        let blocks = n.div_ceil(threads as usize).max(1);
        if blocks > u32::MAX as usize {
            tensor::bail!("launch", "{n} items need {blocks} blocks, more than a grid holds")
        }
        Ok(LaunchDims::linear(blocks as u32, threads))
    }
}

/// A point in a backend's queue of work, for timing launches ([`Backend::mark`]).
#[derive(Debug)]
pub enum Mark {
    /// A CUDA event recorded on the stream (its handle, as an address).
    Event(usize),
    /// The host clock: the interpreter runs each launch to its end before returning.
    Host(std::time::Instant),
}

/// Where kernels run: the launch interface the GPU and the interpreter both implement.
/// Errors name the kernel and its launch shape.
pub trait Backend: Send + Sync + std::fmt::Debug {
    /// `cuda` or `interp`: what users write after `--device`.
    fn kind(&self) -> &'static str;
    fn ordinal(&self) -> usize;
    /// A line about the device (its name and memory, for logs).
    fn describe(&self) -> String;
    /// `bytes` of device memory (contents unspecified), at an address aligned to 256.
    fn alloc(&self, bytes: usize) -> Result<u64>;
    /// Frees what [`Backend::alloc`] returned (after the work queued so far).
    fn free(&self, addr: u64) -> Result<()>;
    /// Host to device; returns when the data is on its way (the source may be reused).
    fn htod(&self, dst: u64, src: &[u8]) -> Result<()>;
    /// Device to host, after all queued work.
    fn dtoh(&self, src: u64, dst: &mut [u8]) -> Result<()>;
    /// Device to device, queued.
    fn dtod(&self, dst: u64, src: u64, bytes: usize) -> Result<()>;
    /// Queues `entry` of a shipped module (see [`crate::modules`]).
    fn launch(&self, entry: Entry, dims: LaunchDims, args: &[KernelArg]) -> Result<()>;
    /// Waits for all queued work.
    fn synchronize(&self) -> Result<()>;
    /// Loads what a launch of `entry` needs (the module, JIT-compiled on a GPU) without
    /// launching, so that a timed launch times the kernel alone.
    fn prepare(&self, entry: Entry, dims: LaunchDims) -> Result<()>;
    /// Queues a mark after the work queued so far.
    fn mark(&self) -> Result<Mark>;
    /// Seconds of device time between two marks of this backend (waiting for the later one),
    /// releasing both.
    fn elapsed(&self, start: Mark, end: Mark) -> Result<f64>;
}
