//! Students: a teacher Llama with every attention block replaced by a LAWCAT layer (all
//! other weights shared with the teacher), and their files: a Hugging Face style folder
//! with `config.json` (the teacher's), `lawcat.json` (every LAWCAT option and where the
//! teacher came from), `model.safetensors` (all weights, so a student loads on its own)
//! and `tokenizer.json`.

use crate::config::LawcatConfig;
use crate::layer::LawcatAttention;
use autograd::Param;
use nn::attention::LlamaAttention;
use nn::block::AttentionBlock;
use nn::{Llama, LlamaConfig, Tokenizer};
use serde::{Deserialize, Serialize};
use std::path::Path;
use tensor::{bail, Error, Result, Rng, Tensor};

/// What `lawcat.json` records.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct StudentInfo {
    pub lawcat: LawcatConfig,
    /// The teacher the student was distilled from (a path or a name).
    pub teacher: String,
    /// Free-form notes (the command that made it, steps trained).
    #[serde(default)]
    pub notes: serde_json::Value,
}

fn teacher_block(layer: &nn::DecoderLayer, i: usize) -> Result<&LlamaAttention> {
    layer.self_attn.as_any().downcast_ref::<LlamaAttention>().ok_or_else(|| {
        Error::op(
            "student",
            format!("layer {i} of the teacher is not softmax attention (already a student?)"),
        )
    })
}

/// A student sharing every teacher weight; LAWCAT parameters freshly initialised from `seed`.
/// The teacher's own parameters are frozen.
pub fn build_student(teacher: &Llama, cfg: &LawcatConfig, seed: u64) -> Result<Llama> {
    let mut rng = Rng::new(seed);
    let mut blocks: Vec<Box<dyn AttentionBlock>> = vec![];
    for (i, l) in teacher.layers.iter().enumerate() {
        let t = teacher_block(l, i)?;
        blocks.push(Box::new(LawcatAttention::from_teacher(
            t,
            cfg,
            &format!("model.layers.{i}.self_attn"),
            &mut rng.fork(i as u64),
        )?));
    }
    for (_, p) in teacher.named_params() {
        p.set_trainable(false);
    }
    teacher.with_blocks(blocks)
}

/// The LAWCAT layers of a student (an error for a model that has none).
pub fn lawcat_layers(student: &Llama) -> Result<Vec<&LawcatAttention>> {
    let layers: Vec<&LawcatAttention> = student
        .layers
        .iter()
        .filter_map(|l| l.self_attn.as_any().downcast_ref::<LawcatAttention>())
        .collect();
    if layers.is_empty() {
        bail!("student", "the model has no LAWCAT layers")
    }
    Ok(layers)
}

/// The parameters distillation trains: every LAWCAT layer's own (conv, feature map, gate,
/// LoRA), by name.
pub fn trainable_params(student: &Llama) -> Result<Vec<(String, Param)>> {
    Ok(lawcat_layers(student)?.iter().flat_map(|l| l.own_params()).collect())
}

/// Adds LoRA to q/k/v/o of every LAWCAT layer (for stage 2).
pub fn add_lora(student: &mut Llama, rank: usize, alpha: f64, seed: u64) -> Result<()> {
    let mut rng = Rng::new(seed);
    for (i, l) in student.layers.iter_mut().enumerate() {
        let lc = l.self_attn.as_any_mut().downcast_mut::<LawcatAttention>();
        let Some(lc) = lc else { bail!("add_lora", "layer {i} is not a LAWCAT layer") };
        lc.cfg.lora_rank = rank;
        lc.cfg.lora_alpha = alpha;
        lc.add_lora(&format!("model.layers.{i}.self_attn"), &mut rng.fork(i as u64))?;
    }
    Ok(())
}

/// The files a student folder holds.
pub const STUDENT_FILES: [&str; 4] =
    ["config.json", "model.safetensors", "tokenizer.json", "lawcat.json"];

/// Saves a student folder; every file is written atomically.
pub fn save_student(
    student: &Llama,
    info: &StudentInfo,
    tokenizer: Option<&Tokenizer>,
    dir: &Path,
) -> Result<()> {
    nn::weights::save_hf_dir(student, tokenizer, dir)?;
    let text = serde_json::to_string_pretty(info).map_err(|e| Error::file(dir, e.to_string()))?;
    tensor::atomic::write_bytes_atomic(&dir.join("lawcat.json"), text.as_bytes())
}

/// True when `dir` holds a student (a `lawcat.json`).
pub fn is_student(dir: &Path) -> bool {
    dir.join("lawcat.json").is_file()
}

pub fn read_info(dir: &Path) -> Result<StudentInfo> {
    let p = dir.join("lawcat.json");
    let text = std::fs::read_to_string(&p).map_err(|e| Error::io(&p, e))?;
    let info: StudentInfo = serde_json::from_str(&text)
        .map_err(|e| Error::file(&p, format!("not a valid lawcat.json: {e}")))?;
    info.lawcat.validate().map_err(|m| Error::file(&p, m))?;
    Ok(info)
}

/// Loads a student folder.
pub fn load_student(dir: &Path) -> Result<(Llama, StudentInfo, Option<Tokenizer>)> {
    let info = read_info(dir)?;
    let config = LlamaConfig::from_file(dir.join("config.json"))?;
    let mut tensors = nn::weights::read_hf_tensors(dir)?;
    // The teacher part first, from the names a Llama of this config has.
    let teacher_names: Vec<String> =
        nn::model::expected_shapes(&config).into_iter().map(|(n, _)| n).collect();
    let mut teacher_tensors = std::collections::BTreeMap::new();
    for n in teacher_names {
        if let Some(t) = tensors.remove(&n) {
            teacher_tensors.insert(n, t);
        }
    }
    let teacher = Llama::from_tensors(config, teacher_tensors)
        .map_err(|e| Error::file(dir, e.to_string()))?;
    let mut blocks: Vec<Box<dyn AttentionBlock>> = vec![];
    for (i, l) in teacher.layers.iter().enumerate() {
        let t = teacher_block(l, i)?;
        let layer = LawcatAttention::from_saved(
            t,
            &info.lawcat,
            &format!("model.layers.{i}.self_attn"),
            &mut tensors,
        )
        .map_err(|e| {
            Error::file(
                dir.join("lawcat.json"),
                format!("does not match the weights in model.safetensors: {e}"),
            )
        })?;
        blocks.push(Box::new(layer));
    }
    if !tensors.is_empty() {
        let extra: Vec<&String> = tensors.keys().collect();
        return Err(Error::file(
            dir.join("lawcat.json"),
            format!(
                "does not match the weights in \
            model.safetensors, which hold tensors it does not describe: {extra:?}"
            ),
        ));
    }
    let student = teacher.with_blocks(blocks)?;
    for (_, p) in student.named_params() {
        p.set_trainable(false);
    }
    for (_, p) in trainable_params(&student)? {
        p.set_trainable(true);
    }
    let tok = dir.join("tokenizer.json");
    let tokenizer = if tok.exists() { Some(Tokenizer::from_file(&tok)?) } else { None };
    if let Some(t) = &tokenizer {
        nn::weights::check_vocab(&student, t, dir)?;
    }
    Ok((student, info, tokenizer))
}

/// A model from any path: a student folder, an HF folder or a GGUF file.
pub struct AnyModel {
    pub model: Llama,
    pub tokenizer: Option<Tokenizer>,
    pub student: Option<StudentInfo>,
}

pub fn load_any(path: &Path) -> Result<AnyModel> {
    if path.is_dir() && is_student(path) {
        let (model, info, tokenizer) = load_student(path)?;
        return Ok(AnyModel { model, tokenizer, student: Some(info) });
    }
    let l = nn::load_model(path)?;
    Ok(AnyModel { model: l.model, tokenizer: l.tokenizer, student: None })
}

/// Keeps only `model.safetensors` values that are LAWCAT's own, for small checkpoints.
pub fn lawcat_tensors(student: &Llama) -> Result<Vec<(String, Tensor)>> {
    Ok(trainable_params(student)?.into_iter().map(|(n, p)| (n, p.value())).collect())
}
