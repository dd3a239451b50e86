// Element-wise maps over strided operands (tensor/src/cpu/map.rs): unary float ops, binary
// float ops over broadcast operands (stride 0 where stretched), comparisons to u8, and
// where(cond, t, f). One entry per storage dtype; the op is a parameter whose codes are the
// enums below (mirrored by ptx/src/ops/elementwise.rs), dispatched once per launch outside
// the element loop, so each op runs its own tight loop.
#include "prim.cuh"

// ---- Unary ---------------------------------------------------------------------------

enum UnaryCode {
    U_NEG = 0, U_EXP, U_LOG, U_SQRT, U_RSQRT, U_RECIP, U_SQR, U_ABS, U_RELU, U_SILU,
    U_SIGMOID, U_LOGSIGMOID, U_SOFTPLUS, U_TANH, U_ELU, U_POWF, U_AFFINE, U_CLAMP
};

// map::sigmoid: 1 / (1 + e^-x) for x >= 0, e^x / (1 + e^x) below (never overflows).
template <typename C> __device__ __forceinline__ C sigmoid(C x) {
    if (x >= C(0)) return C(1) / (C(1) + c_exp(-x));
    C e = c_exp(x);
    return e / (C(1) + e);
}
// map::softplus: max(x, 0) + log1p(e^-|x|), stable for large |x|.
template <typename C> __device__ __forceinline__ C softplus(C x) {
    return rmax(x, C(0)) + c_log1p(c_exp(-c_abs(x)));
}

// One unary op in compute type C: the formulas of map::unary, operand for operand.
// `a`, `b`: the op's parameters (Elu alpha; Powf exponent; Affine mul, add; Clamp min, max),
// rounded to C as the CPU's `from_f64` does.
template <int OP, typename C> __device__ __forceinline__ C unary_op(C x, C a, C b) {
    switch (OP) {
        case U_NEG: return -x;
        case U_EXP: return c_exp(x);
        case U_LOG: return c_log(x);
        case U_SQRT: return c_sqrt(x);
        case U_RSQRT: return C(1) / c_sqrt(x);
        case U_RECIP: return C(1) / x;
        case U_SQR: return c_mul(x, x);
        case U_ABS: return c_abs(x);
        case U_RELU: return x > C(0) ? x : C(0);
        case U_SILU: return c_mul(x, sigmoid(x));
        case U_SIGMOID: return sigmoid(x);
        case U_LOGSIGMOID: return -softplus(-x);
        case U_SOFTPLUS: return softplus(x);
        case U_TANH: return c_tanh(x);
        case U_ELU: return x > C(0) ? x : c_mul(a, c_expm1(x));
        case U_POWF: return c_pow(x, a);
        case U_AFFINE: return c_mul(x, a) + b;
        case U_CLAMP: return x < a ? a : (x > b ? b : x);
    }
    return x;
}

template <int OP, typename T>
__device__ __forceinline__ void unary_loop(T* out, const T* x, const Strided& xs, i64 n, double pa, double pb) {
    typedef typename Compute<T>::C C;
    C a = (C)pa, b = (C)pb;
    bool dn = dense(xs);
    FOR_EACH1(i, n) {
        i64 p = dn ? xs.offset + i : strided_at1(xs, i);
        out[i] = store_c<T>(unary_op<OP, C>(load_c(x[p]), a, b));
    }
}

template <typename T>
__device__ __forceinline__ void unary_body(T* out, const T* x, const Strided& xs, i64 n, int op, double a, double b) {
    switch (op) {
#define U_CASE(K) case K: unary_loop<K, T>(out, x, xs, n, a, b); break;
        U_CASE(U_NEG) U_CASE(U_EXP) U_CASE(U_LOG) U_CASE(U_SQRT) U_CASE(U_RSQRT) U_CASE(U_RECIP)
        U_CASE(U_SQR) U_CASE(U_ABS) U_CASE(U_RELU) U_CASE(U_SILU) U_CASE(U_SIGMOID)
        U_CASE(U_LOGSIGMOID) U_CASE(U_SOFTPLUS) U_CASE(U_TANH) U_CASE(U_ELU) U_CASE(U_POWF)
        U_CASE(U_AFFINE) U_CASE(U_CLAMP)
#undef U_CASE
    }
}

#define UNARY(NAME, T)                                                                          \
    extern "C" __global__ void NAME(T* out, const T* x, Strided xs, i64 n, int op, double a, double b) { \
        unary_body<T>(out, x, xs, n, op, a, b);                                                 \
    }

/// unary_f32(out, x, xs, n, op, a, b): out[i] = f(x[xs(i)]) for i < n, out contiguous, f the
/// UnaryOp numbered `op` (UnaryCode: neg exp log sqrt rsqrt recip sqr abs relu silu sigmoid
/// logsigmoid softplus tanh elu powf affine clamp = 0..17), computed in f32 with the formulas
/// of the CPU reference map::unary (stable sigmoid/softplus; rsqrt = 1/sqrt(x); affine
/// rounds x*mul before + add); `a`, `b` the op's parameters (elu alpha; powf exponent;
/// affine mul, add; clamp min, max; else unused). Thread mapping: grid-stride loop, one
/// element per thread per pass, the op dispatched once outside the loop; dense fast path.
/// Parameters: out [n]; x buffer; xs Strided (rank <= 8); n i64; op i32; a, b f64.
UNARY(unary_f32, float)
/// unary_f64: as unary_f32, computed in f64.
UNARY(unary_f64, double)
/// unary_bf16: as unary_f32 on bf16 storage (computed in f32, result rounded to nearest even).
UNARY(unary_bf16, bf16)
/// unary_f16: as unary_f32 on f16 storage (computed in f32, result rounded to nearest even).
UNARY(unary_f16, f16)

// ---- Binary --------------------------------------------------------------------------

enum BinaryCode { B_ADD = 0, B_SUB, B_MUL, B_DIV, B_MAX, B_MIN, B_POW };

template <int OP, typename C> __device__ __forceinline__ C binary_op(C x, C y) {
    switch (OP) {
        case B_ADD: return x + y;
        case B_SUB: return x - y;
        case B_MUL: return c_mul(x, y);
        case B_DIV: return x / y;
        case B_MAX: return rmax(x, y);
        case B_MIN: return rmin(x, y);
        case B_POW: return c_pow(x, y);
    }
    return x;
}

template <int OP, typename T>
__device__ __forceinline__ void binary_loop(T* out, const T* x, const Strided& xs, const T* y, const Strided& ys, i64 n) {
    typedef typename Compute<T>::C C;
    bool dn = dense(xs) && dense(ys);
    FOR_EACH1(i, n) {
        i64 p = xs.offset + i, q = ys.offset + i;
        if (!dn) strided_at2(xs, ys, i, p, q);
        out[i] = store_c<T>(binary_op<OP, C>(load_c(x[p]), load_c(y[q])));
    }
}

template <typename T>
__device__ __forceinline__ void binary_body(T* out, const T* x, const Strided& xs, const T* y, const Strided& ys, i64 n, int op) {
    switch (op) {
#define B_CASE(K) case K: binary_loop<K, T>(out, x, xs, y, ys, n); break;
        B_CASE(B_ADD) B_CASE(B_SUB) B_CASE(B_MUL) B_CASE(B_DIV) B_CASE(B_MAX) B_CASE(B_MIN) B_CASE(B_POW)
#undef B_CASE
    }
}

#define BINARY(NAME, T)                                                                                  \
    extern "C" __global__ void NAME(T* out, const T* x, Strided xs, const T* y, Strided ys, i64 n, int op) { \
        binary_body<T>(out, x, xs, y, ys, n, op);                                                        \
    }

/// binary_f32(out, x, xs, y, ys, n, op): out[i] = x[xs(i)] (op) y[ys(i)] for i < n, out
/// contiguous, both operands already broadcast to the output shape (stride 0 where
/// stretched) and described over it together (ops::strided_many). `op` numbers the
/// BinaryOp (BinaryCode: add sub mul div max min pow = 0..6); max/min propagate NaN (the
/// CPU's Real::max/min); computed in f32 as map::binary. Thread mapping: grid-stride loop,
/// one element per thread per pass, op dispatched outside the loop; dense fast path.
/// Parameters: out [n]; x, y buffers; xs, ys Strided (rank <= 8); n i64; op i32.
BINARY(binary_f32, float)
/// binary_f64: as binary_f32, computed in f64.
BINARY(binary_f64, double)
/// binary_bf16: as binary_f32 on bf16 storage (f32 compute, result rounded to nearest even).
BINARY(binary_bf16, bf16)
/// binary_f16: as binary_f32 on f16 storage (f32 compute, result rounded to nearest even).
BINARY(binary_f16, f16)

// ---- Comparisons ---------------------------------------------------------------------

enum CmpCode { C_EQ = 0, C_NE, C_LT, C_LE, C_GT, C_GE };

__device__ __forceinline__ double cmp_value(float x) { return (double)x; }
__device__ __forceinline__ double cmp_value(double x) { return x; }
__device__ __forceinline__ double cmp_value(bf16 x) { return (double)__bfloat162float(x); }
__device__ __forceinline__ double cmp_value(f16 x) { return (double)__half2float(x); }
__device__ __forceinline__ double cmp_value(i64 x) { return (double)x; }
__device__ __forceinline__ double cmp_value(u8 x) { return (double)x; }

template <int OP> __device__ __forceinline__ bool cmp_op(double x, double y) {
    switch (OP) {
        case C_EQ: return x == y;
        case C_NE: return x != y;
        case C_LT: return x < y;
        case C_LE: return x <= y;
        case C_GT: return x > y;
        case C_GE: return x >= y;
    }
    return false;
}

template <int OP, typename T>
__device__ __forceinline__ void cmp_loop(u8* out, const T* x, const Strided& xs, const T* y, const Strided& ys, i64 n) {
    FOR_EACH1(i, n) {
        i64 p, q;
        strided_at2(xs, ys, i, p, q);
        out[i] = cmp_op<OP>(cmp_value(x[p]), cmp_value(y[q])) ? 1 : 0;
    }
}

template <typename T>
__device__ __forceinline__ void cmp_body(u8* out, const T* x, const Strided& xs, const T* y, const Strided& ys, i64 n, int op) {
    switch (op) {
#define C_CASE(K) case K: cmp_loop<K, T>(out, x, xs, y, ys, n); break;
        C_CASE(C_EQ) C_CASE(C_NE) C_CASE(C_LT) C_CASE(C_LE) C_CASE(C_GT) C_CASE(C_GE)
#undef C_CASE
    }
}

#define CMP(NAME, T)                                                                                      \
    extern "C" __global__ void NAME(u8* out, const T* x, Strided xs, const T* y, Strided ys, i64 n, int op) { \
        cmp_body<T>(out, x, xs, y, ys, n, op);                                                            \
    }

/// cmp_f32(out, x, xs, y, ys, n, op): out[i] = (x[xs(i)] (op) y[ys(i)]) ? 1 : 0 as u8, for
/// i < n, out contiguous, operands broadcast over the output shape as in binary_f32. `op`
/// numbers the CmpOp (CmpCode: eq ne lt le gt ge = 0..5); both values compared as f64, as
/// the CPU's map::cmp does (NaN compares unequal and unordered; i64 beyond 2^53 rounds as
/// there). Thread mapping: grid-stride loop, one element per thread per pass.
/// Parameters: out u8 [n]; x, y buffers of the entry's dtype; xs, ys Strided; n i64; op i32.
CMP(cmp_f32, float)
/// cmp_f64: as cmp_f32 for f64 operands.
CMP(cmp_f64, double)
/// cmp_bf16: as cmp_f32 for bf16 operands.
CMP(cmp_bf16, bf16)
/// cmp_f16: as cmp_f32 for f16 operands.
CMP(cmp_f16, f16)
/// cmp_i64: as cmp_f32 for i64 operands.
CMP(cmp_i64, i64)
/// cmp_u8: as cmp_f32 for u8 operands.
CMP(cmp_u8, u8)

// ---- where ---------------------------------------------------------------------------

// Non-zero test of a condition element (map::where_cond: `as_f64() != 0.0`: NaN is true,
// -0.0 false).
__device__ __forceinline__ bool truth(float c) { return c != 0.0f; }
__device__ __forceinline__ bool truth(double c) { return c != 0.0; }
__device__ __forceinline__ bool truth(bf16 c) { return __bfloat162float(c) != 0.0f; }
__device__ __forceinline__ bool truth(f16 c) { return __half2float(c) != 0.0f; }
__device__ __forceinline__ bool truth(i64 c) { return c != 0; }
__device__ __forceinline__ bool truth(u8 c) { return c != 0; }

template <typename K, typename T>
__device__ __forceinline__ void where_body(T* out, const K* c, const Strided& cs, const T* t, const Strided& ts, const T* f, const Strided& fs, i64 n) {
    FOR_EACH1(i, n) {
        i64 pc, pt, pf;
        strided_at3(cs, ts, fs, i, pc, pt, pf);
        out[i] = truth(c[pc]) ? t[pt] : f[pf];
    }
}

#define WHERE(NAME, K, T)                                                                                    \
    extern "C" __global__ void NAME(T* out, const K* c, Strided cs, const T* t, Strided ts, const T* f, Strided fs, i64 n) { \
        where_body<K, T>(out, c, cs, t, ts, f, fs, n);                                                       \
    }

/// where_u8_b4(out, c, cs, t, ts, f, fs, n): out[i] = c[cs(i)] != 0 ? t[ts(i)] : f[fs(i)] for
/// i < n, out contiguous; the condition's dtype is the first part of the name, the branches'
/// element size (bytes, copied as bits) the second. The three operands are broadcast over
/// the output shape and described over it together. CPU reference: map::where_cond (NaN is
/// true, -0.0 false). Thread mapping: grid-stride loop, one element per thread per pass.
/// Parameters: out [n]; c, t, f buffers; cs, ts, fs Strided (rank <= 8); n i64.
/// Every where_K_bN entry below has this doc.
WHERE(where_u8_b4, u8, unsigned int)
/// where_u8_b1: see where_u8_b4.
WHERE(where_u8_b1, u8, unsigned char)
/// where_u8_b2: see where_u8_b4.
WHERE(where_u8_b2, u8, unsigned short)
/// where_u8_b8: see where_u8_b4.
WHERE(where_u8_b8, u8, unsigned long long)
/// where_i64_b1: see where_u8_b4.
WHERE(where_i64_b1, i64, unsigned char)
/// where_i64_b2: see where_u8_b4.
WHERE(where_i64_b2, i64, unsigned short)
/// where_i64_b4: see where_u8_b4.
WHERE(where_i64_b4, i64, unsigned int)
/// where_i64_b8: see where_u8_b4.
WHERE(where_i64_b8, i64, unsigned long long)
/// where_f32_b1: see where_u8_b4.
WHERE(where_f32_b1, float, unsigned char)
/// where_f32_b2: see where_u8_b4.
WHERE(where_f32_b2, float, unsigned short)
/// where_f32_b4: see where_u8_b4.
WHERE(where_f32_b4, float, unsigned int)
/// where_f32_b8: see where_u8_b4.
WHERE(where_f32_b8, float, unsigned long long)
/// where_f64_b1: see where_u8_b4.
WHERE(where_f64_b1, double, unsigned char)
/// where_f64_b2: see where_u8_b4.
WHERE(where_f64_b2, double, unsigned short)
/// where_f64_b4: see where_u8_b4.
WHERE(where_f64_b4, double, unsigned int)
/// where_f64_b8: see where_u8_b4.
WHERE(where_f64_b8, double, unsigned long long)
/// where_bf16_b1: see where_u8_b4.
WHERE(where_bf16_b1, bf16, unsigned char)
/// where_bf16_b2: see where_u8_b4.
WHERE(where_bf16_b2, bf16, unsigned short)
/// where_bf16_b4: see where_u8_b4.
WHERE(where_bf16_b4, bf16, unsigned int)
/// where_bf16_b8: see where_u8_b4.
WHERE(where_bf16_b8, bf16, unsigned long long)
/// where_f16_b1: see where_u8_b4.
WHERE(where_f16_b1, f16, unsigned char)
/// where_f16_b2: see where_u8_b4.
WHERE(where_f16_b2, f16, unsigned short)
/// where_f16_b4: see where_u8_b4.
WHERE(where_f16_b4, f16, unsigned int)
/// where_f16_b8: see where_u8_b4.
WHERE(where_f16_b8, f16, unsigned long long)
