//! A distillation run's folder is trusted with nothing it cannot check (issue 10, "data
//! loss and trust"): `--resume` reads and deletes only inside its own run folder, refuses
//! edited or damaged checkpoints, other settings and another teacher; a non-finite loss
//! leaves the checkpoint from before the bad update, and a smaller learning rate may be
//! given on resume explicitly; a finished run leaves no orphan checkpoints or temporary
//! files, and its summaries cover every process of a resumed run.
//!
//! All through the `lawcat` program on the built-in teacher (no files needed), with a
//! small text file as data so a run takes a second.

use std::path::{Path, PathBuf};
use std::process::Command;

fn lawcat(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_lawcat")).args(args).output().expect("run lawcat");
    let text =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!text.contains("panicked"), "lawcat {args:?} panicked:\n{text}");
    (out.status.code().unwrap_or(-1), text)
}

fn tmp(name: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("lawcat-safety-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    std::fs::create_dir_all(&p).unwrap();
    p
}

/// A text of the demo world's words (the built-in teacher's vocabulary).
fn data_file(dir: &Path) -> PathBuf {
    let p = dir.join("data.txt");
    let text = "The grass is green. The sky is blue. The sun is yellow. Here we go. There and \
        back again. "
        .repeat(40);
    std::fs::write(&p, text).unwrap();
    p
}

/// `lawcat distill` on the built-in teacher (or `teacher`) with tiny settings, plus `extra`.
fn distill(teacher: &str, out: &Path, data: &Path, extra: &[&str]) -> (i32, String) {
    let (o, d) = (out.to_string_lossy().into_owned(), data.to_string_lossy().into_owned());
    let mut args = vec![
        "distill",
        "--teacher",
        teacher,
        "--out",
        &o,
        "--data",
        &d,
        "--seq-len",
        "32",
        "--stage1-steps",
        "4",
        "--stage2-steps",
        "4",
        "--no-progress",
    ];
    if !extra.contains(&"--checkpoint-every") {
        args.extend(["--checkpoint-every", "1"]);
    }
    args.extend_from_slice(extra);
    lawcat(&args)
}

fn latest(out: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(out.join("checkpoints/latest.json")).unwrap())
        .unwrap()
}

fn write_latest(out: &Path, v: &serde_json::Value) {
    std::fs::write(out.join("checkpoints/latest.json"), serde_json::to_string_pretty(v).unwrap())
        .unwrap();
}

/// Every file under `dir`, relative, sorted.
fn files(dir: &Path) -> Vec<String> {
    let mut out = vec![];
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            if e.file_type().unwrap().is_dir() {
                todo.push(e.path());
            } else {
                out.push(e.path().strip_prefix(dir).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn resume_never_reads_or_deletes_outside_its_run_folder() {
    let root = tmp("escape");
    let data = data_file(&root);
    let out = root.join("run");
    let (code, text) = distill("builtin", &out, &data, &["--stop-after", "2"]);
    assert_eq!(code, 0, "{text}");
    // A folder outside the run that looks like a checkpoint, with an unrelated file.
    let victim = root.join("victim");
    let real = out.join("checkpoints").join(latest(&out)["folder"].as_str().unwrap());
    std::fs::create_dir_all(&victim).unwrap();
    for f in ["params.safetensors", "optimizer.safetensors", "state.json"] {
        std::fs::copy(real.join(f), victim.join(f)).unwrap();
    }
    std::fs::write(victim.join("precious.txt"), "not yours").unwrap();
    let before = files(&victim);
    for folder in ["../../victim", "../victim", &victim.to_string_lossy()] {
        let mut l = latest(&out);
        l["folder"] = serde_json::json!(folder);
        write_latest(&out, &l);
        let (code, text) = distill("builtin", &out, &data, &["--resume"]);
        assert_ne!(code, 0, "{folder}: {text}");
        assert!(text.contains("latest.json") && text.contains("refusing"), "{folder}: {text}");
        assert_eq!(files(&victim), before, "{folder}: the folder outside the run was touched");
    }
    // A link inside checkpoints/ with a checkpoint's name, pointing outside.
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(&victim, out.join("checkpoints/stage1-step0000009")).unwrap();
        let mut l = latest(&out);
        l["folder"] = serde_json::json!("stage1-step0000009");
        l["step"] = serde_json::json!(9);
        write_latest(&out, &l);
        let (code, text) = distill("builtin", &out, &data, &["--resume"]);
        assert_ne!(code, 0, "{text}");
        assert!(text.contains("outside") || text.contains("refusing"), "{text}");
        assert_eq!(files(&victim), before, "the folder behind the link was touched");
    }
}

#[test]
fn pruning_old_checkpoints_removes_only_what_the_run_wrote() {
    let root = tmp("prune");
    let data = data_file(&root);
    let out = root.join("run");
    let (code, text) = distill("builtin", &out, &data, &["--stop-after", "2"]);
    assert_eq!(code, 0, "{text}");
    // Someone keeps a note in the current checkpoint folder, and a file and a folder with
    // checkpoint-like names in checkpoints/.
    let current = out.join("checkpoints").join(latest(&out)["folder"].as_str().unwrap());
    std::fs::write(current.join("notes.txt"), "mine").unwrap();
    std::fs::write(out.join("checkpoints/stage9-step0000001"), "a file, not a checkpoint").unwrap();
    let (code, text) = distill("builtin", &out, &data, &["--resume"]);
    assert_eq!(code, 0, "{text}");
    assert_eq!(std::fs::read_to_string(current.join("notes.txt")).unwrap(), "mine");
    assert!(files(&current) == ["notes.txt"], "only the run's own files go: {:?}", files(&current));
    assert!(out.join("checkpoints/stage9-step0000001").is_file());
}

#[test]
fn edited_or_damaged_checkpoints_are_refused_naming_what_is_wrong() {
    let root = tmp("trust");
    let data = data_file(&root);
    let out = root.join("run");
    let (code, text) = distill("builtin", &out, &data, &["--stop-after", "3"]);
    assert_eq!(code, 0, "{text}");
    let pristine = latest(&out);
    let folder = out.join("checkpoints").join(pristine["folder"].as_str().unwrap());
    let resume = |what: &str, expect: &[&str]| {
        let (code, text) = distill("builtin", &out, &data, &["--resume"]);
        assert_ne!(code, 0, "{what}: {text}");
        for e in expect {
            assert!(text.contains(e), "{what}: expected {e:?} in:\n{text}");
        }
    };
    // an edited step
    let mut l = pristine.clone();
    l["step"] = serde_json::json!(1);
    write_latest(&out, &l);
    resume("edited step", &["latest.json", "edited"]);
    // an edited step with a matching folder name (and that folder copied): state.json disagrees
    let copy = out.join("checkpoints/stage1-step0000001");
    std::fs::create_dir_all(&copy).unwrap();
    for f in ["params.safetensors", "optimizer.safetensors", "state.json"] {
        std::fs::copy(folder.join(f), copy.join(f)).unwrap();
    }
    l["folder"] = serde_json::json!("stage1-step0000001");
    write_latest(&out, &l);
    resume("edited step and folder", &["state.json", "edited"]);
    std::fs::remove_dir_all(&copy).unwrap();
    // a deleted state.json
    write_latest(&out, &pristine);
    let state = std::fs::read(folder.join("state.json")).unwrap();
    std::fs::remove_file(folder.join("state.json")).unwrap();
    resume("deleted state.json", &["state.json", "missing"]);
    std::fs::write(folder.join("state.json"), &state).unwrap();
    // a changed weight file
    let params = std::fs::read(folder.join("params.safetensors")).unwrap();
    let mut bad = params.clone();
    let n = bad.len();
    bad[n - 3] ^= 0x40;
    std::fs::write(folder.join("params.safetensors"), &bad).unwrap();
    resume("changed params", &["params.safetensors", "SHA-256"]);
    std::fs::write(folder.join("params.safetensors"), &params).unwrap();
    // other settings
    let (code, text) = distill("builtin", &out, &data, &["--resume", "--seed", "7"]);
    assert_ne!(code, 0, "{text}");
    assert!(text.contains("distill.seed"), "{text}");
    // other data
    let other = root.join("other.txt");
    std::fs::write(&other, "The sky is green. ".repeat(80)).unwrap();
    let (code, text) = distill("builtin", &out, &other, &["--resume"]);
    assert_ne!(code, 0, "{text}");
    assert!(text.contains("training data differ"), "{text}");
    // untouched, it resumes
    let (code, text) = distill("builtin", &out, &data, &["--resume"]);
    assert_eq!(code, 0, "{text}");
}

#[test]
fn another_teacher_at_the_same_path_is_refused() {
    let root = tmp("teacher");
    let data = data_file(&root);
    let teacher = root.join("teacher");
    let t = lawcat::builtin::teacher().unwrap();
    nn::weights::save_hf_dir(&t.model, t.tokenizer.as_ref(), &teacher).unwrap();
    let out = root.join("run");
    let tp = teacher.to_string_lossy().into_owned();
    let (code, text) = distill(&tp, &out, &data, &["--stop-after", "2"]);
    assert_eq!(code, 0, "{text}");
    // the same architecture, one weight changed
    let p = &t.model.named_params()[3].1;
    p.set(p.value().affine(1.0, 0.01).unwrap()).unwrap();
    nn::weights::save_hf_dir(&t.model, t.tokenizer.as_ref(), &teacher).unwrap();
    let (code, text) = distill(&tp, &out, &data, &["--resume"]);
    assert_ne!(code, 0, "{text}");
    assert!(text.contains("teacher's weights differ"), "{text}");
}

#[test]
fn a_smaller_learning_rate_on_resume_needs_the_override_and_is_recorded() {
    let root = tmp("lr");
    let data = data_file(&root);
    let out = root.join("run");
    let (code, text) = distill("builtin", &out, &data, &["--stop-after", "2"]);
    assert_eq!(code, 0, "{text}");
    let (code, text) = distill("builtin", &out, &data, &["--resume", "--lr1", "0.001"]);
    assert_ne!(code, 0, "{text}");
    assert!(text.contains("distill.stage1.lr") && text.contains("--override-lr"), "{text}");
    let (code, text) = distill("builtin", &out, &data, &["--override-lr", "--lr1", "0.001"]);
    assert_ne!(code, 0, "--override-lr without --resume: {text}");
    let (code, text) =
        distill("builtin", &out, &data, &["--resume", "--override-lr", "--lr1", "0.001"]);
    assert_eq!(code, 0, "{text}");
    let metrics = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
    let events: Vec<serde_json::Value> = metrics
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|v: &serde_json::Value| v["event"] == "lr_override")
        .collect();
    assert_eq!(events.len(), 1, "{metrics}");
    assert_eq!(events[0]["changes"]["distill.stage1.lr"]["now"], 0.001);
    assert_eq!((events[0]["stage"].as_u64(), events[0]["step"].as_u64()), (Some(1), Some(2)));
    // the steps after it ran at the new rate, and the student's notes say so
    let lrs: Vec<f64> = metrics
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["stage"] == 1 && v["step"].as_u64() > Some(2))
        .filter_map(|v| v["lr"].as_f64())
        .collect();
    assert!(!lrs.is_empty() && lrs.iter().all(|&lr| lr <= 0.001), "{lrs:?}");
    let info: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("student/lawcat.json")).unwrap())
            .unwrap();
    assert_eq!(info["notes"]["lr_overrides"].as_array().map(|a| a.len()), Some(1), "{info}");
}

#[test]
fn a_finished_run_leaves_no_orphans_and_summarizes_every_process() {
    let root = tmp("finish");
    let data = data_file(&root);
    let straight = root.join("straight");
    let (code, text) = distill("builtin", &straight, &data, &[]);
    assert_eq!(code, 0, "{text}");
    let resumed = root.join("resumed");
    let (code, text) = distill("builtin", &resumed, &data, &["--stop-after", "6"]);
    assert_eq!(code, 0, "{text}");
    // What a kill leaves: a checkpoint folder that latest.json never named, temporary
    // files of writes cut short.
    let orphan = resumed.join("checkpoints/stage2-step0000003");
    std::fs::create_dir_all(&orphan).unwrap();
    std::fs::write(orphan.join("params.safetensors"), b"half").unwrap();
    std::fs::write(orphan.join(".optimizer.safetensors.4242.tmp"), b"half").unwrap();
    std::fs::write(resumed.join("checkpoints/.latest.json.4242.tmp"), b"{").unwrap();
    std::fs::write(resumed.join(".metrics.jsonl.4242.tmp"), b"").unwrap();
    std::fs::create_dir_all(resumed.join("student")).unwrap();
    std::fs::write(resumed.join("student/.model.safetensors.4242.tmp"), b"half").unwrap();
    let (code, text) = distill("builtin", &resumed, &data, &["--resume"]);
    assert_eq!(code, 0, "{text}");
    let left = files(&resumed);
    assert!(left.iter().all(|f| !f.ends_with(".tmp")), "temporary files left: {left:?}");
    let folders: Vec<&String> =
        left.iter().filter(|f| f.starts_with("checkpoints/stage")).collect();
    assert!(
        folders.iter().all(|f| f.starts_with("checkpoints/stage2-step0000004/")),
        "orphan checkpoints left: {left:?}"
    );
    assert_eq!(
        files(&straight),
        left,
        "the resumed run's folder holds what the straight run's does"
    );
    // the same student, byte for byte, and the same summaries (timings aside)
    let read = |d: &Path, f: &str| std::fs::read(d.join("student").join(f)).unwrap();
    assert!(
        read(&straight, "model.safetensors") == read(&resumed, "model.safetensors"),
        "students differ"
    );
    let summaries = |d: &Path| -> Vec<(u64, u64, f64, f64)> {
        let info: serde_json::Value = serde_json::from_slice(&read(d, "lawcat.json")).unwrap();
        info["notes"]["summaries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["stage"].as_u64().unwrap(),
                    s["steps"].as_u64().unwrap(),
                    s["first_loss"].as_f64().unwrap(),
                    s["last_loss"].as_f64().unwrap(),
                )
            })
            .collect()
    };
    assert_eq!(summaries(&straight).len(), 2);
    assert_eq!(summaries(&straight), summaries(&resumed));
}

#[test]
fn checkpoint_every_zero_still_writes_one_at_each_stage_end() {
    let root = tmp("every0");
    let data = data_file(&root);
    let out = root.join("run");
    let (code, text) =
        distill("builtin", &out, &data, &["--checkpoint-every", "0", "--stop-after", "4"]);
    assert_eq!(code, 0, "{text}");
    assert_eq!(latest(&out)["folder"], "stage1-step0000004", "the end of stage 1");
}

/// `loss = -w` (AdamW moves `w` up by exactly the learning rate each step), NaN once
/// `w > 4.5`: the update of step 5 makes the loss of step 6 NaN.
fn rising(p: &autograd::Param) -> tensor::Result<autograd::Var> {
    let l = p.var().scale(-1.0)?.sum_all()?;
    if p.value().to_scalar()? > 4.5 {
        l.scale(f64::NAN)
    } else {
        Ok(l)
    }
}

#[test]
fn a_non_finite_loss_keeps_the_checkpoint_from_before_the_bad_update() {
    use lawcat::train::{new_optimizer, run_stage, RunDir, StageConfig, StageRun};
    let dir = RunDir::create(&tmp("nan")).unwrap();
    let p = autograd::Param::new(
        "w",
        tensor::Tensor::zeros(1, tensor::DType::F32, &tensor::Device::Cpu).unwrap(),
    );
    let stage = |lr| StageConfig {
        steps: 10,
        lr,
        warmup_frac: 0.0,
        min_lr_ratio: 1.0,
        weight_decay: 0.0,
        clip: 1e9,
    };
    let run = |cfg, start, params| StageRun {
        name: "test",
        stage: 1,
        cfg,
        params,
        tokens_per_step: 1,
        checkpoint_every: 1,
        start_step: start,
        dir: Some(&dir),
        run_info: serde_json::json!({}),
        progress: false,
        stop_after: None,
    };
    let fast = stage(1.0);
    let mut opt = new_optimizer(vec![p.clone()], &fast);
    let e = run_stage(run(&fast, 0, vec![p.clone()]), &mut opt, |_| rising(&p))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("at step 6") && e.contains("Last good checkpoint: stage1-step0000004"),
        "{e}"
    );
    let l = dir.latest().unwrap().unwrap();
    assert_eq!((l.stage, l.step), (1, 4));
    // A fresh process resumes from it with a smaller rate and finishes: no NaN at once.
    let q = autograd::Param::new(
        "w",
        tensor::Tensor::zeros(1, tensor::DType::F32, &tensor::Device::Cpu).unwrap(),
    );
    let slow = stage(0.01);
    let mut opt = new_optimizer(vec![q.clone()], &slow);
    dir.restore(&l, std::slice::from_ref(&q), &mut opt).unwrap();
    assert!(
        (q.value().to_scalar().unwrap() - 4.0).abs() < 1e-4,
        "the checkpoint holds w after 4 updates"
    );
    let s = run_stage(run(&slow, l.step, vec![q.clone()]), &mut opt, |_| rising(&q)).unwrap();
    assert_eq!(s.steps, 10);
}
