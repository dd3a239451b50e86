// nvcuda::wmma: one warp multiplies 16 x 16 f16 tiles into f32 (wmma.load, mma, store).
// launch gemm: tile_gemm 1 32 -- f16[256]:0.5 f16[256]:2 f32[256] => clean
// launch gemm_bug: tile_gemm_bug 1 32 -- f16[256]:0.5 f16[256]:2 f32[256] => error collective-mask
#include <mma.h>
using namespace nvcuda;

// c = a b for row-major 16 x 16 a, b (f16) and c (f32).
extern "C" __global__ void tile_gemm(const half *a, const half *b, float *c) {
    wmma::fragment<wmma::matrix_a, 16, 16, 16, half, wmma::row_major> fa;
    wmma::fragment<wmma::matrix_b, 16, 16, 16, half, wmma::row_major> fb;
    wmma::fragment<wmma::accumulator, 16, 16, 16, float> fc;
    wmma::fill_fragment(fc, 0.0f);
    wmma::load_matrix_sync(fa, a, 16);
    wmma::load_matrix_sync(fb, b, 16);
    wmma::mma_sync(fc, fa, fb, fc);
    wmma::store_matrix_sync(c, fc, 16, wmma::mem_row_major);
}

// BUG: lane 31 leaves before the warp-wide multiply.
extern "C" __global__ void tile_gemm_bug(const half *a, const half *b, float *c) {
    wmma::fragment<wmma::matrix_a, 16, 16, 16, half, wmma::row_major> fa;
    wmma::fragment<wmma::matrix_b, 16, 16, 16, half, wmma::row_major> fb;
    wmma::fragment<wmma::accumulator, 16, 16, 16, float> fc;
    wmma::fill_fragment(fc, 0.0f);
    wmma::load_matrix_sync(fa, a, 16);
    wmma::load_matrix_sync(fb, b, 16);
    if (threadIdx.x == 31) return;
    wmma::mma_sync(fc, fa, fb, fc);
    wmma::store_matrix_sync(c, fc, 16, wmma::mem_row_major);
}
