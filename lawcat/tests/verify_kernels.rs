//! `lawcat verify-kernels` as tests: every kernel case on the PTX interpreter (the exact PTX
//! the GPU loads, run and checked for races and bounds on the CPU), and on the GPU when one
//! is present (skipped, saying so, where there is none: CI).

use lawcat::verify;
use tensor::Device;

fn check(device: &Device, n: usize) {
    let rows = verify::run(device, n, 7, false, "");
    let table = verify::table(device, &rows);
    eprintln!("{table}");
    assert!(rows.iter().all(|r| r.pass), "{table}");
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
