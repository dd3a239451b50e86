//! `ptx/kernels/matmul.cu` (f32, f64 and mixed dtypes on the CUDA cores) and
//! `ptx/kernels/matmul_tc.cu` (bf16 and f16 on the tensor cores), launcher `ptx::ops::matmul`
//! (`matmul`, and `matmul_with` to force a plan), the op `Tensor::matmul`: against the CPU's
//! `matmul_storage` on awkward sizes (1, 63, 65, D = 60, k = 0, size-0 dims; 1000 for the
//! GPU), every dtype pair the CPU accepts, operands contiguous, transposed, narrowed
//! (misaligned rows) or strided in both dims, batch dims broadcast, and the products the model
//! makes.

use super::{Case, Check};
use ptx::ops::matmul::{matmul_with, Plan, Tiles};
use ptx::runtime::GpuStorage;
use tensor::tolerance::{unit_roundoff, Tol};
use tensor::{DType, Device, Error, Layout, Result, Rng, Tensor};

/// How an operand lies in memory.
#[derive(Clone, Copy, Debug)]
enum View {
    Contiguous,
    /// A transposed view of a `[.., cols, rows]` tensor (column-major).
    Transposed,
    /// Cut out of `[.., rows, cols + 3]` at column 1: rows start at odd offsets.
    Narrowed,
    /// Every other element of `[.., rows, cols, 2]`: no dim has stride 1.
    Strided,
}

const VIEWS: [View; 4] = [View::Contiguous, View::Transposed, View::Narrowed, View::Strided];

/// Values uniform in [-1, 1) of `[batch.., rows, cols]` seen through `view`, on the CPU and
/// the same elements, through the same view, on `device`.
fn operand(
    dims: &[usize],
    dtype: DType,
    view: View,
    device: &Device,
    rng: &mut Rng,
) -> Result<(Tensor, Tensor)> {
    let r = dims.len();
    let (rows, cols) = (dims[r - 2], dims[r - 1]);
    let mut base = dims[..r - 2].to_vec();
    match view {
        View::Contiguous => base.extend([rows, cols]),
        View::Transposed => base.extend([cols, rows]),
        View::Narrowed => base.extend([rows, cols + 3]),
        View::Strided => base.extend([rows, cols, 2]),
    }
    let cpu = Tensor::rand_uniform(base, -1.0, 1.0, dtype, &Device::Cpu, rng)?;
    let dev = cpu.to_device(device)?;
    let look = |t: Tensor| -> Result<Tensor> {
        match view {
            View::Contiguous => Ok(t),
            View::Transposed => t.transpose(r - 2, r - 1),
            View::Narrowed => t.narrow(r - 1, 1, cols),
            View::Strided => t.narrow(r, 1, 1)?.squeeze(r),
        }
    };
    Ok((look(cpu)?, look(dev)?))
}

/// The bound for a product of inputs in [-1, 1) over `k` terms computed in `compute` and
/// stored in `out`: the accumulation-order bound of `Tol::accumulated` (the CPU and the
/// kernel sum in different orders), and where the output is narrower, one rounding of each
/// side to it (the two sums may straddle a rounding boundary: one ulp, 2u relative).
fn tol(out: DType, compute: DType, k: usize) -> Tol {
    let acc = Tol::accumulated(compute, k, 1.0);
    if out == compute {
        return acc;
    }
    let u = unit_roundoff(out);
    Tol { atol: acc.atol, rtol: acc.rtol + 2.0 * u, rms: acc.rms + 2.0 * u }
}

fn compute_dtype(a: DType) -> DType {
    if a == DType::F64 {
        DType::F64
    } else {
        DType::F32
    }
}

/// `a @ b` on both devices, compared.
fn product(what: String, a: (Tensor, Tensor), b: (Tensor, Tensor)) -> Result<Check> {
    let want = a.0.matmul(&b.0)?;
    let got = a.1.matmul(&b.1)?.to_device(&Device::Cpu)?;
    let k = a.0.dims()[a.0.rank() - 1];
    let t = tol(want.dtype(), compute_dtype(a.0.dtype()), k);
    Ok(Check::new(
        format!("{what}: {:?} @ {:?} ({} @ {})", a.0.dims(), b.0.dims(), a.0.dtype(), b.0.dtype()),
        got,
        want,
        t,
    ))
}

/// m, k, n by size class: the edges of the tiles (1, 63, 65, 60 = D), k = 0 and size-0 dims
/// for CI, 1000 on the GPU.
fn sizes(rng: &mut Rng, size: usize) -> (usize, usize, usize) {
    let pick = |rng: &mut Rng, l: &[usize]| l[rng.below(l.len())];
    if size >= 2 {
        let l = [1, 63, 65, 128, 1000, 1024];
        (pick(rng, &l), pick(rng, &l), pick(rng, &l))
    } else {
        let mn = [0, 1, 2, 17, 60, 63, 65];
        let k = [0, 1, 7, 16, 60, 65];
        (pick(rng, &mn), pick(rng, &k), pick(rng, &mn))
    }
}

/// Batch dims of A and B that broadcast (a missing dim, a dim of 1, an empty batch), kept
/// small when the matrices are big so an interpreter case stays well under a second.
fn batches(rng: &mut Rng, size: usize, work: usize) -> (Vec<usize>, Vec<usize>) {
    let cap = if size >= 2 { 1 << 31 } else { 70_000 };
    match rng.below(6) {
        0 => (vec![], vec![]),
        5 => (vec![0], vec![1]),
        1 if work * 3 <= cap => (vec![3], vec![3]),
        2 if work * 2 <= cap => (vec![2, 1], vec![2]),
        3 if work * 2 <= cap => (vec![2], vec![1, 1]),
        4 if work * 6 <= cap => (vec![1, 3], vec![2, 1]),
        _ => (vec![1], vec![]),
    }
}

/// One random product of `ta @ tb` with random sizes, batches and views.
fn random_product(
    device: &Device,
    rng: &mut Rng,
    size: usize,
    ta: DType,
    tb: DType,
) -> Result<Check> {
    let (m, k, n) = sizes(rng, size);
    let (ba, bb) = batches(rng, size, m * k.max(1) * n);
    let (va, vb) = (VIEWS[rng.below(4)], VIEWS[rng.below(4)]);
    let da: Vec<usize> = ba.iter().copied().chain([m, k]).collect();
    let db: Vec<usize> = bb.iter().copied().chain([k, n]).collect();
    let a = operand(&da, ta, va, device, rng)?;
    let b = operand(&db, tb, vb, device, rng)?;
    product(format!("{va:?} @ {vb:?}"), a, b)
}

/// f32 @ f32: the exact CUDA-core path (f32 FMA accumulation).
fn f32_case(device: &Device, rng: &mut Rng, size: usize) -> Result<Vec<Check>> {
    (0..2).map(|_| random_product(device, rng, size, DType::F32, DType::F32)).collect()
}

/// f64 @ f64 (gradchecks on a device).
fn f64_case(device: &Device, rng: &mut Rng, size: usize) -> Result<Vec<Check>> {
    (0..2).map(|_| random_product(device, rng, size, DType::F64, DType::F64)).collect()
}

/// Every mixed pair the CPU accepts (converted to f32 on load, stored in the left dtype).
fn mixed_case(device: &Device, rng: &mut Rng, size: usize) -> Result<Vec<Check>> {
    use DType::*;
    let pairs = [(F32, BF16), (F32, F16), (BF16, F32), (F16, F32), (BF16, F16), (F16, BF16)];
    pairs.iter().map(|&(ta, tb)| random_product(device, rng, size, ta, tb)).collect()
}

/// bf16 @ bf16 and f16 @ f16 on the tensor cores, tiles chosen as in use.
fn tc_case(device: &Device, rng: &mut Rng, size: usize) -> Result<Vec<Check>> {
    let mut out = vec![];
    for dt in [DType::BF16, DType::F16] {
        for _ in 0..2 {
            out.push(random_product(device, rng, size, dt, dt)?);
        }
    }
    Ok(out)
}

/// The device storage behind a tensor on `device`.
fn gpu(t: &Tensor) -> Result<&GpuStorage> {
    t.storage()
        .as_any()
        .downcast_ref::<GpuStorage>()
        .ok_or_else(|| Error::op("verify", "not a ptx device tensor"))
}

/// Both tensor-core tile sizes, forced, in all four orientations, with k whole or split
/// into slices (the automatic choice picks small tiles and no split for every shape the
/// interpreter can afford).
fn tc_tiles_case(device: &Device, rng: &mut Rng, size: usize) -> Result<Vec<Check>> {
    if !matches!(device, Device::Accel(_)) {
        return Ok(vec![]);
    }
    let mut out = vec![];
    let dims = |rng: &mut Rng| {
        if size >= 2 {
            [200, 300, 1000][rng.below(3)]
        } else {
            [1, 60, 65, 130][rng.below(4)]
        }
    };
    for tiles in [Tiles::Large, Tiles::Small] {
        for (va, vb) in [
            (View::Contiguous, View::Contiguous),
            (View::Contiguous, View::Transposed),
            (View::Transposed, View::Contiguous),
            (View::Transposed, View::Transposed),
        ] {
            let dt = [DType::BF16, DType::F16][rng.below(2)];
            let (m, k, n) = (dims(rng), dims(rng), dims(rng));
            let (m, n) =
                if size < 2 && m * n * k > 65 * 65 * 130 { (m.min(65), n.min(65)) } else { (m, n) };
            // A batch of 2 with B shared (stride 0) or not, or a single matrix.
            let (bt, b_bt) = [(1, 1), (2, 1), (2, 2)][rng.below(3)];
            let (a, b) = (
                operand(&[bt, m, k], dt, va, device, rng)?,
                operand(&[b_bt, k, n], dt, vb, device, rng)?,
            );
            let want = a.0.matmul(&b.0)?;
            let bd = b.1.broadcast_as([bt, k, n])?;
            let split_k = [None, Some(2), Some(3)][rng.below(3)];
            let s = matmul_with(
                gpu(&a.1)?,
                a.1.layout(),
                gpu(&bd)?,
                bd.layout(),
                Plan { tiles, split_k },
            )?;
            let got = Tensor::from_storage(std::sync::Arc::new(s), Layout::contiguous([bt, m, n]))?
                .to_device(&Device::Cpu)?;
            let what = format!(
                "{tiles:?} tiles, split k {split_k:?}, {va:?} @ {vb:?}: {:?} @ {:?} {dt}",
                a.0.dims(),
                b.0.dims()
            );
            out.push(Check::new(what, got, want, tol(dt, DType::F32, k)));
        }
    }
    // More m tiles than a rasterization group (8), the last group partial.
    let tiles = [Tiles::Large, Tiles::Small][rng.below(2)];
    let (m, k, n) = if tiles == Tiles::Large { (1100, 16, 130) } else { (577, 16, 130) };
    let (a, b) = (
        operand(&[m, k], DType::BF16, View::Contiguous, device, rng)?,
        operand(&[k, n], DType::BF16, View::Transposed, device, rng)?,
    );
    let want = a.0.matmul(&b.0)?;
    let s = matmul_with(
        gpu(&a.1)?,
        a.1.layout(),
        gpu(&b.1)?,
        b.1.layout(),
        Plan { tiles, split_k: None },
    )?;
    let got = Tensor::from_storage(std::sync::Arc::new(s), Layout::contiguous([m, n]))?
        .to_device(&Device::Cpu)?;
    out.push(Check::new(
        format!("{tiles:?} tiles, grouped CTAs: [{m}, {k}] @ [{k}, {n}] bf16"),
        got,
        want,
        tol(DType::BF16, DType::F32, k),
    ));
    Ok(out)
}

/// The products the model makes, in bf16 (tensor cores) and f32: projections `x @ W^T`,
/// attention `q @ k^T` and `p @ v` with q, k, v transposed out of `[b, t, h, d]`, the
/// hedgehog feature map `[h, b*t, d] @ [h, d, f]`, the gate's low-rank pair, and the
/// backward products `g @ W` and `x^T @ g`.
fn model_case(device: &Device, rng: &mut Rng, size: usize) -> Result<Vec<Check>> {
    let pick = |rng: &mut Rng, small: &[usize], large: &[usize]| {
        if size >= 2 {
            large[rng.below(large.len())]
        } else {
            small[rng.below(small.len())]
        }
    };
    let (b, h) = (pick(rng, &[1, 2], &[2, 4]), pick(rng, &[1, 2], &[8, 16]));
    let t = pick(rng, &[1, 17, 33], &[63, 65, 512, 1000]);
    let d = pick(rng, &[16, 60, 64], &[60, 64, 128]);
    let (dim, hidden, rank) = (h * d, pick(rng, &[24, 40], &[1024, 2816]), 16);
    let rows = b * t;
    let dt = [DType::BF16, DType::F32][rng.below(2)];
    let c = |dims: &[usize], view: View, rng: &mut Rng| operand(dims, dt, view, device, rng);
    let mut out = vec![];
    let x = c(&[b, t, dim], View::Contiguous, rng)?;
    let w = c(&[hidden, dim], View::Contiguous, rng)?;
    out.push(product("x @ W^T".into(), x.clone(), (w.0.t()?, w.1.t()?))?);
    // q, k, v: [b, t, h, d] seen as [b, h, t, d].
    let heads = |rng: &mut Rng| -> Result<(Tensor, Tensor)> {
        let (cpu, dev) = c(&[b, t, h, d], View::Contiguous, rng)?;
        Ok((cpu.transpose(1, 2)?, dev.transpose(1, 2)?))
    };
    let (q, k, v) = (heads(rng)?, heads(rng)?, heads(rng)?);
    out.push(product("q @ k^T".into(), q, (k.0.transpose(2, 3)?, k.1.transpose(2, 3)?))?);
    let p = c(&[b, h, t, t], View::Contiguous, rng)?;
    out.push(product("p @ v".into(), p, v)?);
    let f = pick(rng, &[16, 32], &[64, 128]);
    let xh = c(&[h, rows, d], View::Contiguous, rng)?;
    let wh = c(&[h, d, f], View::Contiguous, rng)?;
    out.push(product("hedgehog".into(), xh, wh)?);
    let (w1, w2) =
        (c(&[rank, dim], View::Contiguous, rng)?, c(&[dim, rank], View::Contiguous, rng)?);
    let x2 = c(&[rows, dim], View::Contiguous, rng)?;
    out.push(product("gate down".into(), x2.clone(), (w1.0.t()?, w1.1.t()?))?);
    let low = c(&[rows, rank], View::Contiguous, rng)?;
    out.push(product("gate up".into(), low, (w2.0.t()?, w2.1.t()?))?);
    let g = c(&[rows, hidden], View::Contiguous, rng)?;
    out.push(product("g @ W".into(), g.clone(), w)?);
    out.push(product("x^T @ g".into(), (x2.0.t()?, x2.1.t()?), g)?);
    Ok(out)
}

pub fn cases() -> Vec<Case> {
    vec![
        Case { family: "matmul", kernel: "matmul f32 (cuda cores)", run: f32_case },
        Case { family: "matmul", kernel: "matmul f64 (cuda cores)", run: f64_case },
        Case { family: "matmul", kernel: "matmul mixed dtypes", run: mixed_case },
        Case { family: "matmul", kernel: "matmul bf16/f16 (tensor cores)", run: tc_case },
        Case { family: "matmul", kernel: "matmul tensor-core tiles", run: tc_tiles_case },
        Case { family: "matmul", kernel: "matmul model products", run: model_case },
    ]
}
