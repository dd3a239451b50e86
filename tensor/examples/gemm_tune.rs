//! Tunes the GEMM cache blocking on this CPU: single-thread f32 GFLOP/s of one micro-kernel
//! (`LAWCAT_SIMD` picks which, the widest present by default) over a grid of (KC, MC, NC),
//! against matrixmultiply, best thread CPU time of `TUNE_ROUNDS` (7) interleaved rounds, best
//! first. Put the winner in the kernel's `blocks` (`tensor/src/cpu/matmul/kernels.rs`), or
//! try it with `LAWCAT_GEMM_BLOCKS=kc,mc,nc`. `TUNE_TILES=1` compares the AVX-512 tile shapes
//! instead (`LAWCAT_AVX512_TILE`), `TUNE_IN_CACHE=m,n,k` measures one kernel in cache.
//!
//! ```text
//! MATMUL_NUM_THREADS=1 cargo run --release -p tensor --example gemm_tune -- \
//!     [size] [kc,kc,..] [mc,mc,..] [nc,..]
//! ```

/// Seconds of CPU time this thread has used (Linux): unlike wall time it does not count
/// the time other work on a shared machine holds the core, so tuning runs compare fairly.
#[cfg(target_os = "linux")]
fn cpu_seconds() -> f64 {
    #[repr(C)]
    struct Timespec {
        sec: i64,
        nsec: i64,
    }
    extern "C" {
        fn clock_gettime(clock: i32, ts: *mut Timespec) -> i32;
    }
    const CLOCK_THREAD_CPUTIME_ID: i32 = 3;
    let mut ts = Timespec { sec: 0, nsec: 0 };
    // SAFETY: clock_gettime writes one timespec (two 64-bit fields on x86-64 Linux) to `ts`.
    let rc = unsafe { clock_gettime(CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime");
    ts.sec as f64 + ts.nsec as f64 * 1e-9
}
#[cfg(not(target_os = "linux"))]
fn cpu_seconds() -> f64 {
    use std::time::Instant;
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_secs_f64()
}
use tensor::cpu::gemm::{f32_avx512_tiles, gemm_with, Blocks, GemmScalar, MatRef};
use tensor::{DType, Device, Rng, Tensor};

fn list(arg: Option<String>, default: &[usize]) -> Vec<usize> {
    arg.map(|s| s.split(',').map(|x| x.trim().parse().expect("comma-separated numbers")).collect())
        .unwrap_or_else(|| default.to_vec())
}

fn main() {
    let mut args = std::env::args().skip(1);
    if let Ok(shape) = std::env::var("TUNE_IN_CACHE") {
        in_cache(&shape);
        return;
    }
    if std::env::var("TUNE_TILES").is_ok() {
        tiles(args.next().map(|s| s.parse().expect("size")).unwrap_or(1024));
        return;
    }
    let n: usize = args.next().map(|s| s.parse().expect("size")).unwrap_or(1024);
    let kcs = list(args.next(), &[128, 192, 256, 320, 384]);
    let mcs = list(args.next(), &[96, 192, 288, 384, 480]);
    let ncs = list(args.next(), &[1024, 2048, 4096]);
    let mut kernel = f32::kernel();
    println!("{n}x{n}x{n}, one thread, {kernel:?}");
    let mut rng = Rng::new(1);
    let a = Tensor::randn([n, n], 1.0, DType::F32, &Device::Cpu, &mut rng)
        .unwrap()
        .to_vec::<f32>()
        .unwrap();
    let b = Tensor::randn([n, n], 1.0, DType::F32, &Device::Cpu, &mut rng)
        .unwrap()
        .to_vec::<f32>()
        .unwrap();
    let mut c = vec![0f32; n * n];
    // Every configuration (and the peer at its own blocking, single-threaded with
    // MATMUL_NUM_THREADS=1) runs once per round, rounds interleaved so all see the same
    // machine; each keeps its best time (the least disturbed on a shared machine).
    let mut configs: Vec<Option<Blocks>> = vec![None];
    for &kc in &kcs {
        for &mc in &mcs {
            for &nc in &ncs {
                configs.push(Some(Blocks { kc, mc, nc }));
            }
        }
    }
    let rounds: usize = std::env::var("TUNE_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(7);
    let mut best = vec![f64::INFINITY; configs.len()];
    for _ in 0..rounds {
        for (cfg, best) in configs.iter().zip(best.iter_mut()) {
            let t = cpu_seconds();
            match cfg {
                Some(blocks) => {
                    kernel.blocks = *blocks;
                    gemm_with(
                        &kernel,
                        n,
                        n,
                        n,
                        MatRef { data: &a, off: 0, rs: n, cs: 1 },
                        MatRef { data: &b, off: 0, rs: n, cs: 1 },
                        &mut c,
                        n,
                        false,
                    );
                }
                // SAFETY: a, b, c hold n x n row-major matrices.
                None => unsafe {
                    matrixmultiply::sgemm(
                        n,
                        n,
                        n,
                        1.0,
                        a.as_ptr(),
                        n as isize,
                        1,
                        b.as_ptr(),
                        n as isize,
                        1,
                        0.0,
                        c.as_mut_ptr(),
                        n as isize,
                        1,
                    )
                },
            }
            *best = best.min(cpu_seconds() - t);
        }
    }
    let gflops = |t: f64| 2.0 * (n as f64).powi(3) / t / 1e9;
    let mut results: Vec<(f64, Option<Blocks>)> =
        best.iter().map(|&t| gflops(t)).zip(configs).collect();
    results.sort_by(|x, y| y.0.partial_cmp(&x.0).unwrap());
    for (g, cfg) in &results {
        match cfg {
            Some(Blocks { kc, mc, nc }) => {
                println!("kc {kc:>4} mc {mc:>4} nc {nc:>5}: {g:>7.1} GFLOP/s")
            }
            None => println!("matrixmultiply:        {g:>7.1} GFLOP/s"),
        }
    }
}

/// `TUNE_IN_CACHE=m,n,k`: a product small enough to stay in L1/L2, repeated: the
/// micro-kernel's rate with packing and blocking nearly free.
fn in_cache(shape: &str) {
    let v: Vec<usize> = shape.split(',').map(|x| x.parse().expect("TUNE_IN_CACHE=m,n,k")).collect();
    let (m, n, k) = (v[0], v[1], v[2]);
    let kernel = f32::kernel();
    let mut rng = Rng::new(1);
    let a = Tensor::randn([m, k], 1.0, DType::F32, &Device::Cpu, &mut rng)
        .unwrap()
        .to_vec::<f32>()
        .unwrap();
    let b = Tensor::randn([k, n], 1.0, DType::F32, &Device::Cpu, &mut rng)
        .unwrap()
        .to_vec::<f32>()
        .unwrap();
    let mut c = vec![0f32; m * n];
    let reps = (2e8 / (2.0 * (m * n * k) as f64)).max(1.0) as usize;
    let mut best = f64::INFINITY;
    for _ in 0..20 {
        let t = cpu_seconds();
        for _ in 0..reps {
            gemm_with(
                &kernel,
                m,
                n,
                k,
                MatRef { data: &a, off: 0, rs: k, cs: 1 },
                MatRef { data: &b, off: 0, rs: n, cs: 1 },
                &mut c,
                n,
                false,
            );
        }
        best = best.min((cpu_seconds() - t) / reps as f64);
    }
    println!(
        "{m}x{k}x{n} in cache, {kernel:?}: {:.1} GFLOP/s",
        2.0 * (m * n * k) as f64 / best / 1e9
    );
}

/// `TUNE_TILES=1`: every AVX-512 tile shape (`LAWCAT_AVX512_TILE`) at its default blocking, on
/// an `n^3` product and on one that stays in L2 (144 x 256 x 960: whole tiles for every
/// shape but 14 rows), best thread CPU time of `TUNE_ROUNDS` interleaved rounds.
fn tiles(n: usize) {
    let kernels = f32_avx512_tiles();
    if kernels.is_empty() {
        println!("no AVX-512 on this CPU: nothing to compare");
        return;
    }
    let rounds: usize = std::env::var("TUNE_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(7);
    let mut rng = Rng::new(1);
    for (m, k, nn) in [(n, n, n), (144, 256, 960)] {
        let a = Tensor::randn([m, k], 1.0, DType::F32, &Device::Cpu, &mut rng)
            .unwrap()
            .to_vec::<f32>()
            .unwrap();
        let b = Tensor::randn([k, nn], 1.0, DType::F32, &Device::Cpu, &mut rng)
            .unwrap()
            .to_vec::<f32>()
            .unwrap();
        let mut c = vec![0f32; m * nn];
        let reps = (2e8 / (2.0 * (m * nn * k) as f64)).max(1.0) as usize;
        let mut best = vec![f64::INFINITY; kernels.len()];
        for _ in 0..rounds {
            for ((_, kernel), best) in kernels.iter().zip(best.iter_mut()) {
                let t = cpu_seconds();
                for _ in 0..reps {
                    gemm_with(
                        kernel,
                        m,
                        nn,
                        k,
                        MatRef { data: &a, off: 0, rs: k, cs: 1 },
                        MatRef { data: &b, off: 0, rs: nn, cs: 1 },
                        &mut c,
                        nn,
                        false,
                    );
                }
                *best = best.min((cpu_seconds() - t) / reps as f64);
            }
        }
        println!("{m}x{k}x{nn}, one thread:");
        for ((name, _), t) in kernels.iter().zip(&best) {
            println!(
                "  LAWCAT_AVX512_TILE={name:<8} {:>7.1} GFLOP/s",
                2.0 * (m * nn * k) as f64 / t / 1e9
            );
        }
    }
}
