//! The PTX we ship: one module per kernel family, the exact text the GPU and the interpreter
//! load, generated from `ptx/kernels/NAME.cu` by `scripts/gen-ptx.sh` and committed as
//! `ptx/kernels/NAME.ptx` (a test regenerates them and fails on any difference).
//! `lawcat ptx list` and `lawcat ptx dump NAME` print them.
//!
//! Each module's entries are launched through its registry ([`Kernels`], one in the launcher
//! file of the family, `crate::ops::*::KERNELS`): a launch names an [`Entry`], which only a
//! registry makes, and `ops::tests` checks that every registry lists exactly the entries of
//! its module's text, so no launcher can name a missing entry and no shipped entry goes
//! unlaunched.

use std::collections::HashMap;
use std::sync::OnceLock;
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
    ("feature_map", include_str!("../kernels/feature_map.ptx")),
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

/// A kernel entry of a shipped module, as a launch names it. Only [`Kernels::entry`] makes
/// one, so every launched entry is in its module's registry and its module's text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Entry {
    pub module: &'static str,
    pub name: &'static str,
}

impl std::fmt::Display for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.module, self.name)
    }
}

/// The registry of one module: every entry its launcher file may launch, listed by a
/// function of that file (glued names such as `cast_{from}_{to}` are listed by the same
/// naming function the launcher calls).
pub struct Kernels {
    pub module: &'static str,
    names: fn() -> Vec<String>,
    table: OnceLock<HashMap<String, Entry>>,
}

impl Kernels {
    pub const fn new(module: &'static str, names: fn() -> Vec<String>) -> Kernels {
        Kernels { module, names, table: OnceLock::new() }
    }
    /// Every entry name the launchers may launch, in the registry's order.
    pub fn names(&self) -> Vec<String> {
        (self.names)()
    }
    /// The entry `name`: an error naming it when the registry does not list it or the
    /// module's text lacks it (a test keeps both from happening).
    pub fn entry(&self, name: &str) -> Result<Entry> {
        let table = self.table.get_or_init(|| {
            let shipped = text(self.module).map(entries).unwrap_or_default();
            self.names()
                .into_iter()
                .filter_map(|n| {
                    let e = shipped.iter().find(|s| **s == n)?;
                    Some((n, Entry { module: self.module, name: e }))
                })
                .collect()
        });
        match table.get(name) {
            Some(e) => Ok(*e),
            None => bail!(
                "ptx",
                "{}.{name}: not an entry of the module's registry and text (ops::tests checks \
                 them against each other)",
                self.module
            ),
        }
    }
}
