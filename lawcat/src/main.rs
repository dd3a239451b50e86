//! `lawcat`: distill Llama teachers into LAWCAT linear-attention students, evaluate them,
//! and audit every piece against outside references. `lawcat <command> --help` for each.

use clap::{Parser, Subcommand};
use lawcat::cli;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "lawcat",
    version,
    about = "LAWCAT linear-attention students distilled from Llama teachers, on our own engine"
)]
struct Args {
    /// Where to compute: cpu; cuda or cuda:N (a GPU); interp (the GPU's kernels in the PTX
    /// interpreter, checked, on the CPU); check (host memory that counts every transfer).
    #[arg(long, global = true, default_value = "cpu")]
    device: String,
    /// CPU threads (default: all cores).
    #[arg(long, global = true)]
    threads: Option<usize>,
    /// Weights' precision: f32 (as stored; the reference), or bf16 (mixed precision, as
    /// PyTorch's autocast: the teacher's weights in bf16; every linear layer and the feature
    /// map's product in bf16 on tensor cores with f32 accumulation, forward and backward; the
    /// teacher's attention in bf16 (tensor cores, f32 softmax); norms, the GLA state, losses,
    /// gradients, master weights and optimizer moments stay f32).
    #[arg(long, global = true, default_value = "f32")]
    dtype: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The main job: distill the built-in teacher into a LAWCAT student on short sequences
    /// and compare passkey retrieval at 1x, 2x, 4x and 8x that length.
    Demo(cli::demo::Args),
    /// Distill a teacher into a LAWCAT student (stage 1 attention transfer, stage 2 KL).
    Distill(cli::distill::Args),
    /// Evaluate models on passkey, S-NIAH-1/2/3 or bAbI-style QA2/QA3.
    Eval(cli::eval::Args),
    /// Time matmul, model forwards, and LAWCAT's scan against softmax attention.
    Bench(cli::bench::Args),
    /// Train the small built-in demo teacher from scratch.
    TrainTeacher(cli::train_teacher::Args),
    /// Show a model's config, parameter count and dtypes.
    Inspect(cli::inspect::Args),
    /// Generate text from a model.
    Generate(cli::generate::Args),
    /// Convert a GGUF file to a Hugging Face folder (config.json, model.safetensors,
    /// tokenizer.json).
    Convert(cli::convert::Args),
    /// Compare our implementation with a reference dump from another implementation.
    Audit(cli::audit::Args),
    /// Check PTX kernels on the CPU: run them in the interpreter and report their bugs.
    Ptx(cli::ptx::Args),
    /// Property-test every kernel of a device (--device cuda or interp) against the CPU.
    VerifyKernels(cli::verify_kernels::Args),
}

/// glibc's malloc hands blocks above a threshold straight back to the kernel, so every
/// large tensor freed and allocated again costs fresh zeroed pages (page faults took a
/// fifth of the demo's time). Keep freed memory in the process instead, in one arena.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn keep_freed_memory() {
    extern "C" {
        fn mallopt(param: i32, value: i32) -> i32;
    }
    const M_TRIM_THRESHOLD: i32 = -1;
    const M_MMAP_THRESHOLD: i32 = -3;
    const M_ARENA_MAX: i32 = -8;
    // SAFETY: mallopt only changes allocator tunables; called before any threads start.
    unsafe {
        mallopt(M_MMAP_THRESHOLD, 1 << 30);
        mallopt(M_TRIM_THRESHOLD, i32::MAX);
        // One arena: the commands run on pool threads (`cli::in_pool`), and a thread's own
        // arena grows in heaps of at most 64 MiB, so a larger tensor (a 1024-token logits
        // block is 200 MB) would be mapped and unmapped on every allocation again.
        mallopt(M_ARENA_MAX, 1);
    }
}
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn keep_freed_memory() {}

/// `--help` and `--version` through the program's output (so a closed pipe is quiet and
/// a full disk an error, as for every command); clap's own errors as clap prints them.
fn usage(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if !matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        e.exit()
    }
    let text = if std::io::stdout().is_terminal() {
        e.render().ansi().to_string()
    } else {
        e.render().to_string()
    };
    match cli::output::write_out(format_args!("{text}")) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if cli::output::is_closed_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn main() -> ExitCode {
    keep_freed_memory();
    let args = match Args::try_parse() {
        Ok(a) => a,
        Err(e) => return usage(e),
    };
    let run = || -> anyhow::Result<ExitCode> {
        cli::setup(&args.device, args.threads, &args.dtype)?;
        // verify-kernels times each kernel on its own cases
        let profile = !matches!(args.command, Command::VerifyKernels(_)) && cli::profile_start()?;
        let code = cli::in_pool(|| match &args.command {
            Command::Demo(a) => cli::demo::run(a),
            Command::VerifyKernels(a) => cli::verify_kernels::run(a),
            Command::Distill(a) => cli::distill::run(a),
            Command::Eval(a) => cli::eval::run(a),
            Command::Bench(a) => cli::bench::run(a),
            Command::TrainTeacher(a) => cli::train_teacher::run(a),
            Command::Inspect(a) => cli::inspect::run(a),
            Command::Generate(a) => cli::generate::run(a),
            Command::Convert(a) => cli::convert::run(a),
            Command::Audit(a) => cli::audit::run(a),
            Command::Ptx(a) => cli::ptx::run(a),
        })?;
        if profile {
            cli::profile_report()?;
        }
        Ok(code)
    };
    match run() {
        Ok(code) => code,
        // The reader of our output went away (`lawcat inspect M | head`): nothing to report.
        Err(e) if cli::output::is_closed_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            // A closed standard error is no reason to panic either.
            let _ = writeln!(std::io::stderr(), "error: {e:#}");
            ExitCode::from(2)
        }
    }
}
