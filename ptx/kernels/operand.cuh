// Operands of the fused kernels (attention, conv1d, GLA): a strided view of up to 4 dims
// (`View4`, the bytes ptx/src/ops/operand.rs builds) and loads that convert any float storage
// type to the compute type on the way in (a dtype code per operand, so one entry serves f32,
// bf16, f16 and f64 inputs; the switch is uniform across a launch).
#pragma once
#include "common.cuh"

// Storage dtype codes (ptx/src/ops/operand.rs `dtype_code`).
#define DT_F32 0
#define DT_F64 1
#define DT_BF16 2
#define DT_F16 3

// Element (i0, i1, i2, i3) of a view is at `off + sum i_d * st[d]` (dims the operand lacks have
// stride 0; a rank-3 operand uses st[0..3]).
struct View4 {
    long long off;
    long long st[4];
};

__device__ __forceinline__ long long at1(const View4& v, long long a) { return v.off + a * v.st[0]; }
__device__ __forceinline__ long long at2(const View4& v, long long a, long long b) { return v.off + a * v.st[0] + b * v.st[1]; }
__device__ __forceinline__ long long at3(const View4& v, long long a, long long b, long long c) {
    return v.off + a * v.st[0] + b * v.st[1] + c * v.st[2];
}
__device__ __forceinline__ long long at4(const View4& v, long long a, long long b, long long c, long long d) {
    return v.off + a * v.st[0] + b * v.st[1] + c * v.st[2] + d * v.st[3];
}

// Element `i` of storage `p` of dtype code `dt`, in compute type C (f64 inputs rounded to
// nearest when C is float; bf16/f16 exact).
template <typename C> __device__ __forceinline__ C load_as(const void* p, int dt, long long i) {
    switch (dt) {
    case DT_F32:
        return (C)((const float*)p)[i];
    case DT_F64:
        return (C)((const double*)p)[i];
    case DT_BF16:
        return (C)__bfloat162float(((const __nv_bfloat16*)p)[i]);
    default:
        return (C)__half2float(((const __half*)p)[i]);
    }
}

// exp in the compute type (expf: within 2 ulp of the correctly rounded result).
__device__ __forceinline__ float exp_c(float x) { return expf(x); }
__device__ __forceinline__ double exp_c(double x) { return exp(x); }

// A 4-dim input operand in one by-value parameter: pointer, dtype code, view (56 bytes;
// ptx/src/ops/operand.rs `in4`).
struct In4 {
    const void* p;
    int dt;
    int pad;
    View4 v;
};

template <typename C> __device__ __forceinline__ C ld4(const In4& x, long long a, long long b, long long c, long long d) {
    return load_as<C>(x.p, x.dt, at4(x.v, a, b, c, d));
}
