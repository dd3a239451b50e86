//! Training data: token sequences of a fixed length, as a pure function of the step number
//! (so a resumed run sees exactly the batches the uninterrupted run would have seen).
//!
//! * Files (`--data`): `.txt` files (one document each) and `.jsonl` files (one document per
//!   line, its `"text"`), or folders of them; tokenized, joined with the end-of-sequence
//!   token, cut into sequences, shuffled per epoch from the seed.
//! * Built-in (no `--data`): synthetic long-context documents from `synth` — passkey
//!   retrieval, S-NIAH needles in filler, bAbI-style stories in filler — packed to length.
//!   With the built-in demo tokenizer, passkey documents only (its vocabulary).

use crate::synth;
use nn::Tokenizer;
use std::path::{Path, PathBuf};
use tensor::{Error, Result, Rng, Tensor};

/// What the built-in source generates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BuiltIn {
    /// Passkey retrieval examples (the demo world), with a quarter of the documents a
    /// random token string repeated (plain copying practice: it makes induction-style
    /// retrieval form early in a small model's training).
    Passkey,
    /// A mix of passkey, S-NIAH and bAbI-style documents.
    Mixed,
    /// Only random token strings, each repeated once (copying practice).
    Repeat,
}

pub enum Source {
    Tokens { sequences: Vec<Vec<u32>>, name: String },
    BuiltIn { kind: BuiltIn, tokenizer: Tokenizer, eos: u32 },
}

pub struct Data {
    pub source: Source,
    pub seq_len: usize,
    pub batch_size: usize,
    pub seed: u64,
}

/// Every data file under `paths` (folders searched recursively, sorted), checked for an
/// extension we read.
pub fn data_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = vec![];
    for p in paths {
        if p.is_dir() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(|e| Error::io(p, e))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .collect();
            entries.sort();
            let files: Vec<PathBuf> = entries
                .into_iter()
                .filter(|e| e.is_dir() || matches!(ext(e).as_deref(), Some("txt" | "jsonl")))
                .collect();
            out.extend(data_files(&files)?);
        } else if p.is_file() {
            match ext(p).as_deref() {
                Some("txt" | "jsonl") => out.push(p.clone()),
                _ => {
                    return Err(Error::file(
                        p,
                        "unsupported data file: expected .txt or .jsonl (or a folder of them)",
                    ))
                }
            }
        } else {
            return Err(Error::file(p, "no such file or folder"));
        }
    }
    Ok(out)
}

fn ext(p: &Path) -> Option<String> {
    p.extension().map(|e| e.to_string_lossy().to_ascii_lowercase())
}

/// The documents of one file.
pub fn read_documents(path: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    if ext(path).as_deref() == Some("jsonl") {
        let mut docs = vec![];
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let v: serde_json::Value = serde_json::from_str(line)
                .map_err(|e| Error::file(path, format!("line {}: not valid JSON: {e}", i + 1)))?;
            match v.get("text").and_then(|t| t.as_str()) {
                Some(t) => docs.push(t.to_string()),
                None => {
                    return Err(Error::file(path, format!("line {}: no \"text\" string", i + 1)))
                }
            }
        }
        Ok(docs)
    } else {
        Ok(vec![text])
    }
}

impl Data {
    /// Sequences from files, tokenized and packed.
    pub fn from_files(
        paths: &[PathBuf],
        tok: &Tokenizer,
        eos: u32,
        seq_len: usize,
        batch_size: usize,
        seed: u64,
    ) -> Result<Data> {
        let files = data_files(paths)?;
        if files.is_empty() {
            return Err(Error::op("data", format!("no .txt or .jsonl files under {paths:?}")));
        }
        let mut stream: Vec<u32> = vec![];
        for f in &files {
            for d in read_documents(f)? {
                stream.extend(tok.encode(&d, false)?);
                stream.push(eos);
            }
        }
        let sequences: Vec<Vec<u32>> = stream.chunks_exact(seq_len).map(|c| c.to_vec()).collect();
        if sequences.len() < batch_size {
            return Err(Error::op(
                "data",
                format!(
                    "{} tokens in {} files make {} sequences of \
                {seq_len}, fewer than one batch of {batch_size}",
                    stream.len(),
                    files.len(),
                    sequences.len()
                ),
            ));
        }
        Ok(Data {
            source: Source::Tokens { sequences, name: format!("{} files", files.len()) },
            seq_len,
            batch_size,
            seed,
        })
    }

    /// Sequences given as token ids (each `seq_len` long).
    pub fn from_sequences(sequences: Vec<Vec<u32>>, batch_size: usize, seed: u64) -> Result<Data> {
        let seq_len = sequences.first().map_or(0, |s| s.len());
        if sequences.is_empty() || sequences.iter().any(|s| s.len() != seq_len) || seq_len < 2 {
            return Err(Error::op(
                "data",
                "sequences must be non-empty, of one length of at least 2",
            ));
        }
        Ok(Data {
            source: Source::Tokens { sequences, name: "given sequences".into() },
            seq_len,
            batch_size,
            seed,
        })
    }

    pub fn built_in(
        kind: BuiltIn,
        tokenizer: Tokenizer,
        eos: u32,
        seq_len: usize,
        batch_size: usize,
        seed: u64,
    ) -> Data {
        Data { source: Source::BuiltIn { kind, tokenizer, eos }, seq_len, batch_size, seed }
    }

    pub fn describe(&self) -> String {
        match &self.source {
            Source::Tokens { sequences, name } => {
                format!("{name}: {} sequences of {} tokens", sequences.len(), self.seq_len)
            }
            Source::BuiltIn { kind, .. } => format!(
                "built-in synthetic {kind:?} documents, {} tokens per sequence",
                self.seq_len
            ),
        }
    }

    /// A content hash of what the batches are made from (the token sequences, or for the
    /// built-in source its kind, end token and tokenizer), recorded in checkpoints so a
    /// resume on other data is refused.
    pub fn fingerprint(&self) -> Result<String> {
        let mut h = tensor::sha256::Sha256::new();
        match &self.source {
            Source::Tokens { sequences, .. } => {
                for s in sequences {
                    h.update(&(s.len() as u64).to_le_bytes());
                    for t in s {
                        h.update(&t.to_le_bytes());
                    }
                }
            }
            Source::BuiltIn { kind, tokenizer, eos } => {
                h.update(format!("built-in {kind:?} eos {eos}\0").as_bytes());
                h.update(tokenizer.to_json()?.as_bytes());
            }
        }
        Ok(tensor::sha256::to_hex(&h.finish()))
    }

    /// The batch `[B, L]` (i64) of training step `step` in stream `stream` (0, 1, ... for
    /// stages that should not repeat each other's batches).
    pub fn batch(&self, stream: u64, step: u64) -> Result<Tensor> {
        let (b, l) = (self.batch_size, self.seq_len);
        let mut ids: Vec<i64> = Vec::with_capacity(b * l);
        match &self.source {
            Source::Tokens { sequences, .. } => {
                let n = sequences.len() as u64;
                for j in 0..b as u64 {
                    let global = step * b as u64 + j;
                    let epoch = global / n;
                    let mut order: Vec<usize> = (0..sequences.len()).collect();
                    Rng::new(
                        self.seed ^ stream.wrapping_mul(0x9E37) ^ epoch.wrapping_mul(0x51_7CC1),
                    )
                    .shuffle(&mut order);
                    ids.extend(sequences[order[(global % n) as usize]].iter().map(|&t| t as i64));
                }
            }
            Source::BuiltIn { kind: BuiltIn::Repeat, tokenizer, .. } => {
                // One string of half the length, repeated: exactly one document per sequence.
                for j in 0..b as u64 {
                    let mut rng = Rng::new(
                        self.seed
                            ^ (stream << 48)
                            ^ (step.wrapping_mul(1_000_003))
                            ^ j.wrapping_mul(7919),
                    );
                    let mut seq = repeat_example(tokenizer, l / 2, l / 2, &mut rng);
                    seq.resize(l, seq[0]);
                    ids.extend(seq.iter().map(|&t| t as i64));
                }
            }
            Source::BuiltIn { kind, tokenizer, eos } => {
                for j in 0..b as u64 {
                    let mut rng = Rng::new(
                        self.seed
                            ^ (stream << 48)
                            ^ (step.wrapping_mul(1_000_003))
                            ^ j.wrapping_mul(7919),
                    );
                    let seq = synthetic_sequence(*kind, tokenizer, *eos, l, &mut rng)?;
                    ids.extend(seq.iter().map(|&t| t as i64));
                }
            }
        }
        Tensor::from_vec(ids, [b, l], &tensor::Device::Cpu)
    }
}

/// One packed sequence of exactly `len` tokens of synthetic documents.
pub fn synthetic_sequence(
    kind: BuiltIn,
    tok: &Tokenizer,
    eos: u32,
    len: usize,
    rng: &mut Rng,
) -> Result<Vec<u32>> {
    let mut seq: Vec<u32> = vec![];
    while seq.len() < len {
        // documents of a quarter to all of the sequence length, half of them short (more
        // retrieval examples per sequence)
        let doc_len = if rng.below(2) == 0 {
            len / 4 + rng.below(len / 4 + 1)
        } else {
            len / 4 + rng.below(len - len / 4 + 1)
        };
        let choice = match kind {
            BuiltIn::Passkey => {
                if rng.below(4) == 0 {
                    4
                } else {
                    0
                }
            }
            BuiltIn::Mixed => rng.below(4),
            BuiltIn::Repeat => 4,
        };
        let doc = match choice {
            0 => synth::passkey_example(tok, doc_len, rng)?,
            1 => niah_example(tok, doc_len, rng)?,
            4 => repeat_example(tok, 8, 24, rng),
            _ => babi_example(tok, doc_len, choice == 3, rng)?,
        };
        seq.extend(doc);
        seq.push(eos);
    }
    seq.truncate(len);
    Ok(seq)
}

/// A random string of `min..=max` of the tokenizer's ordinary tokens, then the same string
/// again.
fn repeat_example(tok: &Tokenizer, min: usize, max: usize, rng: &mut Rng) -> Vec<u32> {
    let v = tok.vocab_size() as u32;
    let first = 3.min(v - 1); // skip the special tokens at the start of the demo vocabulary
    let n = min.max(1) + rng.below(max.saturating_sub(min).max(0) + 1);
    let s: Vec<u32> = (0..n).map(|_| first + rng.below((v - first) as usize) as u32).collect();
    let mut out = s.clone();
    out.extend(s);
    out
}

fn niah_example(tok: &Tokenizer, len: usize, rng: &mut Rng) -> Result<Vec<u32>> {
    let key = synth::niah_key(rng);
    let uuid = rng.below(2) == 0;
    let value = synth::niah_value(rng, uuid);
    let fill = tok.encode(synth::FILLER, false)?;
    let answer = tok.encode(&format!(" {value}."), false)?;
    let mut ids = synth::niah_prompt(
        tok,
        &fill,
        &key,
        &value,
        len.saturating_sub(answer.len()),
        rng.uniform(),
    )?;
    ids.extend(answer);
    Ok(ids)
}

fn babi_example(tok: &Tokenizer, len: usize, three: bool, rng: &mut Rng) -> Result<Vec<u32>> {
    let story = synth::babi_story(rng, three);
    let answer = tok.encode(&format!(" {}.", story.answer), false)?;
    let fill = tok.encode(synth::FILLER, false)?;
    let mut ids =
        crate::eval::tasks::babi_prompt(tok, &fill, &story, len.saturating_sub(answer.len()), rng)?;
    ids.extend(answer);
    Ok(ids)
}
