//! Moving elements (`kernels/copy.cu`): strided copies by element size (`copy_b1/b2/b4/b8`)
//! behind `contiguous`, `concat` and `copy_into`, and casts between every pair of dtypes
//! (`cast_S_U`). Copies between two dense runs are device-to-device memcpys.

use super::operand::{check_view, strided, strided_many};
use super::{bits_name, dtype_name, grid, ALL};
use crate::modules::Kernels;
use crate::runtime::{GpuStorage, KernelArg};
use tensor::{bail, DType, Layout, Result, Shape};

/// `kernels/copy.ptx`: the copies by element size and the casts of every ordered pair.
pub static KERNELS: Kernels = Kernels::new("copy", || {
    let mut names: Vec<String> =
        ["b1", "b2", "b4", "b8"].iter().map(|b| format!("copy_{b}")).collect();
    for a in ALL {
        names.extend(ALL.iter().filter(|&&b| b != a).map(|&b| cast_name(a, b)));
    }
    names
});

fn copy_name(dtype: DType) -> String {
    format!("copy_{}", bits_name(dtype))
}

fn cast_name(from: DType, to: DType) -> String {
    format!("cast_{}_{}", dtype_name(from), dtype_name(to))
}

/// Writes the elements of `src` seen through `sl` to the places `dl` picks out of `dst`, in
/// row-major order of their (equal) shapes. Both views must lie inside their storages and
/// must not overlap.
fn copy_view(
    op: &'static str,
    dst: &GpuStorage,
    dl: &Layout,
    src: &GpuStorage,
    sl: &Layout,
) -> Result<()> {
    if dl.dims() != sl.dims() {
        bail!(op, "shapes differ: {:?} into {:?}", sl.dims(), dl.dims())
    }
    if dst.dtype() != src.dtype() {
        bail!(op, "dtypes differ: {} into {}", src.dtype(), dst.dtype())
    }
    check_view(op, "destination", dst, dl)?;
    check_view(op, "source", src, sl)?;
    let n = sl.numel();
    if n == 0 {
        return Ok(());
    }
    let size = src.dtype().size_in_bytes();
    if dl.is_contiguous() && sl.is_contiguous() {
        let (d, s) =
            (dst.addr() + (dl.offset() * size) as u64, src.addr() + (sl.offset() * size) as u64);
        return dst.gpu().backend().dtod(d, s, n * size);
    }
    let d = strided_many(op, dl.dims(), &[dl, sl])?;
    let name = KERNELS.entry(&copy_name(src.dtype()))?;
    dst.gpu().launch(
        name,
        grid(n),
        &[dst.arg(), d[0].clone(), src.arg(), d[1].clone(), KernelArg::I64(n as i64)],
    )
}

/// The elements of `l`, contiguous, in new storage.
pub fn contiguous(x: &GpuStorage, l: &Layout) -> Result<GpuStorage> {
    let out = x.gpu().storage(x.dtype(), l.numel())?;
    copy_view("contiguous", &out, &Layout::contiguous(l.dims()), x, l)?;
    Ok(out)
}

/// Every element of `l` converted to `dtype` (`cast_S_U`; see `kernels/copy.cu` for the
/// rounding and saturation rules, those of `tensor::cpu::map::cast`).
pub fn cast(x: &GpuStorage, l: &Layout, dtype: DType) -> Result<GpuStorage> {
    if dtype == x.dtype() {
        return contiguous(x, l);
    }
    check_view("cast", "input", x, l)?;
    let n = l.numel();
    let out = x.gpu().storage(dtype, n)?;
    if n == 0 {
        return Ok(out);
    }
    let name = KERNELS.entry(&cast_name(x.dtype(), dtype))?;
    x.gpu().launch(
        name,
        grid(n),
        &[out.arg(), x.arg(), strided("cast", l)?, KernelArg::I64(n as i64)],
    )?;
    Ok(out)
}

/// The parts joined along `dim` (equal dtypes, equal shapes but for `dim`): each part is
/// copied into its window of the output.
pub fn concat(parts: &[(&GpuStorage, &Layout)], dim: usize) -> Result<GpuStorage> {
    let Some(&(first, fl)) = parts.first() else { bail!("concat", "no parts given") };
    let rank = fl.dims().len();
    if dim >= rank {
        bail!("concat", "dim {dim} out of range for shape {:?}", fl.dims())
    }
    let mut out_dims = fl.dims().to_vec();
    out_dims[dim] = 0;
    for (s, l) in parts {
        let same_other =
            l.dims().len() == rank && (0..rank).all(|d| d == dim || l.dims()[d] == fl.dims()[d]);
        if !same_other {
            bail!("concat", "shapes {:?} and {:?} differ outside dim {dim}", fl.dims(), l.dims())
        }
        if s.dtype() != first.dtype() {
            bail!("concat", "dtypes differ: {} and {}", first.dtype(), s.dtype())
        }
        out_dims[dim] += l.dims()[dim];
    }
    let out_shape = Shape::from(out_dims);
    let out = first.gpu().storage(first.dtype(), out_shape.numel())?;
    let strides = out_shape.contiguous_strides();
    let mut at = 0;
    for (s, l) in parts {
        let window = Layout::new(Shape::from(l.dims()), strides.clone(), at * strides[dim]);
        copy_view("concat", &out, &window, s, l)?;
        at += l.dims()[dim];
    }
    Ok(out)
}

/// Writes `src` (through `sl`) into the places `dl` picks out of `dst`, in place.
pub fn copy_into(dst: &mut GpuStorage, dl: &Layout, src: &GpuStorage, sl: &Layout) -> Result<()> {
    copy_view("copy_into", dst, dl, src, sl)
}
