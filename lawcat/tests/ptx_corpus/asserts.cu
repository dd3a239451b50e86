// assert() (nvcc's `__assertfail` with the message, file and line), and a device-side printf.
// launch holds: check_positive 1 32 -- f32[32]:1.5 u32:32 => clean
// launch fails: check_positive 1 32 -- f32[]:1,2,3,-4,5,6,7,8 u32:8 => error assertion-failed
#include <cassert>
#include <cstdio>

// Asserts every x[i] > 0, then doubles it; thread 0 says how many there were.
extern "C" __global__ void check_positive(float *x, unsigned n) {
    unsigned i = threadIdx.x;
    if (i >= n) return;
    assert(x[i] > 0.0f);
    x[i] *= 2.0f;
    if (i == 0) printf("checked %u values\n", n);
}
