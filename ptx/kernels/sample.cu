// The next token of each row of logits [B, V], chosen on the device (nn/src/generate.rs:
// ChooseTokens, whose reference is choose()): greedy, the first index of the largest logit;
// or sampled from softmax(logits / temperature) restricted to the top-p set, with the
// row's uniform number uniform_at(seed, step, row) computed here (splitmix64, as the host's).
//
// Logits are an Operand read as rows, any float dtype, in f32 (as the CPU reads them); the
// sampling arithmetic is f64 as the CPU's is.
#include "fused.cuh"

// nn::generate::uniform_at: a counter-based splitmix64 hash of (seed, step, row), to [0, 1).
__device__ __forceinline__ double uniform_at(unsigned long long seed, unsigned long long step, unsigned long long row) {
    unsigned long long z = seed ^ (step * 0x9E3779B97F4A7C15ull) ^ (row * 0xD1B54A32D192ED03ull);
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (double)(z >> 11) / 9007199254740992.0;
}

// The CPU's greedy loop (`if v > logits[best] { best = i }` from best = 0) as a reduction:
// the first index of the largest non-NaN value, and 0 when logits[0] is NaN (nothing is
// greater than NaN). (value, index) pairs, NaN values losing to everything.
struct Best {
    float v;
    long long i;
};
__device__ __forceinline__ bool better(Best a, Best b) {
    if (a.v != a.v) return false;
    if (b.v != b.v) return true;
    return a.v > b.v || (a.v == b.v && a.i < b.i);
}
__device__ __forceinline__ long long block_argmax(const Operand& z, long long zb, long long v) {
    __shared__ float wv[32];
    __shared__ long long wi[32];
    Best b = {__int_as_float(0x7fc00000), 0x7fffffffffffffffll};
    for (long long j = threadIdx.x; j < v; j += blockDim.x) {
        Best c = {ld<float>(z, zb + j * col_stride(z.v)), j};
        if (better(c, b)) b = c;
    }
    for (int o = 16; o > 0; o >>= 1) {
        Best c = {__shfl_xor_sync(0xffffffffu, b.v, o), __shfl_xor_sync(0xffffffffu, b.i, o)};
        if (better(c, b)) b = c;
    }
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
    if (lane == 0) {
        wv[warp] = b.v;
        wi[warp] = b.i;
    }
    __syncthreads();
    if (lane < nw) b = {wv[lane], wi[lane]};
    for (int o = 16; o > 0; o >>= 1) {
        Best c = {__shfl_xor_sync(0xffffffffu, b.v, o), __shfl_xor_sync(0xffffffffu, b.i, o)};
        if (better(c, b)) b = c;
    }
    __syncthreads();
    float first = ld<float>(z, zb);
    return (first != first || b.i == 0x7fffffffffffffffll) ? 0 : b.i;
}

/// choose_greedy(z, ids, b, v): ids[i] = the first index of the largest
/// logit of row i (CPU reference: nn::generate::choose with Sampling::Greedy; NaN logits are
/// skipped, and a NaN first logit gives 0, as the CPU's comparison loop does).
/// Thread mapping: one block per row (block-stride loop over rows); threads stride over the
/// columns keeping their best (value, index), then a warp-butterfly and cross-warp argmax.
/// Parameters: z an Operand of any float dtype [b, v] as rows, read as f32; ids i64 [b] contiguous; b, v i64 (v >= 1). Limits: blockDim.x a
/// multiple of 32, <= 1024. Shared memory: 32 (value, index) pairs.
extern "C" __global__ void choose_greedy(Operand z, long long* ids, long long b, long long v) {
    for (long long i = blockIdx.x; i < b; i += gridDim.x) {
        long long id = block_argmax(z, row_at(z.v, i), v);
        if (threadIdx.x == 0) ids[i] = id;
    }
}

/// choose_sample(z, p, ids, b, v, temperature, top_p, seed, step): ids[i]
/// sampled as nn::generate::choose does with r = uniform_at(seed, step, i) (CPU reference:
/// choose with Sampling::Sample): m = max of the row (f32, NaN skipped), e_j =
/// exp((z_j - m) / temperature) and Z = sum e_j in f64; when Z is not positive and finite,
/// the greedy choice; otherwise p_j = e_j / Z, tau = the largest p such that the mass of
/// {p_j >= tau} reaches top_p (the smallest p when the whole mass falls short), kept mass
/// K = sum of p_j >= tau, and ids[i] = the first kept j (vocabulary order) whose running sum
/// of kept p exceeds r K, or the last kept j.
/// tau is found exactly by bisection over the bit patterns of the (non-negative) f64 p: the
/// mass of {p >= x} falls as x grows, and the largest x whose mass reaches top_p is a p_j.
/// Sums are block reductions (the CPU's are sequential: they may differ in the last bits,
/// which moves a choice only when r K or top_p lies within rounding of a boundary).
/// Thread mapping: one block per row (block-stride loop over rows). Threads stride over the
/// columns for the max, the sums and the bisection (at most 64 passes over the row); for the
/// inverse CDF thread k owns the contiguous columns [k c, (k+1) c), c = ceil(v / blockDim),
/// their kept masses are scanned in thread order by thread 0, and each thread walks its own
/// columns from its prefix; the first crossing over all threads is a block minimum.
/// Parameters: z an Operand of any float dtype [b, v] as rows, read as f32; p f64 [b, v] scratch (written
/// before read); ids i64 [b] contiguous; b, v i64 (v >= 1); temperature f64 (> 0, the host
/// clamps it to >= 1e-6 as choose does); top_p f64; seed, step u64.
/// Limits: blockDim.x a multiple of 32, <= 1024. Shared memory: blockDim.x + 64 f64 values.
extern "C" __global__ void choose_sample(Operand z, double* p, long long* ids, long long b,
                                         long long v, double temperature, double top_p, unsigned long long seed, unsigned long long step) {
    __shared__ double prefix[1024];
    for (long long i = blockIdx.x; i < b; i += gridDim.x) {
        long long zb = row_at(z.v, i);
        double* pr = p + i * v;
        float mf = -c_inf<float>();
        for (long long j = threadIdx.x; j < v; j += blockDim.x) mf = fmaxf(mf, ld<float>(z, zb + j * col_stride(z.v)));
        double m = (double)block_max(mf);
        double zsum = 0.0;
        for (long long j = threadIdx.x; j < v; j += blockDim.x) {
            double e = exp(((double)ld<float>(z, zb + j * col_stride(z.v)) - m) / temperature);
            pr[j] = e;
            zsum += e;
        }
        zsum = block_sum(zsum);
        if (!(zsum > 0.0 && zsum <= 1.7976931348623157e308)) {
            long long id = block_argmax(z, zb, v);
            if (threadIdx.x == 0) ids[i] = id;
            continue;
        }
        // p = e / Z, with the smallest and largest p and the total mass
        double total = 0.0, pmin = c_inf<double>(), pmax = 0.0;
        for (long long j = threadIdx.x; j < v; j += blockDim.x) {
            double q = pr[j] / zsum;
            pr[j] = q;
            total += q;
            pmin = fmin(pmin, q);
            pmax = fmax(pmax, q);
        }
        total = block_sum(total);
        pmin = block_reduce<double, min_op<double>>(pmin, c_inf<double>());
        pmax = block_max(pmax);
        // tau: the largest x with mass(p >= x) >= top_p, by bisection over bit patterns
        double tau = pmin;
        if (total >= top_p) {
            unsigned long long lo = __double_as_longlong(pmin), hi = __double_as_longlong(pmax) + 1;
            while (hi - lo > 1) {
                unsigned long long mid = lo + (hi - lo) / 2;
                double x = __longlong_as_double(mid), mass = 0.0;
                for (long long j = threadIdx.x; j < v; j += blockDim.x) mass += pr[j] >= x ? pr[j] : 0.0;
                if (block_sum(mass) >= top_p) lo = mid;
                else hi = mid;
            }
            tau = __longlong_as_double(lo);
        }
        // the inverse CDF over the kept set, in vocabulary order
        long long c = (v + blockDim.x - 1) / blockDim.x, j0 = threadIdx.x * c, j1 = min(v, j0 + c);
        double own = 0.0;
        for (long long j = j0; j < j1; ++j) own += pr[j] >= tau ? pr[j] : 0.0;
        prefix[threadIdx.x] = own;
        double kept = block_sum(own);  // its barrier also publishes prefix[]
        if (threadIdx.x == 0) {
            double run = 0.0;
            for (unsigned k = 0; k < blockDim.x; ++k) {
                double o = prefix[k];
                prefix[k] = run;
                run += o;
            }
        }
        __syncthreads();
        double target = uniform_at(seed, step, (unsigned long long)i) * kept, acc = prefix[threadIdx.x];
        long long cross = 0x7fffffffffffffffll, last = -1;
        for (long long j = j0; j < j1; ++j) {
            if (pr[j] >= tau) {
                acc += pr[j];
                last = j;
                if (target < acc) {
                    cross = j;
                    break;
                }
            }
        }
        cross = block_reduce<long long, min_op<long long>>(cross, 0x7fffffffffffffffll);
        last = block_reduce<long long, max_op<long long>>(last, -1);
        if (threadIdx.x == 0) ids[i] = cross != 0x7fffffffffffffffll ? cross : (last >= 0 ? last : 0);
        __syncthreads();  // prefix[] is reused by the next row
    }
}
