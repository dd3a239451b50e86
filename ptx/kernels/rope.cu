// Rotary position embeddings (nn/src/rope.rs: RopeOp), the rotate_half convention: pairs
// (i, i + d/2) of the last dim of x [B, T, H, d] rotated by the angle tables cos, sin [T, d]
// (f32; both halves of a row equal); the inverse (sign -1) is the backward.
#include "fused.cuh"

// y[.., i] = x1 cos_i - x2 sin_i sign,  y[.., half + i] = x2 cos_{half+i} + x1 sin_{half+i} sign.
template <typename C>
__device__ __forceinline__ void rope(Operand x, Operand cos, Operand sin, C* y, long long rows, long long t, long long h, long long d, C sign) {
    long long half = d / 2;
    long long xcol = col_stride(x.v), ccol = col_stride(cos.v), scol = col_stride(sin.v);
    FOR_EACH(k, rows * half) {
        long long row = k / half, i = k - row * half;
        long long ti = (row / h) % t;
        long long xb = row_at(x.v, row), cb = row_at(cos.v, ti), sb = row_at(sin.v, ti);
        C x1 = ld<C>(x, xb + i * xcol), x2 = ld<C>(x, xb + (half + i) * xcol);
        C c1 = ld<C>(cos, cb + i * ccol), c2 = ld<C>(cos, cb + (half + i) * ccol);
        C s1 = ld<C>(sin, sb + i * scol), s2 = ld<C>(sin, sb + (half + i) * scol);
        y[row * d + i] = x1 * c1 + (-x2) * s1 * sign;
        y[row * d + half + i] = x2 * c2 + x1 * s2 * sign;
    }
}

/// rope_f32(x, cos, sin, y, rows, t, h, d, sign): RoPE in f32 (CPU reference: nn::rope RopeOp,
/// rope_cpu::<f32>): for row = (b, t, h) of x and i < d/2, with (x1, x2) = (x[row, i],
/// x[row, d/2 + i]) and the table row of position t = (row / h) % T:
/// y[row, i] = x1 cos[t, i] + (-x2) sin[t, i] sign,
/// y[row, d/2 + i] = x2 cos[t, d/2 + i] + x1 sin[t, d/2 + i] sign (sign -1: the backward).
/// Thread mapping: a grid-stride loop over rows * d/2 pairs, one pair per thread per pass.
/// Parameters: x an Operand of any float dtype [B, T, H, d] as rows (rows = B*T*H); cos, sin
/// f32 Operands [T, d] as rows; y f32 [B, T, H, d] contiguous; rows, t, h, d i64 (d even);
/// sign f32 (+1 or -1). No shared memory.
extern "C" __global__ void rope_f32(Operand x, Operand cos, Operand sin, float* y, long long rows, long long t, long long h, long long d,
                                    float sign) {
    rope<float>(x, cos, sin, y, rows, t, h, d, sign);
}
/// rope_f64(x, cos, sin, y, rows, t, h, d, sign): as rope_f32 in f64 (rope_cpu::<f64>; the f32
/// tables widened exactly); y f64, sign f64.
extern "C" __global__ void rope_f64(Operand x, Operand cos, Operand sin, double* y, long long rows, long long t, long long h, long long d,
                                    double sign) {
    rope<double>(x, cos, sin, y, rows, t, h, d, sign);
}
