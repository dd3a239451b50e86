// target: sm_90
// cuda::barrier as a block barrier (nvcc's mbarrier code: mbarrier.init, arrive, and a
// try_wait loop with %globaltimer and nanosleep back-off), for tests/instructions.rs: each
// thread writes its value to shared memory (itself, or with cuda::memcpy_async and
// cp.async.mbarrier.arrive), waits, reads its neighbour's.
//
// Made with (T = `scripts/gen-ptx.sh --toolkit`, CUDA 13.0):
//   nvcc -ptx -arch=sm_90 -std=c++17 -O3 -I$T/include -I$T/include/cccl \
//       ptx/interp/tests/kernels/nvcc/barrier.cu -o ptx/interp/tests/kernels/nvcc/barrier.ptx
#include <cuda/barrier>
using barrier = cuda::barrier<cuda::thread_scope_block>;

// out[i] = in[block * n + (t + 1) % n] for a block of n <= 256 threads.
extern "C" __global__ void barrier_sum(const float* in, float* out) {
#pragma nv_diag_suppress static_var_with_dynamic_init
    __shared__ barrier bar;
    __shared__ float tile[256];
    if (threadIdx.x == 0) init(&bar, blockDim.x);
    __syncthreads();
    tile[threadIdx.x] = in[blockIdx.x * blockDim.x + threadIdx.x];
    bar.arrive_and_wait();
    float s = tile[(threadIdx.x + 1) % blockDim.x];
    barrier::arrival_token t = bar.arrive();
    bar.wait(std::move(t));
    out[blockIdx.x * blockDim.x + threadIdx.x] = s;
}

// cuda::memcpy_async with a barrier (nvcc: cp.async, then cp.async.mbarrier.arrive, whose
// arrival does not count against the expected ones): out[i] = in[block * n + (t + 1) % n].
extern "C" __global__ void barrier_copy(const float* in, float* out) {
#pragma nv_diag_suppress static_var_with_dynamic_init
    __shared__ barrier bar;
    __shared__ float tile[256];
    if (threadIdx.x == 0) init(&bar, blockDim.x);
    __syncthreads();
    cuda::memcpy_async(&tile[threadIdx.x], &in[blockIdx.x * blockDim.x + threadIdx.x],
                       sizeof(float), bar);
    bar.arrive_and_wait();
    out[blockIdx.x * blockDim.x + threadIdx.x] = tile[(threadIdx.x + 1) % blockDim.x];
}

// The same with cp.async.mbarrier.arrive.noinc: the barrier expects two arrivals per thread,
// the copy's (counted, .noinc) and the thread's own.
extern "C" __global__ void barrier_copy_noinc(const float* in, float* out) {
#pragma nv_diag_suppress static_var_with_dynamic_init
    __shared__ barrier bar;
    __shared__ float tile[256];
    if (threadIdx.x == 0) init(&bar, 2 * blockDim.x);
    __syncthreads();
    unsigned dst = static_cast<unsigned>(__cvta_generic_to_shared(&tile[threadIdx.x]));
    unsigned b = static_cast<unsigned>(
        __cvta_generic_to_shared(cuda::device::barrier_native_handle(bar)));
    asm volatile("cp.async.ca.shared.global [%0], [%1], 4;" ::"r"(dst),
                 "l"(&in[blockIdx.x * blockDim.x + threadIdx.x])
                 : "memory");
    asm volatile("cp.async.mbarrier.arrive.noinc.shared.b64 [%0];" ::"r"(b) : "memory");
    bar.arrive_and_wait();
    out[blockIdx.x * blockDim.x + threadIdx.x] = tile[(threadIdx.x + 1) % blockDim.x];
}
