// Batched matmul of bf16 (or f16) operands on the tensor cores, f32 accumulation:
// `[..., m, k] @ [..., k, n]`, the CPU reference is tensor::cpu::matmul::matmul_storage
// (bf16 x bf16 computed in f32, stored in bf16). Host launcher: ptx/src/ops/matmul.rs.
//
// One CTA computes a BM x BN tile of C for one batch matrix; its warps (WM x WN of them)
// each own a (BM/WM) x (BN/WN) sub-tile made of m16n8 accumulator fragments, and run
// `mma.sync.aligned.m16n8k16.row.col.f32.{bf16,f16}` over k in steps of 16. Tiles of A and
// B (BK = 32 deep) are copied global -> shared with `cp.async` into a STAGES-deep ring
// (copies of tile t + STAGES - 1 fly while tile t is multiplied), and read into fragments
// with `ldmatrix` (`.trans` where the operand is stored the other way round), so each
// operand is used in the orientation it has in memory, without a copy:
//
//   A "n": row-major [m][k] (k contiguous): shared tile [BM][BK + 8], ldmatrix
//   A "t": column-major (m contiguous, A given as a transposed view): [BK][BM + 8], .trans
//   B "n": row-major [k][n] (n contiguous): shared tile [BK][BN + 8], ldmatrix .trans
//   B "t": column-major (k contiguous: `x @ W^T`, `q @ k^T`): [BN][BK + 8], ldmatrix
//
// The +8 elements of padding give row pitches of 80 bytes (k-major) or 16 bytes over a
// multiple of 128 (m- or n-major), so the 8 rows of 16 bytes one ldmatrix matrix reads fall
// in 8 different groups of 4 banks (no bank conflicts).
//
// Loads: threads copy chunks of 8 elements along the contiguous dim of each operand with
// one 16-byte cp.async (`vec` 8) or two 8-byte ones (`vec` 4) when every row start is that
// aligned (the host checks the offset, the strides and the batch strides), `src-size`
// zero-filling the part of a chunk past the matrix edge; `vec` 1 reads element by element
// through registers (any strides: views no chunk fits). Everything outside the matrix (edge tiles, k past its
// end) is zero in shared memory, so edge tiles need no special compute path, and k = 0
// stores zeros.
//
// Split k: when the tiles of C alone are too few CTAs to fill the GPU (weight gradients
// like x^T @ g with a small m x n and a long k), k is cut into slices, each CTA sums one
// slice into f32 partial sums, and matmul_reduce_* adds the slices in a fixed order, so a
// result repeats bit for bit (no atomics).
#include "common.cuh"
#include "mma.cuh"

#define BK 32
#define STAGES 3
#define GROUP_M 8

// One operand tile in shared memory: ROWS x COLS elements, row pitch LD elements, COLS
// running along the operand's contiguous dim when vec > 1. Global element (r, c) of the tile
// is g[(r0 + r) * rs + (c0 + c) * cs], present when r0 + r < rn and c0 + c < cn; absent
// elements are zeros. Threads take chunks of 8 elements (16 bytes of shared memory) along a
// row: vec 8 copies one with a 16-byte cp.async, vec 4 with two 8-byte ones (row starts
// only 8-byte aligned), vec 1 element by element through registers (any strides).
template <typename T, int ROWS, int COLS, int LD, int THREADS>
__device__ __forceinline__ void load_tile(int vec, uint32_t smem, T* sptr, const T* g, long long r0, long long rn,
                                          long long rs, long long c0, long long cn, long long cs) {
    constexpr int PER_ROW = COLS / 8;
    constexpr int CHUNKS = ROWS * PER_ROW;
    static_assert(CHUNKS % THREADS == 0, "tile chunks must divide among the threads");
#pragma unroll
    for (int q = 0; q < CHUNKS / THREADS; ++q) {
        const int i = q * THREADS + threadIdx.x;
        const int r = i / PER_ROW, c = (i % PER_ROW) * 8;
        const long long gr = r0 + r, gc = c0 + c;
        const long long left = cn - gc;
        const int valid = gr < rn ? (int)(left < 0 ? 0 : (left > 8 ? 8 : left)) : 0;
        const T* src = valid > 0 ? g + gr * rs + gc * cs : g;
        const uint32_t dst = smem + (uint32_t)(r * LD + c) * 2u;
        if (vec == 8) {
            cp_async<16>(dst, src, valid * 2);
        } else if (vec == 4) {
            cp_async<8>(dst, src, (valid < 4 ? valid : 4) * 2);
            cp_async<8>(dst + 8, valid > 4 ? src + 4 : g, (valid > 4 ? valid - 4 : 0) * 2);
        } else {
#pragma unroll
            for (int e = 0; e < 8; ++e) sptr[r * LD + c + e] = e < valid ? src[e * cs] : from_f32<T>(0.0f);
        }
    }
}

// Shared memory of one configuration, in elements: per stage an A tile and a B tile.
template <int BM, int BN, bool AT, bool BT> struct TcSmem {
    static constexpr int A_LD = AT ? BM + 8 : BK + 8;
    static constexpr int A_ELEMS = AT ? BK * A_LD : BM * A_LD;
    static constexpr int B_LD = BT ? BK + 8 : BN + 8;
    static constexpr int B_ELEMS = BT ? BN * B_LD : BK * B_LD;
    static constexpr int STAGE = A_ELEMS + B_ELEMS;
    static constexpr int BYTES = STAGES * STAGE * 2;
};

// The kernel body: AT / BT say whether A / B are stored transposed (see the file comment).
template <typename T, int BM, int BN, int WM, int WN, bool AT, bool BT>
__device__ __forceinline__ void tc_matmul(const T* __restrict__ A, const T* __restrict__ B, T* __restrict__ C,
                                          const Strided& a_batch, const Strided& b_batch, long long batch, long long m,
                                          long long n, long long k, long long a_rs, long long a_cs, long long b_rs,
                                          long long b_cs, int a_vec, int b_vec, long long splits, long long k_split,
                                          float* __restrict__ partial) {
    using S = TcSmem<BM, BN, AT, BT>;
    constexpr int THREADS = WM * WN * 32;
    constexpr int MI = BM / WM / 16;  // m16 fragments per warp
    constexpr int NI = BN / WN / 8;   // n8 fragments per warp
    static_assert(NI % 2 == 0, "B fragments are loaded two n8 tiles at a time");
    extern __shared__ __align__(16) unsigned char smem_raw[];
    T* smem = reinterpret_cast<T*>(smem_raw);
    const uint32_t smem_base = (uint32_t)__cvta_generic_to_shared(smem_raw);

    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int wm0 = (warp / WN) * (BM / WM), wn0 = (warp % WN) * (BN / WN);
    // CTAs start in order of blockIdx.x (m tiles) then blockIdx.y (n tiles); renumber them
    // so consecutive CTAs walk n within a group of GROUP_M m tiles: a wave of CTAs then
    // covers a compact block of C, and the A rows and B columns it reads stay in L2.
    const long long tiles_m = gridDim.x, tiles_n = gridDim.y;
    const long long pid = (long long)blockIdx.y * tiles_m + blockIdx.x;
    const long long first_m = pid / (GROUP_M * tiles_n) * GROUP_M;
    const long long group = tiles_m - first_m < GROUP_M ? tiles_m - first_m : GROUP_M;
    const long long local = pid % (GROUP_M * tiles_n);
    const long long m0 = (first_m + local % group) * BM, n0 = local / group * BN;

    // zz = (batch matrix z, k slice sp): k in [k_beg, k_end).
    for (long long zz = blockIdx.z; zz < batch * splits; zz += gridDim.z) {
        const long long z = zz / splits, sp = zz % splits;
        const long long k_beg = sp * k_split, k_end = k_beg + k_split < k ? k_beg + k_split : k;
        const long long ktiles = (k_end - k_beg + BK - 1) / BK;
        const T* a = A + strided_at(a_batch, z);
        const T* b = B + strided_at(b_batch, z);
        // Tile t of both operands into stage s.
        auto load = [&](long long t, int s) {
            uint32_t sa = smem_base + (uint32_t)(s * S::STAGE) * 2u;
            uint32_t sb = sa + (uint32_t)S::A_ELEMS * 2u;
            T* pa = smem + s * S::STAGE;
            T* pb = pa + S::A_ELEMS;
            long long k0 = k_beg + t * BK;
            if (AT) load_tile<T, BK, BM, S::A_LD, THREADS>(a_vec, sa, pa, a, k0, k_end, a_cs, m0, m, a_rs);
            else load_tile<T, BM, BK, S::A_LD, THREADS>(a_vec, sa, pa, a, m0, m, a_rs, k0, k_end, a_cs);
            if (BT) load_tile<T, BN, BK, S::B_LD, THREADS>(b_vec, sb, pb, b, n0, n, b_cs, k0, k_end, b_rs);
            else load_tile<T, BK, BN, S::B_LD, THREADS>(b_vec, sb, pb, b, k0, k_end, b_rs, n0, n, b_cs);
        };

        float acc[MI][NI][4];
#pragma unroll
        for (int i = 0; i < MI; ++i)
#pragma unroll
            for (int j = 0; j < NI; ++j)
#pragma unroll
                for (int e = 0; e < 4; ++e) acc[i][j][e] = 0.0f;

        // Iterations t < 0 only start the first STAGES - 1 copies (one copy of the load code).
        // Stage indices rotate (ws: where tile t + STAGES - 1 goes; tile t is in (ws + 1) % STAGES).
        int ws = 0;
        for (long long t = 1 - STAGES; t < ktiles; ++t, ws = ws == STAGES - 1 ? 0 : ws + 1) {
            if (t >= 0) {
                // Tile t has landed (at most STAGES - 2 younger groups pending) for every
                // thread, and every warp is done with the stage the next copy overwrites
                // (read at t - 1).
                cp_async_wait<STAGES - 2>();
                __syncthreads();
            }
            if (t + STAGES - 1 < ktiles) load(t + STAGES - 1, ws);
            cp_async_commit();
            if (t < 0) continue;

            const int s = ws == STAGES - 1 ? 0 : ws + 1;
            const uint32_t sa = smem_base + (uint32_t)(s * S::STAGE) * 2u;
            const uint32_t sb = sa + (uint32_t)S::A_ELEMS * 2u;
#pragma unroll
            for (int kk = 0; kk < BK; kk += 16) {
                uint32_t af[MI][4], bf[NI][2];
#pragma unroll
                for (int i = 0; i < MI; ++i) {
                    // Matrices 0..3 of the x4: (m 0-7, k 0-7), (m 8-15, k 0-7), (m 0-7, k 8-15),
                    // (m 8-15, k 8-15) = fragment registers a0..a3; lane l gives a row address.
                    int row, col;
                    if (AT) { row = kk + (lane / 16) * 8 + lane % 8; col = wm0 + i * 16 + ((lane / 8) % 2) * 8; }
                    else { row = wm0 + i * 16 + lane % 16; col = kk + (lane / 16) * 8; }
                    ldmatrix_x4<AT>(af[i], sa + (uint32_t)(row * S::A_LD + col) * 2u);
                }
#pragma unroll
                for (int j = 0; j < NI; j += 2) {
                    // Matrices: (n 0-7, k 0-7), (n 0-7, k 8-15), (n 8-15, k 0-7), (n 8-15, k 8-15)
                    // = b0, b1 of n8 tile j, then b0, b1 of tile j + 1.
                    uint32_t r[4];
                    int row, col;
                    if (BT) { row = wn0 + j * 8 + (lane / 16) * 8 + lane % 8; col = kk + ((lane / 8) % 2) * 8; }
                    else { row = kk + ((lane / 8) % 2) * 8 + lane % 8; col = wn0 + j * 8 + (lane / 16) * 8; }
                    ldmatrix_x4<!BT>(r, sb + (uint32_t)(row * S::B_LD + col) * 2u);
                    bf[j][0] = r[0]; bf[j][1] = r[1]; bf[j + 1][0] = r[2]; bf[j + 1][1] = r[3];
                }
#pragma unroll
                for (int i = 0; i < MI; ++i)
#pragma unroll
                    for (int j = 0; j < NI; ++j) Mma<T>::run(acc[i][j], af[i], bf[j]);
            }
        }
        cp_async_wait<0>();
        __syncthreads();  // the next batch matrix's prologue overwrites stages still being read

        // Epilogue: fragment element e of (i, j) is C[g + 8 * (e / 2)][2t + e % 2] of the tile;
        // pairs are stored together where n is even. A k slice stores f32 partial sums.
        const int g = lane / 4, tq = lane % 4;
        const bool pairs = (n % 2) == 0;
#pragma unroll
        for (int i = 0; i < MI; ++i)
#pragma unroll
            for (int h = 0; h < 2; ++h) {
                long long row = m0 + wm0 + i * 16 + g + h * 8;
                if (row >= m) continue;
                T* crow = C + (z * m + row) * n;
                float* prow = partial + ((sp * batch + z) * m + row) * n;
#pragma unroll
                for (int j = 0; j < NI; ++j) {
                    long long col = n0 + wn0 + j * 8 + 2 * tq;
                    float v0 = acc[i][j][2 * h], v1 = acc[i][j][2 * h + 1];
                    if (splits > 1) {
                        if (col + 1 < n && pairs) {
                            *reinterpret_cast<float2*>(prow + col) = make_float2(v0, v1);
                        } else {
                            if (col < n) prow[col] = v0;
                            if (col + 1 < n) prow[col + 1] = v1;
                        }
                    } else if (col + 1 < n && pairs) {
                        *reinterpret_cast<uint32_t*>(crow + col) = Mma<T>::pack(v0, v1);
                    } else {
                        if (col < n) crow[col] = from_f32<T>(v0);
                        if (col + 1 < n) crow[col + 1] = from_f32<T>(v1);
                    }
                }
            }
    }
}

#define TC_PARAMS(T)                                                                                             \
    const T *__restrict__ a, const T *__restrict__ b, T *__restrict__ c, Strided a_batch, Strided b_batch,      \
        long long batch, long long m, long long n, long long k, long long a_rs, long long a_cs, long long b_rs, \
        long long b_cs, int a_vec, int b_vec, long long splits, long long k_split, float *__restrict__ partial
#define TC_ARGS a, b, c, a_batch, b_batch, batch, m, n, k, a_rs, a_cs, b_rs, b_cs, a_vec, b_vec, splits, k_split, partial

// Large tiles: 128 x 128 per CTA, 8 warps as 2 x 4, each 64 x 32 (4 x 4 fragments).
#define TC_LARGE(NAME, T, AT, BT)                                                        \
    extern "C" __global__ void __launch_bounds__(256, 2) NAME(TC_PARAMS(T)) {          \
        tc_matmul<T, 128, 128, 2, 4, AT, BT>(TC_ARGS);                                 \
    }
// Small tiles: 64 x 64 per CTA, 4 warps as 2 x 2, each 32 x 32 (2 x 4 fragments).
#define TC_SMALL(NAME, T, AT, BT)                                                        \
    extern "C" __global__ void __launch_bounds__(128, 4) NAME(TC_PARAMS(T)) {          \
        tc_matmul<T, 64, 64, 2, 2, AT, BT>(TC_ARGS);                                   \
    }

/// matmul_bf16_nn_128(a, b, c, a_batch, b_batch, batch, m, n, k, a_rs, a_cs, b_rs, b_cs,
///                    a_vec, b_vec, splits, k_split, partial)
/// c[z][i][j] = bf16(sum_p a[z][i][p] * b[z][p][j]) with the sum in f32 on the tensor cores
/// (CPU reference: tensor::cpu::matmul::matmul_storage, bf16 x bf16).
/// a: bf16, element (z, i, p) at strided_at(a_batch, z) + i * a_rs + p * a_cs, stored
/// row-major ("n": a_cs = 1, or a_vec = 1 for any strides); b: bf16, element (z, p, j) at
/// strided_at(b_batch, z) + p * b_rs + j * b_cs, row-major ("n": b_cs = 1, or b_vec = 1).
/// c: bf16 [batch, m, n] contiguous. a_vec, b_vec: how tiles are copied along the
/// contiguous dim: 8 = 16-byte cp.async (row starts 16-byte aligned), 4 = 8-byte ones,
/// 1 = element loads through registers (any strides).
/// Split k: with splits > 1, CTA slice sp sums p in [sp * k_split, (sp + 1) * k_split)
/// (k_split a multiple of 32) and stores f32 partial sums in partial [splits, batch, m, n]
/// instead of c; matmul_reduce_bf16 then adds the slices in order (deterministic). With
/// splits = 1, partial is unused (any pointer) and c is written.
/// Thread mapping: grid (ceil(m / 128), ceil(n / 128), z); each CTA computes one 128 x 128
/// tile of C, the tiles renumbered so that consecutive CTAs take the 8 m tiles of a group
/// for one n tile, then the next n tile (a wave of CTAs covers a compact block of C: L2
/// reuse), for the (batch matrix, k slice) pairs z, z + gridDim.z, ... of batch * splits;
/// 8 warps as 2 (m) x 4 (n), each warp 64 x 32 of C as 4 x 4 m16n8 f32 fragments; k in
/// tiles of 32 through a 3-stage cp.async ring. Block 256 threads; dynamic shared memory
/// 3 * (A tile + B tile) * 2 bytes (TcSmem; 56832 bytes here, 61440 for nt, 52224 for tn).
/// Limits: m, n, k, batch * splits < 2^63; gridDim.x = ceil(m / 128) < 2^31,
/// gridDim.y = ceil(n / 128) < 65536.
TC_LARGE(matmul_bf16_nn_128, __nv_bfloat16, false, false)
/// matmul_bf16_nt_128: as matmul_bf16_nn_128 with b column-major ("t": b_rs = 1, the
/// `x @ W^T` and `q @ k^T` layout), B tiles [128 n][32 k] read with ldmatrix (no .trans).
TC_LARGE(matmul_bf16_nt_128, __nv_bfloat16, false, true)
/// matmul_bf16_tn_128: as matmul_bf16_nn_128 with a column-major ("t": a_rs = 1, the
/// `x^T @ g` layout), A tiles [32 k][128 m] read with ldmatrix .trans.
TC_LARGE(matmul_bf16_tn_128, __nv_bfloat16, true, false)
/// matmul_bf16_tt_128: as matmul_bf16_nn_128 with a and b both column-major.
TC_LARGE(matmul_bf16_tt_128, __nv_bfloat16, true, true)
/// matmul_bf16_nn_64: as matmul_bf16_nn_128 with 64 x 64 tiles per CTA, 4 warps as 2 x 2,
/// each 32 x 32 (2 x 4 fragments); block 128 threads; dynamic shared memory 29184 bytes
/// (30720 for nt, 27648 for tn); for grids the large tiles leave the GPU short of CTAs.
/// gridDim.x = ceil(m / 64) < 2^31, gridDim.y = ceil(n / 64) < 65536.
TC_SMALL(matmul_bf16_nn_64, __nv_bfloat16, false, false)
/// matmul_bf16_nt_64: matmul_bf16_nt_128 with the tiles of matmul_bf16_nn_64.
TC_SMALL(matmul_bf16_nt_64, __nv_bfloat16, false, true)
/// matmul_bf16_tn_64: matmul_bf16_tn_128 with the tiles of matmul_bf16_nn_64.
TC_SMALL(matmul_bf16_tn_64, __nv_bfloat16, true, false)
/// matmul_bf16_tt_64: matmul_bf16_tt_128 with the tiles of matmul_bf16_nn_64.
TC_SMALL(matmul_bf16_tt_64, __nv_bfloat16, true, true)

/// matmul_f16_nn_128: matmul_bf16_nn_128 for f16 operands and output
/// (mma .f32.f16.f16.f32, f32 accumulation, the result rounded to f16).
TC_LARGE(matmul_f16_nn_128, __half, false, false)
/// matmul_f16_nt_128: matmul_bf16_nt_128 for f16.
TC_LARGE(matmul_f16_nt_128, __half, false, true)
/// matmul_f16_tn_128: matmul_bf16_tn_128 for f16.
TC_LARGE(matmul_f16_tn_128, __half, true, false)
/// matmul_f16_tt_128: matmul_bf16_tt_128 for f16.
TC_LARGE(matmul_f16_tt_128, __half, true, true)
/// matmul_f16_nn_64: matmul_bf16_nn_64 for f16.
TC_SMALL(matmul_f16_nn_64, __half, false, false)
/// matmul_f16_nt_64: matmul_bf16_nt_64 for f16.
TC_SMALL(matmul_f16_nt_64, __half, false, true)
/// matmul_f16_tn_64: matmul_bf16_tn_64 for f16.
TC_SMALL(matmul_f16_tn_64, __half, true, false)
/// matmul_f16_tt_64: matmul_bf16_tt_64 for f16.
TC_SMALL(matmul_f16_tt_64, __half, true, true)

// Split-k: the slices' f32 partial sums added in slice order, rounded once to T.
template <typename T> __device__ __forceinline__ void reduce_slices(const float* __restrict__ partial, T* __restrict__ c,
                                                                    long long splits, long long len) {
    FOR_EACH(i, len) {
        float s = partial[i];
        for (long long sp = 1; sp < splits; ++sp) s += partial[sp * len + i];
        c[i] = from_f32<T>(s);
    }
}

/// matmul_reduce_bf16(partial, c, splits, len): c[i] = bf16(partial[0][i] + partial[1][i]
/// + ... + partial[splits - 1][i]), summed in f32 in that order and rounded once (nearest
/// even): the second pass of a split-k matmul_bf16_* launch. partial: f32 [splits, len]
/// (len = batch * m * n); c: bf16 [len]. Grid-stride loop, one output per thread per pass;
/// any grid.
extern "C" __global__ void matmul_reduce_bf16(const float* __restrict__ partial, __nv_bfloat16* __restrict__ c,
                                              long long splits, long long len) {
    reduce_slices(partial, c, splits, len);
}
/// matmul_reduce_f16(partial, c, splits, len): matmul_reduce_bf16 for f16 output.
extern "C" __global__ void matmul_reduce_f16(const float* __restrict__ partial, __half* __restrict__ c, long long splits,
                                             long long len) {
    reduce_slices(partial, c, splits, len);
}
