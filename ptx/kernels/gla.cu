// Gated linear attention (lawcat/src/ops/gla): S_t = diag(exp g_t) S_{t-1} + k_t v_t^T,
// o_t = scale S_t^T q_t, per (sequence, head) "lane", state S [K, V] in f32.
//
// Chunked form (f32; lawcat/src/ops/gla/chunked.rs), flash-linear-attention's decomposition:
//   gla_cumsum       b = the log gates summed inside each chunk of C steps (scratch [BH, T, K])
//   gla_chunk_h      the state at every chunk boundary, one sweep over the chunks per (lane,
//                    32 state rows) (scratch [BH, NC+1, K, V]); run backwards over (q, dO) it
//                    gives the state gradient at every chunk end instead (scratch [BH, NC, K, V])
//   gla_chunk_fwd_o  per (lane, chunk): O = scale ((Q e^b) S_prev + A V), the intra-chunk pair
//                    matrix A built from sub-chunks of 16 so that no exponent is positive
//   gla_chunk_bwd    per (lane, chunk): dq, dk, dv, dg from dA = scale dO V^T, A, the states
//                    and the state gradients
// Recurrent form (f32 and f64; recurrent.rs): gla_rec_fwd_* (also the in-place decoding step),
// gla_rec_bwd_* with gla_rec_bwd_sum_*.
//
// Sub-chunk reference points (every exponent <= 0): with b the cumulative gates in a chunk
// (non-increasing), r_J = b at the last row of sub-chunk J, and rows i in sub-chunk I > J,
// j in J:  e^(b_i - b_j) = e^(b_i - r_(I-1)) * e^(r_(I-1) - r_J) * e^(r_J - b_j), three factors
// each at most 1 (Eq_i, D_IJ, Ek_j below). Pairs inside one sub-chunk take e^(b_i - b_j) directly.
#include "common.cuh"

#define GLA_SUB 16
#define GLA_MAXC 64
#define GLA_KT 32
#define GLA_THREADS 256
// Value columns: lanes of 16 threads own columns tx, tx + 16, ... (9 at most).
#define GLA_MAX_V 144
#define GLA_MV (GLA_MAX_V / 16)

// Pair index of sub-chunks (I, J), J < I <= 3: (1,0) (2,0) (2,1) (3,0) (3,1) (3,2).
__device__ __forceinline__ int pair_ix(int I, int J) { return I * (I - 1) / 2 + J; }

/// gla_cumsum(gc, g, B, T, H, K, C): the log gates summed from the start of each chunk of C
/// steps: gc[lane, t, f] = g[b, c0, h, f] + ... + g[b, t, h, f] (c0 = the chunk's first step;
/// lane = b H + h), added in time order (CPU reference: chunked.rs cumgates).
/// Thread mapping: grid-stride loop over (lane, chunk, f), f fastest (coalesced), each thread
/// walking its chunk's steps in order.
/// Parameters: gc f32 [B*H, T, K] (out); g Operand [B, T, H, K] (any strides, float dtype);
/// B, T, H, K, C i32 (C >= 1). No shared memory.
extern "C" __global__ void gla_cumsum(float* gc, Operand g, int B, int T, int H, int K, int C) {
    const long long NC = (T + C - 1) / C;
    FOR_EACH(i, (long long)B * H * NC * K) {
        int f = (int)(i % K);
        long long r = i / K, c = r % NC, lane = r / NC;
        long long b = lane / H, h = lane % H;
        long long t0 = c * C, t1 = min(t0 + C, (long long)T);
        float acc = 0.f;
        for (long long t = t0; t < t1; ++t) {
            float x = ld4<float>(g, b, t, h, f);
            acc = t == t0 ? x : acc + x;
            gc[(lane * T + t) * K + f] = acc;
        }
    }
}

/// gla_chunk_h(hs, fin, s0, has_s0, a, y, gc, B, T, H, K, V, C, scale, reverse): the state
/// at every chunk boundary by one sweep over the chunks (CPU reference: chunked.rs forward's
/// `states`, and backward's `dmat` sweep).
/// reverse = 0: S starts at s0 (zero when has_s0 = 0); for chunks c = 0, 1, ...: hs[c] = S, then
///   S = diag(e^(b_last)) S + (a e^(b_last - b))^T y with a = k, y = v; at the end hs[NC] = S and
///   fin = S (the final state).
/// reverse = 1: D starts at s0 = dS_T; for chunks c = NC-1 .. 0: hs[c] = D (the gradient at the
///   chunk's end), then D = diag(e^(b_last)) D + scale (a e^b)^T y with a = q, y = dO; at the end
///   fin = D (the initial state's gradient; skipped when fin is null).
/// Thread mapping: 256 threads, grid (ceil(K/32), B*H): block (x, lane) owns state rows
/// 32x .. 32x+31 of its lane; thread (ty = tid/16, tx = tid%16) owns rows 32x + 2ty, +1 and
/// columns tx, tx+16, ... (< V), 18 f32 registers. Per chunk the block stages a's 32 columns
/// (scaled by their decay) and all of y's chunk rows in shared memory, then each thread adds
/// its 2 x 9 outer products row by row.
/// Parameters: hs f32 [B*H, NC+1 (forward) or NC (reverse), K, V] contiguous (out); fin f32
/// [B, H, K, V] contiguous or null; s0 Operand [B, H, K, V]; a Operand [B, T, H, K]; y Operand [B, T, H, V];
/// gc f32 [B*H, T, K] from gla_cumsum; B, T, H, K, V, C i32 (V <= 144, C <= 64); scale f32.
/// Shared memory (dynamic): (32 C + C V + 32) f32. Registers: uncapped (64 on sm_90; capping
/// them at 48 for 5 blocks per SM measured 1.9x slower: 666 against 359 us per launch, H100).
extern "C" __global__ __launch_bounds__(GLA_THREADS) void gla_chunk_h(float* hs, float* fin, Operand s0, int has_s0, Operand a, Operand y, const float* gc, int B,
                                                                      int T, int H, int K, int V, int C, float scale, int reverse) {
    extern __shared__ float sm[];
    float* X = sm;              // [C][32]
    float* Y = X + C * GLA_KT;  // [C][V]
    float* decay = Y + C * V;   // [32]
    const int tid = threadIdx.x, ty = tid >> 4, tx = tid & 15;
    const long long lane = blockIdx.y, b = lane / H, h = lane % H;
    const int f0 = blockIdx.x * GLA_KT;
    const int NC = (T + C - 1) / C;
    const long long KV = (long long)K * V;
    const long long hchunks = reverse ? NC : NC + 1;
    float S[2][GLA_MV];
#pragma unroll
    for (int rr = 0; rr < 2; ++rr) {
        int f = f0 + 2 * ty + rr;
#pragma unroll
        for (int m = 0; m < GLA_MV; ++m) {
            int col = tx + 16 * m;
            S[rr][m] = (has_s0 && f < K && col < V) ? ld4<float>(s0, b, h, f, col) : 0.f;
        }
    }
    for (int step = 0; step < NC; ++step) {
        const int c = reverse ? NC - 1 - step : step;
        const long long t0 = (long long)c * C;
        const int len = (int)min((long long)C, T - t0);
        float* hc = hs + (lane * hchunks + c) * KV;
#pragma unroll
        for (int rr = 0; rr < 2; ++rr) {
            int f = f0 + 2 * ty + rr;
#pragma unroll
            for (int m = 0; m < GLA_MV; ++m) {
                int col = tx + 16 * m;
                if (f < K && col < V) hc[(long long)f * V + col] = S[rr][m];
            }
        }
        __syncthreads();  // the previous chunk's X, Y are no longer read
        const float* gl = gc + (lane * T + t0) * K;
        for (int e = tid; e < len * GLA_KT; e += GLA_THREADS) {
            int i = e / GLA_KT, f = f0 + e % GLA_KT;
            float x = 0.f;
            if (f < K) {
                float bb = gl[(long long)i * K + f];
                float av = ld4<float>(a, b, t0 + i, h, f);
                x = reverse ? av * expf(bb) * scale : av * expf(gl[(long long)(len - 1) * K + f] - bb);
            }
            X[e] = x;
        }
        for (int e = tid; e < len * V; e += GLA_THREADS) Y[e] = ld4<float>(y, b, t0 + e / V, h, e % V);
        if (tid < GLA_KT) decay[tid] = f0 + tid < K ? expf(gl[(long long)(len - 1) * K + f0 + tid]) : 0.f;
        __syncthreads();
#pragma unroll
        for (int rr = 0; rr < 2; ++rr) {
            float d = decay[2 * ty + rr];
#pragma unroll
            for (int m = 0; m < GLA_MV; ++m) S[rr][m] *= d;
        }
        for (int i = 0; i < len; ++i) {
            float x0 = X[i * GLA_KT + 2 * ty], x1 = X[i * GLA_KT + 2 * ty + 1];
#pragma unroll
            for (int m = 0; m < GLA_MV; ++m) {
                int col = tx + 16 * m;
                if (col < V) {
                    float yv = Y[i * V + col];
                    S[0][m] += x0 * yv;
                    S[1][m] += x1 * yv;
                }
            }
        }
    }
#pragma unroll
    for (int rr = 0; rr < 2; ++rr) {
        int f = f0 + 2 * ty + rr;
#pragma unroll
        for (int m = 0; m < GLA_MV; ++m) {
            int col = tx + 16 * m;
            if (f < K && col < V) {
                if (!reverse) hs[(lane * hchunks + NC) * KV + (long long)f * V + col] = S[rr][m];
                if (fin) fin[lane * KV + (long long)f * V + col] = S[rr][m];
            }
        }
    }
}

// The per-k-tile factors of the sub-chunk decomposition, from the staged Q, K, b tiles
// ([GLA_MAXC][GLA_KT], rows >= len zero): Eq[i] = e^(b_i - r_(I-1)) (I >= 1), Ek[j] = e^(r_J - b_j),
// Kh[j] = k_j e^(b_last - b_j) (when Kh is not null), D[pair(I,J)] = e^(r_(I-1) - r_J).
__device__ __forceinline__ void gla_factors(float* Eq, float* Ek, float* Kh, float* Dd, const float* Ks, const float* Bs, int len) {
    for (int e = threadIdx.x; e < GLA_MAXC * GLA_KT; e += blockDim.x) {
        int i = e / GLA_KT, fl = e % GLA_KT, I = i / GLA_SUB;
        float eq = 0.f, ek = 0.f, kh = 0.f;
        if (i < len) {
            float bb = Bs[e];
            if (I > 0) eq = expf(bb - Bs[(I * GLA_SUB - 1) * GLA_KT + fl]);
            ek = expf(Bs[min(I * GLA_SUB + GLA_SUB - 1, len - 1) * GLA_KT + fl] - bb);
            kh = Ks[e] * expf(Bs[(len - 1) * GLA_KT + fl] - bb);
        }
        Eq[e] = eq;
        Ek[e] = ek;
        if (Kh) Kh[e] = kh;
    }
    for (int e = threadIdx.x; e < 6 * GLA_KT; e += blockDim.x) {
        int p = e / GLA_KT, fl = e % GLA_KT;
        int I = p < 1 ? 1 : p < 3 ? 2 : 3, J = p - pair_ix(I, 0);
        Dd[e] = I * GLA_SUB < len ? expf(Bs[(I * GLA_SUB - 1) * GLA_KT + fl] - Bs[(J * GLA_SUB + GLA_SUB - 1) * GLA_KT + fl]) : 0.f;
    }
}

// Adds one k-tile's share to the 4x4 patch of the pair matrix A that thread (ty, tx) owns:
// rows 4ty.., columns 4tx.. (A_ij = sum_f q_if k_jf e^(b_if - b_jf), j <= i).
__device__ __forceinline__ void gla_a_patch(float acc[4][4], int ty, int tx, const float* Qs, const float* Ks, const float* Bs, const float* Eq,
                                            const float* Ek, const float* Dd, int len) {
    const int I = ty / 4, J = tx / 4;
    if (J < I) {
        const float* dd = Dd + pair_ix(I, J) * GLA_KT;
        for (int fl = 0; fl < GLA_KT; ++fl) {
            float d = dd[fl];
            float kr[4];
#pragma unroll
            for (int c = 0; c < 4; ++c) {
                int e = (4 * tx + c) * GLA_KT + fl;
                kr[c] = Ks[e] * Ek[e] * d;
            }
#pragma unroll
            for (int r = 0; r < 4; ++r) {
                int e = (4 * ty + r) * GLA_KT + fl;
                float qh = Qs[e] * Eq[e];
#pragma unroll
                for (int c = 0; c < 4; ++c) acc[r][c] += qh * kr[c];
            }
        }
    } else if (J == I) {
#pragma unroll
        for (int r = 0; r < 4; ++r) {
            int i = 4 * ty + r;
#pragma unroll
            for (int c = 0; c < 4; ++c) {
                int j = 4 * tx + c;
                if (j <= i && i < len) {
                    float s = 0.f;
                    for (int fl = 0; fl < GLA_KT; ++fl) s += Qs[i * GLA_KT + fl] * Ks[j * GLA_KT + fl] * expf(Bs[i * GLA_KT + fl] - Bs[j * GLA_KT + fl]);
                    acc[r][c] += s;
                }
            }
        }
    }
}

// The outer-product accumulation of thread (ty, tx) of a 16 x 16 block: its 4 rows
// 4ty..4ty+3 and GLA_MV columns tx, tx + 16, ... (those < V) of
//   acc[r][m] += sum_{l < n} X[(4ty + r) xs + l] Y[l V + tx + 16 m],  l in order,
// X row-major with row stride xs, Y [n][V] (both in shared memory). Used for the state term
// Q e^b S_prev and for A V in the forward, and for (K e^(b_last - b)) D in the backward.
__device__ __forceinline__ void gla_outer_acc(float (&acc)[4][GLA_MV], const float* X, int xs, const float* Y, int n, int V, int ty, int tx) {
    for (int l = 0; l < n; ++l) {
        float x[4];
#pragma unroll
        for (int r = 0; r < 4; ++r) x[r] = X[(4 * ty + r) * xs + l];
#pragma unroll
        for (int m = 0; m < GLA_MV; ++m) {
            int col = tx + 16 * m;
            if (col < V) {
                float y = Y[l * V + col];
#pragma unroll
                for (int r = 0; r < 4; ++r) acc[r][m] += x[r] * y;
            }
        }
    }
}

// Stages rows t0 .. t0+len of features f0 .. f0+31 of q, k and the cumulative gates into
// [GLA_MAXC][GLA_KT] tiles (zero past len and K).
__device__ __forceinline__ void gla_stage_qkb(float* Qs, float* Ks, float* Bs, const Operand& q, const Operand& k, const float* gl, long long b, long long h,
                                              long long t0, int len, int f0, int K) {
    for (int e = threadIdx.x; e < GLA_MAXC * GLA_KT; e += blockDim.x) {
        int i = e / GLA_KT, f = f0 + e % GLA_KT;
        bool in = i < len && f < K;
        Qs[e] = in ? ld4<float>(q, b, t0 + i, h, f) : 0.f;
        Ks[e] = in ? ld4<float>(k, b, t0 + i, h, f) : 0.f;
        Bs[e] = in ? gl[(long long)i * K + f] : 0.f;
    }
}

/// gla_chunk_fwd_o(o, q, k, v, gc, hs, B, T, H, K, V, C, scale): the output of one chunk of
/// one lane, O = scale ((Q e^b) S_prev + A V), A_ij = sum_f q_if k_jf e^(b_if - b_jf) for j <= i
/// (CPU reference: chunked.rs forward). Off-diagonal sub-chunk blocks of A use
/// (Q Eq) (K Ek D_IJ)^T, diagonal blocks e^(b_i - b_j) pair by pair: no exponent > 0.
/// Thread mapping: 256 threads, grid (NC, B*H), one block per (chunk, lane). The features go
/// by tiles of 32 (staged Q, K, b, their factors and the 32 rows of S_prev in shared memory);
/// thread (ty = tid/16, tx = tid%16) accumulates the 4x4 patch of A at rows 4ty.., columns
/// 4tx.. (patches above the diagonal stay zero) and the 4 x 9 outputs at rows 4ty.., columns
/// tx, tx+16, ... Then A goes to shared memory, the chunk's V replaces the tiles, and
/// O += A V row by row.
/// Parameters: o f32 [B, T, H, V] contiguous (out); q, k Operand [B, T, H, K]; v Operand [B, T, H, V];
/// gc f32 [B*H, T, K] (gla_cumsum); hs f32 [B*H, NC+1, K, V] (gla_chunk_h); B, T, H, K, V, C i32
/// (C <= 64, V <= 144); scale f32.
/// Shared memory (dynamic): (64*64 + 6*64*32 + 6*32 + 32 V) f32 (58 KiB at V = 65).
extern "C" __global__ __launch_bounds__(GLA_THREADS) void gla_chunk_fwd_o(float* o, Operand q, Operand k, Operand v, const float* gc, const float* hs, int B, int T,
                                                                          int H, int K, int V, int C, float scale) {
    extern __shared__ float sm[];
    const int TILE = GLA_MAXC * GLA_KT;
    float* A = sm;                 // [64][64]
    float* Qs = A + GLA_MAXC * GLA_MAXC;
    float* Ks = Qs + TILE;
    float* Bs = Ks + TILE;
    float* Eq = Bs + TILE;
    float* Ek = Eq + TILE;
    float* Qe = Ek + TILE;         // q e^b
    float* Dd = Qe + TILE;         // [6][32]
    float* Hs = Dd + 6 * GLA_KT;   // [32][V], rows of S_prev
    float* Vs = Qs;                // [64][V] after the feature tiles
    const int tid = threadIdx.x, ty = tid >> 4, tx = tid & 15;
    const int c = blockIdx.x;
    const long long lane = blockIdx.y, b = lane / H, h = lane % H;
    const int NC = (T + C - 1) / C;
    const long long t0 = (long long)c * C;
    const int len = (int)min((long long)C, T - t0);
    const float* gl = gc + (lane * T + t0) * K;
    const float* hprev = hs + (lane * (NC + 1) + c) * (long long)K * V;
    float a[4][4], acc[4][GLA_MV];
#pragma unroll
    for (int r = 0; r < 4; ++r) {
#pragma unroll
        for (int j = 0; j < 4; ++j) a[r][j] = 0.f;
#pragma unroll
        for (int m = 0; m < GLA_MV; ++m) acc[r][m] = 0.f;
    }
    for (int f0 = 0; f0 < K; f0 += GLA_KT) {
        __syncthreads();  // the previous tile is no longer read
        gla_stage_qkb(Qs, Ks, Bs, q, k, gl, b, h, t0, len, f0, K);
        for (int e = tid; e < GLA_KT * V; e += GLA_THREADS) {
            int f = f0 + e / V;
            Hs[e] = f < K ? hprev[(long long)f * V + e % V] : 0.f;
        }
        __syncthreads();
        gla_factors(Eq, Ek, nullptr, Dd, Ks, Bs, len);
        for (int e = tid; e < TILE; e += GLA_THREADS) Qe[e] = Qs[e] * expf(Bs[e]);
        __syncthreads();
        gla_a_patch(a, ty, tx, Qs, Ks, Bs, Eq, Ek, Dd, len);
        gla_outer_acc(acc, Qe, GLA_KT, Hs, GLA_KT, V, ty, tx);
    }
    __syncthreads();  // every tile read
#pragma unroll
    for (int r = 0; r < 4; ++r)
#pragma unroll
        for (int j = 0; j < 4; ++j) A[(4 * ty + r) * GLA_MAXC + 4 * tx + j] = a[r][j];
    for (int e = tid; e < GLA_MAXC * V; e += GLA_THREADS) {
        int i = e / V;
        Vs[e] = i < len ? ld4<float>(v, b, t0 + i, h, e % V) : 0.f;
    }
    __syncthreads();
    gla_outer_acc(acc, A, GLA_MAXC, Vs, min(len, 4 * ty + 4), V, ty, tx);
#pragma unroll
    for (int r = 0; r < 4; ++r) {
        int i = 4 * ty + r;
        if (i >= len) continue;
        float* orow = o + ((b * T + t0 + i) * H + h) * (long long)V;
#pragma unroll
        for (int m = 0; m < GLA_MV; ++m) {
            int col = tx + 16 * m;
            if (col < V) orow[col] = acc[r][m] * scale;
        }
    }
}

/// gla_chunk_bwd(dq, dk, dv, dg, q, k, v, dout, gc, hs, dhs, B, T, H, K, V, C, scale): the
/// gradients of one chunk of one lane (CPU reference: chunked.rs backward), with D the state
/// gradient at the chunk's end (dhs), S_prev, S_cur the states at its start and end (hs):
///   dA = scale dO V^T (j <= i);  dq = intra(dA, K) + scale e^b (dO S_prev^T);
///   dk = intra^T(dA, Q) + e^(b_last - b) (V D^T);  dv = scale A^T dO + (K e^(b_last - b)) D;
///   db = q dq - k dk (+ rowsum(D S_cur) on the last step), dg = its reverse cumsum in the chunk.
/// intra pairs carry e^(b_i - b_j), factored by sub-chunks as in gla_chunk_fwd_o.
/// Thread mapping: 256 threads, grid (NC, B*H). dA first: thread (ty, tx) computes the 4x4 patch
/// at rows 4ty.., columns 4tx.. from V and dO staged in shared memory. Then per tile of 32
/// features: thread (tid/8, tid%8) owns dq and dk at rows 2(tid/8), +1 and features 4(tid%8)..+3
/// of the tile; thread (ty, tx) adds to its A patch and to its 4 x 9 dv accumulators (rows 4ty..,
/// columns tx, tx+16, ...) the term K e^(b_last - b) D; the tile's dq, dk go to shared memory and
/// 32 threads (one per feature) walk the chunk backwards for dg. Last, A goes to shared memory
/// and dv += scale A^T dO.
/// Parameters: dq, dk, dg f32 [B, T, H, K], dv f32 [B, T, H, V], contiguous, each null when not
/// wanted; q, k Operand [B, T, H, K]; v, dout Operand [B, T, H, V]; gc f32 [B*H, T, K]; hs f32 [B*H,
/// NC+1, K, V] (gla_chunk_h forward); dhs f32 [B*H, NC, K, V] (gla_chunk_h reverse); B, T, H,
/// K, V, C i32 (C <= 64, V <= 144); scale f32.
/// Shared memory (dynamic): (2*64 V + 2*64*64 + 6*64*32 + 6*32 + 2*32 V) f32 (145 KiB at V = 65).
extern "C" __global__ __launch_bounds__(GLA_THREADS) void gla_chunk_bwd(float* dq, float* dk, float* dv, float* dg, Operand q, Operand k, Operand v, Operand dout,
                                                                        const float* gc, const float* hs, const float* dhs, int B, int T, int H, int K,
                                                                        int V, int C, float scale) {
    extern __shared__ float sm[];
    const int TILE = GLA_MAXC * GLA_KT;
    float* Vs = sm;                            // [64][V]
    float* dOs = Vs + GLA_MAXC * V;            // [64][V]
    float* dA = dOs + GLA_MAXC * V;            // [64][64]
    float* Qs = dA + GLA_MAXC * GLA_MAXC;      // tiles [64][32]
    float* Ks = Qs + TILE;
    float* Bs = Ks + TILE;
    float* Eq = Bs + TILE;
    float* Ek = Eq + TILE;
    float* Kh = Ek + TILE;
    float* dQs = Kh + TILE;
    float* dKs = dQs + TILE;
    float* A = dQs;                            // [64][64] at the end (over dQs, dKs)
    float* Dd = dKs + TILE;                    // [6][32]
    float* Sp = Dd + 6 * GLA_KT;               // [32][V] rows of S_prev
    float* Dt = Sp + GLA_KT * V;               // [32][V] rows of D
    const int tid = threadIdx.x, ty = tid >> 4, tx = tid & 15, qy = tid >> 3, qx = tid & 7;
    const int c = blockIdx.x;
    const long long lane = blockIdx.y, b = lane / H, h = lane % H;
    const int NC = (T + C - 1) / C;
    const long long t0 = (long long)c * C, KV = (long long)K * V;
    const int len = (int)min((long long)C, T - t0);
    const float* gl = gc + (lane * T + t0) * K;
    const float* sprev = hs + (lane * (NC + 1) + c) * KV;
    const float* scur = sprev + KV;
    const float* dmat = dhs + (lane * NC + c) * KV;

    for (int e = tid; e < GLA_MAXC * V; e += GLA_THREADS) {
        int i = e / V, col = e % V;
        Vs[e] = i < len ? ld4<float>(v, b, t0 + i, h, col) : 0.f;
        dOs[e] = i < len ? ld4<float>(dout, b, t0 + i, h, col) : 0.f;
    }
    __syncthreads();
    {
        float p[4][4];
#pragma unroll
        for (int r = 0; r < 4; ++r)
#pragma unroll
            for (int j = 0; j < 4; ++j) p[r][j] = 0.f;
        if (tx <= ty) {
            for (int col = 0; col < V; ++col) {
                float vv[4];
#pragma unroll
                for (int j = 0; j < 4; ++j) vv[j] = Vs[(4 * tx + j) * V + col];
#pragma unroll
                for (int r = 0; r < 4; ++r) {
                    float d = dOs[(4 * ty + r) * V + col];
#pragma unroll
                    for (int j = 0; j < 4; ++j) p[r][j] += d * vv[j];
                }
            }
        }
#pragma unroll
        for (int r = 0; r < 4; ++r)
#pragma unroll
            for (int j = 0; j < 4; ++j) dA[(4 * ty + r) * GLA_MAXC + 4 * tx + j] = 4 * tx + j <= 4 * ty + r ? p[r][j] * scale : 0.f;
    }

    float a[4][4], dva[4][GLA_MV];
#pragma unroll
    for (int r = 0; r < 4; ++r) {
#pragma unroll
        for (int j = 0; j < 4; ++j) a[r][j] = 0.f;
#pragma unroll
        for (int m = 0; m < GLA_MV; ++m) dva[r][m] = 0.f;
    }
    for (int f0 = 0; f0 < K; f0 += GLA_KT) {
        __syncthreads();  // dA written; the previous tile (and its dg walk) done
        gla_stage_qkb(Qs, Ks, Bs, q, k, gl, b, h, t0, len, f0, K);
        for (int e = tid; e < GLA_KT * V; e += GLA_THREADS) {
            int f = f0 + e / V;
            long long at = (long long)f * V + e % V;
            Sp[e] = f < K ? sprev[at] : 0.f;
            Dt[e] = f < K ? dmat[at] : 0.f;
        }
        __syncthreads();
        gla_factors(Eq, Ek, Kh, Dd, Ks, Bs, len);
        __syncthreads();
        gla_a_patch(a, ty, tx, Qs, Ks, Bs, Eq, Ek, Dd, len);
        // dv += (K e^(b_last - b)) D over this tile's features
        gla_outer_acc(dva, Kh, GLA_KT, Dt, GLA_KT, V, ty, tx);
        // dq and dk at rows 2qy, 2qy+1 and features 4qx .. 4qx+3 of the tile
        float gq[2][4], gk[2][4];
#pragma unroll
        for (int r = 0; r < 2; ++r) {
            const int i = 2 * qy + r, I = i / GLA_SUB;
            const int blast = min(I * GLA_SUB + GLA_SUB - 1, len - 1);
#pragma unroll
            for (int x = 0; x < 4; ++x) {
                const int fl = 4 * qx + x;
                float sq = 0.f, sk = 0.f;
                if (i < len) {
                    // dq: earlier sub-chunks (three factors), then pairs inside I
                    for (int J = 0; J < I; ++J) {
                        float part = 0.f;
                        for (int j = J * GLA_SUB; j < J * GLA_SUB + GLA_SUB; ++j) part += dA[i * GLA_MAXC + j] * Ks[j * GLA_KT + fl] * Ek[j * GLA_KT + fl];
                        sq += part * Dd[pair_ix(I, J) * GLA_KT + fl];
                    }
                    sq *= Eq[i * GLA_KT + fl];
                    const float bi = Bs[i * GLA_KT + fl];
                    for (int j = I * GLA_SUB; j <= i; ++j) sq += dA[i * GLA_MAXC + j] * Ks[j * GLA_KT + fl] * expf(bi - Bs[j * GLA_KT + fl]);
                    // dk: pairs inside I, then later sub-chunks (three factors)
                    for (int i2 = i; i2 <= blast; ++i2) sk += dA[i2 * GLA_MAXC + i] * Qs[i2 * GLA_KT + fl] * expf(Bs[i2 * GLA_KT + fl] - bi);
                    float later = 0.f;
                    for (int I2 = I + 1; I2 * GLA_SUB < len; ++I2) {
                        float part = 0.f;
                        for (int i2 = I2 * GLA_SUB; i2 < min(I2 * GLA_SUB + GLA_SUB, len); ++i2)
                            part += dA[i2 * GLA_MAXC + i] * Qs[i2 * GLA_KT + fl] * Eq[i2 * GLA_KT + fl];
                        later += part * Dd[pair_ix(I2, I) * GLA_KT + fl];
                    }
                    sk += later * Ek[i * GLA_KT + fl];
                    // the state terms: scale e^b (dO S_prev^T) and e^(b_last - b) (V D^T)
                    float inter_q = 0.f, inter_k = 0.f;
                    for (int col = 0; col < V; ++col) {
                        inter_q += dOs[i * V + col] * Sp[fl * V + col];
                        inter_k += Vs[i * V + col] * Dt[fl * V + col];
                    }
                    sq += scale * expf(bi) * inter_q;
                    sk += expf(Bs[(len - 1) * GLA_KT + fl] - bi) * inter_k;
                }
                gq[r][x] = sq;
                gk[r][x] = sk;
            }
        }
#pragma unroll
        for (int r = 0; r < 2; ++r) {
            const int i = 2 * qy + r;
#pragma unroll
            for (int x = 0; x < 4; ++x) {
                const int fl = 4 * qx + x, f = f0 + fl;
                dQs[i * GLA_KT + fl] = gq[r][x];
                dKs[i * GLA_KT + fl] = gk[r][x];
                if (i < len && f < K) {
                    long long at = ((b * T + t0 + i) * H + h) * K + f;
                    if (dq) dq[at] = gq[r][x];
                    if (dk) dk[at] = gk[r][x];
                }
            }
        }
        __syncthreads();
        if (dg && tid < GLA_KT && f0 + tid < K) {
            const int fl = tid, f = f0 + tid;
            float last = 0.f;
            for (int col = 0; col < V; ++col) last += Dt[fl * V + col] * scur[(long long)f * V + col];
            float accg = 0.f;
            for (int i = len - 1; i >= 0; --i) {
                float db = Qs[i * GLA_KT + fl] * dQs[i * GLA_KT + fl] - Ks[i * GLA_KT + fl] * dKs[i * GLA_KT + fl];
                if (i == len - 1) db += last;
                accg += db;
                dg[((b * T + t0 + i) * H + h) * K + f] = accg;
            }
        }
    }
    __syncthreads();  // dQs, dKs read by the dg walk
#pragma unroll
    for (int r = 0; r < 4; ++r)
#pragma unroll
        for (int j = 0; j < 4; ++j) A[(4 * ty + r) * GLA_MAXC + 4 * tx + j] = a[r][j];
    __syncthreads();
    if (!dv) return;
#pragma unroll
    for (int r = 0; r < 4; ++r) {
        const int j = 4 * ty + r;
        if (j >= len) continue;
        float s[GLA_MV];
#pragma unroll
        for (int m = 0; m < GLA_MV; ++m) s[m] = 0.f;
        for (int i = j; i < len; ++i) {
            float av = A[i * GLA_MAXC + j];
#pragma unroll
            for (int m = 0; m < GLA_MV; ++m) {
                int col = tx + 16 * m;
                if (col < V) s[m] += av * dOs[i * V + col];
            }
        }
        float* row = dv + ((b * T + t0 + j) * H + h) * (long long)V;
#pragma unroll
        for (int m = 0; m < GLA_MV; ++m) {
            int col = tx + 16 * m;
            if (col < V) row[col] = s[m] * scale + dva[r][m];
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The recurrent form. Block (x, lane) owns value columns 32x .. 32x+31 of its lane: thread
// (w = tid/32, lane l) owns column 32x + l and state rows w, w+16, ... (K <= 256: 16 registers).
// Inputs go through shared memory REC_TS steps at a time (one cooperative, converting load per
// element; e^g computed once).
#define REC_THREADS 512
#define REC_ROWS 16
#define REC_TS 8

// Shared staging buffers for REC_TS steps: q, k, e^g [TS][K], v, dO [TS][32], partial sums
// [TS][16][32].
template <typename C> struct RecStage {
    C *qs, *ks, *as, *vs, *dos, *red;
    __device__ RecStage(C* sm, int K) {
        qs = sm;
        ks = qs + REC_TS * K;
        as = ks + REC_TS * K;
        vs = as + REC_TS * K;
        dos = vs + REC_TS * 32;
        red = dos + REC_TS * 32;
    }
};

// Stages steps t0 .. t0+n-1 into slots 0 .. n-1 (q only when want_q; dO when dout is given).
template <typename C>
__device__ __forceinline__ void rec_stage(const RecStage<C>& st, const Operand& q, const Operand& k, const Operand& v, const Operand& g, const Operand* dout, bool want_q,
                                          long long b, long long h, int t0, int n, int K, int V) {
    const int col0 = blockIdx.x * 32;
    for (int e = threadIdx.x; e < n * K; e += blockDim.x) {
        int i = e / K, kk = e % K;
        if (want_q) st.qs[e] = ld4<C>(q, b, t0 + i, h, kk);
        st.ks[e] = ld4<C>(k, b, t0 + i, h, kk);
        st.as[e] = c_exp(ld4<C>(g, b, t0 + i, h, kk));
    }
    for (int e = threadIdx.x; e < n * 32; e += blockDim.x) {
        int i = e / 32, col = col0 + e % 32;
        st.vs[e] = col < V ? ld4<C>(v, b, t0 + i, h, col) : (C)0;
        if (dout) st.dos[e] = col < V ? ld4<C>(*dout, b, t0 + i, h, col) : (C)0;
    }
}

template <typename C>
__device__ __forceinline__ void gla_rec_fwd(C* o, C* sf, Strided sfv, Operand q, Operand k, Operand v, Operand g, Operand s0, int has_s0, int B, int T, int H, int K, int V,
                                            C scale) {
    extern __shared__ __align__(8) unsigned char rec_sm[];
    RecStage<C> st((C*)rec_sm, K);
    const int tid = threadIdx.x, w = tid >> 5, l = tid & 31;
    const int col = blockIdx.x * 32 + l;
    const long long lane = blockIdx.y, b = lane / H, h = lane % H;
    const bool cin = col < V;
    C s[REC_ROWS];
#pragma unroll
    for (int r = 0; r < REC_ROWS; ++r) {
        int kk = w + 16 * r;
        s[r] = (has_s0 && kk < K && cin) ? ld4<C>(s0, b, h, kk, col) : (C)0;
    }
    for (int t0 = 0; t0 < T; t0 += REC_TS) {
        const int n = min(REC_TS, T - t0);
        __syncthreads();  // the previous batch is read
        rec_stage<C>(st, q, k, v, g, nullptr, true, b, h, t0, n, K, V);
        __syncthreads();
        for (int i = 0; i < n; ++i) {
            C vv = st.vs[i * 32 + l], p = 0;
#pragma unroll
            for (int r = 0; r < REC_ROWS; ++r) {
                int kk = w + 16 * r;
                if (kk < K) {
                    s[r] = st.as[i * K + kk] * s[r] + st.ks[i * K + kk] * vv;
                    p += st.qs[i * K + kk] * s[r];
                }
            }
            st.red[(i * 16 + w) * 32 + l] = p;
        }
        __syncthreads();
        if (w < n && cin) {
            C sum = 0;
            for (int w2 = 0; w2 < 16; ++w2) sum += st.red[(w * 16 + w2) * 32 + l];
            o[((b * T + t0 + w) * H + h) * V + col] = sum * scale;
        }
    }
#pragma unroll
    for (int r = 0; r < REC_ROWS; ++r) {
        int kk = w + 16 * r;
        if (kk < K && cin) sf[at4(sfv, b, h, kk, col)] = s[r];
    }
}

#define GLA_REC_FWD(NAME, C)                                                                                                          \
    extern "C" __global__ __launch_bounds__(REC_THREADS) void NAME(C* o, C* sf, Strided sfv, Operand q, Operand k, Operand v, Operand g, Operand s0, int has_s0, \
                                                                   int B, int T, int H, int K, int V, C scale) {                         \
        gla_rec_fwd<C>(o, sf, sfv, q, k, v, g, s0, has_s0, B, T, H, K, V, scale);                                                     \
    }

/// gla_rec_fwd_f32(o, sf, sfv, q, k, v, g, s0, has_s0, B, T, H, K, V, scale): the recurrence step
/// by step, S_t = diag(e^g_t) S_{t-1} + k_t v_t^T, o_t = scale S_t^T q_t (CPU reference:
/// recurrent.rs forward; GlaStep). Also the in-place decoding step: s0 and sf may be one
/// buffer (each thread reads its state elements before the first step and writes the same
/// ones after the last).
/// Thread mapping: 512 threads, grid (ceil(V/32), B*H); thread (w = tid/32, l) owns column
/// 32 blockIdx.x + l and rows w, w+16, ... < K of the state in registers. Steps go 8 at a time:
/// q, k, e^g and the block's 32 columns of v are staged in shared memory, every thread advances
/// its state through the 8 steps writing its partial dot products with q, and warp i adds the
/// 16 partials of step i in order.
/// Parameters: o f32 [B, T, H, V] contiguous (out); sf f32 [B, H, K, V] through view sfv (out,
/// or the state itself in place); q, k, g Operand [B, T, H, K]; v Operand [B, T, H, V]; s0 Operand
/// [B, H, K, V] (read when has_s0 = 1); B, T, H, K, V i32 (K <= 256); scale f32.
/// Shared memory (dynamic): (3*8 K + 2*8*32 + 8*16*32) f32.
GLA_REC_FWD(gla_rec_fwd_f32, float)
/// gla_rec_fwd_f64: as gla_rec_fwd_f32, in f64 (o, sf, scale f64; shared memory f64).
GLA_REC_FWD(gla_rec_fwd_f64, double)

// Butterfly sum over the 32 lanes (the columns of one row).
template <typename C> __device__ __forceinline__ C warp_sum(C x) {
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) x += __shfl_xor_sync(0xffffffffu, x, off);
    return x;
}

template <typename C>
__device__ __forceinline__ void gla_rec_bwd(C* dv, C* ds0, C* part, C* ck, C* seg, Operand q, Operand k, Operand v, Operand g, Operand s0, int has_s0, Operand dout, Operand dsf,
                                            int B, int T, int H, int K, int V, int L, C scale) {
    extern __shared__ __align__(8) unsigned char rec_sm[];
    RecStage<C> st((C*)rec_sm, K);
    const int tid = threadIdx.x, w = tid >> 5, l = tid & 31;
    const int col = blockIdx.x * 32 + l;
    const long long lane = blockIdx.y, b = lane / H, h = lane % H, BH = (long long)B * H;
    const bool cin = col < V;
    const long long KV = (long long)K * V;
    const long long plane = (long long)gridDim.x * BH * T * K;
    const int nseg = (T + L - 1) / L;
    C s[REC_ROWS], d[REC_ROWS];
#pragma unroll
    for (int r = 0; r < REC_ROWS; ++r) {
        int kk = w + 16 * r;
        bool in = kk < K && cin;
        s[r] = (has_s0 && in) ? ld4<C>(s0, b, h, kk, col) : (C)0;
        d[r] = in ? ld4<C>(dsf, b, h, kk, col) : (C)0;
    }
    // forward: checkpoints S_{nL} (own elements); L is a multiple of REC_TS
    for (int t0 = 0; t0 < T; t0 += REC_TS) {
        const int n = min(REC_TS, T - t0);
        __syncthreads();
        rec_stage<C>(st, q, k, v, g, nullptr, false, b, h, t0, n, K, V);
        __syncthreads();
        if (t0 % L == 0) {
            C* cp = ck + (lane * nseg + t0 / L) * KV;
#pragma unroll
            for (int r = 0; r < REC_ROWS; ++r) {
                int kk = w + 16 * r;
                if (kk < K && cin) cp[(long long)kk * V + col] = s[r];
            }
        }
        for (int i = 0; i < n; ++i) {
            C vv = st.vs[i * 32 + l];
#pragma unroll
            for (int r = 0; r < REC_ROWS; ++r) {
                int kk = w + 16 * r;
                if (kk < K) s[r] = st.as[i * K + kk] * s[r] + st.ks[i * K + kk] * vv;
            }
        }
    }
    C* sb = seg + lane * (long long)(L + 1) * KV;
    for (int sgi = nseg - 1; sgi >= 0; --sgi) {
        const int s0t = sgi * L, s1t = min(T, s0t + L);
        // recompute the segment's states S_s0t .. S_s1t into the scratch (own elements)
        const C* cp = ck + (lane * nseg + sgi) * KV;
#pragma unroll
        for (int r = 0; r < REC_ROWS; ++r) {
            int kk = w + 16 * r;
            if (kk < K && cin) {
                s[r] = cp[(long long)kk * V + col];
                sb[(long long)kk * V + col] = s[r];
            }
        }
        for (int t0 = s0t; t0 < s1t; t0 += REC_TS) {
            const int n = min(REC_TS, s1t - t0);
            __syncthreads();
            rec_stage<C>(st, q, k, v, g, nullptr, false, b, h, t0, n, K, V);
            __syncthreads();
            for (int i = 0; i < n; ++i) {
                C vv = st.vs[i * 32 + l];
                C* dst = sb + (t0 + i - s0t + 1) * KV;
#pragma unroll
                for (int r = 0; r < REC_ROWS; ++r) {
                    int kk = w + 16 * r;
                    if (kk < K) {
                        s[r] = st.as[i * K + kk] * s[r] + st.ks[i * K + kk] * vv;
                        if (cin) dst[(long long)kk * V + col] = s[r];
                    }
                }
            }
        }
        // walk the segment backwards, REC_TS steps per staging
        for (int t1 = s1t; t1 > s0t; t1 -= REC_TS) {
            const int t0 = max(s0t, t1 - REC_TS), n = t1 - t0;
            __syncthreads();
            rec_stage<C>(st, q, k, v, g, &dout, true, b, h, t0, n, K, V);
            __syncthreads();
            for (int i = n - 1; i >= 0; --i) {
                const int t = t0 + i;
                const C* sn = sb + (t - s0t + 1) * KV;  // S_t
                const C* sp = sb + (t - s0t) * KV;      // S_{t-1}
                const C dov = st.dos[i * 32 + l], vv = st.vs[i * 32 + l];
                C pv = 0;
#pragma unroll
                for (int r = 0; r < REC_ROWS; ++r) {
                    int kk = w + 16 * r;
                    if (kk < K) {  // uniform across the warp: every lane is on row kk
                        d[r] += scale * st.qs[i * K + kk] * dov;
                        C sv = cin ? sn[(long long)kk * V + col] : (C)0;
                        C pvv = cin ? sp[(long long)kk * V + col] : (C)0;
                        C pq = warp_sum(sv * dov), pk = warp_sum(d[r] * vv), pg = warp_sum(d[r] * pvv);
                        if (l == 0) {
                            long long at = ((blockIdx.x * BH + lane) * T + t) * K + kk;
                            part[at] = pq;
                            part[plane + at] = pk;
                            part[2 * plane + at] = pg;
                        }
                        pv += d[r] * st.ks[i * K + kk];
                        d[r] *= st.as[i * K + kk];
                    }
                }
                st.red[(i * 16 + w) * 32 + l] = pv;
            }
            __syncthreads();
            if (w < n && cin && dv) {
                C sum = 0;
                for (int w2 = 0; w2 < 16; ++w2) sum += st.red[(w * 16 + w2) * 32 + l];
                dv[((b * T + t0 + w) * H + h) * V + col] = sum;
            }
        }
    }
    if (ds0) {
#pragma unroll
        for (int r = 0; r < REC_ROWS; ++r) {
            int kk = w + 16 * r;
            if (kk < K && cin) ds0[lane * KV + (long long)kk * V + col] = d[r];
        }
    }
}

#define GLA_REC_BWD(NAME, C)                                                                                                               \
    extern "C" __global__ __launch_bounds__(REC_THREADS) void                                                                              \
        NAME(C* dv, C* ds0, C* part, C* ck, C* seg, Operand q, Operand k, Operand v, Operand g, Operand s0, int has_s0, Operand dout, Operand dsf, int B, int T, int H, \
             int K, int V, int L, C scale) {                                                                                               \
        gla_rec_bwd<C>(dv, ds0, part, ck, seg, q, k, v, g, s0, has_s0, dout, dsf, B, T, H, K, V, L, scale);                                \
    }

/// gla_rec_bwd_f32(dv, ds0, part, ck, seg, q, k, v, g, s0, has_s0, dout, dsf, B, T, H, K, V, L,
/// scale): the recurrent backward (CPU reference: recurrent.rs backward): walking t down with
/// D = dL/dS_t: D += scale q_t do_t^T; dq_t = scale S_t do_t; dk_t = D v_t; dv_t = D^T k_t;
/// dg_t = e^g_t rowsum(D * S_{t-1}); D = diag(e^g_t) D; finally ds0 = D. The states come from
/// checkpoints every L steps (ck), each segment recomputed into seg before it is walked.
/// Thread mapping: 512 threads, grid (ceil(V/32), B*H), the state mapping of gla_rec_fwd_f32
/// for S and D, inputs staged 8 steps at a time as there. Row sums over this block's 32
/// columns (dq, dk, dg) are warp butterflies written as partials per column block (part;
/// gla_rec_bwd_sum_f32 adds the blocks); dv adds the 16 warps' partials in shared memory.
/// Every scratch element is written and read by one thread.
/// Parameters: dv f32 [B, T, H, V], ds0 f32 [B, H, K, V] contiguous or null; part f32
/// [3, ceil(V/32), B*H, T, K], ck f32 [B*H, ceil(T/L), K, V], seg f32 [B*H, L+1, K, V] scratch;
/// q, k, g Operand [B, T, H, K]; v, dout Operand [B, T, H, V]; s0, dsf Operand [B, H, K, V]; B, T, H, K, V,
/// L i32 (K <= 256, L a multiple of 8); scale f32.
/// Shared memory (dynamic): (3*8 K + 2*8*32 + 8*16*32) f32.
GLA_REC_BWD(gla_rec_bwd_f32, float)
/// gla_rec_bwd_f64: as gla_rec_bwd_f32, in f64.
GLA_REC_BWD(gla_rec_bwd_f64, double)

template <typename C>
__device__ __forceinline__ void gla_rec_bwd_sum(C* dq, C* dk, C* dg, const C* part, Operand g, int B, int T, int H, int K, int NV, C scale) {
    const long long BH = (long long)B * H, plane = (long long)NV * BH * T * K;
    FOR_EACH(i, BH * T * K) {
        long long kk = i % K, t = (i / K) % T, lane = i / ((long long)T * K);
        long long b = lane / H, h = lane % H;
        C pq = 0, pk = 0, pg = 0;
        for (int x = 0; x < NV; ++x) {
            long long at = x * BH * T * K + i;
            pq += part[at];
            pk += part[plane + at];
            pg += part[2 * plane + at];
        }
        long long o = ((b * T + t) * H + h) * K + kk;
        if (dq) dq[o] = scale * pq;
        if (dk) dk[o] = pk;
        if (dg) dg[o] = c_exp(ld4<C>(g, b, t, h, kk)) * pg;
    }
}

#define GLA_REC_BWD_SUM(NAME, C)                                                                                                      \
    extern "C" __global__ void NAME(C* dq, C* dk, C* dg, const C* part, Operand g, int B, int T, int H, int K, int NV, C scale) {        \
        gla_rec_bwd_sum<C>(dq, dk, dg, part, g, B, T, H, K, NV, scale);                                                              \
    }

/// gla_rec_bwd_sum_f32(dq, dk, dg, part, g, B, T, H, K, NV, scale): adds gla_rec_bwd_f32's
/// partial row sums over its NV column blocks, in block order: dq = scale sum, dk = sum,
/// dg = e^g sum.
/// Thread mapping: grid-stride loop over (lane, t, f), f fastest.
/// Parameters: dq, dk, dg f32 [B, T, H, K] contiguous or null; part f32 [3, NV, B*H, T, K];
/// g Operand [B, T, H, K]; B, T, H, K, NV i32; scale f32. No shared memory.
GLA_REC_BWD_SUM(gla_rec_bwd_sum_f32, float)
/// gla_rec_bwd_sum_f64: as gla_rec_bwd_sum_f32, in f64.
GLA_REC_BWD_SUM(gla_rec_bwd_sum_f64, double)
