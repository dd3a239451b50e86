//! `ptx/kernels/copy.cu`, launcher `ptx::ops::copy`, the ops `Tensor::contiguous`, `cat`,
//! `slice_assign` (`copy_b1/b2/b4/b8`) and `to_dtype` (`cast_S_U`): every dtype, awkward shapes
//! (sizes 1, 63, 65, D = 60, size-0 dims), operands permuted, narrowed with an offset or
//! broadcast, and casts of NaN, infinities and values past every integer range. Exact, but
//! for f64 -> bf16/f16, where the CPU's rounding can be an ulp off near ties.

use super::helpers::{
    check, operand, pick_view, random_shape, special_operand, special_values, View, ALL, FLOATS,
};
use super::{Case, Check};
use tensor::tolerance::Tol;
use tensor::{DType, Device, Result, Rng, Tensor};

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

/// Casts of NaN, infinities and huge values to i64 and u8, every float dtype (`cast_*`; the
/// CPU casts as Rust's `as` does: saturating, NaN to 0).
fn special_casts(device: &Device, rng: &mut Rng, _size: usize) -> Result<Vec<Check>> {
    let (v, _) = special_values(rng);
    let mut out = vec![];
    for dtype in FLOATS {
        let (c, g) = special_operand(&v, dtype, device)?;
        for to in [DType::I64, DType::U8] {
            out.push(check(
                format!("cast {dtype} -> {to} of NaN/inf/huge"),
                &g.to_dtype(to)?,
                &c.to_dtype(to)?,
                Tol::EXACT,
            )?);
        }
    }
    Ok(out)
}

pub fn cases() -> Vec<Case> {
    vec![
        Case { family: "copy", kernel: "copy_b*: contiguous, cat, slice_assign", run: copies },
        Case { family: "copy", kernel: "cast_*", run: casts },
        Case {
            family: "copy",
            kernel: "special values: cast_* of NaN, inf, huge",
            run: special_casts,
        },
    ]
}
