// Shared by every kernel family: the strided-operand descriptor (the same bytes the host
// launchers build in ptx/src/ops/mod.rs), index arithmetic in 64 bits, the math library
// (c_exp, c_log, ...) and the bf16/f16 conversions. Kernels are `extern "C"` so their PTX
// entry names are the C names.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#define MAX_DIMS 8

// A strided view over storage: element i (row-major over `dims`) is at
// `offset + sum_d idx_d * strides[d]`. Dims are coalesced on the host (rank <= 8).
struct Strided {
    long long offset;
    int rank;
    int pad;
    long long dims[MAX_DIMS];
    long long strides[MAX_DIMS];
};

// The math library, one name for both compute types: correctly rounded where the CPU's is
// (sqrt; division is an operator) and CUDA's libm-grade functions elsewhere, no fast-math
// (expf/logf and the other f32 ones within 1-2 ulp, the f64 ones within 1 ulp).
__device__ __forceinline__ float c_sqrt(float x) { return sqrtf(x); }
__device__ __forceinline__ double c_sqrt(double x) { return sqrt(x); }
__device__ __forceinline__ float c_exp(float x) { return expf(x); }
__device__ __forceinline__ double c_exp(double x) { return exp(x); }
__device__ __forceinline__ float c_log(float x) { return logf(x); }
__device__ __forceinline__ double c_log(double x) { return log(x); }
__device__ __forceinline__ float c_log1p(float x) { return log1pf(x); }
__device__ __forceinline__ double c_log1p(double x) { return log1p(x); }
__device__ __forceinline__ float c_expm1(float x) { return expm1f(x); }
__device__ __forceinline__ double c_expm1(double x) { return expm1(x); }

// The storage index of the i-th element (row-major) of `s`.
__device__ __forceinline__ long long strided_at(const Strided& s, long long i) {
    long long off = s.offset;
    for (int d = s.rank - 1; d >= 0; --d) {
        long long n = s.dims[d];
        off += (i % n) * s.strides[d];
        i /= n;
    }
    return off;
}

// Grid-stride loop over [0, n) in 64-bit indices.
#define FOR_EACH(i, n) for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (long long)gridDim.x * blockDim.x)

__device__ __forceinline__ float to_f32(float x) { return x; }
__device__ __forceinline__ float to_f32(__nv_bfloat16 x) { return __bfloat162float(x); }
__device__ __forceinline__ float to_f32(__half x) { return __half2float(x); }
template <typename T> __device__ __forceinline__ T from_f32(float x);
template <> __device__ __forceinline__ float from_f32<float>(float x) { return x; }
template <> __device__ __forceinline__ __nv_bfloat16 from_f32<__nv_bfloat16>(float x) { return __float2bfloat16_rn(x); }
template <> __device__ __forceinline__ __half from_f32<__half>(float x) { return __float2half_rn(x); }
