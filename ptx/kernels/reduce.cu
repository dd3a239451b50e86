// Reductions along one dim of a strided input (tensor/src/cpu/reduce.rs): sum, max, min,
// logsumexp, argmax, argmin; softmax and log-softmax; inclusive cumulative sums.
//
// Every kernel sees the input as rows: output element (row) o in [0, n_out) starts at
// storage index outer(o) (the input's layout with the reduced dim removed, as a Strided
// descriptor) and its k-th element is at outer(o) + k * stride, k < len.
//
// Thread mapping of reduce/argreduce/softmax: a block of 256 threads works on bx = 256 / by
// rows at a time, `by` threads per row (a power of two). With `yfast` the by threads of a
// row are consecutive (a warp reads consecutive elements of a row whose stride is 1: one
// block per row when by = 256); without, the bx rows are consecutive threads (a warp reads
// the same k of 32 neighbouring rows: coalesced when the rows are neighbours in memory, as
// for a reduction over a leading dim). Each thread folds k = ty, ty + by, ... in order, and
// the by partials are combined in a fixed tree in shared memory, so the result is the same
// on every run. The launcher picks by and yfast from the shape.
#include "prim.cuh"

#define THREADS 256

// Combines the by partials of each row through `sm` (THREADS slots) in a fixed tree; every
// thread gets its row's result. All threads of the block must call it (it holds barriers).
template <typename C, typename F>
__device__ __forceinline__ C block_combine(C v, C* sm, int tx, int ty, int bx, int by, bool yfast, F f) {
    if (by == 1) return v;
    int step = yfast ? 1 : bx;  // slots between partial ty and partial ty + 1 of one row
    int slot = yfast ? tx * by + ty : ty * bx + tx;
    sm[slot] = v;
    __syncthreads();
    for (int s = by / 2; s > 0; s >>= 1) {
        if (ty < s) sm[slot] = f(sm[slot], sm[slot + s * step]);
        __syncthreads();
    }
    C r = sm[slot - ty * step];
    __syncthreads();
    return r;
}

template <typename C> struct Add { __device__ __forceinline__ C operator()(C a, C b) const { return a + b; } };
template <typename C> struct Max { __device__ __forceinline__ C operator()(C a, C b) const { return rmax(a, b); } };
template <typename C> struct Min { __device__ __forceinline__ C operator()(C a, C b) const { return rmin(a, b); } };

// The thread's row within the block and its part of the row.
struct RowThread {
    int bx, tx, ty;
    __device__ __forceinline__ RowThread(int by, bool yfast) {
        bx = blockDim.x / by;
        int t = threadIdx.x;
        tx = yfast ? t / by : t % bx;
        ty = yfast ? t % by : t / bx;
    }
};

// ---- Sum, max, min, logsumexp --------------------------------------------------------

enum ReduceCode { R_SUM = 0, R_MAX, R_MIN, R_LSE };

template <int OP, typename T, typename O>
__device__ __forceinline__ void reduce_loop(O* out, const T* x, const Strided& outer, i64 n_parts, i64 len, i64 stride, i64 splits, i64 chunk, int by, bool yfast) {
    typedef typename Compute<T>::C C;
    __shared__ C sm[THREADS];
    RowThread r(by, yfast);
    FOR_EACH_GROUP(base, n_parts, r.bx) {
        // Part o: elements [k0, k0 + count) of row o / splits.
        i64 o = base + r.tx;
        bool active = o < n_parts;
        i64 row_index = active ? o / splits : 0;
        i64 k0 = (o - row_index * splits) * chunk;
        i64 count = active ? min(chunk, len - k0) : 0;
        const T* row = x + (active ? strided_at1(outer, row_index) + k0 * stride : 0);
        C acc;
        if (OP == R_SUM) {
            acc = C(0);
            for (i64 k = r.ty; k < count; k += by) acc += load_c(row[k * stride]);
            acc = block_combine(acc, sm, r.tx, r.ty, r.bx, by, yfast, Add<C>());
        } else if (OP == R_MAX || OP == R_LSE) {
            acc = -inf_of(C(0));
            for (i64 k = r.ty; k < count; k += by) acc = rmax(acc, load_c(row[k * stride]));
            acc = block_combine(acc, sm, r.tx, r.ty, r.bx, by, yfast, Max<C>());
            if (OP == R_LSE) {
                // log(sum exp(x - m)) + m around the row's max m; a row whose max is not finite
                // gives that max (CPU: reduce_lane / reduce_rows). Whole rows only (splits 1).
                C m = acc, s = C(0);
                bool finite = c_isfinite(m);
                if (finite)
                    for (i64 k = r.ty; k < count; k += by) s += c_exp(load_c(row[k * stride]) - m);
                s = block_combine(s, sm, r.tx, r.ty, r.bx, by, yfast, Add<C>());
                acc = finite ? c_log(s) + m : m;
            }
        } else {
            acc = inf_of(C(0));
            for (i64 k = r.ty; k < count; k += by) acc = rmin(acc, load_c(row[k * stride]));
            acc = block_combine(acc, sm, r.tx, r.ty, r.bx, by, yfast, Min<C>());
        }
        if (active && r.ty == 0) out[o] = store_c<O>(acc);
    }
}

template <typename T, typename O>
__device__ __forceinline__ void reduce_body(O* out, const T* x, const Strided& outer, i64 n_parts, i64 len, i64 stride, i64 splits, i64 chunk, int op, int by, int yfast) {
    switch (op) {
        case R_SUM: reduce_loop<R_SUM, T, O>(out, x, outer, n_parts, len, stride, splits, chunk, by, yfast != 0); break;
        case R_MAX: reduce_loop<R_MAX, T, O>(out, x, outer, n_parts, len, stride, splits, chunk, by, yfast != 0); break;
        case R_MIN: reduce_loop<R_MIN, T, O>(out, x, outer, n_parts, len, stride, splits, chunk, by, yfast != 0); break;
        case R_LSE: reduce_loop<R_LSE, T, O>(out, x, outer, n_parts, len, stride, splits, chunk, by, yfast != 0); break;
    }
}

#define REDUCE(NAME, T, O)                                                                                 \
    extern "C" __global__ __launch_bounds__(THREADS) void NAME(O* out, const T* x, Strided outer, i64 n_parts, i64 len, i64 stride, \
                                                               i64 splits, i64 chunk, int op, int by, int yfast) { \
        reduce_body<T, O>(out, x, outer, n_parts, len, stride, splits, chunk, op, by, yfast);              \
    }

/// reduce_f32(out, x, outer, n_parts, len, stride, splits, chunk, op, by, yfast): the
/// reduction of each row (x[outer(row) + k * stride], k < len), `op` (ReduceCode) 0 sum (0 for
/// an empty row), 1 max, 2 min (NaN propagates, as Real::max/min), 3 logsumexp (log(sum
/// exp(x - m)) + m around the row max m; the max itself when it is not finite), computed in
/// f32. A row may be cut into `splits` parts of `chunk` elements (the last shorter), part o
/// = row o / splits, its elements from (o % splits) * chunk: out[o] is the part's
/// reduction (n_parts = rows * splits; the launcher reduces the parts in a second launch, so
/// a few long rows still fill the GPU; logsumexp only with splits = 1). CPU reference:
/// reduce::reduce (its sums run in another order: compare with Tol::accumulated). Thread
/// mapping: the file's header (by threads per part, 256-thread blocks, fixed-order tree
/// through shared memory, parts grid-strided by whole blocks). Parameters: out [n_parts];
/// x buffer; outer Strided over the rows (rank <= 8); n_parts, len, stride, splits, chunk
/// i64; op i32; by i32 (power of two, 1..256); yfast i32 (0/1). Launch: 256 threads per
/// block (required), any grid. Shared memory: 256 values of the compute type per op, static.
REDUCE(reduce_f32, float, float)
/// reduce_f64: as reduce_f32, computed in f64.
REDUCE(reduce_f64, double, double)
/// reduce_bf16: as reduce_f32 on bf16 storage (f32 compute, result rounded to nearest even).
REDUCE(reduce_bf16, bf16, bf16)
/// reduce_f16: as reduce_f32 on f16 storage (f32 compute, result rounded to nearest even).
REDUCE(reduce_f16, f16, f16)
/// reduce_partial_bf16: as reduce_bf16 with f32 output: the parts of split rows, kept in the
/// compute type until the second launch reduces them (one rounding to bf16 at the end).
REDUCE(reduce_partial_bf16, bf16, float)
/// reduce_partial_f16: as reduce_partial_bf16 for f16 input.
REDUCE(reduce_partial_f16, f16, float)

// ---- Argmax, argmin ------------------------------------------------------------------

// A candidate: value and index, k < 0 for none. The CPU scans left to right keeping the
// first NaN if there is one, else the first extreme value; `better` gives the same answer
// for any split of the row into interleaved parts combined in any order.
template <typename C> struct Cand {
    C v;
    i64 k;
};
template <bool MAX, typename C> __device__ __forceinline__ Cand<C> better(Cand<C> a, Cand<C> b) {
    if (a.k < 0) return b;
    if (b.k < 0) return a;
    bool an = a.v != a.v, bn = b.v != b.v;
    bool take_b;
    if (an || bn) take_b = an && bn ? b.k < a.k : bn;
    else if (a.v == b.v) take_b = b.k < a.k;
    else take_b = MAX ? b.v > a.v : b.v < a.v;
    return take_b ? b : a;
}

template <bool MAX, typename T>
__device__ __forceinline__ void argreduce_loop(i64* out, const T* x, const Strided& outer, i64 n_out, i64 len, i64 stride, int by, bool yfast) {
    typedef typename Compute<T>::C C;
    __shared__ C smv[THREADS];
    __shared__ i64 smk[THREADS];
    RowThread r(by, yfast);
    int step = yfast ? 1 : r.bx;
    int slot = yfast ? r.tx * by + r.ty : r.ty * r.bx + r.tx;
    FOR_EACH_GROUP(base, n_out, r.bx) {
        i64 o = base + r.tx;
        bool active = o < n_out;
        const T* row = x + (active ? strided_at1(outer, o) : 0);
        Cand<C> best = {C(0), -1};
        if (active)
            for (i64 k = r.ty; k < len; k += by) best = better<MAX>(best, Cand<C>{load_c(row[k * stride]), k});
        if (by > 1) {
            smv[slot] = best.v;
            smk[slot] = best.k;
            __syncthreads();
            for (int s = by / 2; s > 0; s >>= 1) {
                if (r.ty < s) {
                    Cand<C> b = {smv[slot + s * step], smk[slot + s * step]};
                    best = better<MAX>(best, b);
                    smv[slot] = best.v;
                    smk[slot] = best.k;
                }
                __syncthreads();
            }
        }
        if (active && r.ty == 0) out[o] = best.k < 0 ? 0 : best.k;
    }
}

#define ARGREDUCE(NAME, T)                                                                                 \
    extern "C" __global__ __launch_bounds__(THREADS) void NAME(i64* out, const T* x, Strided outer, i64 n_out, i64 len, i64 stride, int op, int by, int yfast) { \
        if (op == 0) argreduce_loop<true, T>(out, x, outer, n_out, len, stride, by, yfast != 0);          \
        else argreduce_loop<false, T>(out, x, outer, n_out, len, stride, by, yfast != 0);                 \
    }

/// argreduce_f32(out, x, outer, n_out, len, stride, op, by, yfast): out[o] (i64) = the index
/// k of the first largest (op 0, argmax) or smallest (op 1, argmin) element of row o, or of
/// its first NaN when it has one (CPU reference: reduce::reduce ArgMax/ArgMin; exact); 0
/// for an empty row. Rows, thread mapping, launch and limits as reduce_f32; shared memory:
/// 256 values and 256 i64 indices, static.
ARGREDUCE(argreduce_f32, float)
/// argreduce_f64: as argreduce_f32 for f64 input.
ARGREDUCE(argreduce_f64, double)
/// argreduce_bf16: as argreduce_f32 for bf16 input.
ARGREDUCE(argreduce_bf16, bf16)
/// argreduce_f16: as argreduce_f32 for f16 input.
ARGREDUCE(argreduce_f16, f16)

// ---- Softmax, log-softmax ------------------------------------------------------------

template <bool LOG, typename T>
__device__ __forceinline__ void softmax_loop(T* out, const T* x, const Strided& outer, i64 n_out, i64 len, i64 stride, i64 post, int by, bool yfast) {
    typedef typename Compute<T>::C C;
    __shared__ C sm[THREADS];
    RowThread r(by, yfast);
    FOR_EACH_GROUP(base, n_out, r.bx) {
        i64 o = base + r.tx;
        bool active = o < n_out;
        const T* row = x + (active ? strided_at1(outer, o) : 0);
        C m = -inf_of(C(0));
        if (active)
            for (i64 k = r.ty; k < len; k += by) m = rmax(m, load_c(row[k * stride]));
        m = block_combine(m, sm, r.tx, r.ty, r.bx, by, yfast, Max<C>());
        if (!c_isfinite(m)) m = C(0);
        C s = C(0);
        if (active)
            for (i64 k = r.ty; k < len; k += by) s += c_exp(load_c(row[k * stride]) - m);
        s = block_combine(s, sm, r.tx, r.ty, r.bx, by, yfast, Add<C>());
        if (active) {
            // Output row o: [pre, len, post] contiguous, o = pre_index * post + post_index.
            T* dst = out + (o / post) * len * post + (o % post);
            C ls = c_log(s), rs = C(1) / s;
            for (i64 k = r.ty; k < len; k += by) {
                C z = load_c(row[k * stride]) - m;
                // The CPU multiplies by 1/s along a contiguous dim (post == 1), divides by s
                // otherwise (reduce::softmax); so does this.
                C y = LOG ? z - ls : (post == 1 ? c_mul(c_exp(z), rs) : c_exp(z) / s);
                dst[k * post] = store_c<T>(y);
            }
        }
    }
}

#define SOFTMAX(NAME, T)                                                                                   \
    extern "C" __global__ __launch_bounds__(THREADS) void NAME(T* out, const T* x, Strided outer, i64 n_out, i64 len, i64 stride, i64 post, int log, int by, int yfast) { \
        if (log) softmax_loop<true, T>(out, x, outer, n_out, len, stride, post, by, yfast != 0);          \
        else softmax_loop<false, T>(out, x, outer, n_out, len, stride, post, by, yfast != 0);             \
    }

/// softmax_f32(out, x, outer, n_out, len, stride, post, log, by, yfast): along the reduced
/// dim of each row o, y_k = exp(x_k - m) / sum_j exp(x_j - m) (log: x_k - m - log(sum ...)),
/// m the row max (0 when not finite), in f32; CPU reference reduce::softmax (sums in another
/// order: Tol::accumulated). Rows as reduce_f32; the output is the input's shape,
/// contiguous, [pre, len, post] with row o = pre_index * post + post_index, element k at
/// (o / post) * len * post + o % post + k * post. Thread mapping, launch and shared memory
/// as reduce_f32 (three passes over the row: max, sum, write). post i64 (>= 1); log i32.
SOFTMAX(softmax_f32, float)
/// softmax_f64: as softmax_f32, computed in f64.
SOFTMAX(softmax_f64, double)
/// softmax_bf16: as softmax_f32 on bf16 storage (f32 compute, result rounded to nearest even).
SOFTMAX(softmax_bf16, bf16)
/// softmax_f16: as softmax_f32 on f16 storage (f32 compute, result rounded to nearest even).
SOFTMAX(softmax_f16, f16)

// ---- Cumulative sum ------------------------------------------------------------------

template <typename T>
__device__ __forceinline__ void cumsum_body(T* out, const T* x, const Strided& outer, i64 n_out, i64 len, i64 stride, i64 post, int reverse) {
    typedef typename Compute<T>::C C;
    FOR_EACH1(o, n_out) {
        const T* row = x + strided_at1(outer, o);
        T* dst = out + (o / post) * len * post + (o % post);
        C acc = C(0);
        for (i64 j = 0; j < len; ++j) {
            i64 k = reverse ? len - 1 - j : j;
            acc += load_c(row[k * stride]);
            dst[k * post] = store_c<T>(acc);
        }
    }
}

#define CUMSUM(NAME, T)                                                                                     \
    extern "C" __global__ void NAME(T* out, const T* x, Strided outer, i64 n_out, i64 len, i64 stride, i64 post, int reverse) { \
        cumsum_body<T>(out, x, outer, n_out, len, stride, post, reverse);                                  \
    }

/// cumsum_f32(out, x, outer, n_out, len, stride, post, reverse): inclusive running sums
/// along the dim of each row o (from the end when `reverse`), in f32, in the CPU's order
/// (reduce::cumsum: one running sum, so the results match it exactly). Rows and the output
/// layout as softmax_f32. Thread mapping: one thread per row, grid-stride over rows (rows
/// that are neighbours in memory are neighbouring threads when the dim is not the last).
/// Parameters: out; x; outer Strided; n_out, len, stride, post i64; reverse i32.
CUMSUM(cumsum_f32, float)
/// cumsum_f64: as cumsum_f32, computed in f64.
CUMSUM(cumsum_f64, double)
/// cumsum_bf16: as cumsum_f32 on bf16 storage (f32 running sum, each output rounded).
CUMSUM(cumsum_bf16, bf16)
/// cumsum_f16: as cumsum_f32 on f16 storage (f32 running sum, each output rounded).
CUMSUM(cumsum_f16, f16)
