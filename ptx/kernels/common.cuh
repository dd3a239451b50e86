// Shared by every kernel family: the one operand format (the same bytes the host launchers
// build in ptx/src/ops/operand.rs: the strided view `Strided`, and `Operand`, a pointer with
// its storage dtype code and view), the dtype codes, index arithmetic in 64 bits, the math
// library (c_exp, c_log, ...) and the bf16/f16 conversions. Kernels are `extern "C"` so their
// PTX entry names are the C names.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#define MAX_DIMS 8

// Storage dtype codes of float operands (ptx/src/ops/operand.rs `dtype_code`).
#define DT_F32 0
#define DT_F64 1
#define DT_BF16 2
#define DT_F16 3

// A strided view over storage: element (i_0, .., i_{rank-1}) is at
// `offset + sum_d i_d * strides[d]` (rank <= 8). The host lays a view out flat (dims merged
// where memory allows: element i in row-major order), by dim (as the tensor has them), or as
// rows (the leading dims merged, the last kept): operand.rs says which builder does which.
struct Strided {
    long long offset;
    int rank;
    int pad;
    long long dims[MAX_DIMS];
    long long strides[MAX_DIMS];
};

// An operand a kernel converts on load: pointer, storage dtype code, view (160 bytes, one
// by-value parameter).
struct Operand {
    const void* p;
    int dt;
    int pad;
    Strided v;
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

// The storage index of the i-th element of a flat view, with the contiguous and single-run
// cases (rank <= 1 after the host merged the dims) taking no divisions.
__device__ __forceinline__ long long at(const Strided& s, long long i) {
    return s.rank <= 1 ? s.offset + i * s.strides[0] : strided_at(s, i);
}

// Element (a, ..) of a view laid out by dim (dims the view lacks have stride 0 only if the
// host gave them; a rank-3 view uses strides[0..3]).
__device__ __forceinline__ long long at1(const Strided& v, long long a) { return v.offset + a * v.strides[0]; }
__device__ __forceinline__ long long at2(const Strided& v, long long a, long long b) {
    return v.offset + a * v.strides[0] + b * v.strides[1];
}
__device__ __forceinline__ long long at3(const Strided& v, long long a, long long b, long long c) {
    return v.offset + a * v.strides[0] + b * v.strides[1] + c * v.strides[2];
}
__device__ __forceinline__ long long at4(const Strided& v, long long a, long long b, long long c, long long d) {
    return v.offset + a * v.strides[0] + b * v.strides[1] + c * v.strides[2] + d * v.strides[3];
}

// The start of row i of a view laid out as rows (the leading dims, row-major), and the
// stride of its columns: element (i, j) is at `row_at(v, i) + j * col_stride(v)`.
__device__ __forceinline__ long long row_at(const Strided& s, long long i) {
    if (s.rank <= 2) return s.offset + (s.rank == 2 ? i * s.strides[0] : 0);
    long long off = s.offset;
    for (int d = s.rank - 2; d >= 0; --d) {
        long long n = s.dims[d];
        off += (i % n) * s.strides[d];
        i /= n;
    }
    return off;
}
__device__ __forceinline__ long long col_stride(const Strided& s) { return s.strides[s.rank - 1]; }

// Element k of a float buffer of dtype `dt`, in the compute type C (f64 -> f32 rounds to
// nearest even, as the CPU's casts do; bf16/f16 -> f32 and everything -> f64 are exact).
template <typename C> __device__ __forceinline__ C load_as(const void* p, int dt, long long k) {
    if (dt == DT_F32) return (C)((const float*)p)[k];
    if (dt == DT_F64) return (C)((const double*)p)[k];
    if (dt == DT_BF16) return (C)__bfloat162float(((const __nv_bfloat16*)p)[k]);
    return (C)__half2float(((const __half*)p)[k]);
}

// Element at storage index k of operand x, in the compute type C; ld4: element (a, b, c, d)
// of a 4-dim operand laid out by dim.
template <typename C> __device__ __forceinline__ C ld(const Operand& x, long long k) { return load_as<C>(x.p, x.dt, k); }
template <typename C> __device__ __forceinline__ C ld4(const Operand& x, long long a, long long b, long long c, long long d) {
    return ld<C>(x, at4(x.v, a, b, c, d));
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
