//! ptx: CUDA kernels as PTX text, and the PTX interpreter that runs the same text on the
//! CPU and checks it (bounds, uninitialised reads, races, barrier and warp divergence).
//!
//! The GPU backend (JIT-loading the PTX through the driver) is filled by its own issue; the
//! interpreter in [`interp`] is what CI and GPU-less contributors run.

pub mod interp;
