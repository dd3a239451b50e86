//! The one operand format of every kernel (`ptx/kernels/common.cuh`): a strided view,
//! `struct Strided { i64 offset; i32 rank; i32 pad; i64 dims[8]; i64 strides[8]; }`, and, for
//! kernels that convert any float storage type on load, `struct Operand { ptr; i32 dtype code;
//! i32 pad; Strided view; }` (160 bytes, one by-value parameter). The dtype codes are
//! [`dtype_code`]'s, the one list (`DT_*` in `common.cuh`).
//!
//! A view is laid out one of three ways, as the kernel walks it:
//! * **flat** ([`strided`], [`Operand::flat`]): dims merged wherever memory allows, so element
//!   `i` in row-major order is found by one index walk (`at`, `strided_at`);
//! * **by dim** ([`Operand::arg`], [`descriptor`]): the dims as they are, for kernels that
//!   index an operand's dims by name (`at3(v, b, t, c)`);
//! * **rows** ([`Operand::rows`]): the leading dims merged, the last kept, for kernels that
//!   walk the rows of a `[.., D]` operand (`row_at(v, i) + j * col_stride(v)`).
//!
//! Every builder first checks that every element the view reaches lies inside its buffer, so
//! no kernel can read or write past one, whatever the view.

use crate::runtime::{GpuDevice, GpuStorage, KernelArg};
use tensor::{bail, DType, Layout, Result};

/// Dims a `Strided` descriptor holds (`MAX_DIMS` in `ptx/kernels/common.cuh`).
pub const MAX_DIMS: usize = 8;

/// The code of a float storage dtype in the kernels (`DT_F32` ... in `common.cuh`); an error
/// naming the kernel and the operand for ids and bytes.
pub fn dtype_code(kernel: &str, what: &str, dtype: DType) -> Result<i32> {
    Ok(match dtype {
        DType::F32 => 0,
        DType::F64 => 1,
        DType::BF16 => 2,
        DType::F16 => 3,
        DType::I64 | DType::U8 => {
            bail!("ptx", "{kernel}: {what} is {dtype}, the kernel reads floats")
        }
    })
}

/// An error unless every element `layout` addresses lies inside `s`.
pub fn check_view(kernel: &str, what: &str, s: &GpuStorage, layout: &Layout) -> Result<()> {
    if layout.storage_extent() > s.len() {
        bail!(
            "ptx",
            "{kernel}: {what}: the view {:?} (strides {:?}, offset {}) reaches past a storage of \
             {} elements",
            layout.dims(),
            layout.strides(),
            layout.offset(),
            s.len()
        )
    }
    Ok(())
}

/// The `Strided` bytes of `layout`, flat: its dims merged where they are one run in memory,
/// so that any rank fits when the memory allows.
pub fn strided(kernel: &str, layout: &Layout) -> Result<KernelArg> {
    strided_many(kernel, layout.dims(), &[layout]).map(|mut v| v.remove(0))
}

/// Flat descriptors of several operands seen over one shape (a binary op's broadcast
/// operands), merged together so that element `i` of each is found by the same index walk.
pub fn strided_many(kernel: &str, dims: &[usize], layouts: &[&Layout]) -> Result<Vec<KernelArg>> {
    let (shape, strides) = merge(dims, layouts);
    if shape.len() > MAX_DIMS {
        bail!(
            "ptx",
            "{kernel}: a view of shape {dims:?} has {} dims after merging, kernels take at most \
             {MAX_DIMS}",
            shape.len()
        )
    }
    layouts.iter().zip(strides).map(|(l, s)| descriptor(kernel, &shape, &s, l.offset())).collect()
}

/// `dims` without its size-1 dims, neighbours merged where every layout has them as one run.
fn merge(dims: &[usize], layouts: &[&Layout]) -> (Vec<usize>, Vec<Vec<usize>>) {
    let mut shape: Vec<usize> = vec![];
    let mut strides: Vec<Vec<usize>> = vec![vec![]; layouts.len()];
    for (d, &n) in dims.iter().enumerate() {
        if n == 1 {
            continue;
        }
        let mergeable = !shape.is_empty()
            && layouts
                .iter()
                .zip(&strides)
                .all(|(l, s)| s.last().copied() == Some(l.strides()[d] * n));
        if mergeable {
            *shape.last_mut().expect("not empty") *= n;
            for (l, s) in layouts.iter().zip(strides.iter_mut()) {
                *s.last_mut().expect("not empty") = l.strides()[d];
            }
        } else {
            shape.push(n);
            for (l, s) in layouts.iter().zip(strides.iter_mut()) {
                s.push(l.strides()[d]);
            }
        }
    }
    (shape, strides)
}

/// The `Strided` bytes for exactly these dims and strides (no merging).
pub fn descriptor(
    kernel: &str,
    dims: &[usize],
    strides: &[usize],
    offset: usize,
) -> Result<KernelArg> {
    Ok(KernelArg::Bytes(descriptor_bytes(kernel, dims, strides, offset)?))
}

fn descriptor_bytes(
    kernel: &str,
    dims: &[usize],
    strides: &[usize],
    offset: usize,
) -> Result<Vec<u8>> {
    if dims.len() > MAX_DIMS || strides.len() != dims.len() {
        bail!(
            "ptx",
            "{kernel}: a view of shape {dims:?} (strides {strides:?}) does not fit a kernel's \
             descriptor (at most {MAX_DIMS} dims)"
        )
    }
    let mut b = Vec::with_capacity(16 + 16 * MAX_DIMS);
    b.extend((offset as i64).to_le_bytes());
    b.extend((dims.len() as i32).to_le_bytes());
    b.extend(0i32.to_le_bytes());
    for i in 0..MAX_DIMS {
        b.extend((*dims.get(i).unwrap_or(&1) as i64).to_le_bytes());
    }
    for i in 0..MAX_DIMS {
        b.extend((*strides.get(i).unwrap_or(&0) as i64).to_le_bytes());
    }
    Ok(b)
}

/// A device operand: storage and the layout it is seen through. Inputs, fresh outputs and
/// in-place operands alike; the launcher checks each for its role.
#[derive(Clone, Copy, Debug)]
pub struct Operand<'a> {
    pub storage: &'a GpuStorage,
    pub layout: &'a Layout,
}

impl<'a> Operand<'a> {
    pub fn new(storage: &'a GpuStorage, layout: &'a Layout) -> Operand<'a> {
        Operand { storage, layout }
    }
    pub fn dims(&self) -> &'a [usize] {
        self.layout.dims()
    }
    pub fn dtype(&self) -> DType {
        self.storage.dtype()
    }
    pub fn gpu(&self) -> &'a GpuDevice {
        self.storage.gpu()
    }
    /// An error unless the operand's shape is `dims`.
    pub fn expect(&self, kernel: &str, what: &str, dims: &[usize]) -> Result<()> {
        if self.dims() != dims {
            bail!("ptx", "{kernel}: {what} has shape {:?}, expected {dims:?}", self.dims())
        }
        Ok(())
    }
    /// `struct Operand` of a float input indexed by dim, after checking its shape is `dims`.
    pub fn arg(&self, kernel: &str, what: &str, dims: &[usize]) -> Result<KernelArg> {
        self.expect(kernel, what, dims)?;
        let l = self.layout;
        self.bytes(kernel, what, l.dims(), l.strides())
    }
    /// `struct Operand` of a float input walked flat (element `i` in row-major order).
    pub fn flat(&self, kernel: &str, what: &str) -> Result<KernelArg> {
        let (shape, strides) = merge(self.dims(), &[self.layout]);
        self.bytes(kernel, what, &shape, &strides[0])
    }
    /// `struct Operand` of a `[.., D]` float input walked by rows: the leading dims merged,
    /// the last kept (rank >= 1).
    pub fn rows(&self, kernel: &str, what: &str) -> Result<KernelArg> {
        let l = self.layout;
        let Some((&d, lead)) = l.dims().split_last() else {
            bail!("ptx", "{kernel}: {what} must have rank >= 1, got a scalar")
        };
        let lead_layout = Layout::new(lead.into(), l.strides()[..lead.len()].to_vec(), l.offset());
        let (mut shape, mut strides) = merge(lead, &[&lead_layout]);
        shape.push(d);
        strides[0].push(*l.strides().last().expect("rank >= 1"));
        self.bytes(kernel, what, &shape, &strides[0])
    }
    fn bytes(
        &self,
        kernel: &str,
        what: &str,
        dims: &[usize],
        strides: &[usize],
    ) -> Result<KernelArg> {
        check_view(kernel, what, self.storage, self.layout)?;
        let code = dtype_code(kernel, what, self.dtype())?;
        let view = descriptor_bytes(kernel, dims, strides, self.layout.offset())?;
        let mut b = Vec::with_capacity(16 + view.len());
        b.extend(self.storage.addr().to_le_bytes());
        b.extend(code.to_le_bytes());
        b.extend(0i32.to_le_bytes());
        b.extend(view);
        Ok(KernelArg::Bytes(b))
    }
    /// An i64 input walked flat (targets, ids): `[pointer, Strided]`.
    pub fn ids(&self, kernel: &str, what: &str) -> Result<[KernelArg; 2]> {
        if self.dtype() != DType::I64 {
            bail!("ptx", "{kernel}: {what} must be i64, got {}", self.dtype())
        }
        check_view(kernel, what, self.storage, self.layout)?;
        Ok([self.storage.arg(), strided(kernel, self.layout)?])
    }
    /// A fresh output the kernel writes: shape `dims`, dtype `dtype`, contiguous; the address
    /// of its first element.
    pub fn out(&self, kernel: &str, what: &str, dims: &[usize], dtype: DType) -> Result<KernelArg> {
        self.expect(kernel, what, dims)?;
        if self.dtype() != dtype {
            bail!("ptx", "{kernel}: {what} is {}, the kernel writes {dtype}", self.dtype())
        }
        let l = self.layout;
        if !l.is_contiguous() {
            bail!("ptx", "{kernel}: {what} must be contiguous, got strides {:?}", l.strides())
        }
        check_view(kernel, what, self.storage, l)?;
        let offset = if l.numel() == 0 { 0 } else { l.offset() };
        Ok(KernelArg::Ptr(self.storage.addr() + (offset * dtype.size_in_bytes()) as u64))
    }
    /// An operand read and written in place through its view, laid out by dim: `[pointer of
    /// the compute type, Strided]`, after checking its shape is `dims`, its dtype `dtype`, and
    /// no two of its elements share an address (a broadcast view would be written twice).
    pub fn inplace(
        &self,
        kernel: &str,
        what: &str,
        dims: &[usize],
        dtype: DType,
    ) -> Result<[KernelArg; 2]> {
        self.expect(kernel, what, dims)?;
        if self.dtype() != dtype {
            bail!("ptx", "{kernel}: {what} is {}, the kernel computes in {dtype}", self.dtype())
        }
        if self.dims().iter().zip(self.layout.strides()).any(|(&d, &s)| d > 1 && s == 0) {
            bail!("ptx", "{kernel}: {what} is a broadcast view, which cannot be written in place")
        }
        check_view(kernel, what, self.storage, self.layout)?;
        let l = self.layout;
        Ok([self.storage.arg(), descriptor(kernel, l.dims(), l.strides(), l.offset())?])
    }
}

/// The compute dtype of a kernel family for `dtype`, and the entry suffix: f64 computes in
/// f64, every other float in f32.
pub fn compute(dtype: DType) -> (DType, &'static str) {
    match dtype {
        DType::F64 => (DType::F64, "f64"),
        DType::F32 | DType::BF16 | DType::F16 | DType::I64 | DType::U8 => (DType::F32, "f32"),
    }
}

/// The compute dtype a fused kernel writes, from its output's dtype (f32 or f64), and the
/// entry suffix; an error naming the kernel family for any other.
pub fn compute_out(family: &str, what: &str, dtype: DType) -> Result<(DType, &'static str)> {
    match dtype {
        DType::F32 => Ok((DType::F32, "f32")),
        DType::F64 => Ok((DType::F64, "f64")),
        DType::BF16 | DType::F16 | DType::I64 | DType::U8 => {
            bail!("ptx", "{family}: computes in f32 or f64, {what} is {dtype}")
        }
    }
}

/// `n` as an i64 kernel argument.
pub fn i64_arg(n: usize) -> KernelArg {
    KernelArg::I64(n as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn word(b: &[u8], i: usize) -> i64 {
        i64::from_le_bytes(b[i * 8..i * 8 + 8].try_into().unwrap())
    }

    /// Views merge to the fewest dims every operand can walk, and a descriptor holds the
    /// bytes of `struct Strided`.
    #[test]
    fn descriptors_merge_together() {
        let a = Layout::contiguous([2, 3, 4]);
        let b = Layout::contiguous([3, 4]).broadcast_as(&[2, 3, 4]).unwrap();
        let d = strided_many("t", a.dims(), &[&a, &b]).unwrap();
        let KernelArg::Bytes(bytes) = &d[1] else { panic!("bytes") };
        assert_eq!(bytes.len(), 16 + 16 * MAX_DIMS);
        // rank 2: dims [2, 12], strides [0, 1] for the broadcast operand.
        assert_eq!(bytes[8], 2);
        assert_eq!((word(bytes, 2), word(bytes, 3)), (2, 12));
        assert_eq!((word(bytes, 2 + MAX_DIMS), word(bytes, 3 + MAX_DIMS)), (0, 1));
        let t = a.transpose(0, 2).unwrap();
        assert!(matches!(strided("t", &t).unwrap(), KernelArg::Bytes(b) if b[8] == 3));
    }

    /// Rows keep the last dim and merge the others; by-dim keeps every dim.
    #[test]
    fn rows_keep_the_last_dim() {
        let l = Layout::contiguous([2, 3, 4]);
        let (shape, strides) = merge(&l.dims()[..2], &[&Layout::contiguous([2, 3]).clone()]);
        assert_eq!((shape, strides), (vec![6], vec![vec![1]]));
        let t = Layout::contiguous([4, 6]).transpose(0, 1).unwrap();
        let (shape, strides) = merge(t.dims(), &[&t]);
        assert_eq!((shape, strides), (vec![6, 4], vec![vec![1, 6]]));
    }
}
