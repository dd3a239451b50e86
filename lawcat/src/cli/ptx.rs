//! `lawcat ptx`: the PTX we ship and the interpreter that checks it.
//!
//! * `lawcat ptx check FILE.ptx --entry NAME --grid X,Y,Z --block X,Y,Z --arg SPEC...`: runs
//!   one kernel in the PTX interpreter (no GPU needed) with seeded inputs and prints every
//!   problem the checker finds. Exit status: 0 clean, 1 problems found (or the kernel
//!   deadlocked or never finished), 2 the file does not parse or the arguments do not fit
//!   the entry.
//! * `lawcat ptx list`: every shipped module (`ptx::modules`) with its entries.
//! * `lawcat ptx dump NAME`: the text of one shipped module, as the GPU and the interpreter
//!   load it (exit 2 for a name that is not shipped).

use anyhow::{anyhow, bail, Context};
use ptx_interp::{Arg, LaunchError, Machine, Module};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(clap::Subcommand)]
pub enum Command {
    /// Run a kernel in the interpreter and report out-of-bounds, uninitialised, racy,
    /// divergent or unwaited accesses (exit 0 clean, 1 problems, 2 unusable file or arguments).
    Check(CheckArgs),
    /// List every shipped PTX module (the kernels the GPU and the interpreter load) with its
    /// entries.
    List,
    /// Print the PTX text of one shipped module.
    Dump(DumpArgs),
}

#[derive(clap::Args)]
pub struct DumpArgs {
    /// The module's name, as `lawcat ptx list` prints it (e.g. `elementwise`).
    pub name: String,
}

#[derive(clap::Args)]
pub struct CheckArgs {
    /// The PTX file.
    pub file: PathBuf,
    /// The kernel (`.entry`) to run.
    #[arg(long)]
    pub entry: String,
    /// Blocks in the grid: X[,Y[,Z]].
    #[arg(long, default_value = "1")]
    pub grid: String,
    /// Threads per block: X[,Y[,Z]].
    #[arg(long)]
    pub block: String,
    /// Bytes of dynamic (`.extern .shared`) shared memory per block.
    #[arg(long, default_value_t = 0)]
    pub shared: u32,
    /// Seed for the block order, the thread interleaving and the buffers' random contents.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// One kernel argument, in parameter order: `buf:BYTES` (a global buffer of seeded random
    /// bytes, passed as its address), `uninit:BYTES` (a buffer never written), or a scalar
    /// `u32:V`, `s32:V`, `u64:V`, `s64:V`, `f32:V`, `f64:V`.
    #[arg(long = "arg")]
    pub args: Vec<String>,
    /// List at most this many problems of each kind.
    #[arg(long, default_value_t = 10)]
    pub max_problems: usize,
}

/// `X[,Y[,Z]]` as three dimensions.
fn dims(flag: &str, s: &str) -> anyhow::Result<[u32; 3]> {
    let parts: Vec<&str> = s.split(',').collect();
    if parts.is_empty() || parts.len() > 3 {
        bail!("{flag} {s:?}: expected X[,Y[,Z]]");
    }
    let mut d = [1u32; 3];
    for (i, p) in parts.iter().enumerate() {
        d[i] =
            p.trim().parse().map_err(|_| anyhow!("{flag} {s:?}: {p:?} is not a whole number"))?;
    }
    Ok(d)
}

/// Makes the argument a `--arg SPEC` describes, allocating and filling buffers.
fn arg(m: &mut Machine, spec: &str, seed: &mut u64) -> anyhow::Result<Arg> {
    let (kind, v) = spec.split_once(':').ok_or_else(|| {
        anyhow!(
            "--arg {spec:?}: expected \
        KIND:VALUE (buf:BYTES, uninit:BYTES, u32:V, s32:V, u64:V, s64:V, f32:V, f64:V)"
        )
    })?;
    let bad = || anyhow!("--arg {spec:?}: {v:?} is not a valid {kind} value");
    Ok(match kind {
        "buf" | "uninit" => {
            let bytes: u64 = v.parse().map_err(|_| bad())?;
            let addr = m.alloc(bytes).map_err(|e| anyhow!("--arg {spec:?}: {e}"))?;
            if kind == "buf" {
                let mut data = vec![0u8; bytes as usize];
                for chunk in data.chunks_mut(8) {
                    *seed =
                        seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    let b = (*seed >> 11).to_le_bytes();
                    let n = chunk.len();
                    chunk.copy_from_slice(&b[..n]);
                }
                m.write(addr, &data).map_err(|e| anyhow!("--arg {spec:?}: {e}"))?;
            }
            Arg::Ptr(addr)
        }
        "u32" => Arg::U32(v.parse().map_err(|_| bad())?),
        "s32" => Arg::S32(v.parse().map_err(|_| bad())?),
        "u64" => Arg::U64(v.parse().map_err(|_| bad())?),
        "s64" => Arg::S64(v.parse().map_err(|_| bad())?),
        "f32" => Arg::F32(v.parse().map_err(|_| bad())?),
        "f64" => Arg::F64(v.parse().map_err(|_| bad())?),
        _ => bail!(
            "--arg {spec:?}: unknown kind {kind:?} (buf, uninit, u32, s32, u64, s64, f32, f64)"
        ),
    })
}

pub fn run(a: &Args) -> anyhow::Result<ExitCode> {
    match &a.command {
        Command::Check(c) => check(c),
        Command::List => {
            out!("{}", list());
            Ok(ExitCode::SUCCESS)
        }
        Command::Dump(d) => {
            out!("{}", ::ptx::modules::text(&d.name)?);
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Every shipped module, its size and its entries, one per line.
fn list() -> String {
    let mut s = String::new();
    for (name, text) in ::ptx::modules::MODULES {
        let entries = ::ptx::modules::entries(text);
        s += &format!("{name}: {} entries, {} lines of PTX\n", entries.len(), text.lines().count());
        for e in entries {
            s += &format!("  {e}\n");
        }
    }
    s
}

fn check(c: &CheckArgs) -> anyhow::Result<ExitCode> {
    let name = c.file.display().to_string();
    let text = std::fs::read_to_string(&c.file).with_context(|| format!("reading {name}"))?;
    let module = Module::parse(&text, &name)?;
    let grid = dims("--grid", &c.grid)?;
    let block = dims("--block", &c.block)?;
    let mut m = Machine::new(c.seed);
    m.set_problem_cap(c.max_problems);
    let mut seed = c.seed ^ 0x5eed;
    let args = c
        .args
        .iter()
        .map(|s| arg(&mut m, s, &mut seed))
        .collect::<anyhow::Result<Vec<Arg>>>()
        .with_context(|| format!("{name}: kernel {}", c.entry))?;
    match m.launch(&module, &c.entry, grid, block, c.shared, &args) {
        Ok(report) => {
            outln!(
                "{name}: {} grid {grid:?} block {block:?}: {} instructions",
                c.entry,
                report.instructions
            );
            for p in &report.problems {
                outln!("{name}: {p}");
            }
            let more: u64 = report.suppressed.iter().map(|(_, n)| n).sum();
            if report.is_clean() {
                outln!("{name}: clean");
                Ok(ExitCode::SUCCESS)
            } else {
                outln!(
                    "{name}: {} problem(s) listed, {more} more of the same kinds not listed",
                    report.problems.len()
                );
                Ok(ExitCode::from(1))
            }
        }
        Err(e @ (LaunchError::NoEntry { .. } | LaunchError::BadLaunch { .. })) => {
            Err(anyhow!("{name}: {e}"))
        }
        Err(
            e @ (LaunchError::Deadlock { .. }
            | LaunchError::Fault { .. }
            | LaunchError::InstructionLimit { .. }),
        ) => {
            outln!("{name}: {e}");
            Ok(ExitCode::from(1))
        }
    }
}
