// Device functions that stay calls in the PTX (`.func` with parameters, return values and
// local frames), recursion, assert(), printf and libdevice slow paths, for
// tests/calls.rs. The PTX beside it is what the pinned nvcc makes of it:
//   nvcc -ptx -arch=sm_80 -std=c++17 -O3 -I$T/include -I$T/include/cccl -o calls.ptx calls.cu
// (T = scripts/gen-ptx.sh --toolkit); tests/regenerate.rs checks it still does.
#include <cassert>
#include <cstdio>

// A call with arguments and a return value (__noinline__ keeps it a call).
__device__ __noinline__ float axpb(float a, float x, float b) { return a * x + b; }

// Recursion nvcc cannot turn into a loop (two calls per level).
__device__ __noinline__ int fib(int n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }

// A struct returned by value (in a return parameter of 16 bytes).
struct Pair {
    int a;
    float b;
    double c;
};
__device__ __noinline__ Pair make_pair(int a, float b) {
    Pair p;
    p.a = a * 3;
    p.b = b + 0.5f;
    p.c = a * 0.25;
    return p;
}

// A local array in the callee's frame, and a pointer argument it writes through.
__device__ __noinline__ void fill(int *out, int n) {
    int buf[16];
    for (int i = 0; i < 16; ++i) buf[i] = i * n;
    out[threadIdx.x] = buf[(threadIdx.x + n) & 15];
}

// Writes out[i] for i = threadIdx.x: out of bounds when the buffer has fewer elements.
__device__ __noinline__ void store_at(int *out, int i, int v) { out[i] = v; }

// Function pointers, called through a register.
typedef float (*unary)(float);
__device__ __noinline__ float square(float x) { return x * x; }
__device__ __noinline__ float cube(float x) { return x * x * x; }
__device__ unary unaries[2] = {square, cube};

// out[i] = axpb(2, i, 1) + make_pair(i, 1).b + make_pair(i, 1).c; iout[i] = fib(i % 12) + 3i;
// fill: fill_out[i] = ((i + n) & 15) * n. One thread per element, n threads.
extern "C" __global__ void calls(float *out, int *iout, int *fill_out, int n) {
    int i = threadIdx.x;
    if (i >= n) return;
    Pair p = make_pair(i, 1.0f);
    out[i] = axpb(2.0f, (float)i, 1.0f) + p.b + (float)p.c;
    iout[i] = fib(i % 12) + p.a;
    fill(fill_out, n);
}

// x[i] = fib(x[i]): recursion as deep as x[i].
extern "C" __global__ void recurse(int *x) { x[threadIdx.x] = fib(x[threadIdx.x]); }

// assert(x[i] < n), then x[i] = i.
extern "C" __global__ void asserts(int *x, int n) {
    int i = threadIdx.x;
    assert(x[i] < n);
    x[i] = i;
}

// printf from every thread.
extern "C" __global__ void prints(const int *x) {
    printf("thread %d: x=%d half=%.2f\n", threadIdx.x, x[threadIdx.x], 0.5f * threadIdx.x);
}

// x[i] = sin(x[i]) + pow(x[i], 2.5) in f64 (huge x[i] take sin's slow-path reduction, a
// .func); y[i] = powf(y[i], 1.7f) in f32.
extern "C" __global__ void libm(double *x, float *y) {
    int i = threadIdx.x;
    double v = x[i];
    x[i] = sin(v) + pow(fabs(v), 2.5);
    y[i] = powf(y[i], 1.7f);
}

// x[i] = unaries[which & 1](x[i]): an indirect call.
extern "C" __global__ void indirect(float *x, int which) {
    unary f = unaries[which & 1];
    x[threadIdx.x] = f(x[threadIdx.x]);
}

// BUG when launched with more threads than out has elements: the callee writes past its end.
extern "C" __global__ void callee_oob(int *out) { store_at(out, threadIdx.x, 7); }
