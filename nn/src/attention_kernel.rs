//! Inference attention on the CPU: for each (sequence, head, block of 32 queries), scores
//! against blocks of 256 keys by the packed GEMM, an online softmax (running max and sum,
//! FlashAttention's recurrence), and the value product by the GEMM again. Memory is
//! O(block) instead of O(T x S), and the KV cache is read in place, chunk by chunk.
//! Tested against the differentiable [`crate::attention::sdpa`].

use rayon::prelude::*;
use tensor::cpu::gemm::{gemm, MatRef};
use tensor::{bail, DType, Result, Tensor};

const QB: usize = 32;
const KB: usize = 256;

/// `q [B, T, H, d]` against keys/values given as chunks `[B, s_i, H_kv, d]` (positions
/// `0..sum s_i`), queries at `start..start+T`, causal. Returns `[B, T, H, d]` f32.
pub fn sdpa_blocked(q: &Tensor, ks: &[Tensor], vs: &[Tensor], start: usize) -> Result<Tensor> {
    if q.rank() != 4 || ks.is_empty() || ks.len() != vs.len() {
        bail!("sdpa_blocked", "needs q [B, T, H, d] and matching key/value chunks, got q {:?} and {} / {} chunks", q.dims(), ks.len(), vs.len())
    }
    let (b, t, h, d) = (q.dims()[0], q.dims()[1], q.dims()[2], q.dims()[3]);
    let hkv = ks[0].dims()[2];
    for (k, v) in ks.iter().zip(vs) {
        if k.rank() != 4 || k.dims() != v.dims() || k.dims()[0] != b || k.dims()[2] != hkv || k.dims()[3] != d {
            bail!("sdpa_blocked", "key/value chunk {:?} / {:?} does not fit q {:?}", k.dims(), v.dims(), q.dims())
        }
    }
    if hkv == 0 || h % hkv != 0 {
        bail!("sdpa_blocked", "{h} query heads do not share {hkv} key/value heads evenly")
    }
    let rep = h / hkv;
    let qf = q.to_dtype(DType::F32)?.contiguous()?.to_vec::<f32>()?;
    // The cache chunks are read in place when they are contiguous f32 (they are, as the
    // attention layer stores them); anything else is converted once.
    let own = |t: &Tensor| -> Result<Tensor> { t.to_dtype(DType::F32)?.contiguous() };
    let kt: Vec<Tensor> = ks.iter().map(own).collect::<Result<_>>()?;
    let vt: Vec<Tensor> = vs.iter().map(own).collect::<Result<_>>()?;
    fn slice(t: &Tensor) -> Result<&[f32]> {
        let (data, layout) = t.as_cpu_slice::<f32>().ok_or_else(|| tensor::Error::op("sdpa_blocked", "key/value chunks must be on the CPU"))?;
        Ok(&data[layout.offset()..layout.offset() + layout.numel()])
    }
    let kc: Vec<&[f32]> = kt.iter().map(|t| slice(t)).collect::<Result<_>>()?;
    let vc: Vec<&[f32]> = vt.iter().map(|t| slice(t)).collect::<Result<_>>()?;
    let lens: Vec<usize> = ks.iter().map(|k| k.dims()[1]).collect();
    let scale = 1.0 / (d as f32).sqrt();
    let tblocks = t.div_ceil(QB);
    let tasks: Vec<(usize, usize, usize)> = (0..b).flat_map(|bi| (0..h).flat_map(move |hi| (0..tblocks).map(move |tb| (bi, hi, tb)))).collect();
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
            let mut g0 = 0; // global position of the chunk's first key
            'chunks: for (ci, &sc) in lens.iter().enumerate() {
                for j0 in (0..sc).step_by(KB) {
                    let gpos = g0 + j0;
                    if gpos > last_query {
                        break 'chunks;
                    }
                    let kb = KB.min(sc - j0);
                    let off = ((bi * sc + j0) * hkv + kvh) * d;
                    let a = MatRef { data: &qb[..], off: 0, rs: d, cs: 1 };
                    let kmat = MatRef { data: kc[ci], off, rs: 1, cs: hkv * d };
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
                        let mut sum = 0f32;
                        for x in row.iter_mut() {
                            *x = (*x - m_new).exp();
                            sum += *x;
                        }
                        l[i] = l[i] * alpha + sum;
                        m[i] = m_new;
                        acc[i * d..(i + 1) * d].iter_mut().for_each(|x| *x *= alpha);
                    }
                    let p = MatRef { data: &s[..], off: 0, rs: kb, cs: 1 };
                    let vb = MatRef { data: vc[ci], off, rs: hkv * d, cs: 1 };
                    gemm::<f32, f32>(rows, d, kb, p, vb, &mut pv, d);
                    acc.iter_mut().zip(&pv).for_each(|(a, x)| *a += x);
                }
                g0 += sc;
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
    Tensor::from_vec(out, [b, t, h, d])
}
