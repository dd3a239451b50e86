//! `lawcat audit llama|gla|conv1d REFERENCE`: our implementation against a reference dump
//! from another one, tensor by tensor; exits non-zero when any tensor is out of bounds.

use crate::audit::Report;
use anyhow::{bail, Context};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use tensor::safetensors_io::SafetensorsFile;
use tensor::{DType, Tensor};

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
        /// Compare only what the reference holds: tensors it lacks (final_state, do, the
        /// gradients) are listed but not a failure.
        #[arg(long)]
        allow_missing: bool,
    },
    /// The causal depthwise conv1d against a dump of x, weight, bias, y, dy, dx, dweight,
    /// dbias (the format of fixtures/conv1d).
    Conv1d {
        /// The reference .safetensors file.
        reference: PathBuf,
        /// Relative error bound.
        #[arg(long, default_value_t = 1e-4)]
        tol: f64,
        /// Compare only what the reference holds: tensors it lacks (dy and the gradients)
        /// are listed but not a failure.
        #[arg(long)]
        allow_missing: bool,
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
        /// Compare only what the reference holds: tensors it lacks (logits, hidden states,
        /// loss, a parameter's gradient) are listed but not a failure.
        #[arg(long)]
        allow_missing: bool,
    },
}

pub fn run(a: &Args) -> anyhow::Result<ExitCode> {
    let report = match &a.what {
        What::Llama { reference, model, tol_values, tol_loss, tol_grads, allow_missing } => {
            let r = open(reference)?;
            let loaded = super::load(model)?;
            let mut rep = audit_llama(
                &r,
                &loaded.model,
                &model.display().to_string(),
                *tol_values,
                *tol_loss,
                *tol_grads,
            )?;
            rep.allow_missing = *allow_missing;
            rep
        }
        What::Gla { reference, normalized, chunk, tol, allow_missing } => {
            let norm = *normalized
                || reference
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().contains("normalized"));
            let mut rep = audit_gla(&open(reference)?, norm, *chunk, *tol)?;
            rep.allow_missing = *allow_missing;
            rep
        }
        What::Conv1d { reference, tol, allow_missing } => {
            let mut rep = audit_conv1d(&open(reference)?, *tol)?;
            rep.allow_missing = *allow_missing;
            rep
        }
    };
    out!("{}", report.render());
    Ok(if report.passed() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// Opens a reference dump (a folder or a broken file is an error naming it).
pub fn open(reference: &Path) -> anyhow::Result<SafetensorsFile> {
    if reference.is_dir() {
        bail!("{}: is a folder; expected a reference .safetensors file", reference.display());
    }
    Ok(SafetensorsFile::open(reference)?)
}

fn require(r: &SafetensorsFile, name: &str) -> anyhow::Result<Tensor> {
    if !r.contains(name) {
        bail!("{} must hold {name}", r.path().display());
    }
    let t = r.load(name)?;
    if !t.dtype().is_float() {
        bail!("{}: {name} is {}, expected a float tensor", r.path().display(), t.dtype());
    }
    Ok(t)
}

/// Compares `got` with the reference's `name` when it holds it; records it as missing
/// otherwise.
fn compare(
    report: &mut Report,
    r: &SafetensorsFile,
    name: &str,
    got: &Tensor,
    tol: f64,
) -> anyhow::Result<()> {
    if !r.contains(name) {
        report.missing(name);
        return Ok(());
    }
    let want = require(r, name)?;
    report
        .check(name, got, &want, tol)
        .with_context(|| format!("{}: comparing {name}", r.path().display()))
}

/// A Llama model against a dump of `input_ids`, `logits`, `hidden_states.i` (L + 1 of
/// them), `loss` and `grad.<param>` for every parameter; each one the dump lacks is
/// recorded as missing.
pub fn audit_llama(
    r: &SafetensorsFile,
    m: &nn::Llama,
    model_name: &str,
    tol_values: f64,
    tol_loss: f64,
    tol_grads: f64,
) -> anyhow::Result<Report> {
    let path = r.path().display().to_string();
    if !r.contains("input_ids") {
        bail!("{path} must hold input_ids");
    }
    let ids = r.load("input_ids")?;
    if ids.rank() != 2 || ids.dtype() != DType::I64 || ids.numel() == 0 {
        bail!(
            "{path}: input_ids must be integers of shape [B, T] with B, T > 0, got {:?} {}",
            ids.dims(),
            ids.dtype()
        );
    }
    let vocab = m.config.vocab_size;
    if let Some(bad) = ids.to_vec::<i64>()?.into_iter().find(|&i| i < 0 || i as usize >= vocab) {
        bail!(
            "{path}: input_ids holds token id {bad}, outside the vocabulary of the model \
            {model_name} ({vocab} tokens)"
        );
    }
    tensor::memory::check_fits(
        &format!("{path}: a forward pass over input_ids {:?}", ids.dims()),
        2 * nn::model::forward_memory_estimate(&m.config, ids.dims()[0], ids.dims()[1]),
    )?;
    let mut report = Report::new(format!("audit llama: {model_name} against {path}"));
    let params = m.named_params();
    let grads: Vec<&str> = r.names().into_iter().filter(|n| n.starts_with("grad.")).collect();
    for g in &grads {
        if !params.iter().any(|(n, _)| n == &g["grad.".len()..]) {
            bail!("{path}: {g} names no parameter of the model {model_name}");
        }
    }
    // Every parameter's gradient is compared, whatever the caller froze.
    for (_, p) in &params {
        p.set_trainable(true);
        p.zero_grad();
    }
    let out = m.forward(&ids, None, true)?;
    compare(&mut report, r, "logits", out.logits.value(), tol_values)?;
    for (i, h) in out.hidden_states.iter().enumerate() {
        compare(&mut report, r, &format!("hidden_states.{i}"), h.value(), tol_values)?;
    }
    if r.contains(&format!("hidden_states.{}", out.hidden_states.len())) {
        bail!("{path} has more hidden states than the model's {} layers + 1", m.layers.len());
    }
    let loss = nn::model::next_token_loss(&out.logits, &ids)?;
    if r.contains("loss") {
        let want = require(r, "loss")?;
        if want.numel() != 1 {
            bail!("{path}: loss has shape {:?}, expected one value", want.dims());
        }
        report.check("loss", loss.value(), &want.reshape(())?, tol_loss)?;
    } else {
        report.missing("loss");
    }
    loss.backward()?;
    for (pname, p) in &params {
        let got = match p.grad() {
            Some(g) => g,
            None => p.value().zeros_like()?.to_dtype(DType::F32)?,
        };
        compare(&mut report, r, &format!("grad.{pname}"), &got, tol_grads)?;
    }
    Ok(report)
}

/// Gated linear attention against a dump (`fixtures/gla` format): `q, k, g`
/// `[B, T, H, K]`, `v` `[B, T, H, V]`, optional `initial_state` `[B, H, K, V]`; compared:
/// `o`, `final_state`, and with the cotangents `do`, `d_final_state` the gradients `dq dk
/// dv dg` (and `d_initial_state`).
pub fn audit_gla(
    r: &SafetensorsFile,
    normalized: bool,
    chunk: usize,
    tol: f64,
) -> anyhow::Result<Report> {
    use crate::ops::gla::{gla, gla_normalized, GlaMode};
    use autograd::{backward_multi, Var};
    let path = r.path().display().to_string();
    let (q, k, v, g) = (require(r, "q")?, require(r, "k")?, require(r, "v")?, require(r, "g")?);
    let shape_err = || {
        anyhow::anyhow!(
            "{path}: expected q, k, g of shape [B, T, H, K] and v of shape [B, T, H, \
            V], got q {:?}, k {:?}, g {:?}, v {:?}",
            q.dims(),
            k.dims(),
            g.dims(),
            v.dims()
        )
    };
    if q.rank() != 4
        || k.dims() != q.dims()
        || g.dims() != q.dims()
        || v.rank() != 4
        || v.dims()[..3] != q.dims()[..3]
        || q.dims()[3] == 0
    {
        return Err(shape_err());
    }
    let (b, h, kd, vd) = (q.dims()[0], q.dims()[2], q.dims()[3], v.dims()[3]);
    let state_shape = [b, h, kd, vd];
    let s0 = if r.contains("initial_state") && !normalized {
        let s = require(r, "initial_state")?;
        if s.dims() != state_shape {
            bail!("{path}: initial_state has shape {:?}, expected {state_shape:?}", s.dims());
        }
        Some(Var::leaf(s))
    } else {
        None
    };
    let (q, k, v, g) = (Var::leaf(q), Var::leaf(k), Var::leaf(v), Var::leaf(g));
    let mode = if chunk == 0 { GlaMode::Recurrent } else { GlaMode::Chunked(chunk) };
    let (o, sf) = if normalized {
        let (o, st) = gla_normalized(&q, &k, &v, &g, None, 1e-6, mode)?;
        (o, st.s)
    } else {
        gla(&q, &k, &v, &g, s0.as_ref(), 1.0 / (kd as f64).sqrt(), mode)?
    };
    let kind = if normalized { "normalized GLA" } else { "GLA" };
    let mut report = Report::new(format!("audit {kind} ({mode:?}) against {path}"));
    if !r.contains("o") {
        bail!("{path} must hold o");
    }
    compare(&mut report, r, "o", o.value(), tol)?;
    compare(&mut report, r, "final_state", sf.value(), tol)?;
    let mut pairs = vec![(&q, "dq"), (&k, "dk"), (&v, "dv"), (&g, "dg")];
    if let Some(s) = &s0 {
        pairs.push((s, "d_initial_state"));
    }
    if !r.contains("do") {
        report.missing("do");
        for (_, name) in pairs {
            report.missing(name);
        }
        return Ok(report);
    }
    let d_o = require(r, "do")?;
    if d_o.dims() != o.dims() {
        bail!("{path}: do has shape {:?}, o has {:?}", d_o.dims(), o.dims());
    }
    let mut roots = vec![(&o, d_o)];
    if r.contains("d_final_state") {
        let d = require(r, "d_final_state")?;
        if d.dims() != sf.dims() {
            bail!(
                "{path}: d_final_state has shape {:?}, final_state has {:?}",
                d.dims(),
                sf.dims()
            );
        }
        roots.push((&sf, d));
    } else {
        report.missing("d_final_state");
    }
    let grads = backward_multi(&roots)?;
    for (x, name) in pairs {
        let got = match grads.get(x) {
            Some(g) => g.clone(),
            None => Tensor::zeros(x.dims(), DType::F32, &x.value().device())?,
        };
        compare(&mut report, r, name, &got, tol)?;
    }
    Ok(report)
}

/// The causal depthwise conv1d against a dump (`fixtures/conv1d` format): `x`
/// `[B, T, D]`, `weight` `[D, W]`, optional `bias` `[D]`; compared: `y`, and with the
/// cotangent `dy` the gradients `dx dweight` (and `dbias`).
pub fn audit_conv1d(r: &SafetensorsFile, tol: f64) -> anyhow::Result<Report> {
    use autograd::Var;
    let path = r.path().display().to_string();
    let (x, w) = (require(r, "x")?, require(r, "weight")?);
    if x.rank() != 3 || w.rank() != 2 || w.dims()[0] != x.dims()[2] || w.dims()[1] == 0 {
        bail!(
            "{path}: expected x of shape [B, T, D] and weight of shape [D, W], got x {:?}, \
            weight {:?}",
            x.dims(),
            w.dims()
        );
    }
    let b = if r.contains("bias") {
        let b = require(r, "bias")?;
        if b.dims() != [x.dims()[2]] {
            bail!("{path}: bias has shape {:?}, expected [{}]", b.dims(), x.dims()[2]);
        }
        Some(Var::leaf(b))
    } else {
        None
    };
    let (x, w) = (Var::leaf(x), Var::leaf(w));
    let y = crate::ops::conv1d::conv1d(&x, &w, b.as_ref())?;
    let mut report = Report::new(format!("audit conv1d against {path}"));
    if !r.contains("y") {
        bail!("{path} must hold y");
    }
    compare(&mut report, r, "y", y.value(), tol)?;
    let mut pairs = vec![(&x, "dx"), (&w, "dweight")];
    if let Some(b) = &b {
        pairs.push((b, "dbias"));
    }
    if !r.contains("dy") {
        report.missing("dy");
        for (_, name) in pairs {
            report.missing(name);
        }
        return Ok(report);
    }
    let dy = require(r, "dy")?;
    if dy.dims() != y.dims() {
        bail!("{path}: dy has shape {:?}, y has {:?}", dy.dims(), y.dims());
    }
    let grads = y.backward_with(dy)?;
    for (v, name) in pairs {
        let got = match grads.get(v) {
            Some(g) => g.clone(),
            None => Tensor::zeros(v.dims(), DType::F32, &v.value().device())?,
        };
        compare(&mut report, r, name, &got, tol)?;
    }
    Ok(report)
}
