//! Issue 10's broken inputs, each fed to the reader with the outcome it must have: an
//! error naming the file and what is wrong (never a panic, an abort or a silently wrong
//! model), or a warning where the input is odd but usable.
//!
//! GGUF files are written from `lawcat_tests::gguf::GgufSpec` with one thing broken; HF
//! folders from a small random Llama with one file edited.

use lawcat_tests::gguf::{GgufSpec, Meta};
use nn::Llama;
use std::path::{Path, PathBuf};
use tensor::{Device, Rng, Tensor};

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("lawcat-broken-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d.join(name)
}

/// Runs `f`, failing the test on a panic (with its message) rather than unwinding.
fn no_panic<T>(what: &str, f: impl FnOnce() -> T) -> T {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        .unwrap_or_else(|_| panic!("{what}: the reader panicked"))
}

/// Writes `spec` as `name` and loads it as `lawcat` does; the error text (the load must fail).
fn gguf_error(name: &str, spec: &GgufSpec) -> String {
    let p = tmp(name);
    std::fs::write(&p, spec.to_bytes()).unwrap();
    let r = no_panic(name, || nn::load_model(&p).map(|_| ()));
    let e = r.err().unwrap_or_else(|| panic!("{name}: loaded without an error")).to_string();
    assert!(e.contains(name), "{name}: the error does not name the file: {e}");
    e
}

#[test]
fn the_seed_gguf_loads_and_inspect_reports_stored_types() {
    let p = tmp("good.gguf");
    std::fs::write(&p, GgufSpec::small_llama().to_bytes()).unwrap();
    let l = nn::load_model(&p).unwrap();
    assert_eq!(l.model.config.num_hidden_layers, 2);
    let d = nn::inspect::describe(&p).unwrap();
    let types: std::collections::BTreeSet<&str> =
        d.tensors.iter().map(|t| t.dtype.as_str()).collect();
    for t in ["F32", "F16", "BF16", "Q4_0", "Q4_1", "Q8_0", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"]
    {
        assert!(types.contains(t), "{t} missing from {types:?}");
    }
    assert_eq!(d.tokenizer_tokens, Some(300));
}

#[test]
fn gguf_sizes_and_offsets_are_checked() {
    let base = GgufSpec::small_llama();
    let len_of = |name: &str| {
        let t = base.tensors.iter().find(|t| t.name == name).unwrap();
        let (bs, bb) = nn::gguf::GgmlType::from_u32(t.ty).unwrap().block();
        (t.dims.iter().product::<u64>() as usize) / bs * bb
    };
    // a dim of 2^62+576: the F32 element count times 4 wraps to a small number
    let mut s = base.clone();
    let n = len_of("output_norm.weight");
    s.tensor("output_norm.weight").dims = vec![(1 << 62) + 576];
    s.tensor("output_norm.weight").data_len = Some(n);
    let e = gguf_error("dims.gguf", &s);
    assert!(e.contains("output_norm.weight") && e.contains("cannot fit"), "{e}");
    // an offset that wraps around when added to the data start
    let mut s = base.clone();
    s.tensor("blk.0.attn_q.weight").offset = Some(u64::MAX - 31);
    let e = gguf_error("wrap.gguf", &s);
    assert!(e.contains("blk.0.attn_q.weight") && e.contains("runs past the end"), "{e}");
    // an offset past the data
    let mut s = base.clone();
    s.tensor("blk.1.ffn_up.weight").offset = Some(1 << 24);
    let e = gguf_error("past.gguf", &s);
    assert!(e.contains("blk.1.ffn_up.weight") && e.contains("runs past the end"), "{e}");
    // an unaligned offset
    let mut s = base.clone();
    s.tensor("output.weight").offset = Some(4);
    let e = gguf_error("unaligned.gguf", &s);
    assert!(e.contains("output.weight") && e.contains("alignment"), "{e}");
    // two tensors at the same place
    let mut s = base.clone();
    s.tensor("blk.0.attn_k.weight").offset = Some(0);
    let e = gguf_error("overlap.gguf", &s);
    assert!(e.contains("overlap") && e.contains("blk.0.attn_k.weight"), "{e}");
    // a name listed twice
    let mut s = base.clone();
    s.tensor("blk.1.attn_norm.weight").name = "blk.0.attn_norm.weight".into();
    let e = gguf_error("duplicate.gguf", &s);
    assert!(e.contains("blk.0.attn_norm.weight") && e.contains("twice"), "{e}");
    // a quant type whose size does not match the bytes (Q4_K data read as the smaller Q3_K)
    let mut s = base.clone();
    let n = len_of("blk.0.attn_q.weight");
    s.tensor("blk.0.attn_q.weight").ty = 11;
    s.tensor("blk.0.attn_q.weight").data_len = Some(n);
    let e = gguf_error("type.gguf", &s);
    assert!(e.contains("blk.0.attn_q.weight") && e.contains("unaccounted"), "{e}");
}

#[test]
fn gguf_metadata_is_checked() {
    let base = GgufSpec::small_llama();
    let mut s = base.clone();
    s.set("llama.rope.freq_base", Meta::F32(f32::NAN));
    let e = gguf_error("nan-theta.gguf", &s);
    assert!(e.contains("freq_base") && e.contains("NaN"), "{e}");
    let mut s = base.clone();
    s.set("llama.block_count", Meta::U32(u32::MAX));
    let t = std::time::Instant::now();
    let e = gguf_error("blocks.gguf", &s);
    assert!(e.contains("block_count") && e.contains("4294967295"), "{e}");
    assert!(t.elapsed().as_secs() < 5, "took {:?}", t.elapsed());
    let mut s = base.clone();
    s.remove("tokenizer.ggml.merges");
    let e = gguf_error("no-merges.gguf", &s);
    assert!(e.contains("merges") && e.contains("missing"), "{e}");
    let mut s = base.clone();
    s.set("tokenizer.ggml.merges", Meta::Strs(vec![]));
    let e = gguf_error("empty-merges.gguf", &s);
    assert!(e.contains("merges") && e.contains("empty"), "{e}");
    let mut s = base.clone();
    s.set("tokenizer.ggml.eos_token_id", Meta::U64((1 << 32) + 2));
    let e = gguf_error("eos.gguf", &s);
    assert!(e.contains("eos_token_id") && e.contains("4294967298"), "{e}");
    let mut s = base.clone();
    s.set("tokenizer.ggml.token_type", Meta::I32s(vec![1; 10]));
    let e = gguf_error("types.gguf", &s);
    assert!(e.contains("token_type"), "{e}");
    // a folder where the file should be
    let dir = tmp("a-folder.gguf");
    std::fs::create_dir_all(&dir).unwrap();
    let e = nn::gguf::GgufFile::open(&dir).err().unwrap().to_string();
    assert!(e.contains("a-folder.gguf") && e.contains("is a folder"), "{e}");
}

/// A small Llama saved as an HF folder (with a byte-level BPE tokenizer of 300 tokens when
/// `tokenizer`), for editing one file.
fn hf_folder(name: &str, vocab: usize, tokenizer: bool) -> (PathBuf, Llama) {
    let cfg = lawcat_tests::small_llama(vocab);
    let m = Llama::init(&cfg, &mut Rng::new(3)).unwrap();
    let dir = tmp(name);
    let tok = tokenizer.then(|| {
        let p = tmp(&format!("{name}-seed.gguf"));
        std::fs::write(&p, GgufSpec::small_llama().to_bytes()).unwrap();
        nn::gguf::convert::tokenizer(&nn::gguf::GgufFile::open(&p).unwrap()).unwrap()
    });
    nn::weights::save_hf_dir(&m, tok.as_ref(), &dir).unwrap();
    (dir, m)
}

fn edit_config(dir: &Path, f: impl FnOnce(&mut serde_json::Value)) {
    let p = dir.join("config.json");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    f(&mut v);
    std::fs::write(&p, serde_json::to_string_pretty(&v).unwrap()).unwrap();
}

fn load_error(dir: &Path) -> String {
    let r = no_panic(&dir.display().to_string(), || nn::load_model(dir).map(|_| ()));
    r.err().unwrap_or_else(|| panic!("{} loaded without an error", dir.display())).to_string()
}

#[test]
fn config_values_no_llama_has_are_errors() {
    let (dir, _) = hf_folder("config", 300, false);
    let original = std::fs::read_to_string(dir.join("config.json")).unwrap();
    let cases: Vec<(&str, serde_json::Value, &str)> = vec![
        ("rms_norm_eps", serde_json::json!(0.0), "rms_norm_eps"),
        ("rms_norm_eps", serde_json::json!(-1e-5), "rms_norm_eps"),
        ("rope_theta", serde_json::json!(0.0), "rope_theta"),
        ("rope_theta", serde_json::json!(-10000.0), "rope_theta"),
        ("rope_theta", serde_json::json!(null), "rope_theta is null"),
        ("rope_scaling", serde_json::json!({"rope_type": "llama3", "factor": 0.0}), "factor"),
        ("rope_scaling", serde_json::json!({"rope_type": "llama3", "factor": -8.0}), "factor"),
        ("eos_token_id", serde_json::json!(4294967298u64), "4294967298"),
        ("eos_token_id", serde_json::json!(-1), "eos_token_id -1"),
        ("eos_token_id", serde_json::json!([2, -1]), "eos_token_id -1"),
        ("eos_token_id", serde_json::json!(300), "outside the vocabulary"),
        ("bos_token_id", serde_json::json!(4294967298u64), "bos_token_id"),
        ("num_hidden_layers", serde_json::json!(2147483648u64), "num_hidden_layers"),
    ];
    for (key, value, expect) in cases {
        edit_config(&dir, |v| v[key] = value.clone());
        let t = std::time::Instant::now();
        let e = load_error(&dir);
        assert!(e.contains("config.json") && e.contains(expect), "{key} = {value}: {e}");
        assert!(t.elapsed().as_secs() < 5, "{key} = {value} took {:?}", t.elapsed());
        std::fs::write(dir.join("config.json"), &original).unwrap();
    }
}

#[test]
fn a_layer_count_that_disagrees_with_the_weights_lists_a_few_problems() {
    let (dir, _) = hf_folder("layers", 300, false);
    edit_config(&dir, |v| v["num_hidden_layers"] = serde_json::json!(60000));
    let e = load_error(&dir);
    assert!(e.contains("the config says 60000 layers, the weights hold 2"), "{e}");
    assert!(e.contains("missing model.layers.2.input_layernorm.weight"), "{e}");
    assert!(e.contains("more") && e.lines().count() < 20, "{} lines:\n{e}", e.lines().count());
}

#[test]
fn non_finite_weights_are_named_in_a_warning() {
    let (_, m) = hf_folder("nan", 300, false);
    let p = &m
        .named_params()
        .into_iter()
        .find(|(n, _)| n == "model.layers.1.mlp.up_proj.weight")
        .unwrap()
        .1;
    let mut v = p.value().to_vec::<f32>().unwrap();
    v[7] = f32::NAN;
    v[9] = f32::INFINITY;
    p.set(Tensor::from_vec(v, p.value().dims(), &Device::Cpu).unwrap()).unwrap();
    let w = nn::weights::load_warnings(&m, None).unwrap();
    assert_eq!(w, ["tensor model.layers.1.mlp.up_proj.weight holds 2 NaN or infinite value(s)"]);
}

/// The byte-level BPE tokenizer of the small GGUF, as tokenizer.json text.
fn bpe_json() -> String {
    let p = tmp("bpe-seed.gguf");
    std::fs::write(&p, GgufSpec::small_llama().to_bytes()).unwrap();
    nn::gguf::convert::tokenizer(&nn::gguf::GgufFile::open(&p).unwrap()).unwrap().to_json().unwrap()
}

fn tokenizer_error(name: &str, text: &str) -> String {
    let p = tmp(name);
    std::fs::write(&p, text).unwrap();
    let r = no_panic(name, || nn::Tokenizer::from_file(&p).map(|_| ()));
    let e = r.err().unwrap_or_else(|| panic!("{name}: accepted")).to_string();
    assert!(e.contains(name), "{name}: {e}");
    e
}

#[test]
fn broken_tokenizers_are_errors_not_panics() {
    let text = bpe_json();
    // cut inside a string of the "decoder" object (the tokenizers crate panicked here)
    let at = text.find("\"decoder\"").unwrap();
    let inside = at + text[at..].find("\"type\"").unwrap() + 3;
    let e = tokenizer_error("decoder-cut.json", &text[..inside]);
    assert!(e.contains("not valid JSON"), "{e}");
    // the decoder broken in the middle of an otherwise complete file
    let mut broken = text.clone();
    broken.insert(inside, '\u{1}');
    let e = tokenizer_error("decoder-control.json", &broken);
    assert!(e.contains("not valid JSON"), "{e}");
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["decoder"] = serde_json::json!("ByteLevel");
    let e = tokenizer_error("decoder-string.json", &v.to_string());
    assert!(e.contains("\"decoder\" must be an object"), "{e}");
    // merges missing or empty: tokenization would silently change
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["model"].as_object_mut().unwrap().remove("merges");
    let e = tokenizer_error("no-merges.json", &v.to_string());
    assert!(e.contains("merges"), "{e}");
    v["model"]["merges"] = serde_json::json!([]);
    let e = tokenizer_error("empty-merges.json", &v.to_string());
    assert!(e.contains("merges") && e.contains("empty"), "{e}");
}

#[test]
fn unknown_ids_and_mismatched_vocabularies_are_reported() {
    let p = tmp("tokenizer.json");
    std::fs::write(&p, bpe_json()).unwrap();
    let t = nn::Tokenizer::from_file(&p).unwrap();
    let e = t.decode(&[5, 300, 6], false).unwrap_err().to_string();
    assert!(
        e.contains("tokenizer.json")
            && e.contains("300")
            && e.contains("not in this tokenizer's vocabulary"),
        "{e}"
    );
    // a tokenizer with more tokens than the model has rows: an error at load naming both
    let (dir, _) = hf_folder("small-vocab", 200, true);
    let e = load_error(&dir);
    assert!(
        e.contains("tokenizer.json")
            && e.contains("small-vocab")
            && e.contains("vocabulary of 200"),
        "{e}"
    );
    // fewer: usable, with a warning
    let (dir, _) = hf_folder("big-vocab", 320, true);
    let l = nn::load_model(&dir).unwrap();
    let w = nn::weights::load_warnings(&l.model, l.tokenizer.as_ref()).unwrap();
    assert!(w.len() == 1 && w[0].contains("300 tokens") && w[0].contains("320"), "{w:?}");
}
