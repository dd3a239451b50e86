// target: sm_90
// The instructions of the mbarrier, wmma-free half of the interpreter's newer families, each
// run over many inputs so that the interpreter can be compared bit for bit with a GPU
// (tests/instructions.rs holds the GPU's results as hashes, and a Rust reference for each).
// Every kernel writes K words per thread to `out` (thread i at out[i * K]); inputs are made
// from the thread index, so no input buffers are needed.
//
// Made with (T = `scripts/gen-ptx.sh --toolkit`, CUDA 13.0):
//   nvcc -ptx -arch=sm_90 -std=c++17 -O3 -I$T/include -I$T/include/cccl \
//       ptx/interp/tests/kernels/nvcc/instructions.cu -o ptx/interp/tests/kernels/nvcc/instructions.ptx
#include <cuda_fp16.h>
#pragma nv_diag_suppress 550 // outputs of atomics kept only for their effect

// A 32-bit mix of (i, s): the inputs of thread i.
__device__ __forceinline__ unsigned mix(unsigned i, unsigned s) {
    unsigned x = i * 0x9E3779B1u ^ s * 0x85EBCA77u;
    x ^= x >> 15;
    x *= 0x2c1b3c6du;
    x ^= x >> 12;
    x *= 0x297a2d39u;
    x ^= x >> 15;
    return x;
}

// An f32 bit pattern for thread i: the upper 16 bits run through every value (i >> 2), the
// lower ones are 0, a tie bit, 1 or mixed, so ties and near-ties of every narrower format
// occur.
__device__ __forceinline__ unsigned f32_bits(unsigned i) {
    unsigned lo = (i & 3) == 0 ? 0u : (i & 3) == 1 ? 0x8000u : (i & 3) == 2 ? 1u : mix(i, 9) & 0xffff;
    return (i >> 2) << 16 | lo;
}

__device__ __forceinline__ unsigned gid() { return blockIdx.x * blockDim.x + threadIdx.x; }

// cvt.rn.satfinite{.relu}.{e4m3x2,e5m2x2}.f16x2 over every f16 in both halves (the upper
// half i, the lower half i with the sign flipped). K = 4.
extern "C" __global__ void fp8_from_f16x2(unsigned short* out) {
    unsigned i = gid();
    unsigned a = i << 16 | (i ^ 0x8000u);
    unsigned short d0, d1, d2, d3;
    asm("cvt.rn.satfinite.e4m3x2.f16x2 %0, %1;" : "=h"(d0) : "r"(a));
    asm("cvt.rn.satfinite.e5m2x2.f16x2 %0, %1;" : "=h"(d1) : "r"(a));
    asm("cvt.rn.satfinite.relu.e4m3x2.f16x2 %0, %1;" : "=h"(d2) : "r"(a));
    asm("cvt.rn.satfinite.relu.e5m2x2.f16x2 %0, %1;" : "=h"(d3) : "r"(a));
    out[i * 4] = d0;
    out[i * 4 + 1] = d1;
    out[i * 4 + 2] = d2;
    out[i * 4 + 3] = d3;
}

// cvt.rn.satfinite{.relu}.{e4m3x2,e5m2x2}.f32 d, a, b with a = f32_bits(i), b = -a. K = 4.
extern "C" __global__ void fp8_from_f32(unsigned short* out) {
    unsigned i = gid();
    float a = __uint_as_float(f32_bits(i)), b = __uint_as_float(f32_bits(i) ^ 0x80000000u);
    unsigned short d0, d1, d2, d3;
    asm("cvt.rn.satfinite.e4m3x2.f32 %0, %1, %2;" : "=h"(d0) : "f"(a), "f"(b));
    asm("cvt.rn.satfinite.e5m2x2.f32 %0, %1, %2;" : "=h"(d1) : "f"(a), "f"(b));
    asm("cvt.rn.satfinite.relu.e4m3x2.f32 %0, %1, %2;" : "=h"(d2) : "f"(a), "f"(b));
    asm("cvt.rn.satfinite.relu.e5m2x2.f32 %0, %1, %2;" : "=h"(d3) : "f"(a), "f"(b));
    out[i * 4] = d0;
    out[i * 4 + 1] = d1;
    out[i * 4 + 2] = d2;
    out[i * 4 + 3] = d3;
}

// cvt.rn{.relu}.f16x2.{e4m3x2,e5m2x2} over every pair of bytes. K = 4.
extern "C" __global__ void f16x2_from_fp8(unsigned* out) {
    unsigned i = gid();
    unsigned short a = (unsigned short)i;
    unsigned d0, d1, d2, d3;
    asm("cvt.rn.f16x2.e4m3x2 %0, %1;" : "=r"(d0) : "h"(a));
    asm("cvt.rn.f16x2.e5m2x2 %0, %1;" : "=r"(d1) : "h"(a));
    asm("cvt.rn.relu.f16x2.e4m3x2 %0, %1;" : "=r"(d2) : "h"(a));
    asm("cvt.rn.relu.f16x2.e5m2x2 %0, %1;" : "=r"(d3) : "h"(a));
    out[i * 4] = d0;
    out[i * 4 + 1] = d1;
    out[i * 4 + 2] = d2;
    out[i * 4 + 3] = d3;
}

// cvt to .tf32 from f32_bits(i): .rna, .rna.satfinite, .rn, .rz, .rn.relu. K = 5.
extern "C" __global__ void tf32_from_f32(unsigned* out) {
    unsigned i = gid();
    float a = __uint_as_float(f32_bits(i));
    unsigned d0, d1, d2, d3, d4;
    asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(d0) : "f"(a));
    asm("cvt.rna.satfinite.tf32.f32 %0, %1;" : "=r"(d1) : "f"(a));
    asm("cvt.rn.tf32.f32 %0, %1;" : "=r"(d2) : "f"(a));
    asm("cvt.rz.tf32.f32 %0, %1;" : "=r"(d3) : "f"(a));
    asm("cvt.rn.relu.tf32.f32 %0, %1;" : "=r"(d4) : "f"(a));
    out[i * 5] = d0;
    out[i * 5 + 1] = d1;
    out[i * 5 + 2] = d2;
    out[i * 5 + 3] = d3;
    out[i * 5 + 4] = d4;
}

// Half-precision atomics on x = mix(i, 1), y = mix(i, 2) (random bits: NaNs, infinities,
// subnormals, ties), each thread on its own words (no contention: the value left in memory
// is x op y). K = 16: the new values of
//   0 atom.global.add.noftz.f16      1 atom.global.add.noftz.bf16
//   2 atom.global.add.noftz.f16x2    3 atom.global.add.noftz.bf16x2
//   4 atom.shared.add.noftz.f16      5 atom.shared.add.noftz.bf16
//   6 atom.shared.add.noftz.f16x2    7 atom.shared.add.noftz.bf16x2
//   8 red.global.add.noftz.f16x2     9 atom.global.v2.f16.min.noftz (both halves)
//  10 atom.global.v2.bf16.max.noftz 11 atom.global.v2.f16x2.max.noftz (first word)
//  12 atom.global.cas.b16 (swaps when i is odd)  13 atom.shared.cas.b16 (when i is even)
//  14 the old value atom.global.add.noftz.f16 returned (x)  15 atom.global.v2.bf16x2.min,
//  first word.
extern "C" __global__ void atomics_half(unsigned* out, unsigned* scratch) {
    __shared__ unsigned sh[256];
    unsigned i = gid(), t = threadIdx.x;
    unsigned x = mix(i, 1), y = mix(i, 2), x2 = mix(i, 3), y2 = mix(i, 4);
    unsigned short xs = (unsigned short)x, ys = (unsigned short)y;
    unsigned* g = scratch + i * 16;
    unsigned short* gh = (unsigned short*)g;
    unsigned short old;
    gh[0] = xs;
    asm volatile("atom.global.add.noftz.f16 %0, [%1], %2;" : "=h"(old) : "l"(gh), "h"(ys) : "memory");
    out[i * 16 + 14] = old;
    out[i * 16] = gh[0];
    gh[2] = xs;
    asm volatile("atom.global.add.noftz.bf16 %0, [%1], %2;" : "=h"(old) : "l"(gh + 2), "h"(ys) : "memory");
    out[i * 16 + 1] = gh[2];
    unsigned o32;
    g[2] = x;
    asm volatile("atom.global.add.noftz.f16x2 %0, [%1], %2;" : "=r"(o32) : "l"(g + 2), "r"(y) : "memory");
    out[i * 16 + 2] = g[2];
    g[3] = x;
    asm volatile("atom.global.add.noftz.bf16x2 %0, [%1], %2;" : "=r"(o32) : "l"(g + 3), "r"(y) : "memory");
    out[i * 16 + 3] = g[3];
    unsigned s = (unsigned)__cvta_generic_to_shared(&sh[t]);
    sh[t] = x;
    asm volatile("atom.shared.add.noftz.f16 %0, [%1], %2;" : "=h"(old) : "r"(s), "h"(ys) : "memory");
    out[i * 16 + 4] = sh[t] & 0xffff;
    sh[t] = x;
    asm volatile("atom.shared.add.noftz.bf16 %0, [%1], %2;" : "=h"(old) : "r"(s), "h"(ys) : "memory");
    out[i * 16 + 5] = sh[t] & 0xffff;
    sh[t] = x;
    asm volatile("atom.shared.add.noftz.f16x2 %0, [%1], %2;" : "=r"(o32) : "r"(s), "r"(y) : "memory");
    out[i * 16 + 6] = sh[t];
    sh[t] = x;
    asm volatile("atom.shared.add.noftz.bf16x2 %0, [%1], %2;" : "=r"(o32) : "r"(s), "r"(y) : "memory");
    out[i * 16 + 7] = sh[t];
    g[4] = x;
    asm volatile("red.global.add.noftz.f16x2 [%0], %1;" :: "l"(g + 4), "r"(y) : "memory");
    out[i * 16 + 8] = g[4];
    unsigned short a0, a1;
    g[6] = x;
    asm volatile("atom.global.v2.f16.min.noftz {%0, %1}, [%2], {%3, %4};"
                 : "=h"(a0), "=h"(a1) : "l"(g + 6), "h"(ys), "h"((unsigned short)(y >> 16)) : "memory");
    out[i * 16 + 9] = g[6];
    g[7] = x;
    asm volatile("atom.global.v2.bf16.max.noftz {%0, %1}, [%2], {%3, %4};"
                 : "=h"(a0), "=h"(a1) : "l"(g + 7), "h"(ys), "h"((unsigned short)(y >> 16)) : "memory");
    out[i * 16 + 10] = g[7];
    unsigned b0, b1;
    g[8] = x;
    g[9] = x2;
    asm volatile("atom.global.v2.f16x2.max.noftz {%0, %1}, [%2], {%3, %4};"
                 : "=r"(b0), "=r"(b1) : "l"(g + 8), "r"(y), "r"(y2) : "memory");
    out[i * 16 + 11] = g[8] ^ g[9];
    gh[20] = xs;
    unsigned short cmp = (i & 1) ? xs : (unsigned short)(xs ^ 1);
    asm volatile("atom.global.cas.b16 %0, [%1], %2, %3;" : "=h"(old) : "l"(gh + 20), "h"(cmp), "h"(ys) : "memory");
    out[i * 16 + 12] = gh[20] | (unsigned)old << 16;
    sh[t] = x;
    cmp = (i & 1) ? (unsigned short)(xs ^ 1) : xs;
    asm volatile("atom.shared.cas.b16 %0, [%1], %2, %3;" : "=h"(old) : "r"(s), "h"(cmp), "h"(ys) : "memory");
    out[i * 16 + 13] = sh[t];
    g[12] = x;
    g[13] = x2;
    asm volatile("atom.global.v2.bf16x2.min.noftz {%0, %1}, [%2], {%3, %4};"
                 : "=r"(b0), "=r"(b1) : "l"(g + 12), "r"(y), "r"(y2) : "memory");
    out[i * 16 + 15] = g[12] ^ (g[13] << 1);
}

// set and setp on x = mix(i, 5), y = mix(i, 6) (every fourth thread compares x with itself,
// so that equal operands occur), c = i & 1. K = 12.
extern "C" __global__ void set_forms(unsigned* out) {
    unsigned i = gid();
    unsigned x = mix(i, 5), y = (i & 3) == 3 ? x : mix(i, 6);
    unsigned c = i & 1, d;
    unsigned short h;
    unsigned* o = out + i * 12;
    asm("set.lt.u32.s32 %0, %1, %2;" : "=r"(d) : "r"(x), "r"(y));
    o[0] = d;
    asm("{.reg .pred p; setp.ne.u32 p, %3, 0; set.lt.and.u32.s32 %0, %1, %2, p;}" : "=r"(d) : "r"(x), "r"(y), "r"(c));
    o[1] = d;
    asm("{.reg .pred p; setp.ne.u32 p, %3, 0; set.gtu.or.f32.f32 %0, %1, %2, !p;}" : "=r"(d) : "f"(__uint_as_float(x)), "f"(__uint_as_float(y)), "r"(c));
    o[2] = d;
    asm("set.ne.s32.f32 %0, %1, %2;" : "=r"(d) : "f"(__uint_as_float(x)), "f"(__uint_as_float(y)));
    o[3] = d;
    asm("set.lt.f16x2.f16x2 %0, %1, %2;" : "=r"(d) : "r"(x), "r"(y));
    o[4] = d;
    asm("set.geu.u32.f16x2 %0, %1, %2;" : "=r"(d) : "r"(x), "r"(y));
    o[5] = d;
    asm("set.equ.bf16x2.bf16x2 %0, %1, %2;" : "=r"(d) : "r"(x), "r"(y));
    o[6] = d;
    asm("set.le.f16.f16 %0, %1, %2;" : "=h"(h) : "h"((unsigned short)x), "h"((unsigned short)y));
    o[7] = h;
    asm("set.num.u16.bf16 %0, %1, %2;" : "=h"(h) : "h"((unsigned short)x), "h"((unsigned short)y));
    o[8] = h;
    asm("{.reg .pred p, q; .reg .b32 t; setp.lt.f16x2 p|q, %1, %2; selp.u32 %0, 1, 0, p; selp.u32 t, 2, 0, q; or.b32 %0, %0, t;}"
        : "=r"(d) : "r"(x), "r"(y));
    o[9] = d;
    asm("{.reg .pred p, q, r; .reg .b32 t; setp.ne.u32 r, %3, 0; setp.gtu.xor.bf16x2 p|q, %1, %2, r; selp.u32 %0, 1, 0, p; selp.u32 t, 2, 0, q; or.b32 %0, %0, t;}"
        : "=r"(d) : "r"(x), "r"(y), "r"(c));
    o[10] = d;
    asm("set.hi.u32.u64 %0, %1, %2;" : "=r"(d) : "l"((unsigned long long)x << 20), "l"((unsigned long long)y << 20));
    o[11] = d;
}

// One thread walks an mbarrier through its phases and records what it can observe (never
// the opaque state itself). K = 32 words, in order.
extern "C" __global__ void mbarrier_walk(unsigned* out) {
    __shared__ unsigned long long bar;
    unsigned a = (unsigned)__cvta_generic_to_shared(&bar);
    unsigned long long s0, s1;
    unsigned w = 0, k = 0, r;
    if (gid() != 0) return;
#define TEST(state) asm volatile("{.reg .pred p; mbarrier.test_wait.shared.b64 p, [%1], %2; selp.u32 %0, 1, 0, p;}" : "=r"(r) : "r"(a), "l"(state) : "memory"); out[k++] = r
#define PARITY(par) asm volatile("{.reg .pred p; mbarrier.test_wait.parity.shared.b64 p, [%1], %2; selp.u32 %0, 1, 0, p;}" : "=r"(r) : "r"(a), "r"(par) : "memory"); out[k++] = r
#define TRY_PARITY(par) asm volatile("{.reg .pred p; mbarrier.try_wait.parity.shared.b64 p, [%1], %2, %3; selp.u32 %0, 1, 0, p;}" : "=r"(r) : "r"(a), "r"(par), "r"(1000u) : "memory"); out[k++] = r
#define PENDING(state) asm volatile("mbarrier.pending_count.b64 %0, %1;" : "=r"(r) : "l"(state)); out[k++] = r
    asm volatile("mbarrier.init.shared.b64 [%0], %1;" :: "r"(a), "r"(3u) : "memory");
    asm volatile("mbarrier.arrive.noComplete.shared.b64 %0, [%1], %2;" : "=l"(s0) : "r"(a), "r"(1u) : "memory");
    PENDING(s0);          // 0: 3 (pending as the arrive found it)
    TEST(s0);             // 1: phase 0 not complete
    PARITY(0u);           // 2
    PARITY(1u);           // 3: parity 1 names the phase before 0: complete
    asm volatile("mbarrier.arrive.shared.b64 %0, [%1], %2;" : "=l"(s1) : "r"(a), "r"(2u) : "memory");
    TEST(s0);             // 4: phase 0 complete
    TEST(s1);             // 5
    PARITY(0u);           // 6
    PARITY(1u);           // 7: phase 1 running
    // Phase 1 with a transaction count: three arrivals, 16 bytes expected.
    asm volatile("mbarrier.expect_tx.relaxed.cta.shared::cta.b64 [%0], %1;" :: "r"(a), "r"(16u) : "memory");
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 %0, [%1], %2;" : "=l"(s0) : "r"(a), "r"(8u) : "memory");
    asm volatile("mbarrier.arrive.shared::cta.b64 %0, [%1];" : "=l"(s0) : "r"(a) : "memory");
    asm volatile("mbarrier.arrive.noComplete.shared::cta.b64 %0, [%1], %2;" : "=l"(s0) : "r"(a), "r"(1u) : "memory");
    PENDING(s0);          // 8: 1 (as found; tx outstanding)
    TEST(s0);             // 9: not complete
    TRY_PARITY(1u);       // 10
    asm volatile("mbarrier.complete_tx.shared::cta.b64 [%0], %1;" :: "r"(a), "r"(20u) : "memory");
    TEST(s0);             // 11: still 4 bytes
    asm volatile("mbarrier.complete_tx.shared::cta.b64 [%0], %1;" :: "r"(a), "r"(4u) : "memory");
    TEST(s0);             // 12: complete
    PARITY(1u);           // 13
    PARITY(0u);           // 14: phase 2 running
    // Phase 2: one thread drops out (expected 3 -> 2 for the phases after).
    asm volatile("mbarrier.arrive_drop.shared.b64 %0, [%1];" : "=l"(s0) : "r"(a) : "memory");
    asm volatile("mbarrier.arrive.shared.b64 %0, [%1], %2;" : "=l"(s1) : "r"(a), "r"(1u) : "memory");
    TEST(s0);             // 15: 1 of 3 pending still
    asm volatile("mbarrier.arrive.shared.b64 %0, [%1];" : "=l"(s1) : "r"(a) : "memory");
    TEST(s0);             // 16: complete
    // Phase 3 expects 2.
    asm volatile("mbarrier.arrive.noComplete.shared.b64 %0, [%1], %2;" : "=l"(s0) : "r"(a), "r"(1u) : "memory");
    PENDING(s0);          // 17: 2 (as found)
    PARITY(1u);           // 18: phase 3 (parity 1) not complete
    asm volatile("mbarrier.arrive_drop.shared.b64 %0, [%1];" : "=l"(s1) : "r"(a) : "memory");
    PARITY(1u);           // 19: complete (the drop was its last arrival)
    // Phase 4 expects 1.
    asm volatile("mbarrier.arrive.shared.b64 %0, [%1];" : "=l"(s1) : "r"(a) : "memory");
    PARITY(0u);           // 20: complete at once
    PARITY(1u);           // 21: phase 5 running
    asm volatile("mbarrier.inval.shared.b64 [%0];" :: "r"(a) : "memory");
    out[k++] = 0xdeadbeef; // 22
    while (k < 32) out[k++] = w;
}

// __activemask() in a branch a third of the lanes take, then a shuffle over that mask. K = 2.
extern "C" __global__ void activemask_branch(unsigned* out) {
    unsigned i = gid();
    out[i * 2] = 0;
    out[i * 2 + 1] = 0;
    if (i % 3 == 0) {
        unsigned m = __activemask();
        out[i * 2] = m;
        out[i * 2 + 1] = __shfl_sync(m, i * 10, __ffs(m) - 1);
    }
}
