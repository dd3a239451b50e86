//! `ptx/kernels/reduce.cu`, launcher `ptx::ops::reduce`, the ops `Tensor::sum`, `max`, `min`,
//! `logsumexp` (`reduce_<dtype>`), `argmax`, `argmin` (`argreduce_<dtype>`), `softmax`,
//! `log_softmax` (`softmax_<dtype>`) and `cumsum`, `cumsum_reverse` (`cumsum_<dtype>`): every
//! float dtype, rows of every length class along the last or a strided dim, non-contiguous
//! operands, empty dims, and NaN and infinities (the first NaN wins). Max/min, arg and
//! cumulative sums are exact (the kernels add in the CPU's order); sums in another order
//! `Tol::accumulated`.

use super::helpers::{
    check, check_marked, operand, operand_in, pick, pick_view, sizes, special_operand,
    special_values, View, FLOATS,
};
use super::{Case, Check};
use tensor::tolerance::Tol;
use tensor::{DType, Device, Result, Rng, Tensor};

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

/// Max, min, argmax and argmin of a row holding NaN and infinities, every float dtype (the
/// first NaN wins; marked so that "NaN where the CPU has NaN" compares equal).
fn special(device: &Device, rng: &mut Rng, _size: usize) -> Result<Vec<Check>> {
    let (v, _) = special_values(rng);
    let n = v.len();
    let mut out = vec![];
    for dtype in FLOATS {
        let (c, g) = special_operand(&v, dtype, device)?;
        let (c2, g2) = (c.reshape([1, n])?, g.reshape([1, n])?);
        let pairs: [(&str, Tensor, Tensor); 4] = [
            ("max", g2.max(1, false)?, c2.max(1, false)?),
            ("min", g2.min(1, false)?, c2.min(1, false)?),
            ("argmax", g2.argmax(1, false)?, c2.argmax(1, false)?),
            ("argmin", g2.argmin(1, false)?, c2.argmin(1, false)?),
        ];
        for (what, got, want) in pairs {
            out.push(check_marked(format!("{what} {dtype} with NaN/inf"), &got, &want)?);
        }
    }
    Ok(out)
}

pub fn cases() -> Vec<Case> {
    vec![
        Case { family: "reduce", kernel: "reduce_*", run: reductions },
        Case { family: "reduce", kernel: "argreduce_*", run: arg_reductions },
        Case { family: "reduce", kernel: "softmax_*", run: softmax },
        Case { family: "reduce", kernel: "cumsum_*", run: cumsum },
        Case { family: "reduce", kernel: "special values: max, min, argmax, argmin", run: special },
    ]
}
