//! `lawcat ptx`: the PTX we ship and the interpreter that checks it.
//!
//! * `lawcat ptx check FILE.ptx --entry NAME --grid X,Y,Z --block X,Y,Z --arg SPEC...`: runs
//!   one kernel in the PTX interpreter (no GPU needed) with the inputs its arguments describe
//!   (seeded random, zeroed, from files, typed lists), prints every problem the checker
//!   finds, and with `--out DIR` writes the buffers back for comparison with the user's own
//!   reference. Findings are errors or notes (benign: same-value writes, unused uninitialised
//!   reads, a barrier released by exits as the ISA says; `--strict` makes them errors). Exit
//!   status: 0 no errors, 1 errors (or the kernel deadlocked or never finished), 2 the file
//!   does not parse, the arguments do not fit the entry, or the kernel reached an instruction
//!   the interpreter cannot run (named).
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
    /// One kernel argument, in parameter order. Buffers (passed as their address):
    /// `buf:BYTES` (seeded random bytes), `zero:BYTES`, `uninit:BYTES` (never written: reading
    /// it is a finding), `file:PATH` (the file's bytes), `TYPE[]:V,V,...` (a typed list, e.g.
    /// `i32[]:1,2,3`, `f32[]:0.5,-1`), `TYPE[N]` (N zeros), `TYPE[N]:V` (N copies of V).
    /// Scalars: `TYPE:V`. TYPE is one of i8 u8 i16 u16 i32 u32 i64 u64 f16 bf16 f32 f64 (s32,
    /// s64 alias i32, i64).
    #[arg(long = "arg")]
    pub args: Vec<String>,
    /// After the run, write every buffer argument's final contents into this folder (created
    /// if missing): `argN.bin` (its bytes) and, for a typed buffer, `argN.txt` (one value per
    /// line), N the argument's position from 0. Files are written whole or not at all.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// The stricter rules: a thread exiting before a barrier its block waits at is an error (the
    /// CUDA programming guide's rule; the PTX ISA's `exit` releases such a barrier), and every
    /// note (benign same-value writes, uninitialised reads never used) counts as an error.
    #[arg(long)]
    pub strict: bool,
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

/// An element type of `--arg` buffers and scalars.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Ty {
    I8,
    U8,
    I16,
    U16,
    I32,
    U32,
    I64,
    U64,
    F16,
    BF16,
    F32,
    F64,
}

impl Ty {
    fn parse(s: &str) -> Option<Ty> {
        Some(match s {
            "i8" | "s8" => Ty::I8,
            "u8" => Ty::U8,
            "i16" | "s16" => Ty::I16,
            "u16" => Ty::U16,
            "i32" | "s32" => Ty::I32,
            "u32" => Ty::U32,
            "i64" | "s64" => Ty::I64,
            "u64" => Ty::U64,
            "f16" => Ty::F16,
            "bf16" => Ty::BF16,
            "f32" => Ty::F32,
            "f64" => Ty::F64,
            _ => return None,
        })
    }
    fn size(self) -> usize {
        match self {
            Ty::I8 | Ty::U8 => 1,
            Ty::I16 | Ty::U16 | Ty::F16 | Ty::BF16 => 2,
            Ty::I32 | Ty::U32 | Ty::F32 => 4,
            Ty::I64 | Ty::U64 | Ty::F64 => 8,
        }
    }
    /// The little-endian bytes of `v` (an integer in range, or a float rounded to nearest).
    fn encode(self, v: &str) -> Option<Vec<u8>> {
        let v = v.trim();
        Some(match self {
            Ty::I8 => v.parse::<i8>().ok()?.to_le_bytes().to_vec(),
            Ty::U8 => v.parse::<u8>().ok()?.to_le_bytes().to_vec(),
            Ty::I16 => v.parse::<i16>().ok()?.to_le_bytes().to_vec(),
            Ty::U16 => v.parse::<u16>().ok()?.to_le_bytes().to_vec(),
            Ty::I32 => v.parse::<i32>().ok()?.to_le_bytes().to_vec(),
            Ty::U32 => v.parse::<u32>().ok()?.to_le_bytes().to_vec(),
            Ty::I64 => v.parse::<i64>().ok()?.to_le_bytes().to_vec(),
            Ty::U64 => v.parse::<u64>().ok()?.to_le_bytes().to_vec(),
            Ty::F16 => tensor::f16::from_f64(v.parse().ok()?).to_le_bytes().to_vec(),
            Ty::BF16 => tensor::bf16::from_f64(v.parse().ok()?).to_le_bytes().to_vec(),
            Ty::F32 => v.parse::<f32>().ok()?.to_le_bytes().to_vec(),
            Ty::F64 => v.parse::<f64>().ok()?.to_le_bytes().to_vec(),
        })
    }
    /// The value of one element's bytes, as text.
    fn decode(self, b: &[u8]) -> String {
        match self {
            Ty::I8 => (b[0] as i8).to_string(),
            Ty::U8 => b[0].to_string(),
            Ty::I16 => i16::from_le_bytes([b[0], b[1]]).to_string(),
            Ty::U16 => u16::from_le_bytes([b[0], b[1]]).to_string(),
            Ty::I32 => i32::from_le_bytes(b.try_into().expect("4 bytes")).to_string(),
            Ty::U32 => u32::from_le_bytes(b.try_into().expect("4 bytes")).to_string(),
            Ty::I64 => i64::from_le_bytes(b.try_into().expect("8 bytes")).to_string(),
            Ty::U64 => u64::from_le_bytes(b.try_into().expect("8 bytes")).to_string(),
            Ty::F16 => tensor::f16::from_le_bytes([b[0], b[1]]).to_string(),
            Ty::BF16 => tensor::bf16::from_le_bytes([b[0], b[1]]).to_string(),
            Ty::F32 => f32::from_le_bytes(b.try_into().expect("4 bytes")).to_string(),
            Ty::F64 => f64::from_le_bytes(b.try_into().expect("8 bytes")).to_string(),
        }
    }
    /// As a scalar kernel argument (8- and 16-bit values go as 32-bit registers do).
    fn scalar(self, v: &str) -> Option<Arg> {
        let v = v.trim();
        Some(match self {
            Ty::I8 => Arg::S32(v.parse::<i8>().ok()? as i32),
            Ty::U8 => Arg::U32(v.parse::<u8>().ok()? as u32),
            Ty::I16 => Arg::S32(v.parse::<i16>().ok()? as i32),
            Ty::U16 => Arg::U32(v.parse::<u16>().ok()? as u32),
            Ty::I32 => Arg::S32(v.parse().ok()?),
            Ty::U32 => Arg::U32(v.parse().ok()?),
            Ty::I64 => Arg::S64(v.parse().ok()?),
            Ty::U64 => Arg::U64(v.parse().ok()?),
            Ty::F16 => Arg::U32(tensor::f16::from_f64(v.parse().ok()?).to_bits() as u32),
            Ty::BF16 => Arg::U32(tensor::bf16::from_f64(v.parse().ok()?).to_bits() as u32),
            Ty::F32 => Arg::F32(v.parse().ok()?),
            Ty::F64 => Arg::F64(v.parse().ok()?),
        })
    }
}

/// A buffer argument: where it is, how big, and its element type if it was given one (for
/// `--out`).
struct Buffer {
    index: usize,
    addr: u64,
    bytes: u64,
    ty: Option<Ty>,
}

const KINDS: &str = "buf:BYTES, zero:BYTES, uninit:BYTES, file:PATH, TYPE[]:V,V.., TYPE[N], \
                     TYPE[N]:V, TYPE:V with TYPE one of i8 u8 i16 u16 i32 u32 i64 u64 f16 bf16 \
                     f32 f64";

/// Makes the argument a `--arg SPEC` describes, allocating and filling buffers.
fn arg(
    m: &mut Machine,
    index: usize,
    spec: &str,
    seed: &mut u64,
    buffers: &mut Vec<Buffer>,
) -> anyhow::Result<Arg> {
    let (kind, v) = spec.split_once(':').map_or((spec, None), |(k, v)| (k, Some(v)));
    let bad = || anyhow!("--arg {spec:?}: expected one of {KINDS}");
    let mut buffer = |data: Option<Vec<u8>>, bytes: u64, ty: Option<Ty>| -> anyhow::Result<Arg> {
        let addr = m.alloc(bytes).map_err(|e| anyhow!("--arg {spec:?}: {e}"))?;
        if let Some(d) = data {
            m.write(addr, &d).map_err(|e| anyhow!("--arg {spec:?}: {e}"))?;
        }
        buffers.push(Buffer { index, addr, bytes, ty });
        Ok(Arg::Ptr(addr))
    };
    match (kind, v) {
        ("buf" | "zero" | "uninit", Some(v)) => {
            let bytes: u64 = v.trim().parse().map_err(|_| bad())?;
            let data = match kind {
                "buf" => {
                    let mut data = vec![0u8; bytes as usize];
                    for chunk in data.chunks_mut(8) {
                        *seed = seed
                            .wrapping_mul(6364136223846793005)
                            .wrapping_add(1442695040888963407);
                        let b = (*seed >> 11).to_le_bytes();
                        let n = chunk.len();
                        chunk.copy_from_slice(&b[..n]);
                    }
                    Some(data)
                }
                "zero" => Some(vec![0u8; bytes as usize]),
                _ => None,
            };
            buffer(data, bytes, None)
        }
        ("file", Some(path)) => {
            let data =
                std::fs::read(path).with_context(|| format!("--arg {spec:?}: reading {path}"))?;
            if data.is_empty() {
                bail!("--arg {spec:?}: {path} is empty (a buffer needs at least one byte)");
            }
            let n = data.len() as u64;
            buffer(Some(data), n, None)
        }
        (k, v) if k.ends_with(']') => {
            let (t, n) = k[..k.len() - 1].split_once('[').ok_or_else(bad)?;
            let ty = Ty::parse(t).ok_or_else(bad)?;
            let values: Vec<&str> = v.map_or(vec![], |v| v.split(',').collect());
            let count: usize = if n.is_empty() {
                values.len()
            } else {
                n.trim().parse().map_err(|_| anyhow!("--arg {spec:?}: {n:?} is not a count"))?
            };
            if count == 0 {
                bail!("--arg {spec:?}: a buffer needs at least one element");
            }
            let mut data = Vec::with_capacity(count * ty.size());
            let encode = |v: &str| {
                ty.encode(v).ok_or_else(|| anyhow!("--arg {spec:?}: {v:?} is not a {t} value"))
            };
            match (n.is_empty(), values.as_slice()) {
                (true, vals) => {
                    for v in vals {
                        data.extend(encode(v)?);
                    }
                }
                (false, []) => data.resize(count * ty.size(), 0),
                (false, [one]) => {
                    let e = encode(one)?;
                    for _ in 0..count {
                        data.extend_from_slice(&e);
                    }
                }
                (false, _) => bail!(
                    "--arg {spec:?}: give TYPE[N]:V (N copies) or TYPE[]:V,V,.. (a list), not both"
                ),
            }
            let bytes = data.len() as u64;
            buffer(Some(data), bytes, Some(ty))
        }
        (t, Some(v)) => {
            let ty = Ty::parse(t).ok_or_else(bad)?;
            ty.scalar(v).ok_or_else(|| anyhow!("--arg {spec:?}: {v:?} is not a valid {t} value"))
        }
        _ => Err(bad()),
    }
}

/// Writes every buffer's final bytes (and typed values) into `dir`, each file whole or not
/// at all; returns the files written.
fn write_out(
    m: &Machine,
    buffers: &[Buffer],
    dir: &std::path::Path,
) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("--out: creating {}", dir.display()))?;
    let mut written = vec![];
    for b in buffers {
        let bytes =
            m.read(b.addr, b.bytes).map_err(|e| anyhow!("--out: argument {}: {e}", b.index))?;
        let bin = dir.join(format!("arg{}.bin", b.index));
        tensor::atomic::write_bytes_atomic(&bin, &bytes)
            .with_context(|| format!("--out: {}", bin.display()))?;
        written.push(bin);
        if let Some(ty) = b.ty {
            let text: String = bytes.chunks(ty.size()).map(|e| ty.decode(e) + "\n").collect();
            let txt = dir.join(format!("arg{}.txt", b.index));
            tensor::atomic::write_bytes_atomic(&txt, text.as_bytes())
                .with_context(|| format!("--out: {}", txt.display()))?;
            written.push(txt);
        }
    }
    Ok(written)
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
    m.set_strict(c.strict);
    let mut seed = c.seed ^ 0x5eed;
    let mut buffers = vec![];
    let args = c
        .args
        .iter()
        .enumerate()
        .map(|(i, s)| arg(&mut m, i, s, &mut seed, &mut buffers))
        .collect::<anyhow::Result<Vec<Arg>>>()
        .with_context(|| format!("{name}: kernel {}", c.entry))?;
    let code = match m.launch(&module, &c.entry, grid, block, c.shared, &args) {
        Ok(report) => {
            outln!(
                "{name}: {} grid {grid:?} block {block:?}: {} instructions",
                c.entry,
                report.instructions
            );
            for line in report.printed.lines() {
                outln!("{name}: printf: {line}");
            }
            for p in &report.problems {
                outln!("{name}: {p}");
            }
            let (errors, notes) = (report.errors().len(), report.notes().len());
            let more: u64 = report.suppressed.iter().map(|(_, n)| n).sum();
            let tail = if more > 0 {
                format!(", {more} more of the same kinds not listed")
            } else {
                String::new()
            };
            if report.is_clean() && notes == 0 && more == 0 {
                outln!("{name}: clean");
            } else {
                outln!("{name}: {errors} error(s), {notes} note(s) listed{tail}");
            }
            if report.is_clean() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        // A construct the interpreter cannot run, reached: the kernel is not checked.
        Err(
            e @ (LaunchError::NoEntry { .. }
            | LaunchError::BadLaunch { .. }
            | LaunchError::Unsupported { .. }),
        ) => {
            bail!("{name}: {e}")
        }
        Err(
            e @ (LaunchError::Deadlock { .. }
            | LaunchError::Fault { .. }
            | LaunchError::InstructionLimit { .. }),
        ) => {
            outln!("{name}: {e}");
            ExitCode::from(1)
        }
    };
    // What the kernel left in its buffers (also after a fault: as far as it got).
    if let Some(dir) = &c.out {
        for f in write_out(&m, &buffers, dir)? {
            outln!("{name}: wrote {}", f.display());
        }
    }
    Ok(code)
}
