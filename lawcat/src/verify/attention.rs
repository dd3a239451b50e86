//! `ptx/kernels/attention.cu`, launcher `ptx::ops::attention`, fused op
//! `nn::attention_kernel` (SdpaBlocked, through `sdpa_blocked`): `attn_fwd_r32` (prefill),
//! `attn_fwd_r8` (decoding), `attn_combine` (the splits over the keys merged) and the
//! tensor-core prefill `attn_fwd_tc_d64` / `_d128` (bf16 operands), blocked softmax attention
//! over strided KV-cache views, against the CPU body of the same op on the same inputs
//! (`Tol::accumulated`, scaled to the reference; the tensor-core kernels round the
//! probabilities to bf16 before `P V`, which moves a result by at most `2^-8 max |v|`: that
//! much more absolute slack for them, and no more).

use super::helpers::{both, check_sum, max_abs};
use super::{gen, Case, Check};
use tensor::{DType, Device, Result, Rng, Tensor};

/// `sdpa_blocked` over a KV cache: `k, v` are narrowed views of `[B, capacity, H_kv, d]`
/// buffers, `q` a permuted view of `[B, H, T, d]`; GQA, positions from `start`, decoding
/// (T = 1) over long caches (split over the keys), f32 and bf16.
fn attention(device: &Device, rng: &mut Rng, size: usize) -> Result<Vec<Check>> {
    let decode_long = size == 1 && rng.below(3) == 0;
    let t = if decode_long { 1 } else { gen::len(rng, size, &[0, 1, 2, 9], &[1, 63, 65, 1000]) };
    let t = if size == 1 && !decode_long { [1, 63, 65][rng.below(3)] } else { t };
    let d = gen::len(rng, size, &[8, 6], &[64, 128, 60]);
    let d = if size == 1 { [16, 60][rng.below(2)] } else { d };
    let (b, hkv, rep) = if size >= 2 {
        (2, 4, 4)
    } else {
        (1 + rng.below(2), 1 + rng.below(2), [1, 2, 3][rng.below(3)])
    };
    let (b, hkv, rep) = if size == 1 && t > 1 { (1, 1, 2) } else { (b, hkv, rep) };
    let start = if decode_long {
        500 + rng.below(200)
    } else if size >= 2 {
        rng.below(3000)
    } else {
        rng.below(20)
    };
    let dtype = if rng.below(3) == 0 { DType::BF16 } else { DType::F32 };
    compare(device, rng, [b, t, hkv, rep, d, start], dtype)
}

/// The tensor-core prefill on every shape class it has: bf16, more rows than decoding
/// takes, row counts on both sides of its 64-row tiles, head dims below, at and between
/// its two widths (16, 60: unaligned rows, element loads; 64; 100; 128), 1 to 4 heads per
/// group, queries after a cached prefix.
fn attention_tensor_cores(device: &Device, rng: &mut Rng, size: usize) -> Result<Vec<Check>> {
    let rep = 1 + rng.below(4);
    let rows = gen::len(rng, size, &[9, 63, 64, 65, 130], &[1000, 4096]);
    let t = rows.div_ceil(rep).max(9usize.div_ceil(rep) + 1);
    let d = [16, 60, 64, 100, 128][rng.below(5)];
    let (b, hkv) = (1 + rng.below(2), 1 + rng.below(2));
    let start = if rng.below(2) == 0 { 0 } else { rng.below(if size >= 2 { 2000 } else { 100 }) };
    compare(device, rng, [b, t, hkv, rep, d, start], DType::BF16)
}

/// One instance: random q, k, v of `dtype` (k, v in a cache a little longer than needed),
/// the device against the CPU.
fn compare(
    device: &Device,
    rng: &mut Rng,
    [b, t, hkv, rep, d, start]: [usize; 6],
    dtype: DType,
) -> Result<Vec<Check>> {
    let h = hkv * rep;
    let s = start + t;
    let cap = s + rng.below(5);
    let (kc, kd) = both(&[b, cap, hkv, d], dtype, -1.0, 1.0, device, rng)?;
    let (vc, vd) = both(&[b, cap, hkv, d], dtype, -1.0, 1.0, device, rng)?;
    let (qc, qd) = both(&[b, h, t, d], dtype, -2.0, 2.0, device, rng)?;
    let view = |x: &Tensor| x.narrow(1, 0, s);
    let (qc, qd) = (qc.permute(&[0, 2, 1, 3])?, qd.permute(&[0, 2, 1, 3])?);
    let want = nn::attention_kernel::sdpa_blocked(&qc, &view(&kc)?, &view(&vc)?, start)?;
    let got = nn::attention_kernel::sdpa_blocked(&qd, &view(&kd)?, &view(&vd)?, start)?;
    let what = format!("sdpa {dtype} b{b} t{t} h{h}/{hkv} d{d} start {start} cache {cap}");
    let mut check = check_sum(what, &got, &want, s.max(d))?;
    if ptx::ops::attention::tensor_cores(dtype, dtype, dtype, t * rep) {
        check.tol.atol += tensor::tolerance::unit_roundoff(DType::BF16) * max_abs(&vc)?;
        check.what += " (tensor cores)";
    }
    Ok(vec![check])
}

pub fn cases() -> Vec<Case> {
    vec![
        Case { family: "attention", kernel: "attn_fwd_r32/r8, attn_combine", run: attention },
        Case { family: "attention", kernel: "attn_fwd_tc_d64/d128", run: attention_tensor_cores },
    ]
}
