// target: sm_90
// fp8 conversions (cvt.rn.satfinite.e4m3x2.f32, cvt.rn.f16x2.e4m3x2) and `set` by inline PTX.
// launch fp8: round_trip 1 32 -- f32[64]:1.3 f32[64] => clean
// launch fp8_bug: round_trip 1 64 -- f32[64]:1.3 f32[64] => error out-of-bounds
// launch set: set_less 1 32 -- f32[32]:1 f32[32]:2 u32[32] => clean
#include <cuda_fp16.h>
#include <cuda_fp8.h>

// y[2i], y[2i+1] = x[2i], x[2i+1] rounded to e4m3 and back (one pair per thread).
extern "C" __global__ void round_trip(const float *x, float *y) {
    unsigned i = threadIdx.x;
    __nv_fp8x2_storage_t p = __nv_cvt_float2_to_fp8x2(make_float2(x[2 * i], x[2 * i + 1]),
                                                      __NV_SATFINITE, __NV_E4M3);
    __half2_raw h = __nv_cvt_fp8x2_to_halfraw2(p, __NV_E4M3);
    y[2 * i] = __half2float(__ushort_as_half(h.x));
    y[2 * i + 1] = __half2float(__ushort_as_half(h.y));
}

// m[i] = 0xffffffff when a[i] < b[i], else 0 (`set.lt.u32.f32`).
extern "C" __global__ void set_less(const float *a, const float *b, unsigned *m) {
    unsigned i = threadIdx.x, r;
    asm("set.lt.u32.f32 %0, %1, %2;" : "=r"(r) : "f"(a[i]), "f"(b[i]));
    m[i] = r;
}
