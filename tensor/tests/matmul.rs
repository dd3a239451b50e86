//! Property tests: the packed GEMM (AVX2 and portable kernels), the matrix-vector paths and
//! batched broadcasting against the naive f64 reference, for random (m, n, k) from 1 to a
//! few hundred (not multiples of any block size), transposed and strided operands.

use proptest::prelude::*;
use tensor::cpu::gemm::matmul_naive;
use tensor::testing::*;
use tensor::tolerance::{assert_close, Tol};
use tensor::{DType, Device, Rng, Tensor};

/// A `[rows, cols]` operand, either row-major or a transposed view of a `[cols, rows]` one.
fn operand(rows: usize, cols: usize, transposed: bool, dtype: DType, rng: &mut Rng) -> Tensor {
    if transposed {
        Tensor::rand_uniform([cols, rows], -1.0, 1.0, dtype, &Device::Cpu, rng).unwrap().t().unwrap()
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
    fn gemm_matches_naive(m in dim(), n in dim(), k in dim(), ta in any::<bool>(), tb in any::<bool>(), dtype in arb_dtype(), seed in any::<u64>()) {
        let mut rng = Rng::new(seed);
        let a = operand(m, k, ta, dtype, &mut rng);
        let b = operand(k, n, tb, dtype, &mut rng);
        prop_assert!(!ta || m == 1 || k == 1 || !a.is_contiguous());
        let c = a.matmul(&b).unwrap();
        prop_assert_eq!(c.dims(), &[m, n]);
        prop_assert_eq!(c.dtype(), dtype);
        let want: Vec<f64> = reference(&a, &b).into_iter().map(|v| round_to(v, dtype)).collect();
        assert_close(&format!("matmul {m}x{k}x{n} ta={ta} tb={tb} {dtype}"), &logical(&c), &want, tol(dtype, k));
    }

    #[test]
    fn gemm_into_accumulates_and_leaves_the_rest_of_c(m in dim(), n in dim(), k in 0usize..300, pad in 0usize..5, accumulate in any::<bool>(), seed in any::<u64>()) {
        use tensor::cpu::gemm::{gemm_into, MatRef};
        let mut rng = Rng::new(seed);
        let a = Tensor::rand_uniform([m, k], -1.0, 1.0, DType::F32, &Device::Cpu, &mut rng).unwrap().to_vec::<f32>().unwrap();
        let b = Tensor::rand_uniform([k, n], -1.0, 1.0, DType::F32, &Device::Cpu, &mut rng).unwrap().to_vec::<f32>().unwrap();
        let ldc = n + pad;
        let c0 = Tensor::rand_uniform([m, ldc], -1.0, 1.0, DType::F32, &Device::Cpu, &mut rng).unwrap().to_vec::<f32>().unwrap();
        let mut c = c0.clone();
        gemm_into::<f32, f32>(m, n, k, MatRef { data: &a, off: 0, rs: k, cs: 1 }, MatRef { data: &b, off: 0, rs: n, cs: 1 }, &mut c, ldc, accumulate);
        let ab = matmul_naive(m, n, k, &a.iter().map(|&x| x as f64).collect::<Vec<_>>(), 0, k, 1, &b.iter().map(|&x| x as f64).collect::<Vec<_>>(), 0, n, 1);
        let mut want: Vec<f64> = c0.iter().map(|&x| x as f64).collect();
        for i in 0..m {
            for j in 0..n {
                want[i * ldc + j] = ab[i * n + j] + if accumulate { c0[i * ldc + j] as f64 } else { 0.0 };
            }
        }
        let got: Vec<f64> = c.iter().map(|&x| x as f64).collect();
        assert_close(&format!("gemm_into {m}x{k}x{n} ldc={ldc} accumulate={accumulate}"), &got, &want, tol(DType::F32, k + 1));
    }

    #[test]
    fn single_thread_and_pool_agree(m in dim(), n in dim(), k in dim(), ta in any::<bool>(), tb in any::<bool>(), seed in any::<u64>()) {
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
    fn batched_with_broadcast_and_vectors(b1 in 1usize..4, b2 in 1usize..4, m in dim(), n in 1usize..40, k in dim(), bcast in any::<bool>(), seed in any::<u64>()) {
        let mut rng = Rng::new(seed);
        let a = Tensor::rand_uniform([b1, b2, m, k], -1.0, 1.0, DType::F32, &Device::Cpu, &mut rng).unwrap();
        let bdims: Vec<usize> = if bcast { vec![b2, n, k] } else { vec![b1, b2, n, k] };
        let b = Tensor::rand_uniform(bdims, -1.0, 1.0, DType::F32, &Device::Cpu, &mut rng).unwrap().t().unwrap();
        let c = a.matmul(&b).unwrap();
        prop_assert_eq!(c.dims(), &[b1, b2, m, n]);
        for i in 0..b1 {
            for j in 0..b2 {
                let ai = a.select(0, i).unwrap().select(0, j).unwrap();
                let bi = if bcast { b.select(0, j).unwrap() } else { b.select(0, i).unwrap().select(0, j).unwrap() };
                let ci = c.select(0, i).unwrap().select(0, j).unwrap();
                let want: Vec<f64> = reference(&ai, &bi).into_iter().map(|v| round_to(v, DType::F32)).collect();
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

/// The portable kernel (selected by env var in a child process, since the choice is made
/// once per process) gives the same numbers as the reference.
#[test]
fn portable_kernel_matches_naive() {
    if std::env::var_os("LAWCAT_PORTABLE_MATMUL").is_some() {
        let mut rng = Rng::new(3);
        for &(m, n, k) in &[(1, 1, 1), (7, 17, 5), (130, 70, 300), (64, 64, 64)] {
            let a = operand(m, k, m % 2 == 0, DType::F32, &mut rng);
            let b = operand(k, n, n % 2 == 1, DType::F32, &mut rng);
            let c = a.matmul(&b).unwrap();
            assert_close("portable", &logical(&c), &reference(&a, &b), tol(DType::F32, k));
        }
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let out = std::process::Command::new(exe)
        .args(["portable_kernel_matches_naive", "--exact", "--nocapture"])
        .env("LAWCAT_PORTABLE_MATMUL", "1")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 passed"));
}

#[test]
fn empty_and_zero_depth_products() {
    let a = Tensor::zeros([3, 0], DType::F32, &Device::Cpu).unwrap();
    let b = Tensor::zeros([0, 4], DType::F32, &Device::Cpu).unwrap();
    let c = a.matmul(&b).unwrap();
    assert_eq!(c.dims(), &[3, 4]);
    assert!(c.to_vec::<f32>().unwrap().iter().all(|&v| v == 0.0));
    let e = Tensor::zeros([0, 5], DType::F32, &Device::Cpu).unwrap().matmul(&Tensor::zeros([5, 2], DType::F32, &Device::Cpu).unwrap()).unwrap();
    assert_eq!(e.dims(), &[0, 2]);
    // A row of depth 0 viewed at an offset past its empty storage (a narrowed empty tensor).
    let x = Tensor::zeros([1, 0, 2], DType::F32, &Device::Cpu).unwrap().narrow(2, 1, 1).unwrap().squeeze(2).unwrap();
    let y = x.matmul(&Tensor::zeros([0, 5], DType::F32, &Device::Cpu).unwrap()).unwrap();
    assert_eq!(y.to_vec::<f32>().unwrap(), vec![0.0; 5]);
}
