//! `lawcat demo`: the main job (see `crate::demo`). Runs on the built-in teacher with no
//! download; `--teacher PATH` runs the same pipeline on a real model (HF folder or GGUF).

use super::lawcat_opts::LawcatFlags;
use crate::demo::{run_demo, DemoConfig};
use crate::distill::DistillConfig;
use crate::train::StageConfig;
use anyhow::bail;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// The teacher: "builtin" (default) or an HF folder / .gguf file (e.g. SmolLM2-135M).
    #[arg(long, default_value = "builtin")]
    pub teacher: String,
    /// Where the student, metrics, demo.json and passkey.svg go.
    #[arg(long, default_value = "runs/demo")]
    pub out: PathBuf,
    /// Distillation length L (default: the built-in teacher's training length, 256; 1024
    /// for other teachers).
    #[arg(long)]
    pub seq_len: Option<usize>,
    /// Sequences per step (default: 8 with the built-in teacher, 1 otherwise).
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Stage-1 (attention transfer) steps (default: 200 built-in, 40 otherwise).
    #[arg(long)]
    pub stage1_steps: Option<u64>,
    /// Stage-2 (end-to-end KL) steps (default: 300 built-in, 40 otherwise).
    #[arg(long)]
    pub stage2_steps: Option<u64>,
    /// Stage-1 peak learning rate (default: 1e-2).
    #[arg(long)]
    pub lr1: Option<f64>,
    /// Stage-2 peak learning rate (default: 1e-3 built-in, 1e-4 otherwise).
    #[arg(long)]
    pub lr2: Option<f64>,
    /// Examples per (length, depth) cell.
    #[arg(long, default_value_t = 4)]
    pub samples: usize,
    /// Evaluation lengths as multiples of L.
    #[arg(long, value_delimiter = ',', default_value = "1,2,4,8")]
    pub multiples: Vec<usize>,
    /// Needle depths in [0, 1] (0: start of the context), comma separated.
    #[arg(long, value_delimiter = ',', default_value = "0,0.25,0.5,0.75,1")]
    pub depths: Vec<f64>,
    /// Seed for data, initialisation and evaluation examples.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// No progress bars (plain log lines).
    #[arg(long)]
    pub no_progress: bool,
    #[command(flatten)]
    pub lawcat: LawcatFlags,
}

pub fn run(a: &Args) -> anyhow::Result<ExitCode> {
    let builtin = a.teacher == "builtin";
    let t = super::load_named(&a.teacher)?;
    let (len, batch, s1, s2, lr1, lr2) = if builtin {
        (crate::builtin::training_length(), 8, 200, 300, 1e-2, 1e-3)
    } else {
        (1024, 1, 40, 40, 1e-2, 1e-4)
    };
    let seq_len = a.seq_len.unwrap_or(len);
    if seq_len < 64 || a.multiples.is_empty() || a.multiples.contains(&0) || a.samples == 0 {
        bail!("--seq-len must be at least 64, --multiples positive, --samples at least 1");
    }
    if a.batch_size == Some(0) {
        bail!("--batch-size must be at least 1");
    }
    if a.depths.iter().any(|d| !(0.0..=1.0).contains(d)) {
        bail!("--depths must lie in [0, 1]");
    }
    for (name, v) in [("--lr1", a.lr1), ("--lr2", a.lr2)] {
        if v.is_some_and(|v| !(v > 0.0 && v.is_finite())) {
            bail!("{name} must be a positive number, got {}", v.unwrap_or_default());
        }
    }
    let distill = DistillConfig {
        seq_len,
        batch_size: a.batch_size.unwrap_or(batch),
        stage1: StageConfig::recipe(a.stage1_steps.unwrap_or(s1), a.lr1.unwrap_or(lr1)),
        stage2: StageConfig::recipe(a.stage2_steps.unwrap_or(s2), a.lr2.unwrap_or(lr2)),
        checkpoint_every: 0,
        seed: a.seed,
        ..DistillConfig::default()
    };
    let longest = seq_len
        .checked_mul(*a.multiples.iter().max().expect("checked non-empty"))
        .ok_or_else(|| anyhow::anyhow!("--seq-len {seq_len} times --multiples is too long"))?;
    tensor::memory::check_fits(
        &format!("evaluating at {longest} tokens"),
        nn::model::forward_memory_estimate(&t.model.config, a.samples, longest),
    )?;
    tensor::memory::check_fits(
        &format!("--seq-len {seq_len}: one distillation step"),
        crate::distill::step_memory_estimate(&t.model.config, &distill),
    )?;
    let cfg = DemoConfig {
        distill,
        lawcat: a.lawcat.config()?,
        multiples: a.multiples.clone(),
        depths: a.depths.clone(),
        samples: a.samples,
        built_in_data: builtin,
    };
    let c = &t.model.config;
    outln!(
        "teacher: {} ({} layers, hidden {}, {} heads / {} kv heads, {:.2} M parameters)",
        a.teacher,
        c.num_hidden_layers,
        c.hidden_size,
        c.num_attention_heads,
        c.num_key_value_heads,
        c.num_parameters() as f64 / 1e6
    );
    outln!(
        "distilling a LAWCAT student on {seq_len}-token sequences ({} + {} steps), then passkey \
            retrieval at {:?} x {seq_len} tokens",
        cfg.distill.stage1.steps,
        cfg.distill.stage2.steps,
        a.multiples
    );
    let rep = run_demo(&t, &a.teacher, &cfg, &a.out, !a.no_progress)?;
    for s in &rep.stages {
        outln!(
            "stage {}: loss {:.4} -> {:.4} in {:.0} s",
            s.stage,
            s.first_loss,
            s.last_loss,
            s.seconds
        );
    }
    out!("\n{}", rep.table());
    outln!(
        "\nwrote {0}/demo.json, {0}/passkey.svg, student in {0}/student ({1:.0} s in all)",
        a.out.display(),
        rep.seconds
    );
    Ok(ExitCode::SUCCESS)
}
