//! Indexing kernels: index_select (embedding lookup), gather, and their scatter-add
//! adjoints, plus concatenation. Indices are i64 and checked: an out-of-range index is an
//! error naming the op, the index and the size.

use super::map::copy_strided;
use crate::host::CpuStorage;
use crate::send_ptr::SendPtr;
use crate::{bail, Elem, FloatElem, Layout, Result};
use rayon::prelude::*;

fn check_ids(op: &'static str, ids: &[i64], size: usize) -> Result<()> {
    if let Some(&bad) = ids.iter().find(|&&i| i < 0 || i as usize >= size) {
        bail!(op, "index {bad} out of range for a dim of size {size}")
    }
    Ok(())
}

fn pre_post(dims: &[usize], dim: usize) -> (usize, usize) {
    (dims[..dim].iter().product(), dims[dim + 1..].iter().product())
}

/// `out[p, j, q] = src[p, ids[j], q]`.
pub fn index_select<T: Elem>(
    src: &[T],
    layout: &Layout,
    ids: &[i64],
    dim: usize,
) -> Result<Vec<T>> {
    let dims = layout.dims();
    check_ids("index_select", ids, dims[dim])?;
    let data = copy_strided(src, layout);
    let (pre, post) = pre_post(dims, dim);
    let len = dims[dim];
    let n = ids.len();
    let mut out = vec![T::zeroed(); pre * n * post];
    if post == 0 {
        return Ok(out);
    }
    out.par_chunks_mut(post).enumerate().with_min_len(64).for_each(|(r, row)| {
        let (p, j) = (r / n.max(1), r % n.max(1));
        let s = (p * len + ids[j] as usize) * post;
        row.copy_from_slice(&data[s..s + post]);
    });
    Ok(out)
}

/// For every position of `index` (shape `idims`), the source offset it reads or writes:
/// the same position with coordinate `dim` replaced by the index value.
fn gather_offsets(
    op: &'static str,
    sdims: &[usize],
    idx: &[i64],
    idims: &[usize],
    dim: usize,
) -> Result<Vec<usize>> {
    if idims.len() != sdims.len() {
        bail!(
            op,
            "index rank {} differs from input rank {} (index {idims:?}, input {sdims:?})",
            idims.len(),
            sdims.len()
        )
    }
    for d in 0..sdims.len() {
        if d != dim && idims[d] > sdims[d] {
            bail!(op, "index shape {idims:?} exceeds input shape {sdims:?} at dim {d}")
        }
    }
    check_ids(op, idx, sdims[dim])?;
    let sstrides = crate::Shape::from(sdims).contiguous_strides();
    let mut offs = vec![0usize; idx.len()];
    let mut coord = vec![0usize; idims.len()];
    for (lin, off) in offs.iter_mut().enumerate() {
        let mut r = lin;
        for d in (0..idims.len()).rev() {
            coord[d] = r % idims[d];
            r /= idims[d];
        }
        coord[dim] = idx[lin] as usize;
        *off = coord.iter().zip(&sstrides).map(|(c, s)| c * s).sum();
    }
    Ok(offs)
}

/// torch.gather: `out[..., j, ...] = src[..., index[..., j, ...], ...]` along `dim`.
pub fn gather<T: Elem>(
    src: &[T],
    layout: &Layout,
    idx: &[i64],
    idims: &[usize],
    dim: usize,
) -> Result<Vec<T>> {
    let offs = gather_offsets("gather", layout.dims(), idx, idims, dim)?;
    let data = copy_strided(src, layout);
    Ok(offs.iter().map(|&o| data[o]).collect())
}

/// A copy of `dst` with `src[pos]` added at the gathered offset of every `index` position.
pub fn scatter_add<T: FloatElem>(
    dst: &[T],
    dl: &Layout,
    idx: &[i64],
    idims: &[usize],
    src: &[T],
    sl: &Layout,
    dim: usize,
) -> Result<Vec<T>> {
    if sl.dims() != idims {
        bail!("scatter_add", "source shape {:?} differs from index shape {idims:?}", sl.dims())
    }
    let offs = gather_offsets("scatter_add", dl.dims(), idx, idims, dim)?;
    let mut acc: Vec<T::C> = copy_strided(dst, dl).iter().map(|v| v.to_c()).collect();
    for (o, v) in offs.iter().zip(copy_strided(src, sl)) {
        acc[*o] += v.to_c();
    }
    Ok(acc.into_iter().map(T::from_c).collect())
}

/// A copy of `dst` with slice `j` of `src` added to slice `ids[j]` of `dst` along `dim`.
pub fn index_add<T: FloatElem>(
    dst: &[T],
    dl: &Layout,
    ids: &[i64],
    src: &[T],
    sl: &Layout,
    dim: usize,
) -> Result<Vec<T>> {
    let dd = dl.dims();
    let mut expect = dd.to_vec();
    expect[dim] = ids.len();
    if sl.dims() != expect.as_slice() {
        bail!(
            "index_add",
            "source shape {:?} should be {expect:?} for {} indices into {dd:?}",
            sl.dims(),
            ids.len()
        )
    }
    check_ids("index_add", ids, dd[dim])?;
    let (pre, post) = pre_post(dd, dim);
    let (len, n) = (dd[dim], ids.len());
    let s = copy_strided(src, sl);
    let mut acc: Vec<T::C> = copy_strided(dst, dl).iter().map(|v| v.to_c()).collect();
    if post == 0 {
        return Ok(acc.into_iter().map(T::from_c).collect());
    }
    // Parallel over column chunks: every thread owns whole columns, so no two write one place.
    let cols = post.min(256).max(1);
    let chunks: Vec<(usize, usize)> =
        (0..post).step_by(cols).map(|c| (c, (c + cols).min(post))).collect();
    let acc_ptr = SendPtr(acc.as_mut_ptr());
    let body = |&(c0, c1): &(usize, usize)| {
        let acc = acc_ptr;
        for p in 0..pre {
            for j in 0..n {
                let d = (p * len + ids[j] as usize) * post;
                let r = (p * n + j) * post;
                for q in c0..c1 {
                    // SAFETY: column ranges are disjoint between tasks and inside the buffer.
                    unsafe { *acc.0.add(d + q) += s[r + q].to_c() };
                }
            }
        }
    };
    if pre * n * post < 1 << 15 {
        chunks.iter().for_each(body);
    } else {
        chunks.par_iter().for_each(body);
    }
    Ok(acc.into_iter().map(T::from_c).collect())
}

/// Concatenation along `dim`; `first` fixes the element type of every part.
pub fn concat_parts<T: Elem>(
    _first: &[T],
    parts: &[(&CpuStorage, &Layout)],
    dim: usize,
) -> CpuStorage {
    let dims0 = parts[0].1.dims();
    let (pre, post) = pre_post(dims0, dim);
    let total: usize = parts.iter().map(|(_, l)| l.dims()[dim]).sum();
    let mut out = vec![T::zeroed(); pre * total * post];
    let mut at = 0;
    for (s, l) in parts {
        let data = copy_strided(T::slice(s).expect("concat: dtypes checked by caller"), l);
        let w = l.dims()[dim] * post;
        for p in 0..pre {
            let d = p * total * post + at;
            out[d..d + w].copy_from_slice(&data[p * w..(p + 1) * w]);
        }
        at += w;
    }
    T::wrap(out)
}
