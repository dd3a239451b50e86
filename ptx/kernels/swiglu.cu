// The SwiGLU middle of the Llama MLP (nn/src/mlp.rs: SwiGlu, SwiGluBackward): h = silu(a) b
// element-wise, and its gradients
//   d/da = g b s (1 + a (1 - s)),  d/db = g silu(a),  s = sigmoid(a), silu(a) = a s.
// Inputs of one shape, each read through its own layout (Strided over the shared logical
// shape); outputs contiguous in the compute type.
#include "fused.cuh"

template <typename C>
__device__ __forceinline__ void swiglu_fwd(const void* a, int adt, Strided as, const void* b, int bdt, Strided bs, C* h, long long n) {
    FOR_EACH(i, n) {
        C av = load_as<C>(a, adt, at(as, i));
        h[i] = av * sigmoid(av) * load_as<C>(b, bdt, at(bs, i));
    }
}

template <typename C>
__device__ __forceinline__ void swiglu_bwd(const void* a, int adt, Strided as, const void* b, int bdt, Strided bs, const void* g, int gdt,
                                           Strided gs, C* da, C* db, long long n) {
    FOR_EACH(i, n) {
        C av = load_as<C>(a, adt, at(as, i)), gv = load_as<C>(g, gdt, at(gs, i));
        C s = sigmoid(av);
        if (da) da[i] = gv * load_as<C>(b, bdt, at(bs, i)) * (s * ((C)1 + av * ((C)1 - s)));
        if (db) db[i] = gv * (av * s);
    }
}

/// swiglu_fwd_f32(a, adt, as, b, bdt, bs, h, n): h[i] = a[i] * sigmoid(a[i]) * b[i] in f32
/// (CPU reference: nn::mlp forward_cpu::<f32>; sigmoid as tensor::cpu::map::sigmoid).
/// Thread mapping: a grid-stride loop, one element per thread per pass (i in row-major order
/// of the shared shape). Parameters: a, b any float dtype (codes adt, bdt), each with its
/// Strided over the shape; h f32 [n] contiguous; n i64. No shared memory.
extern "C" __global__ void swiglu_fwd_f32(const void* a, int adt, Strided as, const void* b, int bdt, Strided bs, float* h, long long n) {
    swiglu_fwd<float>(a, adt, as, b, bdt, bs, h, n);
}
/// swiglu_fwd_f64(...): as swiglu_fwd_f32 in f64 (forward_cpu::<f64>); h f64.
extern "C" __global__ void swiglu_fwd_f64(const void* a, int adt, Strided as, const void* b, int bdt, Strided bs, double* h, long long n) {
    swiglu_fwd<double>(a, adt, as, b, bdt, bs, h, n);
}

/// swiglu_bwd_f32(a, adt, as, b, bdt, bs, g, gdt, gs, da, db, n): with s = sigmoid(a[i]),
/// da[i] = g b (s (1 + a (1 - s))) and db[i] = g (a s), in f32 (CPU reference: nn::mlp
/// backward_cpu::<f32>); a null da or db is not computed.
/// Thread mapping: a grid-stride loop, one element per thread per pass.
/// Parameters: a, b, g any float dtypes with their Strided; da, db f32 [n] contiguous or null;
/// n i64. No shared memory.
extern "C" __global__ void swiglu_bwd_f32(const void* a, int adt, Strided as, const void* b, int bdt, Strided bs, const void* g, int gdt,
                                          Strided gs, float* da, float* db, long long n) {
    swiglu_bwd<float>(a, adt, as, b, bdt, bs, g, gdt, gs, da, db, n);
}
/// swiglu_bwd_f64(...): as swiglu_bwd_f32 in f64 (backward_cpu::<f64>); da, db f64.
extern "C" __global__ void swiglu_bwd_f64(const void* a, int adt, Strided as, const void* b, int bdt, Strided bs, const void* g, int gdt,
                                          Strided gs, double* da, double* db, long long n) {
    swiglu_bwd<double>(a, adt, as, b, bdt, bs, g, gdt, gs, da, db, n);
}
