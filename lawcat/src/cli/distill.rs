//! `lawcat distill`: a teacher into a LAWCAT student, stage 1 then stage 2, with progress,
//! metrics, checkpoints and `--resume`.

use super::lawcat_opts::LawcatFlags;
use crate::data::{BuiltIn, Data};
use crate::distill::{distill, DistillConfig, DistillOptions};
use crate::student::{build_student, save_student, StudentInfo};
use crate::train::{RunDir, StageConfig};
use anyhow::{bail, Context};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// The teacher: HF folder, .gguf file, or "builtin" (the demo teacher).
    #[arg(long)]
    pub teacher: String,
    /// Training text: .txt / .jsonl ({"text": ...}) files or folders; without it, built-in
    /// synthetic long-context documents.
    #[arg(long)]
    pub data: Vec<PathBuf>,
    /// Distillation sequence length: documents are tokenized and packed to it.
    #[arg(long, default_value_t = 1024)]
    pub seq_len: usize,
    /// Sequences per step.
    #[arg(long, default_value_t = 1)]
    pub batch_size: usize,
    /// Stage-1 (attention transfer, all layers from the teacher's hidden states) steps.
    #[arg(long, default_value_t = 200)]
    pub stage1_steps: u64,
    /// Stage-2 (end-to-end KL to the teacher's next-token distribution) steps.
    #[arg(long, default_value_t = 200)]
    pub stage2_steps: u64,
    /// Stage-1 peak learning rate (AdamW, warmup then cosine).
    #[arg(long, default_value_t = 1e-2)]
    pub lr1: f64,
    /// Stage-2 peak learning rate (AdamW, warmup then cosine).
    #[arg(long, default_value_t = 1e-4)]
    pub lr2: f64,
    /// Fraction of each stage spent warming the learning rate up.
    #[arg(long, default_value_t = 0.1)]
    pub warmup: f64,
    /// Gradient clipping (global norm).
    #[arg(long, default_value_t = 1.0)]
    pub clip: f64,
    /// Add this weight times the next-token cross-entropy to the stage-2 KL.
    #[arg(long, default_value_t = 0.0)]
    pub ce_weight: f64,
    /// LoRA (rank 8, alpha 16 unless set) on q/k/v/o in stage 2.
    #[arg(long)]
    pub lora: bool,
    /// LoRA rank (with --lora).
    #[arg(long, default_value_t = 8)]
    pub lora_rank: usize,
    /// LoRA scale alpha: the update is (alpha / rank) B A (with --lora).
    #[arg(long, default_value_t = 16.0)]
    pub lora_alpha: f64,
    /// Write a checkpoint (atomically) every this many steps (0: none in between), and
    /// always one at each stage's end.
    #[arg(long, default_value_t = 50)]
    pub checkpoint_every: u64,
    /// Seed for data order, initialisation and LoRA; the same seed resumes to the same weights.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// The run folder: metrics.jsonl, checkpoints/, student/.
    #[arg(long)]
    pub out: PathBuf,
    /// Continue the run in --out from its last checkpoint (refused when the settings, the
    /// teacher or the data differ from the checkpoint's).
    #[arg(long)]
    pub resume: bool,
    /// With --resume: continue with the --lr1/--lr2 given now, not the checkpoint's (after
    /// a non-finite loss, a smaller one); recorded in metrics.jsonl and lawcat.json.
    #[arg(long)]
    pub override_lr: bool,
    /// Stop after this many steps (the run can be resumed later).
    #[arg(long)]
    pub stop_after: Option<u64>,
    /// No progress bar (plain log lines).
    #[arg(long)]
    pub no_progress: bool,
    #[command(flatten)]
    pub lawcat: LawcatFlags,
}

pub fn config(a: &Args) -> anyhow::Result<DistillConfig> {
    if a.seq_len < 2 || a.batch_size == 0 {
        bail!("--seq-len must be at least 2 and --batch-size at least 1");
    }
    if a.seq_len.checked_mul(a.batch_size).is_none_or(|n| n > i64::MAX as usize) {
        bail!(
            "--seq-len {} times --batch-size {} is more tokens per step than can be counted",
            a.seq_len,
            a.batch_size
        );
    }
    for (name, v) in
        [("--lr1", a.lr1), ("--lr2", a.lr2), ("--clip", a.clip), ("--lora-alpha", a.lora_alpha)]
    {
        if !(v > 0.0 && v.is_finite()) {
            bail!("{name} must be a positive number, got {v}");
        }
    }
    if !(a.ce_weight >= 0.0 && a.ce_weight.is_finite()) {
        bail!("--ce-weight must be a number >= 0, got {}", a.ce_weight);
    }
    if a.lora && a.lora_rank == 0 {
        bail!("--lora-rank must be at least 1");
    }
    if a.override_lr && !a.resume {
        bail!("--override-lr only applies with --resume");
    }
    if !(0.0..1.0).contains(&a.warmup) {
        bail!("--warmup must be in [0, 1), got {}", a.warmup);
    }
    let stage = |steps, lr| StageConfig {
        warmup_frac: a.warmup,
        clip: a.clip,
        ..StageConfig::recipe(steps, lr)
    };
    Ok(DistillConfig {
        seq_len: a.seq_len,
        batch_size: a.batch_size,
        stage1: stage(a.stage1_steps, a.lr1),
        stage2: stage(a.stage2_steps, a.lr2),
        ce_weight: a.ce_weight,
        kl_temperature: 1.0,
        lora_rank: if a.lora { a.lora_rank } else { 0 },
        lora_alpha: a.lora_alpha,
        checkpoint_every: a.checkpoint_every,
        seed: a.seed,
    })
}

pub fn run(a: &Args) -> anyhow::Result<ExitCode> {
    let cfg = config(a)?;
    let lcfg = a.lawcat.config()?;
    let t = super::load_named(&a.teacher)?;
    let tok = t
        .tokenizer
        .as_ref()
        .with_context(|| format!("the teacher {} has no tokenizer", a.teacher))?;
    let eos = t.model.config.eos_token_ids.first().copied().unwrap_or(0);
    let data = if a.data.is_empty() {
        let kind = if a.teacher == "builtin" { BuiltIn::Passkey } else { BuiltIn::Mixed };
        Data::built_in(kind, tok.clone(), eos, cfg.seq_len, cfg.batch_size, cfg.seed)
    } else {
        Data::from_files(&a.data, tok, eos, cfg.seq_len, cfg.batch_size, cfg.seed)?
    };
    tensor::memory::check_fits(
        &format!(
            "--seq-len {} --batch-size {}: one distillation step",
            cfg.seq_len, cfg.batch_size
        ),
        crate::distill::step_memory_estimate(&t.model.config, &cfg),
    )?;
    if a.out.join("checkpoints").join("latest.json").exists() && !a.resume {
        bail!(
            "{} already holds a run; pass --resume to continue it or choose another --out",
            a.out.display()
        );
    }
    let dir = RunDir::create(&a.out)?;
    eprintln!("data: {}", data.describe());
    let mut student = build_student(&t.model, &lcfg, cfg.seed)?;
    let opts = DistillOptions {
        dir: &dir,
        resume: a.resume,
        progress: !a.no_progress,
        stop_after: a.stop_after,
        override_lr: a.override_lr,
    };
    let summaries = distill(&t.model, &mut student, &lcfg, &data, &cfg, &opts)?;
    for s in &summaries {
        outln!(
            "stage {}: {} steps, loss {:.5} -> {:.5} ({:.0} tokens/s, {:.1} s)",
            s.stage,
            s.steps,
            s.first_loss,
            s.last_loss,
            s.tokens_per_second,
            s.seconds
        );
    }
    let done = summaries.last().is_some_and(|s| {
        s.steps
            >= if s.stage == 1 && cfg.stage2.steps == 0 {
                cfg.stage1.steps
            } else {
                cfg.stage2.steps
            }
    }) || (cfg.stage1.steps == 0 && cfg.stage2.steps == 0);
    let mut final_lcfg = lcfg.clone();
    final_lcfg.lora_rank = cfg.lora_rank;
    final_lcfg.lora_alpha = cfg.lora_alpha;
    let overrides: Vec<serde_json::Value> =
        dir.metric_lines()?.into_iter().filter(|v| v["event"] == "lr_override").collect();
    let info = StudentInfo {
        lawcat: final_lcfg,
        teacher: a.teacher.clone(),
        notes: serde_json::json!({
            "distill": cfg, "summaries": summaries, "lr_overrides": overrides
        }),
    };
    if done {
        let student_dir = a.out.join("student");
        save_student(&student, &info, Some(tok), &student_dir)?;
        dir.finish(&[(&student_dir, &crate::student::STUDENT_FILES)])?;
        outln!("student saved to {}", student_dir.display());
    } else {
        outln!("stopped before the end; continue with --resume");
    }
    Ok(ExitCode::SUCCESS)
}
