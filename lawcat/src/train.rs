//! The training loop shared by distillation and teacher training: AdamW with warm-up and
//! cosine decay, gradient clipping, a progress bar (step, loss, tokens/s, ETA), metrics
//! appended to `metrics.jsonl`, and checkpoints written whole-or-not-at-all every N steps
//! so a killed run resumes exactly where its last checkpoint was.
//!
//! A checkpoint is a folder `checkpoints/stage<S>-step<N>/` holding the trained tensors,
//! the optimizer state and `state.json` (the record: stage, step, run settings and content
//! hashes, and the SHA-256 of the other two files); `checkpoints/latest.json` (replaced
//! atomically after the folder is complete) holds the same record. A resume reads and
//! deletes only inside its own run folder, and refuses a record that disagrees with its
//! folder, a changed file, or (checked by the caller) other settings or another teacher.

use autograd::{Param, Var};
use indicatif::{ProgressBar, ProgressStyle};
use nn::optim::{clip_grad_norm, AdamW, LrSchedule, Optimizer};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
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

impl StageConfig {
    /// A distillation stage of `steps` at peak rate `lr`, on the recipe's schedule: warmup
    /// over the first 10% of the steps, cosine decay to a tenth of the peak, no weight decay,
    /// gradients clipped to norm 1.
    pub fn recipe(steps: u64, lr: f64) -> StageConfig {
        StageConfig { steps, lr, warmup_frac: 0.1, min_lr_ratio: 0.1, weight_decay: 0.0, clip: 1.0 }
    }
}

/// Where a run keeps its files. Everything a run reads back or deletes is inside `root`
/// (resolved once, when the folder is opened): a checkpoint record cannot point elsewhere.
pub struct RunDir {
    pub root: PathBuf,
}

/// What a checkpoint says about where training stood. `checkpoints/latest.json` and the
/// checkpoint's own `state.json` hold the same record; a resume refuses any disagreement.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct CheckpointState {
    pub stage: u32,
    /// Steps of this stage completed.
    pub step: u64,
    /// The checkpoint's folder under `checkpoints/`: always `stage<S>-step<NNNNNNN>`.
    pub folder: String,
    /// Free-form run information (settings, content hashes of the teacher and the data),
    /// checked by the caller on resume.
    pub run: serde_json::Value,
    /// SHA-256 of each file in the checkpoint folder (besides `state.json`).
    #[serde(default)]
    pub files: BTreeMap<String, String>,
}

/// The files a checkpoint folder holds (the only ones pruning ever deletes).
const CHECKPOINT_FILES: [&str; 3] = ["params.safetensors", "optimizer.safetensors", "state.json"];

/// The folder name of the checkpoint after `step` steps of `stage`.
pub fn checkpoint_folder(stage: u32, step: u64) -> String {
    format!("stage{stage}-step{step:07}")
}

/// `(stage, step)` of a folder name [`checkpoint_folder`] makes; `None` for anything else
/// (so a record naming `../x`, an absolute path or a name with separators is refused).
pub fn parse_checkpoint_folder(name: &str) -> Option<(u32, u64)> {
    let rest = name.strip_prefix("stage")?;
    let (stage, step) = rest.split_once("-step")?;
    let digits = |s: &str| !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(stage) || !digits(step) || step.len() < 7 {
        return None;
    }
    let (stage, step) = (stage.parse().ok()?, step.parse().ok()?);
    (checkpoint_folder(stage, step) == name).then_some((stage, step))
}

/// True for a temporary file `tensor::atomic` leaves when killed while writing one of
/// `names` (`.<name>.<pid>.tmp`).
fn is_temp_of(file: &str, names: &[&str]) -> bool {
    let Some(inner) = file.strip_prefix('.').and_then(|f| f.strip_suffix(".tmp")) else {
        return false;
    };
    let Some((name, pid)) = inner.rsplit_once('.') else { return false };
    !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()) && names.contains(&name)
}

/// Deletes the temporary files of `names` in `dir`, and nothing else.
pub fn remove_temp_files(dir: &Path, names: &[&str]) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Ok(()) };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if is_temp_of(&name, names) && e.file_type().is_ok_and(|t| t.is_file()) {
            std::fs::remove_file(e.path()).map_err(|err| Error::io(e.path(), err))?;
        }
    }
    Ok(())
}

/// A JSON number for a metric: non-finite values (which JSON cannot hold) as strings.
fn num(v: f64) -> serde_json::Value {
    if v.is_finite() {
        serde_json::json!(v)
    } else {
        serde_json::json!(v.to_string())
    }
}

impl RunDir {
    pub fn create(root: &Path) -> Result<RunDir> {
        std::fs::create_dir_all(root.join("checkpoints")).map_err(|e| Error::io(root, e))?;
        let root = root.canonicalize().map_err(|e| Error::io(root, e))?;
        let ck = root.join("checkpoints");
        if !std::fs::symlink_metadata(&ck).is_ok_and(|m| m.is_dir()) {
            return Err(Error::file(&ck, "must be a folder of this run (it is a link or a file)"));
        }
        Ok(RunDir { root })
    }
    pub fn metrics_path(&self) -> PathBuf {
        self.root.join("metrics.jsonl")
    }
    fn checkpoints(&self) -> PathBuf {
        self.root.join("checkpoints")
    }
    fn latest_path(&self) -> PathBuf {
        self.checkpoints().join("latest.json")
    }
    /// The folder of the checkpoint a record (`source`) names: refused unless the name is
    /// one this run writes and the folder, links resolved, lies inside `checkpoints/`.
    fn checkpoint_dir(&self, folder: &str, source: &Path) -> Result<PathBuf> {
        if parse_checkpoint_folder(folder).is_none() {
            return Err(Error::file(
                source,
                format!(
                    "names the checkpoint folder {folder:?}, which is not one this run writes \
                     (stage<S>-step<NNNNNNN> inside checkpoints/); refusing to read or delete it"
                ),
            ));
        }
        let dir = self.checkpoints().join(folder);
        let resolved = dir.canonicalize().map_err(|e| {
            Error::file(
                source,
                format!("names the checkpoint folder {folder:?}, which cannot be opened: {e}"),
            )
        })?;
        if !resolved.starts_with(self.checkpoints())
            || !std::fs::symlink_metadata(&dir).is_ok_and(|m| m.is_dir())
        {
            return Err(Error::file(
                source,
                format!(
                    "names the checkpoint folder {folder:?}, which resolves to {} outside this \
                     run's checkpoints/; refusing to read or delete it",
                    resolved.display()
                ),
            ));
        }
        Ok(dir)
    }
    fn read_record(path: &Path) -> Result<CheckpointState> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let s: CheckpointState = serde_json::from_str(&text)
            .map_err(|e| Error::file(path, format!("not a valid checkpoint record: {e}")))?;
        match parse_checkpoint_folder(&s.folder) {
            Some((stage, step)) if (stage, step) == (s.stage, s.step) => Ok(s),
            Some((stage, step)) => Err(Error::file(
                path,
                format!(
                    "says stage {} step {}, but names the folder {} (stage {stage} step {step}): \
                     the record was edited",
                    s.stage, s.step, s.folder
                ),
            )),
            None => Err(Error::file(
                path,
                format!(
                    "names the checkpoint folder {:?}, which is not one this run writes \
                     (stage<S>-step<NNNNNNN> inside checkpoints/); refusing to read or delete it",
                    s.folder
                ),
            )),
        }
    }
    /// The newest complete checkpoint, if any, checked against its folder: the folder must
    /// be one of this run's, its `state.json` must hold the same record, and every file
    /// must have the SHA-256 recorded when it was written.
    pub fn latest(&self) -> Result<Option<CheckpointState>> {
        let p = self.latest_path();
        if !p.exists() {
            return Ok(None);
        }
        let s = Self::read_record(&p)?;
        let dir = self.checkpoint_dir(&s.folder, &p)?;
        let own_path = dir.join("state.json");
        if !own_path.exists() {
            return Err(Error::file(
                &own_path,
                "is missing: the checkpoint is incomplete or was damaged; refusing to resume from \
                 it",
            ));
        }
        let own = Self::read_record(&own_path)?;
        if own != s {
            let what = if (own.stage, own.step) != (s.stage, s.step) {
                format!(
                    "stage {} step {} there, stage {} step {} in latest.json",
                    own.stage, own.step, s.stage, s.step
                )
            } else {
                "settings or file hashes differ".to_string()
            };
            return Err(Error::file(
                &p,
                format!(
                    "disagrees with {} ({what}): the checkpoint record was edited; refusing to \
                     resume",
                    own_path.display()
                ),
            ));
        }
        if s.files.is_empty() {
            return Err(Error::file(
                &own_path,
                "records no file hashes (written by an older lawcat?); refusing to resume from a \
                 checkpoint that cannot be verified",
            ));
        }
        for (name, want) in &s.files {
            if !CHECKPOINT_FILES.contains(&name.as_str()) {
                return Err(Error::file(
                    &own_path,
                    format!("lists the file {name:?}, which is not one a checkpoint holds"),
                ));
            }
            let f = dir.join(name);
            let got = tensor::sha256::file_hex(&f)?;
            if &got != want {
                return Err(Error::file(
                    &f,
                    format!(
                        "has SHA-256 {got}, the checkpoint recorded {want}: the file was changed \
                         or damaged; refusing to resume"
                    ),
                ));
            }
        }
        Ok(Some(s))
    }
    /// Writes a checkpoint of `params` and `opt` after `step` steps of `stage`, then points
    /// `latest.json` at it and removes the checkpoints this run wrote before it.
    pub fn save(
        &self,
        stage: u32,
        step: u64,
        params: &[Param],
        opt: &AdamW,
        run: &serde_json::Value,
    ) -> Result<()> {
        let folder = checkpoint_folder(stage, step);
        let dir = self.checkpoints().join(&folder);
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        let vals: Vec<(String, Tensor)> =
            params.iter().map(|p| (p.name().to_string(), p.value())).collect();
        tensor::safetensors_io::save(
            vals.iter().map(|(n, t)| (n.as_str(), t)),
            None,
            dir.join("params.safetensors"),
        )?;
        opt.save_state(&dir.join("optimizer.safetensors"))?;
        let mut files = BTreeMap::new();
        for f in ["params.safetensors", "optimizer.safetensors"] {
            files.insert(f.to_string(), tensor::sha256::file_hex(&dir.join(f))?);
        }
        let state =
            CheckpointState { stage, step, folder: folder.clone(), run: run.clone(), files };
        let text = serde_json::to_string_pretty(&state)
            .map_err(|e| Error::file(&dir, format!("cannot write the checkpoint record: {e}")))?;
        tensor::atomic::write_bytes_atomic(&dir.join("state.json"), text.as_bytes())?;
        tensor::atomic::write_bytes_atomic(&self.latest_path(), text.as_bytes())?;
        self.prune(&folder)
    }
    /// Removes every checkpoint folder this run wrote except `keep`, and the temporary
    /// files of writes that were killed. Only files a checkpoint holds are deleted; a
    /// folder that also holds anything else is left (with a warning naming it).
    pub fn prune(&self, keep: &str) -> Result<()> {
        let ck = self.checkpoints();
        remove_temp_files(&ck, &["latest.json"])?;
        let Ok(entries) = std::fs::read_dir(&ck) else { return Ok(()) };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            // A link or a file with a checkpoint's name is not something this run wrote.
            if name == keep
                || parse_checkpoint_folder(&name).is_none()
                || !e.file_type().is_ok_and(|t| t.is_dir())
            {
                continue;
            }
            let dir = e.path();
            for f in CHECKPOINT_FILES {
                let p = dir.join(f);
                if std::fs::symlink_metadata(&p).is_ok_and(|m| m.is_file()) {
                    std::fs::remove_file(&p).map_err(|err| Error::io(&p, err))?;
                }
            }
            remove_temp_files(&dir, &CHECKPOINT_FILES)?;
            if std::fs::remove_dir(&dir).is_err() {
                eprintln!("warning: kept {}: it holds files this run did not write", dir.display());
            }
        }
        if let Ok(kept) = self.checkpoint_dir(keep, &ck) {
            remove_temp_files(&kept, &CHECKPOINT_FILES)?;
        }
        Ok(())
    }
    /// Removes every checkpoint this run folder holds (for a fresh run in it): the
    /// checkpoint folders and files a run writes, and `latest.json`; nothing else.
    pub fn clear_checkpoints(&self) -> Result<()> {
        let latest = self.latest_path();
        if std::fs::symlink_metadata(&latest).is_ok_and(|m| m.is_file()) {
            std::fs::remove_file(&latest).map_err(|e| Error::io(&latest, e))?;
        }
        self.prune("")
    }
    /// After a finished run: only the last checkpoint stays, no temporary files anywhere
    /// this run writes (run folder, checkpoints, and `extra` folders such as `student/`
    /// with the names written there).
    pub fn finish(&self, extra: &[(&Path, &[&str])]) -> Result<()> {
        if let Some(l) = self.latest()? {
            self.prune(&l.folder)?;
        }
        remove_temp_files(&self.root, &["metrics.jsonl"])?;
        for (dir, names) in extra {
            remove_temp_files(dir, names)?;
        }
        Ok(())
    }
    /// Restores `params` and `opt` from a checkpoint [`latest`](Self::latest) checked.
    pub fn restore(
        &self,
        state: &CheckpointState,
        params: &[Param],
        opt: &mut AdamW,
    ) -> Result<()> {
        let dir = self.checkpoint_dir(&state.folder, &self.latest_path())?;
        let file = dir.join("params.safetensors");
        let saved = tensor::safetensors_io::load(&file)?;
        for p in params {
            let t = saved
                .get(p.name())
                .ok_or_else(|| Error::file(&file, format!("no tensor {}", p.name())))?;
            p.set(t.clone()).map_err(|e| Error::file(&file, e.to_string()))?;
        }
        let opt_file = dir.join("optimizer.safetensors");
        opt.restore_state(&opt_file)?;
        if opt.steps() != state.step {
            return Err(Error::file(
                &opt_file,
                format!(
                    "the optimizer has taken {} steps, the checkpoint says {}: refusing to resume",
                    opt.steps(),
                    state.step
                ),
            ));
        }
        Ok(())
    }
    /// Empties `metrics.jsonl` (a fresh run in a folder an earlier run left metrics in).
    pub fn reset_metrics(&self) -> Result<()> {
        let p = self.metrics_path();
        if p.exists() {
            tensor::atomic::write_bytes_atomic(&p, b"")?;
        }
        Ok(())
    }
    /// Drops metric lines past `(stage, step)` (written after the checkpoint by a run that
    /// was then killed).
    pub fn trim_metrics(&self, stage: u32, step: u64) -> Result<()> {
        let p = self.metrics_path();
        if !p.exists() {
            return Ok(());
        }
        let text = std::fs::read_to_string(&p).map_err(|e| Error::io(&p, e))?;
        // The kept lines as they were written (parsing and printing a float again could
        // change its last digit, and the summaries read these values).
        let keep: Vec<&str> = text
            .lines()
            .filter(|l| {
                serde_json::from_str::<serde_json::Value>(l)
                    .is_ok_and(|v| v.is_object() && Self::position(&v) <= (stage, step))
            })
            .collect();
        let mut out = keep.join("\n");
        if !out.is_empty() {
            out.push('\n');
        }
        tensor::atomic::write_bytes_atomic(&self.metrics_path(), out.as_bytes())
    }
    fn position(v: &serde_json::Value) -> (u32, u64) {
        (v["stage"].as_u64().unwrap_or(0) as u32, v["step"].as_u64().unwrap_or(0))
    }
    /// Every line of `metrics.jsonl` (steps and events); lines that are not JSON (a line
    /// cut short by a kill) are skipped.
    pub fn metric_lines(&self) -> Result<Vec<serde_json::Value>> {
        let p = self.metrics_path();
        if !p.exists() {
            return Ok(vec![]);
        }
        let text = std::fs::read_to_string(&p).map_err(|e| Error::io(&p, e))?;
        Ok(text
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v.is_object())
            .collect())
    }
    /// Appends one line to `metrics.jsonl`.
    pub fn append_metric(&self, v: &serde_json::Value) -> Result<()> {
        let p = self.metrics_path();
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&p)
            .map_err(|e| Error::io(&p, e))?;
        writeln!(f, "{v}").map_err(|e| Error::io(&p, e))
    }
    /// The summary of `stage` over the whole run, from `metrics.jsonl` (every process of a
    /// resumed run included); `None` when no step of it was run.
    pub fn stage_summary(
        &self,
        stage: u32,
        tokens_per_step: usize,
    ) -> Result<Option<StageSummary>> {
        let mut steps: Vec<(u64, f64, f64)> = vec![];
        for v in self.metric_lines()? {
            if v.get("event").is_some() || v["stage"].as_u64() != Some(stage as u64) {
                continue;
            }
            let loss = v["loss"].as_f64().unwrap_or(f64::NAN);
            steps.push((
                v["step"].as_u64().unwrap_or(0),
                loss,
                v["seconds"].as_f64().unwrap_or(0.0),
            ));
        }
        if steps.is_empty() {
            return Ok(None);
        }
        steps.sort_by_key(|s| s.0);
        let losses: Vec<f64> = steps.iter().map(|s| s.1).collect();
        let seconds: f64 = steps.iter().map(|s| s.2).sum();
        Ok(Some(summarize(
            stage,
            steps.last().map_or(0, |s| s.0),
            &losses,
            seconds,
            tokens_per_step,
        )))
    }
}

/// A stage's summary from the losses of the steps run, in order.
fn summarize(
    stage: u32,
    steps: u64,
    losses: &[f64],
    seconds: f64,
    tokens_per_step: usize,
) -> StageSummary {
    let n = losses.len();
    let tenth = (n / 10).max(1).min(n.max(1));
    let mean =
        |s: &[f64]| if s.is_empty() { f64::NAN } else { s.iter().sum::<f64>() / s.len() as f64 };
    StageSummary {
        stage,
        steps,
        first_loss: losses.first().copied().unwrap_or(f64::NAN),
        last_loss: mean(&losses[n.saturating_sub(tenth)..]),
        seconds,
        tokens_per_second: (n as f64 * tokens_per_step as f64) / seconds.max(1e-9),
    }
}

/// How a stage ended.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StageSummary {
    pub stage: u32,
    /// Steps of the stage completed.
    pub steps: u64,
    /// Loss of the stage's first step (of the first step run, without a run folder).
    pub first_loss: f64,
    /// Mean loss of the last 10% of the steps (at least one), to smooth batch noise.
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
    /// A checkpoint every this many steps (0: none in between); one is always written at
    /// the stage's end when there is a run folder.
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

/// The first parameter holding a NaN or infinity, by name.
fn non_finite_param(params: &[Param]) -> Result<Option<String>> {
    for p in params {
        if p.value().to_vec_f64()?.iter().any(|v| !v.is_finite()) {
            return Ok(Some(p.name().to_string()));
        }
    }
    Ok(None)
}

/// Runs steps `start_step..cfg.steps`; `loss(step)` builds the loss of a step.
///
/// A checkpoint is only written of parameters known to be good: the one due after step
/// `n` is written once the loss of step `n + 1` (computed from those parameters) is
/// finite, and the one at the stage's end (or at `stop_after`) once every parameter is
/// finite. So a loss that is not finite stops the run with an error naming the step, and
/// the newest checkpoint is from before the update that made it: resuming from it (with a
/// smaller learning rate) does not hit the same NaN at once.
pub fn run_stage(
    r: StageRun,
    opt: &mut AdamW,
    mut loss: impl FnMut(u64) -> Result<Var>,
) -> Result<StageSummary> {
    let cfg = r.cfg;
    let sched = LrSchedule::WarmupCosine {
        warmup: ((cfg.steps as f64 * cfg.warmup_frac) as u64).max(1),
        total: cfg.steps,
        min_ratio: cfg.min_lr_ratio,
    };
    let pb = if r.progress { ProgressBar::new(cfg.steps) } else { ProgressBar::hidden() };
    pb.set_style(
        ProgressStyle::with_template("{prefix:>8} [{bar:30}] {pos}/{len} {msg} ETA {eta}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    pb.set_prefix(r.name.to_string());
    pb.set_position(r.start_step);
    let start = Instant::now();
    let mut losses = vec![];
    let mut step = r.start_step;
    let mut ran = 0u64;
    let mut pending = false;
    let last_good = |d: Option<&RunDir>| {
        d.and_then(|d| d.latest().ok().flatten()).map_or("none".to_string(), |c| {
            format!("{} (stage {} step {})", c.folder, c.stage, c.step)
        })
    };
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
            pb.abandon();
            return Err(Error::op(
                "train",
                format!(
                    "{}: loss is {value} at step {} of stage {}; stopped. Last good checkpoint: {}",
                    r.name,
                    step + 1,
                    r.stage,
                    last_good(r.dir)
                ),
            ));
        }
        if let (true, Some(d)) = (pending, r.dir) {
            d.save(r.stage, step, &r.params, opt, &r.run_info)?;
            pending = false;
        }
        opt.step()?;
        step += 1;
        ran += 1;
        losses.push(value);
        let secs = t0.elapsed().as_secs_f64();
        let tps = r.tokens_per_step as f64 / secs.max(1e-9);
        pb.set_message(format!("loss {value:.5} {tps:.0} tok/s"));
        pb.set_position(step);
        if let Some(d) = r.dir {
            d.append_metric(&serde_json::json!({
                "stage": r.stage, "step": step, "loss": value, "lr": opt.lr(),
                "grad_norm": num(norm), "tokens_per_s": tps, "seconds": secs
            }))?;
            pending = r.checkpoint_every > 0 && step % r.checkpoint_every == 0;
        }
    }
    if let (true, Some(d)) = (ran > 0 && (step == cfg.steps || pending), r.dir) {
        if let Some(bad) = non_finite_param(&r.params)? {
            pb.abandon();
            return Err(Error::op(
                "train",
                format!(
                    "{}: parameter {bad} is not finite after step {step} of stage {}; stopped. \
                     Last good checkpoint: {}",
                    r.name,
                    r.stage,
                    last_good(r.dir)
                ),
            ));
        }
        d.save(r.stage, step, &r.params, opt, &r.run_info)?;
    }
    pb.finish_and_clear();
    Ok(summarize(r.stage, step, &losses, start.elapsed().as_secs_f64(), r.tokens_per_step))
}
