//! Property tests: every element-wise op against an f64 reference, on random shapes
//! (size-0 and size-1 dims), every float dtype, contiguous and strided inputs.

use proptest::prelude::*;
use tensor::layout::broadcast_shapes;
use tensor::testing::*;
use tensor::tolerance::{assert_close, Tol};
use tensor::{DType, Device, Tensor};

fn softplus(x: f64) -> f64 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}
fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

type Unary = (&'static str, fn(&Tensor) -> tensor::Result<Tensor>, fn(f64) -> f64, f64, f64);

/// (name, op, reference, input low, input high): inputs stay inside each op's domain.
fn unary_cases() -> Vec<Unary> {
    vec![
        ("neg", |t| t.neg(), |x| -x, -3.0, 3.0),
        ("exp", |t| t.exp(), f64::exp, -3.0, 3.0),
        ("log", |t| t.log(), f64::ln, 0.1, 4.0),
        ("sqrt", |t| t.sqrt(), f64::sqrt, 0.1, 4.0),
        ("rsqrt", |t| t.rsqrt(), |x| 1.0 / x.sqrt(), 0.1, 4.0),
        ("recip", |t| t.recip(), |x| 1.0 / x, 0.5, 4.0),
        ("sqr", |t| t.sqr(), |x| x * x, -3.0, 3.0),
        ("abs", |t| t.abs(), f64::abs, -3.0, 3.0),
        ("relu", |t| t.relu(), |x| x.max(0.0), -3.0, 3.0),
        ("silu", |t| t.silu(), |x| x * sigmoid(x), -3.0, 3.0),
        ("sigmoid", |t| t.sigmoid(), sigmoid, -3.0, 3.0),
        ("log_sigmoid", |t| t.log_sigmoid(), |x| -softplus(-x), -3.0, 3.0),
        ("softplus", |t| t.softplus(), softplus, -3.0, 3.0),
        ("tanh", |t| t.tanh(), f64::tanh, -3.0, 3.0),
        ("elu", |t| t.elu(0.7), |x| if x > 0.0 { x } else { 0.7 * x.exp_m1() }, -3.0, 3.0),
        ("powf", |t| t.powf(1.7), |x| x.powf(1.7), 0.1, 3.0),
        ("affine", |t| t.affine(-1.5, 0.25), |x| -1.5 * x + 0.25, -3.0, 3.0),
        ("clamp", |t| t.clamp(-0.5, 1.0), |x| x.clamp(-0.5, 1.0), -3.0, 3.0),
    ]
}

type Binary =
    (&'static str, fn(&Tensor, &Tensor) -> tensor::Result<Tensor>, fn(f64, f64) -> f64, f64, f64);

fn binary_cases() -> Vec<Binary> {
    vec![
        ("add", |a, b| a.add(b), |x, y| x + y, -3.0, 3.0),
        ("sub", |a, b| a.sub(b), |x, y| x - y, -3.0, 3.0),
        ("mul", |a, b| a.mul(b), |x, y| x * y, -3.0, 3.0),
        ("div", |a, b| a.div(b), |x, y| x / y, 0.5, 3.0),
        ("maximum", |a, b| a.maximum(b), f64::max, -3.0, 3.0),
        ("minimum", |a, b| a.minimum(b), f64::min, -3.0, 3.0),
        ("pow", |a, b| a.pow(b), f64::powf, 0.5, 2.0),
    ]
}

/// The result was computed from inputs already rounded to `dtype`; compare with the f64
/// reference of those rounded inputs. Add/sub of nearly equal values lose relative
/// accuracy, so the absolute part scales with the inputs' size (3).
fn tol_for(dtype: DType) -> Tol {
    let t = Tol::elementwise(dtype);
    Tol { atol: t.atol * 3.0, ..t }
}

proptest! {
    #![proptest_config(config(48))]

    #[test]
    fn unary_ops_match_reference(
        shape in arb_shape(),
        dtype in arb_dtype(),
        mode in arb_mode(),
        seed in any::<u64>(),
    ) {
        for (name, op, reference, lo, hi) in unary_cases() {
            let x = make(&shape, dtype, seed, mode, lo, hi);
            let y = op(&x).unwrap();
            prop_assert_eq!(y.dims(), x.dims());
            prop_assert_eq!(y.dtype(), dtype);
            let want: Vec<f64> =
                logical(&x).into_iter().map(|v| round_to(reference(v), dtype)).collect();
            assert_close(
                &format!("{name} {dtype} {shape:?} {mode:?}"),
                &logical(&y),
                &want,
                tol_for(dtype),
            );
        }
    }

    #[test]
    fn binary_ops_broadcast_and_match_reference(
        (_out, sa, sb) in arb_broadcast_pair(), dtype in arb_dtype(),
        ma in arb_mode(), mb in arb_mode(), seed in any::<u64>()
    ) {
        let out = broadcast_shapes("test", &sa, &sb).unwrap();
        for (name, op, reference, lo, hi) in binary_cases() {
            let a = make(&sa, dtype, seed, ma, lo, hi);
            let b = make(&sb, dtype, seed ^ 0x55, mb, lo, hi);
            let y = op(&a, &b).unwrap();
            prop_assert_eq!(y.dims(), out.dims());
            let (va, vb) = (logical(&a), logical(&b));
            let want: Vec<f64> = (0..out.numel())
                .map(|i| {
                    round_to(
                        reference(
                            va[bcast_index(out.dims(), &sa, i)],
                            vb[bcast_index(out.dims(), &sb, i)],
                        ),
                        dtype,
                    )
                })
                .collect();
            assert_close(
                &format!("{name} {dtype} {sa:?}x{sb:?}"),
                &logical(&y),
                &want,
                tol_for(dtype),
            );
        }
    }

    #[test]
    fn comparisons_and_where(
        (_out, sa, sb) in arb_broadcast_pair(),
        dtype in arb_dtype(),
        ma in arb_mode(),
        seed in any::<u64>(),
    ) {
        let out = broadcast_shapes("test", &sa, &sb).unwrap();
        // Few distinct values so that equality happens.
        let a = make(&sa, dtype, seed, ma, -2.0, 2.0)
            .affine(1.0, 0.0)
            .unwrap()
            .clamp(-1.0, 1.0)
            .unwrap();
        let b = make(&sb, dtype, seed ^ 1, Mode::Contiguous, -2.0, 2.0).clamp(-1.0, 1.0).unwrap();
        let (va, vb) = (logical(&a), logical(&b));
        let pick =
            |i: usize| (va[bcast_index(out.dims(), &sa, i)], vb[bcast_index(out.dims(), &sb, i)]);
        let cases: Vec<(fn(&Tensor, &Tensor) -> tensor::Result<Tensor>, fn(f64, f64) -> bool)> =
            vec![
                (|a, b| a.eq(b), |x, y| x == y),
                (|a, b| a.ne(b), |x, y| x != y),
                (|a, b| a.lt(b), |x, y| x < y),
                (|a, b| a.le(b), |x, y| x <= y),
                (|a, b| a.gt(b), |x, y| x > y),
                (|a, b| a.ge(b), |x, y| x >= y),
            ];
        for (op, r) in cases {
            let m = op(&a, &b).unwrap();
            prop_assert_eq!(m.dtype(), DType::U8);
            let want: Vec<f64> = (0..out.numel())
                .map(|i| {
                    let (x, y) = pick(i);
                    r(x, y) as u8 as f64
                })
                .collect();
            prop_assert_eq!(logical(&m), want);
        }
        let mask = a.gt(&b).unwrap();
        let w = mask.where_cond(&a, &b).unwrap();
        let want: Vec<f64> = (0..out.numel())
            .map(|i| {
                let (x, y) = pick(i);
                if x > y {
                    x
                } else {
                    y
                }
            })
            .collect();
        prop_assert_eq!(logical(&w), want);
    }

    #[test]
    fn casts_round_once(
        shape in arb_shape(),
        from in arb_dtype(),
        to in arb_dtype(),
        mode in arb_mode(),
        seed in any::<u64>(),
    ) {
        let x = make(&shape, from, seed, mode, -100.0, 100.0);
        let y = x.to_dtype(to).unwrap();
        prop_assert_eq!(y.dtype(), to);
        let want: Vec<f64> = logical(&x).into_iter().map(|v| round_to(v, to)).collect();
        prop_assert_eq!(logical(&y), want);
        let ids = x.to_dtype(DType::I64).unwrap();
        let want: Vec<f64> = logical(&x).into_iter().map(|v| v.trunc()).collect();
        prop_assert_eq!(logical(&ids), want);
    }

    #[test]
    fn large_strided_inputs_take_the_parallel_path(
        shape in arb_big_shape(),
        mode in arb_mode(),
        seed in any::<u64>(),
    ) {
        let mut big = shape.clone();
        big.push(600);
        let a = make(&big, DType::F32, seed, mode, -3.0, 3.0);
        let b = make(&big[1..], DType::F32, seed ^ 3, Mode::Permuted, -3.0, 3.0);
        let y = a.mul(&b).unwrap().exp().unwrap();
        let (va, vb) = (logical(&a), logical(&b));
        let want: Vec<f64> = (0..y.numel())
            .map(|i| round_to((va[i] * vb[bcast_index(&big, &big[1..], i)]).exp(), DType::F32))
            .collect();
        assert_close("mul+exp", &logical(&y), &want, Tol { atol: 1e-6, rtol: 1e-6, rms: 1e-6 });
    }
}

#[test]
fn mixed_float_dtypes_promote() {
    let a = Tensor::ones(3, DType::BF16, &Device::Cpu).unwrap();
    let b = Tensor::ones(3, DType::F16, &Device::Cpu).unwrap();
    assert_eq!(a.add(&b).unwrap().dtype(), DType::F32);
    let c = Tensor::ones(3, DType::F64, &Device::Cpu).unwrap();
    assert_eq!(a.add(&c).unwrap().dtype(), DType::F64);
    let ids = Tensor::from_vec(vec![1i64, 2, 3], 3, &Device::Cpu).unwrap();
    let err = a.add(&ids).unwrap_err().to_string();
    assert!(err.contains("add") && err.contains("bf16") && err.contains("i64"), "{err}");
    let err = a
        .exp()
        .unwrap()
        .add(&Tensor::ones([2, 2], DType::BF16, &Device::Cpu).unwrap())
        .unwrap_err()
        .to_string();
    assert!(err.contains("[3]") && err.contains("[2, 2]"), "{err}");
}
