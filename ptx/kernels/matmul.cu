// Batched matmul on the CUDA cores: the exact f32 path (f32 FMA accumulation), f64, and
// the mixed-dtype products the CPU accepts (bf16/f16 with f32, bf16 with f16: operands
// converted to f32 as they are loaded). `[..., m, k] @ [..., k, n]`, output contiguous
// `[batch, m, n]` in the left operand's dtype; CPU reference:
// tensor::cpu::matmul::matmul_storage. bf16 x bf16 and f16 x f16 run on the tensor cores
// (matmul_tc.cu). Host launcher: ptx/src/ops/matmul.rs.
//
// One CTA of 256 threads computes a 64 x 64 tile of C for one batch matrix, k in tiles of
// 16: each tile of A and B is read from global memory into registers while the previous
// one is multiplied out of shared memory (two shared stages, one barrier per tile), and
// stored in shared memory as As[k][m] and Bs[k][n] in the accumulator type. Thread
// (tx, ty) = (tid % 16, tid / 16) owns the 4 x 4 block C[4 ty + i][4 tx + j]: per k it reads
// its 4 values of A and of B as one 16-byte shared load each (f32; two for f64), the A
// load a broadcast among the 16 threads of a row, for 16 FMAs.
//
// Any strides: element (i, p) of A is at a_off + i * a_rs + p * a_cs (a_off from the batch
// descriptor). `flags` bit 0 says A is column-major (a_rs = 1: threads walk m, else k, so
// consecutive threads read consecutive addresses in either layout); bit 1 says B is
// row-major (b_cs = 1: threads walk n, else k).
#include "common.cuh"

#define S_BM 64
#define S_BN 64
#define S_BK 16
#define S_THREADS 256

// Conversions to and from the accumulator type: f32 for f32/bf16/f16 operands, f64 for f64.
template <typename ACC> struct Acc;
template <> struct Acc<float> {
    template <typename T> static __device__ __forceinline__ float load(T x) { return to_f32(x); }
    template <typename T> static __device__ __forceinline__ T store(float x) { return from_f32<T>(x); }
};
template <> struct Acc<double> {
    static __device__ __forceinline__ double load(double x) { return x; }
    template <typename T> static __device__ __forceinline__ T store(double x) { return x; }
};

template <typename ACC, typename TA, typename TB, typename TC>
__device__ __forceinline__ void simt_matmul(const TA* __restrict__ A, const TB* __restrict__ B, TC* __restrict__ C,
                                            const Strided& a_batch, const Strided& b_batch, long long batch, long long m,
                                            long long n, long long k, long long a_rs, long long a_cs, long long b_rs,
                                            long long b_cs, int flags) {
    // Rows padded by 4 elements: still 16-byte aligned for the vector loads, and a warp
    // storing 16 k-values of 2 rows of a k-contiguous A hits each bank at most twice.
    __shared__ __align__(16) ACC As[2][S_BK][S_BM + 4];
    __shared__ __align__(16) ACC Bs[2][S_BK][S_BN + 4];
    constexpr int PER = S_BM * S_BK / S_THREADS;  // elements of each operand a thread loads: 4
    const int tid = threadIdx.x, tx = tid % 16, ty = tid / 16;
    const long long m0 = (long long)blockIdx.x * S_BM, n0 = (long long)blockIdx.y * S_BN;
    const long long ktiles = (k + S_BK - 1) / S_BK;
    const bool a_mfast = flags & 1, b_nfast = flags & 2;

    // The (row, k) of A and (k, col) of B each thread loads, within a tile.
    int ar[PER], ak[PER], bk[PER], bc[PER];
#pragma unroll
    for (int q = 0; q < PER; ++q) {
        int e = q * S_THREADS + tid;
        ar[q] = a_mfast ? e % S_BM : e / S_BK;
        ak[q] = a_mfast ? e / S_BM : e % S_BK;
        bc[q] = b_nfast ? e % S_BN : e / S_BK;
        bk[q] = b_nfast ? e / S_BN : e % S_BK;
    }

    for (long long z = blockIdx.z; z < batch; z += gridDim.z) {
        const TA* a = A + strided_at(a_batch, z);
        const TB* b = B + strided_at(b_batch, z);
        ACC ra[PER], rb[PER];
        auto fetch = [&](long long t) {
            long long k0 = t * S_BK;
#pragma unroll
            for (int q = 0; q < PER; ++q) {
                long long i = m0 + ar[q], p = k0 + ak[q];
                ra[q] = (i < m && p < k) ? Acc<ACC>::load(a[i * a_rs + p * a_cs]) : (ACC)0;
                long long pj = k0 + bk[q], j = n0 + bc[q];
                rb[q] = (pj < k && j < n) ? Acc<ACC>::load(b[pj * b_rs + j * b_cs]) : (ACC)0;
            }
        };
        auto stash = [&](int s) {
#pragma unroll
            for (int q = 0; q < PER; ++q) {
                As[s][ak[q]][ar[q]] = ra[q];
                Bs[s][bk[q]][bc[q]] = rb[q];
            }
        };

        ACC acc[4][4];
#pragma unroll
        for (int i = 0; i < 4; ++i)
#pragma unroll
            for (int j = 0; j < 4; ++j) acc[i][j] = (ACC)0;

        if (ktiles > 0) {
            fetch(0);
            stash(0);
        }
        __syncthreads();
        for (long long t = 0; t < ktiles; ++t) {
            const int s = (int)(t & 1);
            if (t + 1 < ktiles) fetch(t + 1);
#pragma unroll
            for (int p = 0; p < S_BK; ++p) {
                ACC x[4], y[4];
#pragma unroll
                for (int i = 0; i < 4; ++i) x[i] = As[s][p][4 * ty + i];
#pragma unroll
                for (int j = 0; j < 4; ++j) y[j] = Bs[s][p][4 * tx + j];
#pragma unroll
                for (int i = 0; i < 4; ++i)
#pragma unroll
                    for (int j = 0; j < 4; ++j) acc[i][j] = fma(x[i], y[j], acc[i][j]);
            }
            // Stage s ^ 1 was last read in iteration t - 1, which every thread has left.
            if (t + 1 < ktiles) stash(s ^ 1);
            __syncthreads();
        }

#pragma unroll
        for (int i = 0; i < 4; ++i) {
            long long row = m0 + 4 * ty + i;
            if (row >= m) continue;
#pragma unroll
            for (int j = 0; j < 4; ++j) {
                long long col = n0 + 4 * tx + j;
                if (col < n) C[(z * m + row) * n + col] = Acc<ACC>::template store<TC>(acc[i][j]);
            }
        }
    }
}

#define SIMT_PARAMS(TA, TB, TC)                                                                                    \
    const TA *__restrict__ a, const TB *__restrict__ b, TC *__restrict__ c, Strided a_batch, Strided b_batch,     \
        long long batch, long long m, long long n, long long k, long long a_rs, long long a_cs, long long b_rs,   \
        long long b_cs, int flags
#define SIMT(NAME, ACC, TA, TB)                                                                                    \
    extern "C" __global__ void __launch_bounds__(S_THREADS) NAME(SIMT_PARAMS(TA, TB, TA)) {                      \
        simt_matmul<ACC, TA, TB, TA>(a, b, c, a_batch, b_batch, batch, m, n, k, a_rs, a_cs, b_rs, b_cs, flags); \
    }

/// matmul_f32(a, b, c, a_batch, b_batch, batch, m, n, k, a_rs, a_cs, b_rs, b_cs, flags)
/// c[z][i][j] = sum_p a[z][i][p] * b[z][p][j], f32 FMA accumulation in p order within each
/// thread (CPU reference: tensor::cpu::matmul::matmul_storage, f32 x f32).
/// a: f32, element (z, i, p) at strided_at(a_batch, z) + i * a_rs + p * a_cs; b: f32,
/// element (z, p, j) at strided_at(b_batch, z) + p * b_rs + j * b_cs (any strides, 0 for
/// broadcast); c: f32 [batch, m, n] contiguous. flags: bit 0 = a is column-major
/// (a_rs = 1), bit 1 = b is row-major (b_cs = 1): which way threads walk when loading.
/// Thread mapping: CTA (x, y, z) = (64-row tile of m, 64-column tile of n, batch matrix z,
/// z + gridDim.z, ...); 256 threads, thread (tx, ty) = (tid % 16, tid / 16) owns
/// C[4 ty + i][4 tx + j] for i, j < 4; k in tiles of 16 double-buffered through registers.
/// Static shared memory 2 * 2 * 16 * 68 accumulator elements (17408 bytes for f32).
/// Limits: m, n, k, batch < 2^63; gridDim.x = ceil(m / 64) < 2^31,
/// gridDim.y = ceil(n / 64) < 65536.
SIMT(matmul_f32, float, float, float)
/// matmul_f64: matmul_f32 for f64 operands and output, f64 FMA accumulation (34816 bytes
/// of static shared memory).
SIMT(matmul_f64, double, double, double)
/// matmul_f32_bf16: f32 @ bf16 -> f32, b converted to f32 as it is loaded; else as
/// matmul_f32.
SIMT(matmul_f32_bf16, float, float, __nv_bfloat16)
/// matmul_f32_f16: f32 @ f16 -> f32, as matmul_f32_bf16.
SIMT(matmul_f32_f16, float, float, __half)
/// matmul_bf16_f32: bf16 @ f32 -> bf16 (the left operand's dtype), a converted to f32 as
/// it is loaded, the f32 sum rounded to bf16 (nearest even); else as matmul_f32.
SIMT(matmul_bf16_f32, float, __nv_bfloat16, float)
/// matmul_f16_f32: f16 @ f32 -> f16, as matmul_bf16_f32.
SIMT(matmul_f16_f32, float, __half, float)
/// matmul_bf16_f16: bf16 @ f16 -> bf16, both converted to f32 as they are loaded (the
/// tensor cores take one input type); else as matmul_bf16_f32.
SIMT(matmul_bf16_f16, float, __nv_bfloat16, __half)
/// matmul_f16_bf16: f16 @ bf16 -> f16, as matmul_bf16_f16.
SIMT(matmul_f16_bf16, float, __half, __nv_bfloat16)
