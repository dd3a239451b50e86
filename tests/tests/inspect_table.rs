//! `inspect` checks a model's tensor table against its config with the loader's own rule
//! (`nn::model::check_weights`, the GGUF renaming `nn::gguf::convert::hf_table`, the
//! folder's files `nn::weights::hf_weight_files`): a GGUF or an HF folder with a renamed,
//! misshapen or non-float tensor is refused by inspect (`nn::inspect` and `lawcat inspect`)
//! with the very error loading it gives, naming the file and the tensor; a file loading
//! takes, inspect takes too. A student's folder passes with its LAWCAT tensors left to
//! lawcat's loader.

use lawcat_tests::gguf::GgufSpec;
use nn::inspect::Checked;
use nn::Llama;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tensor::{DType, Device, Rng, Tensor};

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("lawcat-inspect-table-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d.join(name)
}

/// What `lawcat inspect PATH` does before printing: describe, then check the table.
fn inspect(path: &Path, which: Checked) -> tensor::Result<usize> {
    nn::inspect::describe(path)?.check_weights(path, which)
}

/// `lawcat inspect PATH` in process: `Err` is what the program prints (exit status 2).
fn lawcat_inspect(path: &Path) -> Result<(), String> {
    let args = lawcat::cli::inspect::Args { model: path.to_path_buf() };
    lawcat::cli::inspect::run(&args).map(|_| ()).map_err(|e| format!("{e:#}"))
}

/// Inspect's error for `path`, checked to be the loader's, the program's, and to name the
/// file and every one of `words`.
fn refused_alike(path: &Path, words: &[&str]) -> String {
    let inspected = inspect(path, Checked::All).err().expect("inspect refuses it").to_string();
    let loaded = nn::load_model(path).err().expect("loading refuses it").to_string();
    assert_eq!(inspected, loaded, "inspect and loading refuse {} differently", path.display());
    let program = lawcat_inspect(path).err().expect("lawcat inspect refuses it");
    assert!(program.contains(&inspected), "lawcat inspect: {program}\ninspect: {inspected}");
    let file = path.file_name().unwrap().to_string_lossy();
    assert!(inspected.contains(&*file), "the error does not name the file: {inspected}");
    for w in words {
        assert!(inspected.contains(w), "{w:?} missing from: {inspected}");
    }
    inspected
}

/// Inspect and loading both take `path` (`lawcat inspect` then prints its description:
/// `lawcat/tests/inspect_checks.rs` runs the program on files it takes).
fn taken_alike(path: &Path) {
    inspect(path, Checked::All).unwrap();
    nn::load_model(path).unwrap();
}

fn write_gguf(name: &str, spec: &GgufSpec) -> PathBuf {
    let p = tmp(name);
    std::fs::write(&p, spec.to_bytes()).unwrap();
    p
}

#[test]
fn gguf_tables_loading_refuses_inspect_refuses() {
    let seed = GgufSpec::small_llama();
    taken_alike(&write_gguf("seed.gguf", &seed));

    // renamed to a name the converter does not know
    let mut s = seed.clone();
    s.tensor("blk.1.ffn_gate.weight").name = "blk.1.ffn_gates.weight".into();
    refused_alike(
        &write_gguf("renamed.gguf", &s),
        &[
            "missing model.layers.1.mlp.gate_proj.weight",
            "unexpected unknown.blk.1.ffn_gates.weight",
        ],
    );
    // renamed to one it knows, which no Llama of this config has
    let mut s = seed.clone();
    s.tensor("blk.0.attn_norm.weight").name = "blk.0.attn_norm.bias".into();
    refused_alike(
        &write_gguf("renamed-bias.gguf", &s),
        &[
            "missing model.layers.0.input_layernorm.weight",
            "unexpected model.layers.0.input_layernorm.bias",
        ],
    );
    // misshapen: the ffn width halved (Q8_0 rows of 256, 128 of them)
    let mut s = seed.clone();
    s.tensor("blk.1.ffn_up.weight").dims = vec![256, 128];
    refused_alike(
        &write_gguf("misshapen.gguf", &s),
        &["model.layers.1.mlp.up_proj.weight has shape [128, 256], expected [256, 256]"],
    );
    // misshapen q/k rows: refused where the rows are unpermuted
    let mut s = seed.clone();
    s.tensor("blk.0.attn_k.weight").dims = vec![256, 64];
    refused_alike(
        &write_gguf("misshapen-k.gguf", &s),
        &["\"blk.0.attn_k.weight\" has shape [64, 256]: expected 128 rows"],
    );
    // the head tensor missing: tied embeddings, which a GGUF may have
    let mut s = seed.clone();
    s.tensors.retain(|t| t.name != "output.weight");
    taken_alike(&write_gguf("tied.gguf", &s));
}

fn weights(m: &Llama) -> BTreeMap<String, Tensor> {
    m.named_params().into_iter().map(|(n, p)| (n, p.value())).collect()
}

fn save(path: &Path, tensors: &BTreeMap<String, Tensor>) {
    tensor::safetensors_io::save(tensors.iter().map(|(n, t)| (n.as_str(), t)), None, path).unwrap();
}

/// An HF folder of `m` with its weights edited by `edit`.
fn hf_folder(name: &str, m: &Llama, edit: impl FnOnce(&mut BTreeMap<String, Tensor>)) -> PathBuf {
    let dir = tmp(name);
    nn::weights::save_hf_dir(m, None, &dir).unwrap();
    let mut w = weights(m);
    edit(&mut w);
    save(&dir.join("model.safetensors"), &w);
    dir
}

#[test]
fn hf_folder_tables_loading_refuses_inspect_refuses() {
    let m = Llama::init(&lawcat_tests::small_llama(64), &mut Rng::new(5)).unwrap();
    taken_alike(&hf_folder("hf-seed", &m, |_| {}));
    let up = "model.layers.0.mlp.up_proj.weight";
    let dir = hf_folder("hf-renamed", &m, |w| {
        let t = w.remove(up).unwrap();
        w.insert("model.layers.0.mlp.upproj.weight".into(), t);
    });
    refused_alike(
        &dir,
        &[&format!("missing {up} [48, 32]"), "unexpected model.layers.0.mlp.upproj.weight"],
    );
    let dir = hf_folder("hf-misshapen", &m, |w| {
        let t = w[up].narrow(0, 0, 40).unwrap().contiguous().unwrap();
        w.insert(up.into(), t);
    });
    refused_alike(&dir, &[&format!("{up} has shape [40, 32], expected [48, 32]")]);
    let dir = hf_folder("hf-ints", &m, |w| {
        w.insert(up.into(), Tensor::zeros([48, 32], DType::I64, &Device::Cpu).unwrap());
    });
    refused_alike(&dir, &[&format!("{up} has dtype i64, expected a float")]);
    let dir = hf_folder("hf-extra", &m, |w| {
        w.insert("model.layers.2.mlp.up_proj.weight".into(), w[up].clone());
    });
    refused_alike(&dir, &["the config says 2 layers, the weights hold 3"]);
}

#[test]
fn sharded_folders_are_read_as_the_index_says() {
    let m = Llama::init(&lawcat_tests::small_llama(64), &mut Rng::new(6)).unwrap();
    let dir = tmp("sharded");
    nn::weights::save_hf_dir(&m, None, &dir).unwrap();
    std::fs::remove_file(dir.join("model.safetensors")).unwrap();
    // two shards; the second also holds a tensor the index does not list, which loading
    // ignores, and so does inspect
    let mut all = weights(&m);
    let mut second = all.split_off("model.layers.1");
    second.insert("stray".into(), second["model.norm.weight"].clone());
    save(&dir.join("a.safetensors"), &all);
    save(&dir.join("b.safetensors"), &second);
    let index = |map: Vec<(&String, &str)>| {
        let map: serde_json::Map<String, serde_json::Value> =
            map.into_iter().map(|(n, f)| (n.clone(), f.into())).collect();
        std::fs::write(
            dir.join("model.safetensors.index.json"),
            serde_json::json!({ "weight_map": map }).to_string(),
        )
        .unwrap();
    };
    let listed: Vec<(&String, &str)> = all
        .keys()
        .map(|n| (n, "a.safetensors"))
        .chain(second.keys().filter(|n| *n != "stray").map(|n| (n, "b.safetensors")))
        .collect();
    index(listed.clone());
    taken_alike(&dir);
    let d = nn::inspect::describe(&dir).unwrap();
    assert!(d.weights.iter().all(|w| w.name != "stray"));
    // a listed tensor the shard lacks
    let ghost = "model.layers.1.mlp.ghost.weight".to_string();
    index(listed.iter().copied().chain([(&ghost, "b.safetensors")]).collect());
    refused_alike(&dir, &["b.safetensors", "ghost", "not there"]);
    // a tensor the index leaves out is missing for both
    index(listed.iter().copied().filter(|(n, _)| !n.ends_with("up_proj.weight")).collect());
    refused_alike(&dir, &["missing model.layers.0.mlp.up_proj.weight"]);
}

#[test]
fn student_folders_check_their_llama_part() {
    let teacher = Llama::init(&lawcat_tests::small_llama(64), &mut Rng::new(7)).unwrap();
    let cfg = lawcat::config::LawcatConfig::default();
    let student = lawcat::student::build_student(&teacher, &cfg, 1).unwrap();
    let info = lawcat::student::StudentInfo {
        lawcat: cfg,
        teacher: "test".into(),
        notes: serde_json::Value::Null,
    };
    let dir = tmp("student");
    lawcat::student::save_student(&student, &info, None, &dir).unwrap();
    let base = nn::model::expected_shapes(&teacher.config).len();
    assert_eq!(inspect(&dir, Checked::LlamaPart).unwrap(), base);
    let own = lawcat::student::trainable_params(&student).unwrap().len();
    assert!(own > 0);
    lawcat::student::load_any(&dir).unwrap();
    // the LAWCAT tensors are no Llama's: checked whole, the table is refused
    let e = inspect(&dir, Checked::All).unwrap_err().to_string();
    assert!(e.contains("unexpected model.layers.0.self_attn."), "{e}");

    // a misshapen teacher tensor: refused by inspect as by the student's loader
    let up = "model.layers.1.mlp.up_proj.weight";
    let mut w: BTreeMap<String, Tensor> =
        student.named_params().into_iter().map(|(n, p)| (n, p.value())).collect();
    w.insert(up.into(), w[up].narrow(1, 0, 16).unwrap().contiguous().unwrap());
    save(&dir.join("model.safetensors"), &w);
    let inspected = inspect(&dir, Checked::LlamaPart).unwrap_err().to_string();
    let loaded = lawcat::student::load_any(&dir).err().unwrap().to_string();
    assert_eq!(inspected, loaded);
    assert!(
        inspected.contains(&format!("{up} has shape [48, 16], expected [48, 32]")),
        "{inspected}"
    );
    let program = lawcat_inspect(&dir).unwrap_err();
    assert!(program.contains(&inspected), "{program}");
}
