//! The training loop shared by distillation and teacher training: AdamW with warm-up and
//! cosine decay, gradient clipping, a progress bar (step, loss, tokens/s, ETA), metrics
//! appended to `metrics.jsonl`, and checkpoints written whole-or-not-at-all every N steps
//! so a killed run resumes exactly where its last checkpoint was.
//!
//! A checkpoint is a folder `checkpoints/stage<S>-step<N>/` holding the trained tensors,
//! the optimizer state and `state.json`; `checkpoints/latest.json` (replaced atomically
//! after the folder is complete) names the newest one.

use autograd::optim::{clip_grad_norm, AdamW, LrSchedule, Optimizer};
use autograd::{Param, Var};
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;
use tensor::{DType, Error, Result, Tensor};

/// Optimizer settings of one stage.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct StageConfig {
    pub steps: u64,
    pub lr: f64,
    pub warmup_frac: f64,
    pub min_lr_ratio: f64,
    pub weight_decay: f64,
    pub clip: f64,
}

/// Where a run keeps its files.
pub struct RunDir {
    pub root: PathBuf,
}

/// What a checkpoint says about where training stood.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct CheckpointState {
    pub stage: u32,
    /// Steps of this stage completed.
    pub step: u64,
    pub folder: String,
    /// Free-form run information (configs), checked by the caller on resume.
    pub run: serde_json::Value,
}

impl RunDir {
    pub fn create(root: &Path) -> Result<RunDir> {
        std::fs::create_dir_all(root.join("checkpoints")).map_err(|e| Error::io(root, e))?;
        Ok(RunDir { root: root.to_path_buf() })
    }
    pub fn metrics_path(&self) -> PathBuf {
        self.root.join("metrics.jsonl")
    }
    fn latest_path(&self) -> PathBuf {
        self.root.join("checkpoints").join("latest.json")
    }
    /// The newest complete checkpoint, if any.
    pub fn latest(&self) -> Result<Option<CheckpointState>> {
        let p = self.latest_path();
        if !p.exists() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(&p).map_err(|e| Error::io(&p, e))?;
        serde_json::from_str(&text).map(Some).map_err(|e| Error::file(&p, format!("not a valid checkpoint record: {e}")))
    }
    /// Writes a checkpoint of `params` and `opt` after `step` steps of `stage`.
    pub fn save(&self, stage: u32, step: u64, params: &[Param], opt: &AdamW, run: &serde_json::Value) -> Result<()> {
        let folder = format!("stage{stage}-step{step:07}");
        let dir = self.root.join("checkpoints").join(&folder);
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        let vals: Vec<(String, Tensor)> = params.iter().map(|p| (p.name().to_string(), p.value())).collect();
        tensor::safetensors_io::save(vals.iter().map(|(n, t)| (n.as_str(), t)), None, dir.join("params.safetensors"))?;
        opt.save_state(&dir.join("optimizer.safetensors"))?;
        let state = CheckpointState { stage, step, folder: folder.clone(), run: run.clone() };
        let text = serde_json::to_string_pretty(&state).expect("state serializes");
        tensor::atomic::write_bytes_atomic(&dir.join("state.json"), text.as_bytes())?;
        let previous = self.latest()?;
        tensor::atomic::write_bytes_atomic(&self.latest_path(), text.as_bytes())?;
        if let Some(prev) = previous {
            if prev.folder != folder {
                let _ = std::fs::remove_dir_all(self.root.join("checkpoints").join(prev.folder));
            }
        }
        Ok(())
    }
    /// Restores `params` and `opt` from a checkpoint.
    pub fn restore(&self, state: &CheckpointState, params: &[Param], opt: &mut AdamW) -> Result<()> {
        let dir = self.root.join("checkpoints").join(&state.folder);
        let saved = tensor::safetensors_io::load(dir.join("params.safetensors"))?;
        for p in params {
            let t = saved.get(p.name()).ok_or_else(|| Error::file(dir.join("params.safetensors"), format!("no tensor {}", p.name())))?;
            p.set(t.clone()).map_err(|e| Error::file(dir.join("params.safetensors"), e.to_string()))?;
        }
        opt.restore_state(&dir.join("optimizer.safetensors"))
    }
    /// Drops metric lines past `(stage, step)` (written after the checkpoint by a run that
    /// was then killed).
    pub fn trim_metrics(&self, stage: u32, step: u64) -> Result<()> {
        let p = self.metrics_path();
        if !p.exists() {
            return Ok(());
        }
        let text = std::fs::read_to_string(&p).map_err(|e| Error::io(&p, e))?;
        let keep: Vec<&str> = text
            .lines()
            .filter(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap_or_default();
                let (s, n) = (v["stage"].as_u64().unwrap_or(0) as u32, v["step"].as_u64().unwrap_or(0));
                (s, n) <= (stage, step)
            })
            .collect();
        let mut out = keep.join("\n");
        if !out.is_empty() {
            out.push('\n');
        }
        tensor::atomic::write_bytes_atomic(&p, out.as_bytes())
    }
    fn append_metric(&self, v: &serde_json::Value) -> Result<()> {
        let p = self.metrics_path();
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&p).map_err(|e| Error::io(&p, e))?;
        writeln!(f, "{v}").map_err(|e| Error::io(&p, e))
    }
}

/// How a stage ended.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StageSummary {
    pub stage: u32,
    pub steps: u64,
    /// Loss of the first step run (before any update of this call).
    pub first_loss: f64,
    /// Mean loss of the last 10% of the steps run (at least one), to smooth batch noise.
    pub last_loss: f64,
    pub seconds: f64,
    pub tokens_per_second: f64,
}

/// Everything one stage needs besides the loss.
pub struct StageRun<'a> {
    pub name: &'a str,
    pub stage: u32,
    pub cfg: &'a StageConfig,
    pub params: Vec<Param>,
    pub tokens_per_step: usize,
    pub checkpoint_every: u64,
    /// Steps already done (from a checkpoint) and the optimizer to continue with.
    pub start_step: u64,
    pub dir: Option<&'a RunDir>,
    pub run_info: serde_json::Value,
    pub progress: bool,
    /// Stop (as if killed) after this many steps of this call.
    pub stop_after: Option<u64>,
}

pub fn new_optimizer(params: Vec<Param>, cfg: &StageConfig) -> AdamW {
    AdamW::new(params, cfg.lr).with_weight_decay(cfg.weight_decay)
}

/// The loss and the gradient norm (`NaN` when there is none) in one transfer to the host.
fn read_loss_and_norm(loss: &Tensor, norm: Option<&Tensor>) -> Result<(f64, f64)> {
    let l = loss.to_dtype(DType::F64)?.reshape(1)?;
    let both = match norm {
        Some(n) => Tensor::cat(&[&l, &n.to_dtype(DType::F64)?.reshape(1)?], 0)?.to_vec_f64()?,
        None => vec![l.to_scalar()?, f64::NAN],
    };
    Ok((both[0], both[1]))
}

/// Runs steps `start_step..cfg.steps`; `loss(step)` builds the loss of a step. A loss that
/// is not finite stops the run with an error naming the step, the last checkpoint kept.
pub fn run_stage(r: StageRun, opt: &mut AdamW, mut loss: impl FnMut(u64) -> Result<Var>) -> Result<StageSummary> {
    let cfg = r.cfg;
    let sched = LrSchedule::WarmupCosine { warmup: ((cfg.steps as f64 * cfg.warmup_frac) as u64).max(1), total: cfg.steps, min_ratio: cfg.min_lr_ratio };
    let pb = if r.progress { ProgressBar::new(cfg.steps) } else { ProgressBar::hidden() };
    pb.set_style(ProgressStyle::with_template("{prefix:>8} [{bar:30}] {pos}/{len} {msg} ETA {eta}").expect("valid template").progress_chars("=> "));
    pb.set_prefix(r.name.to_string());
    pb.set_position(r.start_step);
    let start = Instant::now();
    let mut losses = vec![];
    let mut step = r.start_step;
    let mut ran = 0u64;
    while step < cfg.steps {
        if r.stop_after.is_some_and(|n| ran >= n) {
            break;
        }
        let t0 = Instant::now();
        opt.set_lr(sched.lr(cfg.lr, step));
        opt.zero_grad();
        let l = loss(step)?;
        l.backward()?;
        let norm = clip_grad_norm(&r.params, cfg.clip)?;
        // The step's one host read: the loss and the gradient norm together.
        let (value, norm) = read_loss_and_norm(l.value(), norm.as_ref())?;
        drop(l);
        if !value.is_finite() {
            let last = r.dir.and_then(|d| d.latest().ok().flatten()).map_or("none".to_string(), |c| format!("{} (stage {} step {})", c.folder, c.stage, c.step));
            pb.abandon();
            return Err(Error::op("train", format!("{}: loss is {value} at step {} of stage {}; stopped. Last good checkpoint: {last}", r.name, step + 1, r.stage)));
        }
        opt.step()?;
        step += 1;
        ran += 1;
        losses.push(value);
        let tps = r.tokens_per_step as f64 / t0.elapsed().as_secs_f64().max(1e-9);
        pb.set_message(format!("loss {value:.5} {tps:.0} tok/s"));
        pb.set_position(step);
        if let Some(d) = r.dir {
            d.append_metric(&serde_json::json!({"stage": r.stage, "step": step, "loss": value, "lr": opt.lr(), "grad_norm": norm, "tokens_per_s": tps}))?;
            if r.checkpoint_every > 0 && (step % r.checkpoint_every == 0 || step == cfg.steps) {
                d.save(r.stage, step, &r.params, opt, &r.run_info)?;
            }
        }
    }
    pb.finish_and_clear();
    let secs = start.elapsed().as_secs_f64();
    let n = losses.len();
    let tenth = (n / 10).max(1).min(n.max(1));
    let mean = |s: &[f64]| if s.is_empty() { f64::NAN } else { s.iter().sum::<f64>() / s.len() as f64 };
    Ok(StageSummary {
        stage: r.stage,
        steps: step,
        first_loss: losses.first().copied().unwrap_or(f64::NAN),
        last_loss: mean(&losses[n.saturating_sub(tenth)..]),
        seconds: secs,
        tokens_per_second: (ran as f64 * r.tokens_per_step as f64) / secs.max(1e-9),
    })
}
