// Causal grouped-query softmax attention for inference, flash style (nn/src/attention_kernel.rs
// SdpaBlocked): tiles of query rows against tiles of 32 keys with an online softmax (running
// max and sum) in f32, never forming the [T, S] score matrix; keys and values are read in
// place through their strides (views of a KV cache). Long key ranges with few query rows
// (decoding) are split over S across blocks and merged by a second pass (attn_combine).
// With bf16 queries, keys and values, prefill runs on the tensor cores instead
// (attn_fwd_tc_d64 / _d128, FlashAttention-2's scheme, below).
#include "common.cuh"
#include "mma.cuh"

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

// ---- Tensor-core prefill (bf16 q, k, v; f32 accumulation and softmax) ----
//
// A CTA owns 64 rows of one (sequence, kv head), the rows ordered as above (the rep query
// heads of a group ride together and share every key tile); 4 warps own 16 rows each. The
// queries stay in registers as mma A fragments for the whole key loop. Per tile of 64 keys:
// S = Q K^T on the tensor cores (K in shared memory [key][dim]: the "col" B operand read with
// plain ldmatrix), scaled into the log2 domain and causally masked (only tiles that reach
// past the CTA's first row position), the online softmax in f32 registers (each thread holds
// two rows; row max and sum over the 4 threads of a quad), then P, rounded to bf16, is the A
// operand of O += P V as it stands (a C fragment pair is an A fragment: mma.cuh), V read with
// ldmatrix .trans. Rows are normalised by their f32 sum at the end. Head dims below D are
// zero-padded in shared memory (they add nothing to a score; their outputs are not stored).
#define TC_ROWS 64
#define TC_KEYS 64

// Rows r0..r0+63 of an operand into shared memory as bf16 [64][D + 8] (the +8 keeps the
// ldmatrix rows in distinct banks), zeros for absent rows and columns d..D-1.
// `row_base(r, &base)` says whether row r is present and where its element 0 is.
template <int D, typename RowBase>
__device__ __forceinline__ void tc_load_rows(__nv_bfloat16* dst, const Operand& x, int d, RowBase row_base) {
    constexpr int LD = D + 8, CH = D / 8;
    const __nv_bfloat16* p = reinterpret_cast<const __nv_bfloat16*>(x.p);
    const long long cs = x.v.strides[3];
    for (int i = threadIdx.x; i < TC_ROWS * CH; i += blockDim.x) {
        const int r = i / CH, c = (i % CH) * 8;
        long long base = 0;
        uint4 val = make_uint4(0u, 0u, 0u, 0u);
        if (row_base(r, base) && c < d) {
            const long long e = base + c * cs;
            if (cs == 1 && c + 8 <= d && (e & 7) == 0) {
                val = *reinterpret_cast<const uint4*>(p + e);
            } else {
                __nv_bfloat16 h[8];
#pragma unroll
                for (int u = 0; u < 8; ++u) h[u] = c + u < d ? p[base + (c + u) * cs] : __float2bfloat16(0.0f);
                val = *reinterpret_cast<const uint4*>(h);
            }
        }
        *reinterpret_cast<uint4*>(dst + r * LD + c) = val;
    }
}

template <int D>
__device__ __forceinline__ void attn_tc(float* o, const Operand& q, const Operand& k, const Operand& v, int T, int H, int Hkv,
                                        long long S, int d, long long start, float scale_log2) {
    constexpr int LD = D + 8, KD = D / 16, ND = D / 8;
    extern __shared__ __align__(16) unsigned char smem_raw[];
    __nv_bfloat16* qs = reinterpret_cast<__nv_bfloat16*>(smem_raw);
    __nv_bfloat16* ks = qs + TC_ROWS * LD;
    __nv_bfloat16* vs = ks + TC_KEYS * LD;
    const uint32_t qs_a = (uint32_t)__cvta_generic_to_shared(qs);
    const uint32_t ks_a = qs_a + TC_ROWS * LD * 2, vs_a = ks_a + TC_KEYS * LD * 2;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, g = lane >> 2, tq = lane & 3;
    const int rep = H / Hkv;
    const long long nrows = (long long)T * rep;
    const long long tile0 = (long long)blockIdx.x * TC_ROWS;
    const int bkv = blockIdx.y, b = bkv / Hkv, kvh = bkv % Hkv;

    tc_load_rows<D>(qs, q, d, [&](int r, long long& base) {
        const long long gr = tile0 + r;
        if (gr >= nrows) return false;
        base = at4(q.v, b, gr / rep, (long long)kvh * rep + gr % rep, 0);
        return true;
    });
    __syncthreads();
    uint32_t qf[KD][4];
#pragma unroll
    for (int kk = 0; kk < KD; ++kk)
        ldmatrix_x4<false>(qf[kk], qs_a + (uint32_t)((warp * 16 + lane % 16) * LD + kk * 16 + (lane / 16) * 8) * 2u);

    // This thread's two rows: warp * 16 + g and + 8.
    long long pos[2];
    float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.f, 0.f};
#pragma unroll
    for (int h = 0; h < 2; ++h) pos[h] = start + (tile0 + warp * 16 + g + 8 * h) / rep;
    float acc[ND][4];
#pragma unroll
    for (int j = 0; j < ND; ++j)
#pragma unroll
        for (int e = 0; e < 4; ++e) acc[j][e] = 0.f;

    const long long last = (tile0 + TC_ROWS < nrows ? tile0 + TC_ROWS : nrows) - 1;
    const long long kend = start + last / rep + 1;  // keys 0..kend-1 are visible to some row
    const long long first_pos = start + tile0 / rep;
    for (long long kt = 0; kt < kend; kt += TC_KEYS) {
        __syncthreads();  // every warp is done with the previous tile
        auto key_row = [&](const Operand& x) {
            return [&, kt](int r, long long& base) {
                const long long key = kt + r;
                if (key >= kend) return false;
                base = at4(x.v, b, key, kvh, 0);
                return true;
            };
        };
        tc_load_rows<D>(ks, k, d, key_row(k));
        tc_load_rows<D>(vs, v, d, key_row(v));
        __syncthreads();

        float s[TC_KEYS / 8][4];
#pragma unroll
        for (int j = 0; j < TC_KEYS / 8; ++j)
#pragma unroll
            for (int e = 0; e < 4; ++e) s[j][e] = 0.f;
#pragma unroll
        for (int kk = 0; kk < KD; ++kk)
#pragma unroll
            for (int j = 0; j < TC_KEYS / 8; j += 2) {
                uint32_t r[4];
                const int row = j * 8 + (lane / 16) * 8 + lane % 8, col = kk * 16 + ((lane / 8) % 2) * 8;
                ldmatrix_x4<false>(r, ks_a + (uint32_t)(row * LD + col) * 2u);
                Mma<__nv_bfloat16>::run(s[j], qf[kk], r);
                Mma<__nv_bfloat16>::run(s[j + 1], qf[kk], r + 2);
            }

        const bool diagonal = kt + TC_KEYS - 1 > first_pos;
#pragma unroll
        for (int h = 0; h < 2; ++h) {
            float mx = -INFINITY;
#pragma unroll
            for (int j = 0; j < TC_KEYS / 8; ++j)
#pragma unroll
                for (int e = 0; e < 2; ++e) {
                    float x = s[j][2 * h + e] * scale_log2;
                    if (diagonal && kt + j * 8 + 2 * tq + e > pos[h]) x = -INFINITY;
                    s[j][2 * h + e] = x;
                    mx = fmaxf(mx, x);
                }
            mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
            mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
            const float m_new = fmaxf(m[h], mx);  // finite: key 0 is visible to every row
            const float alpha = exp2f(m[h] - m_new);
            m[h] = m_new;
            float sum = 0.f;
#pragma unroll
            for (int j = 0; j < TC_KEYS / 8; ++j)
#pragma unroll
                for (int e = 0; e < 2; ++e) {
                    const float p = exp2f(s[j][2 * h + e] - m_new);
                    s[j][2 * h + e] = p;
                    sum += p;
                }
            l[h] = l[h] * alpha + sum;
#pragma unroll
            for (int j = 0; j < ND; ++j) {
                acc[j][2 * h] *= alpha;
                acc[j][2 * h + 1] *= alpha;
            }
        }

#pragma unroll
        for (int kb = 0; kb < TC_KEYS / 16; ++kb) {
            uint32_t pa[4] = {Mma<__nv_bfloat16>::pack(s[2 * kb][0], s[2 * kb][1]),
                              Mma<__nv_bfloat16>::pack(s[2 * kb][2], s[2 * kb][3]),
                              Mma<__nv_bfloat16>::pack(s[2 * kb + 1][0], s[2 * kb + 1][1]),
                              Mma<__nv_bfloat16>::pack(s[2 * kb + 1][2], s[2 * kb + 1][3])};
#pragma unroll
            for (int j = 0; j < ND; j += 2) {
                uint32_t r[4];
                const int row = kb * 16 + ((lane / 8) % 2) * 8 + lane % 8, col = j * 8 + (lane / 16) * 8;
                ldmatrix_x4<true>(r, vs_a + (uint32_t)(row * LD + col) * 2u);
                Mma<__nv_bfloat16>::run(acc[j], pa, r);
                Mma<__nv_bfloat16>::run(acc[j + 1], pa, r + 2);
            }
        }
    }

#pragma unroll
    for (int h = 0; h < 2; ++h) {
        float tot = l[h];
        tot += __shfl_xor_sync(0xffffffffu, tot, 1);
        tot += __shfl_xor_sync(0xffffffffu, tot, 2);
        const long long gr = tile0 + warp * 16 + g + 8 * h;
        if (gr >= nrows) continue;
        const float inv = 1.f / tot;
        float* orow = o + (((long long)b * T + gr / rep) * H + (long long)kvh * rep + gr % rep) * d;
#pragma unroll
        for (int j = 0; j < ND; ++j)
#pragma unroll
            for (int e = 0; e < 2; ++e) {
                const int c = j * 8 + 2 * tq + e;
                if (c < d) orow[c] = acc[j][2 * h + e] * inv;
            }
    }
}

#define ATTN_TC(NAME, D)                                                                                        \
    extern "C" __global__ __launch_bounds__(128) void NAME(float* o, Operand q, Operand k, Operand v, int T, int H, \
                                                           int Hkv, long long S, int d, long long start,            \
                                                           float scale_log2) {                                      \
        attn_tc<D>(o, q, k, v, T, H, Hkv, S, d, start, scale_log2);                                                 \
    }

/// attn_fwd_tc_d64(o, q, k, v, T, H, Hkv, S, d, start, scale_log2): causal GQA attention of
/// bf16 operands on the tensor cores, queries at positions start..start+T against keys 0..S
/// (CPU reference: nn::attention_kernel::sdpa_blocked on the same bf16 values):
/// o = softmax(scale q k^T, causal) v with S = q k^T and O = P v by mma.sync m16n8k16 bf16
/// (f32 accumulation), the softmax online in f32 in the log2 domain (scale_log2 = scale *
/// log2 e, exp2), P rounded to bf16 for the second product (FlashAttention-2's precision), each
/// row divided by its f32 sum at the end. Head dims d <= 64 (zero-padded to 64).
/// Thread mapping: grid (ceil(T*rep / 64), B*Hkv); 128 threads (4 warps). A block owns 64 rows
/// of one (sequence, kv head), row r = query t = r / rep of head kvh*rep + r % rep; warp w rows
/// 16w..16w+15 (queries kept as mma A fragments). Key tiles of 64 (keys and values copied to
/// shared memory as bf16, 16 bytes at a time where the head dim is contiguous and aligned),
/// up to the block's last visible key; the causal mask only on tiles past the block's first
/// row position.
/// Parameters: o f32 [B, T, H, d] contiguous (out); q [B, T, H, d], k, v [B, S, Hkv, d]
/// bf16 Operands laid out by dim (any strides); T, H, Hkv, d i32 (H a multiple of Hkv);
/// S i64 >= start + T; start i64; scale_log2 f32.
/// Shared memory (dynamic): 3 * 64 * (D + 8) bf16 (27648 bytes for D 64).
ATTN_TC(attn_fwd_tc_d64, 64)
/// attn_fwd_tc_d128: attn_fwd_tc_d64 for head dims 64 < d <= 128 (zero-padded to 128).
/// Shared memory (dynamic): 52224 bytes.
ATTN_TC(attn_fwd_tc_d128, 128)
