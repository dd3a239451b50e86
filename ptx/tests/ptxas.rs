//! Every `.ptx` file under `ptx/` must be valid PTX for sm_90 (the planted bugs are
//! semantic, never syntax): assembled by NVIDIA's ptxas when `scripts/ptxas.sh` has installed
//! it into `.data/cuda-toolkit`, skipped (saying so) otherwise.

use std::path::{Path, PathBuf};
use std::process::Command;

fn ptx_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            if p.file_name().is_some_and(|n| n != "target") {
                ptx_files(&p, out);
            }
        } else if p.extension().is_some_and(|x| x == "ptx") {
            out.push(p);
        }
    }
}

#[test]
fn every_ptx_file_assembles_with_ptxas() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let ptxas = crate_dir.join("../.data/cuda-toolkit/nvidia/cu13/bin/ptxas");
    let mut files = vec![];
    ptx_files(crate_dir, &mut files);
    files.sort();
    assert!(files.len() >= 16, "{files:?}");
    if !ptxas.exists() {
        eprintln!(
            "skipped: no ptxas at {} (run scripts/ptxas.sh --path to install it)",
            ptxas.display()
        );
        return;
    }
    let dir = std::env::temp_dir().join(format!("ptxas-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut failed = vec![];
    for f in &files {
        let out = Command::new(&ptxas)
            .arg("-arch=sm_90")
            .arg("-o")
            .arg(dir.join("a.cubin"))
            .arg(f)
            .output()
            .unwrap();
        if !out.status.success() {
            failed.push(format!("{}: {}", f.display(), String::from_utf8_lossy(&out.stderr)));
        }
    }
    std::fs::remove_dir_all(&dir).ok();
    assert!(failed.is_empty(), "ptxas rejected:\n{}", failed.join("\n"));
}
