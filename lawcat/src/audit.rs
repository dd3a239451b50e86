//! Audits: run our implementation on the inputs of a reference dump made by another
//! implementation and compare every tensor it holds, printing a table of errors.

use std::fmt::Write;
use tensor::tolerance::{compare_tensors, Comparison, Tol};
use tensor::{Result, Tensor};

/// One compared tensor.
pub struct Row {
    pub name: String,
    pub shape: Vec<usize>,
    pub cmp: Comparison,
    pub bound: f64,
}

/// A finished audit: every row, the tensors the reference should have held but did not,
/// and whether all passed.
pub struct Report {
    pub title: String,
    pub rows: Vec<Row>,
    /// Expected tensors the reference lacks (not compared).
    pub missing: Vec<String>,
    /// Missing tensors are listed but do not fail the audit.
    pub allow_missing: bool,
}

impl Report {
    pub fn new(title: impl Into<String>) -> Report {
        Report { title: title.into(), rows: vec![], missing: vec![], allow_missing: false }
    }
    /// Records that the reference lacks `name`, which it should hold.
    pub fn missing(&mut self, name: &str) {
        self.missing.push(name.to_string());
    }
    /// Compares `got` with `want` under a relative bound (max abs error over the largest
    /// reference value, and relative RMS error, both below `rel`).
    pub fn check(&mut self, name: &str, got: &Tensor, want: &Tensor, rel: f64) -> Result<()> {
        let cmp = compare_tensors(got, want, Tol::relative(rel))?;
        self.rows.push(Row {
            name: name.to_string(),
            shape: want.dims().to_vec(),
            cmp,
            bound: rel,
        });
        Ok(())
    }
    pub fn passed(&self) -> bool {
        !self.rows.is_empty()
            && self.rows.iter().all(|r| r.cmp.pass)
            && (self.missing.is_empty() || self.allow_missing)
    }
    pub fn render(&self) -> String {
        let mut s = String::new();
        let w = self.rows.iter().map(|r| r.name.len()).max().unwrap_or(6).max(6);
        let _ = writeln!(s, "{}", self.title);
        let _ = writeln!(
            s,
            "{:<w$}  {:<16} {:>11} {:>11} {:>11} {:>9}  result",
            "tensor", "shape", "max abs", "max rel", "rel rms", "bound"
        );
        for r in &self.rows {
            let _ = writeln!(
                s,
                "{:<w$}  {:<16} {:>11.3e} {:>11.3e} {:>11.3e} {:>9.0e}  {}",
                r.name,
                format!("{:?}", r.shape),
                r.cmp.max_abs,
                r.cmp.max_rel,
                r.cmp.rel_rms,
                r.bound,
                if r.cmp.pass { "pass" } else { "FAIL" }
            );
        }
        for m in &self.missing {
            let _ = writeln!(
                s,
                "{m:<w$}  {:<16} {:>11} {:>11} {:>11} {:>9}  {}",
                "-",
                "-",
                "-",
                "-",
                "-",
                if self.allow_missing { "not compared" } else { "MISSING" }
            );
        }
        let failed = self.rows.iter().filter(|r| !r.cmp.pass).count();
        let _ = write!(s, "{} tensors compared, {} failed", self.rows.len(), failed);
        if !self.missing.is_empty() {
            let _ = write!(
                s,
                ", {} missing from the reference ({})",
                self.missing.len(),
                if self.allow_missing {
                    "allowed by --allow-missing"
                } else {
                    "a failure; --allow-missing compares only what is there"
                }
            );
        }
        let _ = writeln!(s);
        s
    }
}
