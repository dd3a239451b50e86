//! `lawcat inspect` as a program: a folder whose tensor table loading would refuse (a
//! renamed tensor) fails with exit status 2 and an error naming the folder and the tensor;
//! a student's folder passes, saying its LAWCAT tensors are checked when it loads.
//! (`tests/tests/inspect_table.rs` holds the cases, GGUF files among them.)

mod common;

use lawcat::config::LawcatConfig;
use lawcat::student::{build_student, save_student, StudentInfo};
use std::path::{Path, PathBuf};
use std::process::Command;

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("lawcat-inspect-checks-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d.join(name)
}

fn inspect(model: &Path) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_lawcat"))
        .args(["inspect", &model.to_string_lossy()])
        .output()
        .expect("run lawcat");
    let text =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!text.contains("panicked"), "lawcat inspect panicked:\n{text}");
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn inspect_fails_on_a_table_loading_refuses() {
    let m = common::teacher(2, 3);
    let dir = tmp("renamed");
    nn::weights::save_hf_dir(&m, None, &dir).unwrap();
    let (code, text) = inspect(&dir);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("checked against the config"), "{text}");
    let mut w: Vec<(String, tensor::Tensor)> =
        m.named_params().into_iter().map(|(n, p)| (n, p.value())).collect();
    let k = w.iter().position(|(n, _)| n == "model.layers.1.self_attn.k_proj.weight").unwrap();
    w[k].0 = "model.layers.1.self_attn.key_proj.weight".into();
    tensor::safetensors_io::save(
        w.iter().map(|(n, t)| (n.as_str(), t)),
        None,
        dir.join("model.safetensors"),
    )
    .unwrap();
    let (code, text) = inspect(&dir);
    assert_eq!(code, 2, "{text}");
    assert!(
        text.contains(&*dir.to_string_lossy())
            && text.contains("missing model.layers.1.self_attn.k_proj.weight")
            && text.contains("unexpected model.layers.1.self_attn.key_proj.weight"),
        "{text}"
    );
    assert!(nn::load_model(&dir).is_err());
}

#[test]
fn inspect_checks_a_students_llama_part() {
    let teacher = common::teacher(2, 4);
    let cfg = LawcatConfig::default();
    let student = build_student(&teacher, &cfg, 1).unwrap();
    let info = StudentInfo { lawcat: cfg, teacher: "test".into(), notes: serde_json::Value::Null };
    let dir = tmp("student");
    save_student(&student, &info, None, &dir).unwrap();
    let (code, text) = inspect(&dir);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("of the Llama checked against the config")
            && text.contains("are checked when the student loads")
            && text.contains("2 x lawcat"),
        "{text}"
    );
}
