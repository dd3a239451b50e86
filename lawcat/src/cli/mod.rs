//! The `lawcat` program's commands, one file each.

pub mod audit;
pub mod bench;
pub mod convert;
pub mod demo;
pub mod distill;
pub mod eval;
pub mod generate;
pub mod inspect;
pub mod lawcat_opts;
pub mod ptx;
pub mod train_teacher;

use crate::student::AnyModel;
use anyhow::{bail, Context};
use std::path::Path;

/// Applies the global options: the device (only the CPU exists in this build) and the
/// thread count.
pub fn setup(device: &str, threads: Option<usize>) -> anyhow::Result<()> {
    match device {
        "cpu" => {}
        "cuda" => bail!("--device cuda: this build has no GPU backend yet (the ptx crate has only the PTX interpreter so far: see `lawcat ptx check`); use --device cpu"),
        other => bail!("--device {other:?}: expected cpu or cuda"),
    }
    if let Some(n) = threads {
        if n == 0 {
            bail!("--threads must be at least 1");
        }
        rayon::ThreadPoolBuilder::new().num_threads(n).build_global().context("setting the thread count")?;
    }
    Ok(())
}

/// A model by name: "builtin" (the demo teacher), a student folder, an HF folder or a
/// GGUF file.
pub fn load_named(name: &str) -> anyhow::Result<AnyModel> {
    if name == "builtin" {
        return crate::builtin::teacher().context("loading the built-in teacher");
    }
    crate::student::load_any(Path::new(name)).with_context(|| format!("loading the model {name}"))
}

/// A teacher model and its tokenizer from an HF folder or a GGUF file.
pub fn load(path: &Path) -> anyhow::Result<nn::weights::Loaded> {
    let m = load_named(&path.to_string_lossy())?;
    Ok(nn::weights::Loaded { model: m.model, tokenizer: m.tokenizer })
}
