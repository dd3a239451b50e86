//! Indexing (`kernels/index.cu`): `index_select_b<size>`, `gather_b<size>`,
//! `scatter_add_<dtype>`, and `index_add_<dtype>` after `index_keys`, the bitonic
//! `sort_keys_local`/`sort_keys_global` and `index_starts`. Deterministic (no float
//! atomics; each output element summed by one thread in the CPU's order). Indices out of
//! range cannot be reported from a kernel: they read as NaN (0 for integer data) in
//! index_select and gather and add nothing in scatter_add and index_add, where the CPU
//! returns an error; nothing is read or written out of bounds.

use super::operand::{check_view, descriptor, strided, strided_many};
use super::{bits_name, dtype_name, grid, pre_post, without_dim, FLOATS};
use crate::modules::Kernels;
use crate::runtime::{GpuStorage, KernelArg, LaunchDims};
use tensor::{bail, DType, Layout, Result, Shape};

/// `kernels/index.ptx`.
pub static KERNELS: Kernels = Kernels::new("index", || {
    let mut names = vec![];
    for fam in ["index_select", "gather"] {
        names.extend(["b1", "b2", "b4", "b8"].iter().map(|b| format!("{fam}_{b}")));
    }
    for fam in ["scatter_add", "index_add"] {
        names.extend(FLOATS.iter().map(|&d| format!("{fam}_{}", dtype_name(d))));
    }
    names.extend(
        ["index_keys", "sort_keys_local", "sort_keys_global", "index_starts"].map(String::from),
    );
    names
});

/// The bits an out-of-range index reads as: the dtype's NaN, 0 for integers.
fn bad_bits(dtype: DType) -> u64 {
    match dtype {
        DType::F32 => f32::NAN.to_bits() as u64,
        DType::F64 => f64::NAN.to_bits(),
        DType::BF16 => half::bf16::NAN.to_bits() as u64,
        DType::F16 => half::f16::NAN.to_bits() as u64,
        DType::I64 | DType::U8 => 0,
    }
}

fn check_ids(op: &'static str, ids: &GpuStorage, il: &Layout) -> Result<()> {
    if ids.dtype() != DType::I64 {
        bail!(op, "indices must be i64, got {}", ids.dtype())
    }
    check_view(op, "indices", ids, il)
}

fn check_dim(op: &'static str, l: &Layout, dim: usize) -> Result<()> {
    if dim >= l.dims().len() {
        bail!(op, "dim {dim} out of range for shape {:?}", l.dims())
    }
    Ok(())
}

/// Slices `ids` (i64, 1-D) of `dim`: `out[p, j, q] = x[p, ids[j], q]`.
pub fn index_select(
    x: &GpuStorage,
    l: &Layout,
    ids: &GpuStorage,
    il: &Layout,
    dim: usize,
) -> Result<GpuStorage> {
    const OP: &str = "index_select";
    check_dim(OP, l, dim)?;
    check_ids(OP, ids, il)?;
    if il.dims().len() != 1 {
        bail!(OP, "indices must be 1-D, got shape {:?}", il.dims())
    }
    check_view(OP, "input", x, l)?;
    let n = il.numel();
    let (pre, post) = pre_post(l.dims(), dim);
    let total = pre * n * post;
    let out = x.gpu().storage(x.dtype(), total)?;
    if total == 0 {
        return Ok(out);
    }
    let name = KERNELS.entry(&format!("index_select_{}", bits_name(x.dtype())))?;
    let args = [
        out.arg(),
        x.arg(),
        strided(OP, &without_dim(l, dim))?,
        KernelArg::I64(l.strides()[dim] as i64),
        KernelArg::I64(l.dims()[dim] as i64),
        ids.arg(),
        strided(OP, il)?,
        KernelArg::I64(n as i64),
        KernelArg::I64(post as i64),
        KernelArg::I64(total as i64),
        KernelArg::U64(bad_bits(x.dtype())),
    ];
    x.gpu().launch(name, grid(total), &args)?;
    Ok(out)
}

/// The index's shape must have `x`'s rank and fit inside it away from `dim`.
fn check_index_shape(op: &'static str, xdims: &[usize], idims: &[usize], dim: usize) -> Result<()> {
    if idims.len() != xdims.len() {
        bail!(
            op,
            "index rank {} differs from input rank {} (index {idims:?}, input {xdims:?})",
            idims.len(),
            xdims.len()
        )
    }
    for d in 0..xdims.len() {
        if d != dim && idims[d] > xdims[d] {
            bail!(op, "index shape {idims:?} exceeds input shape {xdims:?} at dim {d}")
        }
    }
    Ok(())
}

/// torch.gather along `dim`: the output has the index's shape.
pub fn gather(
    x: &GpuStorage,
    l: &Layout,
    idx: &GpuStorage,
    il: &Layout,
    dim: usize,
) -> Result<GpuStorage> {
    const OP: &str = "gather";
    check_dim(OP, l, dim)?;
    check_ids(OP, idx, il)?;
    check_index_shape(OP, l.dims(), il.dims(), dim)?;
    check_view(OP, "input", x, l)?;
    let n = il.numel();
    let out = x.gpu().storage(x.dtype(), n)?;
    if n == 0 {
        return Ok(out);
    }
    // x seen over the index's shape, the gathered dim contributing through the index.
    let mut xstrides = l.strides().to_vec();
    xstrides[dim] = 0;
    let xl = Layout::new(Shape::from(il.dims()), xstrides, l.offset());
    let d = strided_many(OP, il.dims(), &[&xl, il])?;
    let name = KERNELS.entry(&format!("gather_{}", bits_name(x.dtype())))?;
    let args = [
        out.arg(),
        x.arg(),
        d[0].clone(),
        idx.arg(),
        d[1].clone(),
        KernelArg::I64(l.strides()[dim] as i64),
        KernelArg::I64(l.dims()[dim] as i64),
        KernelArg::I64(n as i64),
        KernelArg::U64(bad_bits(x.dtype())),
    ];
    x.gpu().launch(name, grid(n), &args)?;
    Ok(out)
}

/// A copy of `x` with `src` added where `idx` points along `dim` (torch.scatter_add).
pub fn scatter_add(
    x: &GpuStorage,
    l: &Layout,
    idx: &GpuStorage,
    il: &Layout,
    src: &GpuStorage,
    sl: &Layout,
    dim: usize,
) -> Result<GpuStorage> {
    const OP: &str = "scatter_add";
    check_dim(OP, l, dim)?;
    if !x.dtype().is_float() || src.dtype() != x.dtype() {
        bail!(OP, "needs two float tensors of one dtype, got {} and {}", x.dtype(), src.dtype())
    }
    check_ids(OP, idx, il)?;
    if sl.dims() != il.dims() {
        bail!(OP, "source shape {:?} differs from index shape {:?}", sl.dims(), il.dims())
    }
    check_index_shape(OP, l.dims(), il.dims(), dim)?;
    check_view(OP, "input", x, l)?;
    check_view(OP, "source", src, sl)?;
    let n = l.numel();
    let out = x.gpu().storage(x.dtype(), n)?;
    if n == 0 {
        return Ok(out);
    }
    let name = KERNELS.entry(&format!("scatter_add_{}", dtype_name(x.dtype())))?;
    let args = [
        out.arg(),
        x.arg(),
        descriptor(OP, l.dims(), l.strides(), l.offset())?,
        idx.arg(),
        descriptor(OP, il.dims(), il.strides(), il.offset())?,
        src.arg(),
        descriptor(OP, sl.dims(), sl.strides(), sl.offset())?,
        KernelArg::I32(dim as i32),
        KernelArg::I64(n as i64),
    ];
    x.gpu().launch(name, grid(n), &args)?;
    Ok(out)
}

/// Keys a bitonic sort tile holds in shared memory (`SORT_TILE` in `kernels/index.cu`).
const SORT_TILE: usize = 2048;

/// Sorts `keys` (`p` of them, a power of two >= 2) ascending: whole tiles in shared memory,
/// then for each larger stage the steps wider than a tile over global memory and the rest
/// in tiles again.
fn sort_keys(keys: &GpuStorage, p: usize) -> Result<()> {
    let gpu = keys.gpu();
    let tile = p.min(SORT_TILE);
    let local = LaunchDims::linear((p / tile) as u32, (tile / 2) as u32);
    let (pa, ka) = (KernelArg::I64(p as i64), |k: usize| KernelArg::I64(k as i64));
    gpu.launch(KERNELS.entry("sort_keys_local")?, local, &[keys.arg(), pa.clone(), ka(0)])?;
    let mut k = 2 * tile;
    while k <= p {
        let mut j = k / 2;
        while j >= tile {
            gpu.launch(
                KERNELS.entry("sort_keys_global")?,
                grid(p / 2),
                &[keys.arg(), pa.clone(), ka(k), ka(j)],
            )?;
            j /= 2;
        }
        gpu.launch(KERNELS.entry("sort_keys_local")?, local, &[keys.arg(), pa.clone(), ka(k)])?;
        k *= 2;
    }
    Ok(())
}

/// A copy of `x` with slice `j` of `src` added to slice `ids[j]` along `dim`
/// (torch.index_add).
pub fn index_add(
    x: &GpuStorage,
    l: &Layout,
    ids: &GpuStorage,
    il: &Layout,
    src: &GpuStorage,
    sl: &Layout,
    dim: usize,
) -> Result<GpuStorage> {
    const OP: &str = "index_add";
    check_dim(OP, l, dim)?;
    if !x.dtype().is_float() || src.dtype() != x.dtype() {
        bail!(OP, "needs two float tensors of one dtype, got {} and {}", x.dtype(), src.dtype())
    }
    check_ids(OP, ids, il)?;
    if il.dims().len() != 1 {
        bail!(OP, "indices must be 1-D, got shape {:?}", il.dims())
    }
    let n = il.numel();
    let mut expect = l.dims().to_vec();
    expect[dim] = n;
    if sl.dims() != expect.as_slice() {
        bail!(
            OP,
            "source shape {:?} should be {expect:?} for {n} indices into {:?}",
            sl.dims(),
            l.dims()
        )
    }
    check_view(OP, "input", x, l)?;
    check_view(OP, "source", src, sl)?;
    let total = l.numel();
    if n == 0 || total == 0 {
        return super::copy::contiguous(x, l);
    }
    let len = l.dims()[dim];
    let post = pre_post(l.dims(), dim).1;
    if (len as u128 + 1) * n as u128 >= 1 << 62 {
        bail!(OP, "{n} indices into a dim of {len} overflow the sort keys")
    }
    let gpu = x.gpu();
    let p = n.next_power_of_two().max(2);
    let keys = gpu.storage(DType::I64, p)?;
    let starts = gpu.storage(DType::I64, len + 1)?;
    let (ni, li) = (KernelArg::I64(n as i64), KernelArg::I64(len as i64));
    gpu.launch(
        KERNELS.entry("index_keys")?,
        grid(p),
        &[
            keys.arg(),
            ids.arg(),
            strided(OP, il)?,
            ni.clone(),
            li.clone(),
            KernelArg::I64(p as i64),
        ],
    )?;
    sort_keys(&keys, p)?;
    gpu.launch(
        KERNELS.entry("index_starts")?,
        grid(len + 1),
        &[starts.arg(), keys.arg(), ni.clone(), li.clone()],
    )?;
    let out = gpu.storage(x.dtype(), total)?;
    let name = KERNELS.entry(&format!("index_add_{}", dtype_name(x.dtype())))?;
    let args = [
        out.arg(),
        x.arg(),
        strided(OP, l)?,
        src.arg(),
        strided(OP, &without_dim(sl, dim))?,
        KernelArg::I64(sl.strides()[dim] as i64),
        keys.arg(),
        starts.arg(),
        li,
        ni,
        KernelArg::I64(post as i64),
        KernelArg::I64(total as i64),
    ];
    gpu.launch(name, grid(total), &args)?;
    Ok(out)
}
