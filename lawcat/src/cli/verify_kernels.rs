//! `lawcat verify-kernels`: every kernel of a device against the CPU reference (see
//! `lawcat::verify`); prints kernel / cases / max error / bound / pass / launches / device
//! time / wall time (with `--entries`, the launches and device time of each kernel entry
//! under its row) and exits non-zero on any failure.

use clap::Parser;
use std::process::ExitCode;

#[derive(Parser)]
pub struct Args {
    /// Instances of each property test (random shapes, seeded).
    #[arg(long, default_value_t = 20)]
    pub cases: usize,
    /// Seed of the instances.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Large shapes too (T = 1000 and more; for the GPU, slow in the interpreter).
    #[arg(long)]
    pub large: bool,
    /// Only kernels whose name or family (`norm`, `elementwise`, ...: the `.cu` file) contains
    /// this text.
    #[arg(long, default_value = "")]
    pub only: String,
    /// A line per kernel entry under each kernel: launches, device time, time per launch.
    #[arg(long)]
    pub entries: bool,
}

pub fn run(a: &Args) -> anyhow::Result<ExitCode> {
    let device = super::device();
    if device.is_cpu() {
        anyhow::bail!(
            "verify-kernels compares a device with the CPU: give --device cuda, interp or check"
        );
    }
    if a.cases == 0 {
        anyhow::bail!("--cases must be at least 1");
    }
    let rows = crate::verify::run(&device, a.cases, a.seed, a.large, &a.only);
    if rows.is_empty() {
        anyhow::bail!("--only {:?}: no kernel or family name contains it", a.only);
    }
    let table = if a.entries {
        crate::verify::table_with_entries(&device, &rows)
    } else {
        crate::verify::table(&device, &rows)
    };
    out!("{table}");
    let failed = rows.iter().filter(|r| !r.pass).count();
    outln!("{} kernel group(s), {} failed", rows.len(), failed);
    Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
