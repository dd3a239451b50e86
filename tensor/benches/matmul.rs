//! `cargo bench -p tensor --bench matmul`: f32 matmul GFLOP/s of our packed GEMM against the
//! `matrixmultiply` crate (the well-known pure-Rust sgemm, with its own threading), measured
//! in the same run, at 1 and 2 threads. Each thread count runs in a child process, because
//! matrixmultiply reads its thread count (MATMUL_NUM_THREADS) once per process.
//!
//! It prints the SIMD path our GEMM takes (`LAWCAT_SIMD=avx2|portable` forces a narrower one)
//! and the FMA peak of the widest SIMD present, measured by `tensor::cpu::fma_peak_gflops`.
//! `LAWCAT_BENCH_SIZES=1024,2048` limits the (square) sizes, `LAWCAT_BENCH_THREAD_COUNTS=2`
//! the thread counts; `scripts/peer_matmul.py` times PyTorch at the same sizes and thread
//! counts.

use std::process::Command;
use std::time::{Duration, Instant};
use tensor::cpu::gemm::{blocks_for, GemmScalar};
use tensor::cpu::Simd;
use tensor::{DType, Device, Rng, Tensor};

const SIZES: &[(usize, usize, usize)] =
    &[(256, 256, 256), (512, 512, 512), (1024, 1024, 1024), (2048, 2048, 2048), (2048, 2048, 8192)];

/// Median and best seconds of one call of `ours` and of `peer`: ((ours median, ours best),
/// (peer median, peer best)). They run in alternating bursts of about 20 ms (so both see the
/// same machine noise, and each keeps its threads and caches warm as in a loop of its own, as
/// PyTorch's peer script times it), until about `budget` has passed, at least 5 bursts each
/// after a warm-up; the first call of a burst is not counted. On a machine shared with other
/// work the best call is the least disturbed one.
fn time_pair(
    budget: Duration,
    mut ours: impl FnMut(),
    mut peer: impl FnMut(),
) -> ((f64, f64), (f64, f64)) {
    let t = Instant::now();
    ours();
    peer();
    let per_burst = ((0.02 / (t.elapsed().as_secs_f64() / 2.0)) as usize).clamp(2, 50);
    let (mut to, mut tp) = (vec![], vec![]);
    let start = Instant::now();
    let mut bursts = 0;
    while bursts < 5 || (start.elapsed() < budget && to.len() < 500) {
        for (f, times) in
            [(&mut ours as &mut dyn FnMut(), &mut to), (&mut peer as &mut dyn FnMut(), &mut tp)]
        {
            for i in 0..per_burst {
                let t = Instant::now();
                f();
                if i > 0 {
                    times.push(t.elapsed().as_secs_f64());
                }
            }
        }
        bursts += 1;
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        (v[v.len() / 2], v[0])
    };
    (median(&mut to), median(&mut tp))
}

fn child(threads: usize) {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
    let peak = tensor::cpu::fma_peak_gflops(threads);
    let lanes = Simd::widest().f32_lanes();
    println!(
        "{:>16} {:>7} {:>10.1} (FMA peak: every thread running {lanes}-wide FMAs, nothing else)",
        "peak", threads, peak
    );
    let pct = |g: f64| format!("{:>5.0}%", 100.0 * g / peak);
    let mut rng = Rng::new(1);
    let sizes: Vec<(usize, usize, usize)> = match std::env::var("LAWCAT_BENCH_SIZES") {
        Ok(v) => v
            .split(',')
            .map(|x| x.trim().parse::<usize>().expect("LAWCAT_BENCH_SIZES: comma-separated sizes"))
            .map(|n| (n, n, n))
            .collect(),
        Err(_) => SIZES.to_vec(),
    };
    for &(m, k, n) in &sizes {
        let a = Tensor::randn([m, k], 1.0, DType::F32, &Device::Cpu, &mut rng).unwrap();
        let b = Tensor::randn([k, n], 1.0, DType::F32, &Device::Cpu, &mut rng).unwrap();
        let flops = 2.0 * (m * n * k) as f64;
        let budget = Duration::from_millis(3000);
        let (av, bv) = (a.to_vec::<f32>().unwrap(), b.to_vec::<f32>().unwrap());
        let mut c = vec![0f32; m * n];
        // Ours from a thread of the pool, as `lawcat` runs its commands (a call from outside
        // would add two thread hand-offs per product).
        let (ours, peer) = pool.install(|| {
            time_pair(
                budget,
                || drop(a.matmul(&b).unwrap()),
                || unsafe {
                    matrixmultiply::sgemm(
                        m,
                        k,
                        n,
                        1.0,
                        av.as_ptr(),
                        k as isize,
                        1,
                        bv.as_ptr(),
                        n as isize,
                        1,
                        0.0,
                        c.as_mut_ptr(),
                        n as isize,
                        1,
                    )
                },
            )
        });
        // Same answer, or the timing means nothing.
        let ours_c = a.matmul(&b).unwrap().to_vec::<f32>().unwrap();
        let worst = ours_c.iter().zip(&c).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
        assert!(worst < 1e-2 * (k as f32).sqrt(), "results differ by {worst}");
        let (g_ours, g_peer) = (flops / ours.0 / 1e9, flops / peer.0 / 1e9);
        let (b_ours, b_peer) = (flops / ours.1 / 1e9, flops / peer.1 / 1e9);
        println!(
            "{:>16} {:>7} {:>10.1} {:>10.1} {:>7.2}x {} {} | {:>8.1} {:>8.1} {:>7.2}x",
            format!("{m}x{k}x{n}"),
            threads,
            g_ours,
            g_peer,
            g_ours / g_peer,
            pct(g_ours),
            pct(g_peer),
            b_ours,
            b_peer,
            b_ours / b_peer
        );
    }
}

fn main() {
    if let Ok(t) = std::env::var("LAWCAT_BENCH_THREADS") {
        child(t.parse().expect("thread count"));
        return;
    }
    let kernel = <f32 as GemmScalar>::kernel();
    let (mr, nr) = kernel.tile();
    let present: Vec<&str> = Simd::present().iter().map(|s| s.name()).collect();
    println!(
        "f32 matmul, GFLOP/s (median of runs, then best run); m x k x n; SIMD path: {} ({mr}x{nr} \
         tile, blocks {:?}; present: {}); peer: matrixmultiply 0.3 (threading, its own kernel \
         choice)",
        tensor::cpu::simd_path(),
        blocks_for(&kernel),
        present.join(", ")
    );
    println!(
        "{:>16} {:>7} {:>10} {:>10} {:>8} {:>6} {:>6} | {:>8} {:>8} {:>8}",
        "m x k x n", "threads", "ours", "peer", "ratio", "ours%", "peer%", "best", "peer", "ratio"
    );
    let exe = std::env::current_exe().unwrap();
    let threads_list: Vec<usize> = match std::env::var("LAWCAT_BENCH_THREAD_COUNTS") {
        Ok(v) => v
            .split(',')
            .map(|x| x.trim().parse().expect("LAWCAT_BENCH_THREAD_COUNTS: comma-separated counts"))
            .collect(),
        Err(_) => vec![1, 2],
    };
    for threads in threads_list {
        let status = Command::new(&exe)
            .env("LAWCAT_BENCH_THREADS", threads.to_string())
            .env("MATMUL_NUM_THREADS", threads.to_string())
            .status()
            .expect("spawn benchmark child");
        assert!(status.success());
    }
}
