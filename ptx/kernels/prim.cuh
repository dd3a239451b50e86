// Shared by the primitive kernel families (copy, elementwise, reduce, index): offsets of
// strided operands, the compute type of each storage type (f32 for f32/bf16/f16, f64 for
// f64: `FloatElem::C` in tensor/src/dtype.rs), loads and stores through it, and the float
// semantics of the CPU reference (`Real::max`/`min` propagate NaN).
#pragma once
#include "common.cuh"

typedef unsigned char u8;
typedef long long i64;
typedef __nv_bfloat16 bf16;
typedef __half f16;

// ---- Strided operands ----------------------------------------------------------------

// True when the view is one dense run (`offset + i`): the host coalesced it to rank <= 1
// with unit stride.
__device__ __forceinline__ bool dense(const Strided& s) {
    return s.rank == 0 || (s.rank == 1 && s.strides[0] == 1);
}

// Storage indices of element i (row-major over the shared dims, i < numel) of two or three
// operands the host described over one shape (`ops::strided_many`): one decomposition of
// i serves them all, and the outermost coordinate needs no division. The dim loops are not
// unrolled: coalesced views rarely have more than two or three dims, and an unrolled loop
// per op and dtype would make the modules several times larger.
__device__ __forceinline__ void strided_at2(const Strided& a, const Strided& b, i64 i, i64& oa, i64& ob) {
    oa = a.offset;
    ob = b.offset;
#pragma unroll 1
    for (int d = a.rank - 1; d >= 1; --d) {
        {
            i64 n = a.dims[d];
            i64 q = i / n;
            i64 c = i - q * n;
            oa += c * a.strides[d];
            ob += c * b.strides[d];
            i = q;
        }
    }
    if (a.rank > 0) {
        oa += i * a.strides[0];
        ob += i * b.strides[0];
    }
}

__device__ __forceinline__ void strided_at3(const Strided& a, const Strided& b, const Strided& c, i64 i, i64& oa, i64& ob, i64& oc) {
    oa = a.offset;
    ob = b.offset;
    oc = c.offset;
#pragma unroll 1
    for (int d = a.rank - 1; d >= 1; --d) {
        {
            i64 n = a.dims[d];
            i64 q = i / n;
            i64 k = i - q * n;
            oa += k * a.strides[d];
            ob += k * b.strides[d];
            oc += k * c.strides[d];
            i = q;
        }
    }
    if (a.rank > 0) {
        oa += i * a.strides[0];
        ob += i * b.strides[0];
        oc += i * c.strides[0];
    }
}

// One operand: as strided_at (common.cuh), unrolled.
__device__ __forceinline__ i64 strided_at1(const Strided& a, i64 i) {
    i64 o = a.offset;
#pragma unroll 1
    for (int d = a.rank - 1; d >= 1; --d) {
        {
            i64 n = a.dims[d];
            i64 q = i / n;
            o += (i - q * n) * a.strides[d];
            i = q;
        }
    }
    if (a.rank > 0) o += i * a.strides[0];
    return o;
}

// ---- Compute types -------------------------------------------------------------------

// Compute<T>::C: the type float kernels compute in for storage type T.
template <typename T> struct Compute;
template <> struct Compute<float> { typedef float C; };
template <> struct Compute<double> { typedef double C; };
template <> struct Compute<bf16> { typedef float C; };
template <> struct Compute<f16> { typedef float C; };

__device__ __forceinline__ float load_c(float x) { return x; }
__device__ __forceinline__ double load_c(double x) { return x; }
__device__ __forceinline__ float load_c(bf16 x) { return __bfloat162float(x); }
__device__ __forceinline__ float load_c(f16 x) { return __half2float(x); }

// The compute value rounded (nearest, ties to even) to storage type T.
template <typename T> __device__ __forceinline__ T store_c(typename Compute<T>::C x);
template <> __device__ __forceinline__ float store_c<float>(float x) { return x; }
template <> __device__ __forceinline__ double store_c<double>(double x) { return x; }
template <> __device__ __forceinline__ bf16 store_c<bf16>(float x) { return __float2bfloat16_rn(x); }
template <> __device__ __forceinline__ f16 store_c<f16>(float x) { return __float2half_rn(x); }

// ---- Float semantics of the CPU reference -------------------------------------------

__device__ __forceinline__ float nan_of(float) { return __int_as_float(0x7fc00000); }
__device__ __forceinline__ double nan_of(double) { return __longlong_as_double(0x7ff8000000000000ll); }
__device__ __forceinline__ float inf_of(float) { return __int_as_float(0x7f800000); }
__device__ __forceinline__ double inf_of(double) { return __longlong_as_double(0x7ff0000000000000ll); }

// `Real::max` (tensor/src/dtype.rs): NaN if either is NaN, else `a >= b ? a : b`.
template <typename C> __device__ __forceinline__ C rmax(C a, C b) {
    return (a != a || b != b) ? nan_of(a) : (a >= b ? a : b);
}
// `Real::min`: NaN if either is NaN, else `a <= b ? a : b`.
template <typename C> __device__ __forceinline__ C rmin(C a, C b) {
    return (a != a || b != b) ? nan_of(a) : (a <= b ? a : b);
}

__device__ __forceinline__ float c_tanh(float x) { return tanhf(x); }
__device__ __forceinline__ double c_tanh(double x) { return tanh(x); }
__device__ __forceinline__ float c_pow(float x, float y) { return powf(x, y); }
__device__ __forceinline__ double c_pow(double x, double y);  // below: CUDA's f64 pow is a call
__device__ __forceinline__ float c_abs(float x) { return fabsf(x); }
__device__ __forceinline__ double c_abs(double x) { return fabs(x); }
__device__ __forceinline__ bool c_isfinite(float x) { return isfinite(x); }
__device__ __forceinline__ bool c_isfinite(double x) { return isfinite(x); }
// `a * b` rounded on its own (never contracted into an fma with a following add: the CPU
// rounds the product first).
__device__ __forceinline__ float c_mul(float a, float b) { return __fmul_rn(a, b); }
__device__ __forceinline__ double c_mul(double a, double b) { return __dmul_rn(a, b); }

// FOR_EACH (common.cuh) not unrolled: the primitive kernels are bandwidth-bound, and
// unrolling every op's loop four times would quadruple the PTX for no measurable gain.
#define FOR_EACH1(i, n) _Pragma("unroll 1") FOR_EACH(i, n)

// ---- f64 pow without a call -----------------------------------------------------------
//
// CUDA's f64 pow() keeps its core in a non-inlined function (a PTX `call`, which the
// interpreter does not run), so f64 pow is written here: IEEE/C99 pow's special cases, then
// for x > 0 exp(y * log(x)) with log(x) and the product in double-double (about 2^-58
// relative), so the result is within about 2 ulp (exp's error and the last rounding).

// s + err == a + b exactly (Knuth's two-sum).
__device__ __forceinline__ void two_sum(double a, double b, double& s, double& err) {
    s = a + b;
    double bb = s - a;
    err = (a - (s - bb)) + (b - bb);
}

// log(x) for finite x > 0 as hi + lo: x = 2^e * m, m in (sqrt(1/2), sqrt(2)], f = (m-1)/(m+1),
// log(m) = 2 atanh(f) = 2 (f + f^3/3 + f^5/5 + ...), |f| < 0.172.
__device__ __forceinline__ void log_dd(double x, double& hi, double& lo) {
    long long bits = __double_as_longlong(x);
    int e = 0;
    if ((bits >> 52) == 0) {  // subnormal: scale into the normal range
        x *= 18014398509481984.0;  // 2^54
        bits = __double_as_longlong(x);
        e = -54;
    }
    e += (int)((bits >> 52) & 0x7ff) - 1023;
    double m = __longlong_as_double((bits & 0x000fffffffffffffll) | 0x3ff0000000000000ll);
    if (m > 1.4142135623730951) {
        m *= 0.5;
        e += 1;
    }
    // f = (m - 1) / (m + 1) in double-double (m - 1 is exact).
    double num = m - 1.0;
    double den, den_lo;
    two_sum(m, 1.0, den, den_lo);
    double f = num / den;
    double f_lo = (fma(-f, den, num) - f * den_lo) / den;
    double f2 = f * f;
    double t = f2 * (1.0 / 3 + f2 * (1.0 / 5 + f2 * (1.0 / 7 + f2 * (1.0 / 9 + f2 * (1.0 / 11 + f2 * (1.0 / 13 + f2 * (1.0 / 15 + f2 * (1.0 / 17 + f2 * (1.0 / 19 + f2 * (1.0 / 21 + f2 * (1.0 / 23 + f2 * (1.0 / 25 + f2 * (1.0 / 27)))))))))))));
    const double ln2_hi = 6.93147180559945286227e-01, ln2_lo = 2.31904681384629955842e-17;
    double de = (double)e;
    double a = de * ln2_hi;
    double a_lo = fma(de, ln2_hi, -a);
    double s, s_err;
    two_sum(a, 2.0 * f, s, s_err);
    double rest = s_err + a_lo + de * ln2_lo + 2.0 * f_lo + 2.0 * f * t;
    hi = s + rest;
    lo = rest - (hi - s);
}

__device__ __forceinline__ bool is_odd_integer(double y) {
    return fabs(y) < 9007199254740992.0 && y == trunc(y) && fmod(y, 2.0) != 0.0;
}

__device__ __forceinline__ double c_pow(double x, double y) {
    if (y == 0.0 || x == 1.0) return 1.0;
    if (x != x || y != y) return x + y;
    bool odd = is_odd_integer(y);
    double inf = inf_of(0.0);
    if (x == 0.0) {
        if (y < 0.0) return odd ? copysign(inf, x) : inf;
        return odd ? x : 0.0;
    }
    double ax = fabs(x);
    if (isinf(y)) {
        if (ax == 1.0) return 1.0;
        return (ax < 1.0) == (y > 0.0) ? 0.0 : inf;
    }
    if (isinf(x)) {
        double r = y > 0.0 ? inf : 0.0;
        return (x < 0.0 && odd) ? -r : r;
    }
    if (x < 0.0 && y != trunc(y)) return nan_of(0.0);
    double lh, ll;
    log_dd(ax, lh, ll);
    double p = y * lh;
    double p_lo = fma(y, lh, -p) + y * ll;
    double r = exp(p);
    r = isinf(r) || r == 0.0 ? r : fma(r, p_lo, r);
    return (x < 0.0 && odd) ? -r : r;
}

// Grid-stride loop over [0, n) in steps of whole blocks of `per` items: every thread of a
// block runs the same iterations (so the body may hold barriers); `base` is the first item
// of the block's group.
#define FOR_EACH_GROUP(base, n, per) for (i64 base = (i64)blockIdx.x * (per); base < (n); base += (i64)gridDim.x * (per))
