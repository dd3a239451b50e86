//! `Display` for tensors: shape, dtype and the values, nested like PyTorch prints them,
//! with the middle of long dims left out.

use crate::{DType, Tensor};
use std::fmt;

const EDGE: usize = 3;
const SUMMARIZE_ABOVE: usize = 1000;

fn write_level(
    f: &mut fmt::Formatter<'_>,
    v: &[f64],
    dims: &[usize],
    strides: &[usize],
    at: usize,
    depth: usize,
    summarize: bool,
    int: bool,
) -> fmt::Result {
    if dims.is_empty() {
        return if int { write!(f, "{}", v[at] as i64) } else { write!(f, "{:.4}", v[at]) };
    }
    let n = dims[0];
    write!(f, "[")?;
    let show: Vec<Option<usize>> = if summarize && n > 2 * EDGE {
        (0..EDGE).map(Some).chain(std::iter::once(None)).chain((n - EDGE..n).map(Some)).collect()
    } else {
        (0..n).map(Some).collect()
    };
    for (k, i) in show.iter().enumerate() {
        if k > 0 {
            if dims.len() > 1 {
                write!(f, ",\n{}", " ".repeat(depth + 1))?;
            } else {
                write!(f, ", ")?;
            }
        }
        match i {
            Some(i) => write_level(
                f,
                v,
                &dims[1..],
                &strides[1..],
                at + i * strides[0],
                depth + 1,
                summarize,
                int,
            )?,
            None => write!(f, "...")?,
        }
    }
    write!(f, "]")
}

impl fmt::Display for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Tensor{:?} {} {}", self.dims(), self.dtype(), self.device())?;
        let v = match self.to_vec_f64() {
            Ok(v) => v,
            Err(e) => return write!(f, "<unreadable: {e}>"),
        };
        let strides = self.shape().contiguous_strides();
        let int = matches!(self.dtype(), DType::I64 | DType::U8);
        write_level(f, &v, self.dims(), &strides, 0, 0, self.numel() > SUMMARIZE_ABOVE, int)
    }
}

impl fmt::Debug for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tensor{:?} {} {}", self.dims(), self.dtype(), self.device())
    }
}
