//! `lawcat verify-kernels` as tests: every kernel case on the PTX interpreter (the exact PTX
//! the GPU loads, run and checked for races and bounds on the CPU), and on the GPU when one
//! is present (skipped, saying so, where there is none: CI).

mod common;

use lawcat::verify;
use std::collections::HashSet;
use tensor::Device;

/// Runs `n` instances of every case on `device` (a `cuda` or `interp` device, whose launches
/// are timed): every case passes, and every case launches kernels on the device (one that
/// launches nothing tests only the CPU: a broken case). Lists the shipped entries that no case
/// launched in this run without failing on them: a few glued dtype combinations are reached
/// only with more instances.
fn check(device: &Device, n: usize) {
    let rows = verify::run(device, n, 7, false, "");
    let table = verify::table_with_entries(device, &rows);
    eprintln!("{table}");
    assert!(rows.iter().all(|r| r.pass), "{table}");
    let idle: Vec<&str> = rows.iter().filter(|r| r.launches == 0).map(|r| r.kernel).collect();
    assert!(idle.is_empty(), "cases that launched no kernel on {device}: {idle:?}");
    let launched: HashSet<(&str, &str)> = rows
        .iter()
        .flat_map(|r| r.entries.iter().map(|e| (e.entry.module, e.entry.name)))
        .collect();
    let mut shipped = 0;
    let mut missed = vec![];
    for r in ptx::ops::REGISTRIES {
        for name in r.names() {
            shipped += 1;
            if !launched.contains(&(r.module, name.as_str())) {
                missed.push(format!("{}.{name}", r.module));
            }
        }
    }
    eprintln!(
        "{} of {shipped} shipped entries launched by the cases on {device}; not launched ({}):",
        shipped - missed.len(),
        missed.len()
    );
    for m in &missed {
        eprintln!("    {m}");
    }
}

#[test]
fn every_kernel_matches_the_cpu_on_the_interpreter() {
    check(&ptx::open("interp").unwrap(), 3);
}

#[test]
fn every_kernel_matches_the_cpu_on_the_gpu() {
    match ptx::open("cuda") {
        Ok(d) => check(&d, 10),
        Err(e) => eprintln!("skipped: no GPU here ({e})"),
    }
}

/// A model on the interpreter: the teacher's forward, every op of it a shipped kernel (the
/// embedding lookup, casts, views, matmuls, RMSNorm, RoPE, attention, SwiGLU), gives the CPU's
/// logits.
#[test]
fn a_model_forward_on_the_interpreter_matches_the_cpu() {
    let dev = ptx::open("interp").unwrap();
    let teacher = common::teacher(2, 5);
    let ids = common::ids(1, 5, 3);
    let want =
        autograd::no_grad(|| teacher.forward(&ids, None, false)).unwrap().logits.value().clone();
    teacher.to_device(&dev).unwrap();
    let out =
        autograd::no_grad(|| teacher.forward(&ids.to_device(&dev).unwrap(), None, false)).unwrap();
    let got = out.logits.value().to_device(&tensor::Device::Cpu).unwrap();
    tensor::tolerance::assert_tensors_close(
        "logits on interp",
        &got,
        &want,
        tensor::tolerance::Tol::relative(1e-4),
    );
}
