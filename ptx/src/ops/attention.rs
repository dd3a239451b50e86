//! Causal GQA softmax attention for inference (`kernels/attention.cu`): `attn_fwd_r32`
//! (blocks of 32 query rows: prefill) or `attn_fwd_r8` (8 rows: decoding), split over the keys
//! when there are too few row blocks to fill the GPU, then `attn_combine` to merge the
//! splits; prefill of bf16 operands on the tensor cores (`attn_fwd_tc_d64` / `_d128`, see
//! [`tensor_cores`]). Caller: `nn::attention_kernel::SdpaBlocked`.

use super::operand::{i64_arg, Operand};
use crate::modules::Kernels;
use crate::runtime::{KernelArg, LaunchDims};
use tensor::{bail, DType, Result};

/// The largest head dim the kernels take (`ATT_MAX_D`).
pub const MAX_HEAD_DIM: usize = 128;
/// `kernels/attention.ptx`.
pub static KERNELS: Kernels = Kernels::new("attention", || {
    ["attn_fwd_r32", "attn_fwd_r8", "attn_combine", "attn_fwd_tc_d64", "attn_fwd_tc_d128"]
        .map(String::from)
        .to_vec()
});

/// Blocks that fill an H200 (132 SMs, two blocks each) before the keys are split.
const FILL_BLOCKS: usize = 264;
/// The fewest keys a split takes.
const MIN_SPLIT_KEYS: usize = 256;

/// Whether a call takes the tensor-core kernels: bf16 queries, keys and values, and more rows
/// (query positions times the heads of a group) than decoding's `attn_fwd_r8` takes. Their
/// probabilities are rounded to bf16 for `P V` (FlashAttention-2's precision): the result
/// differs from the f32 path by up to about `2^-8 max |v|`.
pub fn tensor_cores(q: DType, k: DType, v: DType, rows: usize) -> bool {
    [q, k, v].iter().all(|&d| d == DType::BF16) && rows > 8
}

/// `o [B, T, H, d]` (fresh, f32) = causal softmax attention of `q [B, T, H, d]` at positions
/// `start..start + T` over `k, v [B, S, H_kv, d]` (any strides and float dtypes).
pub fn sdpa(o: Operand, q: Operand, k: Operand, v: Operand, start: usize) -> Result<()> {
    let (qd, kd) = (q.dims(), k.dims());
    if qd.len() != 4 || kd.len() != 4 || v.dims() != kd || kd[0] != qd[0] || kd[3] != qd[3] {
        bail!(
            "ptx",
            "attn_fwd: needs q [B, T, H, d] and k, v [B, S, H_kv, d]; got q {qd:?}, k {kd:?}, \
             v {:?}",
            v.dims()
        )
    }
    let (b, t, h, d) = (qd[0], qd[1], qd[2], qd[3]);
    let (s, hkv) = (kd[1], kd[2]);
    if hkv == 0 || h % hkv != 0 {
        bail!("ptx", "attn_fwd: {h} query heads do not share {hkv} key/value heads evenly")
    }
    if d > MAX_HEAD_DIM {
        bail!("ptx", "attn_fwd: head dim {d} is over the {MAX_HEAD_DIM} the kernel takes")
    }
    if start + t > s {
        bail!(
            "ptx",
            "attn_fwd: queries at {start}..{} need keys up to there, only {s} given",
            start + t
        )
    }
    if [b, t, h, s].iter().any(|&x| x > i32::MAX as usize) {
        bail!("ptx", "attn_fwd: sizes {qd:?} / {kd:?} are over the kernel's 32-bit dims")
    }
    let o_arg = o.out("attn_fwd", "o", &[b, t, h, d], DType::F32)?;
    if b * t * h * d == 0 {
        return Ok(());
    }
    let rep = h / hkv;
    let rows = t * rep;
    if tensor_cores(q.dtype(), k.dtype(), v.dtype(), rows) {
        return sdpa_tensor_cores(o_arg, q, k, v, [b, t, h, d, s, hkv], start);
    }
    let (kernel, tile) = if rows <= 8 { ("attn_fwd_r8", 8usize) } else { ("attn_fwd_r32", 32) };
    let kernel = KERNELS.entry(kernel)?;
    let tiles = rows.div_ceil(tile);
    let blocks = tiles * b * hkv;
    // Split the keys (each split a multiple of 32 keys, at least MIN_SPLIT_KEYS) when the row
    // blocks alone leave the GPU idle: decoding, or short prompts over a long cache.
    let mut nsplit = if blocks >= FILL_BLOCKS {
        1
    } else {
        FILL_BLOCKS.div_ceil(blocks).min(s.div_ceil(MIN_SPLIT_KEYS)).max(1)
    };
    let split_len = s.div_ceil(nsplit).div_ceil(32) * 32;
    nsplit = s.div_ceil(split_len).max(1);
    if tiles > u32::MAX as usize || b * hkv > u32::MAX as usize || nsplit > u16::MAX as usize {
        bail!("ptx", "{kernel}: grid ({tiles}, {}, {nsplit}) too large", b * hkv)
    }
    let gpu = q.gpu();
    let part_rows = b * hkv * rows * nsplit;
    let parts = if nsplit > 1 {
        Some((
            gpu.storage(DType::F32, part_rows)?,
            gpu.storage(DType::F32, part_rows)?,
            gpu.storage(DType::F32, part_rows * d)?,
        ))
    } else {
        None
    };
    let (pm, pl, pa) = match &parts {
        Some((m, l, a)) => (m.arg(), l.arg(), a.arg()),
        None => (o_arg.clone(), o_arg.clone(), o_arg.clone()),
    };
    let mut args = vec![o_arg.clone(), pm.clone(), pl.clone(), pa.clone()];
    args.extend(qkv_args(kernel.name, q, k, v, [b, t, h, d, s, hkv], start)?);
    args.extend([
        KernelArg::I32(nsplit as i32),
        i64_arg(split_len),
        KernelArg::F32(1.0 / (d as f32).sqrt()),
    ]);
    let shared = ((tile * d + 32 * (d + 1)) * 4) as u32;
    let dims = LaunchDims {
        grid: [tiles as u32, (b * hkv) as u32, nsplit as u32],
        block: [128, 1, 1],
        shared,
    };
    gpu.launch(kernel, dims, &args)?;
    if nsplit > 1 {
        let n = b * hkv * rows * d;
        let args = [
            o_arg,
            pm,
            pl,
            pa,
            KernelArg::I32(t as i32),
            KernelArg::I32(h as i32),
            KernelArg::I32(hkv as i32),
            KernelArg::I32(d as i32),
            KernelArg::I32(nsplit as i32),
            i64_arg(n),
        ];
        gpu.launch(
            KERNELS.entry("attn_combine")?,
            LaunchDims::linear(n.div_ceil(256).clamp(1, 4096) as u32, 256),
            &args,
        )?;
    }
    Ok(())
}

/// The tensor-core prefill (`attn_fwd_tc_d64` / `_d128`): one block per 64 rows of a
/// (sequence, kv head), no split over the keys.
fn sdpa_tensor_cores(
    o: KernelArg,
    q: Operand,
    k: Operand,
    v: Operand,
    [b, t, h, d, s, hkv]: [usize; 6],
    start: usize,
) -> Result<()> {
    let (kernel, width) = if d <= 64 { ("attn_fwd_tc_d64", 64) } else { ("attn_fwd_tc_d128", 128) };
    let kernel = KERNELS.entry(kernel)?;
    let tiles = (t * (h / hkv)).div_ceil(64);
    if tiles > u32::MAX as usize || b * hkv > u16::MAX as usize {
        bail!("ptx", "{}: grid ({tiles}, {}) too large", kernel.name, b * hkv)
    }
    let mut args = vec![o];
    args.extend(qkv_args(kernel.name, q, k, v, [b, t, h, d, s, hkv], start)?);
    args.push(KernelArg::F32(std::f32::consts::LOG2_E / (d as f32).sqrt()));
    let dims = LaunchDims {
        grid: [tiles as u32, (b * hkv) as u32, 1],
        block: [128, 1, 1],
        shared: (3 * 64 * (width + 8) * 2) as u32,
    };
    q.gpu().launch(kernel, dims, &args)
}

/// The arguments every attention entry takes after its outputs: `q, k, v` and `T, H, Hkv, S,
/// d, start`.
fn qkv_args(
    kernel: &str,
    q: Operand,
    k: Operand,
    v: Operand,
    [b, t, h, d, s, hkv]: [usize; 6],
    start: usize,
) -> Result<[KernelArg; 9]> {
    Ok([
        q.arg(kernel, "q", &[b, t, h, d])?,
        k.arg(kernel, "k", &[b, s, hkv, d])?,
        v.arg(kernel, "v", &[b, s, hkv, d])?,
        KernelArg::I32(t as i32),
        KernelArg::I32(h as i32),
        KernelArg::I32(hkv as i32),
        i64_arg(s),
        KernelArg::I32(d as i32),
        i64_arg(start),
    ])
}
