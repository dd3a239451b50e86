//! The nvcc-made PTX these tests run (`tests/kernels/calls.ptx`, `globals.ptx`, and
//! `nvcc/barrier.ptx`, `nvcc/wmma.ptx`, `nvcc/instructions.ptx`) is what the pinned CUDA 13.0
//! compiler makes of the `.cu` beside it, with the command in the `.cu`'s header: regenerated into
//! a temporary folder and compared (when the compiler wheels are installed in `.data/cuda-toolkit`,
//! as `scripts/gen-ptx.sh --toolkit` installs them; skipped, saying so, otherwise). nvcc names some
//! internal variables after a hash of the folder it ran in (`_ZN38_INTERNAL_89806719_...`); those
//! hashes are compared as equal.

use std::path::{Path, PathBuf};

/// The `.cu` files whose PTX is committed beside them (paths under `tests/kernels`, without
/// the extension).
const SOURCES: &[&str] = &["calls", "globals", "nvcc/barrier", "nvcc/wmma", "nvcc/instructions"];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `text` with every `_INTERNAL_<8 hex digits>_` hash (and its other uses) replaced.
fn without_folder_hashes(text: &str) -> String {
    let mut hashes = vec![];
    let mut rest = text;
    while let Some(i) = rest.find("_INTERNAL_") {
        let h = &rest[i + 10..];
        if h.len() > 8 && h.as_bytes()[8] == b'_' && h[..8].bytes().all(|b| b.is_ascii_hexdigit()) {
            hashes.push(h[..8].to_string());
        }
        rest = &rest[i + 10..];
    }
    let mut out = text.to_string();
    for h in hashes {
        out = out.replace(&h, "HASH");
    }
    out
}

fn nvcc(toolkit: &Path, dir: &Path, name: &str, out: &Path) {
    let cu = dir.join(format!("{name}.cu"));
    let first = std::fs::read_to_string(&cu).unwrap().lines().next().unwrap_or("").to_string();
    let target = first.strip_prefix("// target: ").unwrap_or("sm_80").trim().to_string();
    let path =
        format!("{}:{}", toolkit.join("bin").display(), std::env::var("PATH").unwrap_or_default());
    let status = std::process::Command::new(toolkit.join("bin/nvcc"))
        .env("PATH", path)
        .current_dir(dir)
        .args(["-ptx", &format!("-arch={target}"), "-std=c++17", "-O3"])
        .arg(format!("-I{}", toolkit.join("include").display()))
        .arg(format!("-I{}", toolkit.join("include/cccl").display()))
        .arg("-o")
        .arg(out)
        .arg(format!("{name}.cu"))
        .status()
        .unwrap();
    assert!(status.success(), "nvcc failed on {name}.cu");
}

#[test]
fn committed_ptx_is_what_the_pinned_nvcc_makes_of_the_sources() {
    let toolkit = root().join(".data/cuda-toolkit/nvidia/cu13");
    if !toolkit.join("bin/nvcc").exists() {
        eprintln!(
            "skipped: the CUDA compiler wheels are not installed (scripts/gen-ptx.sh --toolkit \
             installs them)"
        );
        return;
    }
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/kernels");
    let tmp = std::env::temp_dir().join(format!("ptx-interp-regen-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    for name in SOURCES {
        let fresh = tmp.join(format!("{name}.ptx"));
        std::fs::create_dir_all(fresh.parent().unwrap()).unwrap();
        nvcc(&toolkit, &dir, name, &fresh);
        let committed = std::fs::read_to_string(dir.join(format!("{name}.ptx"))).unwrap();
        let fresh = std::fs::read_to_string(&fresh).unwrap();
        assert!(
            without_folder_hashes(&committed) == without_folder_hashes(&fresh),
            "tests/kernels/{name}.ptx is not what nvcc makes of {name}.cu: regenerate it with \
             the command in {name}.cu's header"
        );
    }
    let _ = std::fs::remove_dir_all(&tmp);
}

#[test]
fn folder_hashes_are_the_only_thing_ignored() {
    let name =
        |h: &str| format!(".global .b8 _ZN38_INTERNAL_{h}_10_x4cuda3std3__440_N__{h}_10_xE[1];");
    let (a, b) = (name("89806719"), name("0badcafe"));
    assert_eq!(without_folder_hashes(&a), without_folder_hashes(&b));
    assert_ne!(without_folder_hashes(&a), without_folder_hashes(&a.replace("[1]", "[2]")));
}
