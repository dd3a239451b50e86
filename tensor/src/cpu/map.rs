//! Element-wise CPU kernels over strided inputs: copy, cast, unary, binary, comparison and
//! `where`. Floats are computed in their compute type (`FloatElem::C`).

use super::strided::for_each_row;
use crate::backend::{BinaryOp, CmpOp, UnaryOp};
use crate::host::CpuStorage;
use crate::{DType, Elem, FloatElem, Layout, Real};
use half::{bf16, f16};

/// The elements of `layout`, contiguous.
pub fn copy_strided<T: Elem>(src: &[T], layout: &Layout) -> Vec<T> {
    let n = layout.numel();
    if n == 0 {
        return vec![];
    }
    if layout.is_contiguous() {
        return src[layout.offset()..layout.offset() + n].to_vec();
    }
    let mut out = vec![T::zeroed(); n];
    for_each_row(
        &mut out,
        layout.dims(),
        [layout.strides()],
        [layout.offset()],
        |row, [o], [s]| {
            for (i, y) in row.iter_mut().enumerate() {
                *y = src[o + i * s];
            }
        },
    );
    out
}

/// Writes the elements of `src` (through `src_layout`) to the places `dst_layout` picks out
/// of `dst`, in row-major order of the shared shape.
pub fn copy_into<T: Elem>(dst: &mut [T], dst_layout: &Layout, src: &[T], src_layout: &Layout) {
    let vals = copy_strided(src, src_layout);
    if vals.is_empty() {
        // (An empty view's offset may lie past the end of its storage.)
        return;
    }
    if dst_layout.is_contiguous() {
        let o = dst_layout.offset();
        dst[o..o + vals.len()].copy_from_slice(&vals);
        return;
    }
    let (dims, strides) = (dst_layout.dims(), dst_layout.strides());
    let mut idx = vec![0usize; dims.len()];
    let mut off = dst_layout.offset();
    for v in vals {
        dst[off] = v;
        // Advance the multi-index (last dim fastest), keeping `off` in step.
        for d in (0..dims.len()).rev() {
            idx[d] += 1;
            off += strides[d];
            if idx[d] < dims[d] {
                break;
            }
            off -= strides[d] * dims[d];
            idx[d] = 0;
        }
    }
}

/// Every element converted to `dtype` (through f64, so no double rounding).
pub fn cast<T: Elem>(src: &[T], layout: &Layout, dtype: DType) -> CpuStorage {
    fn go<T: Elem, U: Elem>(src: &[T], layout: &Layout) -> CpuStorage {
        let mut out = vec![U::zeroed(); layout.numel()];
        for_each_row(
            &mut out,
            layout.dims(),
            [layout.strides()],
            [layout.offset()],
            |row, [o], [s]| {
                for (i, y) in row.iter_mut().enumerate() {
                    *y = U::from_f64_as(src[o + i * s].as_f64());
                }
            },
        );
        U::wrap(out)
    }
    if T::DTYPE == dtype {
        return T::wrap(copy_strided(src, layout));
    }
    match dtype {
        DType::F32 => go::<T, f32>(src, layout),
        DType::F64 => go::<T, f64>(src, layout),
        DType::BF16 => go::<T, bf16>(src, layout),
        DType::F16 => go::<T, f16>(src, layout),
        DType::I64 => go::<T, i64>(src, layout),
        DType::U8 => go::<T, u8>(src, layout),
    }
}

fn map1<T: FloatElem, F: Fn(T::C) -> T::C + Sync>(src: &[T], layout: &Layout, f: F) -> Vec<T> {
    let mut out = vec![T::zeroed(); layout.numel()];
    for_each_row(
        &mut out,
        layout.dims(),
        [layout.strides()],
        [layout.offset()],
        |row, [o], [s]| {
            if s == 1 {
                let n = row.len();
                for (y, x) in row.iter_mut().zip(&src[o..o + n]) {
                    *y = T::from_c(f(x.to_c()));
                }
            } else {
                for (i, y) in row.iter_mut().enumerate() {
                    *y = T::from_c(f(src[o + i * s].to_c()));
                }
            }
        },
    );
    out
}

/// `softplus(x) = log(1 + e^x)`, stable for large |x|.
#[inline(always)]
pub fn softplus<C: Real>(x: C) -> C {
    x.max(C::ZERO) + (-x.abs()).exp().ln_1p()
}

#[inline(always)]
pub fn sigmoid<C: Real>(x: C) -> C {
    if x >= C::ZERO {
        C::ONE / (C::ONE + (-x).exp())
    } else {
        let e = x.exp();
        e / (C::ONE + e)
    }
}

pub fn unary<T: FloatElem>(src: &[T], layout: &Layout, op: UnaryOp) -> Vec<T> {
    macro_rules! go {
        (|$x:ident| $e:expr) => {
            map1(src, layout, |$x: T::C| $e)
        };
    }
    let c = <T::C as Real>::from_f64;
    match op {
        UnaryOp::Neg => go!(|x| -x),
        UnaryOp::Exp => go!(|x| x.exp()),
        UnaryOp::Log => go!(|x| x.ln()),
        UnaryOp::Sqrt => go!(|x| x.sqrt()),
        UnaryOp::Rsqrt => go!(|x| T::C::ONE / x.sqrt()),
        UnaryOp::Recip => go!(|x| T::C::ONE / x),
        UnaryOp::Sqr => go!(|x| x * x),
        UnaryOp::Abs => go!(|x| x.abs()),
        UnaryOp::Relu => go!(|x| if x > T::C::ZERO { x } else { T::C::ZERO }),
        UnaryOp::Silu => go!(|x| x * sigmoid(x)),
        UnaryOp::Sigmoid => go!(|x| sigmoid(x)),
        UnaryOp::LogSigmoid => go!(|x| -softplus(-x)),
        UnaryOp::Softplus => go!(|x| softplus(x)),
        UnaryOp::Tanh => go!(|x| x.tanh()),
        UnaryOp::Elu(alpha) => {
            let a = c(alpha);
            go!(|x| if x > T::C::ZERO { x } else { a * x.exp_m1() })
        }
        UnaryOp::Powf(e) => {
            let e = c(e);
            go!(|x| x.powf(e))
        }
        UnaryOp::Affine { mul, add } => {
            let (m, a) = (c(mul), c(add));
            go!(|x| x * m + a)
        }
        UnaryOp::Clamp { min, max } => {
            let (lo, hi) = (c(min), c(max));
            go!(|x| if x < lo {
                lo
            } else if x > hi {
                hi
            } else {
                x
            })
        }
    }
}

fn map2<T: Elem, U: Elem, F: Fn(T, T) -> U + Sync>(
    a: &[T],
    la: &Layout,
    b: &[T],
    lb: &Layout,
    f: F,
) -> Vec<U> {
    let mut out = vec![U::zeroed(); la.numel()];
    for_each_row(
        &mut out,
        la.dims(),
        [la.strides(), lb.strides()],
        [la.offset(), lb.offset()],
        |row, [oa, ob], [sa, sb]| {
            let n = row.len();
            match (sa, sb) {
                (1, 1) => {
                    for ((y, &x), &z) in row.iter_mut().zip(&a[oa..oa + n]).zip(&b[ob..ob + n]) {
                        *y = f(x, z);
                    }
                }
                (1, 0) => {
                    let z = b[ob];
                    for (y, &x) in row.iter_mut().zip(&a[oa..oa + n]) {
                        *y = f(x, z);
                    }
                }
                (0, 1) => {
                    let x = a[oa];
                    for (y, &z) in row.iter_mut().zip(&b[ob..ob + n]) {
                        *y = f(x, z);
                    }
                }
                _ => {
                    for (i, y) in row.iter_mut().enumerate() {
                        *y = f(a[oa + i * sa], b[ob + i * sb]);
                    }
                }
            }
        },
    );
    out
}

pub fn binary<T: FloatElem>(a: &[T], la: &Layout, b: &[T], lb: &Layout, op: BinaryOp) -> Vec<T> {
    macro_rules! go {
        (|$x:ident, $y:ident| $e:expr) => {
            map2(a, la, b, lb, |p: T, q: T| {
                let ($x, $y) = (p.to_c(), q.to_c());
                T::from_c($e)
            })
        };
    }
    match op {
        BinaryOp::Add => go!(|x, y| x + y),
        BinaryOp::Sub => go!(|x, y| x - y),
        BinaryOp::Mul => go!(|x, y| x * y),
        BinaryOp::Div => go!(|x, y| x / y),
        BinaryOp::Max => go!(|x, y| x.max(y)),
        BinaryOp::Min => go!(|x, y| x.min(y)),
        BinaryOp::Pow => go!(|x, y| x.powf(y)),
    }
}

pub fn cmp<T: Elem>(a: &[T], la: &Layout, b: &[T], lb: &Layout, op: CmpOp) -> Vec<u8> {
    macro_rules! go {
        (|$x:ident, $y:ident| $e:expr) => {
            map2(a, la, b, lb, |p: T, q: T| {
                let ($x, $y) = (p.as_f64(), q.as_f64());
                $e as u8
            })
        };
    }
    match op {
        CmpOp::Eq => go!(|x, y| x == y),
        CmpOp::Ne => go!(|x, y| x != y),
        CmpOp::Lt => go!(|x, y| x < y),
        CmpOp::Le => go!(|x, y| x <= y),
        CmpOp::Gt => go!(|x, y| x > y),
        CmpOp::Ge => go!(|x, y| x >= y),
    }
}

pub fn where_cond<C: Elem, T: Elem>(
    c: &[C],
    lc: &Layout,
    t: &[T],
    lt: &Layout,
    f: &[T],
    lf: &Layout,
) -> Vec<T> {
    let mut out = vec![T::zeroed(); lc.numel()];
    for_each_row(
        &mut out,
        lc.dims(),
        [lc.strides(), lt.strides(), lf.strides()],
        [lc.offset(), lt.offset(), lf.offset()],
        |row, [oc, ot, of], [sc, st, sf]| {
            for (i, y) in row.iter_mut().enumerate() {
                *y = if c[oc + i * sc].as_f64() != 0.0 { t[ot + i * st] } else { f[of + i * sf] };
            }
        },
    );
    out
}
