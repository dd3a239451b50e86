// Constants made on the device: every element one value, or a range. Tensor::full/zeros/ones
// and Tensor::arange on a GPU (no host buffer, no transfer).
#include "common.cuh"

#define FILL(NAME, T, V)                                                      \
    extern "C" __global__ void NAME(T* out, V value, long long n) {          \
        FOR_EACH(i, n) { out[i] = (T)value; }                                 \
    }

/// fill_f32(out, value, n): out[i] = value for i < n (CPU reference: CpuStorage::full).
/// Thread mapping: a grid-stride loop, one element per thread per pass; any grid.
/// Parameters: out f32 [n]; value f32; n i64 (>= 0).
FILL(fill_f32, float, float)
/// fill_f64(out, value, n): as fill_f32, for f64 storage (value f64).
FILL(fill_f64, double, double)
/// fill_i64(out, value, n): as fill_f32, for i64 storage (value i64).
FILL(fill_i64, long long, long long)
/// fill_u8(out, value, n): as fill_f32, for u8 storage (value u32, the low byte kept).
FILL(fill_u8, unsigned char, unsigned int)

/// fill_bf16(out, value, n): out[i] = value rounded to bf16 (nearest, ties to even), i < n.
/// Thread mapping and limits as fill_f32; value f32.
extern "C" __global__ void fill_bf16(__nv_bfloat16* out, float value, long long n) {
    __nv_bfloat16 v = __float2bfloat16_rn(value);
    FOR_EACH(i, n) { out[i] = v; }
}
/// fill_f16(out, value, n): out[i] = value rounded to f16 (nearest, ties to even), i < n.
/// Thread mapping and limits as fill_f32; value f32.
extern "C" __global__ void fill_f16(__half* out, float value, long long n) {
    __half v = __float2half_rn(value);
    FOR_EACH(i, n) { out[i] = v; }
}

/// arange_f32(out, start, n): out[i] = start + i (as f32), i < n (CPU reference:
/// Tensor::arange). Grid-stride loop; out f32 [n]; start i64; n i64.
extern "C" __global__ void arange_f32(float* out, long long start, long long n) {
    FOR_EACH(i, n) { out[i] = (float)(start + i); }
}
/// arange_f64(out, start, n): as arange_f32, for f64.
extern "C" __global__ void arange_f64(double* out, long long start, long long n) {
    FOR_EACH(i, n) { out[i] = (double)(start + i); }
}
/// arange_i64(out, start, n): as arange_f32, for i64.
extern "C" __global__ void arange_i64(long long* out, long long start, long long n) {
    FOR_EACH(i, n) { out[i] = start + i; }
}
/// arange_bf16(out, start, n): as arange_f32, rounded to bf16.
extern "C" __global__ void arange_bf16(__nv_bfloat16* out, long long start, long long n) {
    FOR_EACH(i, n) { out[i] = __float2bfloat16_rn((float)(start + i)); }
}
/// arange_f16(out, start, n): as arange_f32, rounded to f16.
extern "C" __global__ void arange_f16(__half* out, long long start, long long n) {
    FOR_EACH(i, n) { out[i] = __float2half_rn((float)(start + i)); }
}
