//! Evaluation: a grid of context lengths x needle depths, several random examples per
//! cell, greedy decoding, accuracy per cell; teacher and student side by side. Results as
//! a terminal table, JSON, and an SVG heatmap (`report`).

pub mod report;
pub mod tasks;

use indicatif::{ProgressBar, ProgressStyle};
use nn::generate::{generate, GenerateOptions};
use nn::{Llama, Tokenizer};
use serde::{Deserialize, Serialize};
use tasks::Task;
use tensor::{Result, Rng};

#[derive(Clone, Debug)]
pub struct EvalSpec {
    pub task: Task,
    pub lengths: Vec<usize>,
    pub depths: Vec<f64>,
    pub samples: usize,
    pub seed: u64,
    pub haystack: Option<String>,
}

/// Accuracy of one model in one cell.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Cell {
    pub length: usize,
    pub depth: Option<f64>,
    pub hits: usize,
    pub total: usize,
    /// Up to three generated answers that missed, with the expected one (for auditing).
    pub misses: Vec<(String, String)>,
}

/// `hits / total`, 0 for no examples.
fn accuracy(hits: usize, total: usize) -> f64 {
    if total == 0 {
        0.0
    } else {
        hits as f64 / total as f64
    }
}

impl Cell {
    pub fn accuracy(&self) -> f64 {
        accuracy(self.hits, self.total)
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ModelResult {
    pub name: String,
    pub cells: Vec<Cell>,
    /// Decoding state after the longest prompt, in bytes (KV cache or recurrent state).
    pub state_bytes_at: Vec<(usize, usize)>,
    pub seconds: f64,
}

impl ModelResult {
    pub fn accuracy_at(&self, length: usize) -> f64 {
        let (h, t) = self
            .cells
            .iter()
            .filter(|c| c.length == length)
            .fold((0, 0), |(h, t), c| (h + c.hits, t + c.total));
        accuracy(h, t)
    }
}

/// Runs `model` over the grid. Every model sees the same examples (same seed).
pub fn evaluate(
    name: &str,
    model: &Llama,
    tok: &Tokenizer,
    spec: &EvalSpec,
    progress: bool,
) -> Result<ModelResult> {
    let start = std::time::Instant::now();
    let depths: Vec<Option<f64>> = if spec.task.has_depth() {
        spec.depths.iter().map(|&d| Some(d)).collect()
    } else {
        vec![None]
    };
    let pb = if progress {
        ProgressBar::new((spec.lengths.len() * depths.len()) as u64)
    } else {
        ProgressBar::hidden()
    };
    pb.set_style(
        ProgressStyle::with_template("{prefix:>10} [{bar:30}] {pos}/{len} cells  {msg}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    pb.set_prefix(name.to_string());
    let mut cells = vec![];
    let mut state_bytes_at = vec![];
    for &len in &spec.lengths {
        for (di, &depth) in depths.iter().enumerate() {
            let mut rng = Rng::new(
                spec.seed
                    ^ (len as u64).wrapping_mul(0x9E37_79B9)
                    ^ (di as u64).wrapping_mul(0x85EB_CA6B),
            );
            let examples: Vec<tasks::Example> = (0..spec.samples)
                .map(|_| {
                    tasks::example(
                        &spec.task,
                        tok,
                        spec.haystack.as_deref(),
                        len,
                        depth.unwrap_or_else(|| rng.uniform()),
                        &mut rng,
                    )
                })
                .collect::<Result<_>>()?;
            // Equal-length prompts decode as one batch.
            let mut by_len: std::collections::BTreeMap<usize, Vec<&tasks::Example>> =
                Default::default();
            for e in &examples {
                by_len.entry(e.ids.len()).or_default().push(e);
            }
            let mut cell = Cell { length: len, depth, hits: 0, total: 0, misses: vec![] };
            for group in by_len.values() {
                let prompts: Vec<Vec<u32>> = group.iter().map(|e| e.ids.clone()).collect();
                let g = generate(
                    model,
                    &prompts,
                    &GenerateOptions {
                        max_new_tokens: spec.task.answer_tokens(),
                        ..Default::default()
                    },
                )?;
                if di == 0 {
                    state_bytes_at.push((len, g.cache_bytes / prompts.len()));
                }
                for (e, out) in group.iter().zip(&g.tokens) {
                    let text = tok.decode(out, true)?;
                    cell.total += 1;
                    if e.hit(&spec.task, &text) {
                        cell.hits += 1;
                    } else if cell.misses.len() < 3 {
                        cell.misses.push((e.answer.clone(), text));
                    }
                }
            }
            pb.set_message(format!("length {len}: {}/{}", cell.hits, cell.total));
            pb.inc(1);
            cells.push(cell);
        }
    }
    pb.finish_and_clear();
    Ok(ModelResult {
        name: name.to_string(),
        cells,
        state_bytes_at,
        seconds: start.elapsed().as_secs_f64(),
    })
}
