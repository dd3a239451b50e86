//! The device boundary: constructors make their tensor on the device asked for, the checking
//! device counts every transfer and refuses to mix, custom ops run the body of the operands'
//! device and write in place without touching shared storage.

use tensor::check_device::CheckDevice;
use tensor::transfer::Direction;
use tensor::{bail, CustomOp, DType, DevIn, DevOut, Device, HostIn, HostOut, Result, Rng, Tensor};

fn devices() -> Vec<Device> {
    vec![Device::Cpu, CheckDevice::device()]
}

#[test]
fn every_constructor_makes_its_tensor_on_the_asked_device() {
    for dev in devices() {
        let mut rng = Rng::new(1);
        let made = [
            Tensor::zeros([2, 3], DType::F32, &dev).unwrap(),
            Tensor::ones([2, 3], DType::BF16, &dev).unwrap(),
            Tensor::full(2.5, [4], DType::F64, &dev).unwrap(),
            Tensor::scalar(1.0, DType::F16, &dev).unwrap(),
            Tensor::arange(3, 9, DType::I64, &dev).unwrap(),
            Tensor::from_vec(vec![1f32, 2.0, 3.0], 3, &dev).unwrap(),
            Tensor::randn([3, 2], 1.0, DType::F32, &dev, &mut rng).unwrap(),
            Tensor::rand_uniform([5], -1.0, 1.0, DType::F32, &dev, &mut rng).unwrap(),
        ];
        for t in &made {
            assert!(
                t.device().same(&dev),
                "{:?} made on {} instead of {dev}",
                t.dims(),
                t.device()
            );
            for like in [t.zeros_like().unwrap(), t.ones_like().unwrap(), t.full_like(3.0).unwrap()]
            {
                assert!(
                    like.device().same(&dev)
                        && like.dims() == t.dims()
                        && like.dtype() == t.dtype()
                );
            }
        }
        assert_eq!(made[4].to_vec::<i64>().unwrap(), vec![3, 4, 5, 6, 7, 8]);
    }
}

#[test]
fn seeded_random_tensors_are_the_same_on_every_device() {
    let on = |dev: &Device| {
        Tensor::randn([4, 4], 0.5, DType::F32, dev, &mut Rng::new(7))
            .unwrap()
            .to_vec::<f32>()
            .unwrap()
    };
    assert_eq!(on(&Device::Cpu), on(&CheckDevice::device()));
}

#[test]
fn the_checking_device_counts_transfers_and_makes_constants_without_one() {
    let dev = CheckDevice::new();
    let d = Device::Accel(std::sync::Arc::new(dev.clone()));
    let x = Tensor::from_vec(vec![1f32, -2.0, 3.0, -4.0], [2, 2], &Device::Cpu)
        .unwrap()
        .to_device(&d)
        .unwrap();
    let y = x
        .abs()
        .unwrap()
        .add(&Tensor::ones([2, 2], DType::F32, &d).unwrap())
        .unwrap()
        .matmul(&x)
        .unwrap()
        .sum_all()
        .unwrap();
    let t = dev.transfers();
    assert_eq!(t.len(), 1, "only the upload so far: {t:?}");
    assert_eq!((t[0].direction, t[0].elements), (Direction::Upload, 4));
    // (|x| + 1) @ x = [[11, -16], [19, -28]]
    assert_eq!(y.to_scalar().unwrap(), -14.0);
    let t = dev.transfers();
    assert_eq!(t.len(), 2);
    assert_eq!((t[1].direction, t[1].elements), (Direction::Download, 1));
    dev.reset();
    assert!(dev.transfers().is_empty());
}

#[test]
fn tensors_of_two_devices_never_mix() {
    let (a, b) = (CheckDevice::device(), CheckDevice::device());
    let x = Tensor::ones(3, DType::F32, &a).unwrap();
    for other in [
        Tensor::ones(3, DType::F32, &Device::Cpu).unwrap(),
        Tensor::ones(3, DType::F32, &b).unwrap(),
    ] {
        let err = x.add(&other).unwrap_err().to_string();
        assert!(err.contains("different devices"), "{err}");
        let err = Tensor::cat(&[&x, &other], 0).unwrap_err().to_string();
        assert!(err.contains("different devices"), "{err}");
    }
}

/// `y = 2 x` and `s = sum(x)`, a fused op with two outputs, for testing the dispatch.
struct Twice;
impl CustomOp for Twice {
    fn name(&self) -> &'static str {
        "twice"
    }
    fn cpu(&self, ins: &[HostIn<'_>], outs: &mut [HostOut<'_>]) -> Result<()> {
        let x = ins[0].values::<f32>()?;
        let y: Vec<f32> = x.iter().map(|v| 2.0 * v).collect();
        outs[0].write(&y)?;
        outs[1].write(&[x.iter().sum::<f32>()])
    }
    fn accel(
        &self,
        device: &dyn tensor::AccelDevice,
        _ins: &[DevIn<'_>],
        _outs: &mut [DevOut<'_>],
    ) -> Result<()> {
        bail!("twice", "no kernel on {}", device.name())
    }
}

/// `acc += x` in place.
struct AddInto;
impl CustomOp for AddInto {
    fn name(&self) -> &'static str {
        "add_into"
    }
    fn cpu(&self, ins: &[HostIn<'_>], outs: &mut [HostOut<'_>]) -> Result<()> {
        let x = ins[0].values::<f32>()?;
        let acc = outs[0].slice_mut::<f32>()?;
        acc.iter_mut().zip(x.iter()).for_each(|(a, v)| *a += v);
        Ok(())
    }
    fn accel(
        &self,
        device: &dyn tensor::AccelDevice,
        _ins: &[DevIn<'_>],
        _outs: &mut [DevOut<'_>],
    ) -> Result<()> {
        bail!("add_into", "no kernel on {}", device.name())
    }
}

#[test]
fn custom_ops_run_on_the_operands_device_and_write_in_place_copy_on_write() {
    for dev in devices() {
        let x = Tensor::from_vec(vec![1f32, 2.0, 3.0, 4.0, 5.0, 6.0], [2, 3], &dev).unwrap();
        // A transposed (non-contiguous) bf16 input: the body reads it in logical order.
        let xt = x.t().unwrap().to_dtype(DType::BF16).unwrap();
        let outs = Tensor::apply_op(
            &Twice,
            &[&xt],
            &[([3, 2].into(), DType::F32), (().into(), DType::F64)],
        )
        .unwrap();
        assert!(outs.iter().all(|o| o.device().same(&dev)));
        assert_eq!(outs[0].to_vec::<f32>().unwrap(), vec![2.0, 8.0, 4.0, 10.0, 6.0, 12.0]);
        assert_eq!(outs[1].to_scalar().unwrap(), 21.0);

        let mut acc = Tensor::zeros([2, 3], DType::F32, &dev).unwrap();
        let alias = acc.clone();
        Tensor::apply_op_inplace(&AddInto, &[&x], &mut [&mut acc]).unwrap();
        Tensor::apply_op_inplace(&AddInto, &[&x], &mut [&mut acc]).unwrap();
        assert_eq!(acc.to_vec::<f32>().unwrap(), vec![2.0, 4.0, 6.0, 8.0, 10.0, 12.0]);
        assert_eq!(
            alias.to_vec::<f32>().unwrap(),
            vec![0.0; 6],
            "a clone must not see the in-place write"
        );

        let other = if dev.is_cpu() { CheckDevice::device() } else { Device::Cpu };
        let err = Tensor::apply_op(
            &Twice,
            &[&x, &Tensor::ones(1, DType::F32, &other).unwrap()],
            &[([1].into(), DType::F32)],
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("twice") && err.contains("different devices"), "{err}");
    }
}

#[test]
fn slice_assign_writes_a_window_in_place() {
    for dev in devices() {
        let mut cache = Tensor::zeros([2, 4, 3], DType::F32, &dev).unwrap();
        let view = cache.narrow(1, 0, 2).unwrap();
        let rows = Tensor::from_vec((0..12).map(|v| v as f32).collect::<Vec<_>>(), [2, 2, 3], &dev)
            .unwrap();
        cache.slice_assign(1, 1, &rows.narrow(1, 0, 2).unwrap()).unwrap();
        let got = cache.to_vec::<f32>().unwrap();
        assert_eq!(&got[..12], &[0., 0., 0., 0., 1., 2., 3., 4., 5., 0., 0., 0.]);
        assert_eq!(&got[12..], &[0., 0., 0., 6., 7., 8., 9., 10., 11., 0., 0., 0.]);
        assert_eq!(view.to_vec::<f32>().unwrap(), vec![0.0; 12], "an older view keeps its values");
        // A permuted destination window.
        let mut m = Tensor::zeros([3, 2], DType::F32, &dev).unwrap().t().unwrap();
        m.slice_assign(1, 1, &Tensor::from_vec(vec![7f32, 8.0], [2, 1], &dev).unwrap()).unwrap();
        assert_eq!(m.contiguous().unwrap().to_vec::<f32>().unwrap(), vec![0., 7., 0., 0., 8., 0.]);
        let err = cache.slice_assign(1, 3, &rows).unwrap_err().to_string();
        assert!(err.contains("slice_assign") || err.contains("narrow"), "{err}");
        // An empty window of an empty tensor whose narrowed view starts past its storage.
        let mut empty = Tensor::zeros([0, 5], DType::F32, &dev).unwrap().narrow(1, 3, 2).unwrap();
        empty.slice_assign(0, 0, &Tensor::zeros([0, 2], DType::F32, &dev).unwrap()).unwrap();
        assert_eq!(empty.dims(), &[0, 2]);
    }
}
