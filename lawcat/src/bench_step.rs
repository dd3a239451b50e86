//! Timing of whole distillation steps (`lawcat bench step`): stage 1 (teacher forward with
//! every layer's attention input and output, every LAWCAT layer forward and backward, MSE,
//! clipping, AdamW) and stage 2 (teacher forward, student forward and backward, KL,
//! clipping, AdamW), on random token batches, on the current device. Each stage is timed
//! with the backward rules told which inputs need gradients (the default) and without
//! (every gradient computed, as before the masks), in the same run.

use crate::distill::{attention_transfer_loss, end_to_end_loss};
use crate::student::trainable_params;
use crate::train::{new_optimizer, StageConfig};
use nn::optim::{clip_grad_norm, Optimizer};
use nn::Llama;
use std::time::Instant;
use tensor::{Device, Result, Rng, Tensor};

/// Median seconds per step of `steps` steps of `stage` (after one warm-up step).
pub fn time_stage(
    teacher: &Llama,
    student: &Llama,
    stage: u32,
    batch: usize,
    seq_len: usize,
    steps: usize,
    seed: u64,
) -> Result<f64> {
    let device = teacher.device();
    let params: Vec<_> = trainable_params(student)?.into_iter().map(|(_, p)| p).collect();
    for p in &params {
        p.set_trainable(true);
    }
    let cfg = StageConfig {
        steps: steps as u64 + 1,
        lr: if stage == 1 { 1e-3 } else { 1e-5 },
        warmup_frac: 0.0,
        min_lr_ratio: 1.0,
        weight_decay: 0.0,
        clip: 1.0,
    };
    let mut opt = new_optimizer(params.clone(), &cfg);
    let v = teacher.config.vocab_size as u64;
    let mut rng = Rng::new(seed);
    let mut times = vec![];
    for step in 0..=steps {
        let ids: Vec<i64> = (0..batch * seq_len).map(|_| rng.below(v as usize) as i64).collect();
        let ids = Tensor::from_vec(ids, [batch, seq_len], &Device::Cpu)?;
        device.synchronize()?;
        let t0 = Instant::now();
        opt.zero_grad();
        let loss = if stage == 1 {
            attention_transfer_loss(teacher, student, &ids)?
        } else {
            end_to_end_loss(teacher, student, &ids, 1.0, 0.0)?
        };
        loss.backward()?;
        let norm = clip_grad_norm(&params, 1.0)?;
        opt.step()?;
        // The step's one read, as in training.
        let _ = loss.value().to_scalar()?;
        drop(norm);
        device.synchronize()?;
        if step > 0 {
            times.push(t0.elapsed().as_secs_f64());
        }
    }
    times.sort_by(|a, b| a.total_cmp(b));
    Ok(times[times.len() / 2])
}
