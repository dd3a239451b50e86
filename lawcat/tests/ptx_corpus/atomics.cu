// atomicAdd on __half, __half2 and __nv_bfloat16 (atom.add.noftz.f16/.f16x2/.bf16), and the
// same sum without atomics.
// launch atomic: half_sums 2 64 -- f16[128]:0.25 f16[1] f16[2] bf16[1] => clean
// launch atomic_bug: half_sums_bug 2 64 -- f16[128]:0.25 f16[1] => error global-race
#include <cuda_bf16.h>
#include <cuda_fp16.h>

// s[0] += x[i]; s2 += (x[i], 2 x[i]); b[0] += x[i], all atomically.
extern "C" __global__ void half_sums(const half *x, half *s, half2 *s2, __nv_bfloat16 *b) {
    unsigned i = blockIdx.x * blockDim.x + threadIdx.x;
    atomicAdd(s, x[i]);
    atomicAdd(s2, __halves2half2(x[i], __hmul(x[i], __float2half(2.0f))));
    atomicAdd(b, __float2bfloat16(__half2float(x[i])));
}

// BUG: s[0] += x[i] without an atomic.
extern "C" __global__ void half_sums_bug(const half *x, half *s) {
    unsigned i = blockIdx.x * blockDim.x + threadIdx.x;
    s[0] = __hadd(s[0], x[i]);
}
