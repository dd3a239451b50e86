//! Interpreter speed: instructions per second on a representative kernel (the tiled SGEMM
//! in `sgemm_tiled.ptx`: global loads, shared stores and loads, barriers, FMAs, branches),
//! with the checker on and off. Also checks the result against a CPU matmul, so the number
//! is for a kernel that computes the right thing.
//!
//!     cargo bench -p ptx-interp --bench interp

use ptx_interp::{Arg, Machine, Module};
use std::time::Instant;

fn main() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/sgemm_tiled.ptx");
    let module = Module::parse(&std::fs::read_to_string(path).unwrap(), path).unwrap();
    let n = 128u32;
    let nn = (n * n) as usize;
    let a: Vec<f32> = (0..nn).map(|i| ((i * 7) % 13) as f32 - 6.0).collect();
    let b: Vec<f32> = (0..nn).map(|i| ((i * 5) % 11) as f32 - 5.0).collect();
    let mut want = vec![0f32; nn];
    for i in 0..n as usize {
        for k in 0..n as usize {
            for j in 0..n as usize {
                want[i * n as usize + j] += a[i * n as usize + k] * b[k * n as usize + j];
            }
        }
    }
    let bytes = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    for checking in [true, false] {
        let mut m = Machine::new(1);
        m.set_checking(checking);
        let (ad, bd, cd) = (
            m.alloc(4 * nn as u64).unwrap(),
            m.alloc(4 * nn as u64).unwrap(),
            m.alloc(4 * nn as u64).unwrap(),
        );
        m.write(ad, &bytes(&a)).unwrap();
        m.write(bd, &bytes(&b)).unwrap();
        let grid = [n / 16, n / 16, 1];
        let t = Instant::now();
        let report = m
            .launch(
                &module,
                "sgemm_tiled",
                grid,
                [16, 16, 1],
                0,
                &[Arg::Ptr(cd), Arg::Ptr(ad), Arg::Ptr(bd), Arg::U32(n)],
            )
            .unwrap();
        let secs = t.elapsed().as_secs_f64();
        assert!(report.is_clean(), "{:?}", report.problems);
        let got: Vec<f32> = m
            .read(cd, 4 * nn as u64)
            .unwrap()
            .chunks(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        assert_eq!(got, want, "the interpreted SGEMM must equal the CPU one (integers: exact)");
        println!(
            "sgemm_tiled n={n} checker {:<3}: {:>10} instructions in {:.3} s = {:.1} M \
                instructions/s",
            if checking { "on" } else { "off" },
            report.instructions,
            secs,
            report.instructions as f64 / secs / 1e6
        );
    }
}
