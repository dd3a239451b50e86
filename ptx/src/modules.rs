//! The PTX we ship: one module per kernel family, the exact text the GPU and the interpreter
//! load, generated from `ptx/kernels/NAME.cu` by `scripts/gen-ptx.sh` and committed as
//! `ptx/kernels/NAME.ptx` (a test regenerates them and fails on any difference).
//! `lawcat ptx list` and `lawcat ptx dump NAME` print them.

use tensor::{bail, Result};

/// `(name, PTX text)` of every shipped module.
pub const MODULES: &[(&str, &str)] = &[
    ("fill", include_str!("../kernels/fill.ptx")),
    ("copy", include_str!("../kernels/copy.ptx")),
    ("elementwise", include_str!("../kernels/elementwise.ptx")),
    ("reduce", include_str!("../kernels/reduce.ptx")),
    ("index", include_str!("../kernels/index.ptx")),
    ("matmul", include_str!("../kernels/matmul.ptx")),
    ("matmul_tc", include_str!("../kernels/matmul_tc.ptx")),
    ("attention", include_str!("../kernels/attention.ptx")),
    ("conv1d", include_str!("../kernels/conv1d.ptx")),
    ("gla", include_str!("../kernels/gla.ptx")),
    ("norm", include_str!("../kernels/norm.ptx")),
    ("rope", include_str!("../kernels/rope.ptx")),
    ("swiglu", include_str!("../kernels/swiglu.ptx")),
    ("loss", include_str!("../kernels/loss.ptx")),
    ("adamw", include_str!("../kernels/adamw.ptx")),
    ("sample", include_str!("../kernels/sample.ptx")),
];

/// The text of module `name`.
pub fn text(name: &str) -> Result<&'static str> {
    match MODULES.iter().find(|(n, _)| *n == name) {
        Some((_, t)) => Ok(t),
        None => bail!(
            "ptx",
            "no shipped PTX module {name:?} (modules: {})",
            MODULES.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
        ),
    }
}

/// The `.entry` names of a module's text, in order.
pub fn entries(text: &str) -> Vec<&str> {
    text.lines()
        .filter_map(|l| l.strip_prefix(".visible .entry "))
        .map(|l| l.split('(').next().unwrap_or(l).trim())
        .collect()
}
