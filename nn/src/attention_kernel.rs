//! Inference attention, as one fused op ([`SdpaBlocked`]): for each (sequence, head, block of
//! 32 queries), scores against blocks of 256 keys by the packed GEMM, an online softmax
//! (running max and sum, FlashAttention's recurrence), and the value product by the GEMM
//! again. Memory is O(block) instead of O(T x S), and the keys and values are read in place
//! through their strides (a KV cache is a view of a bigger buffer). Tested against the
//! differentiable [`crate::attention::sdpa`].

use crate::fused::{self, Compute, Fused};
use ptx::ops::operand::Operand;
use rayon::prelude::*;
use tensor::cpu::gemm::{gemm, MatRef};
use tensor::cpu::vexp::exp_sub_sum;
use tensor::{bail, DType, HostIn, HostOut, Result, Tensor};

const QB: usize = 32;
const KB: usize = 256;

/// Causal grouped-query attention of `q [B, T, H, d]` (positions `start..start + T`) over
/// `k, v [B, S, H_kv, d]` (positions `0..S`), output `[B, T, H, d]` f32. Accelerator
/// kernels: `attn_fwd_r32` / `attn_fwd_r8`, then `attn_combine` when the keys are split
/// (`ptx/kernels/attention.cu`).
pub struct SdpaBlocked {
    pub start: usize,
}

impl Fused for SdpaBlocked {
    fn name(&self) -> &'static str {
        "sdpa_blocked"
    }
    /// Always f32 (the output's dtype), whatever the operands' dtypes.
    fn cpu<T: Compute>(&self, ins: &[HostIn], outs: &mut [HostOut]) -> Result<()> {
        let out = cpu_attention(&ins[0], &ins[1], &ins[2], self.start)?;
        outs[0].write(&out)
    }
    fn gpu(&self, ins: &[Operand], outs: &[Operand]) -> Result<()> {
        ptx::ops::attention::sdpa(outs[0], ins[0], ins[1], ins[2], self.start)
    }
}

/// Checks the shapes, then runs [`SdpaBlocked`].
pub fn sdpa_blocked(q: &Tensor, k: &Tensor, v: &Tensor, start: usize) -> Result<Tensor> {
    if q.rank() != 4
        || k.rank() != 4
        || k.dims() != v.dims()
        || k.dims()[0] != q.dims()[0]
        || k.dims()[3] != q.dims()[3]
    {
        bail!(
            "sdpa_blocked",
            "needs q [B, T, H, d] and k, v [B, S, H_kv, d]; got q {:?}, k {:?}, v {:?}",
            q.dims(),
            k.dims(),
            v.dims()
        )
    }
    let (h, hkv) = (q.dims()[2], k.dims()[2]);
    if hkv == 0 || h % hkv != 0 {
        bail!("sdpa_blocked", "{h} query heads do not share {hkv} key/value heads evenly")
    }
    if start + q.dims()[1] > k.dims()[1] {
        bail!(
            "sdpa_blocked",
            "queries at {start}..{} need keys up to there, only {} given",
            start + q.dims()[1],
            k.dims()[1]
        )
    }
    Ok(fused::run(&SdpaBlocked { start }, &[q, k, v], &[(q.shape().clone(), DType::F32)])?
        .remove(0))
}

/// A `[B, S, H_kv, d]` operand as f32 values with its strides (in place when it is f32 with
/// a contiguous last dim, converted once otherwise).
fn strided_f32<'a>(x: &HostIn<'a>) -> Result<(std::borrow::Cow<'a, [f32]>, [usize; 3], usize)> {
    let l = x.layout;
    if let (Some(data), 1) = (<f32 as tensor::Elem>::slice(x.data), l.strides()[3]) {
        let s = l.strides();
        return Ok((std::borrow::Cow::Borrowed(data), [s[0], s[1], s[2]], l.offset()));
    }
    let d = l.dims();
    Ok((x.values::<f32>()?, [d[1] * d[2] * d[3], d[2] * d[3], d[3]], 0))
}

fn cpu_attention(q: &HostIn, k: &HostIn, v: &HostIn, start: usize) -> Result<Vec<f32>> {
    let (b, t, h, d) = (q.dims()[0], q.dims()[1], q.dims()[2], q.dims()[3]);
    let (sc, hkv) = (k.dims()[1], k.dims()[2]);
    let rep = h / hkv;
    let qf = q.values::<f32>()?;
    let (kc, ks, ko) = strided_f32(k)?;
    let (vc, vs, vo) = strided_f32(v)?;
    let scale = 1.0 / (d as f32).sqrt();
    let tblocks = t.div_ceil(QB);
    let tasks: Vec<(usize, usize, usize)> = (0..b)
        .flat_map(|bi| (0..h).flat_map(move |hi| (0..tblocks).map(move |tb| (bi, hi, tb))))
        .collect();
    let results: Vec<Vec<f32>> = tasks
        .par_iter()
        .map(|&(bi, hi, tb)| {
            let kvh = hi / rep;
            let t0 = tb * QB;
            let rows = QB.min(t - t0);
            let mut qb = vec![0f32; rows * d];
            for i in 0..rows {
                let src = ((bi * t + t0 + i) * h + hi) * d;
                for j in 0..d {
                    qb[i * d + j] = qf[src + j] * scale;
                }
            }
            let mut m = vec![f32::NEG_INFINITY; rows];
            let mut l = vec![0f32; rows];
            let mut acc = vec![0f32; rows * d];
            let mut s = vec![0f32; rows * KB];
            let mut pv = vec![0f32; rows * d];
            let last_query = start + t0 + rows - 1;
            for j0 in (0..sc).step_by(KB) {
                let gpos = j0;
                if gpos > last_query {
                    break;
                }
                let kb = KB.min(sc - j0);
                let a = MatRef { data: &qb[..], off: 0, rs: d, cs: 1 };
                let kmat = MatRef {
                    data: &kc[..],
                    off: ko + bi * ks[0] + j0 * ks[1] + kvh * ks[2],
                    rs: 1,
                    cs: ks[1],
                };
                gemm::<f32, f32>(rows, kb, d, a, kmat, &mut s, kb);
                for i in 0..rows {
                    let qpos = start + t0 + i;
                    let row = &mut s[i * kb..(i + 1) * kb];
                    let visible = (qpos + 1).saturating_sub(gpos).min(kb);
                    for x in row[visible..].iter_mut() {
                        *x = f32::NEG_INFINITY;
                    }
                    let bm = row[..visible].iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
                    let m_new = m[i].max(bm);
                    if m_new == f32::NEG_INFINITY {
                        row.iter_mut().for_each(|x| *x = 0.0);
                        continue;
                    }
                    let alpha = (m[i] - m_new).exp();
                    // Vectorized exp(x - m) and the row sum (the masked -inf give exactly 0).
                    let sum = exp_sub_sum(row, m_new);
                    l[i] = l[i] * alpha + sum;
                    m[i] = m_new;
                    acc[i * d..(i + 1) * d].iter_mut().for_each(|x| *x *= alpha);
                }
                let p = MatRef { data: &s[..], off: 0, rs: kb, cs: 1 };
                let vb = MatRef {
                    data: &vc[..],
                    off: vo + bi * vs[0] + j0 * vs[1] + kvh * vs[2],
                    rs: vs[1],
                    cs: 1,
                };
                gemm::<f32, f32>(rows, d, kb, p, vb, &mut pv, d);
                acc.iter_mut().zip(&pv).for_each(|(a, x)| *a += x);
            }
            for i in 0..rows {
                let inv = if l[i] > 0.0 { 1.0 / l[i] } else { f32::NAN };
                acc[i * d..(i + 1) * d].iter_mut().for_each(|x| *x *= inv);
            }
            acc
        })
        .collect();
    let mut out = vec![0f32; b * t * h * d];
    for (&(bi, hi, tb), acc) in tasks.iter().zip(results) {
        let t0 = tb * QB;
        for (i, row) in acc.chunks_exact(d).enumerate() {
            let dst = ((bi * t + t0 + i) * h + hi) * d;
            out[dst..dst + d].copy_from_slice(row);
        }
    }
    Ok(out)
}
