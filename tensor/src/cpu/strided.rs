//! Walking strided operands row by row. Every element-wise CPU kernel is "for each output
//! row, run a tight loop with one stride per operand"; this module finds the rows (after
//! merging dims that are contiguous for every operand) and hands them out to rayon tasks.

use rayon::prelude::*;

/// Outputs smaller than this run on the calling thread: below it the cost of waking the
/// pool is larger than the work.
pub const PAR_MIN: usize = 1 << 15;

/// Merges adjacent dims that every operand can address with one stride, and drops size-1
/// dims. Returns the merged shape and each operand's strides over it.
pub fn coalesce<const N: usize>(
    shape: &[usize],
    strides: [&[usize]; N],
) -> (Vec<usize>, [Vec<usize>; N]) {
    let mut out_shape: Vec<usize> = Vec::with_capacity(shape.len());
    let mut out_strides: [Vec<usize>; N] = std::array::from_fn(|_| Vec::with_capacity(shape.len()));
    // Walk from the innermost dim outwards, merging into the last pushed dim when possible.
    for d in (0..shape.len()).rev() {
        if shape[d] == 1 {
            continue;
        }
        if let Some(&inner) = out_shape.last() {
            let mergeable = (0..N).all(|o| strides[o][d] == out_strides[o].last().unwrap() * inner);
            if mergeable {
                *out_shape.last_mut().unwrap() *= shape[d];
                continue;
            }
        }
        out_shape.push(shape[d]);
        for o in 0..N {
            out_strides[o].push(strides[o][d]);
        }
    }
    out_shape.reverse();
    for s in out_strides.iter_mut() {
        s.reverse();
    }
    (out_shape, out_strides)
}

/// Odometer over the outer dims of a coalesced shape, tracking each operand's offset.
struct Walker<const N: usize> {
    dims: Vec<usize>,
    strides: [Vec<usize>; N],
    idx: Vec<usize>,
    offs: [usize; N],
}

impl<const N: usize> Walker<N> {
    fn new(dims: &[usize], strides: &[Vec<usize>; N], base: [usize; N], row: usize) -> Self {
        let mut idx = vec![0; dims.len()];
        let mut offs = base;
        let mut r = row;
        for d in (0..dims.len()).rev() {
            idx[d] = r % dims[d];
            r /= dims[d];
            for o in 0..N {
                offs[o] += idx[d] * strides[o][d];
            }
        }
        Walker { dims: dims.to_vec(), strides: strides.clone(), idx, offs }
    }
    #[inline]
    fn advance(&mut self) {
        for d in (0..self.dims.len()).rev() {
            self.idx[d] += 1;
            for o in 0..N {
                self.offs[o] += self.strides[o][d];
            }
            if self.idx[d] < self.dims[d] {
                return;
            }
            for o in 0..N {
                self.offs[o] -= self.strides[o][d] * self.dims[d];
            }
            self.idx[d] = 0;
        }
    }
}

/// Calls `f(out_row, offsets, inner_strides)` for every row of a contiguous output of
/// `shape`, where `offsets[o]` is where operand `o`'s row starts and `inner_strides[o]` its
/// stride along the row. Rows are spread over rayon tasks when the output is large.
pub fn for_each_row<const N: usize, O, F>(
    out: &mut [O],
    shape: &[usize],
    strides: [&[usize]; N],
    base: [usize; N],
    f: F,
) where
    O: Send,
    F: Fn(&mut [O], [usize; N], [usize; N]) + Sync,
{
    let numel: usize = shape.iter().product();
    debug_assert_eq!(out.len(), numel);
    if numel == 0 {
        return;
    }
    let (cshape, cstrides) = coalesce(shape, strides);
    let (inner, inner_strides, outer_dims, outer_strides) = match cshape.split_last() {
        None => (1, [0; N], vec![], std::array::from_fn(|_| vec![])),
        Some((&last, rest)) => {
            let inner_strides = std::array::from_fn(|o| *cstrides[o].last().unwrap());
            let outer_strides: [Vec<usize>; N] =
                std::array::from_fn(|o| cstrides[o][..rest.len()].to_vec());
            (last, inner_strides, rest.to_vec(), outer_strides)
        }
    };
    let rows = numel / inner;
    let run = |chunk: &mut [O], first_row: usize| {
        let mut w = Walker::new(&outer_dims, &outer_strides, base, first_row);
        for row in chunk.chunks_mut(inner) {
            f(row, w.offs, inner_strides);
            w.advance();
        }
    };
    if numel < PAR_MIN || rows == 1 && inner < 2 * PAR_MIN {
        run(out, 0);
        return;
    }
    if rows == 1 {
        // One long row: split it, shifting each operand's start by the piece's position.
        let piece = (inner / (4 * rayon::current_num_threads())).max(PAR_MIN / 2);
        out.par_chunks_mut(piece).enumerate().for_each(|(i, chunk)| {
            let offs = std::array::from_fn(|o| base[o] + i * piece * inner_strides[o]);
            f(chunk, offs, inner_strides);
        });
        return;
    }
    let tasks = 4 * rayon::current_num_threads();
    let rows_per_task = rows.div_ceil(tasks).max(PAR_MIN.div_ceil(inner));
    out.par_chunks_mut(rows_per_task * inner)
        .enumerate()
        .for_each(|(i, chunk)| run(chunk, i * rows_per_task));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coalesce_merges_contiguous_dims_only() {
        let (s, [a, b]) = coalesce(&[2, 3, 4], [&[12, 4, 1], &[0, 0, 1]]);
        assert_eq!(s, vec![6, 4]);
        assert_eq!(a, vec![4, 1]);
        assert_eq!(b, vec![0, 1]);
        let (s, [a]) = coalesce(&[2, 1, 4], [&[4, 99, 1]]);
        assert_eq!((s, a), (vec![8], vec![1]));
    }

    #[test]
    fn rows_visit_every_offset_once() {
        // A transposed [5, 7] view of a [7, 5] buffer, large enough to go parallel.
        for &(r, c) in &[(5usize, 7usize), (300, 257)] {
            let mut out = vec![0usize; r * c];
            for_each_row(&mut out, &[r, c], [&[1, r]], [0], |row, [o], [s]| {
                for (i, x) in row.iter_mut().enumerate() {
                    *x = o + i * s;
                }
            });
            for i in 0..r {
                for j in 0..c {
                    assert_eq!(out[i * c + j], i + j * r);
                }
            }
        }
    }
}
