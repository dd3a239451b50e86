//! Evaluation output: a terminal table (accuracy per length, models side by side, and the
//! per-depth grid), JSON, and an SVG heatmap of accuracy by length and depth.

use super::{EvalSpec, ModelResult};
use std::fmt::Write;

pub fn table(spec: &EvalSpec, results: &[ModelResult]) -> String {
    let mut s = String::new();
    let _ =
        writeln!(s, "{} accuracy ({} examples per cell, greedy)", spec.task.name(), spec.samples);
    let _ = write!(s, "{:>10}", "length");
    for r in results {
        let _ = write!(s, " {:>12}", r.name);
    }
    let _ = writeln!(s);
    for &len in &spec.lengths {
        let _ = write!(s, "{len:>10}");
        for r in results {
            let _ = write!(s, " {:>12.2}", r.accuracy_at(len));
        }
        let _ = writeln!(s);
    }
    if spec.task.has_depth() && spec.depths.len() > 1 {
        for r in results {
            let _ = writeln!(s, "\n{} by depth:", r.name);
            let _ = write!(s, "{:>10}", "length");
            for d in &spec.depths {
                let _ = write!(s, " {:>6.2}", d);
            }
            let _ = writeln!(s);
            for &len in &spec.lengths {
                let _ = write!(s, "{len:>10}");
                for c in r.cells.iter().filter(|c| c.length == len) {
                    let _ = write!(s, " {:>6.2}", c.accuracy());
                }
                let _ = writeln!(s);
            }
        }
    }
    s
}

pub fn json(spec: &EvalSpec, results: &[ModelResult]) -> serde_json::Value {
    serde_json::json!({
        "task": spec.task.name(),
        "lengths": spec.lengths,
        "depths": spec.depths,
        "samples": spec.samples,
        "seed": spec.seed,
        "models": results,
    })
}

/// Red (0) to green (1).
fn color(acc: f64) -> String {
    let a = acc.clamp(0.0, 1.0);
    let r = (220.0 * (1.0 - a) + 30.0 * a) as u8;
    let g = (60.0 * (1.0 - a) + 170.0 * a) as u8;
    let b = (60.0 * (1.0 - a) + 80.0 * a) as u8;
    format!("#{r:02x}{g:02x}{b:02x}")
}

/// One heatmap per model: rows are depths, columns are lengths, cells show accuracy.
pub fn svg(spec: &EvalSpec, results: &[ModelResult]) -> String {
    let depths: Vec<Option<f64>> = if spec.task.has_depth() {
        spec.depths.iter().map(|&d| Some(d)).collect()
    } else {
        vec![None]
    };
    let (cw, ch, left, top, gap) = (70.0, 28.0, 70.0, 50.0, 40.0);
    let panel_w = left + cw * spec.lengths.len() as f64;
    let width = (panel_w + gap) * results.len() as f64 + 20.0;
    let height = top + ch * depths.len() as f64 + 50.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         font-family=\"sans-serif\" font-size=\"12\">"
    );
    let _ = writeln!(
        s,
        "<text x=\"10\" y=\"18\" font-size=\"14\">{} accuracy by context length (columns) and \
         needle depth (rows), {} examples per cell</text>",
        spec.task.name(),
        spec.samples
    );
    for (mi, r) in results.iter().enumerate() {
        let x0 = mi as f64 * (panel_w + gap) + 10.0;
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}" font-weight="bold">{}</text>"#,
            x0 + left,
            top - 22.0,
            r.name
        );
        for (li, len) in spec.lengths.iter().enumerate() {
            let _ = writeln!(
                s,
                r#"<text x="{}" y="{}" text-anchor="middle">{len}</text>"#,
                x0 + left + cw * (li as f64 + 0.5),
                top - 6.0
            );
        }
        for (di, d) in depths.iter().enumerate() {
            let y = top + ch * di as f64;
            let label = d.map_or("all".to_string(), |d| format!("{d:.2}"));
            let _ = writeln!(
                s,
                r#"<text x="{}" y="{}" text-anchor="end">{label}</text>"#,
                x0 + left - 6.0,
                y + ch * 0.65
            );
            for (li, len) in spec.lengths.iter().enumerate() {
                let acc = r
                    .cells
                    .iter()
                    .find(|c| c.length == *len && c.depth == *d)
                    .map_or(0.0, |c| c.accuracy());
                let x = x0 + left + cw * li as f64;
                let _ = writeln!(
                    s,
                    "<rect x=\"{x}\" y=\"{y}\" width=\"{cw}\" height=\"{ch}\" fill=\"{}\" \
                     stroke=\"white\"/>",
                    color(acc)
                );
                let _ = writeln!(
                    s,
                    r#"<text x="{}" y="{}" text-anchor="middle" fill="white">{:.2}</text>"#,
                    x + cw / 2.0,
                    y + ch * 0.65,
                    acc
                );
            }
        }
    }
    let _ = writeln!(s, "</svg>");
    s
}
