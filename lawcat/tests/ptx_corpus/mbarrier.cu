// target: sm_90
// cuda::barrier (mbarrier.init, arrive, try_wait) and a bulk of copies completing on it.
// launch barrier: pass_around 1 64 -- f32[64]:3 f32[64] => clean
// launch barrier_bug: pass_around_bug 1 64 -- f32[64]:3 f32[64] => deadlock
#include <cuda/barrier>

// out[i] = in[63 - i], exchanged through shared memory across a cuda::barrier of the block.
extern "C" __global__ void pass_around(const float *in, float *out) {
    __shared__ cuda::barrier<cuda::thread_scope_block> bar;
    __shared__ float s[64];
    if (threadIdx.x == 0) init(&bar, blockDim.x);
    __syncthreads();
    s[threadIdx.x] = in[threadIdx.x];
    bar.arrive_and_wait();
    out[threadIdx.x] = s[63 - threadIdx.x];
}

// BUG: the barrier expects one more thread than the block has: the phase never completes.
extern "C" __global__ void pass_around_bug(const float *in, float *out) {
    __shared__ cuda::barrier<cuda::thread_scope_block> bar;
    __shared__ float s[64];
    if (threadIdx.x == 0) init(&bar, blockDim.x + 1);
    __syncthreads();
    s[threadIdx.x] = in[threadIdx.x];
    bar.arrive_and_wait();
    out[threadIdx.x] = s[63 - threadIdx.x];
}
