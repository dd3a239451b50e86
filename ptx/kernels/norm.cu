// RMSNorm over the last dim (nn/src/norm.rs: RmsNormOp): the forward
// (y and the per-row 1/rms r), the input gradient, and the weight gradient as column sums
// over rows in two deterministic passes (per-chunk partial sums in f64, then the chunks in
// order), no atomics.
//
// Inputs are Operands read through their layouts: `x`, `g` as rows, `w`, `r` flat.
// Outputs are contiguous, in the compute type.
#include "fused.cuh"

// y[i, j] = x[i, j] r[i] w[j], r[i] = 1 / sqrt(mean_j x[i, j]^2 + eps).
template <typename C> __device__ __forceinline__ void rms_norm_fwd(Operand x, Operand w, C* y, C* r, long long rows, long long d, C eps) {
    const long long xcol = col_stride(x.v);
    for (long long i = blockIdx.x; i < rows; i += gridDim.x) {
        long long base = row_at(x.v, i);
        C ss = 0;
        for (long long j = threadIdx.x; j < d; j += blockDim.x) {
            C v = ld<C>(x, base + j * xcol);
            ss += v * v;
        }
        ss = block_sum(ss);
        C ri = (C)1 / c_sqrt(ss / (C)d + eps);
        if (threadIdx.x == 0) r[i] = ri;
        for (long long j = threadIdx.x; j < d; j += blockDim.x) {
            C v = ld<C>(x, base + j * xcol);
            y[i * d + j] = v * ri * ld<C>(w, at(w.v, j));
        }
    }
}

// dx[i, j] = r (g w - x r mean_j(g w x r)), r = r[i].
template <typename C>
__device__ __forceinline__ void rms_norm_bwd_dx(Operand x, Operand w, Operand r, Operand g, C* dx, long long rows, long long d) {
    const long long xcol = col_stride(x.v), gcol = col_stride(g.v);
    for (long long i = blockIdx.x; i < rows; i += gridDim.x) {
        long long xb = row_at(x.v, i), gb = row_at(g.v, i);
        C ri = ld<C>(r, at(r.v, i));
        C s = 0;
        for (long long j = threadIdx.x; j < d; j += blockDim.x) s += ld<C>(g, gb + j * gcol) * ld<C>(w, at(w.v, j)) * ld<C>(x, xb + j * xcol) * ri;
        C mean = block_sum(s) / (C)d;
        for (long long j = threadIdx.x; j < d; j += blockDim.x) {
            C gw = ld<C>(g, gb + j * gcol) * ld<C>(w, at(w.v, j));
            dx[i * d + j] = ri * (gw - ld<C>(x, xb + j * xcol) * ri * mean);
        }
    }
}

// partial[c, j] = sum over rows i of chunk c of g[i, j] x[i, j] r[i], each term in C, summed
// in f64 in row order.
template <typename C>
__device__ __forceinline__ void rms_norm_bwd_dw_partial(Operand x, Operand r, Operand g, double* partial, long long rows, long long d,
                                                        long long chunk) {
    long long j = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    long long c = blockIdx.y;
    if (j >= d) return;
    const long long xcol = col_stride(x.v), gcol = col_stride(g.v);
    long long end = min(rows, (c + 1) * chunk);
    double acc = 0.0;
    for (long long i = c * chunk; i < end; ++i) {
        C t = ld<C>(g, row_at(g.v, i) + j * gcol) * ld<C>(x, row_at(x.v, i) + j * xcol) * ld<C>(r, at(r.v, i));
        acc += (double)t;
    }
    partial[c * d + j] = acc;
}

/// rms_norm_fwd_f32(x, w, y, r, rows, d, eps): RMSNorm forward in f32 (CPU reference:
/// nn::norm RmsNorm, forward::<f32>): per row i of x [rows, d],
/// r[i] = 1 / sqrt(sum_j x^2 / d + eps) and y[i, j] = x[i, j] * r[i] * w[j].
/// Thread mapping: one block per row (block-stride loop over rows when the grid is smaller),
/// the block's threads stride over the d columns; the sum of squares is a block_sum (fused.cuh).
/// Parameters: x an Operand of any float dtype [rows, d] as rows; w [d] (flat); y f32
/// [rows, d] and r f32 [rows] contiguous; rows, d i64; eps f32.
/// Limits: blockDim.x a multiple of 32, <= 1024. Shared memory: 32 values (block_sum).
extern "C" __global__ void rms_norm_fwd_f32(Operand x, Operand w, float* y, float* r, long long rows, long long d, float eps) {
    rms_norm_fwd<float>(x, w, y, r, rows, d, eps);
}
/// rms_norm_fwd_f64(x, w, y, r, rows, d, eps): as rms_norm_fwd_f32 in f64: y, r f64, eps f64.
extern "C" __global__ void rms_norm_fwd_f64(Operand x, Operand w, double* y, double* r, long long rows, long long d, double eps) {
    rms_norm_fwd<double>(x, w, y, r, rows, d, eps);
}

/// rms_norm_bwd_dx_f32(x, w, r, g, dx, rows, d): the input gradient of RMSNorm in f32 (CPU
/// reference: nn::norm RmsNorm, backward::<f32>, dx): with ri = r[i],
/// mean = sum_j g w x ri / d, dx[i, j] = ri * (g w - x ri mean).
/// Thread mapping: one block per row (block-stride loop), threads stride over the columns;
/// the mean is a block_sum.
/// Parameters: x, g [rows, d] as rows, w [d] and r [rows] flat, Operands of any float dtypes;
/// dx f32 [rows, d] contiguous. Limits: blockDim.x a multiple of 32, <= 1024. Shared memory:
/// 32 values.
extern "C" __global__ void rms_norm_bwd_dx_f32(Operand x, Operand w, Operand r, Operand g, float* dx, long long rows, long long d) {
    rms_norm_bwd_dx<float>(x, w, r, g, dx, rows, d);
}
/// rms_norm_bwd_dx_f64(x, w, r, g, dx, rows, d): as rms_norm_bwd_dx_f32 in f64; dx f64.
extern "C" __global__ void rms_norm_bwd_dx_f64(Operand x, Operand w, Operand r, Operand g, double* dx, long long rows, long long d) {
    rms_norm_bwd_dx<double>(x, w, r, g, dx, rows, d);
}

/// rms_norm_bwd_dw_partial_f32(x, r, g, partial, rows, d, chunk): first pass of the weight
/// gradient (CPU reference: nn::norm RmsNorm, backward::<f32>, dw): partial[c, j] = sum over
/// rows i in [c chunk, (c+1) chunk) of (g[i, j] * x[i, j] * r[i]) (each term in f32, the sum
/// in f64, rows in order).
/// Thread mapping: grid (ceil(d / blockDim.x), ceil(rows / chunk)); thread x of block (bx, c)
/// owns column j = bx * blockDim.x + x of chunk c and walks its rows one after another
/// (neighbouring threads read neighbouring columns).
/// Parameters: x, g [rows, d] as rows, r [rows] flat, any float dtypes; partial f64
/// [chunks, d] (scratch); rows, d, chunk i64. Limits: ceil(rows / chunk) <= 65535. No shared
/// memory.
extern "C" __global__ void rms_norm_bwd_dw_partial_f32(Operand x, Operand r, Operand g, double* partial, long long rows, long long d,
                                                       long long chunk) {
    rms_norm_bwd_dw_partial<float>(x, r, g, partial, rows, d, chunk);
}
/// rms_norm_bwd_dw_partial_f64(x, r, g, partial, rows, d, chunk): as
/// rms_norm_bwd_dw_partial_f32 with the terms in f64.
extern "C" __global__ void rms_norm_bwd_dw_partial_f64(Operand x, Operand r, Operand g, double* partial, long long rows, long long d,
                                                       long long chunk) {
    rms_norm_bwd_dw_partial<double>(x, r, g, partial, rows, d, chunk);
}

/// rms_norm_bwd_dw_finish_f32(partial, dw, chunks, d): second pass of the weight gradient:
/// dw[j] = sum over c in 0..chunks, in order, of partial[c, j] (f64), rounded to f32.
/// Thread mapping: a grid-stride loop, one column per thread. Parameters: partial f64
/// [chunks, d]; dw f32 [d] contiguous; chunks, d i64. No shared memory.
extern "C" __global__ void rms_norm_bwd_dw_finish_f32(const double* partial, float* dw, long long chunks, long long d) {
    FOR_EACH(j, d) {
        double s = 0.0;
        for (long long c = 0; c < chunks; ++c) s += partial[c * d + j];
        dw[j] = (float)s;
    }
}
/// rms_norm_bwd_dw_finish_f64(partial, dw, chunks, d): as rms_norm_bwd_dw_finish_f32, dw f64.
extern "C" __global__ void rms_norm_bwd_dw_finish_f64(const double* partial, double* dw, long long chunks, long long d) {
    FOR_EACH(j, d) {
        double s = 0.0;
        for (long long c = 0; c < chunks; ++c) s += partial[c * d + j];
        dw[j] = s;
    }
}
