//! The PTX we ship is what `scripts/gen-ptx.sh` makes from `ptx/kernels/*.cu`: regenerated
//! into a temporary folder and compared byte for byte (when the pinned CUDA compiler wheels
//! are installed in `.data/cuda-toolkit`; skipped, saying so, otherwise). Every shipped
//! module is also listed in `ptx::modules`, and every entry has its doc comment.

use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[test]
fn shipped_ptx_is_what_the_sources_generate() {
    let nvcc = root().join(".data/cuda-toolkit/nvidia/cu13/bin/nvcc");
    if !nvcc.exists() {
        eprintln!(
            "skipped: the CUDA compiler wheels are not installed (scripts/gen-ptx.sh \
            --toolkit installs them)"
        );
        return;
    }
    let out = std::env::temp_dir().join(format!("lawcat-gen-ptx-{}", std::process::id()));
    let status = std::process::Command::new("bash")
        .arg(root().join("scripts/gen-ptx.sh"))
        .arg("--out")
        .arg(&out)
        .current_dir(root())
        .status()
        .unwrap();
    assert!(status.success(), "scripts/gen-ptx.sh failed");
    for entry in std::fs::read_dir(root().join("ptx/kernels")).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|e| e == "cu") {
            let name = p.file_stem().unwrap().to_string_lossy().to_string();
            let shipped = std::fs::read(p.with_extension("ptx"))
                .unwrap_or_else(|_| panic!("{name}.ptx is not committed"));
            let fresh = std::fs::read(out.join(format!("{name}.ptx"))).unwrap();
            assert!(
                shipped == fresh,
                "ptx/kernels/{name}.ptx differs from what \
                scripts/gen-ptx.sh makes from {name}.cu: run scripts/gen-ptx.sh"
            );
        }
    }
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn every_module_is_registered_and_every_entry_documented() {
    for entry in std::fs::read_dir(root().join("ptx/kernels")).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|e| e == "ptx") {
            let name = p.file_stem().unwrap().to_string_lossy().to_string();
            let text = ptx::modules::text(&name).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(
                text.as_bytes(),
                std::fs::read(&p).unwrap(),
                "{name}: the registered text is the file"
            );
            let lines: Vec<&str> = text.lines().collect();
            for (i, l) in lines.iter().enumerate() {
                if l.starts_with(".visible .entry ") {
                    assert!(
                        i >= 2 && lines[i - 1] == "//" && lines[i - 2].starts_with("// "),
                        "{name}.ptx line {}: an entry without its comment block",
                        i + 1
                    );
                }
            }
            assert!(!ptx::modules::entries(text).is_empty(), "{name}.ptx has no entry");
        }
    }
}
