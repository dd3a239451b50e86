// The AdamW update of one parameter, in place (nn/src/optim/adamw.rs: AdamWUpdate):
//   p <- p decay (when weight decay is on)
//   m <- m b1 + g nb1;  v <- v b2 + g g nb2
//   p <- p - m / (sqrt(v) inv_sqrt_bc2 + eps) step
// every operation rounded as the CPU body rounds it: the explicitly rounded intrinsics
// (__fmul_rn, __fadd_rn, ...) keep nvcc from contracting a multiply and an add into an FMA,
// so the GPU's step equals the CPU's bit for bit. The constants (decay = 1 - lr wd,
// nb1 = 1 - b1, nb2 = 1 - b2, inv_sqrt_bc2 = 1 / sqrt(1 - b2^t), step = lr / (1 - b1^t)) are
// formed on the host in f64 and rounded once to the compute type, as the CPU body forms them.
#include "fused.cuh"

/// adamw_f32(g, p, pdt, m, v, master, n, has_decay, decay, b1, b2, nb1, nb2, inv_sqrt_bc2,
/// eps, step): the AdamW update in f32 (CPU reference: AdamWUpdate, cpu::<f32>),
/// element i: x = master[i] when master is not null (a bf16/f16 parameter's f32 copy), else
/// p[i]; x *= decay when has_decay; m[i] = m b1 + g nb1; v[i] = v b2 + (g g) nb2;
/// x = x - (m / (sqrt(v) inv_sqrt_bc2 + eps)) step; master[i] = x; p[i] = x rounded to the
/// parameter's dtype (nearest even). Each step is one correctly rounded f32 operation in the
/// CPU's order (no FMA), so the result equals the CPU's bit for bit.
/// Thread mapping: a grid-stride loop, one element per thread per pass.
/// Parameters: g an Operand of any float dtype [n], flat; p the parameter [n]
/// contiguous, f32 or (with master) bf16/f16 (code pdt); m, v f32 [n] contiguous; master f32
/// [n] contiguous or null; n i64; has_decay i32; the rest f32. No shared memory.
extern "C" __global__ void adamw_f32(Operand g, void* p, int pdt, float* m, float* v, float* master, long long n,
                                     int has_decay, float decay, float b1, float b2, float nb1, float nb2, float inv_sqrt_bc2, float eps,
                                     float step) {
    FOR_EACH(i, n) {
        float gi = ld<float>(g, at(g.v, i));
        float x = master ? master[i] : ((float*)p)[i];
        if (has_decay) x = __fmul_rn(x, decay);
        float mi = __fadd_rn(__fmul_rn(m[i], b1), __fmul_rn(gi, nb1));
        float vi = __fadd_rn(__fmul_rn(v[i], b2), __fmul_rn(__fmul_rn(gi, gi), nb2));
        float denom = __fadd_rn(__fmul_rn(__fsqrt_rn(vi), inv_sqrt_bc2), eps);
        x = __fsub_rn(x, __fmul_rn(__fdiv_rn(mi, denom), step));
        m[i] = mi;
        v[i] = vi;
        if (master) {
            master[i] = x;
            if (pdt == DT_BF16) ((__nv_bfloat16*)p)[i] = __float2bfloat16_rn(x);
            else ((__half*)p)[i] = __float2half_rn(x);
        } else {
            ((float*)p)[i] = x;
        }
    }
}

/// adamw_f64(g, p, m, v, n, has_decay, decay, b1, b2, nb1, nb2, inv_sqrt_bc2, eps,
/// step): as adamw_f32 for an f64 parameter (AdamWUpdate, cpu::<f64>): p, m, v f64 [n]
/// contiguous, g any float dtype read as f64, every operation a correctly rounded f64 one in
/// the CPU's order; no master copy. Thread mapping and limits as adamw_f32.
extern "C" __global__ void adamw_f64(Operand g, double* p, double* m, double* v, long long n, int has_decay,
                                     double decay, double b1, double b2, double nb1, double nb2, double inv_sqrt_bc2, double eps,
                                     double step) {
    FOR_EACH(i, n) {
        double gi = ld<double>(g, at(g.v, i));
        double x = p[i];
        if (has_decay) x = __dmul_rn(x, decay);
        double mi = __dadd_rn(__dmul_rn(m[i], b1), __dmul_rn(gi, nb1));
        double vi = __dadd_rn(__dmul_rn(v[i], b2), __dmul_rn(__dmul_rn(gi, gi), nb2));
        double denom = __dadd_rn(__dmul_rn(__dsqrt_rn(vi), inv_sqrt_bc2), eps);
        x = __dsub_rn(x, __dmul_rn(__ddiv_rn(mi, denom), step));
        m[i] = mi;
        v[i] = vi;
        p[i] = x;
    }
}
