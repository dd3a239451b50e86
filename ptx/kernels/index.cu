// Indexing (tensor/src/cpu/index.rs): index_select (embedding lookup), gather, and their
// adjoints scatter_add and index_add, deterministic: no float atomics; every output element
// is summed by one thread, in the CPU's order, so results repeat bit for bit and match the
// CPU exactly. Indices are i64. The CPU rejects an index out of range with an error; a
// kernel cannot, so here an out-of-range index reads as NaN (0 for integer data) in
// index_select and gather, and adds nothing in scatter_add and index_add. Nothing is ever
// read or written out of bounds.
#include "prim.cuh"

// ---- index_select --------------------------------------------------------------------

template <typename T>
__device__ __forceinline__ void index_select_body(T* out, const T* x, const Strided& xo, i64 xstride, i64 len, const i64* ids, const Strided& is, i64 n, i64 post, i64 total, T bad) {
    bool dn = dense(xo);
    FOR_EACH1(i, total) {
        i64 t = i / post, q = i - t * post;
        i64 p = t / n, j = t - p * n;
        i64 id = ids[strided_at1(is, j)];
        if (id >= 0 && id < len) {
            i64 pq = p * post + q;
            out[i] = x[(dn ? xo.offset + pq : strided_at1(xo, pq)) + id * xstride];
        } else {
            out[i] = bad;
        }
    }
}

#define INDEX_SELECT(NAME, T)                                                                                   \
    extern "C" __global__ void NAME(T* out, const T* x, Strided xo, i64 xstride, i64 len, const i64* ids, Strided is, \
                                    i64 n, i64 post, i64 total, unsigned long long bad) {                       \
        index_select_body<T>(out, x, xo, xstride, len, ids, is, n, post, total, (T)bad);                       \
    }

/// index_select_b4(out, x, xo, xstride, len, ids, is, n, post, total, bad): out[p, j, q] =
/// x[p, ids[j], q] along the selected dim, for 4-byte elements (the _b1/_b2/_b8 entries are
/// the same for 1-, 2- and 8-byte elements); out contiguous [pre, n, post], total = pre * n
/// * post. x is seen as rows: xo describes x without the selected dim (over pre * post,
/// element p * post + q) and xstride is the dim's stride, len its size. ids: i64 [n] through
/// `is`. An id outside [0, len) gives `bad` (the dtype's NaN bits, 0 for integers; the CPU
/// returns an error). CPU reference: index::index_select (exact). Thread mapping: grid-stride
/// loop, one output element per thread per pass (neighbouring threads read neighbouring q).
/// Parameters: out; x; xo Strided; xstride, len i64; ids; is Strided; n, post, total i64;
/// bad u64 (its low bytes are the element).
INDEX_SELECT(index_select_b4, unsigned int)
/// index_select_b1: see index_select_b4.
INDEX_SELECT(index_select_b1, unsigned char)
/// index_select_b2: see index_select_b4.
INDEX_SELECT(index_select_b2, unsigned short)
/// index_select_b8: see index_select_b4.
INDEX_SELECT(index_select_b8, unsigned long long)

// ---- gather --------------------------------------------------------------------------

template <typename T>
__device__ __forceinline__ void gather_body(T* out, const T* x, const Strided& xs, const i64* idx, const Strided& is, i64 xstride, i64 len, i64 n, T bad) {
    FOR_EACH1(i, n) {
        i64 px, pi;
        strided_at2(xs, is, i, px, pi);
        i64 id = idx[pi];
        out[i] = (id >= 0 && id < len) ? x[px + id * xstride] : bad;
    }
}

#define GATHER(NAME, T)                                                                                              \
    extern "C" __global__ void NAME(T* out, const T* x, Strided xs, const i64* idx, Strided is, i64 xstride, i64 len, i64 n, \
                                    unsigned long long bad) {                                                        \
        gather_body<T>(out, x, xs, idx, is, xstride, len, n, (T)bad);                                                \
    }

/// gather_b4(out, x, xs, idx, is, xstride, len, n, bad): torch.gather along dim d for 4-byte
/// elements (_b1/_b2/_b8 likewise): out[pos] = x[pos with coordinate d replaced by
/// idx[pos]], out contiguous in the index's shape (n elements). xs describes x over the
/// index's shape with stride 0 at d, so xs(i) + idx[is(i)] * xstride is the source; both
/// are coalesced together over that shape. An index outside [0, len) (len = x's size at d)
/// gives `bad` (NaN bits for floats, 0 for integers; the CPU returns an error). CPU
/// reference: index::gather (exact). Thread mapping: grid-stride loop, one output element
/// per thread per pass. Parameters: out; x; xs Strided; idx i64; is Strided; xstride, len,
/// n i64; bad u64.
GATHER(gather_b4, unsigned int)
/// gather_b1: see gather_b4.
GATHER(gather_b1, unsigned char)
/// gather_b2: see gather_b4.
GATHER(gather_b2, unsigned short)
/// gather_b8: see gather_b4.
GATHER(gather_b8, unsigned long long)

// ---- scatter_add ---------------------------------------------------------------------

template <typename T>
__device__ __forceinline__ void scatter_add_body(T* out, const T* dst, const Strided& ds, const i64* idx, const Strided& is, const T* src, const Strided& ss, int dim, i64 n) {
    typedef typename Compute<T>::C C;
    FOR_EACH1(o, n) {
        // The coordinates of o over dst's dims, and the index/src positions sharing them
        // (all but `dim`), if the index's shape reaches them.
        i64 rest = o, pd = ds.offset, pi = is.offset, ps = ss.offset, target = 0;
        bool inside = true;
        for (int d = ds.rank - 1; d >= 0; --d) {
            i64 q = rest / ds.dims[d], c = rest - q * ds.dims[d];
            rest = q;
            pd += c * ds.strides[d];
            if (d == dim) {
                target = c;
            } else {
                inside = inside && c < is.dims[d];
                pi += c * is.strides[d];
                ps += c * ss.strides[d];
            }
        }
        C acc = load_c(dst[pd]);
        if (inside) {
            // The CPU adds sources in row-major order of the index: increasing k here.
            for (i64 k = 0; k < is.dims[dim]; ++k) {
                if (idx[pi + k * is.strides[dim]] == target) acc += load_c(src[ps + k * ss.strides[dim]]);
            }
        }
        out[o] = store_c<T>(acc);
    }
}

#define SCATTER_ADD(NAME, T)                                                                                                   \
    extern "C" __global__ void NAME(T* out, const T* dst, Strided ds, const i64* idx, Strided is, const T* src, Strided ss, int dim, i64 n) { \
        scatter_add_body<T>(out, dst, ds, idx, is, src, ss, dim, n);                                                           \
    }

/// scatter_add_f32(out, dst, ds, idx, is, src, ss, dim, n): torch.scatter_add: out = dst
/// with src[pos] added at (pos with coordinate `dim` replaced by idx[pos]) for every
/// position pos of the index, out contiguous in dst's shape (n elements). ds, is and ss
/// are the views of dst, index and src with every dim kept (not coalesced: rank <= 8,
/// dims[dim] of is the index's size there); the index and src share the index's shape.
/// Thread mapping: one thread per output element, grid-stride; it walks the index's
/// positions that share its coordinates (idims[dim] of them) and adds the matching sources
/// in increasing order, in f32 from the dst value, as the CPU (index::scatter_add) does:
/// exact, deterministic, O(n * idims[dim]). Out-of-range indices add nothing.
/// Parameters: out; dst; ds Strided; idx i64; is Strided; src; ss Strided; dim i32; n i64.
SCATTER_ADD(scatter_add_f32, float)
/// scatter_add_f64: as scatter_add_f32, accumulated in f64.
SCATTER_ADD(scatter_add_f64, double)
/// scatter_add_bf16: as scatter_add_f32 on bf16 (f32 accumulation, rounded once at the end).
SCATTER_ADD(scatter_add_bf16, bf16)
/// scatter_add_f16: as scatter_add_f32 on f16 (f32 accumulation, rounded once at the end).
SCATTER_ADD(scatter_add_f16, f16)

// ---- index_add: sort the ids, then one thread per output element ---------------------
//
// index_add adds slice j of src to slice ids[j] of dst. To visit, for slice r, exactly the
// j with ids[j] == r in increasing order (the CPU's order), the keys ids[j] * n + j are
// sorted (bitonic: the keys are distinct, so any sort gives the same order), each r's run
// is found by binary search, and one thread per output element adds its run.

/// index_keys(keys, ids, is, n, len, P): keys[j] = ids[j] * n + j for j < n (an id outside
/// [0, len) is replaced by len, sorting after every valid one), and the largest i64 for
/// n <= j < P (padding to the sort's power of two). Grid-stride, one key per thread.
/// Parameters: keys i64 [P]; ids i64 through `is` (Strided, [n]); n, len, P i64.
extern "C" __global__ void index_keys(i64* keys, const i64* ids, Strided is, i64 n, i64 len, i64 P) {
    FOR_EACH1(j, P) {
        i64 key = 0x7fffffffffffffffll;
        if (j < n) {
            i64 id = ids[strided_at1(is, j)];
            key = ((id >= 0 && id < len) ? id : len) * n + j;
        }
        keys[j] = key;
    }
}

#define SORT_TILE 2048

/// sort_keys_local(keys, P, k): bitonic sort steps inside tiles of T = min(P, 2048) keys in
/// shared memory. k == 0: sorts each tile (stages 2..T), tile b ascending when b * T & T
/// is 0, descending otherwise, as the global network needs; k > T: the steps j = T/2 .. 1
/// of stage k. The direction of the pair (l, l + j) is ascending iff (global l) & stage is
/// 0. Thread mapping: T/2 threads per block (one pair each per step), P / T blocks.
/// Parameters: keys i64 [P], P a power of two >= 2; k i64. Shared memory: 2048 i64, static.
extern "C" __global__ __launch_bounds__(SORT_TILE / 2) void sort_keys_local(i64* keys, i64 P, i64 k) {
    __shared__ i64 tile[SORT_TILE];
    i64 T = P < SORT_TILE ? P : SORT_TILE;
    i64 base = (i64)blockIdx.x * T;
    i64 t = threadIdx.x;
    tile[t] = keys[base + t];
    tile[t + T / 2] = keys[base + t + T / 2];
    __syncthreads();
    i64 first = k == 0 ? 2 : k, last = k == 0 ? T : k;
    for (i64 stage = first; stage <= last; stage <<= 1) {
        for (i64 j = (stage < T ? stage : T) / 2; j > 0; j >>= 1) {
            i64 l = (t / j) * 2 * j + t % j, h = l + j;
            bool asc = ((base + l) & stage) == 0;
            i64 a = tile[l], b = tile[h];
            if ((a > b) == asc) {
                tile[l] = b;
                tile[h] = a;
            }
            __syncthreads();
        }
    }
    keys[base + t] = tile[t];
    keys[base + t + T / 2] = tile[t + T / 2];
}

/// sort_keys_global(keys, P, k, j): one bitonic step (stage k, distance j >= 2048) over the
/// whole array: the pair (l, l + j), l = (t / j) * 2j + t % j, is put in ascending order iff
/// l & k is 0. Thread mapping: grid-stride over the P/2 pairs, one pair per thread.
/// Parameters: keys i64 [P]; P, k, j i64 (powers of two).
extern "C" __global__ void sort_keys_global(i64* keys, i64 P, i64 k, i64 j) {
    FOR_EACH1(t, P / 2) {
        i64 l = (t / j) * 2 * j + t % j, h = l + j;
        bool asc = (l & k) == 0;
        i64 a = keys[l], b = keys[h];
        if ((a > b) == asc) {
            keys[l] = b;
            keys[h] = a;
        }
    }
}

/// index_starts(starts, keys, n, len): starts[r] = the first position of the sorted keys
/// [n] whose key is >= r * n, for r <= len, so slice r's ids are keys[starts[r] ..
/// starts[r + 1]]. Grid-stride, one binary search per thread. Parameters: starts i64
/// [len + 1]; keys i64 (sorted, at least n); n, len i64.
extern "C" __global__ void index_starts(i64* starts, const i64* keys, i64 n, i64 len) {
    FOR_EACH1(r, len + 1) {
        i64 want = r * n, lo = 0, hi = n;
        while (lo < hi) {
            i64 mid = (lo + hi) / 2;
            if (keys[mid] < want) lo = mid + 1;
            else hi = mid;
        }
        starts[r] = lo;
    }
}

template <typename T>
__device__ __forceinline__ void index_add_body(T* out, const T* dst, const Strided& ds, const T* src, const Strided& so, i64 sstride, const i64* keys, const i64* starts, i64 len, i64 n, i64 post, i64 total) {
    typedef typename Compute<T>::C C;
    FOR_EACH1(i, total) {
        i64 t = i / post, q = i - t * post;
        i64 p = t / len, r = t - p * len;
        C acc = load_c(dst[strided_at1(ds, i)]);
        const T* s = src + strided_at1(so, p * post + q);
        for (i64 e = starts[r], end = starts[r + 1]; e < end; ++e) acc += load_c(s[(keys[e] - r * n) * sstride]);
        out[i] = store_c<T>(acc);
    }
}

#define INDEX_ADD(NAME, T)                                                                                                  \
    extern "C" __global__ void NAME(T* out, const T* dst, Strided ds, const T* src, Strided so, i64 sstride, const i64* keys, \
                                    const i64* starts, i64 len, i64 n, i64 post, i64 total) {                               \
        index_add_body<T>(out, dst, ds, src, so, sstride, keys, starts, len, n, post, total);                               \
    }

/// index_add_f32(out, dst, ds, src, so, sstride, keys, starts, len, n, post, total):
/// torch.index_add: out[p, r, q] = dst[p, r, q] + sum over j with ids[j] == r, in increasing
/// j, of src[p, j, q], in f32 (CPU reference index::index_add: the same order, so exact).
/// out contiguous [pre, len, post] (total elements); ds describes dst in its own shape; src
/// is seen as rows: so over pre * post without the dim, sstride the dim's stride. keys and
/// starts come from index_keys, the sort and index_starts. Thread mapping: one thread per
/// output element, grid-stride (neighbouring threads: neighbouring q, so src reads are
/// coalesced); work O(total + pre * n * post). Ids out of range add nothing.
/// Parameters: out; dst; ds Strided; src; so Strided; sstride i64; keys, starts i64;
/// len, n, post, total i64.
INDEX_ADD(index_add_f32, float)
/// index_add_f64: as index_add_f32, accumulated in f64.
INDEX_ADD(index_add_f64, double)
/// index_add_bf16: as index_add_f32 on bf16 (f32 accumulation, rounded once at the end).
INDEX_ADD(index_add_bf16, bf16)
/// index_add_f16: as index_add_f32 on f16 (f32 accumulation, rounded once at the end).
INDEX_ADD(index_add_f16, f16)
