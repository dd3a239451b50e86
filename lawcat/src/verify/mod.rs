//! `lawcat verify-kernels`: property tests of every kernel of an accelerator (the GPU, or the
//! PTX interpreter that runs the same PTX on the CPU) against the CPU reference, forward and
//! backward, on random shapes with awkward sizes (T = 1, 63, 65, 1000; D = 60; size-0 dims;
//! non-contiguous inputs), each compared with the tolerance of its dtype
//! (`tensor::tolerance`). The same cases are `cargo test` tests (`tests/verify_kernels.rs`):
//! on the interpreter always, on the GPU where there is one.
//!
//! One file per kernel family (a `ptx/kernels/<family>.cu` and its launcher
//! `ptx::ops::<family>`) lists its cases; a case builds inputs from a seed, runs the op through
//! the public API on the CPU and on the device under test, and returns the comparisons. On a
//! `cuda` or `interp` device each kernel is also timed on its cases, llm.c `dev/cuda` style:
//! launches and device time per entry (`ptx::runtime::profile`), beside the wall time.

pub mod adamw;
pub mod attention;
pub mod composites;
pub mod conv1d;
pub mod copy;
pub mod elementwise;
pub mod feature_map;
pub mod fill;
pub mod gla;
mod helpers;
pub mod index;
pub mod loss;
pub mod matmul;
pub mod norm;
pub mod reduce;
pub mod rope;
pub mod sample;
pub mod swiglu;

use ptx::runtime::profile::EntryTime;
use ptx::runtime::GpuDevice;
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
    /// The kernel family: the stem of its `ptx/kernels/<family>.cu` and of its launcher
    /// `ptx::ops::<family>` (`matmul` covers matmul.cu and matmul_tc.cu); `composites` for
    /// the primitive kernels under a model's building blocks.
    pub family: &'static str,
    pub kernel: &'static str,
    pub run: fn(&Device, &mut Rng, usize) -> Result<Vec<Check>>,
}

/// Every case, family by family: the primitive kernels, the matmuls, the sequence kernels,
/// the fused ops, then composites of primitives.
pub fn cases() -> Vec<Case> {
    let mut all = fill::cases();
    all.extend(copy::cases());
    all.extend(elementwise::cases());
    all.extend(reduce::cases());
    all.extend(index::cases());
    all.extend(matmul::cases());
    all.extend(attention::cases());
    all.extend(conv1d::cases());
    all.extend(feature_map::cases());
    all.extend(gla::cases());
    all.extend(norm::cases());
    all.extend(rope::cases());
    all.extend(swiglu::cases());
    all.extend(loss::cases());
    all.extend(adamw::cases());
    all.extend(sample::cases());
    all.extend(composites::cases());
    all
}

/// What one kernel's cases gave.
#[derive(Clone, Debug)]
pub struct Row {
    pub family: &'static str,
    pub kernel: &'static str,
    pub cases: usize,
    /// The largest `|got - want|` over every check, and the largest relative one
    /// (`max |got - want| / max |want|`).
    pub max_abs: f64,
    pub max_rel: f64,
    /// The bound of the last check, `atol/rtol` (`exact` when both are 0).
    pub bound: String,
    pub pass: bool,
    pub failures: Vec<String>,
    /// Kernel launches on the device under test over all instances, and their device time
    /// (CUDA events on a GPU, the host clock on the interpreter); 0 on a device that is not
    /// `cuda` or `interp` (the `check` device).
    pub launches: u64,
    pub device_secs: f64,
    /// The same per kernel entry, summed over the instances, the longest first.
    pub entries: Vec<EntryTime>,
    /// Wall time of all its instances, device and CPU reference together.
    pub secs: f64,
}

/// The `cuda` or `interp` device behind `device`, whose launches can be timed.
fn timed(device: &Device) -> Option<&GpuDevice> {
    match device {
        Device::Accel(a) => a.as_any().downcast_ref::<GpuDevice>(),
        _ => None,
    }
}

/// Adds one instance's profile to a row's totals, entry by entry.
fn add_times(row: &mut Row, times: Vec<EntryTime>) {
    for t in times {
        row.launches += t.launches;
        row.device_secs += t.seconds;
        match row.entries.iter_mut().find(|e| e.entry == t.entry) {
            Some(e) => {
                e.launches += t.launches;
                e.seconds += t.seconds;
            }
            None => row.entries.push(t),
        }
    }
}

/// Runs `n` instances of every case whose kernel or family name contains `filter` on
/// `device`; on a `cuda` or `interp` device, each instance's launches are timed (the case
/// alone: its comparisons run after the profile is taken).
pub fn run(device: &Device, n: usize, seed: u64, large: bool, filter: &str) -> Vec<Row> {
    let gpu = timed(device);
    let mut rows = vec![];
    for case in
        cases().into_iter().filter(|c| c.kernel.contains(filter) || c.family.contains(filter))
    {
        let mut row = Row {
            family: case.family,
            kernel: case.kernel,
            cases: 0,
            max_abs: 0.0,
            max_rel: 0.0,
            bound: String::new(),
            pass: true,
            failures: vec![],
            launches: 0,
            device_secs: 0.0,
            entries: vec![],
            secs: 0.0,
        };
        let start = std::time::Instant::now();
        for i in 0..n {
            let mut rng = Rng::new(
                seed ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ fxhash(case.kernel),
            );
            let size = if large { 2 } else { i % 2 };
            row.cases += 1;
            if let Some(Err(e)) = gpu.map(|g| g.profile_start()) {
                row.pass = false;
                row.failures.push(format!("instance {i}: starting the profile: {e}"));
            }
            let result = (case.run)(device, &mut rng, size);
            match gpu.map(|g| g.profile_take()) {
                Some(Ok(times)) => add_times(&mut row, times),
                Some(Err(e)) => {
                    row.pass = false;
                    row.failures.push(format!("instance {i}: taking the profile: {e}"));
                }
                None => {}
            }
            match result {
                Ok(checks) => {
                    for c in checks {
                        match compare_tensors(&c.got, &c.want, c.tol) {
                            Ok(cmp) => {
                                row.max_abs = row.max_abs.max(cmp.max_abs);
                                row.max_rel = row.max_rel.max(cmp.max_rel);
                                row.bound = if c.tol.atol == 0.0 && c.tol.rtol == 0.0 {
                                    "exact".into()
                                } else {
                                    format!("{:.0e}/{:.0e}", c.tol.atol, c.tol.rtol)
                                };
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
        let key = |t: &EntryTime| (t.entry.module, t.entry.name);
        row.entries.sort_by(|a, b| b.seconds.total_cmp(&a.seconds).then(key(a).cmp(&key(b))));
        rows.push(row);
    }
    rows
}

/// The table `lawcat verify-kernels` prints: per kernel its instances, largest errors, the
/// last bound, pass, launches and device time on the device (`-` where it cannot be timed),
/// and wall time; the first failures under a row.
pub fn table(device: &Device, rows: &[Row]) -> String {
    render(device, rows, false)
}

/// [`table`] with a line per kernel entry under each row (after its failures): `module.entry`,
/// time per launch, launches and device time (in the columns of the row's), the longest
/// first.
pub fn table_with_entries(device: &Device, rows: &[Row]) -> String {
    render(device, rows, true)
}

fn render(device: &Device, rows: &[Row], entries: bool) -> String {
    let is_timed = timed(device).is_some();
    let mut s = format!(
        "kernels on {device} against the CPU reference (bound: atol/rtol of the last check)\n\
         {:<41} {:>5} {:>8} {:>8} {:>11} {:>4} {:>8} {:>10} {:>7}\n",
        "kernel", "cases", "max abs", "max rel", "bound", "pass", "launches", "device ms", "wall s"
    );
    let (mut launches, mut device_secs, mut secs) = (0, 0.0, 0.0);
    for r in rows {
        let (l, ms) = if is_timed {
            (r.launches.to_string(), format!("{:.3}", r.device_secs * 1e3))
        } else {
            ("-".into(), "-".into())
        };
        s += &format!(
            "{:<41} {:>5} {:>8.1e} {:>8.1e} {:>11} {:>4} {:>8} {:>10} {:>7.2}\n",
            r.kernel,
            r.cases,
            r.max_abs,
            r.max_rel,
            r.bound,
            if r.pass { "ok" } else { "FAIL" },
            l,
            ms,
            r.secs
        );
        for f in r.failures.iter().take(3) {
            s += &format!("    {f}\n");
        }
        if entries {
            for e in &r.entries {
                s += &format!(
                    "    {:<55} {:>12.2} us/launch {:>8} {:>10.3}\n",
                    e.entry.to_string(),
                    e.seconds * 1e6 / e.launches.max(1) as f64,
                    e.launches,
                    e.seconds * 1e3
                );
            }
        }
        launches += r.launches;
        device_secs += r.device_secs;
        secs += r.secs;
    }
    if is_timed {
        s +=
            &format!("{:<83} {:>8} {:>10.3} {:>7.2}\n", "total", launches, device_secs * 1e3, secs);
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
