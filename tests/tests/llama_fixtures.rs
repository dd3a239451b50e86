//! Our Llama against HF transformers on the tiny fixtures: logits and every hidden state
//! (relative error < 1e-4), the loss (< 1e-5), every parameter gradient (< 1e-3), and
//! greedy generation token for token; on the CPU and on the checking device.

use autograd::{no_grad, Var};
use lawcat_tests::fixture;
use nn::generate::{generate, GenerateOptions};
use nn::weights::load_hf_dir;
use tensor::safetensors_io::load;
use tensor::testing::devices;
use tensor::Device;
use tensor::tolerance::{compare_tensors, Tol};

fn check_fixture(name: &str, device: &Device) {
    let dir = fixture(name);
    let model = load_hf_dir(&dir).unwrap().model;
    model.to_device(device).unwrap();
    let name = &format!("{name} on {device}");
    let r = load(dir.join("reference.safetensors")).unwrap();
    let ids = &r["input_ids"];
    // forward: logits and hidden states
    let out = no_grad(|| model.forward(ids, None, true)).unwrap();
    let c = compare_tensors(out.logits.value(), &r["logits"], Tol::relative(1e-4)).unwrap();
    assert!(c.pass, "{name} logits: {c}");
    assert_eq!(out.hidden_states.len(), model.config.num_hidden_layers + 1);
    for (i, h) in out.hidden_states.iter().enumerate() {
        let c = compare_tensors(h.value(), &r[&format!("hidden_states.{i}")], Tol::relative(1e-4)).unwrap();
        assert!(c.pass, "{name} hidden_states.{i}: {c}");
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
        let c = compare_tensors(&g, &r[&format!("grad.{pname}")], Tol::relative(1e-3)).unwrap();
        assert!(c.pass, "{name} grad.{pname}: {c}");
        checked += 1;
    }
    assert_eq!(checked, r.keys().filter(|k| k.starts_with("grad.")).count(), "every reference gradient checked");
    // greedy generation
    let prompt: Vec<u32> = r["greedy_prompt"].to_vec_i64().unwrap().iter().map(|&x| x as u32).collect();
    let want: Vec<u32> = r["greedy_output"].to_vec_i64().unwrap().iter().map(|&x| x as u32).collect();
    let g = generate(&model, &[prompt.clone()], &GenerateOptions { max_new_tokens: want.len() - prompt.len(), ..Default::default() }).unwrap();
    let mut got = prompt;
    got.extend(&g.tokens[0]);
    assert_eq!(got, want, "{name} greedy output");
    let _ = Var::constant(ids.clone());
}

#[test]
fn tiny_llama_matches_transformers() {
    for d in devices() {
        check_fixture("tiny-llama", &d);
    }
}

#[test]
fn tiny_llama_bf16_tied_matches_transformers() {
    for d in devices() {
        check_fixture("tiny-llama-bf16-tied", &d);
    }
}
