//! Helpers shared by the case files: operands of the primitive kernels (dtypes, random shapes,
//! views, NaN marks), inputs of the fused ops (a float dtype, a random view, leading dims,
//! gradients) and the comparison of the sequence kernels (a sum's bound scaled to its
//! reference). Each draws from the case's `Rng` in a fixed order: moving a helper here changes
//! no seeded instance.

use super::{gen, Check};
use autograd::Var;
use tensor::tolerance::Tol;
use tensor::{DType, Device, Result, Rng, Tensor};

// ---- primitive kernels (fill, copy, elementwise, reduce, index) ----

pub const FLOATS: [DType; 4] = [DType::F32, DType::F64, DType::BF16, DType::F16];
pub const ALL: [DType; 6] =
    [DType::F32, DType::F64, DType::BF16, DType::F16, DType::I64, DType::U8];

/// How an operand is laid out; the same views are taken on the CPU and on the device.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum View {
    Contiguous,
    /// The dims reversed (a transpose for rank 2).
    Permuted,
    /// A window of a larger tensor along a random dim, starting past its start (an offset).
    Narrowed,
    /// A random dim stretched from size 1 (stride 0).
    Broadcast,
}

pub fn pick_view(rng: &mut Rng) -> View {
    [View::Contiguous, View::Permuted, View::Narrowed, View::Broadcast][rng.below(4)]
}

/// Values uniform in `[lo, hi)` (integers truncated, u8 saturated) of `shape` and `dtype`,
/// seen through `view`: `(cpu, device)`, equal element for element.
pub fn operand(
    shape: &[usize],
    dtype: DType,
    lo: f64,
    hi: f64,
    view: View,
    device: &Device,
    rng: &mut Rng,
) -> Result<(Tensor, Tensor)> {
    operand_in(shape, dtype, lo, hi, view, false, device, rng)
}

/// [`operand`], with whole numbers only when `whole` (truncated toward zero).
#[allow(clippy::too_many_arguments)]
pub fn operand_in(
    shape: &[usize],
    dtype: DType,
    lo: f64,
    hi: f64,
    view: View,
    whole: bool,
    device: &Device,
    rng: &mut Rng,
) -> Result<(Tensor, Tensor)> {
    let rank = shape.len();
    let view = if rank == 0 { View::Contiguous } else { view };
    let d = rng.below(rank.max(1));
    let start = 1 + rng.below(3);
    let base_dims: Vec<usize> = match view {
        View::Contiguous => shape.to_vec(),
        View::Permuted => shape.iter().rev().copied().collect(),
        View::Narrowed => {
            shape.iter().enumerate().map(|(i, &n)| if i == d { n + 3 } else { n }).collect()
        }
        View::Broadcast => {
            shape.iter().enumerate().map(|(i, &n)| if i == d { n.min(1) } else { n }).collect()
        }
    };
    let take = |t: Tensor| -> Result<Tensor> {
        match view {
            View::Contiguous => Ok(t),
            View::Permuted => t.permute(&(0..rank).rev().collect::<Vec<_>>()),
            View::Narrowed => t.narrow(d, start, shape[d]),
            View::Broadcast => t.broadcast_as(shape),
        }
    };
    let base = Tensor::rand_uniform(
        base_dims,
        lo,
        hi,
        if whole { DType::I64 } else { DType::F64 },
        &Device::Cpu,
        rng,
    )?
    .to_dtype(dtype)?;
    let dev = base.to_device(device)?;
    Ok((take(base)?, take(dev)?))
}

/// A comparison of a device result (downloaded first, so the check does not depend on the
/// device's own casts) with the CPU's.
pub fn check(what: String, got: &Tensor, want: &Tensor, tol: Tol) -> Result<Check> {
    Ok(Check::new(what, got.to_device(&Device::Cpu)?, want.clone(), tol))
}

/// NaN and infinities replaced by finite sentinels (as f64), so that "NaN where the CPU has
/// NaN" compares equal (the comparison counts NaN as a difference, and infinities spoil its
/// RMS check).
fn marked(t: &Tensor) -> Result<Tensor> {
    let mark = |x: f64| {
        if x.is_nan() {
            -7.7e7
        } else if x.is_infinite() {
            8.8e8f64.copysign(x)
        } else {
            x
        }
    };
    let v: Vec<f64> = t.to_device(&Device::Cpu)?.to_vec_f64()?.into_iter().map(mark).collect();
    Tensor::from_vec(v, t.dims(), &Device::Cpu)
}

/// A special-value case's comparison: exact, with NaN and the infinities [`marked`] on both
/// sides.
pub fn check_marked(what: String, got: &Tensor, want: &Tensor) -> Result<Check> {
    check(what, &marked(got)?, &marked(want)?, Tol::EXACT)
}

/// The two vectors of 37 values of the special-value cases: a third of them drawn from NaN,
/// the infinities, signed zeros, values past every integer range and u8's edge, the rest
/// uniform in [-4, 4).
pub fn special_values(rng: &mut Rng) -> (Vec<f64>, Vec<f64>) {
    let specials =
        [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -0.0, 0.0, 1e30, -1e30, 300.5, -2.5, 255.9];
    let mut draw = || -> Vec<f64> {
        (0..37)
            .map(|_| {
                if rng.below(3) == 0 {
                    specials[rng.below(specials.len())]
                } else {
                    rng.uniform() * 8.0 - 4.0
                }
            })
            .collect()
    };
    let v = draw();
    (v, draw())
}

/// Special values as a vector of `dtype`: `(cpu, device)`.
pub fn special_operand(v: &[f64], dtype: DType, device: &Device) -> Result<(Tensor, Tensor)> {
    let c = Tensor::from_vec(v.to_vec(), v.len(), &Device::Cpu)?.to_dtype(dtype)?;
    let g = c.to_device(device)?;
    Ok((c, g))
}

/// A random shape of `rank` dims drawn from `sizes`, at most `cap` elements (later dims
/// shrunk to 1 when over).
pub fn shape(rng: &mut Rng, rank: usize, sizes: &[usize], cap: usize) -> Vec<usize> {
    let mut s: Vec<usize> = (0..rank).map(|_| sizes[rng.below(sizes.len())]).collect();
    for i in (0..rank).rev() {
        if s.iter().product::<usize>() <= cap {
            break;
        }
        s[i] = 1;
    }
    s
}

/// Dim sizes by size class: 0 and 1 for CI on the interpreter, 2 large for the GPU.
pub fn sizes(size: usize) -> (&'static [usize], usize) {
    match size {
        0 => (&[1, 2, 3, 7], 200),
        1 => (&[0, 1, 5, 60, 63, 65], 1200),
        _ => (&[1, 63, 65, 1000, 4097], 1 << 22),
    }
}

pub fn random_shape(rng: &mut Rng, size: usize) -> Vec<usize> {
    let (s, cap) = sizes(size);
    let rank = 1 + rng.below(3);
    shape(rng, rank, s, cap)
}

/// One of `xs`.
pub fn pick(rng: &mut Rng, xs: &[usize]) -> usize {
    xs[rng.below(xs.len())]
}

// ---- fused ops (norm, rope, swiglu, loss, adamw, sample) ----

/// A float storage dtype for inputs: f32 most often, bf16 and f64 too.
pub fn float_dtype(rng: &mut Rng) -> DType {
    [DType::F32, DType::F32, DType::BF16, DType::F64][rng.below(4)]
}

/// Uniform values in `[lo, hi)` of `dims` and `dtype`, made on the CPU, and the same values
/// on `device`; both seen through one view drawn at random: contiguous, or two dims swapped
/// (a last dim of stride > 1, or leading dims whose strides do not merge).
pub fn view(
    dims: &[usize],
    dtype: DType,
    lo: f64,
    hi: f64,
    device: &Device,
    rng: &mut Rng,
) -> Result<(Tensor, Tensor)> {
    let r = dims.len();
    let mut perm: Vec<usize> = (0..r).collect();
    if r >= 2 && rng.below(2) == 1 {
        let (i, j) = (rng.below(r), rng.below(r));
        perm.swap(i, j);
    }
    let stored: Vec<usize> = perm.iter().map(|&p| dims[p]).collect();
    let cpu = Tensor::rand_uniform(stored, lo, hi, dtype, &Device::Cpu, rng)?;
    let dev = cpu.to_device(device)?;
    Ok((cpu.permute(&perm)?, dev.permute(&perm)?))
}

/// `rows` as leading dims: `[rows]`, or `[k, rows / k]` for a small divisor `k`.
pub fn lead(rows: usize, rng: &mut Rng) -> Vec<usize> {
    match (2..8).find(|k| rows % k == 0 && rows > *k) {
        Some(k) if rng.below(2) == 1 => vec![k, rows / k],
        _ => vec![rows],
    }
}

pub fn with(mut dims: Vec<usize>, last: usize) -> Vec<usize> {
    dims.push(last);
    dims
}

/// A device result on the host, for the comparison.
pub fn host(t: &Tensor) -> Result<Tensor> {
    t.to_device(&Device::Cpu)
}

/// The gradient of `v` in `grads`, or an error naming what is missing.
pub fn grad_of(grads: &autograd::Gradients, v: &Var, what: &str) -> Result<Tensor> {
    grads
        .get(v)
        .cloned()
        .ok_or_else(|| tensor::Error::op("verify", format!("no gradient for {what}")))
}

// ---- sequence kernels (attention, conv1d, gla) ----

/// Uniform values of `shape` on the host and the same values on `device`.
pub fn both(
    shape: &[usize],
    dtype: DType,
    lo: f64,
    hi: f64,
    device: &Device,
    rng: &mut Rng,
) -> Result<(Tensor, Tensor)> {
    gen::pair(shape, dtype, lo, hi, false, device, rng)
}

/// The largest magnitude of a tensor (the scale of its tolerance).
pub fn max_abs(t: &Tensor) -> Result<f64> {
    Ok(t.to_vec_f64()?.iter().fold(0f64, |m, x| m.max(x.abs())))
}

/// A comparison of a result that sums `n` terms in the compute type of its dtype, bounded
/// relative to the reference's largest magnitude (`Tol::accumulated` with that scale).
pub fn check_sum(what: String, got: &Tensor, want: &Tensor, n: usize) -> Result<Check> {
    let t = Tol::accumulated(want.dtype().compute(), n, max_abs(want)?.max(1e-30));
    Ok(Check::new(what, got.to_device(&Device::Cpu)?, want.clone(), t))
}
