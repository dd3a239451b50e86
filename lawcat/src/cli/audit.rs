//! `lawcat audit llama|gla|conv1d REFERENCE`: our implementation against a reference dump
//! from another one, tensor by tensor; exits non-zero when any tensor is out of bounds.

use crate::audit::Report;
use anyhow::{bail, Context};
use autograd::no_grad;
use std::path::PathBuf;
use std::process::ExitCode;
use tensor::safetensors_io::SafetensorsFile;
use tensor::Tensor;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub what: What,
}

#[derive(clap::Subcommand)]
pub enum What {
    /// A Llama model against a dump of input_ids, logits, hidden_states.i, loss and grad.*
    /// (the format of shared/fixtures/tiny-llama/reference.safetensors).
    Llama {
        /// The reference .safetensors file.
        reference: PathBuf,
        /// The model (Hugging Face folder or .gguf file).
        #[arg(long)]
        model: PathBuf,
        /// Relative error bound for logits and hidden states.
        #[arg(long, default_value_t = 1e-4)]
        tol_values: f64,
        /// Relative error bound for the loss.
        #[arg(long, default_value_t = 1e-5)]
        tol_loss: f64,
        /// Relative error bound for parameter gradients.
        #[arg(long, default_value_t = 1e-3)]
        tol_grads: f64,
    },
}

pub fn run(a: &Args) -> anyhow::Result<ExitCode> {
    let report = match &a.what {
        What::Llama { reference, model, tol_values, tol_loss, tol_grads } => audit_llama(reference, model, *tol_values, *tol_loss, *tol_grads)?,
    };
    print!("{}", report.render());
    Ok(if report.passed() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

fn audit_llama(reference: &PathBuf, model: &PathBuf, tol_values: f64, tol_loss: f64, tol_grads: f64) -> anyhow::Result<Report> {
    let r = SafetensorsFile::open(reference)?;
    let ids = r.load("input_ids").with_context(|| format!("{} must hold input_ids", reference.display()))?;
    if ids.rank() != 2 || ids.dtype() != tensor::DType::I64 {
        bail!("{}: input_ids must be integers of shape [B, T], got {:?} {}", reference.display(), ids.dims(), ids.dtype());
    }
    let loaded = super::load(model)?;
    let m = &loaded.model;
    let mut report = Report::new(format!("audit llama: {} against {}", model.display(), reference.display()));
    let grads: Vec<&str> = r.names().into_iter().filter(|n| n.starts_with("grad.")).collect();
    let out = if grads.is_empty() && !r.contains("loss") { no_grad(|| m.forward(&ids, None, true))? } else { m.forward(&ids, None, true)? };
    if r.contains("logits") {
        report.check("logits", out.logits.value(), &r.load("logits")?, tol_values)?;
    }
    for (i, h) in out.hidden_states.iter().enumerate() {
        let name = format!("hidden_states.{i}");
        if r.contains(&name) {
            report.check(&name, h.value(), &r.load(&name)?, tol_values)?;
        }
    }
    if r.contains(&format!("hidden_states.{}", out.hidden_states.len())) {
        bail!("{} has more hidden states than the model's {} layers + 1", reference.display(), m.layers.len());
    }
    if r.contains("loss") || !grads.is_empty() {
        let loss = nn::model::next_token_loss(&out.logits, &ids)?;
        if r.contains("loss") {
            let want = r.load("loss")?.reshape(())?;
            report.check("loss", loss.value(), &want, tol_loss)?;
        }
        if !grads.is_empty() {
            loss.backward()?;
            let params = m.named_params();
            for g in grads {
                let pname = &g["grad.".len()..];
                let Some((_, p)) = params.iter().find(|(n, _)| n == pname) else {
                    bail!("{}: {g} names no parameter of the model", reference.display());
                };
                let got = p.grad().unwrap_or(Tensor::zeros(p.value().dims(), tensor::DType::F32));
                report.check(g, &got, &r.load(g)?, tol_grads)?;
            }
        }
    }
    Ok(report)
}
