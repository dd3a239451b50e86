//! `ptx/kernels/index.cu`, launcher `ptx::ops::index`, the ops `Tensor::index_select`
//! (`index_select_b<size>`), `gather` (`gather_b<size>`), `scatter_add`
//! (`scatter_add_<dtype>`) and `index_add` (`index_keys`, the bitonic `sort_keys_local` and
//! `sort_keys_global`, `index_starts`, `index_add_<dtype>`): every dtype each takes, along a
//! random dim, repeated ids, non-contiguous operands and ids; and an id out of range (a NaN row
//! on the device, where the CPU errors). Exact: the kernels add in the CPU's order.

use super::helpers::{check, check_marked, operand, pick, pick_view, random_shape, ALL, FLOATS};
use super::{gen, Case, Check};
use tensor::tolerance::Tol;
use tensor::{DType, Device, Result, Rng, Tensor};

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

/// What the device does with an id out of range, every float dtype: ids 0 and 3 of a [3, 2]
/// table, the second out of range, give a NaN row (the CPU errors instead). Draws nothing.
fn bad_ids(device: &Device, _rng: &mut Rng, _size: usize) -> Result<Vec<Check>> {
    let mut out = vec![];
    for dtype in FLOATS {
        let table = Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], [3, 2], &Device::Cpu)?
            .to_dtype(dtype)?;
        let bad = Tensor::from_vec(vec![0i64, 3], 2, device)?;
        let got = table.to_device(device)?.index_select(&bad, 0)?;
        let want = Tensor::from_vec(vec![1.0, 2.0, f64::NAN, f64::NAN], [2, 2], &Device::Cpu)?;
        out.push(check_marked(
            format!("index_select {dtype} with an id out of range"),
            &got,
            &want,
        )?);
    }
    Ok(out)
}

pub fn cases() -> Vec<Case> {
    vec![
        Case { family: "index", kernel: "index_select_*", run: index_select },
        Case { family: "index", kernel: "gather_*", run: gather },
        Case { family: "index", kernel: "scatter_add_*", run: scatter_add },
        Case { family: "index", kernel: "index_add_* (sort, starts)", run: index_add },
        Case { family: "index", kernel: "special values: index_select of bad ids", run: bad_ids },
    ]
}
