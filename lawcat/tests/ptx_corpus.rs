//! The `lawcat ptx check` corpus (`tests/ptx_corpus/*.cu`, our own kernels, one file per
//! construct real nvcc modules use): each file is compiled by the pinned nvcc (skipped,
//! saying so, where `scripts/gen-ptx.sh --toolkit` has not installed it; `scripts/test.sh`
//! does), and each of its `// launch` lines runs through `lawcat ptx check`, which must give
//! the exit status and the finding the line names (see `tests/ptx_corpus/README.md`).

use std::path::{Path, PathBuf};
use std::process::Command;

/// One `// launch NAME: ENTRY GRID BLOCK [SHARED] [strict] -- ARG... => EXPECT` line.
struct Launch {
    name: String,
    entry: String,
    grid: String,
    block: String,
    shared: Option<String>,
    strict: bool,
    args: Vec<String>,
    expect: Vec<String>,
}

fn launches(cu: &str) -> Vec<Launch> {
    cu.lines()
        .filter_map(|l| l.strip_prefix("// launch "))
        .map(|l| {
            let (name, rest) = l.split_once(':').expect("NAME:");
            let (head, rest) = rest.split_once(" -- ").expect(" -- ");
            let (args, expect) = rest.split_once(" => ").expect(" => ");
            let mut h = head.split_whitespace();
            let (entry, grid, block) = (h.next().unwrap(), h.next().unwrap(), h.next().unwrap());
            let mut shared = None;
            let mut strict = false;
            for w in h {
                match w {
                    "strict" => strict = true,
                    n => shared = Some(n.to_string()),
                }
            }
            Launch {
                name: name.trim().to_string(),
                entry: entry.into(),
                grid: grid.into(),
                block: block.into(),
                shared,
                strict,
                args: args.split_whitespace().map(String::from).collect(),
                expect: expect.split_whitespace().map(String::from).collect(),
            }
        })
        .collect()
}

fn toolkit() -> Option<PathBuf> {
    let t = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.data/cuda-toolkit/nvidia/cu13");
    t.join("bin/nvcc").exists().then_some(t)
}

/// The PTX nvcc makes of `cu` (in `dir`).
fn compile(t: &Path, cu: &Path, dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(cu).unwrap();
    let target = text.lines().next().and_then(|l| l.strip_prefix("// target: ")).unwrap_or("sm_80");
    let out = dir.join(cu.file_stem().unwrap()).with_extension("ptx");
    let path = format!("{}:{}", t.join("bin").display(), std::env::var("PATH").unwrap_or_default());
    let st = Command::new(t.join("bin/nvcc"))
        .env("PATH", path)
        .args(["-ptx", &format!("-arch={target}"), "-std=c++17", "-O3"])
        .arg(format!("-I{}", t.join("include").display()))
        .arg(format!("-I{}", t.join("include/cccl").display()))
        .arg("-o")
        .arg(&out)
        .arg(cu)
        .output()
        .unwrap();
    assert!(st.status.success(), "nvcc {}: {}", cu.display(), String::from_utf8_lossy(&st.stderr));
    out
}

#[test]
fn every_corpus_launch_gives_its_finding() {
    let Some(t) = toolkit() else {
        eprintln!(
            "skipped: the CUDA compiler wheels are not installed (scripts/gen-ptx.sh --toolkit)"
        );
        return;
    };
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ptx_corpus");
    let dir = std::env::temp_dir().join(format!("lawcat-ptx-corpus-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&corpus)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "cu"))
        .collect();
    files.sort();
    assert!(files.len() >= 10, "{files:?}");
    let mut failures = vec![];
    let mut count = 0;
    for cu in &files {
        let text = std::fs::read_to_string(cu).unwrap();
        let ls = launches(&text);
        assert!(!ls.is_empty(), "{} has no // launch line", cu.display());
        let ptx = compile(&t, cu, &dir);
        for l in ls {
            count += 1;
            let mut a = vec!["ptx".to_string(), "check".into(), ptx.display().to_string()];
            a.extend(["--entry".into(), l.entry.clone(), "--grid".into(), l.grid.clone()]);
            a.extend(["--block".into(), l.block.clone()]);
            if let Some(s) = &l.shared {
                a.extend(["--shared".into(), s.clone()]);
            }
            if l.strict {
                a.push("--strict".into());
            }
            for arg in &l.args {
                a.extend(["--arg".into(), arg.clone()]);
            }
            let out = Command::new(env!("CARGO_BIN_EXE_lawcat")).args(&a).output().unwrap();
            let text = String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr);
            let code = out.status.code().unwrap_or(-1);
            let ok = match l.expect.as_slice() {
                [c] if c == "clean" => code == 0 && text.contains(": clean"),
                [c] if c == "deadlock" => code == 1 && text.contains("deadlock"),
                [lvl, kind] if lvl == "note" => {
                    code == 0 && text.contains(&format!("note: {kind}:"))
                }
                [lvl, kind] if lvl == "error" => {
                    code == 1
                        && text
                            .lines()
                            .any(|x| x.contains(&format!(": {kind}:")) && !x.contains("note:"))
                }
                other => panic!("{}: {}: bad expectation {other:?}", cu.display(), l.name),
            };
            if !ok {
                failures.push(format!(
                    "{} {}: expected {:?}, exit {code}:\n{}",
                    cu.display(),
                    l.name,
                    l.expect,
                    text.lines().take(12).collect::<Vec<_>>().join("\n")
                ));
            }
        }
    }
    std::fs::remove_dir_all(&dir).ok();
    assert!(
        failures.is_empty(),
        "{} of {count} launches:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}
