//! Autocast (`--dtype bf16`): which products run in bf16 and what dtype each gives, and that
//! a half-precision product's backward runs in bf16 as PyTorch's autocast does (the incoming
//! f32 gradient rounded once, both gradient products bf16 x bf16, gradients handed back in
//! f32). Everything is compared exactly with the same sums written out by hand on the CPU
//! (bf16 x bf16 products are computed in f32 and rounded once, on every device).
//!
//! One test function: autocast is a process-wide switch, so nothing else in this binary may
//! run beside it.

use autograd::{Param, Var};
use nn::linear::{autocast_matmul, set_autocast, Linear};
use tensor::{DType, Device, Rng, Tensor};

fn bf16(t: &Tensor) -> Tensor {
    t.to_dtype(DType::BF16).unwrap()
}
fn same(what: &str, got: &Tensor, want: &Tensor) {
    assert_eq!(got.dtype(), want.dtype(), "{what}: dtype");
    assert_eq!(got.dims(), want.dims(), "{what}: shape");
    let (g, w) = (got.to_vec_f32().unwrap(), want.to_vec_f32().unwrap());
    let bad = g.iter().zip(&w).position(|(a, b)| a.to_bits() != b.to_bits());
    assert!(
        bad.is_none(),
        "{what}: element {} is {} not {}",
        bad.unwrap(),
        g[bad.unwrap()],
        w[bad.unwrap()]
    );
}

#[test]
fn autocast_products_and_their_gradients() {
    let dev = Device::Cpu;
    let mut rng = Rng::new(7);
    let (rows, din, dout) = (9, 24, 17);
    let x = Tensor::randn([rows, din], 1.0, DType::F32, &dev, &mut rng).unwrap();
    let w = Tensor::randn([dout, din], 0.3, DType::F32, &dev, &mut rng).unwrap();
    let r = Tensor::randn([rows, dout], 1.0, DType::F32, &dev, &mut rng).unwrap();

    // Off: the f32 reference, f32 gradients.
    set_autocast(None);
    let lin = Linear::new(Param::new("w", w.clone()), None);
    let xv = Var::leaf(x.clone());
    let y = lin.forward(&xv).unwrap();
    same("f32 forward", y.value(), &x.matmul(&w.t().unwrap()).unwrap());

    // On, an f32 weight: both operands rounded to bf16, the product rounded to bf16, then
    // widened back to f32.
    set_autocast(Some(DType::BF16));
    let lin = Linear::new(Param::new("w", w.clone()), None);
    let xv = Var::leaf(x.clone());
    let y = lin.forward(&xv).unwrap();
    let want = bf16(&x).matmul(&bf16(&w).t().unwrap()).unwrap();
    assert_eq!(want.dtype(), DType::BF16);
    same("autocast forward, f32 weight", y.value(), &want.to_dtype(DType::F32).unwrap());
    assert!(
        y.value().to_vec_f32().unwrap() != x.matmul(&w.t().unwrap()).unwrap().to_vec_f32().unwrap(),
        "the autocast product must differ from the f32 one (else this test shows nothing)"
    );

    // Its backward: the gradient r (f32) reaches the bf16 product through the widening cast
    // as bf16; dx = bf16(r) @ bf16(w), dW = (bf16(x)^T @ bf16(r))^T, each rounded to bf16 and
    // handed back in f32.
    let grads = y.mul(&Var::constant(r.clone())).unwrap().sum_all().unwrap().backward().unwrap();
    let gx = grads.get(&xv).expect("x has a gradient");
    same("dx", gx, &bf16(&r).matmul(&bf16(&w)).unwrap().to_dtype(DType::F32).unwrap());
    let gw = lin.weight.grad().expect("w has a gradient");
    let want_gw = bf16(&x).t().unwrap().matmul(&bf16(&r)).unwrap().t().unwrap();
    same("dW", &gw, &want_gw.to_dtype(DType::F32).unwrap());

    // A bf16 weight (the teacher's): the product stays bf16 (activations in bf16).
    let lin = Linear::new(Param::new("wb", bf16(&w)), None);
    let xv = Var::leaf(x.clone());
    let y = lin.forward(&xv).unwrap();
    same("autocast forward, bf16 weight", y.value(), &want);
    // Its backward from an f32 gradient (what an f32 consumer hands back): the gradient is
    // rounded to bf16 before the products, not multiplied in f32 against bf16.
    let loss = y.to_dtype(DType::F32).unwrap().mul(&Var::constant(r.clone())).unwrap();
    let grads = loss.sum_all().unwrap().backward().unwrap();
    same(
        "dx, bf16 weight",
        grads.get(&xv).expect("x has a gradient"),
        &bf16(&r).matmul(&bf16(&w)).unwrap().to_dtype(DType::F32).unwrap(),
    );

    // Other operand dtypes keep the plain product (f64 is never rounded).
    let a = Var::leaf(x.to_dtype(DType::F64).unwrap());
    let b = Var::leaf(w.t().unwrap().to_dtype(DType::F64).unwrap());
    let y = autocast_matmul(&a, &b).unwrap();
    assert_eq!(y.dtype(), DType::F64);
    same("f64 under autocast", y.value(), &a.value().matmul(b.value()).unwrap());
    set_autocast(None);
}
