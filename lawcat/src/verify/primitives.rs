//! Cases of the primitive kernels (`ptx/kernels/{fill,copy,elementwise,reduce,index}.cu`):
//! every `tensor` op a backend implements, for every dtype it takes, on awkward shapes (sizes
//! 1, 63, 65, 1000, D = 60, size-0 dims) and non-contiguous operands (permuted, narrowed with
//! an offset, broadcast with stride 0), each against the CPU reference. Copies, casts,
//! comparisons, selections, max/min/arg, cumulative sums and the scatters are exact (the
//! kernels add in the CPU's order); transcendental maps allow a few ulps
//! (`Tol::elementwise`), sums in another order `Tol::accumulated`.

use super::{gen, Case, Check};
use tensor::tolerance::Tol;
use tensor::{BinaryOp, CmpOp, DType, Device, Result, Rng, Tensor, UnaryOp};

const FLOATS: [DType; 4] = [DType::F32, DType::F64, DType::BF16, DType::F16];
const ALL: [DType; 6] = [DType::F32, DType::F64, DType::BF16, DType::F16, DType::I64, DType::U8];

/// How an operand is laid out; the same views are taken on the CPU and on the device.
#[derive(Clone, Copy, Debug, PartialEq)]
enum View {
    Contiguous,
    /// The dims reversed (a transpose for rank 2).
    Permuted,
    /// A window of a larger tensor along a random dim, starting past its start (an offset).
    Narrowed,
    /// A random dim stretched from size 1 (stride 0).
    Broadcast,
}

fn pick_view(rng: &mut Rng) -> View {
    [View::Contiguous, View::Permuted, View::Narrowed, View::Broadcast][rng.below(4)]
}

/// Values uniform in `[lo, hi)` (integers truncated, u8 saturated) of `shape` and `dtype`,
/// seen through `view`: `(cpu, device)`, equal element for element.
fn operand(
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
fn operand_in(
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
fn check(what: String, got: &Tensor, want: &Tensor, tol: Tol) -> Result<Check> {
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

/// A random shape of `rank` dims drawn from `sizes`, at most `cap` elements (later dims
/// shrunk to 1 when over).
fn shape(rng: &mut Rng, rank: usize, sizes: &[usize], cap: usize) -> Vec<usize> {
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
fn sizes(size: usize) -> (&'static [usize], usize) {
    match size {
        0 => (&[1, 2, 3, 7], 200),
        1 => (&[0, 1, 5, 60, 63, 65], 1200),
        _ => (&[1, 63, 65, 1000, 4097], 1 << 22),
    }
}

fn random_shape(rng: &mut Rng, size: usize) -> Vec<usize> {
    let (s, cap) = sizes(size);
    let rank = 1 + rng.below(3);
    shape(rng, rank, s, cap)
}

/// Constants made on the device (`fill.cu`).
fn fill(device: &Device, rng: &mut Rng, size: usize) -> Result<Vec<Check>> {
    let n = gen::len(rng, size, &[0, 1, 63, 65], &[1000, 1 << 20]);
    let mut out = vec![];
    for dtype in [DType::F32, DType::F64, DType::BF16, DType::F16, DType::I64] {
        let v = rng.uniform() * 100.0 - 50.0;
        let (got, want) =
            (Tensor::full(v, n, dtype, device)?, Tensor::full(v, n, dtype, &Device::Cpu)?);
        out.push(Check::new(
            format!("full {dtype} [{n}]"),
            got.to_device(&Device::Cpu)?,
            want,
            Tol::EXACT,
        ));
        let s = rng.below(100) as i64 - 50;
        let (got, want) = (
            Tensor::arange(s, s + n as i64, dtype, device)?,
            Tensor::arange(s, s + n as i64, dtype, &Device::Cpu)?,
        );
        out.push(Check::new(
            format!("arange {dtype} [{n}]"),
            got.to_device(&Device::Cpu)?,
            want,
            Tol::EXACT,
        ));
    }
    Ok(out)
}

/// Strided views made contiguous, joined (`cat`) and written into a window
/// (`slice_assign`), every dtype (`copy_b*`).
fn copies(device: &Device, rng: &mut Rng, size: usize) -> Result<Vec<Check>> {
    let mut out = vec![];
    for dtype in ALL {
        let s = random_shape(rng, size);
        let view = pick_view(rng);
        let (c, g) = operand(&s, dtype, -50.0, 200.0, view, device, rng)?;
        out.push(check(
            format!("contiguous {dtype} {s:?} {view:?}"),
            &g.contiguous()?,
            &c.contiguous()?,
            Tol::EXACT,
        )?);
        // cat of three parts along a random dim, each with its own view.
        let dim = rng.below(s.len());
        let (mut cs, mut gs) = (vec![], vec![]);
        for _ in 0..3 {
            let mut p = s.clone();
            p[dim] = [0, 1, 3, 5][rng.below(4)];
            let v = pick_view(rng);
            let (a, b) = operand(&p, dtype, -50.0, 200.0, v, device, rng)?;
            cs.push(a);
            gs.push(b);
        }
        let want = Tensor::cat(&cs.iter().collect::<Vec<_>>(), dim)?;
        let got = Tensor::cat(&gs.iter().collect::<Vec<_>>(), dim)?;
        out.push(check(
            format!(
                "cat {dtype} dim {dim} of {:?}",
                cs.iter().map(|t| t.dims().to_vec()).collect::<Vec<_>>()
            ),
            &got,
            &want,
            Tol::EXACT,
        )?);
        // slice_assign: a window of a (viewed) destination overwritten by a (viewed) source.
        // (Not a broadcast destination: its elements alias, and parallel writes to one place race.)
        let dv = [View::Contiguous, View::Permuted, View::Narrowed][rng.below(3)];
        let (mut cd, mut gd) = operand(&s, dtype, -50.0, 200.0, dv, device, rng)?;
        let w = rng.below(s[dim] + 1);
        let at = rng.below(s[dim] - w + 1);
        let mut p = s.clone();
        p[dim] = w;
        let (cs, gs) = operand(&p, dtype, -50.0, 200.0, pick_view(rng), device, rng)?;
        cd.slice_assign(dim, at, &cs)?;
        gd.slice_assign(dim, at, &gs)?;
        out.push(check(
            format!("slice_assign {dtype} {s:?} dim {dim} at {at} width {w}"),
            &gd,
            &cd,
            Tol::EXACT,
        )?);
    }
    Ok(out)
}

/// Every dtype to every other (`cast_S_U`): negative, fractional, past u8's range.
fn casts(device: &Device, rng: &mut Rng, size: usize) -> Result<Vec<Check>> {
    let mut out = vec![];
    for src in ALL {
        let s = random_shape(rng, size);
        let view = pick_view(rng);
        let (c, g) = operand(&s, src, -300.0, 300.0, view, device, rng)?;
        for dst in ALL {
            if dst == src {
                continue;
            }
            // The CPU's f64 -> bf16/f16 (the half crate) can be an ulp from a correctly rounded
            // result near ties (see copy.cu); every other pair rounds the same way exactly.
            let tol = if src == DType::F64 && matches!(dst, DType::BF16 | DType::F16) {
                Tol::elementwise(dst)
            } else {
                Tol::EXACT
            };
            out.push(check(
                format!("cast {src} -> {dst} {s:?} {view:?}"),
                &g.to_dtype(dst)?,
                &c.to_dtype(dst)?,
                tol,
            )?);
        }
    }
    Ok(out)
}

/// The input range of each unary op (positive where the op needs it).
fn unary_range(op: UnaryOp) -> (f64, f64) {
    match op {
        UnaryOp::Log | UnaryOp::Sqrt | UnaryOp::Rsqrt | UnaryOp::Powf(_) => (0.05, 4.0),
        UnaryOp::Recip => (0.25, 3.0),
        UnaryOp::Exp => (-6.0, 6.0),
        UnaryOp::Neg
        | UnaryOp::Sqr
        | UnaryOp::Abs
        | UnaryOp::Relu
        | UnaryOp::Silu
        | UnaryOp::Sigmoid
        | UnaryOp::LogSigmoid
        | UnaryOp::Softplus
        | UnaryOp::Tanh
        | UnaryOp::Elu(_)
        | UnaryOp::Affine { .. }
        | UnaryOp::Clamp { .. } => (-12.0, 12.0),
    }
}

/// Every UnaryOp on every float dtype (`unary_<dtype>`).
fn unary(device: &Device, rng: &mut Rng, size: usize) -> Result<Vec<Check>> {
    let ops = [
        UnaryOp::Neg,
        UnaryOp::Exp,
        UnaryOp::Log,
        UnaryOp::Sqrt,
        UnaryOp::Rsqrt,
        UnaryOp::Recip,
        UnaryOp::Sqr,
        UnaryOp::Abs,
        UnaryOp::Relu,
        UnaryOp::Silu,
        UnaryOp::Sigmoid,
        UnaryOp::LogSigmoid,
        UnaryOp::Softplus,
        UnaryOp::Tanh,
        UnaryOp::Elu(0.7),
        UnaryOp::Powf(1.7),
        UnaryOp::Affine { mul: 0.3, add: -1.25 },
        UnaryOp::Clamp { min: -2.0, max: 3.5 },
    ];
    let mut out = vec![];
    for dtype in FLOATS {
        let s = random_shape(rng, size);
        let view = pick_view(rng);
        for op in ops {
            let (lo, hi) = unary_range(op);
            let (c, g) = operand(&s, dtype, lo, hi, view, device, rng)?;
            out.push(check(
                format!("{op:?} {dtype} {s:?} {view:?}"),
                &g.unary(op)?,
                &c.unary(op)?,
                Tol::elementwise(dtype),
            )?);
        }
    }
    Ok(out)
}

/// Two operands of one shape, or one of them broadcast from a size-1 or missing dim.
fn binary_shapes(rng: &mut Rng, size: usize) -> (Vec<usize>, Vec<usize>) {
    let s = random_shape(rng, size);
    let mut t = s.clone();
    match rng.below(3) {
        0 => {}
        1 => {
            let d = rng.below(t.len());
            t[d] = 1;
        }
        _ => {
            t.remove(0);
        }
    }
    if rng.below(2) == 0 {
        (s, t)
    } else {
        (t, s)
    }
}

/// Every BinaryOp on every float dtype, broadcasting (`binary_<dtype>`).
fn binary(device: &Device, rng: &mut Rng, size: usize) -> Result<Vec<Check>> {
    let ops = [
        BinaryOp::Add,
        BinaryOp::Sub,
        BinaryOp::Mul,
        BinaryOp::Div,
        BinaryOp::Max,
        BinaryOp::Min,
        BinaryOp::Pow,
    ];
    let mut out = vec![];
    for dtype in FLOATS {
        let (sa, sb) = binary_shapes(rng, size);
        let (va, vb) = (pick_view(rng), pick_view(rng));
        for op in ops {
            let (la, ha, lb, hb) = match op {
                BinaryOp::Pow => (0.1, 3.0, -2.0, 2.0),
                BinaryOp::Div => (-4.0, 4.0, 0.5, 2.0),
                BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Max | BinaryOp::Min => {
                    (-4.0, 4.0, -4.0, 4.0)
                }
            };
            let (ca, ga) = operand(&sa, dtype, la, ha, va, device, rng)?;
            let (cb, gb) = operand(&sb, dtype, lb, hb, vb, device, rng)?;
            out.push(check(
                format!("{op:?} {dtype} {sa:?} {va:?} with {sb:?} {vb:?}"),
                &ga.binary(&gb, op)?,
                &ca.binary(&cb, op)?,
                Tol::elementwise(dtype),
            )?);
        }
    }
    Ok(out)
}

/// Every CmpOp on every dtype, on small integers so that ties happen (`cmp_<dtype>`).
fn compare(device: &Device, rng: &mut Rng, size: usize) -> Result<Vec<Check>> {
    let ops = [CmpOp::Eq, CmpOp::Ne, CmpOp::Lt, CmpOp::Le, CmpOp::Gt, CmpOp::Ge];
    let mut out = vec![];
    for dtype in ALL {
        let (sa, sb) = binary_shapes(rng, size);
        let (va, vb) = (pick_view(rng), pick_view(rng));
        let (ca, ga) = operand(&sa, DType::I64, 0.0, 4.0, va, device, rng)?;
        let (cb, gb) = operand(&sb, DType::I64, 0.0, 4.0, vb, device, rng)?;
        let (ca, ga, cb, gb) =
            (ca.to_dtype(dtype)?, ga.to_dtype(dtype)?, cb.to_dtype(dtype)?, gb.to_dtype(dtype)?);
        for op in ops {
            out.push(check(
                format!("{op:?} {dtype} {sa:?} with {sb:?}"),
                &ga.compare(&gb, op)?,
                &ca.compare(&cb, op)?,
                Tol::EXACT,
            )?);
        }
    }
    Ok(out)
}

/// where(cond, t, f) for every condition dtype and every branch dtype, broadcasting
/// (`where_<cond>_b<size>`).
fn where_cond(device: &Device, rng: &mut Rng, size: usize) -> Result<Vec<Check>> {
    let mut out = vec![];
    for cd in ALL {
        let s = random_shape(rng, size);
        let (cc, gc) = operand(&s, DType::I64, -1.0, 2.0, pick_view(rng), device, rng)?;
        let (cc, gc) = (cc.to_dtype(cd)?, gc.to_dtype(cd)?);
        for vd in ALL {
            let mut st = s.clone();
            st[rng.below(s.len())] = 1;
            let (ct, gt) = operand(&st, vd, -9.0, 9.0, pick_view(rng), device, rng)?;
            let (cf, gf) = operand(&s, vd, 10.0, 30.0, pick_view(rng), device, rng)?;
            out.push(check(
                format!("where {cd} ? {vd} : {vd} {s:?}"),
                &gc.where_cond(&gt, &gf)?,
                &cc.where_cond(&ct, &cf)?,
                Tol::EXACT,
            )?);
        }
    }
    Ok(out)
}

/// One of `xs`.
fn pick(rng: &mut Rng, xs: &[usize]) -> usize {
    xs[rng.below(xs.len())]
}

/// A shape for a reduction and the dim reduced: rows of each length class (1, 3, 60 small;
/// 63, 65, 1000 and 9000 — long enough to be reduced in parts — for the second class; up to
/// 2^20 large), with up to two more dims before or after (so the dim is the last one or a
/// strided one).
fn reduce_shape(rng: &mut Rng, size: usize) -> (Vec<usize>, usize) {
    let len = match size {
        0 => pick(rng, &[1, 3, 60]),
        1 => pick(rng, &[63, 65, 1000, 9000]),
        _ => pick(rng, &[1000, 4097, 65536, 1 << 20]),
    };
    let cap = sizes(size).1.max(len);
    let (mut s, mut dim) = (vec![len], 0);
    for _ in 0..rng.below(3) {
        let o = pick(rng, &[1, 2, 5, 33]);
        if s.iter().product::<usize>() * o <= cap {
            let at = rng.below(s.len() + 1);
            s.insert(at, o);
            if at <= dim {
                dim += 1;
            }
        }
    }
    (s, dim)
}

/// Sum, max, min and logsumexp along a dim, every float dtype (`reduce_<dtype>`).
fn reductions(device: &Device, rng: &mut Rng, size: usize) -> Result<Vec<Check>> {
    let mut out = vec![];
    for dtype in FLOATS {
        let (s, dim) = reduce_shape(rng, size);
        let view = pick_view(rng);
        // A broadcast view may repeat one value along the summed dim: a sum of n equal terms,
        // whose rounding error grows like n^2 u |x| in any order (not like the n u |x| of
        // random signs the bound assumes); whole numbers sum exactly in every order instead.
        let (c, g) =
            operand_in(&s, dtype, -3.0, 3.0, view, matches!(view, View::Broadcast), device, rng)?;
        let n = s[dim];
        let what = |op: &str| format!("{op} {dtype} {s:?} dim {dim} {view:?}");
        out.push(check(
            what("sum"),
            &g.sum(dim, false)?,
            &c.sum(dim, false)?,
            Tol::accumulated(dtype, n, 3.0),
        )?);
        out.push(check(what("max"), &g.max(dim, true)?, &c.max(dim, true)?, Tol::EXACT)?);
        out.push(check(what("min"), &g.min(dim, false)?, &c.min(dim, false)?, Tol::EXACT)?);
        out.push(check(
            what("logsumexp"),
            &g.logsumexp(dim, false)?,
            &c.logsumexp(dim, false)?,
            Tol::accumulated(dtype, n, 3.0),
        )?);
        // A sum over an empty dim is 0.
        let mut e = s.clone();
        e[dim] = 0;
        let (c0, g0) = operand(&e, dtype, -3.0, 3.0, View::Contiguous, device, rng)?;
        out.push(check(
            what("sum of empty"),
            &g0.sum(dim, true)?,
            &c0.sum(dim, true)?,
            Tol::EXACT,
        )?);
    }
    Ok(out)
}

/// Argmax and argmin along a dim on small integers (ties: the first index wins), every
/// float dtype (`argreduce_<dtype>`).
fn arg_reductions(device: &Device, rng: &mut Rng, size: usize) -> Result<Vec<Check>> {
    let mut out = vec![];
    for dtype in FLOATS {
        let (s, dim) = reduce_shape(rng, size);
        let view = pick_view(rng);
        let (c, g) = operand(&s, DType::I64, -3.0, 4.0, view, device, rng)?;
        let (c, g) = (c.to_dtype(dtype)?, g.to_dtype(dtype)?);
        out.push(check(
            format!("argmax {dtype} {s:?} dim {dim} {view:?}"),
            &g.argmax(dim, false)?,
            &c.argmax(dim, false)?,
            Tol::EXACT,
        )?);
        out.push(check(
            format!("argmin {dtype} {s:?} dim {dim} {view:?}"),
            &g.argmin(dim, true)?,
            &c.argmin(dim, true)?,
            Tol::EXACT,
        )?);
    }
    Ok(out)
}

/// Softmax and log-softmax along a dim, every float dtype (`softmax_<dtype>`).
fn softmax(device: &Device, rng: &mut Rng, size: usize) -> Result<Vec<Check>> {
    let mut out = vec![];
    for dtype in FLOATS {
        let (s, dim) = reduce_shape(rng, size);
        let view = pick_view(rng);
        let (c, g) = operand(&s, dtype, -6.0, 6.0, view, device, rng)?;
        let tol = Tol::accumulated(dtype, s[dim], 1.0);
        out.push(check(
            format!("softmax {dtype} {s:?} dim {dim} {view:?}"),
            &g.softmax(dim)?,
            &c.softmax(dim)?,
            tol,
        )?);
        let tol = Tol::accumulated(dtype, s[dim], 8.0);
        out.push(check(
            format!("log_softmax {dtype} {s:?} dim {dim} {view:?}"),
            &g.log_softmax(dim)?,
            &c.log_softmax(dim)?,
            tol,
        )?);
    }
    Ok(out)
}

/// Inclusive cumulative sums, forward and from the end, every float dtype (`cumsum_<dtype>`).
fn cumsum(device: &Device, rng: &mut Rng, size: usize) -> Result<Vec<Check>> {
    let mut out = vec![];
    for dtype in FLOATS {
        let (s, dim) = reduce_shape(rng, size);
        let view = pick_view(rng);
        let (c, g) = operand(&s, dtype, -3.0, 3.0, view, device, rng)?;
        out.push(check(
            format!("cumsum {dtype} {s:?} dim {dim} {view:?}"),
            &g.cumsum(dim)?,
            &c.cumsum(dim)?,
            Tol::EXACT,
        )?);
        out.push(check(
            format!("cumsum_reverse {dtype} {s:?} dim {dim} {view:?}"),
            &g.cumsum_reverse(dim)?,
            &c.cumsum_reverse(dim)?,
            Tol::EXACT,
        )?);
    }
    Ok(out)
}

/// Random ids in `0..len` (with repeats) as i64 `[n]`, on both devices; narrowed from a longer
/// vector now and then (an offset).
fn ids(n: usize, len: usize, device: &Device, rng: &mut Rng) -> Result<(Tensor, Tensor)> {
    let pad = rng.below(2) * 2;
    let v: Vec<i64> = (0..n + pad).map(|_| rng.below(len.max(1)) as i64).collect();
    let c = Tensor::from_vec(v, n + pad, &Device::Cpu)?.narrow(0, pad, n)?;
    let g = c.to_device(device)?;
    Ok((c, g))
}

/// index_select along a random dim, every dtype (`index_select_b*`).
fn index_select(device: &Device, rng: &mut Rng, size: usize) -> Result<Vec<Check>> {
    let mut out = vec![];
    for dtype in ALL {
        let mut s = random_shape(rng, size);
        let dim = rng.below(s.len());
        s[dim] = s[dim].max(1);
        let view = pick_view(rng);
        let (c, g) = operand(&s, dtype, -50.0, 200.0, view, device, rng)?;
        let n = match size {
            0 => pick(rng, &[0, 1, 7]),
            1 => pick(rng, &[1, 65]),
            _ => pick(rng, &[65, 1000, 50_000]),
        };
        let (ci, gi) = ids(n, s[dim], device, rng)?;
        out.push(check(
            format!("index_select {dtype} {s:?} dim {dim} {view:?} {n} ids"),
            &g.index_select(&gi, dim)?,
            &c.index_select(&ci, dim)?,
            Tol::EXACT,
        )?);
    }
    Ok(out)
}

/// An index for gather/scatter_add on `s` along `dim`: its shape fits inside `s` away from
/// `dim` (any length at `dim`), values in range.
fn gather_index(
    s: &[usize],
    dim: usize,
    size: usize,
    device: &Device,
    rng: &mut Rng,
) -> Result<(Tensor, Tensor, Vec<usize>)> {
    let mut is: Vec<usize> = s.iter().map(|&n| if n == 0 { 0 } else { 1 + rng.below(n) }).collect();
    is[dim] = gen::len(rng, size, &[1, 2, 5], &[65, 300]);
    let (c, g) = operand(&is, DType::I64, 0.0, s[dim] as f64, pick_view(rng), device, rng)?;
    Ok((c, g, is))
}

/// torch.gather along a random dim, every dtype (`gather_b*`).
fn gather(device: &Device, rng: &mut Rng, size: usize) -> Result<Vec<Check>> {
    let mut out = vec![];
    for dtype in ALL {
        let mut s = random_shape(rng, size);
        let dim = rng.below(s.len());
        s[dim] = s[dim].max(1);
        let view = pick_view(rng);
        let (c, g) = operand(&s, dtype, -50.0, 200.0, view, device, rng)?;
        let (ci, gi, is) = gather_index(&s, dim, size, device, rng)?;
        out.push(check(
            format!("gather {dtype} {s:?} dim {dim} {view:?} index {is:?}"),
            &g.gather(&gi, dim)?,
            &c.gather(&ci, dim)?,
            Tol::EXACT,
        )?);
    }
    Ok(out)
}

/// torch.scatter_add along a random dim, every float dtype, many indices per target
/// (`scatter_add_<dtype>`; exact: the kernel adds in the CPU's order).
fn scatter_add(device: &Device, rng: &mut Rng, size: usize) -> Result<Vec<Check>> {
    let mut out = vec![];
    for dtype in FLOATS {
        let mut s = random_shape(rng, size);
        let dim = rng.below(s.len());
        s[dim] = s[dim].max(1);
        let (c, g) = operand(&s, dtype, -2.0, 2.0, pick_view(rng), device, rng)?;
        let (ci, gi, is) = gather_index(&s, dim, size, device, rng)?;
        let (cs, gs) = operand(&is, dtype, -2.0, 2.0, pick_view(rng), device, rng)?;
        out.push(check(
            format!("scatter_add {dtype} {s:?} dim {dim} index {is:?}"),
            &g.scatter_add(&gi, &gs, dim)?,
            &c.scatter_add(&ci, &cs, dim)?,
            Tol::EXACT,
        )?);
    }
    Ok(out)
}

/// torch.index_add along a random dim, every float dtype, repeated ids (`index_keys`, the
/// bitonic sort, `index_starts`, `index_add_<dtype>`; exact: the CPU's order). The larger
/// size classes take enough ids (over 2048) for the sort's steps across tiles.
fn index_add(device: &Device, rng: &mut Rng, size: usize) -> Result<Vec<Check>> {
    let mut out = vec![];
    for (i, dtype) in FLOATS.into_iter().enumerate() {
        let (mut s, n) = if size >= 1 && i == 0 {
            (vec![5, 2], if size == 1 { 2100 } else { 70_000 })
        } else {
            (random_shape(rng, size), gen::len(rng, size, &[0, 1, 7, 63], &[65, 1000, 5000]))
        };
        let dim = rng.below(s.len());
        s[dim] = s[dim].max(1);
        let (c, g) = operand(&s, dtype, -2.0, 2.0, pick_view(rng), device, rng)?;
        let (ci, gi) = ids(n, s[dim], device, rng)?;
        let mut ss = s.clone();
        ss[dim] = n;
        let (cs, gs) = operand(&ss, dtype, -2.0, 2.0, pick_view(rng), device, rng)?;
        out.push(check(
            format!("index_add {dtype} {s:?} dim {dim} {n} ids"),
            &g.index_add(&gi, &gs, dim)?,
            &c.index_add(&ci, &cs, dim)?,
            Tol::EXACT,
        )?);
    }
    Ok(out)
}

/// NaN, infinities and out-of-range values where the CPU defines the result: max/min and
/// argmax/argmin (the first NaN wins), relu, maximum/minimum, comparisons, where with a NaN
/// condition, casts of NaN/inf/huge values to integers; and what the device does with an
/// out-of-range index (NaN rows; the CPU errors instead).
fn special_values(device: &Device, rng: &mut Rng, _size: usize) -> Result<Vec<Check>> {
    let specials =
        [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -0.0, 0.0, 1e30, -1e30, 300.5, -2.5, 255.9];
    let n = 37;
    let v: Vec<f64> = (0..n)
        .map(|_| {
            if rng.below(3) == 0 {
                specials[rng.below(specials.len())]
            } else {
                rng.uniform() * 8.0 - 4.0
            }
        })
        .collect();
    let w: Vec<f64> = (0..n)
        .map(|_| {
            if rng.below(3) == 0 {
                specials[rng.below(specials.len())]
            } else {
                rng.uniform() * 8.0 - 4.0
            }
        })
        .collect();
    let mut out = vec![];
    for dtype in FLOATS {
        let c = Tensor::from_vec(v.clone(), n, &Device::Cpu)?.to_dtype(dtype)?;
        let d = Tensor::from_vec(w.clone(), n, &Device::Cpu)?.to_dtype(dtype)?;
        let (g, h) = (c.to_device(device)?, d.to_device(device)?);
        let (c2, g2) = (c.reshape([1, n])?, g.reshape([1, n])?);
        let pairs: [(&str, Tensor, Tensor); 9] = [
            ("max", g2.max(1, false)?, c2.max(1, false)?),
            ("min", g2.min(1, false)?, c2.min(1, false)?),
            ("argmax", g2.argmax(1, false)?, c2.argmax(1, false)?),
            ("argmin", g2.argmin(1, false)?, c2.argmin(1, false)?),
            ("relu", g.relu()?, c.relu()?),
            ("maximum", g.maximum(&h)?, c.maximum(&d)?),
            ("minimum", g.minimum(&h)?, c.minimum(&d)?),
            ("le", g.le(&h)?, c.le(&d)?),
            ("where", g.where_cond(&h, &g)?, c.where_cond(&d, &c)?),
        ];
        for (what, got, want) in pairs {
            out.push(check(
                format!("{what} {dtype} with NaN/inf"),
                &marked(&got)?,
                &marked(&want)?,
                Tol::EXACT,
            )?);
        }
        for to in [DType::I64, DType::U8] {
            out.push(check(
                format!("cast {dtype} -> {to} of NaN/inf/huge"),
                &g.to_dtype(to)?,
                &c.to_dtype(to)?,
                Tol::EXACT,
            )?);
        }
        // Ids 0 and 3 of a [3, 2] table, the second out of range: a NaN row on the device.
        let table = Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], [3, 2], &Device::Cpu)?
            .to_dtype(dtype)?;
        let bad = Tensor::from_vec(vec![0i64, 3], 2, device)?;
        let got = table.to_device(device)?.index_select(&bad, 0)?;
        let want = Tensor::from_vec(vec![1.0, 2.0, f64::NAN, f64::NAN], [2, 2], &Device::Cpu)?;
        out.push(check(
            format!("index_select {dtype} with an id out of range"),
            &marked(&got)?,
            &marked(&want)?,
            Tol::EXACT,
        )?);
    }
    Ok(out)
}

pub fn cases() -> Vec<Case> {
    vec![
        Case { kernel: "fill, arange", run: fill },
        Case { kernel: "copy_b*: contiguous, cat, slice_assign", run: copies },
        Case { kernel: "cast_*", run: casts },
        Case { kernel: "unary_*", run: unary },
        Case { kernel: "binary_*", run: binary },
        Case { kernel: "cmp_*", run: compare },
        Case { kernel: "where_*", run: where_cond },
        Case { kernel: "reduce_*", run: reductions },
        Case { kernel: "argreduce_*", run: arg_reductions },
        Case { kernel: "softmax_*", run: softmax },
        Case { kernel: "cumsum_*", run: cumsum },
        Case { kernel: "index_select_*", run: index_select },
        Case { kernel: "gather_*", run: gather },
        Case { kernel: "scatter_add_*", run: scatter_add },
        Case { kernel: "index_add_* (sort, starts)", run: index_add },
        Case { kernel: "special values (NaN, inf, bad ids)", run: special_values },
    ]
}
