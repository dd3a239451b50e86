//! ptx: CUDA kernels as PTX text, JIT-loaded through cudarc (filled by its issue).
