//! The matmul launcher (`ptx::ops::matmul`): what it refuses (shapes, dtypes, views past their
//! storage) is an error naming matmul before anything is launched. Results against the CPU are
//! `lawcat verify-kernels`' matmul cases (`lawcat/src/verify/matmul.rs`).

use ptx::ops::matmul::matmul;
use ptx::runtime::GpuStorage;
use tensor::{DType, Layout, Tensor};

fn storage(t: &Tensor) -> &GpuStorage {
    t.storage().as_any().downcast_ref::<GpuStorage>().unwrap()
}

#[test]
fn bad_operands_are_errors_naming_matmul() {
    let dev = ptx::open("interp").unwrap();
    let t = |dims: &[usize], dtype| Tensor::zeros(dims.to_vec(), dtype, &dev).unwrap();
    let err = |a: &Tensor, al: &Layout, b: &Tensor, bl: &Layout| {
        matmul(storage(a), al, storage(b), bl).unwrap_err().to_string()
    };
    let (a, b) = (t(&[4, 5], DType::F32), t(&[5, 6], DType::F32));
    let e = err(&a, a.layout(), &b, &Layout::contiguous([6, 5]));
    assert!(e.contains("matmul") && e.contains("inner dims differ"), "{e}");
    let e = err(&a, &Layout::contiguous([1, 4, 5]), &b, b.layout());
    assert!(e.contains("matmul") && e.contains("one rank"), "{e}");
    let e = err(&a, &Layout::contiguous([20]), &b, b.layout());
    assert!(e.contains("rank >= 2"), "{e}");
    let e = err(&a, &Layout::contiguous([2, 2, 5]), &b, &Layout::contiguous([3, 5, 2]));
    assert!(e.contains("batch dims differ"), "{e}");
    let e = err(&a, &Layout::contiguous([5, 5]), &b, b.layout());
    assert!(e.contains("reaches past"), "{e}");
    let b64 = t(&[5, 6], DType::F64);
    let e = err(&a, a.layout(), &b64, b64.layout());
    assert!(e.contains("cannot multiply f32 by f64"), "{e}");
    let i = t(&[5, 6], DType::I64);
    let e = err(&a, a.layout(), &i, i.layout());
    assert!(e.contains("needs float tensors"), "{e}");
}

#[test]
fn empty_products_launch_nothing_and_k_zero_gives_zeros() {
    let dev = ptx::open("interp").unwrap();
    for dtype in [DType::F32, DType::BF16] {
        let a = Tensor::zeros([3, 0], dtype, &dev).unwrap();
        let b = Tensor::zeros([0, 70], dtype, &dev).unwrap();
        let c = a.matmul(&b).unwrap();
        assert_eq!(c.dims(), [3, 70]);
        assert!(
            c.to_device(&tensor::Device::Cpu)
                .unwrap()
                .to_vec_f64()
                .unwrap()
                .iter()
                .all(|&x| x == 0.0),
            "{dtype}"
        );
        let e = Tensor::zeros([0, 4], dtype, &dev)
            .unwrap()
            .matmul(&Tensor::zeros([4, 2], dtype, &dev).unwrap())
            .unwrap();
        assert_eq!(e.dims(), [0, 2]);
    }
}
