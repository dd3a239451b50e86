//! Shapes and strided layouts: the pure index arithmetic behind zero-copy views
//! (reshape, permute, narrow, broadcast, squeeze/unsqueeze). No data is touched here.

use crate::{bail, Result};

/// A tensor's dimensions, outermost first. `[]` is a scalar.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Shape(Vec<usize>);

impl Shape {
    pub fn dims(&self) -> &[usize] {
        &self.0
    }
    pub fn rank(&self) -> usize {
        self.0.len()
    }
    /// Number of elements, 1 for a scalar.
    pub fn numel(&self) -> usize {
        self.0.iter().product()
    }
    /// Row-major strides of a contiguous tensor of this shape.
    pub fn contiguous_strides(&self) -> Vec<usize> {
        let mut strides = vec![0; self.0.len()];
        let mut s = 1;
        for (i, &d) in self.0.iter().enumerate().rev() {
            strides[i] = s;
            s *= d.max(1);
        }
        strides
    }
    pub fn into_vec(self) -> Vec<usize> {
        self.0
    }
}

impl std::fmt::Debug for Shape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.0)
    }
}
impl std::fmt::Display for Shape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.0)
    }
}
impl From<Vec<usize>> for Shape {
    fn from(v: Vec<usize>) -> Self {
        Shape(v)
    }
}
impl From<&Vec<usize>> for Shape {
    fn from(v: &Vec<usize>) -> Self {
        Shape(v.clone())
    }
}
impl From<&[usize]> for Shape {
    fn from(v: &[usize]) -> Self {
        Shape(v.to_vec())
    }
}
impl<const N: usize> From<[usize; N]> for Shape {
    fn from(v: [usize; N]) -> Self {
        Shape(v.to_vec())
    }
}
impl<const N: usize> From<&[usize; N]> for Shape {
    fn from(v: &[usize; N]) -> Self {
        Shape(v.to_vec())
    }
}
impl From<()> for Shape {
    fn from(_: ()) -> Self {
        Shape(vec![])
    }
}
impl From<usize> for Shape {
    fn from(v: usize) -> Self {
        Shape(vec![v])
    }
}
impl From<&Shape> for Shape {
    fn from(s: &Shape) -> Self {
        s.clone()
    }
}

/// The shape two operands broadcast to (NumPy rules: align on the right, 1 stretches).
pub fn broadcast_shapes(op: &'static str, a: &[usize], b: &[usize]) -> Result<Shape> {
    let rank = a.len().max(b.len());
    let mut out = vec![0; rank];
    for i in 0..rank {
        let da = if i + a.len() >= rank { a[i + a.len() - rank] } else { 1 };
        let db = if i + b.len() >= rank { b[i + b.len() - rank] } else { 1 };
        out[i] = if da == db {
            da
        } else if da == 1 {
            db
        } else if db == 1 {
            da
        } else {
            bail!(op, "shapes {a:?} and {b:?} do not broadcast (dim {i}: {da} vs {db})")
        };
    }
    Ok(Shape(out))
}

/// Where each element of a tensor lives in its storage: `offset + sum(index[i] * strides[i])`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    shape: Shape,
    strides: Vec<usize>,
    offset: usize,
}

impl Layout {
    pub fn contiguous(shape: impl Into<Shape>) -> Self {
        let shape = shape.into();
        let strides = shape.contiguous_strides();
        Layout { shape, strides, offset: 0 }
    }
    pub fn new(shape: Shape, strides: Vec<usize>, offset: usize) -> Self {
        debug_assert_eq!(shape.rank(), strides.len());
        Layout { shape, strides, offset }
    }
    pub fn shape(&self) -> &Shape {
        &self.shape
    }
    pub fn dims(&self) -> &[usize] {
        self.shape.dims()
    }
    pub fn strides(&self) -> &[usize] {
        &self.strides
    }
    pub fn offset(&self) -> usize {
        self.offset
    }
    pub fn numel(&self) -> usize {
        self.shape.numel()
    }
    /// Row-major contiguous (dims of size 1 may have any stride; an empty tensor always is).
    pub fn is_contiguous(&self) -> bool {
        if self.numel() == 0 {
            return true;
        }
        let mut expect = 1;
        for (&d, &s) in self.dims().iter().zip(&self.strides).rev() {
            if d != 1 && s != expect {
                return false;
            }
            expect *= d;
        }
        true
    }
    /// One past the largest storage index this layout touches (0 for an empty tensor).
    pub fn storage_extent(&self) -> usize {
        if self.numel() == 0 {
            return 0;
        }
        self.offset
            + self.dims().iter().zip(&self.strides).map(|(&d, &s)| (d - 1) * s).sum::<usize>()
            + 1
    }

    pub fn check_dim(&self, op: &'static str, dim: usize) -> Result<()> {
        if dim >= self.shape.rank() {
            bail!(op, "dim {dim} out of range for shape {:?}", self.dims())
        }
        Ok(())
    }

    /// A view with the dims reordered: new dim `i` is old dim `perm[i]`.
    pub fn permute(&self, perm: &[usize]) -> Result<Layout> {
        let rank = self.shape.rank();
        let mut seen = vec![false; rank];
        if perm.len() != rank
            || perm.iter().any(|&p| p >= rank || std::mem::replace(&mut seen[p], true))
        {
            bail!("permute", "{perm:?} is not a permutation of the dims of shape {:?}", self.dims())
        }
        let dims = perm.iter().map(|&p| self.dims()[p]).collect::<Vec<_>>();
        let strides = perm.iter().map(|&p| self.strides[p]).collect();
        Ok(Layout { shape: Shape(dims), strides, offset: self.offset })
    }

    pub fn transpose(&self, a: usize, b: usize) -> Result<Layout> {
        let rank = self.shape.rank();
        if a >= rank || b >= rank {
            bail!("transpose", "dims ({a}, {b}) out of range for shape {:?}", self.dims())
        }
        let mut perm: Vec<usize> = (0..rank).collect();
        perm.swap(a, b);
        self.permute(&perm)
    }

    /// Elements `start..start+len` along `dim`.
    pub fn narrow(&self, dim: usize, start: usize, len: usize) -> Result<Layout> {
        self.check_dim("narrow", dim)?;
        let size = self.dims()[dim];
        if start.checked_add(len).map_or(true, |e| e > size) {
            bail!(
                "narrow",
                "range {start}..{} out of bounds for dim {dim} of shape {:?}",
                start + len,
                self.dims()
            )
        }
        let mut dims = self.dims().to_vec();
        dims[dim] = len;
        let offset = if len == 0 { self.offset } else { self.offset + start * self.strides[dim] };
        Ok(Layout { shape: Shape(dims), strides: self.strides.clone(), offset })
    }

    /// A view stretched to `target` (size-1 dims and missing leading dims get stride 0).
    pub fn broadcast_as(&self, target: &[usize]) -> Result<Layout> {
        let rank = target.len();
        let own = self.dims();
        if own.len() > rank {
            bail!("broadcast_as", "cannot broadcast shape {own:?} to {target:?}")
        }
        let lead = rank - own.len();
        let mut strides = vec![0; rank];
        for i in 0..own.len() {
            if own[i] == target[lead + i] {
                strides[lead + i] = self.strides[i];
            } else if own[i] == 1 {
                strides[lead + i] = 0;
            } else {
                bail!("broadcast_as", "cannot broadcast shape {own:?} to {target:?}")
            }
        }
        Ok(Layout { shape: Shape(target.to_vec()), strides, offset: self.offset })
    }

    /// The same elements with a new shape, without copying, when the strides allow it
    /// (PyTorch's `view` rule); `None` when a copy is needed.
    pub fn reshape(&self, new: &[usize]) -> Option<Layout> {
        let old = self.dims();
        debug_assert_eq!(old.iter().product::<usize>(), new.iter().product::<usize>());
        if self.is_contiguous() {
            return Some(Layout {
                shape: Shape(new.to_vec()),
                strides: Shape::from(new).contiguous_strides(),
                offset: self.offset,
            });
        }
        if self.numel() == 0 {
            return Some(Layout {
                shape: Shape(new.to_vec()),
                strides: Shape::from(new).contiguous_strides(),
                offset: self.offset,
            });
        }
        let mut new_strides = vec![0usize; new.len()];
        let mut view_d = new.len() as isize - 1;
        let mut chunk_base = *self.strides.last()?;
        let mut tensor_numel = 1usize;
        let mut view_numel = 1usize;
        for td in (0..old.len()).rev() {
            tensor_numel *= old[td];
            let boundary =
                td == 0 || (old[td - 1] != 1 && self.strides[td - 1] != tensor_numel * chunk_base);
            if boundary {
                while view_d >= 0 && (view_numel < tensor_numel || new[view_d as usize] == 1) {
                    new_strides[view_d as usize] = view_numel * chunk_base;
                    view_numel *= new[view_d as usize];
                    view_d -= 1;
                }
                if view_numel != tensor_numel {
                    return None;
                }
                if td > 0 {
                    chunk_base = self.strides[td - 1];
                    tensor_numel = 1;
                    view_numel = 1;
                }
            }
        }
        if view_d != -1 {
            return None;
        }
        Some(Layout { shape: Shape(new.to_vec()), strides: new_strides, offset: self.offset })
    }

    pub fn squeeze(&self, dim: usize) -> Result<Layout> {
        self.check_dim("squeeze", dim)?;
        if self.dims()[dim] != 1 {
            bail!(
                "squeeze",
                "dim {dim} of shape {:?} has size {}, not 1",
                self.dims(),
                self.dims()[dim]
            )
        }
        let mut dims = self.dims().to_vec();
        let mut strides = self.strides.clone();
        dims.remove(dim);
        strides.remove(dim);
        Ok(Layout { shape: Shape(dims), strides, offset: self.offset })
    }

    pub fn unsqueeze(&self, dim: usize) -> Result<Layout> {
        if dim > self.shape.rank() {
            bail!("unsqueeze", "dim {dim} out of range for shape {:?}", self.dims())
        }
        let mut dims = self.dims().to_vec();
        let mut strides = self.strides.clone();
        let s = if dim < strides.len() { strides[dim] * dims[dim] } else { 1 };
        dims.insert(dim, 1);
        strides.insert(dim, s);
        Ok(Layout { shape: Shape(dims), strides, offset: self.offset })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reshape_views_when_strides_allow() {
        let l = Layout::contiguous([2, 3, 4]);
        let t = l.transpose(0, 1).unwrap(); // [3, 2, 4], strides [4, 12, 1]
        assert!(t.reshape(&[24]).is_none());
        let m = t.reshape(&[3, 2, 2, 2]).unwrap();
        assert_eq!(m.strides(), &[4, 12, 2, 1]);
        let n = l.narrow(2, 1, 2).unwrap();
        assert!(n.reshape(&[6, 2]).is_some());
        assert!(n.reshape(&[12]).is_none());
    }

    #[test]
    fn broadcast_rules() {
        assert_eq!(broadcast_shapes("t", &[3, 1], &[4]).unwrap().dims(), &[3, 4]);
        assert!(broadcast_shapes("t", &[3, 2], &[4]).is_err());
        assert_eq!(broadcast_shapes("t", &[0, 1], &[1, 5]).unwrap().dims(), &[0, 5]);
    }
}
