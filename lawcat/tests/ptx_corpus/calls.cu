// Device functions nvcc keeps as `.func` (parameters, return values, recursion) and the f64
// math library's out-of-line slow paths.
// launch dot: dots 1 32 -- f32[96]:0.5 f32[96]:2 f32[32] u32:32 => clean
// launch store_bug: stores 1 32 -- f32[32] u32:32 => error out-of-bounds
// launch fib: fibs 1 16 -- i32[16] => clean
// launch math: math 1 32 -- f64[32]:0.75 f64[32] u32:32 => clean
// launch math_uninit: math 1 32 -- uninit:256 f64[32] u32:32 => error uninitialised-global
#include <math.h>

__device__ __noinline__ float dot3(const float *a, const float *b) {
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
}

__device__ __noinline__ void store(float *p, unsigned i, float v) { p[i] = v; }

__device__ __noinline__ int fib(int k) { return k < 2 ? k : fib(k - 1) + fib(k - 2); }

// out[i] = the dot product of the i-th 3-vectors of a and b.
extern "C" __global__ void dots(const float *a, const float *b, float *out, unsigned n) {
    unsigned i = threadIdx.x;
    if (i < n) out[i] = dot3(a + 3 * i, b + 3 * i);
}

// BUG: stores at i + 1, so the last thread writes one past the end.
extern "C" __global__ void stores(float *out, unsigned n) {
    unsigned i = threadIdx.x;
    if (i < n) store(out, i + 1, 1.0f);
}

// out[i] = fib(i), recursively.
extern "C" __global__ void fibs(int *out) { out[threadIdx.x] = fib(threadIdx.x); }

// y[i] = pow(x[i], 2.5) + sin(1e6 x[i]) (the large argument takes sin's slow path).
extern "C" __global__ void math(const double *x, double *y, unsigned n) {
    unsigned i = threadIdx.x;
    if (i < n) y[i] = pow(x[i], 2.5) + sin(1e6 * x[i]);
}
