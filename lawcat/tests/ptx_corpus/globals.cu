// Module-scope variables: a `__device__` array the kernel counts into, a `__device__` counter,
// a `__constant__` table with an initializer.
// launch count: histogram 2 64 -- i32[128]:5 u32:128 => clean
// launch count_bug: histogram_bug 2 64 -- i32[128]:21 u32:128 => error out-of-bounds
// launch scale: scale 1 64 -- f32[64]:1 u32:64 => clean
__device__ unsigned hist[16];
__device__ unsigned total;
__constant__ float weights[4] = {0.5f, 1.0f, 2.0f, 4.0f};

// hist[key & 15] += 1 and total += 1 for each of the n keys.
extern "C" __global__ void histogram(const int *keys, unsigned n) {
    unsigned i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) {
        atomicAdd(&hist[keys[i] & 15], 1u);
        atomicAdd(&total, 1u);
    }
}

// BUG: masks with 31, so keys 16..31 count past the end of hist.
extern "C" __global__ void histogram_bug(const int *keys, unsigned n) {
    unsigned i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) atomicAdd(&hist[keys[i] & 31], 1u);
}

// x[i] *= weights[i % 4].
extern "C" __global__ void scale(float *x, unsigned n) {
    unsigned i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) x[i] *= weights[i & 3];
}
