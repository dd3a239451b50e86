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
    /// Gated linear attention against a dump of q, k, v, g (and initial_state), o,
    /// final_state, and the gradients dq, dk, dv, dg (d_initial_state) of random
    /// cotangents do, d_final_state (the format of fixtures/gla).
    Gla {
        /// The reference .safetensors file.
        reference: PathBuf,
        /// The normalized variant (otherwise recognised from "normalized" in the file name).
        #[arg(long)]
        normalized: bool,
        /// Chunked form with this chunk length (0: the recurrent form).
        #[arg(long, default_value_t = 64)]
        chunk: usize,
        /// Relative error bound.
        #[arg(long, default_value_t = 1e-4)]
        tol: f64,
    },
    /// The causal depthwise conv1d against a dump of x, weight, bias, y, dy, dx, dweight,
    /// dbias (the format of fixtures/conv1d).
    Conv1d {
        /// The reference .safetensors file.
        reference: PathBuf,
        /// Relative error bound.
        #[arg(long, default_value_t = 1e-4)]
        tol: f64,
    },
    /// A Llama model against a dump of input_ids, logits, hidden_states.i, loss and grad.*
    /// (the format of fixtures/tiny-llama/reference.safetensors).
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
        What::Gla { reference, normalized, chunk, tol } => {
            let norm = *normalized || reference.file_name().is_some_and(|n| n.to_string_lossy().contains("normalized"));
            audit_gla(reference, norm, *chunk, *tol)?
        }
        What::Conv1d { reference, tol } => audit_conv1d(reference, *tol)?,
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
                let got = match p.grad() {
                    Some(g) => g,
                    None => p.value().zeros_like()?.to_dtype(tensor::DType::F32)?,
                };
                report.check(g, &got, &r.load(g)?, tol_grads)?;
            }
        }
    }
    Ok(report)
}

fn require(r: &SafetensorsFile, name: &str) -> anyhow::Result<Tensor> {
    r.load(name).with_context(|| format!("{} must hold {name}", r.path().display()))
}

fn audit_gla(reference: &PathBuf, normalized: bool, chunk: usize, tol: f64) -> anyhow::Result<Report> {
    use crate::ops::gla::{gla, gla_normalized, GlaMode};
    use autograd::{backward_multi, Var};
    let r = SafetensorsFile::open(reference)?;
    let leaf = |n: &str| -> anyhow::Result<Var> { Ok(Var::leaf(require(&r, n)?)) };
    let (q, k, v, g) = (leaf("q")?, leaf("k")?, leaf("v")?, leaf("g")?);
    let mode = if chunk == 0 { GlaMode::Recurrent } else { GlaMode::Chunked(chunk) };
    let s0 = if r.contains("initial_state") { Some(leaf("initial_state")?) } else { None };
    let (o, sf) = if normalized {
        let (o, st) = gla_normalized(&q, &k, &v, &g, None, 1e-6, mode)?;
        (o, st.s)
    } else {
        gla(&q, &k, &v, &g, s0.as_ref(), 1.0 / (q.dims()[3] as f64).sqrt(), mode)?
    };
    let kind = if normalized { "normalized GLA" } else { "GLA" };
    let mut report = Report::new(format!("audit {kind} ({mode:?}) against {}", reference.display()));
    report.check("o", o.value(), &require(&r, "o")?, tol)?;
    if r.contains("final_state") {
        report.check("final_state", sf.value(), &require(&r, "final_state")?, tol)?;
    }
    if r.contains("do") {
        let mut roots = vec![(&o, require(&r, "do")?)];
        if r.contains("d_final_state") {
            roots.push((&sf, require(&r, "d_final_state")?));
        }
        let grads = backward_multi(&roots)?;
        let mut pairs = vec![(&q, "dq"), (&k, "dk"), (&v, "dv"), (&g, "dg")];
        if let Some(s) = &s0 {
            pairs.push((s, "d_initial_state"));
        }
        for (x, name) in pairs {
            if r.contains(name) {
                let got = match grads.get(x) {
                    Some(g) => g.clone(),
                    None => Tensor::zeros(x.dims(), tensor::DType::F32, &x.value().device())?,
                };
                report.check(name, &got, &require(&r, name)?, tol)?;
            }
        }
    }
    Ok(report)
}

fn audit_conv1d(reference: &PathBuf, tol: f64) -> anyhow::Result<Report> {
    use autograd::Var;
    let r = SafetensorsFile::open(reference)?;
    let x = Var::leaf(require(&r, "x")?);
    let w = Var::leaf(require(&r, "weight")?);
    let b = if r.contains("bias") { Some(Var::leaf(require(&r, "bias")?)) } else { None };
    let y = crate::ops::conv1d::conv1d(&x, &w, b.as_ref())?;
    let mut report = Report::new(format!("audit conv1d against {}", reference.display()));
    report.check("y", y.value(), &require(&r, "y")?, tol)?;
    if r.contains("dy") {
        let grads = y.backward_with(require(&r, "dy")?)?;
        report.check("dx", grads.get(&x).expect("x is a leaf"), &require(&r, "dx")?, tol)?;
        report.check("dweight", grads.get(&w).expect("w is a leaf"), &require(&r, "dweight")?, tol)?;
        if let (Some(b), true) = (&b, r.contains("dbias")) {
            report.check("dbias", grads.get(b).expect("b is a leaf"), &require(&r, "dbias")?, tol)?;
        }
    }
    Ok(report)
}
