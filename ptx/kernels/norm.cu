// RMSNorm over the last dim (nn/src/norm.rs: RmsNormForward, RmsNormBackward): the forward
// (y and the per-row 1/rms r), the input gradient, and the weight gradient as column sums
// over rows in two deterministic passes (per-chunk partial sums in f64, then the chunks in
// order), no atomics.
//
// Inputs are read through their layouts: `x`, `g` as rows (a Strided over the leading dims,
// the storage index of row i, plus the stride of the last dim), `w`, `r` as Strided vectors;
// `*dt` are storage dtype codes (fused.cuh). Outputs are contiguous, in the compute type.
#include "fused.cuh"

// y[i, j] = x[i, j] r[i] w[j], r[i] = 1 / sqrt(mean_j x[i, j]^2 + eps).
template <typename C>
__device__ __forceinline__ void rms_norm_fwd(const void* x, int xdt, Strided xrow, long long xcol, const void* w, int wdt, Strided wv,
                                             C* y, C* r, long long rows, long long d, C eps) {
    for (long long i = blockIdx.x; i < rows; i += gridDim.x) {
        long long base = at(xrow, i);
        C ss = 0;
        for (long long j = threadIdx.x; j < d; j += blockDim.x) {
            C v = load_as<C>(x, xdt, base + j * xcol);
            ss += v * v;
        }
        ss = block_sum(ss);
        C ri = (C)1 / c_sqrt(ss / (C)d + eps);
        if (threadIdx.x == 0) r[i] = ri;
        for (long long j = threadIdx.x; j < d; j += blockDim.x) {
            C v = load_as<C>(x, xdt, base + j * xcol);
            y[i * d + j] = v * ri * load_as<C>(w, wdt, at(wv, j));
        }
    }
}

// dx[i, j] = r (g w - x r mean_j(g w x r)), r = r[i].
template <typename C>
__device__ __forceinline__ void rms_norm_bwd_dx(const void* x, int xdt, Strided xrow, long long xcol, const void* w, int wdt, Strided wv,
                                                const void* r, int rdt, Strided rv, const void* g, int gdt, Strided grow, long long gcol,
                                                C* dx, long long rows, long long d) {
    for (long long i = blockIdx.x; i < rows; i += gridDim.x) {
        long long xb = at(xrow, i), gb = at(grow, i);
        C ri = load_as<C>(r, rdt, at(rv, i));
        C s = 0;
        for (long long j = threadIdx.x; j < d; j += blockDim.x)
            s += load_as<C>(g, gdt, gb + j * gcol) * load_as<C>(w, wdt, at(wv, j)) * load_as<C>(x, xdt, xb + j * xcol) * ri;
        C mean = block_sum(s) / (C)d;
        for (long long j = threadIdx.x; j < d; j += blockDim.x) {
            C gw = load_as<C>(g, gdt, gb + j * gcol) * load_as<C>(w, wdt, at(wv, j));
            dx[i * d + j] = ri * (gw - load_as<C>(x, xdt, xb + j * xcol) * ri * mean);
        }
    }
}

// partial[c, j] = sum over rows i of chunk c of g[i, j] x[i, j] r[i], each term in C, summed
// in f64 in row order.
template <typename C>
__device__ __forceinline__ void rms_norm_bwd_dw_partial(const void* x, int xdt, Strided xrow, long long xcol, const void* r, int rdt, Strided rv,
                                                        const void* g, int gdt, Strided grow, long long gcol, double* partial,
                                                        long long rows, long long d, long long chunk) {
    long long j = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    long long c = blockIdx.y;
    if (j >= d) return;
    long long end = min(rows, (c + 1) * chunk);
    double acc = 0.0;
    for (long long i = c * chunk; i < end; ++i) {
        C t = load_as<C>(g, gdt, at(grow, i) + j * gcol) * load_as<C>(x, xdt, at(xrow, i) + j * xcol) * load_as<C>(r, rdt, at(rv, i));
        acc += (double)t;
    }
    partial[c * d + j] = acc;
}

/// rms_norm_fwd_f32(x, xdt, xrow, xcol, w, wdt, wv, y, r, rows, d, eps): RMSNorm forward in
/// f32 (CPU reference: nn::norm forward_cpu::<f32>): per row i of x [rows, d],
/// r[i] = 1 / sqrt(sum_j x^2 / d + eps) and y[i, j] = x[i, j] * r[i] * w[j].
/// Thread mapping: one block per row (block-stride loop over rows when the grid is smaller),
/// the block's threads stride over the d columns; the sum of squares is a block_sum (fused.cuh).
/// Parameters: x any float dtype (code xdt) [rows, d] as rows (xrow: Strided over the leading
/// dims, xcol: stride of the last dim); w [d] (Strided wv, code wdt); y f32 [rows, d] and
/// r f32 [rows] contiguous; rows, d i64; eps f32.
/// Limits: blockDim.x a multiple of 32, <= 1024. Shared memory: 32 values (block_sum).
extern "C" __global__ void rms_norm_fwd_f32(const void* x, int xdt, Strided xrow, long long xcol, const void* w, int wdt, Strided wv,
                                            float* y, float* r, long long rows, long long d, float eps) {
    rms_norm_fwd<float>(x, xdt, xrow, xcol, w, wdt, wv, y, r, rows, d, eps);
}
/// rms_norm_fwd_f64(...): as rms_norm_fwd_f32 in f64 (forward_cpu::<f64>): y, r f64, eps f64.
extern "C" __global__ void rms_norm_fwd_f64(const void* x, int xdt, Strided xrow, long long xcol, const void* w, int wdt, Strided wv,
                                            double* y, double* r, long long rows, long long d, double eps) {
    rms_norm_fwd<double>(x, xdt, xrow, xcol, w, wdt, wv, y, r, rows, d, eps);
}

/// rms_norm_bwd_dx_f32(x, xdt, xrow, xcol, w, wdt, wv, r, rdt, rv, g, gdt, grow, gcol, dx, rows,
/// d): the input gradient of RMSNorm in f32 (CPU reference: nn::norm backward_cpu::<f32>, dx):
/// with ri = r[i], mean = sum_j g w x ri / d, dx[i, j] = ri * (g w - x ri mean).
/// Thread mapping: one block per row (block-stride loop), threads stride over the columns;
/// the mean is a block_sum.
/// Parameters: x, g [rows, d] as rows (Strided over the leading dims + last-dim stride), w [d],
/// r [rows] (Strided vectors), any float dtypes (codes *dt); dx f32 [rows, d] contiguous.
/// Limits: blockDim.x a multiple of 32, <= 1024. Shared memory: 32 values.
extern "C" __global__ void rms_norm_bwd_dx_f32(const void* x, int xdt, Strided xrow, long long xcol, const void* w, int wdt, Strided wv,
                                               const void* r, int rdt, Strided rv, const void* g, int gdt, Strided grow, long long gcol,
                                               float* dx, long long rows, long long d) {
    rms_norm_bwd_dx<float>(x, xdt, xrow, xcol, w, wdt, wv, r, rdt, rv, g, gdt, grow, gcol, dx, rows, d);
}
/// rms_norm_bwd_dx_f64(...): as rms_norm_bwd_dx_f32 in f64 (backward_cpu::<f64>); dx f64.
extern "C" __global__ void rms_norm_bwd_dx_f64(const void* x, int xdt, Strided xrow, long long xcol, const void* w, int wdt, Strided wv,
                                               const void* r, int rdt, Strided rv, const void* g, int gdt, Strided grow, long long gcol,
                                               double* dx, long long rows, long long d) {
    rms_norm_bwd_dx<double>(x, xdt, xrow, xcol, w, wdt, wv, r, rdt, rv, g, gdt, grow, gcol, dx, rows, d);
}

/// rms_norm_bwd_dw_partial_f32(x, xdt, xrow, xcol, r, rdt, rv, g, gdt, grow, gcol, partial,
/// rows, d, chunk): first pass of the weight gradient (CPU reference: nn::norm
/// backward_cpu::<f32>, dw): partial[c, j] = sum over rows i in [c chunk, (c+1) chunk) of
/// (g[i, j] * x[i, j] * r[i]) (each term in f32, the sum in f64, rows in order).
/// Thread mapping: grid (ceil(d / blockDim.x), ceil(rows / chunk)); thread x of block (bx, c)
/// owns column j = bx * blockDim.x + x of chunk c and walks its rows one after another
/// (neighbouring threads read neighbouring columns).
/// Parameters: x, g [rows, d] as rows, r [rows], any float dtypes; partial f64 [chunks, d]
/// (scratch); rows, d, chunk i64. Limits: ceil(rows / chunk) <= 65535. No shared memory.
extern "C" __global__ void rms_norm_bwd_dw_partial_f32(const void* x, int xdt, Strided xrow, long long xcol, const void* r, int rdt, Strided rv,
                                                       const void* g, int gdt, Strided grow, long long gcol, double* partial,
                                                       long long rows, long long d, long long chunk) {
    rms_norm_bwd_dw_partial<float>(x, xdt, xrow, xcol, r, rdt, rv, g, gdt, grow, gcol, partial, rows, d, chunk);
}
/// rms_norm_bwd_dw_partial_f64(...): as rms_norm_bwd_dw_partial_f32 with the terms in f64.
extern "C" __global__ void rms_norm_bwd_dw_partial_f64(const void* x, int xdt, Strided xrow, long long xcol, const void* r, int rdt, Strided rv,
                                                       const void* g, int gdt, Strided grow, long long gcol, double* partial,
                                                       long long rows, long long d, long long chunk) {
    rms_norm_bwd_dw_partial<double>(x, xdt, xrow, xcol, r, rdt, rv, g, gdt, grow, gcol, partial, rows, d, chunk);
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
