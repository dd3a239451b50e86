//! `ptx/kernels/attention.cu`, launcher `ptx::ops::attention`, fused op
//! `nn::attention_kernel` (SdpaBlocked, through `sdpa_blocked`): `attn_fwd_r32` (prefill),
//! `attn_fwd_r8` (decoding) and `attn_combine` (the splits over the keys merged), blocked
//! softmax attention over strided KV-cache views, against the CPU body of the same op on the
//! same inputs (`Tol::accumulated`, scaled to the reference).

use super::helpers::{both, check_sum};
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
    let h = hkv * rep;
    let start = if decode_long {
        500 + rng.below(200)
    } else if size >= 2 {
        rng.below(3000)
    } else {
        rng.below(20)
    };
    let s = start + t;
    let cap = s + rng.below(5);
    let dtype = if rng.below(3) == 0 { DType::BF16 } else { DType::F32 };
    let (kc, kd) = both(&[b, cap, hkv, d], dtype, -1.0, 1.0, device, rng)?;
    let (vc, vd) = both(&[b, cap, hkv, d], dtype, -1.0, 1.0, device, rng)?;
    let (qc, qd) = both(&[b, h, t, d], dtype, -2.0, 2.0, device, rng)?;
    let view = |x: &Tensor| x.narrow(1, 0, s);
    let (qc, qd) = (qc.permute(&[0, 2, 1, 3])?, qd.permute(&[0, 2, 1, 3])?);
    let want = nn::attention_kernel::sdpa_blocked(&qc, &view(&kc)?, &view(&vc)?, start)?;
    let got = nn::attention_kernel::sdpa_blocked(&qd, &view(&kd)?, &view(&vd)?, start)?;
    let what = format!("sdpa {dtype} b{b} t{t} h{h}/{hkv} d{d} start {start} cache {cap}");
    Ok(vec![check_sum(what, &got, &want, s.max(d))?])
}

pub fn cases() -> Vec<Case> {
    vec![Case { family: "attention", kernel: "attn_fwd_r32/r8, attn_combine", run: attention }]
}
