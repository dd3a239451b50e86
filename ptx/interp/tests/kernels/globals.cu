// target: sm_90
// Module-scope variables (`__device__` and `__constant__`, with and without initializers,
// addresses of variables and functions in initializers, strings), the reserved shared
// memory cooperative groups uses, and the notes the checker gives, for tests/module_scope.rs
// and tests/levels.rs. The PTX beside it is what the pinned nvcc makes of it:
//   nvcc -ptx -arch=sm_90 -std=c++17 -O3 -I$T/include -I$T/include/cccl -o globals.ptx globals.cu
// (T = scripts/gen-ptx.sh --toolkit); tests/regenerate.rs checks it still does.
#include <cooperative_groups.h>
#include <cooperative_groups/reduce.h>
namespace cg = cooperative_groups;

__device__ int counter;                                   // zero until a kernel adds to it
__device__ float table[4] = {1.0f, 2.0f, 3.0f, 4.0f};
__constant__ float coeffs[3] = {0.5f, 0.25f, 0.125f};
__constant__ int cfg;                                     // the host sets it
__device__ float *table_ptr = table;                      // generic(table)
__device__ const char greeting[] = "hello";
struct Entry {
    int key;
    const float *value;
};
__device__ Entry entries[2] = {{10, table + 1}, {20, table + 3}};  // generic(table)+4, +12

// out[i] = table[i % 4] * coeffs[cfg] + table_ptr[0] + greeting[i % 5] + *entries[i % 2].value
// + entries[i % 2].key; counter += 1 per thread.
extern "C" __global__ void globals(float *out) {
    int i = threadIdx.x;
    const Entry &e = entries[i & 1];
    out[i] = table[i & 3] * coeffs[cfg] + table_ptr[0] + greeting[i % 5] + *e.value + e.key;
    atomicAdd(&counter, 1);
}

// table[i] *= 2 for i < 4 (a kernel writing a __device__ array the host reads back).
extern "C" __global__ void scale_table() {
    if (threadIdx.x < 4) table[threadIdx.x] *= 2.0f;
}

// BUG: writes a __constant__ variable through a pointer (constant memory is read-only).
extern "C" __global__ void write_const(float v) {
    float *p = (float *)&coeffs[0];
    p[threadIdx.x % 3] = v;
}

// out[i / 64] = the sum of in[64 * (i / 64) ...] over a 64-thread tile (cooperative groups
// keeps the tile's scratch at %reserved_smem_offset_1).
extern "C" __global__ void tile_sum(const int *in, int *out) {
    auto block = cg::this_thread_block();
    auto tile = cg::tiled_partition<64>(block);
    int s = cg::reduce(tile, in[block.thread_rank()], cg::plus<int>());
    if (tile.thread_rank() == 0) out[block.thread_rank() / 64] = s;
}

// The `if (i >= n) return; ... __syncthreads()` idiom: threads i >= n exit before the
// barrier. out[i] = in[(i + 1) % n] for i < n.
extern "C" __global__ void early_exit(const float *in, float *out, int n) {
    __shared__ float s[1024];
    int i = threadIdx.x;
    if (i >= n) return;
    s[i] = in[i];
    __syncthreads();
    out[i] = s[(i + 1) % n];
}

// Every thread writes the same value to one shared word and one global word (benign), then
// reads the shared one after a barrier: out[i] = 1, flag[0] = 1.
extern "C" __global__ void same_value(int *out, int *flag) {
    __shared__ int s;
    s = 1;
    *flag = 1;
    __syncthreads();
    out[threadIdx.x] = s;
}

// BUG: threads write different values to two shared words, and read the other one with no
// barrier: out[i] = whichever thread's write to s[(i + 1) % 2] came last.
extern "C" __global__ void different_values(int *out) {
    __shared__ int s[2];
    s[threadIdx.x & 1] = threadIdx.x;
    out[threadIdx.x] = s[(threadIdx.x + 1) & 1];
}
