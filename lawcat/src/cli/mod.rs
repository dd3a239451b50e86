//! The `lawcat` program's commands, one file each. They print through `outln!`/`out!`
//! (see `output`), which turn a closed or failing standard output into an error.

/// `println!` that returns a failed write as an error from the enclosing function.
macro_rules! outln {
    () => { $crate::cli::output::write_out(format_args!("\n"))? };
    ($($t:tt)*) => { $crate::cli::output::write_out(format_args!("{}\n", format_args!($($t)*)))? };
}

/// `print!` that returns a failed write as an error from the enclosing function.
macro_rules! out {
    ($($t:tt)*) => { $crate::cli::output::write_out(format_args!($($t)*))? };
}

pub mod audit;
pub mod bench;
pub mod convert;
pub mod demo;
pub mod distill;
pub mod eval;
pub mod generate;
pub mod inspect;
pub mod lawcat_opts;
pub mod output;
pub mod ptx;
pub mod train_teacher;
pub mod verify_kernels;

use crate::student::AnyModel;
use anyhow::{bail, Context};
use std::path::Path;
use tensor::Device;

static DEVICE: std::sync::OnceLock<Device> = std::sync::OnceLock::new();

/// The device chosen with `--device` (the CPU until [`setup`] ran).
pub fn device() -> Device {
    DEVICE.get().cloned().unwrap_or(Device::Cpu)
}

/// Parses a `--device` value: `cpu`; `cuda` / `cuda:N` (a GPU); `interp` (the PTX
/// interpreter: the GPU's kernels run and checked on the CPU); `check` (the checking device:
/// host memory that counts every transfer, see `tensor::check_device`).
pub fn parse_device(name: &str) -> anyhow::Result<Device> {
    match name {
        "cpu" => Ok(Device::Cpu),
        "check" => Ok(tensor::check_device::CheckDevice::device()),
        n if n == "cuda" || n.starts_with("cuda:") || n == "interp" || n.starts_with("interp:") => {
            ::ptx::open(n).with_context(|| format!("--device {n}"))
        }
        other => bail!("--device {other:?}: expected cpu, cuda[:N], interp or check"),
    }
}

static WEIGHTS: std::sync::OnceLock<Option<tensor::DType>> = std::sync::OnceLock::new();

/// Applies the global options: the device, the thread count, the weights' precision.
pub fn setup(device: &str, threads: Option<usize>, dtype: &str) -> anyhow::Result<()> {
    let weights = match dtype {
        "f32" | "float32" => None,
        "bf16" | "bfloat16" => Some(tensor::DType::BF16),
        other => bail!("--dtype {other:?}: expected f32 or bf16"),
    };
    let dev = parse_device(device)?;
    let _ = DEVICE.set(dev);
    let _ = WEIGHTS.set(weights);
    nn::linear::set_autocast(weights);
    if let Some(n) = threads {
        if n == 0 {
            bail!("--threads must be at least 1");
        }
        // Far more threads than cores only slows everything down (5000 took 9 s to start
        // and then failed); refuse at once.
        let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
        let most = (8 * cores).min(1024);
        if n > most {
            bail!("--threads {n}: at most {most} (8 per core; this machine has {cores} cores)");
        }
    }
    // The command itself runs on one of these threads ([`in_pool`]), so they get the main
    // thread's stack size. 0 threads: rayon's default, one per core.
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads.unwrap_or(0))
        .stack_size(WORKER_STACK)
        .build_global()
        .context("setting the thread count")?;
    Ok(())
}

/// The GPU or interpreter device chosen with `--device`, if it is one.
fn gpu() -> Option<::ptx::runtime::GpuDevice> {
    match device() {
        Device::Accel(a) => a.as_any().downcast_ref::<::ptx::runtime::GpuDevice>().cloned(),
        Device::Cpu => None,
    }
}

/// `LAWCAT_PROFILE=1`: times every kernel launch of the command (device time per entry, see
/// `ptx::runtime::profile`); [`profile_report`] prints the table at its end. Returns whether
/// it is on (only on a `cuda` or `interp` device).
pub fn profile_start() -> anyhow::Result<bool> {
    let on = std::env::var("LAWCAT_PROFILE").is_ok_and(|v| !v.is_empty() && v != "0");
    match (on, gpu()) {
        (true, Some(g)) => {
            g.profile_start()?;
            Ok(true)
        }
        (true, None) => {
            eprintln!("LAWCAT_PROFILE: --device {} runs no kernels; nothing to time", device());
            Ok(false)
        }
        (false, _) => Ok(false),
    }
}

/// Prints the profile [`profile_start`] began, to standard error.
pub fn profile_report() -> anyhow::Result<()> {
    if let Some(g) = gpu() {
        let times = g.profile_take()?;
        eprintln!("kernels on {}:\n{}", device(), ::ptx::runtime::profile::table(&times));
    }
    Ok(())
}

/// Stack size of the compute threads: that of a Linux main thread, which ran every command
/// before they moved onto the pool.
const WORKER_STACK: usize = 8 << 20;

/// Runs `command` on a thread of the global pool (built by [`setup`]) and waits for it. A
/// parallel op started from outside the pool hands its work to the pool's threads and puts
/// the calling thread to sleep until they finish: two thread wake-ups per op, which cost
/// 15-20% of a 256^3 matmul on two cores. From inside, the calling thread takes the first
/// share of the work itself and the others join as they wake: a distillation step of the
/// built-in teacher (2 x 256 tokens, 2 threads) ran 6-8% faster.
pub fn in_pool<R: Send>(command: impl FnOnce() -> R + Send) -> R {
    rayon::scope(|_| command())
}

/// A model by name: "builtin" (the demo teacher), a student folder, an HF folder or a
/// GGUF file.
/// The model is moved to the `--device` chosen.
pub fn load_named(name: &str) -> anyhow::Result<AnyModel> {
    let m = if name == "builtin" {
        crate::builtin::teacher().context("loading the built-in teacher")?
    } else if let Some(shape) = name.strip_prefix("shape:") {
        let Some(config) = crate::shapes::config(shape) else {
            bail!("{name}: no such shape; known: {}", crate::shapes::NAMES.join(", "))
        };
        let model = nn::Llama::init(&config, &mut tensor::Rng::new(0))
            .with_context(|| format!("making {name} (random weights)"))?;
        crate::student::AnyModel { model, tokenizer: None, student: None }
    } else {
        crate::student::load_any(Path::new(name))
            .with_context(|| format!("loading the model {name}"))?
    };
    // Read on the host, before the model moves to its device.
    for w in nn::weights::load_warnings(&m.model, m.tokenizer.as_ref())? {
        eprintln!("warning: {name}: {w}");
    }
    m.model.to_device(&device()).with_context(|| format!("moving {name} to {}", device()))?;
    if let Some(d) = WEIGHTS.get().copied().flatten() {
        m.model.to_dtype(d).with_context(|| format!("converting {name} to {d}"))?;
    }
    Ok(m)
}

/// A teacher model and its tokenizer from an HF folder or a GGUF file.
pub fn load(path: &Path) -> anyhow::Result<nn::weights::Loaded> {
    let m = load_named(&path.to_string_lossy())?;
    Ok(nn::weights::Loaded { model: m.model, tokenizer: m.tokenizer })
}
