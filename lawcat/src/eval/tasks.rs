//! The evaluation tasks: prompts of an exact token length with the information at a given
//! depth, and how an answer is scored.
//!
//! * passkey (landmark-attention format): a hit when the 5-digit key is in the output;
//! * S-NIAH-1 (filler haystack), -2 (a natural-text haystack the user gives), -3 (the same
//!   with UUID values, RULER's niah_single_3): a hit when the value is in the output;
//! * QA2 / QA3 (BABILong-style): bAbI two/three-supporting-fact stories whose facts are
//!   spread through the haystack; a hit when the first word of the answer is right.

use crate::synth;
use nn::Tokenizer;
use tensor::{bail, Result, Rng};

#[derive(Clone, Debug, PartialEq)]
pub enum Task {
    Passkey,
    Sniah1,
    Sniah2,
    Sniah3,
    Qa2,
    Qa3,
}

impl Task {
    pub fn parse(s: &str) -> Option<Task> {
        Some(match s.to_ascii_lowercase().replace(['-', '_'], "").as_str() {
            "passkey" => Task::Passkey,
            "sniah1" | "niah1" => Task::Sniah1,
            "sniah2" | "niah2" => Task::Sniah2,
            "sniah3" | "niah3" => Task::Sniah3,
            "qa2" => Task::Qa2,
            "qa3" => Task::Qa3,
            _ => return None,
        })
    }
    pub fn name(&self) -> &'static str {
        match self {
            Task::Passkey => "passkey",
            Task::Sniah1 => "s-niah-1",
            Task::Sniah2 => "s-niah-2",
            Task::Sniah3 => "s-niah-3",
            Task::Qa2 => "qa2",
            Task::Qa3 => "qa3",
        }
    }
    /// Whether the task's prompts place one item at a depth (QA spreads its facts).
    pub fn has_depth(&self) -> bool {
        !matches!(self, Task::Qa2 | Task::Qa3)
    }
    pub fn needs_haystack(&self) -> bool {
        matches!(self, Task::Sniah2 | Task::Sniah3)
    }
    /// Tokens to generate before scoring.
    pub fn answer_tokens(&self) -> usize {
        match self {
            Task::Passkey => 8,
            Task::Sniah1 | Task::Sniah2 => 12,
            Task::Sniah3 => 32,
            Task::Qa2 | Task::Qa3 => 4,
        }
    }
}

/// One prompt and what counts as its answer.
#[derive(Clone, Debug)]
pub struct Example {
    pub ids: Vec<u32>,
    pub answer: String,
}

impl Example {
    /// Whether generated text `out` answers the prompt.
    pub fn hit(&self, task: &Task, out: &str) -> bool {
        match task {
            Task::Qa2 | Task::Qa3 => {
                let first = out.split_whitespace().next().unwrap_or("");
                first
                    .trim_matches(|c: char| !c.is_alphanumeric())
                    .eq_ignore_ascii_case(&self.answer)
            }
            Task::Passkey | Task::Sniah1 | Task::Sniah2 | Task::Sniah3 => {
                out.contains(&self.answer)
            }
        }
    }
}

/// Builds the prompt of `len` tokens for `task` at `depth`, from `rng`. `haystack` is the
/// natural text for S-NIAH-2/3 (and optionally QA); the filler is used otherwise.
pub fn example(
    task: &Task,
    tok: &Tokenizer,
    haystack: Option<&str>,
    len: usize,
    depth: f64,
    rng: &mut Rng,
) -> Result<Example> {
    let fill_text = match (task.needs_haystack(), haystack) {
        (true, None) => bail!("eval", "{} needs a haystack text (--haystack FILE)", task.name()),
        (_, Some(h)) if task.needs_haystack() || matches!(task, Task::Qa2 | Task::Qa3) => h,
        _ => synth::FILLER,
    };
    let fill = tok.encode(fill_text, false)?;
    if fill.is_empty() {
        bail!("eval", "the haystack text encodes to no tokens")
    }
    let ex = match task {
        Task::Passkey => {
            let key = synth::passkey(rng);
            Example { ids: synth::passkey_prompt(tok, len, depth, key)?, answer: key.to_string() }
        }
        Task::Sniah1 | Task::Sniah2 | Task::Sniah3 => {
            let key = synth::niah_key(rng);
            let value = synth::niah_value(rng, *task == Task::Sniah3);
            Example {
                ids: synth::niah_prompt(tok, &fill, &key, &value, len, depth)?,
                answer: value,
            }
        }
        Task::Qa2 | Task::Qa3 => {
            let story = synth::babi_story(rng, *task == Task::Qa3);
            Example {
                ids: babi_prompt(tok, &fill, &story, len, rng)?,
                answer: story.answer.clone(),
            }
        }
    };
    let parts_len = ex.ids.len();
    if parts_len > len {
        bail!(
            "eval",
            "{} needs at least {parts_len} tokens; length {len} is too short",
            task.name()
        )
    }
    Ok(ex)
}

/// A bAbI story of `len` tokens: the intro, the haystack with the facts at random sorted
/// positions (in story order), then the question and the answer prefix.
pub fn babi_prompt(
    tok: &Tokenizer,
    fill: &[u32],
    story: &synth::Story,
    len: usize,
    rng: &mut Rng,
) -> Result<Vec<u32>> {
    let head = tok.encode(&format!("{}<context>\n", synth::BABI_INTRO), false)?;
    let facts: Vec<Vec<u32>> =
        story.facts.iter().map(|f| tok.encode(&format!(" {f} "), false)).collect::<Result<_>>()?;
    let tail = tok.encode(
        &format!("\n</context>\nQuestion: {} Answer: {}", story.question, story.answer_prefix),
        false,
    )?;
    let used: usize = head.len() + tail.len() + facts.iter().map(|f| f.len()).sum::<usize>();
    let budget = len.saturating_sub(used);
    let hay: Vec<u32> = fill.iter().copied().cycle().take(budget).collect();
    let mut cuts: Vec<usize> = (0..facts.len()).map(|_| rng.below(budget + 1)).collect();
    cuts.sort_unstable();
    let mut ids = head;
    let mut at = 0;
    for (f, &c) in facts.iter().zip(&cuts) {
        ids.extend(&hay[at..c]);
        ids.extend(f);
        at = c;
    }
    ids.extend(&hay[at..]);
    ids.extend(tail);
    Ok(ids)
}
