// Causal grouped-query softmax attention for inference, flash style (nn/src/attention_kernel.rs
// SdpaBlocked): tiles of query rows against tiles of 32 keys with an online softmax (running
// max and sum) in f32, never forming the [T, S] score matrix; keys and values are read in
// place through their strides (views of a KV cache). Long key ranges with few query rows
// (decoding) are split over S across blocks and merged by a second pass (attn_combine).
#include "common.cuh"

#define ATT_THREADS 128
#define ATT_KEYS 32
// Head dims up to 128: each lane owns output columns lane, lane + 32, ... (4 at most).
#define ATT_MAX_D 128
#define ATT_COLS (ATT_MAX_D / 32)

// The rows of a (sequence, kv head) group are the pairs (t, head in group), t major:
// row r -> t = r / rep, query head = kvh * rep + r % rep. A tile is ROWS consecutive rows.
template <int ROWS>
__device__ __forceinline__ void attn_fwd(float* o, float* part_m, float* part_l, float* part_acc, Operand q, Operand k, Operand v, int T, int H, int Hkv, long long S, int d,
                                         long long start, int nsplit, long long split_len, float scale) {
    constexpr int RW = ROWS / 4;  // rows per warp
    extern __shared__ float smem[];
    float* qs = smem;                // [ROWS][d], scaled queries
    float* kvs = smem + ROWS * d;    // [ATT_KEYS][d + 1], keys then values
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int rep = H / Hkv;
    const long long nrows = (long long)T * rep;
    const long long tile0 = (long long)blockIdx.x * ROWS;
    const int bkv = blockIdx.y, b = bkv / Hkv, kvh = bkv % Hkv, split = blockIdx.z;
    const int kstride = d + 1;

    for (int e = tid; e < ROWS * d; e += ATT_THREADS) {
        int r = e / d, c = e % d;
        long long gr = tile0 + r;
        float x = 0.f;
        if (gr < nrows) {
            long long t = gr / rep, hq = (long long)kvh * rep + gr % rep;
            x = ld<float>(q, at4(q.v, b, t, hq, c)) * scale;
        }
        qs[e] = x;
    }
    long long last_row = min(tile0 + ROWS, nrows) - 1;
    long long max_pos = start + last_row / rep;
    long long k0 = (long long)split * split_len;
    long long k1 = min(min(S, k0 + split_len), max_pos + 1);

    long long pos[RW];
    bool valid[RW];
    float m[RW], l[RW], acc[RW][ATT_COLS];
#pragma unroll
    for (int r = 0; r < RW; ++r) {
        long long gr = tile0 + warp * RW + r;
        valid[r] = gr < nrows;
        pos[r] = start + gr / rep;
        m[r] = -INFINITY;
        l[r] = 0.f;
#pragma unroll
        for (int i = 0; i < ATT_COLS; ++i) acc[r][i] = 0.f;
    }

    for (long long kt = k0; kt < k1; kt += ATT_KEYS) {
        __syncthreads();  // the previous tile's values are no longer read (and qs is written)
        for (int e = tid; e < ATT_KEYS * d; e += ATT_THREADS) {
            int j = e / d, c = e % d;
            long long key = kt + j;
            kvs[j * kstride + c] = key < k1 ? ld<float>(k, at4(k.v, b, key, kvh, c)) : 0.f;
        }
        __syncthreads();
        // scores of this warp's rows against key kt + lane
        float p[RW];
#pragma unroll
        for (int r = 0; r < RW; ++r) p[r] = 0.f;
        const float* krow = kvs + lane * kstride;
        const float* qrow = qs + warp * RW * d;
        for (int c = 0; c < d; ++c) {
            float kc = krow[c];
#pragma unroll
            for (int r = 0; r < RW; ++r) p[r] += qrow[r * d + c] * kc;
        }
        long long key = kt + lane;
#pragma unroll
        for (int r = 0; r < RW; ++r) {
            float s = (valid[r] && key < k1 && key <= pos[r]) ? p[r] : -INFINITY;
            float mt = s;
#pragma unroll
            for (int off = 16; off > 0; off >>= 1) mt = fmaxf(mt, __shfl_xor_sync(0xffffffffu, mt, off));
            float m_new = fmaxf(m[r], mt);
            if (m_new == -INFINITY) {
                p[r] = 0.f;  // nothing visible yet: the row stays empty
                continue;
            }
            float alpha = expf(m[r] - m_new);
            float e = expf(s - m_new);
            float sum = e;
#pragma unroll
            for (int off = 16; off > 0; off >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, off);
            l[r] = l[r] * alpha + sum;
            m[r] = m_new;
#pragma unroll
            for (int i = 0; i < ATT_COLS; ++i) acc[r][i] *= alpha;
            p[r] = e;
        }
        __syncthreads();  // every warp is done with the keys
        for (int e = tid; e < ATT_KEYS * d; e += ATT_THREADS) {
            int j = e / d, c = e % d;
            long long key = kt + j;
            kvs[j * kstride + c] = key < k1 ? ld<float>(v, at4(v.v, b, key, kvh, c)) : 0.f;
        }
        __syncthreads();
        for (int j = 0; j < ATT_KEYS; ++j) {
            const float* vrow = kvs + j * kstride;
#pragma unroll
            for (int r = 0; r < RW; ++r) {
                float pj = __shfl_sync(0xffffffffu, p[r], j);
#pragma unroll
                for (int i = 0; i < ATT_COLS; ++i) {
                    int c = lane + 32 * i;
                    if (c < d) acc[r][i] += pj * vrow[c];
                }
            }
        }
    }

#pragma unroll
    for (int r = 0; r < RW; ++r) {
        if (!valid[r]) continue;
        long long gr = tile0 + warp * RW + r;
        long long t = gr / rep, hq = (long long)kvh * rep + gr % rep;
        if (nsplit == 1) {
            float inv = l[r] > 0.f ? 1.f / l[r] : NAN;
            float* orow = o + (((long long)b * T + t) * H + hq) * d;
#pragma unroll
            for (int i = 0; i < ATT_COLS; ++i) {
                int c = lane + 32 * i;
                if (c < d) orow[c] = acc[r][i] * inv;
            }
        } else {
            long long slot = ((long long)bkv * nrows + gr) * nsplit + split;
            if (lane == 0) {
                part_m[slot] = m[r];
                part_l[slot] = l[r];
            }
#pragma unroll
            for (int i = 0; i < ATT_COLS; ++i) {
                int c = lane + 32 * i;
                if (c < d) part_acc[slot * d + c] = acc[r][i];
            }
        }
    }
}

#define ATTN_FWD(NAME, ROWS)                                                                                                            \
    extern "C" __global__ __launch_bounds__(ATT_THREADS) void                                                                           \
        NAME(float* o, float* part_m, float* part_l, float* part_acc, Operand q, Operand k, \
             Operand v, int T, int H, int Hkv, long long S, int d, long long start, int nsplit, long long split_len, \
             float scale) {                                                                                                             \
        attn_fwd<ROWS>(o, part_m, part_l, part_acc, q, k, v, T, H, Hkv, S, d, start, nsplit, split_len, scale); \
    }

/// attn_fwd_r32(o, part_m, part_l, part_acc, q, k, v, T, H, Hkv, S, d,
/// start, nsplit, split_len, scale): causal GQA attention, queries at positions start..start+T
/// against keys 0..S (CPU reference: nn::attention_kernel::sdpa_blocked): o = softmax(scale q
/// k^T, causal) v, the softmax online over tiles of 32 keys (FlashAttention's running max and
/// sum), all in f32.
/// Thread mapping: 128 threads (4 warps) per block; grid (ceil(T*rep / 32), B*Hkv, nsplit).
/// A block owns 32 rows of one (sequence, kv head): row r is query t = r / rep of head
/// kvh*rep + r % rep (the rep = H/Hkv heads sharing the keys ride together). Warp w owns rows
/// 8w..8w+7; in a key tile lane j scores key j against those 8 rows (a dot product over d from
/// shared memory), the row max and sum are warp butterflies, and lane j then accumulates output
/// columns j, j+32, j+64, j+96 of its rows (P broadcast by shuffles). Block z takes keys
/// [z split_len, (z+1) split_len) (nsplit = 1: all keys, o written normalised; otherwise the
/// unnormalised (m, l, acc) of each row go to part_* and attn_combine merges them).
/// Parameters: o f32 [B, T, H, d] contiguous; part_m, part_l f32 [B*Hkv, T*rep, nsplit],
/// part_acc f32 [B*Hkv, T*rep, nsplit, d] (unused when nsplit = 1); q [B, T, H, d], k, v
/// [B, S, Hkv, d] Operands laid out by dim (any strides: k, v are views of a KV cache);
/// T, H, Hkv, d i32 (H a multiple of Hkv, d <= 128); S i64 >= start + T; start i64; nsplit
/// i32; split_len i64 (a multiple of 32); scale f32 (1/sqrt(d)).
/// Shared memory (dynamic): (32 d + 32 (d+1)) f32: the block's scaled queries and one tile
/// of keys, then of values (padded rows: lanes read different keys without bank conflicts).
ATTN_FWD(attn_fwd_r32, 32)
/// attn_fwd_r8: as attn_fwd_r32 with 8 rows per block (2 per warp), for decoding and other
/// launches with few rows (T * rep <= 8); grid (ceil(T*rep / 8), B*Hkv, nsplit).
/// Shared memory (dynamic): (8 d + 32 (d+1)) f32.
ATTN_FWD(attn_fwd_r8, 8)

/// attn_combine(o, part_m, part_l, part_acc, T, H, Hkv, d, nsplit): merges the per-split
/// partial softmax results of attn_fwd_* (nsplit > 1): with M = max_s m_s,
/// o = (sum_s acc_s e^(m_s - M)) / (sum_s l_s e^(m_s - M)), splits in order (deterministic).
/// Splits past a row's last visible key have m = -inf and add nothing.
/// Thread mapping: grid-stride loop over B*Hkv*T*rep*d, one output element per thread per
/// pass (the d threads of a row read the same m and l).
/// Parameters: o f32 [B, T, H, d] contiguous (out); part_* as attn_fwd_r32 writes them; T, H,
/// Hkv, d, nsplit i32; n i64 = B*Hkv*T*rep*d. No shared memory.
extern "C" __global__ void attn_combine(float* o, const float* part_m, const float* part_l, const float* part_acc, int T, int H, int Hkv, int d,
                                        int nsplit, long long n) {
    const int rep = H / Hkv;
    const long long nrows = (long long)T * rep;
    FOR_EACH(i, n) {
        long long c = i % d, row = i / d;  // row = bkv * nrows + gr
        long long gr = row % nrows, bkv = row / nrows;
        long long b = bkv / Hkv, kvh = bkv % Hkv, t = gr / rep, hq = kvh * rep + gr % rep;
        const long long base = row * nsplit;
        float mx = -INFINITY;
        for (int s = 0; s < nsplit; ++s) mx = fmaxf(mx, part_m[base + s]);
        float num = 0.f, den = 0.f;
        for (int s = 0; s < nsplit; ++s) {
            float ms = part_m[base + s];
            if (ms == -INFINITY) continue;
            float f = expf(ms - mx);
            den += part_l[base + s] * f;
            num += part_acc[(base + s) * d + c] * f;
        }
        o[((b * T + t) * H + hq) * d + c] = den > 0.f ? num * (1.f / den) : NAN;
    }
}
