//! The algorithmic reference for matmul: three loops in f64, on strided operands.
//! Every fast path in this folder is tested against it.

/// `C[i][j] = sum_p A[i][p] * B[p][j]` with A, B given by (data, offset, row stride,
/// column stride); C comes back row-major `[m, n]`.
#[allow(clippy::too_many_arguments)]
pub fn matmul_naive(
    m: usize,
    n: usize,
    k: usize,
    a: &[f64],
    a_off: usize,
    a_rs: usize,
    a_cs: usize,
    b: &[f64],
    b_off: usize,
    b_rs: usize,
    b_cs: usize,
) -> Vec<f64> {
    let mut c = vec![0.0; m * n];
    for i in 0..m {
        for j in 0..n {
            let mut s = 0.0;
            for p in 0..k {
                s += a[a_off + i * a_rs + p * a_cs] * b[b_off + p * b_rs + j * b_cs];
            }
            c[i * n + j] = s;
        }
    }
    c
}
