// target: sm_90
// nvcuda::wmma kernels, as a CUDA programmer writes them, for the interpreter's wmma tests
// (tests/instructions.rs checks every result against a plain CPU product).
//
// Made with (T = `scripts/gen-ptx.sh --toolkit`, CUDA 13.0):
//   nvcc -ptx -arch=sm_90 -std=c++17 -O3 -I$T/include -I$T/include/cccl \
//       ptx/interp/tests/kernels/nvcc/wmma.cu -o ptx/interp/tests/kernels/nvcc/wmma.ptx
#include <cuda_bf16.h>
#include <mma.h>
using namespace nvcuda;

// C[M x N] = A[M x K] * B[K x N]: A row-major, B column-major (b[n * K + k]), C row-major
// f32. One warp per 16 x 16 tile of C: grid (N / 16, M / 16), block 32. M, N, K multiples of
// 16.
extern "C" __global__ void wmma_gemm(const half* a, const half* b, float* c, int M, int N, int K) {
    int wm = blockIdx.y, wn = blockIdx.x;
    wmma::fragment<wmma::matrix_a, 16, 16, 16, half, wmma::row_major> fa;
    wmma::fragment<wmma::matrix_b, 16, 16, 16, half, wmma::col_major> fb;
    wmma::fragment<wmma::accumulator, 16, 16, 16, float> fc;
    wmma::fill_fragment(fc, 0.0f);
    for (int k = 0; k < K; k += 16) {
        wmma::load_matrix_sync(fa, a + wm * 16 * K + k, K);
        wmma::load_matrix_sync(fb, b + wn * 16 * K + k, K);
        wmma::mma_sync(fc, fa, fb, fc);
    }
    wmma::store_matrix_sync(c + wm * 16 * N + wn * 16, fc, N, wmma::mem_row_major);
}

// D = alpha * (A * B + C) for one m32n8k16 tile with f16 accumulators, through shared
// memory: A column-major (a[k * 32 + m]), B row-major (b[k * 8 + n]), C and D column-major
// (c[n * 32 + m]). Block 32.
extern "C" __global__ void wmma_f16_acc(const half* a, const half* b, const half* c, half* d,
                                        float alpha) {
    __shared__ __align__(32) half sa[32 * 16], sb[16 * 8], sc[32 * 8];
    for (int i = threadIdx.x; i < 32 * 16; i += 32) sa[i] = a[i];
    for (int i = threadIdx.x; i < 16 * 8; i += 32) sb[i] = b[i];
    for (int i = threadIdx.x; i < 32 * 8; i += 32) sc[i] = c[i];
    __syncwarp();
    wmma::fragment<wmma::matrix_a, 32, 8, 16, half, wmma::col_major> fa;
    wmma::fragment<wmma::matrix_b, 32, 8, 16, half, wmma::row_major> fb;
    wmma::fragment<wmma::accumulator, 32, 8, 16, half> fc;
    wmma::load_matrix_sync(fa, sa, 32);
    wmma::load_matrix_sync(fb, sb, 8);
    wmma::load_matrix_sync(fc, sc, 32, wmma::mem_col_major);
    wmma::mma_sync(fc, fa, fb, fc);
    for (int i = 0; i < fc.num_elements; i++) fc.x[i] = fc.x[i] * __float2half(alpha);
    wmma::store_matrix_sync(d, fc, 32, wmma::mem_col_major);
}

// One m8n32k16 bf16 tile: A row-major with row stride lda, B column-major (b[n * 16 + k]),
// D row-major f32 with C = 0. Block 32.
extern "C" __global__ void wmma_bf16(const __nv_bfloat16* a, int lda, const __nv_bfloat16* b,
                                     float* d) {
    wmma::fragment<wmma::matrix_a, 8, 32, 16, __nv_bfloat16, wmma::row_major> fa;
    wmma::fragment<wmma::matrix_b, 8, 32, 16, __nv_bfloat16, wmma::col_major> fb;
    wmma::fragment<wmma::accumulator, 8, 32, 16, float> fc;
    wmma::fill_fragment(fc, 0.0f);
    wmma::load_matrix_sync(fa, a, lda);
    wmma::load_matrix_sync(fb, b, 16);
    wmma::mma_sync(fc, fa, fb, fc);
    wmma::store_matrix_sync(d, fc, 32, wmma::mem_row_major);
}

// One m16n16k16 s8 tile: A row-major, B column-major, C row-major s32 loaded, D = A * B + C
// stored row-major (the integer accumulation wraps). Block 32.
extern "C" __global__ void wmma_s8(const signed char* a, const signed char* b, const int* c,
                                   int* d) {
    wmma::fragment<wmma::matrix_a, 16, 16, 16, signed char, wmma::row_major> fa;
    wmma::fragment<wmma::matrix_b, 16, 16, 16, signed char, wmma::col_major> fb;
    wmma::fragment<wmma::accumulator, 16, 16, 16, int> fc;
    wmma::load_matrix_sync(fa, a, 16);
    wmma::load_matrix_sync(fb, b, 16);
    wmma::load_matrix_sync(fc, c, 16, wmma::mem_row_major);
    wmma::mma_sync(fc, fa, fb, fc);
    wmma::store_matrix_sync(d, fc, 16, wmma::mem_row_major);
}

// One m16n16k8 tf32 tile: A row-major f32 rounded to tf32 (__float_to_tf32), B row-major
// (b[k * 16 + n]), D row-major f32 with C = 0. Block 32.
extern "C" __global__ void wmma_tf32(const float* a, const float* b, float* d) {
    wmma::fragment<wmma::matrix_a, 16, 16, 8, wmma::precision::tf32, wmma::row_major> fa;
    wmma::fragment<wmma::matrix_b, 16, 16, 8, wmma::precision::tf32, wmma::row_major> fb;
    wmma::fragment<wmma::accumulator, 16, 16, 8, float> fc;
    wmma::fill_fragment(fc, 0.0f);
    wmma::load_matrix_sync(fa, a, 8);
    wmma::load_matrix_sync(fb, b, 16);
    for (int i = 0; i < fa.num_elements; i++) fa.x[i] = wmma::__float_to_tf32(fa.x[i]);
    for (int i = 0; i < fb.num_elements; i++) fb.x[i] = wmma::__float_to_tf32(fb.x[i]);
    wmma::mma_sync(fc, fa, fb, fc);
    wmma::store_matrix_sync(d, fc, 16, wmma::mem_row_major);
}

// One m8n8k4 f64 tile: A row-major, B column-major (b[n * 4 + k]), C = D row-major (in
// place). Block 32.
extern "C" __global__ void wmma_f64(const double* a, const double* b, double* cd) {
    wmma::fragment<wmma::matrix_a, 8, 8, 4, double, wmma::row_major> fa;
    wmma::fragment<wmma::matrix_b, 8, 8, 4, double, wmma::col_major> fb;
    wmma::fragment<wmma::accumulator, 8, 8, 4, double> fc;
    wmma::load_matrix_sync(fa, a, 4);
    wmma::load_matrix_sync(fb, b, 4);
    wmma::load_matrix_sync(fc, cd, 8, wmma::mem_row_major);
    wmma::mma_sync(fc, fa, fb, fc);
    wmma::store_matrix_sync(cd, fc, 8, wmma::mem_row_major);
}
