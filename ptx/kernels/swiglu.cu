// The SwiGLU middle of the Llama MLP (nn/src/mlp.rs: SwiGlu): h = silu(a) b element-wise,
// and its gradients
//   d/da = g b s (1 + a (1 - s)),  d/db = g silu(a),  s = sigmoid(a), silu(a) = a s.
// Inputs of one shape are Operands, each walked flat over the shared logical shape; outputs
// are contiguous in the compute type.
#include "fused.cuh"

template <typename C> __device__ __forceinline__ void swiglu_fwd(Operand a, Operand b, C* h, long long n) {
    FOR_EACH(i, n) {
        C av = ld<C>(a, at(a.v, i));
        h[i] = av * sigmoid(av) * ld<C>(b, at(b.v, i));
    }
}

template <typename C> __device__ __forceinline__ void swiglu_bwd(Operand a, Operand b, Operand g, C* da, C* db, long long n) {
    FOR_EACH(i, n) {
        C av = ld<C>(a, at(a.v, i)), gv = ld<C>(g, at(g.v, i));
        C s = sigmoid(av);
        if (da) da[i] = gv * ld<C>(b, at(b.v, i)) * (s * ((C)1 + av * ((C)1 - s)));
        if (db) db[i] = gv * (av * s);
    }
}

/// swiglu_fwd_f32(a, b, h, n): h[i] = a[i] * sigmoid(a[i]) * b[i] in f32 (CPU reference:
/// nn::mlp SwiGlu, forward::<f32>; sigmoid as tensor::cpu::map::sigmoid).
/// Thread mapping: a grid-stride loop, one element per thread per pass (i in row-major order
/// of the shared shape).
/// Parameters: a, b Operands of any float dtype (flat views of the shape); h f32 [n]
/// contiguous; n i64. No shared memory.
extern "C" __global__ void swiglu_fwd_f32(Operand a, Operand b, float* h, long long n) { swiglu_fwd<float>(a, b, h, n); }
/// swiglu_fwd_f64(a, b, h, n): as swiglu_fwd_f32 in f64; h f64.
extern "C" __global__ void swiglu_fwd_f64(Operand a, Operand b, double* h, long long n) { swiglu_fwd<double>(a, b, h, n); }

/// swiglu_bwd_f32(a, b, g, da, db, n): with s = sigmoid(a[i]), da[i] = g b (s (1 + a (1 - s)))
/// and db[i] = g (a s), in f32 (CPU reference: nn::mlp SwiGlu, backward::<f32>); a null da
/// or db is not computed.
/// Thread mapping: a grid-stride loop, one element per thread per pass.
/// Parameters: a, b, g Operands of any float dtype (flat views); da, db f32 [n] contiguous or
/// null; n i64. No shared memory.
extern "C" __global__ void swiglu_bwd_f32(Operand a, Operand b, Operand g, float* da, float* db, long long n) {
    swiglu_bwd<float>(a, b, g, da, db, n);
}
/// swiglu_bwd_f64(a, b, g, da, db, n): as swiglu_bwd_f32 in f64; da, db f64.
extern "C" __global__ void swiglu_bwd_f64(Operand a, Operand b, Operand g, double* da, double* db, long long n) {
    swiglu_bwd<double>(a, b, g, da, db, n);
}
