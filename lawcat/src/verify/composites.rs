//! Composites of the primitive kernels (no `.cu` of their own: `fill`, `copy`, `elementwise`,
//! `reduce` and `index` under the tensor ops): a model's building blocks, forward and backward,
//! on the device under test against the CPU: an embedding lookup (its gradient an
//! index_add), RMSNorm and SwiGLU as their composites (`nn::norm::rms_norm_composite`,
//! `nn::mlp::swiglu_composite`, the references the fused kernels are tested against) and a
//! log-softmax loss (its gradient through gather's scatter_add). What a model on the device
//! runs, as far as primitive kernels go: the matmuls and fused ops are other kernel families.

use super::{Case, Check};
use autograd::Var;
use nn::mlp::swiglu_composite;
use nn::norm::rms_norm_composite;
use tensor::tolerance::Tol;
use tensor::{DType, Device, Result, Rng, Tensor};

/// `[loss, normalized rows, d table, d x, d w]` of the block on `device`.
fn block(
    device: &Device,
    table: &Tensor,
    x: &Tensor,
    w: &Tensor,
    ids: &Tensor,
    targets: &Tensor,
) -> Result<Vec<Tensor>> {
    let (tv, xv, wv) = (
        Var::leaf(table.to_device(device)?),
        Var::leaf(x.to_device(device)?),
        Var::leaf(w.to_device(device)?),
    );
    let e = tv.index_select(&ids.to_device(device)?, 0)?.add(&xv)?;
    let h = rms_norm_composite(&e, &wv, 1e-5)?;
    let g = swiglu_composite(&h, &h.scale(0.5)?)?;
    let loss = g.log_softmax(1)?.gather(&targets.to_device(device)?, 1)?.mean_all()?.neg()?;
    let grads = loss.backward()?;
    let grad = |v: &Var| {
        grads
            .get(v)
            .cloned()
            .ok_or_else(|| tensor::Error::op("composites", "a leaf got no gradient"))
    };
    let outs = vec![loss.value().clone(), h.value().clone(), grad(&tv)?, grad(&xv)?, grad(&wv)?];
    outs.iter().map(|t| t.to_device(&Device::Cpu)).collect()
}

/// Embedding, RMSNorm, SwiGLU and a log-softmax loss with their gradients, every float dtype.
fn blocks(device: &Device, rng: &mut Rng, size: usize) -> Result<Vec<Check>> {
    let (n, d, vocab) = match size {
        0 => (3, 60, 7),
        1 => (9, 65, 33),
        _ => (1000, 576, 4097),
    };
    let mut out = vec![];
    for dtype in [DType::F32, DType::F64, DType::BF16, DType::F16] {
        let table = Tensor::rand_uniform([vocab, d], -1.0, 1.0, dtype, &Device::Cpu, rng)?;
        let x = Tensor::rand_uniform([n, d], -1.0, 1.0, dtype, &Device::Cpu, rng)?;
        let w = Tensor::rand_uniform([d], 0.5, 1.5, dtype, &Device::Cpu, rng)?;
        let ids = Tensor::from_vec(
            (0..n).map(|_| rng.below(vocab) as i64).collect::<Vec<_>>(),
            n,
            &Device::Cpu,
        )?;
        let targets = Tensor::from_vec(
            (0..n).map(|_| rng.below(d) as i64).collect::<Vec<_>>(),
            [n, 1],
            &Device::Cpu,
        )?;
        let got = block(device, &table, &x, &w, &ids, &targets)?;
        let want = block(&Device::Cpu, &table, &x, &w, &ids, &targets)?;
        for ((name, g), w) in
            ["loss", "rms_norm", "d table", "d x", "d w"].iter().zip(got).zip(want)
        {
            // Sums over a row (d terms) and over the rows (n terms) in another order, in the
            // dtype each result is kept in.
            let tol = Tol::accumulated(w.dtype(), n + d, 4.0);
            out.push(Check::new(format!("{name} {dtype} [{n}, {d}] vocab {vocab}"), g, w, tol));
        }
    }
    Ok(out)
}

pub fn cases() -> Vec<Case> {
    vec![Case {
        family: "composites",
        kernel: "composites: embedding, norm, swiglu, loss",
        run: blocks,
    }]
}
