//! `lawcat`: distill Llama teachers into LAWCAT linear-attention students, evaluate them,
//! and audit every piece against outside references. `lawcat <command> --help` for each.

use clap::{Parser, Subcommand};
use lawcat::cli;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "lawcat", version, about = "LAWCAT linear-attention students distilled from Llama teachers, on our own engine")]
struct Args {
    /// Where to compute: cpu, or cuda (needs the ptx backend, which this build does not have yet).
    #[arg(long, global = true, default_value = "cpu")]
    device: String,
    /// CPU threads (default: all cores).
    #[arg(long, global = true)]
    threads: Option<usize>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Show a model's config, parameter count and dtypes.
    Inspect(cli::inspect::Args),
    /// Generate text from a model.
    Generate(cli::generate::Args),
    /// Convert a GGUF file to a Hugging Face folder (config.json, model.safetensors, tokenizer.json).
    Convert(cli::convert::Args),
    /// Compare our implementation with a reference dump from another implementation.
    Audit(cli::audit::Args),
}

fn main() -> ExitCode {
    let args = Args::parse();
    let run = || -> anyhow::Result<ExitCode> {
        cli::setup(&args.device, args.threads)?;
        match &args.command {
            Command::Inspect(a) => cli::inspect::run(a),
            Command::Generate(a) => cli::generate::run(a),
            Command::Convert(a) => cli::convert::run(a),
            Command::Audit(a) => cli::audit::run(a),
        }
    };
    match run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
