//! The recorded graph: `no_grad` and `detach` record nothing, gradients accumulate across
//! backward calls until zeroed, frozen parameters are constants.

use autograd::{no_grad, Param};
use tensor::{DType, Device, Tensor};

#[test]
fn no_grad_and_detach_record_nothing() {
    let p = Param::new("p", Tensor::ones(3, DType::F32, &Device::Cpu).unwrap());
    let y = no_grad(|| p.var().exp().unwrap().sum_all().unwrap());
    assert!(!y.requires_grad() && y.op_name().is_none());
    assert!(y.backward().is_err());
    let z = p.var().exp().unwrap();
    let w = z.detach().mul(&p.var()).unwrap().sum_all().unwrap();
    w.backward().unwrap();
    // d/dp (stop(e^p) * p) = e^p (the detached factor is a constant)
    let g = p.grad().unwrap().to_vec_f64().unwrap();
    assert!((g[0] - 1f64.exp()).abs() < 1e-6);
    // gradients accumulate across backward calls until zeroed
    p.var().sum_all().unwrap().backward().unwrap();
    assert!((p.grad().unwrap().to_vec_f64().unwrap()[0] - (1f64.exp() + 1.0)).abs() < 1e-6);
    p.zero_grad();
    assert!(p.grad().is_none());
    // frozen parameters are constants
    let f = Param::frozen("f", Tensor::ones(2, DType::F32, &Device::Cpu).unwrap());
    assert!(!f.var().requires_grad());
}
