//! The model's own properties: decoding with a cache equals one full forward; the blocked
//! inference attention equals the differentiable one; fused RMSNorm and RoPE equal their
//! composites and pass gradcheck; checkpoints round-trip (single file and sharded);
//! broken checkpoints are clear errors; sampling is seeded.

use autograd::{gradcheck, no_grad, GradcheckOptions, Var};
use nn::attention::sdpa;
use nn::attention_kernel::sdpa_blocked;
use nn::generate::{generate, sample, GenerateOptions, Sampling};
use nn::norm::{rms_norm, rms_norm_composite};
use nn::rope::{apply_rope, Rope};
use nn::{Llama, LlamaConfig, RopeScaling};
use proptest::prelude::*;
use tensor::testing::config;
use tensor::tolerance::{assert_tensors_close, compare_tensors, Tol};
use tensor::{DType, Device, Rng, Tensor};

fn tiny_config(kv_heads: usize, tied: bool) -> LlamaConfig {
    LlamaConfig {
        hidden_size: 32,
        intermediate_size: 48,
        num_hidden_layers: 2,
        num_attention_heads: 4,
        num_key_value_heads: kv_heads,
        head_dim: 8,
        vocab_size: 50,
        rms_norm_eps: 1e-5,
        rope_theta: 10000.0,
        rope_scaling: RopeScaling::Llama3 {
            factor: 8.0,
            low_freq_factor: 1.0,
            high_freq_factor: 4.0,
            original_max_position_embeddings: 16,
        },
        max_position_embeddings: 1024,
        tie_word_embeddings: tied,
        attention_bias: false,
        mlp_bias: false,
        bos_token_id: Some(1),
        eos_token_ids: vec![2],
        dtype: DType::F32,
    }
}

fn random_ids(b: usize, t: usize, v: usize, seed: u64) -> Tensor {
    let mut rng = Rng::new(seed);
    Tensor::from_vec(
        (0..b * t).map(|_| rng.below(v) as i64).collect::<Vec<_>>(),
        [b, t],
        &Device::Cpu,
    )
    .unwrap()
}

proptest! {
    #![proptest_config(config(16))]

    #[test]
    fn cache_decoding_equals_full_forward(
        t in 2usize..40,
        cut_frac in 0.0f64..1.0,
        kv in prop_oneof![Just(1usize), Just(2), Just(4)],
        b in 1usize..3,
        seed in any::<u64>(),
    ) {
        let model = Llama::init(&tiny_config(kv, seed % 2 == 0), &mut Rng::new(seed)).unwrap();
        let ids = random_ids(b, t, 50, seed);
        let full = no_grad(|| model.forward(&ids, None, false)).unwrap().logits;
        // prefill the first `cut` tokens, then one token at a time
        let cut = ((t as f64 * cut_frac) as usize).clamp(1, t);
        let mut cache = model.new_cache(b).unwrap();
        let mut pieces = vec![no_grad(|| {
            model.forward(&ids.narrow(1, 0, cut).unwrap(), Some(&mut cache), false)
        })
        .unwrap()
        .logits
        .value()
        .clone()];
        for i in cut..t {
            pieces.push(
                no_grad(|| model.forward(&ids.narrow(1, i, 1).unwrap(), Some(&mut cache), false))
                    .unwrap()
                    .logits
                    .value()
                    .clone(),
            );
        }
        let stitched = Tensor::cat(&pieces.iter().collect::<Vec<_>>(), 1).unwrap();
        let c = compare_tensors(&stitched, full.value(), Tol::relative(1e-5)).unwrap();
        prop_assert!(c.pass, "t={t} cut={cut}: {c}");
        prop_assert_eq!(cache.len, t);
        prop_assert!(cache.bytes() > 0);
    }

    #[test]
    fn blocked_attention_equals_differentiable_attention(
        t in 1usize..70,
        past in 0usize..300,
        kvh in prop_oneof![Just(1usize), Just(3)],
        rep in 1usize..3,
        spare in 0usize..40,
        seed in any::<u64>(),
    ) {
        let mut rng = Rng::new(seed);
        let (b, d) = (2, 16);
        let h = kvh * rep;
        let s = past + t;
        let q = Tensor::randn([b, t, h, d], 1.0, DType::F32, &Device::Cpu, &mut rng).unwrap();
        let k = Tensor::randn([b, s, kvh, d], 1.0, DType::F32, &Device::Cpu, &mut rng).unwrap();
        let v = Tensor::randn([b, s, kvh, d], 1.0, DType::F32, &Device::Cpu, &mut rng).unwrap();
        let want = sdpa(
            &Var::constant(q.clone()),
            &Var::constant(k.clone()),
            &Var::constant(v.clone()),
            past,
        )
        .unwrap();
        // keys and values read in place from the front of bigger buffers, as a KV cache holds them
        let mut kb = Tensor::zeros([b, s + spare, kvh, d], DType::F32, &Device::Cpu).unwrap();
        let mut vb = kb.clone();
        kb.slice_assign(1, 0, &k).unwrap();
        vb.slice_assign(1, 0, &v).unwrap();
        let got =
            sdpa_blocked(&q, &kb.narrow(1, 0, s).unwrap(), &vb.narrow(1, 0, s).unwrap(), past)
                .unwrap();
        let c =
            compare_tensors(&got, want.value(), Tol { atol: 1e-5, rtol: 1e-4, rms: 1e-5 }).unwrap();
        prop_assert!(c.pass, "{c}");
    }
}

#[test]
fn fused_rms_norm_matches_composite_and_gradchecks() {
    let mut rng = Rng::new(3);
    let x = Tensor::randn([2, 3, 6], 1.0, DType::F64, &Device::Cpu, &mut rng).unwrap();
    let w = Tensor::randn([6], 1.0, DType::F64, &Device::Cpu, &mut rng).unwrap();
    let fused = rms_norm(&Var::constant(x.clone()), &Var::constant(w.clone()), 1e-5).unwrap();
    let comp =
        rms_norm_composite(&Var::constant(x.clone()), &Var::constant(w.clone()), 1e-5).unwrap();
    assert_tensors_close("rms_norm", fused.value(), comp.value(), Tol::elementwise(DType::F32));
    gradcheck(
        |v| Ok(vec![rms_norm(&v[0], &v[1], 1e-5)?]),
        &[x.clone(), w.clone()],
        &GradcheckOptions::default(),
    )
    .unwrap();
    gradcheck(
        |v| Ok(vec![rms_norm_composite(&v[0], &v[1], 1e-5)?]),
        &[x.clone(), w.clone()],
        &GradcheckOptions::default(),
    )
    .unwrap();
    let (xa, wa) = (Var::leaf(x.clone()), Var::leaf(w.clone()));
    let (xb, wb) = (Var::leaf(x), Var::leaf(w));
    let g = Tensor::randn([2, 3, 6], 1.0, DType::F32, &Device::Cpu, &mut rng).unwrap();
    let ga = rms_norm(&xa, &wa, 1e-5).unwrap().backward_with(g.clone()).unwrap();
    let gb = rms_norm_composite(&xb, &wb, 1e-5).unwrap().backward_with(g).unwrap();
    assert_tensors_close(
        "dx",
        ga.get(&xa).unwrap(),
        gb.get(&xb).unwrap(),
        Tol::accumulated(DType::F32, 6, 4.0),
    );
    assert_tensors_close(
        "dw",
        ga.get(&wa).unwrap(),
        gb.get(&wb).unwrap(),
        Tol::accumulated(DType::F32, 6, 4.0),
    );
}

#[test]
fn rope_rotates_like_transformers_and_gradchecks() {
    // inv_freq of the llama3 rule for Llama-3.2 (head_dim 64, theta 500000), spot values
    // from transformers' _compute_llama3_parameters.
    let r = Rope::new(
        64,
        500000.0,
        &RopeScaling::Llama3 {
            factor: 32.0,
            low_freq_factor: 1.0,
            high_freq_factor: 4.0,
            original_max_position_embeddings: 8192,
        },
    );
    assert!((r.inv_freq[0] - 1.0).abs() < 1e-7);
    assert!((r.inv_freq[31] as f64 - (1.0 / 500000f64.powf(62.0 / 64.0)) / 32.0).abs() < 1e-12);
    let rope8 = Rope::new(8, 10000.0, &RopeScaling::Default);
    let x64 = Tensor::randn([1, 3, 2, 8], 1.0, DType::F64, &Device::Cpu, &mut Rng::new(4)).unwrap();
    gradcheck(|v| Ok(vec![apply_rope(&v[0], &rope8, 5)?]), &[x64], &GradcheckOptions::default())
        .unwrap();
    // gradient of the rotation (an orthogonal map: the backward is its transpose)
    let rope = Rope::new(8, 10000.0, &RopeScaling::Default);
    let x = Var::leaf(
        Tensor::randn([1, 5, 2, 8], 1.0, DType::F32, &Device::Cpu, &mut Rng::new(1)).unwrap(),
    );
    let g = Tensor::randn([1, 5, 2, 8], 1.0, DType::F32, &Device::Cpu, &mut Rng::new(2)).unwrap();
    let y = apply_rope(&x, &rope, 3).unwrap();
    let gx = y.backward_with(g.clone()).unwrap().get(&x).unwrap().clone();
    // <R x, g> == <x, R^T g> for every x: check with the forward on the basis given by x itself
    let lhs: f64 = y
        .value()
        .to_vec_f64()
        .unwrap()
        .iter()
        .zip(g.to_vec_f64().unwrap())
        .map(|(a, b)| a * b)
        .sum();
    let rhs: f64 = x
        .value()
        .to_vec_f64()
        .unwrap()
        .iter()
        .zip(gx.to_vec_f64().unwrap())
        .map(|(a, b)| a * b)
        .sum();
    assert!((lhs - rhs).abs() < 1e-4, "{lhs} vs {rhs}");
    // rotation keeps norms
    let n0: f64 = x.value().to_vec_f64().unwrap().iter().map(|v| v * v).sum();
    let n1: f64 = y.value().to_vec_f64().unwrap().iter().map(|v| v * v).sum();
    assert!((n0 - n1).abs() < 1e-4 * n0);
}

fn tmpdir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("lawcat-nn-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn checkpoints_round_trip_single_and_sharded() {
    let model = Llama::init(&tiny_config(2, false), &mut Rng::new(5)).unwrap();
    let ids = random_ids(1, 7, 50, 1);
    let want = no_grad(|| model.forward(&ids, None, false)).unwrap().logits.value().clone();
    let dir = tmpdir("single");
    nn::weights::save_hf_dir(&model, None, &dir).unwrap();
    let back = nn::load_model(&dir).unwrap().model;
    assert_eq!(
        no_grad(|| back.forward(&ids, None, false))
            .unwrap()
            .logits
            .value()
            .to_vec::<f32>()
            .unwrap(),
        want.to_vec::<f32>().unwrap()
    );
    // the same weights split in two shards with an index
    let sharded = tmpdir("sharded");
    std::fs::copy(dir.join("config.json"), sharded.join("config.json")).unwrap();
    let params = model.named_params();
    let (a, b) = params.split_at(params.len() / 2);
    let mut map = serde_json::Map::new();
    for (part, file) in
        [(a, "model-00001-of-00002.safetensors"), (b, "model-00002-of-00002.safetensors")]
    {
        let vals: Vec<(String, Tensor)> =
            part.iter().map(|(n, p)| (n.clone(), p.value())).collect();
        tensor::safetensors_io::save(
            vals.iter().map(|(n, t)| (n.as_str(), t)),
            None,
            sharded.join(file),
        )
        .unwrap();
        for (n, _) in part {
            map.insert(n.clone(), serde_json::json!(file));
        }
    }
    std::fs::write(
        sharded.join("model.safetensors.index.json"),
        serde_json::json!({"metadata": {}, "weight_map": map}).to_string(),
    )
    .unwrap();
    let back = nn::load_model(&sharded).unwrap().model;
    assert_eq!(
        no_grad(|| back.forward(&ids, None, false))
            .unwrap()
            .logits
            .value()
            .to_vec::<f32>()
            .unwrap(),
        want.to_vec::<f32>().unwrap()
    );
}

#[test]
fn broken_checkpoints_are_clear_errors() {
    let model = Llama::init(&tiny_config(2, true), &mut Rng::new(5)).unwrap();
    let dir = tmpdir("broken");
    nn::weights::save_hf_dir(&model, None, &dir).unwrap();
    // truncated weights
    let st = dir.join("model.safetensors");
    let bytes = std::fs::read(&st).unwrap();
    std::fs::write(&st, &bytes[..bytes.len() / 2]).unwrap();
    let e = nn::load_model(&dir).err().unwrap().to_string();
    assert!(e.contains("model.safetensors") && e.contains("not a valid safetensors file"), "{e}");
    std::fs::write(&st, &bytes).unwrap();
    // a config whose head count does not fit the weights: every problem listed at once
    let cfg = std::fs::read_to_string(dir.join("config.json")).unwrap();
    std::fs::write(
        dir.join("config.json"),
        cfg.replace("\"num_attention_heads\": 4", "\"num_attention_heads\": 2")
            .replace("\"head_dim\": 8", "\"head_dim\": 16"),
    )
    .unwrap();
    let e = nn::load_model(&dir).err().unwrap().to_string();
    assert!(
        e.contains("model.layers.0.self_attn.k_proj.weight has shape [16, 32], expected [32, 32]"),
        "{e}"
    );
    assert!(
        e.contains("model.layers.1.self_attn.v_proj.weight has shape [16, 32], expected [32, 32]"),
        "{e}"
    );
    assert!(e.contains("problem(s)"), "{e}");
    // a config with a head count that cannot work at all
    std::fs::write(
        dir.join("config.json"),
        cfg.replace("\"num_key_value_heads\": 2", "\"num_key_value_heads\": 3"),
    )
    .unwrap();
    let e = nn::load_model(&dir).err().unwrap().to_string();
    assert!(e.contains("config.json") && e.contains("multiple of num_key_value_heads (3)"), "{e}");
    // missing and unexpected tensors, named
    let mut t = nn::weights::read_hf_tensors(&dir).unwrap();
    t.remove("model.norm.weight");
    t.insert("model.extra.weight".into(), Tensor::zeros(3, DType::F32, &Device::Cpu).unwrap());
    let e = Llama::from_tensors(tiny_config(2, true), t).err().unwrap().to_string();
    assert!(
        e.contains("missing model.norm.weight") && e.contains("unexpected model.extra.weight"),
        "{e}"
    );
    assert!(nn::load_model(std::path::Path::new("/no/such/model")).is_err());
}

#[test]
fn sampling_is_seeded_and_top_p_truncates() {
    let logits = vec![3.0f32, 2.9, -5.0, -5.0];
    let mut a = Rng::new(9);
    let mut b = Rng::new(9);
    let s = Sampling::Sample { temperature: 1.0, top_p: 0.9 };
    let xs: Vec<u32> = (0..200).map(|_| sample(&logits, s, &mut a)).collect();
    let ys: Vec<u32> = (0..200).map(|_| sample(&logits, s, &mut b)).collect();
    assert_eq!(xs, ys);
    assert!(xs.iter().all(|&x| x < 2), "top-p 0.9 never picks the unlikely tail");
    assert!(xs.contains(&0) && xs.contains(&1));
    assert_eq!(sample(&logits, Sampling::Greedy, &mut a), 0);
    // generation: batched equal-length prompts, stop tokens, errors for unequal ones
    let model = Llama::init(&tiny_config(2, true), &mut Rng::new(1)).unwrap();
    let opts = GenerateOptions { max_new_tokens: 5, sampling: s, stop_tokens: vec![], seed: 4 };
    let g1 = generate(&model, &[vec![1, 2, 3], vec![4, 5, 6]], &opts).unwrap();
    let g2 = generate(&model, &[vec![1, 2, 3], vec![4, 5, 6]], &opts).unwrap();
    assert_eq!(g1.tokens, g2.tokens);
    assert!(g1.tokens.iter().all(|t| t.len() == 5));
    let first = g1.tokens[0][0];
    let stop = generate(
        &model,
        &[vec![1, 2, 3]],
        &GenerateOptions { stop_tokens: vec![first], ..opts.clone() },
    )
    .unwrap();
    assert_eq!(stop.tokens[0], vec![first]);
    assert!(generate(&model, &[vec![1, 2], vec![3]], &opts).is_err());
}
