//! The tensor device over the interpreter (and over the GPU where there is one): constants
//! made on the device, uploads and downloads, the caching pool, and a clear error without a
//! CUDA driver.

use tensor::{DType, Device, Tensor};

#[test]
fn constants_are_made_on_the_device_and_read_back() {
    let dev = ptx::open("interp").unwrap();
    assert_eq!(dev.to_string(), "interp:0");
    for dtype in [DType::F32, DType::F64, DType::BF16, DType::F16, DType::I64, DType::U8] {
        let t = Tensor::full(3.0, [5, 7], dtype, &dev).unwrap();
        assert!(t.device().same(&dev));
        assert_eq!(t.to_device(&Device::Cpu).unwrap().to_vec_f64().unwrap(), vec![3.0; 35], "{dtype}");
        if dtype != DType::U8 {
            let r = Tensor::arange(-4, 300, dtype, &dev).unwrap();
            let want: Vec<f64> = (-4..300).map(|i| Tensor::scalar(i as f64, dtype, &Device::Cpu).unwrap().to_scalar().unwrap()).collect();
            assert_eq!(r.to_device(&Device::Cpu).unwrap().to_vec_f64().unwrap(), want, "arange {dtype}");
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
fn cuda_without_a_driver_is_an_error_not_a_panic() {
    if ptx::runtime::cuda::driver_present() {
        eprintln!("a CUDA driver is present: the no-driver message is not tested here");
        return;
    }
    let e = ptx::open("cuda").unwrap_err().to_string();
    assert!(e.contains("no CUDA driver found"), "{e}");
    assert!(ptx::open("tpu").is_err() && ptx::open("cuda:x").is_err());
}
