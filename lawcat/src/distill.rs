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
use autograd::{kl_div, mse, no_grad, Param, Var};
use nn::Llama;
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
            stage1: StageConfig { steps: 200, lr: 1e-2, warmup_frac: 0.1, min_lr_ratio: 0.1, weight_decay: 0.0, clip: 1.0 },
            stage2: StageConfig { steps: 200, lr: 1e-4, warmup_frac: 0.1, min_lr_ratio: 0.1, weight_decay: 0.0, clip: 1.0 },
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

/// Stage 2's loss on one batch.
pub fn end_to_end_loss(teacher: &Llama, student: &Llama, ids: &Tensor, temperature: f64, ce_weight: f64) -> Result<Var> {
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
}

/// Runs both stages (or what is left of them when resuming).
pub fn distill(teacher: &Llama, student: &mut Llama, lcfg: &LawcatConfig, data: &Data, cfg: &DistillConfig, o: &DistillOptions) -> Result<Vec<StageSummary>> {
    if data.seq_len != cfg.seq_len || data.batch_size != cfg.batch_size {
        bail!("distill", "data gives [{}, {}] batches, the config asks for [{}, {}]", data.batch_size, data.seq_len, cfg.batch_size, cfg.seq_len)
    }
    let run_info = serde_json::json!({"distill": cfg, "lawcat": lcfg, "data": data.describe()});
    let latest = if o.resume {
        let Some(l) = o.dir.latest()? else {
            return Err(Error::file(&o.dir.root, "--resume: this run folder has no checkpoint to resume from"));
        };
        if l.run["distill"] != run_info["distill"] || l.run["lawcat"] != run_info["lawcat"] {
            return Err(Error::file(&o.dir.root, "--resume: the checkpoint was made with other settings (distillation or LAWCAT options differ)"));
        }
        o.dir.trim_metrics(l.stage, l.step)?;
        Some(l)
    } else {
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
        let run = StageRun { name: "stage 1", stage: 1, cfg: &cfg.stage1, params, tokens_per_step: tokens, checkpoint_every: cfg.checkpoint_every, start_step: start, dir: Some(o.dir), run_info: run_info.clone(), progress: o.progress, stop_after: budget };
        let s = run_stage(run, &mut opt, |step| attention_transfer_loss(teacher, student, &data.batch(1, step)?))?;
        budget = budget.map(|b| b.saturating_sub(s.steps - start));
        let done = s.steps >= cfg.stage1.steps;
        summaries.push(s);
        if !done {
            return Ok(summaries);
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
        let run = StageRun { name: "stage 2", stage: 2, cfg: &cfg.stage2, params, tokens_per_step: tokens, checkpoint_every: cfg.checkpoint_every, start_step: start, dir: Some(o.dir), run_info, progress: o.progress, stop_after: budget };
        summaries.push(run_stage(run, &mut opt, |step| end_to_end_loss(teacher, student, &data.batch(2, step)?, cfg.kl_temperature, cfg.ce_weight))?);
    }
    Ok(summaries)
}
