//! Property tests: the packed GEMM, the matrix-vector paths and batched broadcasting against
//! the naive f64 reference, for random (m, n, k) from 1 to a few hundred (not multiples of
//! any block size), transposed and strided operands. Every micro-kernel the machine has
//! (portable, AVX2, AVX-512) is run directly on awkward shapes and blockings, and the whole
//! `Tensor::matmul` path once per SIMD level (`LAWCAT_SIMD`, in a child process).

use proptest::prelude::*;
use tensor::cpu::gemm::{gemm_with, matmul_naive, Blocks, GemmScalar, MatRef};
use tensor::cpu::Simd;
use tensor::testing::*;
use tensor::tolerance::{assert_close, Tol};
use tensor::{DType, Device, Rng, Tensor};

/// A `[rows, cols]` operand, either row-major or a transposed view of a `[cols, rows]` one.
fn operand(rows: usize, cols: usize, transposed: bool, dtype: DType, rng: &mut Rng) -> Tensor {
    if transposed {
        Tensor::rand_uniform([cols, rows], -1.0, 1.0, dtype, &Device::Cpu, rng)
            .unwrap()
            .t()
            .unwrap()
    } else {
        Tensor::rand_uniform([rows, cols], -1.0, 1.0, dtype, &Device::Cpu, rng).unwrap()
    }
}

fn reference(a: &Tensor, b: &Tensor) -> Vec<f64> {
    let (m, k) = (a.dims()[0], a.dims()[1]);
    let n = b.dims()[1];
    matmul_naive(m, n, k, &logical(a), 0, k, 1, &logical(b), 0, n, 1)
}

fn dim() -> impl Strategy<Value = usize> {
    prop_oneof![1usize..8, 8usize..70, 90usize..300]
}

/// Sums of `k` products of values in [-1, 1]; bf16/f16 are computed in f32, so only the
/// rounding of the output is theirs.
fn tol(dtype: DType, k: usize) -> Tol {
    match dtype {
        DType::BF16 | DType::F16 => {
            let e = Tol::elementwise(dtype);
            Tol { atol: e.atol * (k as f64).sqrt(), ..e }
        }
        _ => Tol::accumulated(dtype, k, 1.0),
    }
}

proptest! {
    #![proptest_config(config(40))]

    #[test]
    fn gemm_matches_naive(
        m in dim(),
        n in dim(),
        k in dim(),
        ta in any::<bool>(),
        tb in any::<bool>(),
        dtype in arb_dtype(),
        seed in any::<u64>(),
    ) {
        let mut rng = Rng::new(seed);
        let a = operand(m, k, ta, dtype, &mut rng);
        let b = operand(k, n, tb, dtype, &mut rng);
        prop_assert!(!ta || m == 1 || k == 1 || !a.is_contiguous());
        let c = a.matmul(&b).unwrap();
        prop_assert_eq!(c.dims(), &[m, n]);
        prop_assert_eq!(c.dtype(), dtype);
        let want: Vec<f64> = reference(&a, &b).into_iter().map(|v| round_to(v, dtype)).collect();
        assert_close(
            &format!("matmul {m}x{k}x{n} ta={ta} tb={tb} {dtype}"),
            &logical(&c),
            &want,
            tol(dtype, k),
        );
    }

    #[test]
    fn gemm_into_accumulates_and_leaves_the_rest_of_c(
        m in dim(),
        n in dim(),
        k in 0usize..300,
        pad in 0usize..5,
        accumulate in any::<bool>(),
        seed in any::<u64>(),
    ) {
        use tensor::cpu::gemm::{gemm_into, MatRef};
        let mut rng = Rng::new(seed);
        let a = Tensor::rand_uniform([m, k], -1.0, 1.0, DType::F32, &Device::Cpu, &mut rng)
            .unwrap()
            .to_vec::<f32>()
            .unwrap();
        let b = Tensor::rand_uniform([k, n], -1.0, 1.0, DType::F32, &Device::Cpu, &mut rng)
            .unwrap()
            .to_vec::<f32>()
            .unwrap();
        let ldc = n + pad;
        let c0 = Tensor::rand_uniform([m, ldc], -1.0, 1.0, DType::F32, &Device::Cpu, &mut rng)
            .unwrap()
            .to_vec::<f32>()
            .unwrap();
        let mut c = c0.clone();
        gemm_into::<f32, f32>(
            m,
            n,
            k,
            MatRef { data: &a, off: 0, rs: k, cs: 1 },
            MatRef { data: &b, off: 0, rs: n, cs: 1 },
            &mut c,
            ldc,
            accumulate,
        );
        let ab = matmul_naive(
            m,
            n,
            k,
            &a.iter().map(|&x| x as f64).collect::<Vec<_>>(),
            0,
            k,
            1,
            &b.iter().map(|&x| x as f64).collect::<Vec<_>>(),
            0,
            n,
            1,
        );
        let mut want: Vec<f64> = c0.iter().map(|&x| x as f64).collect();
        for i in 0..m {
            for j in 0..n {
                want[i * ldc + j] =
                    ab[i * n + j] + if accumulate { c0[i * ldc + j] as f64 } else { 0.0 };
            }
        }
        let got: Vec<f64> = c.iter().map(|&x| x as f64).collect();
        assert_close(
            &format!("gemm_into {m}x{k}x{n} ldc={ldc} accumulate={accumulate}"),
            &got,
            &want,
            tol(DType::F32, k + 1),
        );
    }

    #[test]
    fn single_thread_and_pool_agree(
        m in dim(),
        n in dim(),
        k in dim(),
        ta in any::<bool>(),
        tb in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let mut rng = Rng::new(seed);
        let a = operand(m, k, ta, DType::F32, &mut rng);
        let b = operand(k, n, tb, DType::F32, &mut rng);
        let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
        let three = rayon::ThreadPoolBuilder::new().num_threads(3).build().unwrap();
        let c1 = one.install(|| a.matmul(&b)).unwrap();
        let c3 = three.install(|| a.matmul(&b)).unwrap();
        // The same kernel and the same summation order per element: bit-identical.
        prop_assert_eq!(c1.to_vec::<f32>().unwrap(), c3.to_vec::<f32>().unwrap());
    }

    #[test]
    fn batched_with_broadcast_and_vectors(
        b1 in 1usize..4,
        b2 in 1usize..4,
        m in dim(),
        n in 1usize..40,
        k in dim(),
        bcast in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let mut rng = Rng::new(seed);
        let a = Tensor::rand_uniform([b1, b2, m, k], -1.0, 1.0, DType::F32, &Device::Cpu, &mut rng)
            .unwrap();
        let bdims: Vec<usize> = if bcast { vec![b2, n, k] } else { vec![b1, b2, n, k] };
        let b = Tensor::rand_uniform(bdims, -1.0, 1.0, DType::F32, &Device::Cpu, &mut rng)
            .unwrap()
            .t()
            .unwrap();
        let c = a.matmul(&b).unwrap();
        prop_assert_eq!(c.dims(), &[b1, b2, m, n]);
        for i in 0..b1 {
            for j in 0..b2 {
                let ai = a.select(0, i).unwrap().select(0, j).unwrap();
                let bi = if bcast {
                    b.select(0, j).unwrap()
                } else {
                    b.select(0, i).unwrap().select(0, j).unwrap()
                };
                let ci = c.select(0, i).unwrap().select(0, j).unwrap();
                let want: Vec<f64> =
                    reference(&ai, &bi).into_iter().map(|v| round_to(v, DType::F32)).collect();
                assert_close("batched", &logical(&ci), &want, tol(DType::F32, k));
            }
        }
        // Vector operands: [k] @ [k, n] and [m, k] @ [k].
        let x = Tensor::rand_uniform([k], -1.0, 1.0, DType::F32, &Device::Cpu, &mut rng).unwrap();
        let w = operand(k, n, bcast, DType::F32, &mut rng);
        let y = x.matmul(&w).unwrap();
        prop_assert_eq!(y.dims(), &[n]);
        let want = reference(&x.unsqueeze(0).unwrap(), &w);
        assert_close("vec @ mat", &logical(&y), &want, tol(DType::F32, k));
        let am = operand(m, k, !bcast, DType::F32, &mut rng);
        let y = am.matmul(&x).unwrap();
        prop_assert_eq!(y.dims(), &[m]);
        let want = reference(&am, &x.unsqueeze(1).unwrap());
        assert_close("mat @ vec", &logical(&y), &want, tol(DType::F32, k));
    }
}

/// A strided `[rows, cols]` f32 operand with its values: row-major with padded rows,
/// column-major (a transposed view), or strided both ways (neither stride 1), at an offset.
fn strided(rows: usize, cols: usize, layout: u8, rng: &mut Rng) -> (Vec<f32>, usize, usize, usize) {
    let (off, rs, cs) = match layout % 3 {
        0 => (3, cols + 2, 1),
        1 => (1, 1, rows + 1),
        _ => (2, 2 * cols + 3, 2),
    };
    let len = off + rows.saturating_sub(1) * rs + cols.saturating_sub(1) * cs + 1;
    (
        Tensor::rand_uniform([len], -1.0, 1.0, DType::F32, &Device::Cpu, rng)
            .unwrap()
            .to_vec::<f32>()
            .unwrap(),
        off,
        rs,
        cs,
    )
}

/// Every kernel present on this machine: each level's, then every AVX-512 tile shape there is
/// to tune with (`LAWCAT_AVX512_TILE`).
fn kernels() -> Vec<(Simd, tensor::cpu::gemm::Kernel<f32>)> {
    let levels = Simd::present()
        .into_iter()
        .map(|s| (s, f32::kernel_for(s).expect("a present level has an f32 kernel")));
    levels
        .chain(tensor::cpu::gemm::f32_avx512_tiles().into_iter().map(|(_, k)| (Simd::Avx512, k)))
        .collect()
}

proptest! {
    #![proptest_config(config(60))]

    /// Each kernel, driven directly: shapes around its tile (edge tiles in both directions),
    /// small random blockings (so several KC, MC and NC blocks and their remainders occur at
    /// small sizes), strided and transposed operands, C with padded rows, accumulate or not.
    #[test]
    fn every_kernel_matches_naive(
        m in prop_oneof![1usize..40, 40usize..100],
        n in prop_oneof![1usize..70, 70usize..140],
        k in prop_oneof![1usize..20, 20usize..300],
        la in 0u8..3, lb in 0u8..3,
        kc in 1usize..100, mc in 1usize..60, nc in 1usize..150, default_blocks in any::<bool>(),
        pad in 0usize..3, accumulate in any::<bool>(), seed in any::<u64>(),
    ) {
        let mut rng = Rng::new(seed);
        let (a, aoff, ars, acs) = strided(m, k, la, &mut rng);
        let (b, boff, brs, bcs) = strided(k, n, lb, &mut rng);
        let ldc = n + pad;
        let c0 = Tensor::rand_uniform([m * ldc], -1.0, 1.0, DType::F32, &Device::Cpu, &mut rng)
            .unwrap()
            .to_vec::<f32>()
            .unwrap();
        let to64 = |v: &[f32]| v.iter().map(|&x| x as f64).collect::<Vec<_>>();
        let ab = matmul_naive(m, n, k, &to64(&a), aoff, ars, acs, &to64(&b), boff, brs, bcs);
        let mut want = to64(&c0);
        for i in 0..m {
            for j in 0..n {
                want[i * ldc + j] =
                    ab[i * n + j] + if accumulate { c0[i * ldc + j] as f64 } else { 0.0 };
            }
        }
        for (simd, mut kernel) in kernels() {
            if !default_blocks {
                kernel.blocks = Blocks { kc, mc, nc };
            }
            let mut c = c0.clone();
            let (am, bm) = (
                MatRef { data: &a, off: aoff, rs: ars, cs: acs },
                MatRef { data: &b, off: boff, rs: brs, cs: bcs },
            );
            gemm_with(&kernel, m, n, k, am, bm, &mut c, ldc, accumulate);
            let what = format!(
                "{simd} {:?} {m}x{k}x{n} layouts {la},{lb} ldc={ldc} accumulate={accumulate}",
                kernel
            );
            assert_close(&what, &to64(&c), &want, tol(DType::F32, k + 1));
        }
    }

    /// bf16 and f16 values of A are converted while packing: every kernel, A and B each
    /// row- or column-major.
    #[test]
    fn every_kernel_converts_half_operands(
        m in 1usize..50,
        n in 1usize..80,
        k in 1usize..90,
        ta in any::<bool>(),
        tb in any::<bool>(),
        half in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let mut rng = Rng::new(seed);
        let dtype = if half { DType::F16 } else { DType::BF16 };
        // Logical row-major values; A's are exactly representable in `dtype`.
        let a = logical(
            &Tensor::rand_uniform([m, k], -1.0, 1.0, dtype, &Device::Cpu, &mut rng).unwrap(),
        );
        let b = logical(
            &Tensor::rand_uniform([k, n], -1.0, 1.0, DType::F32, &Device::Cpu, &mut rng).unwrap(),
        );
        // Stored row-major, or column-major (the storage of a transposed view).
        fn store<T>(
            v: &[f64],
            rows: usize,
            cols: usize,
            colmajor: bool,
            conv: impl Fn(f64) -> T,
        ) -> (Vec<T>, usize, usize) {
            if colmajor {
                ((0..rows * cols).map(|q| conv(v[(q % rows) * cols + q / rows])).collect(), 1, rows)
            } else {
                (v.iter().map(|&x| conv(x)).collect(), cols, 1)
            }
        }
        let (bs, brs, bcs) = store(&b, k, n, tb, |x| x as f32);
        let want = matmul_naive(m, n, k, &a, 0, k, 1, &b, 0, n, 1);
        for (simd, kernel) in kernels() {
            let mut c = vec![0f32; m * n];
            let bm = MatRef { data: &bs, off: 0, rs: brs, cs: bcs };
            if half {
                let (s, rs, cs) = store(&a, m, k, ta, tensor::f16::from_f64);
                gemm_with(
                    &kernel,
                    m,
                    n,
                    k,
                    MatRef { data: &s, off: 0, rs, cs },
                    bm,
                    &mut c,
                    n,
                    false,
                );
            } else {
                let (s, rs, cs) = store(&a, m, k, ta, tensor::bf16::from_f64);
                gemm_with(
                    &kernel,
                    m,
                    n,
                    k,
                    MatRef { data: &s, off: 0, rs, cs },
                    bm,
                    &mut c,
                    n,
                    false,
                );
            }
            let got: Vec<f64> = c.iter().map(|&x| x as f64).collect();
            assert_close(
                &format!("{simd} {dtype} A {m}x{k}x{n} ta={ta} tb={tb}"),
                &got,
                &want,
                tol(DType::F32, k),
            );
        }
    }
}

/// The whole `Tensor::matmul` path (thread split, matrix-vector paths, batching) once per
/// SIMD level this machine has, each forced by `LAWCAT_SIMD` in a child process (the level is
/// chosen once per process); the child checks that the level it was given is the one taken.
#[test]
fn every_simd_level_through_tensor_matmul() {
    if let Ok(level) = std::env::var("LAWCAT_SIMD") {
        assert_eq!(tensor::cpu::simd_path(), level, "LAWCAT_SIMD={level} was not the path taken");
        let mut rng = Rng::new(3);
        let pool = rayon::ThreadPoolBuilder::new().num_threads(3).build().unwrap();
        for &(m, n, k) in &[
            (1, 1, 1),
            (7, 17, 5),
            (130, 70, 300),
            (64, 64, 64),
            (13, 33, 31),
            (97, 1, 40),
            (1, 65, 200),
            (300, 290, 70),
        ] {
            for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
                let a = operand(m, k, ta, DType::F32, &mut rng);
                let b = operand(k, n, tb, DType::F32, &mut rng);
                let c = pool.install(|| a.matmul(&b)).unwrap();
                assert_close(
                    &format!("{level} {m}x{k}x{n} ta={ta} tb={tb}"),
                    &logical(&c),
                    &reference(&a, &b),
                    tol(DType::F32, k),
                );
            }
        }
        let a = Tensor::rand_uniform([2, 3, 45, 37], -1.0, 1.0, DType::F32, &Device::Cpu, &mut rng)
            .unwrap();
        let b = Tensor::rand_uniform([3, 50, 37], -1.0, 1.0, DType::F32, &Device::Cpu, &mut rng)
            .unwrap()
            .t()
            .unwrap();
        let c = pool.install(|| a.matmul(&b)).unwrap();
        for i in 0..2 {
            for j in 0..3 {
                let (ai, bi) =
                    (a.select(0, i).unwrap().select(0, j).unwrap(), b.select(0, j).unwrap());
                let ci = c.select(0, i).unwrap().select(0, j).unwrap();
                assert_close(
                    &format!("{level} batched"),
                    &logical(&ci),
                    &reference(&ai, &bi),
                    tol(DType::F32, 37),
                );
            }
        }
        return;
    }
    let exe = std::env::current_exe().unwrap();
    for simd in Simd::present() {
        let out = std::process::Command::new(&exe)
            .args(["every_simd_level_through_tensor_matmul", "--exact", "--nocapture"])
            .env("LAWCAT_SIMD", simd.name())
            .env_remove("LAWCAT_PORTABLE_MATMUL")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "LAWCAT_SIMD={simd}: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains("1 passed"), "LAWCAT_SIMD={simd}: {stdout}");
    }
}

/// `LAWCAT_PORTABLE_MATMUL=1`, the older switch, still selects the portable path.
#[test]
fn portable_switch_selects_portable() {
    if std::env::var_os("LAWCAT_PORTABLE_MATMUL").is_some() {
        assert_eq!(tensor::cpu::simd_path(), "portable");
        let mut rng = Rng::new(4);
        let (a, b) = (
            operand(37, 29, true, DType::F32, &mut rng),
            operand(29, 41, false, DType::F32, &mut rng),
        );
        assert_close(
            "portable",
            &logical(&a.matmul(&b).unwrap()),
            &reference(&a, &b),
            tol(DType::F32, 29),
        );
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let out = std::process::Command::new(exe)
        .args(["portable_switch_selects_portable", "--exact", "--nocapture"])
        .env("LAWCAT_PORTABLE_MATMUL", "1")
        .env_remove("LAWCAT_SIMD")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 passed"));
}

#[test]
fn simd_levels_parse_and_nest() {
    for s in Simd::ALL {
        assert_eq!(Simd::parse(s.name()), Some(s));
    }
    assert_eq!(Simd::parse("AVX512F"), Some(Simd::Avx512));
    assert_eq!(Simd::parse("sse9"), None);
    let present = Simd::present();
    assert_eq!(present[0], Simd::Portable);
    // A wider level is present only with every narrower one.
    assert_eq!(present, Simd::ALL[..present.len()].to_vec());
    assert!(present.contains(&tensor::cpu::simd::selected()));
    // The tile each kernel reports is the one its level is built around.
    for (simd, kernel) in kernels() {
        let (mr, nr) = kernel.tile();
        assert_eq!(kernel.simd(), simd);
        assert!(mr >= 1 && nr % simd.f32_lanes() == 0, "{kernel:?}");
    }
}

#[test]
fn fma_peak_probe_is_positive() {
    let g = tensor::cpu::fma_peak_gflops(1);
    assert!(g.is_finite() && g > 0.1, "peak {g} GFLOP/s");
}

#[test]
fn empty_and_zero_depth_products() {
    let a = Tensor::zeros([3, 0], DType::F32, &Device::Cpu).unwrap();
    let b = Tensor::zeros([0, 4], DType::F32, &Device::Cpu).unwrap();
    let c = a.matmul(&b).unwrap();
    assert_eq!(c.dims(), &[3, 4]);
    assert!(c.to_vec::<f32>().unwrap().iter().all(|&v| v == 0.0));
    let e = Tensor::zeros([0, 5], DType::F32, &Device::Cpu)
        .unwrap()
        .matmul(&Tensor::zeros([5, 2], DType::F32, &Device::Cpu).unwrap())
        .unwrap();
    assert_eq!(e.dims(), &[0, 2]);
    // A row of depth 0 viewed at an offset past its empty storage (a narrowed empty tensor).
    let x = Tensor::zeros([1, 0, 2], DType::F32, &Device::Cpu)
        .unwrap()
        .narrow(2, 1, 1)
        .unwrap()
        .squeeze(2)
        .unwrap();
    let y = x.matmul(&Tensor::zeros([0, 5], DType::F32, &Device::Cpu).unwrap()).unwrap();
    assert_eq!(y.to_vec::<f32>().unwrap(), vec![0.0; 5]);
}

/// The shared-packing parallel product equals the one-thread product bit for bit (the same
/// depth blocks in the same order per element; only the split of rows differs) on shapes with
/// several depth and column blocks, partial tiles and strided operands, and matches the naive
/// reference.
#[test]
fn parallel_product_over_shared_packing_equals_the_serial_one() {
    let mut rng = Rng::new(11);
    let kernel = <f32 as GemmScalar>::kernel();
    let blocks = tensor::cpu::gemm::blocks_for(&kernel);
    for &(m, n, k) in &[
        (1, 1, 1),
        (13, 5, 3),
        (67, 45, 300),
        (37, blocks.nc + 33, 2 * blocks.kc + 7),
        (2 * blocks.mc + 5, 70, blocks.kc + 1),
    ] {
        for layout in 0..3u8 {
            let (a, aoff, ars, acs) = strided(m, k, layout, &mut rng);
            let (b, boff, brs, bcs) = strided(k, n, 2 - layout, &mut rng);
            let (am, bm) = (
                MatRef { data: &a, off: aoff, rs: ars, cs: acs },
                MatRef { data: &b, off: boff, rs: brs, cs: bcs },
            );
            let mut serial = vec![0f32; m * n];
            tensor::cpu::gemm::gemm(m, n, k, am, bm, &mut serial, n);
            for threads in [2, 3] {
                let mut par = vec![f32::NAN; m * n];
                let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
                pool.install(|| {
                    tensor::cpu::gemm::gemm_parallel(m, n, k, am, bm, &mut par, n, threads)
                });
                assert_eq!(
                    par.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
                    serial.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
                    "{m}x{n}x{k} layout {layout} on {threads} threads"
                );
            }
            let (a64, b64): (Vec<f64>, Vec<f64>) =
                (a.iter().map(|&x| x as f64).collect(), b.iter().map(|&x| x as f64).collect());
            let want = matmul_naive(m, n, k, &a64, aoff, ars, acs, &b64, boff, brs, bcs);
            assert_close(
                &format!("{m}x{n}x{k}"),
                &serial.iter().map(|&x| x as f64).collect::<Vec<_>>(),
                &want,
                Tol::accumulated(DType::F32, k, 4.0),
            );
        }
    }
}
