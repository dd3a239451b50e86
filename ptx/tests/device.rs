//! The tensor device over the interpreter (and over the GPU where there is one): constants
//! made on the device, uploads and downloads, the caching pool (and what it counts as live),
//! and a clear error without a CUDA driver.

use tensor::{DType, Device, Tensor};

#[test]
fn constants_are_made_on_the_device_and_read_back() {
    let dev = ptx::open("interp").unwrap();
    assert_eq!(dev.to_string(), "interp:0");
    for dtype in [DType::F32, DType::F64, DType::BF16, DType::F16, DType::I64, DType::U8] {
        let t = Tensor::full(3.0, [5, 7], dtype, &dev).unwrap();
        assert!(t.device().same(&dev));
        assert_eq!(
            t.to_device(&Device::Cpu).unwrap().to_vec_f64().unwrap(),
            vec![3.0; 35],
            "{dtype}"
        );
        if dtype != DType::U8 {
            let r = Tensor::arange(-4, 300, dtype, &dev).unwrap();
            let want: Vec<f64> = (-4..300)
                .map(|i| {
                    Tensor::scalar(i as f64, dtype, &Device::Cpu).unwrap().to_scalar().unwrap()
                })
                .collect();
            assert_eq!(
                r.to_device(&Device::Cpu).unwrap().to_vec_f64().unwrap(),
                want,
                "arange {dtype}"
            );
        }
    }
    let up = Tensor::from_vec(vec![1.5f32, -2.0, 7.25], 3, &dev).unwrap();
    assert_eq!(up.to_vec::<f32>().unwrap(), vec![1.5, -2.0, 7.25]);
    assert!(Tensor::zeros(0, DType::F32, &dev).unwrap().to_vec::<f32>().unwrap().is_empty());
}

#[test]
fn the_pool_reuses_freed_memory() {
    let dev = ptx::open("interp:3").unwrap();
    let Device::Accel(a) = &dev else { panic!("an accelerator") };
    let gpu = a.as_any().downcast_ref::<ptx::runtime::GpuDevice>().unwrap();
    for _ in 0..5 {
        let t = Tensor::zeros([64, 64], DType::F32, &dev).unwrap();
        drop(t);
    }
    assert_eq!(gpu.pool_stats().driver_allocs, 1, "{:?}", gpu.pool_stats());
}

#[test]
fn the_pool_counts_live_bytes_apart_from_its_cache() {
    let dev = ptx::open("interp:4").unwrap();
    let Device::Accel(a) = &dev else { panic!("an accelerator") };
    let gpu = a.as_any().downcast_ref::<ptx::runtime::GpuDevice>().unwrap();
    let mib = 1usize << 20;
    // 1 MiB and 3 MiB of f32 (size classes of exactly that), then the first dropped.
    let a = Tensor::zeros(mib / 4, DType::F32, &dev).unwrap();
    let b = Tensor::zeros(3 * mib / 4, DType::F32, &dev).unwrap();
    drop(a);
    let s = gpu.pool_stats();
    assert_eq!((s.live, s.live_peak, s.in_use, s.cached), (3 * mib, 4 * mib, 4 * mib, mib));
    // A peak restarts from what is live; reusing the cached buffer counts as live again.
    gpu.reset_peaks();
    let c = Tensor::zeros(mib / 4, DType::F32, &dev).unwrap();
    let s = gpu.pool_stats();
    assert_eq!((s.live, s.live_peak, s.cached, s.driver_allocs), (4 * mib, 4 * mib, 0, 2));
    drop((b, c));
    let s = gpu.pool_stats();
    assert_eq!((s.live, s.live_peak, s.peak), (0, 4 * mib, 4 * mib));
}

#[test]
fn cuda_without_a_driver_is_an_error_not_a_panic() {
    if ptx::runtime::cuda::driver_present() {
        eprintln!("a CUDA driver is present: the no-driver message is not tested here");
        return;
    }
    let e = ptx::open("cuda").unwrap_err().to_string();
    assert!(e.contains("no CUDA driver found"), "{e}");
    assert!(ptx::open("tpu").is_err() && ptx::open("cuda:x").is_err());
}

/// Indices out of range cannot be reported from a kernel (the CPU returns an error): on the
/// device they read as NaN (0 for integer data) and add nothing, and never touch memory
/// outside the tensors (the interpreter's checker would fail the launch).
#[test]
fn out_of_range_indices_read_nan_and_add_nothing() {
    let dev = ptx::open("interp").unwrap();
    let x = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], [3, 2], &dev).unwrap();
    let bad = Tensor::from_vec(vec![2i64, -1, 3], 3, &dev).unwrap();
    let v = x.index_select(&bad, 0).unwrap().to_vec::<f32>().unwrap();
    assert_eq!(&v[..2], &[5.0, 6.0]);
    assert!(v[2..].iter().all(|x| x.is_nan()), "{v:?}");
    let ints =
        x.to_dtype(DType::I64).unwrap().index_select(&bad, 0).unwrap().to_vec::<i64>().unwrap();
    assert_eq!(ints, vec![5, 6, 0, 0, 0, 0]);
    let gi = Tensor::from_vec(vec![1i64, 7, -4, 0], [2, 2], &dev).unwrap();
    let g = x.gather(&gi, 1).unwrap().to_vec::<f32>().unwrap();
    assert_eq!((g[0], g[3]), (2.0, 3.0));
    assert!(g[1].is_nan() && g[2].is_nan(), "{g:?}");
    let src = Tensor::ones([2, 2], DType::F32, &dev).unwrap();
    let s = x.scatter_add(&gi, &src, 1).unwrap().to_vec::<f32>().unwrap();
    assert_eq!(s, vec![1.0, 3.0, 4.0, 4.0, 5.0, 6.0]);
    let src = Tensor::ones([3, 2], DType::F32, &dev).unwrap();
    let a = x.index_add(&bad, &src, 0).unwrap().to_vec::<f32>().unwrap();
    assert_eq!(a, vec![1.0, 2.0, 3.0, 4.0, 6.0, 7.0]);
}

/// Every primitive runs on the interpreter for a non-contiguous view without a checker
/// finding: a smoke test of the launchers (the property tests are `lawcat verify-kernels`).
#[test]
fn primitives_run_on_views() {
    let dev = ptx::open("interp").unwrap();
    let base = Tensor::arange(0, 24, DType::F32, &dev).unwrap().reshape([2, 3, 4]).unwrap();
    let v = base.transpose(0, 2).unwrap().narrow(1, 1, 2).unwrap(); // [4, 2, 2], offset 4
    let cpu = v.to_device(&Device::Cpu).unwrap();
    let same = |a: Tensor, b: Tensor| {
        assert_eq!(
            a.to_device(&Device::Cpu).unwrap().to_vec_f64().unwrap(),
            b.to_vec_f64().unwrap()
        )
    };
    same(v.contiguous().unwrap(), cpu.contiguous().unwrap());
    same(
        v.neg().unwrap().maximum(&v.sqr().unwrap()).unwrap(),
        cpu.neg().unwrap().maximum(&cpu.sqr().unwrap()).unwrap(),
    );
    same(
        v.gt(&v.flatten_all().unwrap().narrow(0, 3, 1).unwrap()).unwrap(),
        cpu.gt(&cpu.flatten_all().unwrap().narrow(0, 3, 1).unwrap()).unwrap(),
    );
    same(v.sum(1, false).unwrap(), cpu.sum(1, false).unwrap());
    same(v.cumsum(0).unwrap(), cpu.cumsum(0).unwrap());
    same(v.argmax(2, false).unwrap(), cpu.argmax(2, false).unwrap());
    same(Tensor::cat(&[&v, &v], 1).unwrap(), Tensor::cat(&[&cpu, &cpu], 1).unwrap());
    same(v.to_dtype(DType::BF16).unwrap(), cpu.to_dtype(DType::BF16).unwrap());
}
