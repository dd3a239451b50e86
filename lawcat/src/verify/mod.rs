//! `lawcat verify-kernels`: property tests of every kernel of an accelerator (the GPU, or the
//! PTX interpreter that runs the same PTX on the CPU) against the CPU reference, forward and
//! backward, on random shapes with awkward sizes (T = 1, 63, 65, 1000; D = 60; size-0 dims;
//! non-contiguous inputs), each compared with the tolerance of its dtype
//! (`tensor::tolerance`). The same cases are `cargo test` tests (`tests/verify_kernels.rs`):
//! on the interpreter always, on the GPU where there is one.
//!
//! Each family of kernels has a file here listing its cases; a case builds inputs from a
//! seed, runs the op through the public API on the CPU and on the device under test, and
//! returns the comparisons.

pub mod composites;
pub mod fused;
pub mod matmul;
pub mod primitives;
pub mod scan;

use tensor::tolerance::{compare_tensors, Tol};
use tensor::{Device, Result, Rng, Tensor};

/// One comparison a case makes: a result on the device against the CPU's.
pub struct Check {
    pub what: String,
    pub got: Tensor,
    pub want: Tensor,
    pub tol: Tol,
}

impl Check {
    pub fn new(what: impl Into<String>, got: Tensor, want: Tensor, tol: Tol) -> Check {
        Check { what: what.into(), got, want, tol }
    }
}

/// A property test of one kernel (or one op's kernels): `run(device, rng, size)` draws one
/// random instance (`size` 0 small .. 2 large) and returns its comparisons.
pub struct Case {
    pub kernel: &'static str,
    pub run: fn(&Device, &mut Rng, usize) -> Result<Vec<Check>>,
}

/// Every case, family by family.
pub fn cases() -> Vec<Case> {
    let mut all = primitives::cases();
    all.extend(composites::cases());
    all.extend(matmul::cases());
    all.extend(scan::cases());
    all.extend(fused::cases());
    all
}

/// What one kernel's cases gave.
#[derive(Clone, Debug)]
pub struct Row {
    pub kernel: &'static str,
    pub cases: usize,
    /// The largest `|got - want|` over every check, and the largest relative one
    /// (`max |got - want| / max |want|`).
    pub max_abs: f64,
    pub max_rel: f64,
    pub bound: String,
    pub pass: bool,
    pub failures: Vec<String>,
    /// Wall time of all its instances, device and CPU reference together.
    pub secs: f64,
}

/// Runs `n` instances of every case whose kernel name contains `filter` on `device`.
pub fn run(device: &Device, n: usize, seed: u64, large: bool, filter: &str) -> Vec<Row> {
    let mut rows = vec![];
    for case in cases().into_iter().filter(|c| c.kernel.contains(filter)) {
        let mut row = Row {
            kernel: case.kernel,
            cases: 0,
            max_abs: 0.0,
            max_rel: 0.0,
            bound: String::new(),
            pass: true,
            failures: vec![],
            secs: 0.0,
        };
        let start = std::time::Instant::now();
        for i in 0..n {
            let mut rng = Rng::new(
                seed ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ fxhash(case.kernel),
            );
            let size = if large { 2 } else { i % 2 };
            row.cases += 1;
            match (case.run)(device, &mut rng, size) {
                Ok(checks) => {
                    for c in checks {
                        match compare_tensors(&c.got, &c.want, c.tol) {
                            Ok(cmp) => {
                                row.max_abs = row.max_abs.max(cmp.max_abs);
                                row.max_rel = row.max_rel.max(cmp.max_rel);
                                row.bound =
                                    format!("atol {:.0e} rtol {:.0e}", c.tol.atol, c.tol.rtol);
                                if !cmp.pass {
                                    row.pass = false;
                                    row.failures.push(format!("instance {i}: {}: {cmp}", c.what));
                                }
                            }
                            Err(e) => {
                                row.pass = false;
                                row.failures.push(format!("instance {i}: {}: {e}", c.what));
                            }
                        }
                    }
                }
                Err(e) => {
                    row.pass = false;
                    row.failures.push(format!("instance {i}: {e}"));
                }
            }
        }
        row.secs = start.elapsed().as_secs_f64();
        rows.push(row);
    }
    rows
}

/// The table `lawcat verify-kernels` prints.
pub fn table(device: &Device, rows: &[Row]) -> String {
    let mut s =
        format!("kernels on {device} against the CPU reference\n{:<42} {:>6} {:>10} {:>10} {:>24} {:>5} {:>8}\n", "kernel", "cases", "max abs", "max rel", "bound (last check)", "pass", "time");
    for r in rows {
        s += &format!(
            "{:<42} {:>6} {:>10.2e} {:>10.2e} {:>24} {:>5} {:>7.2}s\n",
            r.kernel,
            r.cases,
            r.max_abs,
            r.max_rel,
            r.bound,
            if r.pass { "ok" } else { "FAIL" },
            r.secs
        );
        for f in r.failures.iter().take(3) {
            s += &format!("    {f}\n");
        }
    }
    s
}

fn fxhash(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3))
}

/// Helpers for writing cases.
pub mod gen {
    use tensor::{DType, Device, Result, Rng, Tensor};

    /// A length by size class: small sizes for CI (1, odd, a tile edge), large for the GPU.
    pub fn len(rng: &mut Rng, size: usize, small: &[usize], large: &[usize]) -> usize {
        let pick = if size >= 2 { large } else { small };
        pick[rng.below(pick.len())]
    }

    /// Uniform values in `[lo, hi)` of `shape` and `dtype` on the CPU and the same values on
    /// `device`; with `transposed`, both are a transposed view of the last two dims (a
    /// non-contiguous operand).
    pub fn pair(
        shape: &[usize],
        dtype: DType,
        lo: f64,
        hi: f64,
        transposed: bool,
        device: &Device,
        rng: &mut Rng,
    ) -> Result<(Tensor, Tensor)> {
        let mut dims = shape.to_vec();
        let r = dims.len();
        if transposed && r >= 2 {
            dims.swap(r - 1, r - 2);
        }
        // the same storage on both sides (an upload copies the logical order), then the view
        let base = Tensor::rand_uniform(dims, lo, hi, dtype, &Device::Cpu, rng)?;
        let dev = base.to_device(device)?;
        let (cpu, dev) = if transposed && r >= 2 {
            (base.transpose(r - 2, r - 1)?, dev.transpose(r - 2, r - 1)?)
        } else {
            (base, dev)
        };
        Ok((cpu, dev))
    }
}
