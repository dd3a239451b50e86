//! The `lawcat` program: help for every command, and readable errors (not panics) for bad
//! arguments and files.

use std::process::Command;

fn lawcat(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_lawcat")).args(args).output().expect("run lawcat");
    let text =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
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
        if !in_list
            || !(2..=6).contains(&indent)
            || !(t.starts_with('-') || t.starts_with('<') || t.starts_with('['))
        {
            continue;
        }
        // The name ends at the first run of two spaces.
        let (name, rest) = t.split_once("  ").unwrap_or((t, ""));
        let desc = if rest.trim().is_empty() {
            lines.get(i + 1).map(|n| n.trim()).unwrap_or("")
        } else {
            rest.trim()
        };
        if desc.is_empty()
            || desc.starts_with("[default")
            || desc.starts_with("[possible")
            || desc.starts_with('-')
        {
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
    for cmd in [
        "demo",
        "distill",
        "eval",
        "generate",
        "convert",
        "inspect",
        "audit",
        "bench",
        "train-teacher",
    ] {
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
    let inline = "Options:\n      --seq-len <SEQ_LEN>    [default: 256]\n      --lr <LR>    \
                  Learning rate [default: 0.001]\n";
    assert_eq!(undocumented(inline), ["--seq-len <SEQ_LEN>"]);
    let next_line = "Arguments:\n  <MODEL>\n          A model\n\n\
                     Options:\n      --seed <SEED>\n          [default: 0]\n\
                     \n      --no-progress\n          \n\n  -h, --help\n          Print help\n";
    assert_eq!(undocumented(next_line), ["--seed <SEED>", "--no-progress"]);
    assert_eq!(
        subcommands(
            "Usage: x\n\nCommands:\n  model  Load time\n  scan   Cost\n  help   Print this\n\n\
             Options:\n"
        ),
        ["model", "scan"]
    );
}

#[test]
fn bad_arguments_and_files_are_readable_errors() {
    let tmp = std::env::temp_dir().join(format!("lawcat-cli-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let mut cases: Vec<(Vec<String>, &str)> = vec![
        (vec!["inspect".into(), "/no/such/model".into()], "/no/such/model"),
        (
            vec!["inspect".into(), "builtin".into(), "--device".into(), "tpu".into()],
            "expected cpu, cuda[:N], interp or check",
        ),
        (
            vec![
                "generate".into(),
                "builtin".into(),
                "--prompt".into(),
                "The".into(),
                "--top-p".into(),
                "2".into(),
            ],
            "--top-p",
        ),
        (
            vec![
                "eval".into(),
                "--model".into(),
                "builtin".into(),
                "--task".into(),
                "bogus".into(),
            ],
            "--task",
        ),
        (
            vec![
                "eval".into(),
                "--model".into(),
                "builtin".into(),
                "--task".into(),
                "s-niah-2".into(),
                "--lengths".into(),
                "512".into(),
                "--samples".into(),
                "1".into(),
                "--out".into(),
                tmp.join("e").to_string_lossy().into(),
            ],
            "--haystack",
        ),
        (
            vec!["eval".into(), "--model".into(), "builtin".into(), "--depths".into(), "2".into()],
            "--depths",
        ),
        (
            vec![
                "distill".into(),
                "--teacher".into(),
                "builtin".into(),
                "--out".into(),
                tmp.join("d").to_string_lossy().into(),
                "--data".into(),
                "/no/such/data.txt".into(),
            ],
            "/no/such/data.txt",
        ),
        (
            vec![
                "distill".into(),
                "--teacher".into(),
                "builtin".into(),
                "--out".into(),
                tmp.join("d2").to_string_lossy().into(),
                "--feature-map".into(),
                "cosine".into(),
            ],
            "--feature-map",
        ),
        (
            vec![
                "distill".into(),
                "--teacher".into(),
                "builtin".into(),
                "--out".into(),
                tmp.join("d3").to_string_lossy().into(),
                "--resume".into(),
            ],
            "no checkpoint",
        ),
        (
            vec![
                "convert".into(),
                fixtures().join("tiny-llama/config.json").to_string_lossy().into(),
                tmp.join("c").to_string_lossy().into(),
            ],
            "not a GGUF file",
        ),
        (
            vec![
                "audit".into(),
                "gla".into(),
                fixtures().join("conv1d/conv1d_b2_t19_d6_w4.safetensors").to_string_lossy().into(),
            ],
            "must hold q",
        ),
        (vec!["demo".into(), "--seq-len".into(), "8".into()], "--seq-len"),
        (
            vec![
                "bench".into(),
                "scan".into(),
                "--heads".into(),
                "5".into(),
                "--kv-heads".into(),
                "2".into(),
            ],
            "--heads",
        ),
    ];
    // Without a CUDA driver (CI), --device cuda is an error that says so; with one it works.
    if !ptx::runtime::cuda::driver_present() {
        cases.push((
            vec!["inspect".into(), "builtin".into(), "--device".into(), "cuda".into()],
            "no CUDA driver found",
        ));
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
    let (code, text) = lawcat(&[
        "distill",
        "--teacher",
        "builtin",
        "--out",
        &tmp.join("d4").to_string_lossy(),
        "--data",
        &bad.to_string_lossy(),
    ]);
    assert_ne!(code, 0);
    assert!(text.contains("bad.jsonl") && text.contains("line 2"), "{text}");
}

#[test]
fn audits_pass_on_the_fixtures_and_fail_on_a_wrong_model() {
    let f = fixtures();
    let (code, text) = lawcat(&[
        "audit",
        "llama",
        &f.join("tiny-llama/reference.safetensors").to_string_lossy(),
        "--model",
        &f.join("tiny-llama").to_string_lossy(),
    ]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("0 failed"), "{text}");
    for (file, extra) in [
        ("gla/gla_b2_t67_h2_k8_v5.safetensors", "0"),
        ("gla/gla_normalized_b1_t67_h3_k6_v5.safetensors", "64"),
    ] {
        let (code, text) =
            lawcat(&["audit", "gla", &f.join(file).to_string_lossy(), "--chunk", extra]);
        assert_eq!(code, 0, "{text}");
    }
    let (code, text) = lawcat(&[
        "audit",
        "conv1d",
        &f.join("conv1d/conv1d_b2_t19_d6_w4.safetensors").to_string_lossy(),
    ]);
    assert_eq!(code, 0, "{text}");
    // the bf16 model against the f32 model's reference: shapes differ -> error, not a pass
    let (code, _) = lawcat(&[
        "audit",
        "llama",
        &f.join("tiny-llama/reference.safetensors").to_string_lossy(),
        "--model",
        &f.join("tiny-llama-bf16-tied").to_string_lossy(),
    ]);
    assert_ne!(code, 0);
    // the plain GLA dump audited as normalized fails with a table, exit 1
    let (code, text) = lawcat(&[
        "audit",
        "gla",
        &f.join("gla/gla_b2_t67_h2_k8_v5.safetensors").to_string_lossy(),
        "--normalized",
    ]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("FAIL"), "{text}");
}

#[test]
fn ptx_list_and_dump() {
    let (code, text) = lawcat(&["ptx", "list"]);
    assert_eq!(code, 0, "{text}");
    for m in ["fill", "copy", "elementwise", "reduce", "index"] {
        assert!(
            text.contains(&format!("\n{m}: ")) || text.starts_with(&format!("{m}: ")),
            "module {m} not listed:\n{text}"
        );
    }
    for e in [
        "  copy_b4\n",
        "  cast_bf16_u8\n",
        "  unary_f16\n",
        "  where_f64_b2\n",
        "  softmax_f32\n",
        "  index_add_bf16\n",
    ] {
        assert!(text.contains(e), "entry {e:?} not listed:\n{text}");
    }
    let (code, text) = lawcat(&["ptx", "dump", "reduce"]);
    assert_eq!(code, 0, "{text}");
    assert_eq!(text, ptx::modules::text("reduce").unwrap());
    let (code, text) = lawcat(&["ptx", "dump", "nonesuch"]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("no shipped PTX module") && text.contains("elementwise"), "{text}");
}

#[test]
fn ptx_check_exit_codes() {
    let planted =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../ptx/interp/tests/planted");
    let file = |n: &str| planted.join(n).to_string_lossy().into_owned();
    let run = |f: &str, extra: &[&str]| {
        let mut a = vec![
            "ptx", "check", f, "--entry", "kernel", "--grid", "2", "--block", "64,1,1", "--arg",
            "buf:512", "--arg", "buf:512", "--arg", "buf:16",
        ];
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
    assert!(
        text.contains("out-of-bounds")
            && text.contains("thread (63,0,0)")
            && text.contains("oob_global.ptx"),
        "{text}"
    );
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
    std::fs::write(
        &tmp,
        ".version 8.0\n.target sm_90\n.address_size 64\n.visible .entry k()\n\
         {\n    frobnicate.u32 %r1;\n}\n",
    )
    .unwrap();
    let (code, text) =
        lawcat(&["ptx", "check", &tmp.to_string_lossy(), "--entry", "k", "--block", "32"]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains(&*tmp.to_string_lossy()) && text.contains(":6:"), "{text}");
    std::fs::remove_file(&tmp).ok();
}

/// A safetensors dump of the given tensors, for audit tests.
fn dump(path: &std::path::Path, tensors: &[(&str, Vec<usize>)]) {
    let mut rng = tensor::Rng::new(1);
    let ts: Vec<(&str, tensor::Tensor)> = tensors
        .iter()
        .map(|(n, s)| {
            (
                *n,
                tensor::Tensor::rand_uniform(
                    s.as_slice(),
                    -1.0,
                    1.0,
                    tensor::DType::F32,
                    &tensor::Device::Cpu,
                    &mut rng,
                )
                .unwrap(),
            )
        })
        .collect();
    tensor::safetensors_io::save(ts.iter().map(|(n, t)| (*n, t)), None, path).unwrap();
}

#[test]
fn panics_and_aborts_are_errors() {
    let tmp = std::env::temp_dir().join(format!("lawcat-cli-panics-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    // audit gla with q of rank 3 (indexed out of bounds before the rank check)
    let bad = tmp.join("gla-rank3.safetensors");
    dump(
        &bad,
        &[
            ("q", vec![2, 5, 4]),
            ("k", vec![2, 5, 4]),
            ("v", vec![2, 5, 3]),
            ("g", vec![2, 5, 4]),
            ("o", vec![2, 5, 3]),
        ],
    );
    let (code, text) = lawcat(&["audit", "gla", &bad.to_string_lossy()]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("gla-rank3.safetensors") && text.contains("[B, T, H, K]"), "{text}");
    // sizes from flags that could never fit in memory: refused before allocating
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec![
                "distill".into(),
                "--teacher".into(),
                "builtin".into(),
                "--out".into(),
                tmp.join("big").to_string_lossy().into(),
                "--seq-len".into(),
                "1000000000000".into(),
            ],
            "--seq-len 1000000000000",
        ),
        (
            vec![
                "eval".into(),
                "--model".into(),
                "builtin".into(),
                "--lengths".into(),
                "1000000000".into(),
                "--out".into(),
                tmp.join("e").to_string_lossy().into(),
            ],
            "--lengths 1000000000",
        ),
        (
            vec![
                "generate".into(),
                "builtin".into(),
                "--prompt".into(),
                "The".into(),
                "--max-new-tokens".into(),
                "100000000000".into(),
            ],
            "--max-new-tokens",
        ),
    ];
    for (args, expect) in cases {
        let a: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
        let t = std::time::Instant::now();
        let (code, text) = lawcat(&a);
        assert_eq!(code, 2, "lawcat {a:?}:\n{text}");
        assert!(
            text.contains(expect) && text.contains("needs at least"),
            "lawcat {a:?}: expected {expect:?} in:\n{text}"
        );
        assert!(t.elapsed().as_secs() < 10, "lawcat {a:?} took {:?}", t.elapsed());
    }
    assert!(!tmp.join("big").exists(), "a refused run leaves no run folder");
    // --threads far beyond the cores: refused at once
    let t = std::time::Instant::now();
    let (code, text) = lawcat(&["inspect", "builtin", "--threads", "5000"]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("--threads 5000") && text.contains("per core"), "{text}");
    assert!(t.elapsed().as_secs() < 3, "took {:?}", t.elapsed());
}

#[test]
fn a_closed_or_full_standard_output_is_not_a_panic() {
    use std::process::Stdio;
    // The reader goes away before the first line: a quiet exit.
    let mut child = Command::new(env!("CARGO_BIN_EXE_lawcat"))
        .args(["inspect", "builtin"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.is_empty(), "a closed pipe is no error: {err}");
    // A full disk: an error naming standard output.
    if std::path::Path::new("/dev/full").exists() {
        let full = std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_lawcat"))
            .args(["inspect", "builtin"])
            .stdout(full)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "{err}");
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(
            err.contains("writing to standard output") && err.contains("No space left"),
            "{err}"
        );
        // --help too goes through the program's output
        let full = std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_lawcat"))
            .args(["distill", "--help"])
            .stdout(full)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    }
}

#[test]
fn flags_that_make_no_sense_are_refused() {
    let tmp = std::env::temp_dir().join(format!("lawcat-cli-flags-{}", std::process::id()));
    let out = tmp.join("d").to_string_lossy().into_owned();
    for (flag, value) in [
        ("--ce-weight", "-1"),
        ("--ce-weight", "nan"),
        ("--ce-weight", "inf"),
        ("--lr1", "nan"),
        ("--lr2", "inf"),
        ("--lora-alpha", "nan"),
        ("--gate-bias-init", "nan"),
        ("--gate-tau", "inf"),
    ] {
        let (code, text) =
            lawcat(&["distill", "--teacher", "builtin", "--out", &out, &format!("{flag}={value}")]);
        assert_eq!(code, 2, "{flag} {value}: {text}");
        let name = flag.trim_start_matches("--").replace('-', "_");
        assert!(text.contains(flag) || text.contains(&name), "{flag} {value}: {text}");
    }
    assert!(!tmp.join("d").exists());
    // A folder where a file is expected.
    std::fs::create_dir_all(&tmp).unwrap();
    for args in [
        vec!["convert", tmp.to_str().unwrap(), "/tmp/x"],
        vec!["audit", "conv1d", tmp.to_str().unwrap()],
    ] {
        let (code, text) = lawcat(&args);
        assert_eq!(code, 2, "{args:?}: {text}");
        assert!(text.contains("is a folder") && !text.contains("os error 19"), "{args:?}: {text}");
    }
}

#[test]
fn audits_fail_when_the_reference_lacks_what_it_should_hold() {
    let tmp = std::env::temp_dir().join(format!("lawcat-cli-audit-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    // conv1d without dy (so no gradients compared)
    let conv = tmp.join("conv1d-no-grads.safetensors");
    dump(&conv, &[("x", vec![1, 5, 3]), ("weight", vec![3, 4]), ("y", vec![1, 5, 3])]);
    let (code, text) = lawcat(&["audit", "conv1d", &conv.to_string_lossy(), "--tol", "1e9"]);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("dy")
            && text.contains("dx")
            && text.contains("MISSING")
            && text.contains("3 missing"),
        "{text}"
    );
    let (code, text) =
        lawcat(&["audit", "conv1d", &conv.to_string_lossy(), "--tol", "1e9", "--allow-missing"]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("not compared") && text.contains("3 missing"), "{text}");
    // gla without do
    let gla = tmp.join("gla-no-do.safetensors");
    dump(
        &gla,
        &[
            ("q", vec![1, 4, 2, 4]),
            ("k", vec![1, 4, 2, 4]),
            ("v", vec![1, 4, 2, 3]),
            ("g", vec![1, 4, 2, 4]),
            ("o", vec![1, 4, 2, 3]),
            ("final_state", vec![1, 2, 4, 3]),
        ],
    );
    let (code, text) = lawcat(&["audit", "gla", &gla.to_string_lossy(), "--tol", "1e9"]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("do ") && text.contains("dq") && text.contains("MISSING"), "{text}");
    // llama: the fixture's reference without its logits
    let f = fixtures();
    let r = tensor::safetensors_io::load(f.join("tiny-llama/reference.safetensors")).unwrap();
    let partial = tmp.join("reference-no-logits.safetensors");
    tensor::safetensors_io::save(
        r.iter().filter(|(n, _)| n.as_str() != "logits").map(|(n, t)| (n.as_str(), t)),
        None,
        &partial,
    )
    .unwrap();
    let (code, text) = lawcat(&[
        "audit",
        "llama",
        &partial.to_string_lossy(),
        "--model",
        &f.join("tiny-llama").to_string_lossy(),
    ]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("logits") && text.contains("MISSING"), "{text}");
    // token ids the model does not have: an error naming the reference
    let mut ids = r["input_ids"].to_vec::<i64>().unwrap();
    ids[3] = 28120;
    let dims = r["input_ids"].dims().to_vec();
    let mut r2 = r.clone();
    r2.insert(
        "input_ids".into(),
        tensor::Tensor::from_vec(ids, dims, &tensor::Device::Cpu).unwrap(),
    );
    let wrong = tmp.join("reference-bad-ids.safetensors");
    tensor::safetensors_io::save(r2.iter().map(|(n, t)| (n.as_str(), t)), None, &wrong).unwrap();
    let (code, text) = lawcat(&[
        "audit",
        "llama",
        &wrong.to_string_lossy(),
        "--model",
        &f.join("tiny-llama").to_string_lossy(),
    ]);
    assert_eq!(code, 2, "{text}");
    assert!(
        text.contains("reference-bad-ids.safetensors")
            && text.contains("28120")
            && text.contains("outside the vocabulary"),
        "{text}"
    );
}

/// Peak resident memory of a finished child, in KiB (Linux x86-64 `wait4`).
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
fn run_measuring_rss(args: &[&str]) -> (i32, String, u64) {
    extern "C" {
        fn wait4(pid: i32, status: *mut i32, options: i32, rusage: *mut [i64; 18]) -> i32;
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_lawcat"))
        .args(args)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut text).unwrap();
    let (mut status, mut usage) = (0i32, [0i64; 18]);
    // SAFETY: waits for our own child; `usage` is large enough for struct rusage.
    let r = unsafe { wait4(child.id() as i32, &mut status, 0, &mut usage) };
    assert_eq!(r, child.id() as i32);
    // ru_maxrss follows the two timevals (user, system time)
    ((status >> 8) & 0xff, text, usage[4] as u64)
}

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
#[test]
fn inspect_reads_metadata_only_and_reports_stored_types() {
    let gguf = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../.data/SmolLM2-135M-Instruct.Q4_1.gguf");
    assert!(
        gguf.exists(),
        "{} is missing: run scripts/fetch-smollm2.sh (scripts/test.sh does)",
        gguf.display()
    );
    let (code, text, rss_kib) = run_measuring_rss(&["inspect", &gguf.to_string_lossy()]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("Q4_1") && text.contains("Q8_0") && !text.contains("f32 "), "{text}");
    assert!(text.contains("30 layers") && text.contains("49152 tokens"), "{text}");
    // Dequantizing everything took 680 MB; the header and the tokenizer take a few dozen.
    assert!(rss_kib < 150 * 1024, "inspect peaked at {} MiB:\n{text}", rss_kib / 1024);
}

/// The program prints through `outln!`/`out!` only (`println!` panics on a closed pipe or
/// a full disk): a new command that forgets it fails here.
#[test]
fn no_command_prints_with_println() {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut todo = vec![src];
    let mut bad = vec![];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                for (i, line) in std::fs::read_to_string(&p).unwrap().lines().enumerate() {
                    let code = line.split("//").next().unwrap_or("");
                    if code.contains("println!(") && !code.contains("eprintln!(")
                        || code.contains(" print!(")
                    {
                        bad.push(format!("{}:{}: {}", p.display(), i + 1, line.trim()));
                    }
                }
            }
        }
    }
    assert!(bad.is_empty(), "use outln!/out! (cli/output.rs):\n{}", bad.join("\n"));
}
