//! The `lawcat` program: help for every command, and readable errors (not panics) for bad
//! arguments and files.

use std::process::Command;

fn lawcat(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_lawcat")).args(args).output().expect("run lawcat");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!text.contains("panicked"), "lawcat {args:?} panicked:\n{text}");
    (out.status.code().unwrap_or(-1), text)
}

/// The repository's reference fixtures (`fixtures/make_fixtures.py`).
fn fixtures() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures")
}

/// The subcommands a help text lists under "Commands:" (without `help`).
fn subcommands(help: &str) -> Vec<String> {
    let mut lines = help.lines().skip_while(|l| !l.starts_with("Commands:")).skip(1);
    let mut out = vec![];
    while let Some(l) = lines.next().filter(|l| l.starts_with("  ")) {
        let name = l.split_whitespace().next().unwrap_or("");
        if !name.is_empty() && name != "help" && !l.starts_with("   ") {
            out.push(name.to_string());
        }
    }
    out
}

/// The flags and arguments in a help text that have no description (clap prints only the
/// name, perhaps with a default). Handles both layouts: description on the same line, or on
/// the next line.
fn undocumented(help: &str) -> Vec<String> {
    let lines: Vec<&str> = help.lines().collect();
    let mut bad = vec![];
    let mut in_list = false;
    for (i, l) in lines.iter().enumerate() {
        if *l == "Options:" || *l == "Arguments:" {
            in_list = true;
            continue;
        }
        if !l.is_empty() && !l.starts_with(' ') {
            in_list = false;
        }
        let t = l.trim_start();
        let indent = l.len() - t.len();
        if !in_list || !(2..=6).contains(&indent) || !(t.starts_with('-') || t.starts_with('<') || t.starts_with('[')) {
            continue;
        }
        // The name ends at the first run of two spaces.
        let (name, rest) = t.split_once("  ").unwrap_or((t, ""));
        let desc = if rest.trim().is_empty() { lines.get(i + 1).map(|n| n.trim()).unwrap_or("") } else { rest.trim() };
        if desc.is_empty() || desc.starts_with("[default") || desc.starts_with("[possible") || desc.starts_with('-') {
            bad.push(name.trim().to_string());
        }
    }
    bad
}

#[test]
fn every_command_has_help() {
    let (code, top) = lawcat(&["--help"]);
    assert_eq!(code, 0, "{top}");
    let mut todo: Vec<Vec<String>> = subcommands(&top).into_iter().map(|c| vec![c]).collect();
    for cmd in ["demo", "distill", "eval", "generate", "convert", "inspect", "audit", "bench", "train-teacher"] {
        assert!(todo.iter().any(|c| c[0] == cmd), "lawcat should have the command {cmd}:\n{top}");
    }
    let mut seen = 0;
    while let Some(cmd) = todo.pop() {
        let mut args: Vec<&str> = cmd.iter().map(|s| s.as_str()).collect();
        args.push("--help");
        let (code, text) = lawcat(&args);
        assert_eq!(code, 0, "{cmd:?}: {text}");
        assert!(text.contains("Usage"), "{cmd:?}: {text}");
        assert!(text.contains("--device"), "{cmd:?} should accept --device: {text}");
        let missing = undocumented(&text);
        assert!(missing.is_empty(), "lawcat {cmd:?}: no description for {missing:?}:\n{text}");
        for sub in subcommands(&text) {
            todo.push(cmd.iter().cloned().chain([sub]).collect());
        }
        seen += 1;
    }
    // demo distill eval generate convert inspect train-teacher, audit + 3, bench + 3.
    assert!(seen >= 15, "only {seen} commands found");
}

#[test]
fn the_help_checker_sees_a_missing_description() {
    let inline = "Options:\n      --seq-len <SEQ_LEN>    [default: 256]\n      --lr <LR>    Learning rate [default: 0.001]\n";
    assert_eq!(undocumented(inline), ["--seq-len <SEQ_LEN>"]);
    let next_line = "Arguments:\n  <MODEL>\n          A model\n\nOptions:\n      --seed <SEED>\n          [default: 0]\n\n      --no-progress\n          \n\n  -h, --help\n          Print help\n";
    assert_eq!(undocumented(next_line), ["--seed <SEED>", "--no-progress"]);
    assert_eq!(subcommands("Usage: x\n\nCommands:\n  model  Load time\n  scan   Cost\n  help   Print this\n\nOptions:\n"), ["model", "scan"]);
}

#[test]
fn bad_arguments_and_files_are_readable_errors() {
    let tmp = std::env::temp_dir().join(format!("lawcat-cli-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let mut cases: Vec<(Vec<String>, &str)> = vec![
        (vec!["inspect".into(), "/no/such/model".into()], "/no/such/model"),
        (vec!["inspect".into(), "builtin".into(), "--device".into(), "tpu".into()], "expected cpu, cuda[:N], interp or check"),
        (vec!["generate".into(), "builtin".into(), "--prompt".into(), "The".into(), "--top-p".into(), "2".into()], "--top-p"),
        (vec!["eval".into(), "--model".into(), "builtin".into(), "--task".into(), "bogus".into()], "--task"),
        (vec!["eval".into(), "--model".into(), "builtin".into(), "--task".into(), "s-niah-2".into(), "--lengths".into(), "512".into(), "--samples".into(), "1".into(), "--out".into(), tmp.join("e").to_string_lossy().into()], "--haystack"),
        (vec!["eval".into(), "--model".into(), "builtin".into(), "--depths".into(), "2".into()], "--depths"),
        (vec!["distill".into(), "--teacher".into(), "builtin".into(), "--out".into(), tmp.join("d").to_string_lossy().into(), "--data".into(), "/no/such/data.txt".into()], "/no/such/data.txt"),
        (vec!["distill".into(), "--teacher".into(), "builtin".into(), "--out".into(), tmp.join("d2").to_string_lossy().into(), "--feature-map".into(), "cosine".into()], "--feature-map"),
        (vec!["distill".into(), "--teacher".into(), "builtin".into(), "--out".into(), tmp.join("d3").to_string_lossy().into(), "--resume".into()], "no checkpoint"),
        (vec!["convert".into(), fixtures().join("tiny-llama/config.json").to_string_lossy().into(), tmp.join("c").to_string_lossy().into()], "not a GGUF file"),
        (vec!["audit".into(), "gla".into(), fixtures().join("conv1d/conv1d_b2_t19_d6_w4.safetensors").to_string_lossy().into()], "must hold q"),
        (vec!["demo".into(), "--seq-len".into(), "8".into()], "--seq-len"),
        (vec!["bench".into(), "scan".into(), "--heads".into(), "5".into(), "--kv-heads".into(), "2".into()], "--heads"),
    ];
    // Without a CUDA driver (CI), --device cuda is an error that says so; with one it works.
    if !ptx::runtime::cuda::driver_present() {
        cases.push((vec!["inspect".into(), "builtin".into(), "--device".into(), "cuda".into()], "no CUDA driver found"));
    }
    for (args, expect) in cases {
        let a: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
        let (code, text) = lawcat(&a);
        assert_ne!(code, 0, "lawcat {a:?} should fail:\n{text}");
        assert!(text.contains(expect), "lawcat {a:?}: expected {expect:?} in:\n{text}");
    }
    // A bad .jsonl line is named with its file and line.
    let bad = tmp.join("bad.jsonl");
    std::fs::write(&bad, "{\"text\": \"fine\"}\n{\"txt\": 1}\n").unwrap();
    let (code, text) = lawcat(&["distill", "--teacher", "builtin", "--out", &tmp.join("d4").to_string_lossy(), "--data", &bad.to_string_lossy()]);
    assert_ne!(code, 0);
    assert!(text.contains("bad.jsonl") && text.contains("line 2"), "{text}");
}

#[test]
fn audits_pass_on_the_fixtures_and_fail_on_a_wrong_model() {
    let f = fixtures();
    let (code, text) = lawcat(&["audit", "llama", &f.join("tiny-llama/reference.safetensors").to_string_lossy(), "--model", &f.join("tiny-llama").to_string_lossy()]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("0 failed"), "{text}");
    for (file, extra) in [("gla/gla_b2_t67_h2_k8_v5.safetensors", "0"), ("gla/gla_normalized_b1_t67_h3_k6_v5.safetensors", "64")] {
        let (code, text) = lawcat(&["audit", "gla", &f.join(file).to_string_lossy(), "--chunk", extra]);
        assert_eq!(code, 0, "{text}");
    }
    let (code, text) = lawcat(&["audit", "conv1d", &f.join("conv1d/conv1d_b2_t19_d6_w4.safetensors").to_string_lossy()]);
    assert_eq!(code, 0, "{text}");
    // the bf16 model against the f32 model's reference: shapes differ -> error, not a pass
    let (code, _) = lawcat(&["audit", "llama", &f.join("tiny-llama/reference.safetensors").to_string_lossy(), "--model", &f.join("tiny-llama-bf16-tied").to_string_lossy()]);
    assert_ne!(code, 0);
    // the plain GLA dump audited as normalized fails with a table, exit 1
    let (code, text) = lawcat(&["audit", "gla", &f.join("gla/gla_b2_t67_h2_k8_v5.safetensors").to_string_lossy(), "--normalized"]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("FAIL"), "{text}");
}

#[test]
fn ptx_check_exit_codes() {
    let planted = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../ptx/tests/planted");
    let file = |n: &str| planted.join(n).to_string_lossy().into_owned();
    let run = |f: &str, extra: &[&str]| {
        let mut a = vec!["ptx", "check", f, "--entry", "kernel", "--grid", "2", "--block", "64,1,1", "--arg", "buf:512", "--arg", "buf:512", "--arg", "buf:16"];
        a.extend_from_slice(extra);
        lawcat(&a)
    };
    // The control kernel is clean: 0.
    let (code, text) = run(&file("clean.ptx"), &["--arg", "u32:128"]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("clean"), "{text}");
    // A planted bug: 1, with the problem printed (kind, line, thread).
    let (code, text) = run(&file("oob_global.ptx"), &["--arg", "u32:128", "--seed", "3"]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("out-of-bounds") && text.contains("thread (63,0,0)") && text.contains("oob_global.ptx"), "{text}");
    let (code, text) = run(&file("barrier_deadlock.ptx"), &["--arg", "u32:128"]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("deadlock"), "{text}");
    // Arguments that do not fit the entry: 2, naming the file.
    let (code, text) = run(&file("clean.ptx"), &[]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("clean.ptx") && text.contains("takes 4 arguments"), "{text}");
    let (code, text) = run(&file("clean.ptx"), &["--arg", "f32:1.5"]);
    assert_eq!(code, 2, "{text}");
    let (code, text) = run(&file("clean.ptx"), &["--arg", "u32:x"]);
    assert_eq!(code, 2, "{text}");
    // A file that does not parse: 2, with its name and line.
    let tmp = std::env::temp_dir().join(format!("lawcat-ptx-{}.ptx", std::process::id()));
    std::fs::write(&tmp, ".version 8.0\n.target sm_90\n.address_size 64\n.visible .entry k()\n{\n    frobnicate.u32 %r1;\n}\n").unwrap();
    let (code, text) = lawcat(&["ptx", "check", &tmp.to_string_lossy(), "--entry", "k", "--block", "32"]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains(&*tmp.to_string_lossy()) && text.contains(":6:"), "{text}");
    std::fs::remove_file(&tmp).ok();
}
