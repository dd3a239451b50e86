//! `cargo bench -p tensor --bench matmul`: f32 matmul GFLOP/s of our packed GEMM against the
//! `matrixmultiply` crate (the well-known pure-Rust sgemm, with its own threading), measured
//! in the same run, at 1 and 2 threads. Each thread count runs in a child process, because
//! matrixmultiply reads its thread count (MATMUL_NUM_THREADS) once per process.

use std::process::Command;
use std::time::{Duration, Instant};
use tensor::{DType, Device, Rng, Tensor};

const SIZES: &[(usize, usize, usize)] = &[(256, 256, 256), (512, 512, 512), (1024, 1024, 1024), (2048, 2048, 2048), (2048, 2048, 8192)];

/// Median seconds of `ours` and of `peer`, run alternately (so both see the same machine
/// noise) until about `budget` has passed, at least 5 runs each after a warm-up.
fn time_pair(budget: Duration, mut ours: impl FnMut(), mut peer: impl FnMut()) -> (f64, f64) {
    ours();
    peer();
    let (mut to, mut tp) = (vec![], vec![]);
    let start = Instant::now();
    while to.len() < 5 || (start.elapsed() < budget && to.len() < 50) {
        let t = Instant::now();
        ours();
        to.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        peer();
        tp.push(t.elapsed().as_secs_f64());
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        v[v.len() / 2]
    };
    (median(&mut to), median(&mut tp))
}

/// The machine's f32 FMA ceiling on one core, GFLOP/s: 12 independent 8-wide FMA chains for
/// `secs` (what a perfect AVX2 micro-kernel would sustain with every operand in registers).
#[cfg(target_arch = "x86_64")]
fn fma_peak_one(secs: f64) -> f64 {
    use std::arch::x86_64::*;
    #[target_feature(enable = "avx2,fma")]
    unsafe fn chains(n: u64) -> f32 {
        let mut r = [_mm256_set1_ps(1.0); 12];
        let (x, y) = (_mm256_set1_ps(std::hint::black_box(0.999_999)), _mm256_set1_ps(1e-6));
        for _ in 0..n {
            for v in r.iter_mut() {
                *v = _mm256_fmadd_ps(*v, x, y);
            }
        }
        r.iter().map(|v| _mm256_cvtss_f32(*v)).sum()
    }
    let n = 1_000_000u64;
    let start = Instant::now();
    let mut rounds = 0u64;
    while start.elapsed().as_secs_f64() < secs {
        // SAFETY: called only where AVX2 and FMA were detected.
        std::hint::black_box(unsafe { chains(std::hint::black_box(n)) });
        rounds += 1;
    }
    (rounds * n * 12 * 16) as f64 / start.elapsed().as_secs_f64() / 1e9
}

/// The FMA ceiling with every thread of `pool` running at once (0 without AVX2+FMA).
fn fma_peak(pool: &rayon::ThreadPool) -> f64 {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
        return pool.broadcast(|_| fma_peak_one(0.5)).iter().sum();
    }
    let _ = pool;
    0.0
}

fn child(threads: usize) {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
    let peak = fma_peak(&pool);
    if peak > 0.0 {
        println!("{:>16} {:>7} {:>10.1} (FMA peak: every thread running 8-wide FMAs, nothing else)", "peak", threads, peak);
    }
    let pct = |g: f64| if peak > 0.0 { format!("{:>5.0}%", 100.0 * g / peak) } else { "     -".into() };
    let mut rng = Rng::new(1);
    for &(m, k, n) in SIZES {
        let a = Tensor::randn([m, k], 1.0, DType::F32, &Device::Cpu, &mut rng).unwrap();
        let b = Tensor::randn([k, n], 1.0, DType::F32, &Device::Cpu, &mut rng).unwrap();
        let flops = 2.0 * (m * n * k) as f64;
        let budget = Duration::from_millis(3000);
        let (av, bv) = (a.to_vec::<f32>().unwrap(), b.to_vec::<f32>().unwrap());
        let mut c = vec![0f32; m * n];
        let (ours, peer) = time_pair(
            budget,
            || pool.install(|| drop(a.matmul(&b).unwrap())),
            || unsafe {
                matrixmultiply::sgemm(m, k, n, 1.0, av.as_ptr(), k as isize, 1, bv.as_ptr(), n as isize, 1, 0.0, c.as_mut_ptr(), n as isize, 1)
            },
        );
        // Same answer, or the timing means nothing.
        let ours_c = a.matmul(&b).unwrap().to_vec::<f32>().unwrap();
        let worst = ours_c.iter().zip(&c).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
        assert!(worst < 1e-2 * (k as f32).sqrt(), "results differ by {worst}");
        let (g_ours, g_peer) = (flops / ours / 1e9, flops / peer / 1e9);
        println!(
            "{:>16} {:>7} {:>10.1} {:>10.1} {:>7.2}x {} {}",
            format!("{m}x{k}x{n}"),
            threads,
            g_ours,
            g_peer,
            g_ours / g_peer,
            pct(g_ours),
            pct(g_peer)
        );
    }
}

fn main() {
    if let Ok(t) = std::env::var("LAWCAT_BENCH_THREADS") {
        child(t.parse().expect("thread count"));
        return;
    }
    let kernel = if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") { "avx2+fma" } else { "portable" };
    println!("f32 matmul, GFLOP/s (median); m x k x n; our kernel: {kernel}; peer: matrixmultiply 0.3 (threading)");
    println!("{:>16} {:>7} {:>10} {:>10} {:>8} {:>6} {:>6}", "m x k x n", "threads", "ours", "peer", "ratio", "ours%", "peer%");
    let exe = std::env::current_exe().unwrap();
    for threads in [1, 2] {
        let status = Command::new(&exe)
            .env("LAWCAT_BENCH_THREADS", threads.to_string())
            .env("MATMUL_NUM_THREADS", threads.to_string())
            .status()
            .expect("spawn benchmark child");
        assert!(status.success());
    }
}
