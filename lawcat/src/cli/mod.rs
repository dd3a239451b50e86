//! The `lawcat` program's commands, one file each.

pub mod audit;
pub mod convert;
pub mod generate;
pub mod inspect;

use anyhow::{bail, Context};
use std::path::Path;

/// Applies the global options: the device (only the CPU exists in this build) and the
/// thread count.
pub fn setup(device: &str, threads: Option<usize>) -> anyhow::Result<()> {
    match device {
        "cpu" => {}
        "cuda" => bail!("--device cuda: this build has no GPU backend yet (the ptx crate is empty); use --device cpu"),
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

/// A model and its tokenizer from an HF folder or a GGUF file.
pub fn load(path: &Path) -> anyhow::Result<nn::weights::Loaded> {
    nn::load_model(path).with_context(|| format!("loading the model {}", path.display()))
}
