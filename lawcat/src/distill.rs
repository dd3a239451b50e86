//! Distillation of a Llama teacher into its LAWCAT student, in two stages
//! (`docs/LAWCAT.md`):
//!
//! 1. attention transfer: from one teacher forward, every layer's attention input and
//!    output; each LAWCAT layer learns to map the same input to the same output,
//!    `L1 = mean over layers of MSE(lawcat_l(x_l), softmax_attn_l(x_l))`, all layers at once;
//! 2. end to end: `KL(p_teacher || p_student)` of the next-token distributions (plus
//!    `ce_weight` times the cross-entropy), on LAWCAT's parameters and optionally LoRA on
//!    q/k/v/o.

use crate::config::LawcatConfig;
use crate::data::Data;
use crate::student::{add_lora, lawcat_layers, trainable_params};
use crate::train::{new_optimizer, run_stage, RunDir, StageConfig, StageRun, StageSummary};
use autograd::{no_grad, Param, Var};
use nn::Llama;
use nn::{kl_div, mse};
use serde::{Deserialize, Serialize};
use tensor::{bail, Error, Result, Tensor};

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct DistillConfig {
    pub seq_len: usize,
    pub batch_size: usize,
    pub stage1: StageConfig,
    pub stage2: StageConfig,
    /// Weight of the next-token cross-entropy added to the stage-2 KL (0: KL only).
    pub ce_weight: f64,
    pub kl_temperature: f64,
    /// LoRA on q/k/v/o in stage 2 (0: none).
    pub lora_rank: usize,
    pub lora_alpha: f64,
    pub checkpoint_every: u64,
    pub seed: u64,
}

impl Default for DistillConfig {
    fn default() -> Self {
        DistillConfig {
            seq_len: 1024,
            batch_size: 1,
            stage1: StageConfig::recipe(200, 1e-2),
            stage2: StageConfig::recipe(200, 1e-4),
            ce_weight: 0.0,
            kl_temperature: 1.0,
            lora_rank: 0,
            lora_alpha: 16.0,
            checkpoint_every: 50,
            seed: 0,
        }
    }
}

/// Every layer's attention input (after the input norm) and the teacher's attention
/// output for it, from one forward pass without gradients.
pub fn teacher_attention_io(teacher: &Llama, ids: &Tensor) -> Result<Vec<(Tensor, Tensor)>> {
    no_grad(|| {
        let mut x = teacher.embed_tokens.forward(ids)?;
        let mut out = vec![];
        for layer in &teacher.layers {
            let parts = layer.forward_parts(&x, 0, None)?;
            out.push((parts.attn_in.value().clone(), parts.attn_out.value().clone()));
            x = parts.output;
        }
        Ok(out)
    })
}

/// Stage 1's loss on one batch.
pub fn attention_transfer_loss(teacher: &Llama, student: &Llama, ids: &Tensor) -> Result<Var> {
    let io = teacher_attention_io(teacher, &teacher.ids_to_device(ids)?)?;
    let layers = lawcat_layers(student)?;
    let mut total: Option<Var> = None;
    for (l, (xn, a)) in layers.iter().zip(&io) {
        let y = nn::block::AttentionBlock::forward(*l, &Var::constant(xn.clone()), 0, None)?;
        let e = mse(&y, &Var::constant(a.clone()))?;
        total = Some(match total {
            Some(t) => t.add(&e)?,
            None => e,
        });
    }
    total.expect("at least one layer").scale(1.0 / layers.len() as f64)
}

/// Stage 2's loss on one batch: the KL to the teacher (and `ce_weight` times the
/// cross-entropy), from both models' final hidden states with the LM heads applied a chunk of
/// rows at a time (`nn::loss::head_loss`: no `[N, V]` logits in memory).
pub fn end_to_end_loss(
    teacher: &Llama,
    student: &Llama,
    ids: &Tensor,
    temperature: f64,
    ce_weight: f64,
) -> Result<Var> {
    let ids = &teacher.ids_to_device(ids)?;
    let ht = no_grad(|| teacher.hidden(ids))?.value().clone();
    let hs = student.hidden(ids)?;
    let opts = nn::loss::HeadLoss::new(temperature, ce_weight, teacher.config.vocab_size);
    nn::loss::head_loss(&hs, &student.head_layer(), &ht, &teacher.head_layer(), ids, opts)
}

/// Stage 2's loss from whole `[N, V]` logits ([`kl_div`], `next_token_loss`): the reference
/// [`end_to_end_loss`] (chunked, `nn::loss::head_loss`) is tested against.
pub fn end_to_end_loss_unchunked(
    teacher: &Llama,
    student: &Llama,
    ids: &Tensor,
    temperature: f64,
    ce_weight: f64,
) -> Result<Var> {
    let ids = &teacher.ids_to_device(ids)?;
    let t = no_grad(|| teacher.forward(ids, None, false))?.logits.value().clone();
    let s = student.forward(ids, None, false)?.logits;
    let kl = kl_div(&s, &t, temperature)?;
    if ce_weight > 0.0 {
        kl.add(&nn::model::next_token_loss(&s, ids)?.scale(ce_weight)?)
    } else {
        Ok(kl)
    }
}

fn params_of(student: &Llama) -> Result<Vec<Param>> {
    let ps: Vec<Param> = trainable_params(student)?.into_iter().map(|(_, p)| p).collect();
    for p in &ps {
        p.set_trainable(true);
    }
    Ok(ps)
}

pub struct DistillOptions<'a> {
    pub dir: &'a RunDir,
    pub resume: bool,
    pub progress: bool,
    /// Stop (as if killed) after this many steps in this call.
    pub stop_after: Option<u64>,
    /// On resume, continue with learning rates other than the checkpoint's (e.g. smaller,
    /// after a non-finite loss); the change is recorded in `metrics.jsonl`.
    pub override_lr: bool,
}

impl<'a> DistillOptions<'a> {
    /// A new run in `dir`: no resume, no progress bar, no early stop, the config's rates.
    pub fn fresh(dir: &'a RunDir) -> Self {
        DistillOptions { dir, resume: false, progress: false, stop_after: None, override_lr: false }
    }
}

/// The settings a resume may change only with [`DistillOptions::override_lr`].
const LR_KEYS: [&str; 2] = ["distill.stage1.lr", "distill.stage2.lr"];

/// Every leaf where `a` and `b` differ, as (path, a, b).
fn differences(
    a: &serde_json::Value,
    b: &serde_json::Value,
    path: &str,
    out: &mut Vec<(String, serde_json::Value, serde_json::Value)>,
) {
    use serde_json::Value;
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                let p = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
                differences(
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                    &p,
                    out,
                );
            }
        }
        _ if a != b => out.push((path.to_string(), a.clone(), b.clone())),
        _ => {}
    }
}

/// What a resume depends on, recorded in every checkpoint: the settings, and content
/// hashes of the teacher's weights and of the training data.
pub fn run_info(
    teacher: &Llama,
    lcfg: &LawcatConfig,
    data: &Data,
    cfg: &DistillConfig,
) -> Result<serde_json::Value> {
    let values: Vec<(String, Tensor)> =
        teacher.named_params().into_iter().map(|(n, p)| (n, p.value())).collect();
    let teacher_sha = tensor::sha256::tensors_hex(values.iter().map(|(n, t)| (n.as_str(), t)))?;
    Ok(serde_json::json!({
        "distill": cfg, "lawcat": lcfg, "data": data.describe(),
        "data_sha256": data.fingerprint()?, "teacher_sha256": teacher_sha
    }))
}

/// Checks a checkpoint's record against this run's; an error names every difference.
/// Returns the learning-rate changes an override allowed.
fn check_resume(
    dir: &RunDir,
    l: &crate::train::CheckpointState,
    now: &serde_json::Value,
    override_lr: bool,
) -> Result<Vec<(String, serde_json::Value, serde_json::Value)>> {
    let mut diffs = vec![];
    differences(&l.run, now, "", &mut diffs);
    let (lr, other): (Vec<_>, Vec<_>) =
        diffs.into_iter().partition(|(p, _, _)| LR_KEYS.contains(&p.as_str()));
    let mut problems: Vec<String> = other
        .iter()
        .map(|(p, was, is)| match p.as_str() {
            "teacher_sha256" => format!(
                "the teacher's weights differ from the ones the checkpoint was distilled from \
                 (SHA-256 {} there, {} now)",
                short(was),
                short(is)
            ),
            "data_sha256" => format!(
                "the training data differ from the checkpoint's (SHA-256 {} there, {} now)",
                short(was),
                short(is)
            ),
            _ => format!("{p} is {was} there, {is} now"),
        })
        .collect();
    if !override_lr {
        problems.extend(lr.iter().map(|(p, was, is)| {
            format!(
                "{p} is {was} there, {is} now (pass --override-lr to continue with the new \
                 learning rate)"
            )
        }));
    }
    if !problems.is_empty() {
        return Err(Error::file(
            &dir.root,
            format!(
                "--resume: the checkpoint {} was made with other settings: {}",
                l.folder,
                problems.join("; ")
            ),
        ));
    }
    Ok(if override_lr { lr } else { vec![] })
}

fn short(v: &serde_json::Value) -> String {
    v.as_str().map_or(v.to_string(), |s| s.chars().take(12).collect())
}

/// A lower bound of the memory one distillation step needs (teacher and student forward
/// passes over a `[batch, seq_len]` batch, the student's with gradients), in bytes.
pub fn step_memory_estimate(teacher: &nn::LlamaConfig, cfg: &DistillConfig) -> u128 {
    2 * nn::model::forward_memory_estimate(teacher, cfg.batch_size, cfg.seq_len)
}

/// Runs both stages (or what is left of them when resuming). The summaries cover the
/// whole run, every process of a resumed one included (from `metrics.jsonl`).
pub fn distill(
    teacher: &Llama,
    student: &mut Llama,
    lcfg: &LawcatConfig,
    data: &Data,
    cfg: &DistillConfig,
    o: &DistillOptions,
) -> Result<Vec<StageSummary>> {
    if data.seq_len != cfg.seq_len || data.batch_size != cfg.batch_size {
        bail!(
            "distill",
            "data gives [{}, {}] batches, the config asks for [{}, {}]",
            data.batch_size,
            data.seq_len,
            cfg.batch_size,
            cfg.seq_len
        )
    }
    tensor::memory::check_fits(
        &format!("one distillation step over [{}, {}] tokens", cfg.batch_size, cfg.seq_len),
        step_memory_estimate(&teacher.config, cfg),
    )?;
    let run_info = run_info(teacher, lcfg, data, cfg)?;
    let latest = if o.resume {
        let Some(l) = o.dir.latest()? else {
            return Err(Error::file(
                &o.dir.root,
                "--resume: this run folder has no checkpoint to resume from",
            ));
        };
        let lr_changes = check_resume(o.dir, &l, &run_info, o.override_lr)?;
        o.dir.trim_metrics(l.stage, l.step)?;
        if !lr_changes.is_empty() {
            let changes: serde_json::Map<String, serde_json::Value> = lr_changes
                .into_iter()
                .map(|(p, was, is)| (p, serde_json::json!({"checkpoint": was, "now": is})))
                .collect();
            o.dir.append_metric(&serde_json::json!({
                "stage": l.stage, "step": l.step, "event": "lr_override", "changes": changes
            }))?;
        }
        Some(l)
    } else {
        o.dir.reset_metrics()?;
        None
    };
    let tokens = cfg.seq_len * cfg.batch_size;
    let mut budget = o.stop_after;
    let mut summaries = vec![];
    // Stage 1, unless a stage-2 checkpoint says it is done.
    if cfg.stage1.steps > 0 && latest.as_ref().is_none_or(|l| l.stage == 1) {
        let params = params_of(student)?;
        let mut opt = new_optimizer(params.clone(), &cfg.stage1);
        let start = match &latest {
            Some(l) => {
                o.dir.restore(l, &params, &mut opt)?;
                l.step
            }
            None => 0,
        };
        let run = StageRun {
            name: "stage 1",
            stage: 1,
            cfg: &cfg.stage1,
            params,
            tokens_per_step: tokens,
            checkpoint_every: cfg.checkpoint_every,
            start_step: start,
            dir: Some(o.dir),
            run_info: run_info.clone(),
            progress: o.progress,
            stop_after: budget,
        };
        let s = run_stage(run, &mut opt, |step| {
            attention_transfer_loss(teacher, student, &data.batch(1, step)?)
        })?;
        budget = budget.map(|b| b.saturating_sub(s.steps - start));
        let done = s.steps >= cfg.stage1.steps;
        summaries.push(s);
        if !done {
            return whole_run(o.dir, cfg, tokens, summaries);
        }
    }
    if cfg.stage2.steps > 0 {
        if cfg.lora_rank > 0 && lawcat_layers(student)?[0].q_proj.lora.is_none() {
            add_lora(student, cfg.lora_rank, cfg.lora_alpha, cfg.seed ^ 0x10AA)?;
        }
        let params = params_of(student)?;
        let mut opt = new_optimizer(params.clone(), &cfg.stage2);
        let start = match &latest {
            Some(l) if l.stage == 2 => {
                o.dir.restore(l, &params, &mut opt)?;
                l.step
            }
            _ => 0,
        };
        let run = StageRun {
            name: "stage 2",
            stage: 2,
            cfg: &cfg.stage2,
            params,
            tokens_per_step: tokens,
            checkpoint_every: cfg.checkpoint_every,
            start_step: start,
            dir: Some(o.dir),
            run_info,
            progress: o.progress,
            stop_after: budget,
        };
        summaries.push(run_stage(run, &mut opt, |step| {
            end_to_end_loss(
                teacher,
                student,
                &data.batch(2, step)?,
                cfg.kl_temperature,
                cfg.ce_weight,
            )
        })?);
    }
    whole_run(o.dir, cfg, tokens, summaries)
}

/// The summaries of every stage the run has taken steps of, from `metrics.jsonl` (so a
/// resumed run reports its stages as an uninterrupted one would), falling back to this
/// call's own.
fn whole_run(
    dir: &RunDir,
    cfg: &DistillConfig,
    tokens: usize,
    this_call: Vec<StageSummary>,
) -> Result<Vec<StageSummary>> {
    let mut out = vec![];
    for (stage, steps) in [(1, cfg.stage1.steps), (2, cfg.stage2.steps)] {
        if steps == 0 {
            continue;
        }
        match dir.stage_summary(stage, tokens)? {
            Some(s) => out.push(s),
            None => out.extend(this_call.iter().filter(|s| s.stage == stage).cloned()),
        }
    }
    Ok(out)
}
