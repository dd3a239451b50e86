//! Which SIMD instruction set the CPU kernels use, chosen once per process at run time
//! (`is_x86_feature_detected!`; the binary is built for plain x86-64 and runs everywhere),
//! and a probe of the f32 FMA ceiling of this machine.
//!
//! `LAWCAT_SIMD=avx512|avx2|portable` caps the level, so a narrower path can be tested and
//! timed on a wider machine; `LAWCAT_PORTABLE_MATMUL=1` is the older spelling of
//! `LAWCAT_SIMD=portable`.

use std::sync::OnceLock;
use std::time::Instant;

/// A SIMD level, narrowest first. Each x86 level implies the ones below it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Simd {
    /// Plain Rust loops; the compiler vectorizes them for the build target (SSE2 on x86-64).
    Portable,
    /// 256-bit AVX2 with FMA: 8 f32 lanes.
    Avx2,
    /// 512-bit AVX-512F (plus AVX2 and FMA, which every AVX-512 CPU has): 16 f32 lanes.
    Avx512,
}

impl Simd {
    /// Every level, narrowest first.
    pub const ALL: [Simd; 3] = [Simd::Portable, Simd::Avx2, Simd::Avx512];

    /// The name `LAWCAT_SIMD` takes and the benchmarks print.
    pub fn name(self) -> &'static str {
        match self {
            Simd::Portable => "portable",
            Simd::Avx2 => "avx2",
            Simd::Avx512 => "avx512",
        }
    }

    /// The level a name stands for (`avx2+fma` and `avx512f` are accepted too).
    pub fn parse(s: &str) -> Option<Simd> {
        match s.trim().to_ascii_lowercase().as_str() {
            "portable" | "scalar" | "none" => Some(Simd::Portable),
            "avx2" | "avx2+fma" | "fma" => Some(Simd::Avx2),
            "avx512" | "avx512f" | "avx-512" => Some(Simd::Avx512),
            _ => None,
        }
    }

    /// Whether this CPU runs the level's instructions.
    pub fn is_present(self) -> bool {
        match self {
            Simd::Portable => true,
            #[cfg(target_arch = "x86_64")]
            Simd::Avx2 => {
                std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
            }
            #[cfg(target_arch = "x86_64")]
            Simd::Avx512 => Simd::Avx2.is_present() && std::is_x86_feature_detected!("avx512f"),
            #[cfg(not(target_arch = "x86_64"))]
            Simd::Avx2 | Simd::Avx512 => false,
        }
    }

    /// The levels this CPU runs, narrowest first (always starts with `Portable`).
    pub fn present() -> Vec<Simd> {
        Simd::ALL.into_iter().filter(|s| s.is_present()).collect()
    }

    /// The widest level this CPU runs.
    pub fn widest() -> Simd {
        *Simd::present().last().expect("Portable is always present")
    }

    /// f32 lanes per vector register (1 for the portable level, whose width the compiler picks).
    pub fn f32_lanes(self) -> usize {
        match self {
            Simd::Portable => 1,
            Simd::Avx2 => 8,
            Simd::Avx512 => 16,
        }
    }
}

impl std::fmt::Display for Simd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The level the CPU kernels use in this process: the widest present, capped by
/// `LAWCAT_SIMD` (or `LAWCAT_PORTABLE_MATMUL=1`). A level the CPU lacks falls back to the
/// widest present below it; an unknown name is ignored. Both say so once on stderr.
pub fn selected() -> Simd {
    static S: OnceLock<Simd> = OnceLock::new();
    *S.get_or_init(|| {
        let widest = Simd::widest();
        if std::env::var_os("LAWCAT_PORTABLE_MATMUL").is_some_and(|v| v != "0") {
            return Simd::Portable;
        }
        let Ok(want) = std::env::var("LAWCAT_SIMD") else { return widest };
        match Simd::parse(&want) {
            Some(cap) if cap <= widest => cap,
            Some(cap) => {
                eprintln!("LAWCAT_SIMD={want}: this CPU lacks {cap}; using {widest}");
                widest
            }
            None => {
                eprintln!("LAWCAT_SIMD={want}: not one of avx512, avx2, portable; using {widest}");
                widest
            }
        }
    })
}

/// The name of the SIMD path the CPU kernels (the GEMM first of all) take in this process:
/// `"avx512"`, `"avx2"` or `"portable"`.
pub fn simd_path() -> &'static str {
    selected().name()
}

/// The f32 multiply-add ceiling of `threads` cores, GFLOP/s: every thread of a fresh pool of
/// `threads` runs independent FMA chains of the widest SIMD present, operands in registers,
/// for about half a second, all at once; each thread's rate is its best ~1 ms window (on a
/// machine shared with other work the best window is the undisturbed rate), and the rates
/// are summed. It is what a perfect GEMM micro-kernel could sustain, the yardstick for the
/// benchmarks' "% of peak". (With more threads than cores it measures the cores shared.)
pub fn fma_peak_gflops(threads: usize) -> f64 {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .build()
        .expect("build a thread pool for the FMA probe");
    let simd = Simd::widest();
    pool.broadcast(|_| fma_peak_one(simd, 0.5)).iter().sum()
}

/// Independent accumulator chains in the probe. An FMA unit takes a new FMA every cycle but
/// waits latency cycles for its own result, so saturating a core takes latency x FMAs per
/// cycle chains: 4 x 2 = 8 for 256-bit FMAs on recent Intel and AMD cores, 4 x 2 = 8 for
/// 512-bit ones on cores with two 512-bit units, 4 x 1 on Zen 4 (it splits a 512-bit FMA in
/// two 256-bit halves: 16-wide peak = 8-wide peak there). Measured on the project's Zen 4:
/// 4 ymm chains reach half the 8-wide rate, 8 and 12 the full one; 4 to 16 zmm chains all
/// reach the same 32 flops/cycle. 12 ymm chains leave margin and, with the two constants,
/// fit the 16 ymm registers (16 chains spill); 16 zmm chains fit the 32 zmm registers.
#[cfg(target_arch = "x86_64")]
const CHAINS_256: usize = 12;
#[cfg(target_arch = "x86_64")]
const CHAINS_512: usize = 16;

/// The probe on the calling thread: GFLOP/s of `simd`'s widest FMAs, the best of windows of
/// about 1 ms over about `secs`.
fn fma_peak_one(simd: Simd, secs: f64) -> f64 {
    // (flops per round, function)
    let (flops, run): (u64, fn(u64) -> f32) = match simd {
        #[cfg(target_arch = "x86_64")]
        Simd::Avx512 => ((CHAINS_512 * 16 * 2) as u64, |n| {
            // SAFETY: chosen only where `Simd::Avx512.is_present()`.
            unsafe { chains_avx512(n) }
        }),
        #[cfg(target_arch = "x86_64")]
        Simd::Avx2 => ((CHAINS_256 * 8 * 2) as u64, |n| {
            // SAFETY: chosen only where `Simd::Avx2.is_present()`.
            unsafe { chains_avx2(n) }
        }),
        #[cfg(not(target_arch = "x86_64"))]
        Simd::Avx2 | Simd::Avx512 => unreachable!("x86 levels are never present elsewhere"),
        Simd::Portable => ((PORTABLE_CHAINS * 8 * 2) as u64, chains_portable),
    };
    // Size a window to about 1 ms (warming up the clock on the way).
    let mut rounds = 1_000u64;
    loop {
        let t = Instant::now();
        std::hint::black_box(run(std::hint::black_box(rounds)));
        if t.elapsed().as_secs_f64() > 1e-3 || rounds > 1 << 40 {
            break;
        }
        rounds *= 2;
    }
    let start = Instant::now();
    let mut best = 0f64;
    while start.elapsed().as_secs_f64() < secs {
        let t = Instant::now();
        std::hint::black_box(run(std::hint::black_box(rounds)));
        best = best.max((rounds * flops) as f64 / t.elapsed().as_secs_f64() / 1e9);
    }
    best
}

/// `n` rounds of `CHAINS_512` independent 16-wide FMA chains.
///
/// # Safety
/// The CPU must support AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn chains_avx512(n: u64) -> f32 {
    use std::arch::x86_64::*;
    let mut r = [_mm512_set1_ps(1.0); CHAINS_512];
    let (x, y) = (_mm512_set1_ps(std::hint::black_box(0.999_999)), _mm512_set1_ps(1e-6));
    for _ in 0..n {
        for v in r.iter_mut() {
            *v = _mm512_fmadd_ps(*v, x, y);
        }
    }
    r.iter().map(|v| _mm512_reduce_add_ps(*v)).sum()
}

/// `n` rounds of `CHAINS_256` independent 8-wide FMA chains.
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn chains_avx2(n: u64) -> f32 {
    use std::arch::x86_64::*;
    let mut r = [_mm256_set1_ps(1.0); CHAINS_256];
    let (x, y) = (_mm256_set1_ps(std::hint::black_box(0.999_999)), _mm256_set1_ps(1e-6));
    for _ in 0..n {
        for v in r.iter_mut() {
            *v = _mm256_fmadd_ps(*v, x, y);
        }
    }
    r.iter().map(|v| _mm256_cvtss_f32(*v)).sum()
}

const PORTABLE_CHAINS: usize = 8;

/// `n` rounds of `PORTABLE_CHAINS` chains of 8 lanes, `v * x + y` (a multiply and an add,
/// counted as two flops: without FMA in the target the compiler cannot fuse them).
fn chains_portable(n: u64) -> f32 {
    let mut r = [[1f32; 8]; PORTABLE_CHAINS];
    let (x, y) = (std::hint::black_box(0.999_999f32), 1e-6f32);
    for _ in 0..n {
        for v in r.iter_mut() {
            for l in v.iter_mut() {
                *l = *l * x + y;
            }
        }
    }
    r.iter().flatten().sum()
}
