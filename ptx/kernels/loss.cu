// The losses (nn/src/loss/: cross_entropy.rs, kl.rs, mse.rs), forward and
// backward. Row losses run one block per row of the [N, V] logits (V up to ~128K: the block's
// threads stride over the row, block reductions for the max, the sum of exponentials and the
// row's term); the scalar over rows is a second one-block kernel that sums the per-row values
// (f64) in a fixed order, so a loss repeats bit for bit. The row log-sum-exp is the CPU's
// row_lse: m = max_j z_j (NaN skipped), lse = m + log sum_j exp(z_j - m), -inf when m is -inf.
//
// Operands of any float dtype: logits laid out as rows, other inputs flat (vectors, or
// scalars of rank 0); targets i64 with their Strided; outputs contiguous, in the compute
// type C.
#include "fused.cuh"

// The log-sum-exp of row values f(j) (j < v), in every thread of the block.
template <typename C, typename F> __device__ __forceinline__ C block_row_lse(long long v, F f) {
    C m = -c_inf<C>();
    for (long long j = threadIdx.x; j < v; j += blockDim.x) m = fmax_op(m, f(j));
    m = block_max(m);
    if (m == -c_inf<C>()) return m;
    C s = 0;
    for (long long j = threadIdx.x; j < v; j += blockDim.x) s += c_exp(f(j) - m);
    return m + c_log(block_sum(s));
}

// One block's sum (f64) of `n` per-row values, in every thread: thread k adds rows k,
// k + blockDim, ... in order, then a block_sum.
__device__ __forceinline__ double block_sum_rows(const double* vals, long long n) {
    double s = 0.0;
    for (long long i = threadIdx.x; i < n; i += blockDim.x) s += vals[i];
    return block_sum(s);
}

template <typename C>
__device__ __forceinline__ void ce_fwd_rows(Operand z, const long long* tg, Strided ts, C* lse,
                                            double* term, double* counted, long long n, long long v, long long ignore, int has_ignore) {
    for (long long i = blockIdx.x; i < n; i += gridDim.x) {
        long long zb = row_at(z.v, i);
        C l = block_row_lse<C>(v, [&](long long j) { return ld<C>(z, zb + j * col_stride(z.v)); });
        if (threadIdx.x == 0) {
            lse[i] = l;
            long long t = tg[at(ts, i)];
            if (has_ignore && t == ignore) {
                term[i] = 0.0;
                counted[i] = 0.0;
            } else if (t < 0 || t >= v) {
                term[i] = __longlong_as_double(0x7ff8000000000000ll);  // outside the vocabulary: NaN
                counted[i] = 1.0;
            } else {
                term[i] = (double)(l - ld<C>(z, zb + t * col_stride(z.v)));
                counted[i] = 1.0;
            }
        }
    }
}

template <typename C>
__device__ __forceinline__ void ce_fwd_finish(const double* term, const double* counted, long long n, C* loss, C* count) {
    double s = block_sum_rows(term, n), k = block_sum_rows(counted, n);
    if (threadIdx.x == 0) {
        *loss = (C)(k == 0.0 ? 0.0 : s / k);
        *count = (C)k;
    }
}

template <typename C>
__device__ __forceinline__ void ce_bwd(Operand z, const long long* tg, Strided ts, Operand lse, Operand count, Operand g, C* dz,
                                       long long n, long long v, long long ignore, int has_ignore) {
    C k = ld<C>(count, at(count.v, 0)), gv = ld<C>(g, at(g.v, 0));
    C scale = k > (C)0 ? gv / k : (C)0;
    for (long long i = blockIdx.x; i < n; i += gridDim.x) {
        long long zb = row_at(z.v, i), t = tg[at(ts, i)];
        C l = ld<C>(lse, at(lse.v, i));
        bool ignored = has_ignore && t == ignore, outside = !ignored && (t < 0 || t >= v);
        for (long long j = threadIdx.x; j < v; j += blockDim.x) {
            C d;
            if (ignored) d = 0;
            else if (outside) d = (C)__longlong_as_double(0x7ff8000000000000ll);
            else {
                d = c_exp(ld<C>(z, zb + j * col_stride(z.v)) - l) * scale;
                if (j == t) d -= scale;
            }
            dz[i * v + j] = d;
        }
    }
}

template <typename C>
__device__ __forceinline__ void kl_fwd_rows(Operand zs, Operand zt, C* lse_s, C* lse_t, double* term, long long n, long long v, C inv_t) {
    for (long long i = blockIdx.x; i < n; i += gridDim.x) {
        long long sb = row_at(zs.v, i), tb = row_at(zt.v, i);
        auto s = [&](long long j) { return ld<C>(zs, sb + j * col_stride(zs.v)) * inv_t; };
        auto t = [&](long long j) { return ld<C>(zt, tb + j * col_stride(zt.v)) * inv_t; };
        C ls = block_row_lse<C>(v, s), lt = block_row_lse<C>(v, t);
        double acc = 0.0;
        for (long long j = threadIdx.x; j < v; j += blockDim.x) {
            C lp = t(j) - lt;
            acc += (double)(c_exp(lp) * (lp - (s(j) - ls)));
        }
        acc = block_sum(acc);
        if (threadIdx.x == 0) {
            lse_s[i] = ls;
            lse_t[i] = lt;
            term[i] = acc;
        }
    }
}

template <typename C>
__device__ __forceinline__ void kl_bwd(Operand zs, Operand zt, Operand lse_s, Operand lse_t,
                                       Operand g, C* dz, long long n, long long v, C inv_t) {
    C scale = ld<C>(g, at(g.v, 0)) * inv_t / (C)(n > 0 ? n : 1);
    for (long long i = blockIdx.x; i < n; i += gridDim.x) {
        long long sb = row_at(zs.v, i), tb = row_at(zt.v, i);
        C ls = ld<C>(lse_s, at(lse_s.v, i)), lt = ld<C>(lse_t, at(lse_t.v, i));
        for (long long j = threadIdx.x; j < v; j += blockDim.x) {
            C q = c_exp(ld<C>(zs, sb + j * col_stride(zs.v)) * inv_t - ls);
            C p = c_exp(ld<C>(zt, tb + j * col_stride(zt.v)) * inv_t - lt);
            dz[i * v + j] = (q - p) * scale;
        }
    }
}

template <typename C>
__device__ __forceinline__ void mse_partial(Operand a, Operand b, double* partial, long long n) {
    double acc = 0.0;
    FOR_EACH(i, n) {
        double d = (double)(ld<C>(a, at(a.v, i)) - ld<C>(b, at(b.v, i)));
        acc += d * d;
    }
    acc = block_sum(acc);
    if (threadIdx.x == 0) partial[blockIdx.x] = acc;
}

template <typename C>
__device__ __forceinline__ void mse_bwd(Operand a, Operand b, Operand g, C* da, long long n) {
    C f = (C)2 * ld<C>(g, at(g.v, 0)) / (C)(n > 0 ? n : 1);
    FOR_EACH(i, n) { da[i] = (ld<C>(a, at(a.v, i)) - ld<C>(b, at(b.v, i))) * f; }
}

// ---- cross-entropy ----

/// ce_fwd_rows_f32(z, tg, ts, lse, term, counted, n, v, ignore, has_ignore): first pass of
/// the mean cross-entropy in f32 (CPU reference: nn::loss CrossEntropy, cpu::<f32>): lse[i] = row_lse(z[i, :]); for a row whose target t = tg[i] counts
/// (not ignore when has_ignore), term[i] = (double)(lse[i] - z[i, t]) and counted[i] = 1;
/// ignored rows give 0 and 0. A target outside [0, v) (the CPU errors) is never read: its row
/// gives term NaN, counted 1, so the loss is NaN.
/// Thread mapping: one block per row (block-stride loop over rows), threads stride over the
/// v columns; max and sum of exponentials are block reductions; thread 0 writes the row.
/// Parameters: z an Operand of any float dtype [n, v] as rows; tg i64 [n] with its flat
/// Strided ts; lse f32 [n]; term, counted f64 [n] (scratch); n, v,
/// ignore i64; has_ignore i32. Limits: blockDim.x a multiple of 32, <= 1024. Shared: 32 values.
extern "C" __global__ void ce_fwd_rows_f32(Operand z, const long long* tg, Strided ts, float* lse,
                                           double* term, double* counted, long long n, long long v, long long ignore, int has_ignore) {
    ce_fwd_rows<float>(z, tg, ts, lse, term, counted, n, v, ignore, has_ignore);
}
/// ce_fwd_rows_f64(...): as ce_fwd_rows_f32 in f64 (cpu::<f64>); lse f64.
extern "C" __global__ void ce_fwd_rows_f64(Operand z, const long long* tg, Strided ts, double* lse,
                                           double* term, double* counted, long long n, long long v, long long ignore, int has_ignore) {
    ce_fwd_rows<double>(z, tg, ts, lse, term, counted, n, v, ignore, has_ignore);
}

/// ce_fwd_finish_f32(term, counted, n, loss, count): second pass: with S = sum term and
/// k = sum counted over the n rows (f64, thread k taking rows k, k + blockDim, ..., then a
/// block_sum), loss = S / k (0 when k = 0) and count = k, rounded to f32.
/// Thread mapping: one block (grid 1). Parameters: term, counted f64 [n]; loss, count f32 [].
/// Limits: blockDim.x a multiple of 32, <= 1024. Shared: 32 values.
extern "C" __global__ void ce_fwd_finish_f32(const double* term, const double* counted, long long n, float* loss, float* count) {
    ce_fwd_finish<float>(term, counted, n, loss, count);
}
/// ce_fwd_finish_f64(...): as ce_fwd_finish_f32; loss, count f64.
extern "C" __global__ void ce_fwd_finish_f64(const double* term, const double* counted, long long n, double* loss, double* count) {
    ce_fwd_finish<double>(term, counted, n, loss, count);
}

/// ce_bwd_f32(z, tg, ts, lse, count, g, dz, n, v, ignore, has_ignore): the cross-entropy
/// gradient in f32 (CPU reference: CrossEntropy, cpu_backward::<f32>): scale = g / count (0 when count is 0); on a counted row
/// dz[i, j] = exp(z[i, j] - lse[i]) * scale, minus scale at j = target; 0 on ignored rows;
/// NaN on a row whose target is outside [0, v) (the CPU errors).
/// Thread mapping: one block per row (block-stride loop), threads stride over the columns.
/// Parameters: z [n, v] as rows; tg i64 [n] (Strided ts); lse [n] flat; count, g scalars
/// (rank 0); Operands of any float dtypes; dz f32 [n, v] contiguous; n, v, ignore i64; has_ignore i32. No shared memory.
extern "C" __global__ void ce_bwd_f32(Operand z, const long long* tg, Strided ts, Operand lse, Operand count, Operand g,
                                      float* dz, long long n, long long v, long long ignore, int has_ignore) {
    ce_bwd<float>(z, tg, ts, lse, count, g, dz, n, v, ignore, has_ignore);
}
/// ce_bwd_f64(...): as ce_bwd_f32 in f64 (cpu_backward::<f64>); dz f64.
extern "C" __global__ void ce_bwd_f64(Operand z, const long long* tg, Strided ts, Operand lse, Operand count, Operand g,
                                      double* dz, long long n, long long v, long long ignore, int has_ignore) {
    ce_bwd<double>(z, tg, ts, lse, count, g, dz, n, v, ignore, has_ignore);
}

// ---- KL divergence to the teacher ----

/// kl_fwd_rows_f32(zs, zt, lse_s, lse_t, term, n, v, inv_t): first pass of
/// KL(p_teacher || p_student) in f32 (CPU reference: nn::loss Kl, cpu::<f32>): with s = zs * inv_t and t = zt * inv_t (f32), lse_s[i] = row_lse(s),
/// lse_t[i] = row_lse(t), term[i] = sum_j (double)(exp(lp) * (lp - (s - lse_s))),
/// lp = t - lse_t (each term in f32, the sum in f64).
/// Thread mapping: one block per row (block-stride loop), threads stride over the columns;
/// two log-sum-exps and the term sum are block reductions.
/// Parameters: zs, zt Operands of any float dtypes [n, v] as rows; lse_s, lse_t f32 [n]; term f64 [n]
/// (scratch); n, v i64; inv_t f32 (1 / temperature). Limits: blockDim.x a multiple of 32,
/// <= 1024. Shared: 32 values.
extern "C" __global__ void kl_fwd_rows_f32(Operand zs, Operand zt, float* lse_s, float* lse_t, double* term, long long n, long long v, float inv_t) {
    kl_fwd_rows<float>(zs, zt, lse_s, lse_t, term, n, v, inv_t);
}
/// kl_fwd_rows_f64(...): as kl_fwd_rows_f32 in f64 (cpu::<f64>); lse_s, lse_t, inv_t f64.
extern "C" __global__ void kl_fwd_rows_f64(Operand zs, Operand zt, double* lse_s, double* lse_t, double* term, long long n, long long v, double inv_t) {
    kl_fwd_rows<double>(zs, zt, lse_s, lse_t, term, n, v, inv_t);
}

/// kl_bwd_f32(zs, zt, lse_s, lse_t, g, dz, n, v, inv_t): the KL gradient in f32 (CPU
/// reference: Kl, cpu_backward::<f32>): scale = g * inv_t / max(n, 1), q = exp(zs inv_t - lse_s[i]),
/// p = exp(zt inv_t - lse_t[i]), dz[i, j] = (q - p) * scale.
/// Thread mapping: one block per row (block-stride loop), threads stride over the columns.
/// Parameters: zs, zt [n, v] as rows; lse_s, lse_t [n] flat; g scalar; Operands; dz f32
/// [n, v] contiguous; n, v i64; inv_t f32. No shared memory.
extern "C" __global__ void kl_bwd_f32(Operand zs, Operand zt, Operand lse_s, Operand lse_t,
                                      Operand g, float* dz, long long n, long long v, float inv_t) {
    kl_bwd<float>(zs, zt, lse_s, lse_t, g, dz, n, v, inv_t);
}
/// kl_bwd_f64(...): as kl_bwd_f32 in f64 (cpu_backward::<f64>); dz, inv_t f64.
extern "C" __global__ void kl_bwd_f64(Operand zs, Operand zt, Operand lse_s, Operand lse_t,
                                      Operand g, double* dz, long long n, long long v, double inv_t) {
    kl_bwd<double>(zs, zt, lse_s, lse_t, g, dz, n, v, inv_t);
}

// ---- mean squared error ----

/// mse_partial_f32(a, b, partial, n): first pass of the mean squared error (CPU reference:
/// nn::loss Mse, cpu::<f32>): block k writes partial[k], the f64 sum
/// of (double)(a[i] - b[i])^2 (difference in f32, square in f64) over the i its threads visit.
/// Thread mapping: a grid-stride loop over the n elements (row-major over the shared shape),
/// then a block_sum; the grid size is the host's fixed function of n, so the result repeats.
/// Parameters: a, b Operands of any float dtypes, flat; partial f64 [gridDim.x] (scratch);
/// n i64. Limits: blockDim.x a multiple of 32, <= 1024. Shared: 32 values.
extern "C" __global__ void mse_partial_f32(Operand a, Operand b, double* partial, long long n) {
    mse_partial<float>(a, b, partial, n);
}
/// mse_partial_f64(...): as mse_partial_f32 with the difference in f64.
extern "C" __global__ void mse_partial_f64(Operand a, Operand b, double* partial, long long n) {
    mse_partial<double>(a, b, partial, n);
}

/// mean_finish_f32(vals, count, divisor, out): the second pass of kl_div and mse:
/// out = (sum of vals[0..count], f64, fixed order as ce_fwd_finish_f32) / divisor, rounded
/// to f32. Thread mapping: one block (grid 1). Parameters: vals f64 [count]; count i64;
/// divisor f64 (> 0); out f32 []. Limits: blockDim.x a multiple of 32, <= 1024.
extern "C" __global__ void mean_finish_f32(const double* vals, long long count, double divisor, float* out) {
    double s = block_sum_rows(vals, count);
    if (threadIdx.x == 0) *out = (float)(s / divisor);
}
/// mean_finish_f64(vals, count, divisor, out): as mean_finish_f32; out f64.
extern "C" __global__ void mean_finish_f64(const double* vals, long long count, double divisor, double* out) {
    double s = block_sum_rows(vals, count);
    if (threadIdx.x == 0) *out = s / divisor;
}

/// mse_bwd_f32(a, b, g, da, n): the MSE gradient in f32 (CPU reference: Mse,
/// cpu_backward::<f32>; db is this with a and b swapped): f = 2 g / max(n, 1), da[i] = (a[i] - b[i]) * f.
/// Thread mapping: a grid-stride loop, one element per thread per pass.
/// Parameters: a, b Operands of any float dtypes, flat; g scalar; da f32 [n] contiguous;
/// n i64. No shared memory.
extern "C" __global__ void mse_bwd_f32(Operand a, Operand b, Operand g, float* da, long long n) {
    mse_bwd<float>(a, b, g, da, n);
}
/// mse_bwd_f64(...): as mse_bwd_f32 in f64 (cpu_backward::<f64>); da f64.
extern "C" __global__ void mse_bwd_f64(Operand a, Operand b, Operand g, double* da, long long n) {
    mse_bwd<double>(a, b, g, da, n);
}
