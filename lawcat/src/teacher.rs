//! Training a small softmax-attention teacher from scratch on built-in synthetic passkey
//! documents (`lawcat train-teacher`): how the demo's built-in teacher was made. Its window
//! is the training length; past it RoPE positions it never saw make retrieval fail, the
//! small-scale version of a real teacher failing beyond its trained context.

use crate::data::{BuiltIn, Data};
use crate::synth::demo_tokenizer;
use crate::train::{new_optimizer, run_stage, RunDir, StageConfig, StageRun, StageSummary};
use autograd::Param;
use nn::{Llama, LlamaConfig, RopeScaling, Tokenizer};
use serde::{Deserialize, Serialize};
use std::path::Path;
use tensor::{DType, Result, Rng};

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TeacherConfig {
    pub hidden_size: usize,
    pub layers: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub intermediate_size: usize,
    pub seq_len: usize,
    pub batch_size: usize,
    pub train: StageConfig,
    /// Steps on pure copying documents first (random token strings repeated), before
    /// `train.steps` on passkey documents: a small model learns to look things up and copy
    /// them within ~100 steps of these, while on filler-heavy passkey documents alone it
    /// had not after 2000.
    pub copy_steps: u64,
    pub seed: u64,
}

impl Default for TeacherConfig {
    fn default() -> Self {
        TeacherConfig {
            hidden_size: 128,
            layers: 2,
            heads: 4,
            kv_heads: 2,
            intermediate_size: 256,
            seq_len: 256,
            batch_size: 8,
            train: StageConfig {
                steps: 3000,
                lr: 1e-3,
                warmup_frac: 0.05,
                min_lr_ratio: 0.05,
                weight_decay: 0.01,
                clip: 1.0,
            },
            copy_steps: 200,
            seed: 0,
        }
    }
}

pub fn llama_config(c: &TeacherConfig, tok: &Tokenizer) -> LlamaConfig {
    LlamaConfig {
        hidden_size: c.hidden_size,
        intermediate_size: c.intermediate_size,
        num_hidden_layers: c.layers,
        num_attention_heads: c.heads,
        num_key_value_heads: c.kv_heads,
        head_dim: c.hidden_size / c.heads,
        vocab_size: tok.vocab_size(),
        rms_norm_eps: 1e-5,
        rope_theta: 10000.0,
        rope_scaling: RopeScaling::Default,
        max_position_embeddings: c.seq_len,
        tie_word_embeddings: true,
        attention_bias: false,
        mlp_bias: false,
        bos_token_id: tok.token_to_id("<s>"),
        eos_token_ids: tok.token_to_id("</s>").into_iter().collect(),
        dtype: DType::F32,
    }
}

/// Trains a teacher and saves it (with the demo tokenizer) to `out`; `run` keeps metrics
/// and checkpoints.
pub fn train_teacher(
    c: &TeacherConfig,
    out: &Path,
    run: &RunDir,
    device: &tensor::Device,
    progress: bool,
) -> Result<StageSummary> {
    let tok = demo_tokenizer()?;
    let lc = llama_config(c, &tok);
    let model = Llama::init(&lc, &mut Rng::new(c.seed))?;
    model.to_device(device)?;
    let eos = tok.token_to_id("</s>").unwrap_or(0);
    let data =
        Data::built_in(BuiltIn::Passkey, demo_tokenizer()?, eos, c.seq_len, c.batch_size, c.seed);
    // Copy practice in short sequences (one or two strings each, few chance repeats of a
    // token), as many tokens per step as the main data.
    let copy_len = 64.min(c.seq_len);
    let copy = Data::built_in(
        BuiltIn::Repeat,
        demo_tokenizer()?,
        eos,
        copy_len,
        c.batch_size * c.seq_len / copy_len,
        c.seed ^ 1,
    );
    let params: Vec<Param> = model.named_params().into_iter().map(|(_, p)| p).collect();
    let copy_cfg = StageConfig {
        steps: c.copy_steps,
        warmup_frac: 0.02,
        min_lr_ratio: 1.0,
        weight_decay: 0.0,
        ..c.train.clone()
    };
    let stage = |name, stage, cfg| StageRun {
        name,
        stage,
        cfg,
        params: params.clone(),
        tokens_per_step: c.seq_len * c.batch_size,
        checkpoint_every: 0,
        start_step: 0,
        dir: Some(run),
        run_info: serde_json::json!({"teacher": c}),
        progress,
        stop_after: None,
    };
    if c.copy_steps > 0 {
        let mut opt = new_optimizer(params.clone(), &copy_cfg);
        run_stage(stage("copy", 0, &copy_cfg), &mut opt, |step| model.loss(&copy.batch(0, step)?))?;
    }
    let mut opt = new_optimizer(params.clone(), &c.train);
    let summary = run_stage(stage("teacher", 1, &c.train), &mut opt, |step| {
        model.loss(&data.batch(1, step)?)
    })?;
    nn::weights::save_hf_dir(&model, Some(&tok), out)?;
    let info =
        serde_json::json!({"made_by": "lawcat train-teacher", "config": c, "summary": summary});
    tensor::atomic::write_bytes_atomic(
        &out.join("training.json"),
        serde_json::to_string_pretty(&info).expect("serializes").as_bytes(),
    )?;
    Ok(summary)
}
