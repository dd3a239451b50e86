// Causal depthwise conv1d over time (lawcat/src/ops/conv1d.rs): the forward, the backward
// (dx; dw and dbias as deterministic two-pass sums over batch and time) and the in-place
// decoding step. Every entry has an f32 and an f64 twin (the compute type; inputs of any float
// dtype are converted on load, outputs are in the compute type).
//
//   y[b, t, c] = bias[c] + sum_{j<W} w[c, j] * x[b, t - W + 1 + j, c]      (x = 0 before t = 0)
//   dx[b, s, c] = sum_j w[c, j] * dy[b, s + W - 1 - j, c]                  (terms past T dropped)
//   dw[c, j] = sum_{b,t} dy[b, t, c] * x[b, t - W + 1 + j, c];   dbias[c] = sum_{b,t} dy[b, t, c]
#include "common.cuh"

// Widths the dw kernel keeps in registers.
#define CONV_MAX_W 16

template <typename C>
__device__ __forceinline__ void conv1d_fwd(C* y, Operand x, Operand w, Operand bias, int has_bias, long long B, long long T, long long Ch, int W) {
    FOR_EACH(i, B * T * Ch) {
        long long c = i % Ch, t = (i / Ch) % T, b = i / (Ch * T);
        C acc = has_bias ? ld<C>(bias, at1(bias.v, c)) : (C)0;
        for (int j = 0; j < W; ++j) {
            long long s = t - W + 1 + j;
            if (s >= 0) acc += ld<C>(w, at2(w.v, c, j)) * ld<C>(x, at3(x.v, b, s, c));
        }
        y[i] = acc;
    }
}

#define CONV1D_FWD(NAME, C)                                                                                                     \
    extern "C" __global__ void NAME(C* y, Operand x, Operand w, Operand bias, int has_bias, long long B, long long T, long long Ch, int W) { \
        conv1d_fwd<C>(y, x, w, bias, has_bias, B, T, Ch, W);                                        \
    }

/// conv1d_fwd_f32(y, x, w, bias, has_bias, B, T, C, W): the causal depthwise convolution
/// y[b,t,c] = bias[c] + sum_j w[c,j] x[b,t-W+1+j,c] (CPU reference: lawcat::ops::conv1d
/// Conv1d, forward_kernel; terms summed in the same order, j up).
/// Thread mapping: a grid-stride loop over the B*T*C outputs, one output per thread per pass
/// (channels fastest, so a warp reads 32 neighbouring channels of one row); the W taps come
/// through L1.
/// Parameters: y f32 [B, T, C] contiguous (out); x [B, T, C], w [C, W], bias [C] Operands of
/// any float dtype, laid out by dim (rank 3/2/1); has_bias 0/1 (bias unread when 0); B, T, C
/// i64; W i32 >= 1. No shared memory.
CONV1D_FWD(conv1d_fwd_f32, float)
/// conv1d_fwd_f64: as conv1d_fwd_f32, computing in f64 and writing y f64.
CONV1D_FWD(conv1d_fwd_f64, double)

template <typename C>
__device__ __forceinline__ void conv1d_bwd_dx(C* dx, Operand dy, Operand w, long long B, long long T,
                                              long long Ch, int W) {
    FOR_EACH(i, B * T * Ch) {
        long long c = i % Ch, s = (i / Ch) % T, b = i / (Ch * T);
        C acc = 0;
        for (int j = 0; j < W; ++j) {
            long long t = s + W - 1 - j;
            if (t < T) acc += ld<C>(w, at2(w.v, c, j)) * ld<C>(dy, at3(dy.v, b, t, c));
        }
        dx[i] = acc;
    }
}

#define CONV1D_BWD_DX(NAME, C)                                                                                                       \
    extern "C" __global__ void NAME(C* dx, Operand dy, Operand w, long long B, long long T, \
                                    long long Ch, int W) {                                                                           \
        conv1d_bwd_dx<C>(dx, dy, w, B, T, Ch, W);                                                                 \
    }

/// conv1d_bwd_dx_f32(dx, dy, w, B, T, C, W): the input gradient
/// dx[b,s,c] = sum_j w[c,j] dy[b,s+W-1-j,c], terms past T dropped (CPU reference:
/// backward_kernel's dx, j up).
/// Thread mapping: grid-stride loop, one dx element per thread per pass, channels fastest.
/// Parameters: dx f32 [B, T, C] contiguous (out); dy [B, T, C] and w [C, W] Operands laid out
/// by dim; B, T, C i64; W i32. No shared memory.
CONV1D_BWD_DX(conv1d_bwd_dx_f32, float)
/// conv1d_bwd_dx_f64: as conv1d_bwd_dx_f32, in f64.
CONV1D_BWD_DX(conv1d_bwd_dx_f64, double)

// Pass 1 of dw/dbias: block (32, 8), grid (ceil(C/32), P). Thread (cx, ry) of block (bx, p)
// owns channel c = 32 bx + cx and rows n = n0 + ry, n0 + ry + 8, ... of part p's row range
// [p*R, min((p+1)*R, B*T)) (a row is one (b, t)); it keeps W + 1 sums in registers (dw[0..W),
// dbias), then the 8 row threads of a channel are summed in shared memory in ry order and
// thread ry = 0 writes part[p][c][0..W] (index W: dbias).
template <typename C>
__device__ __forceinline__ void conv1d_bwd_dw_part(C* part, Operand x, Operand dy, long long B,
                                                   long long T, long long Ch, int W, long long R) {
    __shared__ C red[8][32][CONV_MAX_W + 1];
    int cx = threadIdx.x, ry = threadIdx.y;
    long long c = (long long)blockIdx.x * 32 + cx, p = blockIdx.y;
    long long n0 = p * R, n1 = min(n0 + R, B * T);
    C acc[CONV_MAX_W + 1];
#pragma unroll
    for (int j = 0; j <= CONV_MAX_W; ++j) acc[j] = 0;
    if (c < Ch) {
        for (long long n = n0 + ry; n < n1; n += 8) {
            long long b = n / T, t = n % T;
            C g = ld<C>(dy, at3(dy.v, b, t, c));
            acc[CONV_MAX_W] += g;
#pragma unroll
            for (int j = 0; j < CONV_MAX_W; ++j) {
                long long s = t - W + 1 + j;
                if (j < W && s >= 0) acc[j] += g * ld<C>(x, at3(x.v, b, s, c));
            }
        }
    }
#pragma unroll
    for (int j = 0; j <= CONV_MAX_W; ++j) red[ry][cx][j] = acc[j];
    __syncthreads();
    if (ry == 0 && c < Ch) {
        for (int j = 0; j <= W; ++j) {
            int src = j < W ? j : CONV_MAX_W;
            C s = 0;
            for (int r = 0; r < 8; ++r) s += red[r][cx][src];
            part[(p * Ch + c) * (W + 1) + j] = s;
        }
    }
}

#define CONV1D_BWD_DW_PART(NAME, C)                                                                                                   \
    extern "C" __global__ void NAME(C* part, Operand x, Operand dy, long long B, long long T, \
                                    long long Ch, int W, long long R) {                                                               \
        conv1d_bwd_dw_part<C>(part, x, dy, B, T, Ch, W, R);                                                       \
    }

/// conv1d_bwd_dw_part_f32(part, x, dy, B, T, C, W, R): pass 1 of the weight
/// and bias gradients (CPU reference: backward_kernel's dw, dbias): part[p][c][j] =
/// sum over rows n = (b, t) in [p R, (p+1) R) of dy[b,t,c] x[b,t-W+1+j,c] for j < W, and
/// part[p][c][W] = the same rows' sum of dy[b,t,c].
/// Thread mapping: block (32, 8), grid (ceil(C/32), P): threadIdx.x a channel (32 neighbouring
/// channels per warp, coalesced), threadIdx.y one of 8 interleaved row streams; each thread
/// sums W+1 values in registers, then the 8 streams of a channel are added in shared memory in
/// a fixed order (deterministic; no atomics).
/// Parameters: part f32 [P, C, W+1] contiguous (out); x, dy [B, T, C] Operands laid out by
/// dim; B, T, C i64; W i32 in 1..=16; R i64 rows per part (P = ceil(B*T / R)).
/// Shared memory: 8 x 32 x 17 values (17 KiB in f32).
CONV1D_BWD_DW_PART(conv1d_bwd_dw_part_f32, float)
/// conv1d_bwd_dw_part_f64: as conv1d_bwd_dw_part_f32, in f64 (34 KiB of shared memory).
CONV1D_BWD_DW_PART(conv1d_bwd_dw_part_f64, double)

template <typename C> __device__ __forceinline__ void conv1d_bwd_dw_sum(C* dw, C* db, const C* part, long long P, long long Ch, int W) {
    FOR_EACH(i, Ch * (W + 1)) {
        long long c = i / (W + 1);
        int j = (int)(i % (W + 1));
        C s = 0;
        for (long long p = 0; p < P; ++p) s += part[(p * Ch + c) * (W + 1) + j];
        if (j < W) {
            if (dw) dw[c * W + j] = s;
        } else if (db) {
            db[c] = s;
        }
    }
}

#define CONV1D_BWD_DW_SUM(NAME, C) \
    extern "C" __global__ void NAME(C* dw, C* db, const C* part, long long P, long long Ch, int W) { conv1d_bwd_dw_sum<C>(dw, db, part, P, Ch, W); }

/// conv1d_bwd_dw_sum_f32(dw, db, part, P, C, W): pass 2 of the weight and bias gradients:
/// dw[c][j] = sum_p part[p][c][j] (j < W), db[c] = sum_p part[p][c][W], p in order.
/// Thread mapping: grid-stride loop, one (c, j) per thread per pass.
/// Parameters: dw f32 [C, W] contiguous or null (not wanted); db f32 [C] or null; part f32
/// [P, C, W+1] from conv1d_bwd_dw_part_f32; P, C i64; W i32. No shared memory.
CONV1D_BWD_DW_SUM(conv1d_bwd_dw_sum_f32, float)
/// conv1d_bwd_dw_sum_f64: as conv1d_bwd_dw_sum_f32, in f64.
CONV1D_BWD_DW_SUM(conv1d_bwd_dw_sum_f64, double)

template <typename C>
__device__ __forceinline__ void conv1d_step_y(C* y, const C* tail, Strided tv, Operand x, Operand w,
                                              Operand bias, int has_bias, long long B, long long T, long long Ch,
                                              int W) {
    FOR_EACH(i, B * T * Ch) {
        long long c = i % Ch, t = (i / Ch) % T, b = i / (Ch * T);
        C acc = has_bias ? ld<C>(bias, at1(bias.v, c)) : (C)0;
        for (int j = 0; j < W; ++j) {
            long long u = t + j;  // index into [tail; x]
            C xv_ = u < W - 1 ? tail[at3(tv, b, u, c)] : ld<C>(x, at3(x.v, b, u - (W - 1), c));
            acc += ld<C>(w, at2(w.v, c, j)) * xv_;
        }
        y[i] = acc;
    }
}

#define CONV1D_STEP_Y(NAME, C)                                                                                                          \
    extern "C" __global__ void NAME(C* y, const C* tail, Strided tv, Operand x, Operand w,   \
                                    Operand bias, int has_bias, long long B, long long T, long long Ch, int W) { \
        conv1d_step_y<C>(y, tail, tv, x, w, bias, has_bias, B, T, Ch, W);                                    \
    }

/// conv1d_step_y_f32(y, tail, tv, x, w, bias, has_bias, B, T, C, W):
/// the outputs of a decoding step, the forward over [tail; x] (CPU reference: Conv1dStep):
/// y[b,t,c] = bias[c] + sum_j w[c,j] u[b,t+j,c] with u = tail rows 0..W-1, then x rows.
/// Thread mapping: grid-stride loop, one y element per thread per pass, channels fastest.
/// Parameters: y f32 [B, T, C] contiguous (out); tail f32 [B, W-1, C] with its Strided tv, by
/// dim (read only here; conv1d_step_tail_f32 advances it after); x [B, T, C], w [C, W],
/// bias [C] Operands by dim; has_bias 0/1; B, T, C i64; W i32 >= 1. No shared memory.
CONV1D_STEP_Y(conv1d_step_y_f32, float)
/// conv1d_step_y_f64: as conv1d_step_y_f32, in f64 (tail and y f64).
CONV1D_STEP_Y(conv1d_step_y_f64, double)

template <typename C>
__device__ __forceinline__ void conv1d_step_tail(C* tail, Strided tv, Operand x, long long B, long long T, long long Ch, int W) {
    FOR_EACH(i, B * Ch) {
        long long c = i % Ch, b = i / Ch;
        C keep[CONV_MAX_W];
#pragma unroll
        for (int r = 0; r < CONV_MAX_W; ++r) {
            long long u = T + r;  // row r of the new tail is row T + r of [tail; x]
            if (r < W - 1) keep[r] = u < W - 1 ? tail[at3(tv, b, u, c)] : ld<C>(x, at3(x.v, b, u - (W - 1), c));
        }
#pragma unroll
        for (int r = 0; r < CONV_MAX_W; ++r)
            if (r < W - 1) tail[at3(tv, b, r, c)] = keep[r];
    }
}

#define CONV1D_STEP_TAIL(NAME, C)                                                                                      \
    extern "C" __global__ void NAME(C* tail, Strided tv, Operand x, long long B, long long T, long long Ch, \
                                    int W) {                                                                           \
        conv1d_step_tail<C>(tail, tv, x, B, T, Ch, W);                                                        \
    }

/// conv1d_step_tail_f32(tail, tv, x, B, T, C, W): advances the decoding state in
/// place: the new tail is the last W-1 rows of [tail; x] (CPU reference: Conv1dStep's
/// new_tail). Runs after conv1d_step_y_f32 (which reads the old tail).
/// Thread mapping: grid-stride loop, one (b, c) column per thread per pass: the thread reads
/// every row it needs into registers before writing any (each column is read and written by
/// its one thread only, so the in-place update has no race).
/// Parameters: tail f32 [B, W-1, C] with its Strided tv, by dim (read and written); x
/// [B, T, C] an Operand by dim; B, T, C i64; W i32 in 1..=17. No shared memory.
CONV1D_STEP_TAIL(conv1d_step_tail_f32, float)
/// conv1d_step_tail_f64: as conv1d_step_tail_f32, in f64.
CONV1D_STEP_TAIL(conv1d_step_tail_f64, double)
