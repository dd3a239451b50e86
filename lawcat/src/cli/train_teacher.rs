//! `lawcat train-teacher`: trains the small built-in demo teacher from scratch (how
//! `lawcat/assets/demo-teacher` was made).

use crate::teacher::{train_teacher, TeacherConfig};
use crate::train::RunDir;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// Where to write the teacher (config.json, model.safetensors, tokenizer.json, training.json).
    #[arg(long)]
    pub out: PathBuf,
    /// Steps on passkey documents (after the copy practice).
    #[arg(long, default_value_t = 3000)]
    pub steps: u64,
    /// Steps of copy practice (repeated random token strings) first.
    #[arg(long, default_value_t = 200)]
    pub copy_steps: u64,
    /// Training sequence length (the demo distils the student at this length).
    #[arg(long, default_value_t = 256)]
    pub seq_len: usize,
    /// Sequences per step.
    #[arg(long, default_value_t = 8)]
    pub batch_size: usize,
    /// Peak learning rate (AdamW, warmup then cosine).
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f64,
    /// Seed for initialisation and data: the same seed gives the same teacher.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// No progress bar (plain log lines).
    #[arg(long)]
    pub no_progress: bool,
}

pub fn run(a: &Args) -> anyhow::Result<ExitCode> {
    let mut c = TeacherConfig {
        seq_len: a.seq_len,
        batch_size: a.batch_size,
        seed: a.seed,
        copy_steps: a.copy_steps,
        ..TeacherConfig::default()
    };
    c.train.steps = a.steps;
    c.train.lr = a.lr;
    let run = RunDir::create(&a.out.join("run"))?;
    let s = train_teacher(&c, &a.out, &run, &super::device(), !a.no_progress)?;
    outln!(
        "{} steps, loss {:.4} -> {:.4}, {:.0} tokens/s; teacher in {}",
        s.steps,
        s.first_loss,
        s.last_loss,
        s.tokens_per_second,
        a.out.display()
    );
    Ok(ExitCode::SUCCESS)
}
