// Moving elements between layouts and dtypes: strided copies (Tensor::contiguous, concat,
// slice_assign's copy_into) by element size, and casts between every pair of dtypes.
#include "prim.cuh"

#define COPY(NAME, T)                                                                    \
    extern "C" __global__ void NAME(T* dst, Strided ds, const T* src, Strided ss, i64 n) { \
        if (dense(ds) && dense(ss)) {                                                    \
            FOR_EACH1(i, n) { dst[ds.offset + i] = src[ss.offset + i]; }                  \
        } else {                                                                         \
            FOR_EACH1(i, n) {                                                             \
                i64 d, s;                                                                \
                strided_at2(ds, ss, i, d, s);                                            \
                dst[d] = src[s];                                                         \
            }                                                                            \
        }                                                                                \
    }

/// copy_b4(dst, ds, src, ss, n): dst[ds(i)] = src[ss(i)] for i < n, the bits of 4-byte
/// elements (f32), where ds(i) / ss(i) is the storage index of element i (row-major) of the
/// two views, described over one shape (ops::strided_many). CPU reference: map::copy_strided
/// and map::copy_into (Tensor::contiguous, Tensor::cat per part, Tensor::slice_assign).
/// Thread mapping: grid-stride loop, one element per thread per pass; a dense fast path when
/// both views are one run. Parameters: dst, src buffers; ds, ss Strided (rank <= 8 after
/// coalescing); n i64 = elements of the shape. The views must not overlap.
COPY(copy_b4, unsigned int)
/// copy_b1(dst, ds, src, ss, n): as copy_b4, for 1-byte elements (u8).
COPY(copy_b1, unsigned char)
/// copy_b2(dst, ds, src, ss, n): as copy_b4, for 2-byte elements (bf16, f16).
COPY(copy_b2, unsigned short)
/// copy_b8(dst, ds, src, ss, n): as copy_b4, for 8-byte elements (f64, i64).
COPY(copy_b8, unsigned long long)

// ---- Casts: through f64 (tensor/src/cpu/map.rs cast, dtype.rs Elem::as_f64 / from_f64_as) --

__device__ __forceinline__ double to_f64(float x) { return (double)x; }
__device__ __forceinline__ double to_f64(double x) { return x; }
__device__ __forceinline__ double to_f64(bf16 x) { return (double)__bfloat162float(x); }
__device__ __forceinline__ double to_f64(f16 x) { return (double)__half2float(x); }
__device__ __forceinline__ double to_f64(i64 x) { return (double)x; }
__device__ __forceinline__ double to_f64(u8 x) { return (double)x; }

// f64 to each dtype with one rounding (nearest, ties to even), as Rust's `as` and half's
// from_f64 do; float to integer truncates toward zero and saturates, NaN giving 0.
template <typename U> __device__ __forceinline__ U from_f64(double v);
template <> __device__ __forceinline__ float from_f64<float>(double v) { return (float)v; }
template <> __device__ __forceinline__ double from_f64<double>(double v) { return v; }
// cuda_bf16's f64 conversion rounds once (to f32 by round-to-odd, then to bf16).
template <> __device__ __forceinline__ bf16 from_f64<bf16>(double v) { return __double2bfloat16(v); }
template <> __device__ __forceinline__ f16 from_f64<f16>(double v) { return __double2half(v); }
template <> __device__ __forceinline__ i64 from_f64<i64>(double v) {
    if (v != v) return 0;
    if (v >= 9223372036854775808.0) return 0x7fffffffffffffffll;
    if (v <= -9223372036854775808.0) return (i64)(-0x7fffffffffffffffll - 1);
    return (i64)v;
}
template <> __device__ __forceinline__ u8 from_f64<u8>(double v) {
    if (!(v > 0.0)) return 0;
    if (v >= 255.0) return 255;
    return (u8)(unsigned int)v;
}

// Between the narrow floats (f32, bf16, f16: exact in f32) one f32 rounding is the same as
// the f64 route and cheaper; every other pair goes through f64.
template <typename S, typename U> struct Cast {
    __device__ __forceinline__ static U run(S x) { return from_f64<U>(to_f64(x)); }
};
template <> struct Cast<float, bf16> { __device__ __forceinline__ static bf16 run(float x) { return __float2bfloat16_rn(x); } };
template <> struct Cast<float, f16> { __device__ __forceinline__ static f16 run(float x) { return __float2half_rn(x); } };
template <> struct Cast<bf16, float> { __device__ __forceinline__ static float run(bf16 x) { return __bfloat162float(x); } };
template <> struct Cast<f16, float> { __device__ __forceinline__ static float run(f16 x) { return __half2float(x); } };
template <> struct Cast<bf16, f16> { __device__ __forceinline__ static f16 run(bf16 x) { return __float2half_rn(__bfloat162float(x)); } };
template <> struct Cast<f16, bf16> { __device__ __forceinline__ static bf16 run(f16 x) { return __float2bfloat16_rn(__half2float(x)); } };

template <typename S, typename U>
__device__ __forceinline__ void cast_body(U* out, const S* x, const Strided& xs, i64 n) {
    if (dense(xs)) {
        FOR_EACH1(i, n) { out[i] = Cast<S, U>::run(x[xs.offset + i]); }
    } else {
        FOR_EACH1(i, n) { out[i] = Cast<S, U>::run(x[strided_at1(xs, i)]); }
    }
}

#define CAST(NAME, S, U) \
    extern "C" __global__ void NAME(U* out, const S* x, Strided xs, i64 n) { cast_body<S, U>(out, x, xs, n); }

/// cast_f32_f64(out, x, xs, n): out[i] = x[xs(i)] converted to the second dtype of the name,
/// for i < n, out contiguous. CPU reference: map::cast, through f64: one rounding to nearest
/// (ties to even) for floats, NaN stays NaN; float to i64/u8 truncates toward zero and
/// saturates (NaN -> 0), as Rust's `as`. (The CPU's half crate rounds f64 -> bf16 after
/// dropping the low 32 mantissa bits, so on the rare f64 just off a bf16 tie it can be one
/// ulp from this correctly rounded result.) Thread mapping: grid-stride loop, one element per
/// thread per pass; dense fast path. Parameters: out [n]; x buffer; xs Strided; n i64.
/// Every cast_S_U entry below has this doc, S and U the source and destination dtypes.
CAST(cast_f32_f64, float, double)
/// cast_f32_bf16: see cast_f32_f64.
CAST(cast_f32_bf16, float, bf16)
/// cast_f32_f16: see cast_f32_f64.
CAST(cast_f32_f16, float, f16)
/// cast_f32_i64: see cast_f32_f64.
CAST(cast_f32_i64, float, i64)
/// cast_f32_u8: see cast_f32_f64.
CAST(cast_f32_u8, float, u8)
/// cast_f64_f32: see cast_f32_f64.
CAST(cast_f64_f32, double, float)
/// cast_f64_bf16: see cast_f32_f64.
CAST(cast_f64_bf16, double, bf16)
/// cast_f64_f16: see cast_f32_f64.
CAST(cast_f64_f16, double, f16)
/// cast_f64_i64: see cast_f32_f64.
CAST(cast_f64_i64, double, i64)
/// cast_f64_u8: see cast_f32_f64.
CAST(cast_f64_u8, double, u8)
/// cast_bf16_f32: see cast_f32_f64.
CAST(cast_bf16_f32, bf16, float)
/// cast_bf16_f64: see cast_f32_f64.
CAST(cast_bf16_f64, bf16, double)
/// cast_bf16_f16: see cast_f32_f64.
CAST(cast_bf16_f16, bf16, f16)
/// cast_bf16_i64: see cast_f32_f64.
CAST(cast_bf16_i64, bf16, i64)
/// cast_bf16_u8: see cast_f32_f64.
CAST(cast_bf16_u8, bf16, u8)
/// cast_f16_f32: see cast_f32_f64.
CAST(cast_f16_f32, f16, float)
/// cast_f16_f64: see cast_f32_f64.
CAST(cast_f16_f64, f16, double)
/// cast_f16_bf16: see cast_f32_f64.
CAST(cast_f16_bf16, f16, bf16)
/// cast_f16_i64: see cast_f32_f64.
CAST(cast_f16_i64, f16, i64)
/// cast_f16_u8: see cast_f32_f64.
CAST(cast_f16_u8, f16, u8)
/// cast_i64_f32: see cast_f32_f64 (i64 -> f64 -> f32: two roundings, as the CPU does).
CAST(cast_i64_f32, i64, float)
/// cast_i64_f64: see cast_f32_f64.
CAST(cast_i64_f64, i64, double)
/// cast_i64_bf16: see cast_f32_f64 (through f64, as the CPU).
CAST(cast_i64_bf16, i64, bf16)
/// cast_i64_f16: see cast_f32_f64 (through f64, as the CPU).
CAST(cast_i64_f16, i64, f16)
/// cast_i64_u8: see cast_f32_f64 (through f64, saturating).
CAST(cast_i64_u8, i64, u8)
/// cast_u8_f32: see cast_f32_f64.
CAST(cast_u8_f32, u8, float)
/// cast_u8_f64: see cast_f32_f64.
CAST(cast_u8_f64, u8, double)
/// cast_u8_bf16: see cast_f32_f64.
CAST(cast_u8_bf16, u8, bf16)
/// cast_u8_f16: see cast_f32_f64.
CAST(cast_u8_f16, u8, f16)
/// cast_u8_i64: see cast_f32_f64.
CAST(cast_u8_i64, u8, i64)
