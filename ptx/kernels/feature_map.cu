// The Hedgehog feature map's nonlinearity (lawcat/src/ops/feature_map.rs: HedgehogOp): for a
// row z of F values, y = [softmax(z), softmax(-z)] (2F values), and its gradient
//   dz = s1 (g1 - <g1, s1>) - s2 (g2 - <g2, s2>),  s1 = softmax(z), s2 = softmax(-z),
// g1, g2 the two halves of the row's cotangent. One kernel each way instead of a negation,
// two softmaxes and a concatenation (and their backwards). Each softmax subtracts its row's
// max before exp (no overflow); the backward recomputes s1 and s2 from z.
// Inputs are Operands read as rows; outputs are contiguous, in the compute type.
#include "fused.cuh"

// The row's maxima of z and -z and the sums of e^(z - m1) and e^(-z - m2).
template <typename C> struct HhRow {
    C m1, m2, s1, s2;
};

template <typename C> __device__ __forceinline__ HhRow<C> hh_row(const Operand& z, long long base, long long col, long long f) {
    C a = -c_inf<C>(), b = -c_inf<C>();
    for (long long j = threadIdx.x; j < f; j += blockDim.x) {
        C v = ld<C>(z, base + j * col);
        a = fmax_op(a, v);
        b = fmax_op(b, -v);
    }
    HhRow<C> r;
    r.m1 = block_max(a);
    r.m2 = block_max(b);
    C s1 = 0, s2 = 0;
    for (long long j = threadIdx.x; j < f; j += blockDim.x) {
        C v = ld<C>(z, base + j * col);
        s1 += c_exp(v - r.m1);
        s2 += c_exp(-v - r.m2);
    }
    r.s1 = block_sum(s1);
    r.s2 = block_sum(s2);
    return r;
}

template <typename C> __device__ __forceinline__ void hedgehog_fwd(Operand z, C* y, long long rows, long long f) {
    const long long col = col_stride(z.v);
    for (long long i = blockIdx.x; i < rows; i += gridDim.x) {
        const long long base = row_at(z.v, i);
        const HhRow<C> r = hh_row<C>(z, base, col, f);
        for (long long j = threadIdx.x; j < f; j += blockDim.x) {
            C v = ld<C>(z, base + j * col);
            y[i * 2 * f + j] = c_exp(v - r.m1) / r.s1;
            y[i * 2 * f + f + j] = c_exp(-v - r.m2) / r.s2;
        }
    }
}

template <typename C> __device__ __forceinline__ void hedgehog_bwd(Operand z, Operand g, C* dz, long long rows, long long f) {
    const long long col = col_stride(z.v), gcol = col_stride(g.v);
    for (long long i = blockIdx.x; i < rows; i += gridDim.x) {
        const long long base = row_at(z.v, i), gb = row_at(g.v, i);
        const HhRow<C> r = hh_row<C>(z, base, col, f);
        C d1 = 0, d2 = 0;
        for (long long j = threadIdx.x; j < f; j += blockDim.x) {
            C v = ld<C>(z, base + j * col);
            d1 += ld<C>(g, gb + j * gcol) * (c_exp(v - r.m1) / r.s1);
            d2 += ld<C>(g, gb + (f + j) * gcol) * (c_exp(-v - r.m2) / r.s2);
        }
        d1 = block_sum(d1);
        d2 = block_sum(d2);
        for (long long j = threadIdx.x; j < f; j += blockDim.x) {
            C v = ld<C>(z, base + j * col);
            C a = c_exp(v - r.m1) / r.s1, b = c_exp(-v - r.m2) / r.s2;
            dz[i * f + j] = a * (ld<C>(g, gb + j * gcol) - d1) - b * (ld<C>(g, gb + (f + j) * gcol) - d2);
        }
    }
}

/// hedgehog_fwd_f32(z, y, rows, f): per row i of z [rows, f], y[i] = [softmax(z[i]),
/// softmax(-z[i])] ([rows, 2f]), each softmax e^(x - max x) / sum e^(x - max x), in f32
/// (CPU reference: lawcat::ops::feature_map HedgehogOp, forward::<f32>).
/// Thread mapping: one block per row (grid-stride over rows); threads take columns j,
/// j + blockDim.x, ...; the two maxima and the two sums are block reductions in a fixed order.
/// Parameters: z Operand [.., f] of any float dtype, read as rows (any strides); y f32
/// [rows, 2f] contiguous; rows, f i64. Shared memory: the reductions' 32 values (static).
extern "C" __global__ void hedgehog_fwd_f32(Operand z, float* y, long long rows, long long f) { hedgehog_fwd<float>(z, y, rows, f); }
/// hedgehog_fwd_f64(z, y, rows, f): as hedgehog_fwd_f32 in f64; y f64.
extern "C" __global__ void hedgehog_fwd_f64(Operand z, double* y, long long rows, long long f) { hedgehog_fwd<double>(z, y, rows, f); }

/// hedgehog_bwd_f32(z, g, dz, rows, f): the gradient of hedgehog_fwd_f32 for the cotangent
/// g [rows, 2f] = [g1, g2]: with s1 = softmax(z[i]), s2 = softmax(-z[i]) recomputed,
/// dz[i] = s1 (g1 - <g1, s1>) - s2 (g2 - <g2, s2>), in f32 (CPU reference: HedgehogOp,
/// backward::<f32>).
/// Thread mapping: as hedgehog_fwd_f32 (four block reductions per row, then the row written).
/// Parameters: z Operand [.., f], g Operand [.., 2f] (any float dtypes and strides, read as
/// rows); dz f32 [rows, f] contiguous; rows, f i64. Shared memory: 32 values (static).
extern "C" __global__ void hedgehog_bwd_f32(Operand z, Operand g, float* dz, long long rows, long long f) {
    hedgehog_bwd<float>(z, g, dz, rows, f);
}
/// hedgehog_bwd_f64(z, g, dz, rows, f): as hedgehog_bwd_f32 in f64; dz f64.
extern "C" __global__ void hedgehog_bwd_f64(Operand z, Operand g, double* dz, long long rows, long long f) {
    hedgehog_bwd<double>(z, g, dz, rows, f);
}
