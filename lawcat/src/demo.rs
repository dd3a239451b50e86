//! The main job, `lawcat demo`: the paper's claim at small scale. A softmax teacher, a
//! LAWCAT student distilled on sequences of length L only, passkey accuracy of both at
//! L, 2L, 4L and 8L, and decoding memory (the teacher's KV cache grows with every token;
//! the student's state does not).

use crate::config::LawcatConfig;
use crate::data::{BuiltIn, Data};
use crate::distill::{distill, DistillConfig, DistillOptions};
use crate::eval::tasks::Task;
use crate::eval::{evaluate, report, EvalSpec, ModelResult};
use crate::student::{build_student, save_student, AnyModel, StudentInfo};
use crate::train::{RunDir, StageSummary};
use serde::{Deserialize, Serialize};
use std::fmt::Write;
use std::path::Path;
use tensor::{Error, Result};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DemoConfig {
    pub distill: DistillConfig,
    pub lawcat: LawcatConfig,
    /// Evaluation lengths as multiples of the distillation length.
    pub multiples: Vec<usize>,
    pub depths: Vec<f64>,
    pub samples: usize,
    pub built_in_data: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Row {
    pub length: usize,
    pub teacher: f64,
    pub student: f64,
    pub teacher_state_bytes: usize,
    pub student_state_bytes: usize,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DemoReport {
    pub teacher: String,
    pub distill_length: usize,
    pub rows: Vec<Row>,
    pub stages: Vec<StageSummary>,
    pub teacher_bytes_per_token: f64,
    pub seconds: f64,
}

impl DemoReport {
    pub fn table(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "passkey retrieval, student distilled on {}-token sequences only",
            self.distill_length
        );
        let _ = writeln!(
            s,
            "{:>8} {:>6} {:>9} {:>9} {:>16} {:>16}",
            "length", "x", "teacher", "student", "teacher KV cache", "student state"
        );
        for r in &self.rows {
            let _ = writeln!(
                s,
                "{:>8} {:>6} {:>9.2} {:>9.2} {:>13.1} KiB {:>13.1} KiB",
                r.length,
                format!("{}x", r.length / self.distill_length.max(1)),
                r.teacher,
                r.student,
                r.teacher_state_bytes as f64 / 1024.0,
                r.student_state_bytes as f64 / 1024.0
            );
        }
        let _ = writeln!(
            s,
            "decoding memory per token: teacher +{:.0} bytes (KV cache grows), \
            student +0 bytes (constant state)",
            self.teacher_bytes_per_token
        );
        s
    }
}

/// Runs the whole pipeline; the student, metrics, JSON and SVG go to `out`.
pub fn run_demo(
    teacher: &AnyModel,
    teacher_name: &str,
    cfg: &DemoConfig,
    out: &Path,
    progress: bool,
) -> Result<DemoReport> {
    let start = std::time::Instant::now();
    let tok = teacher
        .tokenizer
        .as_ref()
        .ok_or_else(|| Error::op("demo", format!("the teacher {teacher_name} has no tokenizer")))?;
    let t = &teacher.model;
    let eos = t.config.eos_token_ids.first().copied().unwrap_or(0);
    let kind = if cfg.built_in_data { BuiltIn::Passkey } else { BuiltIn::Mixed };
    let d = &cfg.distill;
    let data = Data::built_in(kind, tok.clone(), eos, d.seq_len, d.batch_size, d.seed);
    // A fresh run each time: an earlier demo's checkpoints go (only what a run writes).
    let dir = RunDir::create(out)?;
    dir.clear_checkpoints()?;
    let mut student = build_student(t, &cfg.lawcat, d.seed)?;
    let opts = DistillOptions { progress, ..DistillOptions::fresh(&dir) };
    let stages = distill(t, &mut student, &cfg.lawcat, &data, d, &opts)?;
    let info = StudentInfo {
        lawcat: cfg.lawcat.clone(),
        teacher: teacher_name.to_string(),
        notes: serde_json::json!({"made_by": "lawcat demo", "demo": cfg}),
    };
    let student_dir = out.join("student");
    save_student(&student, &info, Some(tok), &student_dir)?;
    dir.finish(&[(&student_dir, &crate::student::STUDENT_FILES)])?;
    let lengths: Vec<usize> = cfg.multiples.iter().map(|m| m * d.seq_len).collect();
    let spec = EvalSpec {
        task: Task::Passkey,
        lengths: lengths.clone(),
        depths: cfg.depths.clone(),
        samples: cfg.samples,
        seed: d.seed ^ 0xE7A1,
        haystack: None,
    };
    let results: Vec<ModelResult> = vec![
        evaluate("teacher", t, tok, &spec, progress)?,
        evaluate("student", &student, tok, &spec, progress)?,
    ];
    let state = |r: &ModelResult, len: usize| {
        r.state_bytes_at.iter().find(|(l, _)| *l == len).map_or(0, |x| x.1)
    };
    let rows: Vec<Row> = lengths
        .iter()
        .map(|&len| Row {
            length: len,
            teacher: results[0].accuracy_at(len),
            student: results[1].accuracy_at(len),
            teacher_state_bytes: state(&results[0], len),
            student_state_bytes: state(&results[1], len),
        })
        .collect();
    let c = &t.config;
    let teacher_bytes_per_token =
        (2 * c.num_hidden_layers * c.num_key_value_heads * c.head_dim * 4) as f64;
    let rep = DemoReport {
        teacher: teacher_name.to_string(),
        distill_length: d.seq_len,
        rows,
        stages,
        teacher_bytes_per_token,
        seconds: start.elapsed().as_secs_f64(),
    };
    let json =
        serde_json::json!({"demo": rep, "eval": report::json(&spec, &results), "config": cfg});
    tensor::atomic::write_bytes_atomic(
        &out.join("demo.json"),
        serde_json::to_string_pretty(&json).expect("serializes").as_bytes(),
    )?;
    tensor::atomic::write_bytes_atomic(
        &out.join("passkey.svg"),
        report::svg(&spec, &results).as_bytes(),
    )?;
    tensor::atomic::write_bytes_atomic(
        &out.join("passkey.txt"),
        report::table(&spec, &results).as_bytes(),
    )?;
    Ok(rep)
}
