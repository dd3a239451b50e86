//! One check per fixture kind, taking the fixture's path, with the bounds the tests have
//! always used: relative error 1e-4 for values (logits, hidden states, GLA and conv1d
//! outputs and gradients), 1e-5 for the loss, 1e-3 for model parameter gradients; greedy
//! tokens and token ids exactly.

use autograd::{backward_multi, no_grad, Var};
use lawcat::ops;
use lawcat::ops::gla::GlaMode;
use nn::generate::{generate, GenerateOptions};
use nn::weights::load_hf_dir;
use nn::Tokenizer;
use std::collections::BTreeMap;
use std::path::Path;
use tensor::safetensors_io::load;
use tensor::tolerance::{compare_tensors, Tol};
use tensor::{Device, Tensor};

fn close(what: &str, got: &Tensor, want: &Tensor, rel: f64) {
    let c = compare_tensors(got, want, Tol::relative(rel)).unwrap();
    assert!(c.pass, "{what}: {c}");
}

fn leaf(r: &BTreeMap<String, Tensor>, name: &str) -> Var {
    Var::leaf(r[name].clone())
}

/// Our Llama on `device` against a checkpoint folder holding `reference.safetensors` (HF
/// transformers' outputs): logits and every hidden state, the loss, every parameter
/// gradient, greedy generation token for token.
pub fn llama(dir: &Path, device: &Device) {
    let name = format!("{} on {device}", dir.display());
    let model = load_hf_dir(dir).unwrap().model;
    model.to_device(device).unwrap();
    let r = load(dir.join("reference.safetensors")).unwrap();
    let ids = &r["input_ids"];
    // forward: logits and hidden states
    let out = no_grad(|| model.forward(ids, None, true)).unwrap();
    close(&format!("{name} logits"), out.logits.value(), &r["logits"], 1e-4);
    assert_eq!(out.hidden_states.len(), model.config.num_hidden_layers + 1);
    for (i, h) in out.hidden_states.iter().enumerate() {
        close(
            &format!("{name} hidden_states.{i}"),
            h.value(),
            &r[&format!("hidden_states.{i}")],
            1e-4,
        );
    }
    // loss and every gradient
    let loss = model.loss(ids).unwrap();
    let want = r["loss"].to_scalar().unwrap();
    let got = loss.to_scalar().unwrap();
    assert!(((got - want) / want).abs() < 1e-5, "{name} loss {got} vs {want}");
    loss.backward().unwrap();
    let mut checked = 0;
    for (pname, p) in model.named_params() {
        let g = p.grad().unwrap_or_else(|| panic!("{name}: no gradient for {pname}"));
        close(&format!("{name} grad.{pname}"), &g, &r[&format!("grad.{pname}")], 1e-3);
        checked += 1;
    }
    assert_eq!(
        checked,
        r.keys().filter(|k| k.starts_with("grad.")).count(),
        "{name}: every reference gradient checked"
    );
    // greedy generation
    let prompt: Vec<u32> =
        r["greedy_prompt"].to_vec_i64().unwrap().iter().map(|&x| x as u32).collect();
    let want: Vec<u32> =
        r["greedy_output"].to_vec_i64().unwrap().iter().map(|&x| x as u32).collect();
    let g = generate(
        &model,
        &[prompt.clone()],
        &GenerateOptions { max_new_tokens: want.len() - prompt.len(), ..Default::default() },
    )
    .unwrap();
    let mut got = prompt;
    got.extend(&g.tokens[0]);
    assert_eq!(got, want, "{name} greedy output");
}

/// Plain GLA (with an initial state, scale `K^-1/2`) in the recurrent form and chunked
/// with chunks of 64 and 16: output, final state and the gradients of q, k, v, g and the
/// initial state for the dump's cotangents `do`, `d_final_state`.
pub fn gla(file: &Path) {
    let (r, f) = (load(file).unwrap(), file.display());
    for mode in [GlaMode::Recurrent, GlaMode::Chunked(64), GlaMode::Chunked(16)] {
        let (q, k, v, g, s0) =
            (leaf(&r, "q"), leaf(&r, "k"), leaf(&r, "v"), leaf(&r, "g"), leaf(&r, "initial_state"));
        let scale = 1.0 / (q.dims()[3] as f64).sqrt();
        let (o, sf) = ops::gla::gla(&q, &k, &v, &g, Some(&s0), scale, mode).unwrap();
        close(&format!("{f} {mode:?} o"), o.value(), &r["o"], 1e-4);
        close(&format!("{f} {mode:?} final_state"), sf.value(), &r["final_state"], 1e-4);
        let grads =
            backward_multi(&[(&o, r["do"].clone()), (&sf, r["d_final_state"].clone())]).unwrap();
        for (x, name) in [(&q, "dq"), (&k, "dk"), (&v, "dv"), (&g, "dg"), (&s0, "d_initial_state")]
        {
            close(&format!("{f} {mode:?} {name}"), grads.get(x).unwrap(), &r[name], 1e-4);
        }
    }
}

/// Normalized GLA (eps 1e-6, zero initial state) in every form: output, final state and
/// the gradients of q, k, v, g.
pub fn gla_normalized(file: &Path) {
    let (r, f) = (load(file).unwrap(), file.display());
    for mode in [GlaMode::Recurrent, GlaMode::Chunked(64), GlaMode::Chunked(16)] {
        let (q, k, v, g) = (leaf(&r, "q"), leaf(&r, "k"), leaf(&r, "v"), leaf(&r, "g"));
        let (o, st) = ops::gla::gla_normalized(&q, &k, &v, &g, None, 1e-6, mode).unwrap();
        close(&format!("{f} {mode:?} o"), o.value(), &r["o"], 1e-4);
        close(&format!("{f} {mode:?} final_state"), st.s.value(), &r["final_state"], 1e-4);
        let grads =
            backward_multi(&[(&o, r["do"].clone()), (&st.s, r["d_final_state"].clone())]).unwrap();
        for (x, name) in [(&q, "dq"), (&k, "dk"), (&v, "dv"), (&g, "dg")] {
            close(&format!("{f} {mode:?} {name}"), grads.get(x).unwrap(), &r[name], 1e-4);
        }
    }
}

/// The causal depthwise conv1d: output and the gradients of x, weight and bias for the
/// dump's cotangent `dy`.
pub fn conv1d(file: &Path) {
    let (r, f) = (load(file).unwrap(), file.display());
    let (x, w, b) = (leaf(&r, "x"), leaf(&r, "weight"), leaf(&r, "bias"));
    let y = ops::conv1d::conv1d(&x, &w, Some(&b)).unwrap();
    close(&format!("{f} y"), y.value(), &r["y"], 1e-4);
    let grads = y.backward_with(r["dy"].clone()).unwrap();
    close(&format!("{f} dx"), grads.get(&x).unwrap(), &r["dx"], 1e-4);
    close(&format!("{f} dweight"), grads.get(&w).unwrap(), &r["dweight"], 1e-4);
    close(&format!("{f} dbias"), grads.get(&b).unwrap(), &r["dbias"], 1e-4);
}

fn ids(v: &serde_json::Value) -> Vec<u32> {
    v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect()
}

/// A cases file (`cases` of text with HF tokenizers' ids with and without special tokens
/// and the decoded text; optionally `decode_cases`, `vocab_size`, `special_tokens`) against
/// our tokenizer wrapper reading the tokenizer.json the file names (beside it). Returns the
/// tokenizer.
pub fn tokenizer(cases_file: &Path) -> Tokenizer {
    let c: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(cases_file).unwrap()).unwrap();
    let dir = cases_file.parent().unwrap();
    let tok = Tokenizer::from_file(dir.join(c["tokenizer"].as_str().unwrap())).unwrap();
    let cases = c["cases"].as_array().unwrap();
    assert!(cases.len() >= 3);
    for case in cases {
        let text = case["text"].as_str().unwrap();
        assert_eq!(
            tok.encode(text, true).unwrap(),
            ids(&case["ids_with_special"]),
            "with special: {text:?}"
        );
        let plain = tok.encode(text, false).unwrap();
        assert_eq!(plain, ids(&case["ids_plain"]), "plain: {text:?}");
        assert_eq!(
            tok.decode(&plain, false).unwrap(),
            case["decoded"].as_str().unwrap(),
            "decode: {text:?}"
        );
    }
    for case in c["decode_cases"].as_array().into_iter().flatten() {
        let (want, skip) =
            (case["decoded"].as_str().unwrap(), case["skip_special"].as_bool().unwrap());
        assert_eq!(
            tok.decode(&ids(&case["ids"]), skip).unwrap(),
            want,
            "decode {} (skip special: {skip})",
            case["ids"]
        );
    }
    if let Some(n) = c["vocab_size"].as_u64() {
        assert_eq!(tok.vocab_size(), n as usize);
    }
    for (name, id) in c["special_tokens"].as_object().into_iter().flatten() {
        assert_eq!(tok.token_to_id(name), Some(id.as_u64().unwrap() as u32), "{name}");
        assert_eq!(tok.id_to_token(id.as_u64().unwrap() as u32).as_deref(), Some(name.as_str()));
    }
    tok
}
