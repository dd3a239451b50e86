// Shared by the fused-op kernels (norm, rope, swiglu, loss, adamw, sample): the compute-type
// math the CPU bodies use, and block reductions whose order is fixed (a function of blockDim
// only), so results repeat bit for bit. Their operands are common.cuh's `Operand`s, read in
// the compute type C (float, or double for f64 ops).
#pragma once
#include "common.cuh"

template <typename C> __device__ __forceinline__ C c_inf() { return (C)__int_as_float(0x7f800000); }

// tensor::cpu::map::sigmoid: 1 / (1 + e^-x) for x >= 0, e^x / (1 + e^x) below (no overflow).
template <typename C> __device__ __forceinline__ C sigmoid(C x) {
    if (x >= (C)0) return (C)1 / ((C)1 + c_exp(-x));
    C e = c_exp(x);
    return e / ((C)1 + e);
}

// Block-wide sum / max / min of one value per thread, the result in every thread. blockDim.x
// is a multiple of 32 (<= 1024), every thread of the block calls it (it has barriers). The
// order is fixed: lanes by xor-butterfly, then warps by the same butterfly over their totals.
template <typename T> __device__ __forceinline__ T sum_op(T a, T b) { return a + b; }
template <typename T> __device__ __forceinline__ T max_op(T a, T b) { return a > b ? a : b; }
template <typename T> __device__ __forceinline__ T min_op(T a, T b) { return a < b ? a : b; }

template <typename T, T (*OP)(T, T)> __device__ __forceinline__ T warp_reduce(T v) {
    for (int o = 16; o > 0; o >>= 1) v = OP(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

template <typename T, T (*OP)(T, T)> __device__ __forceinline__ T block_reduce(T v, T identity) {
    __shared__ T warps[32];
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
    v = warp_reduce<T, OP>(v);
    if (lane == 0) warps[warp] = v;
    __syncthreads();
    v = lane < nw ? warps[lane] : identity;
    v = warp_reduce<T, OP>(v);
    __syncthreads();  // warps[] is free again for the next reduction
    return v;
}

template <typename T> __device__ __forceinline__ T block_sum(T v) { return block_reduce<T, sum_op<T>>(v, (T)0); }
// max/min that skip NaN (fmaxf's rule, and Rust's f32::max that the CPU folds with).
__device__ __forceinline__ float fmax_op(float a, float b) { return fmaxf(a, b); }
__device__ __forceinline__ double fmax_op(double a, double b) { return fmax(a, b); }
template <typename T> __device__ __forceinline__ T block_max(T v) { return block_reduce<T, fmax_op>(v, -c_inf<T>()); }
