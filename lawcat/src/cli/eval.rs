//! `lawcat eval`: a model (and optionally its teacher) on one retrieval task over a grid
//! of lengths and depths; a table on the terminal, JSON and an SVG heatmap on disk.

use crate::eval::tasks::Task;
use crate::eval::{evaluate, report, EvalSpec};
use anyhow::{bail, Context};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// The model to evaluate (student folder, HF folder or .gguf file; "builtin" for the
    /// built-in demo teacher).
    #[arg(long)]
    pub model: String,
    /// A second model side by side (usually the teacher). For a student, its recorded
    /// teacher is used when it can be found, unless --no-teacher.
    #[arg(long)]
    pub teacher: Option<String>,
    /// Evaluate --model alone, without the recorded teacher beside it.
    #[arg(long)]
    pub no_teacher: bool,
    /// passkey, s-niah-1, s-niah-2, s-niah-3, qa2 or qa3.
    #[arg(long, default_value = "passkey")]
    pub task: String,
    /// Context lengths in tokens, comma separated.
    #[arg(long, value_delimiter = ',', default_value = "1024,2048,4096")]
    pub lengths: Vec<usize>,
    /// Needle depths in [0, 1], comma separated.
    #[arg(long, value_delimiter = ',', default_value = "0,0.25,0.5,0.75,1")]
    pub depths: Vec<f64>,
    /// Examples per (length, depth) cell.
    #[arg(long, default_value_t = 5)]
    pub samples: usize,
    /// Seed for the examples (needles, filler, stories).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// A natural-text file for the haystack (needed by S-NIAH-2/3, optional for QA).
    #[arg(long)]
    pub haystack: Option<PathBuf>,
    /// Folder for eval-<task>.json and eval-<task>.svg.
    #[arg(long, default_value = "runs/eval")]
    pub out: PathBuf,
    /// No progress bar.
    #[arg(long)]
    pub no_progress: bool,
}

pub fn run(a: &Args) -> anyhow::Result<ExitCode> {
    let Some(task) = Task::parse(&a.task) else {
        bail!("--task {:?}: expected passkey, s-niah-1, s-niah-2, s-niah-3, qa2 or qa3", a.task)
    };
    if a.lengths.is_empty() || a.lengths.contains(&0) {
        bail!("--lengths must be positive token counts");
    }
    if a.depths.iter().any(|d| !(0.0..=1.0).contains(d)) {
        bail!("--depths must lie in [0, 1]");
    }
    if a.samples == 0 {
        bail!("--samples must be at least 1");
    }
    let haystack = match &a.haystack {
        Some(p) => Some(
            std::fs::read_to_string(p)
                .with_context(|| format!("reading the haystack {}", p.display()))?,
        ),
        None => None,
    };
    let spec = EvalSpec {
        task: task.clone(),
        lengths: a.lengths.clone(),
        depths: a.depths.clone(),
        samples: a.samples,
        seed: a.seed,
        haystack,
    };
    let model = super::load_named(&a.model)?;
    let longest = *a.lengths.iter().max().expect("checked non-empty");
    let fits = |name: &str, c: &nn::LlamaConfig| {
        tensor::memory::check_fits(
            &format!("--lengths {longest} (--samples {} at once) with {name}", a.samples),
            nn::model::forward_memory_estimate(c, a.samples, longest),
        )
    };
    fits(&a.model, &model.model.config)?;
    let recorded = model
        .student
        .as_ref()
        .map(|s| s.teacher.clone())
        .filter(|t| t == "builtin" || std::path::Path::new(t).exists());
    let teacher = if a.no_teacher { None } else { a.teacher.clone().or(recorded) };
    let mut results = vec![];
    if let Some(t) = &teacher {
        let m = super::load_named(t)?;
        fits(t, &m.model.config)?;
        let tok = m.tokenizer.as_ref().with_context(|| format!("{t} has no tokenizer"))?;
        results.push(evaluate("teacher", &m.model, tok, &spec, !a.no_progress)?);
    }
    let tok = model.tokenizer.as_ref().with_context(|| format!("{} has no tokenizer", a.model))?;
    let label = if teacher.is_some() { "student" } else { "model" };
    results.push(evaluate(label, &model.model, tok, &spec, !a.no_progress)?);
    out!("{}", report::table(&spec, &results));
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let base = a.out.join(format!("eval-{}", task.name()));
    tensor::atomic::write_bytes_atomic(
        &base.with_extension("json"),
        serde_json::to_string_pretty(&report::json(&spec, &results))?.as_bytes(),
    )?;
    tensor::atomic::write_bytes_atomic(
        &base.with_extension("svg"),
        report::svg(&spec, &results).as_bytes(),
    )?;
    outln!("wrote {0}.json and {0}.svg", base.display());
    Ok(ExitCode::SUCCESS)
}
