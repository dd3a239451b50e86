//! Property tests: every op's backward rule against f64 central differences, on random
//! shapes, through non-contiguous views and broadcasting.

use autograd::{gradcheck, GradcheckOptions, Var};
use proptest::prelude::*;
use tensor::layout::broadcast_shapes;
use tensor::testing::{arb_broadcast_pair, config};
use tensor::{DType, Device, Rng, Tensor};

fn rand(dims: &[usize], lo: f64, hi: f64, seed: u64) -> Tensor {
    Tensor::rand_uniform(dims, lo, hi, DType::F64, &Device::Cpu, &mut Rng::new(seed)).unwrap()
}

/// Small shapes (gradcheck costs two forward passes per element).
fn small_shape() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(prop_oneof![1 => Just(1usize), 3 => 2usize..4], 0..4)
}

/// `x`, seen through a transposed view when it has two dims or more, so the op under test
/// reads a non-contiguous input.
fn through_view(x: &Var, transpose: bool) -> tensor::Result<Var> {
    if transpose && x.rank() >= 2 {
        x.t()?.t()?.transpose(0, x.rank() - 1)?.transpose(0, x.rank() - 1)
    } else {
        Ok(x.clone())
    }
}

fn check(
    f: impl Fn(&[Var]) -> tensor::Result<Vec<Var>>,
    inputs: &[Tensor],
) -> Result<(), TestCaseError> {
    gradcheck(f, inputs, &GradcheckOptions::default())
        .map(|_| ())
        .map_err(|e| TestCaseError::fail(e.to_string()))
}

type UnaryCase = (&'static str, fn(&Var) -> tensor::Result<Var>, f64, f64);

fn unary_cases() -> Vec<UnaryCase> {
    vec![
        ("neg", |x| x.neg(), -2.0, 2.0),
        ("exp", |x| x.exp(), -2.0, 2.0),
        ("log", |x| x.log(), 0.2, 3.0),
        ("sqrt", |x| x.sqrt(), 0.2, 3.0),
        ("rsqrt", |x| x.rsqrt(), 0.2, 3.0),
        ("recip", |x| x.recip(), 0.5, 3.0),
        ("sqr", |x| x.sqr(), -2.0, 2.0),
        ("abs", |x| x.abs(), 0.1, 2.0),
        ("abs_neg", |x| x.abs(), -2.0, -0.1),
        ("relu", |x| x.relu(), 0.1, 2.0),
        ("relu_neg", |x| x.relu(), -2.0, -0.1),
        ("silu", |x| x.silu(), -3.0, 3.0),
        ("sigmoid", |x| x.sigmoid(), -3.0, 3.0),
        ("log_sigmoid", |x| x.log_sigmoid(), -3.0, 3.0),
        ("softplus", |x| x.softplus(), -3.0, 3.0),
        ("tanh", |x| x.tanh(), -2.0, 2.0),
        ("elu", |x| x.elu(0.7), -2.0, 2.0),
        ("powf", |x| x.powf(2.5), 0.2, 2.0),
        ("affine", |x| x.affine(-1.5, 0.3), -2.0, 2.0),
        ("clamp", |x| x.clamp(-0.5, 0.5), -0.45, 0.45),
        ("clamp_out", |x| x.clamp(-0.5, 0.5), 0.6, 2.0),
    ]
}

type BinaryCase = (&'static str, fn(&Var, &Var) -> tensor::Result<Var>, f64, f64);

fn binary_cases() -> Vec<BinaryCase> {
    vec![
        ("add", |a, b| a.add(b), -2.0, 2.0),
        ("sub", |a, b| a.sub(b), -2.0, 2.0),
        ("mul", |a, b| a.mul(b), -2.0, 2.0),
        ("div", |a, b| a.div(b), 0.5, 2.0),
        ("maximum", |a, b| a.maximum(b), -2.0, 2.0),
        ("minimum", |a, b| a.minimum(b), -2.0, 2.0),
        ("pow", |a, b| a.pow(b), 0.5, 2.0),
    ]
}

proptest! {
    #![proptest_config(config(24))]

    #[test]
    fn unary_rules(shape in small_shape(), transpose in any::<bool>(), seed in any::<u64>()) {
        for (name, op, lo, hi) in unary_cases() {
            let x = rand(&shape, lo, hi, seed);
            check(|v| Ok(vec![op(&through_view(&v[0], transpose)?)?]), &[x])
                .map_err(|e| TestCaseError::fail(format!("{name}: {e}")))?;
        }
    }

    #[test]
    fn binary_rules_with_broadcasting(
        (_o, sa, sb) in arb_broadcast_pair(),
        transpose in any::<bool>(),
        seed in any::<u64>(),
    ) {
        prop_assume!(
            sa.iter().chain(&sb).all(|&d| d <= 4)
                && broadcast_shapes("t", &sa, &sb).unwrap().numel() <= 64
        );
        for (name, op, lo, hi) in binary_cases() {
            // max/min ties are not differentiable: keep the two inputs in disjoint ranges
            // for half of the elements' worth of coverage, and otherwise distinct values.
            let a = rand(&sa, lo, hi, seed);
            let b = rand(&sb, lo, hi, seed ^ 0xabc).affine(1.0, 1e-3)?;
            check(|v| Ok(vec![op(&through_view(&v[0], transpose)?, &v[1])?]), &[a, b])
                .map_err(|e| TestCaseError::fail(format!("{name} {sa:?} {sb:?}: {e}")))?;
        }
    }

    #[test]
    fn reductions_softmax_cumsum(
        shape in small_shape().prop_filter("rank >= 1", |s| !s.is_empty()),
        dim_pick in 0usize..3,
        keep in any::<bool>(),
        transpose in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let dim = dim_pick % shape.len();
        let x = rand(&shape, -2.0, 2.0, seed);
        let cases: Vec<(&str, Box<dyn Fn(&Var) -> tensor::Result<Var>>)> = vec![
            ("sum", Box::new(move |x| x.sum(dim, keep))),
            ("mean", Box::new(move |x| x.mean(dim, keep))),
            ("max", Box::new(move |x| x.max(dim, keep))),
            ("min", Box::new(move |x| x.min(dim, keep))),
            ("logsumexp", Box::new(move |x| x.logsumexp(dim, keep))),
            ("softmax", Box::new(move |x| x.softmax(dim))),
            ("log_softmax", Box::new(move |x| x.log_softmax(dim))),
            ("cumsum", Box::new(move |x| x.cumsum(dim))),
            ("sum_all", Box::new(|x| x.sum_all())),
            ("mean_all", Box::new(|x| x.mean_all())),
        ];
        for (name, op) in cases {
            check(|v| Ok(vec![op(&through_view(&v[0], transpose)?)?]), &[x.clone()])
                .map_err(|e| TestCaseError::fail(format!("{name} dim {dim}: {e}")))?;
        }
    }

    #[test]
    fn views_and_joins(
        shape in small_shape().prop_filter("rank >= 2", |s| s.len() >= 2),
        seed in any::<u64>(),
    ) {
        let x = rand(&shape, -2.0, 2.0, seed);
        let r = shape.len();
        let views: Vec<(&str, Box<dyn Fn(&Var) -> tensor::Result<Vec<Var>>>)> = vec![
            ("reshape", Box::new(|x| Ok(vec![x.reshape(x.value().numel())?]))),
            (
                "permute",
                Box::new(move |x| Ok(vec![x.permute(&(0..r).rev().collect::<Vec<_>>())?.exp()?])),
            ),
            (
                "narrow",
                Box::new(|x| {
                    let n = x.dims()[0];
                    Ok(vec![x.narrow(0, n / 2, n - n / 2)?.sqr()?])
                }),
            ),
            ("select", Box::new(|x| Ok(vec![x.select(1, 0)?.sqr()?]))),
            ("squeeze_unsqueeze", Box::new(|x| Ok(vec![x.unsqueeze(1)?.sqr()?.squeeze(1)?]))),
            (
                "broadcast",
                Box::new(|x| {
                    let mut d = vec![2];
                    d.extend(x.dims());
                    Ok(vec![x.broadcast_as(d)?.sqr()?])
                }),
            ),
            ("contiguous", Box::new(|x| Ok(vec![x.t()?.contiguous()?.sqr()?]))),
            (
                "chunk (several outputs)",
                Box::new(|x| {
                    Ok(x.chunk(2, 0)?
                        .into_iter()
                        .map(|c| c.sqr())
                        .collect::<tensor::Result<Vec<_>>>()?)
                }),
            ),
            ("cat", Box::new(|x| Ok(vec![Var::cat(&[x, &x.sqr()?, x], 1)?]))),
            ("stack", Box::new(|x| Ok(vec![Var::stack(&[x, &x.exp()?], 0)?]))),
        ];
        for (name, f) in views {
            check(|v| f(&v[0]), &[x.clone()])
                .map_err(|e| TestCaseError::fail(format!("{name}: {e}")))?;
        }
        let cond = x.gt(&Tensor::scalar(0.0, DType::F64, &Device::Cpu).unwrap())?;
        check(
            |v| Ok(vec![Var::where_cond(&cond, &v[0], &v[1])?]),
            &[x.clone(), rand(&shape[1..], -1.0, 1.0, seed ^ 1)],
        )?;
    }

    #[test]
    fn matmul_with_broadcast_batches(
        b in 1usize..3,
        m in 1usize..4,
        k in 1usize..4,
        n in 1usize..4,
        bcast in any::<bool>(),
        ta in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let a = rand(&[b, m, k], -1.0, 1.0, seed);
        let w = if bcast {
            rand(&[k, n], -1.0, 1.0, seed ^ 2)
        } else {
            rand(&[b, k, n], -1.0, 1.0, seed ^ 2)
        };
        check(|v| {
            let a = if ta { v[0].t()?.contiguous()?.t()? } else { v[0].clone() };
            Ok(vec![a.matmul(&v[1])?])
        }, &[a, w])?;
        // vectors
        check(
            |v| Ok(vec![v[0].matmul(&v[1])?, v[1].t()?.matmul(&v[0])?]),
            &[rand(&[k], -1.0, 1.0, seed), rand(&[k, n], -1.0, 1.0, seed ^ 3)],
        )?;
    }

    #[test]
    fn gather_and_index_select(
        rows in 1usize..5,
        cols in 1usize..5,
        n in 1usize..6,
        seed in any::<u64>(),
    ) {
        let mut rng = Rng::new(seed);
        let ids = Tensor::from_vec(
            (0..n).map(|_| rng.below(rows) as i64).collect::<Vec<_>>(),
            n,
            &Device::Cpu,
        )?;
        let x = rand(&[rows, cols], -1.0, 1.0, seed);
        check(|v| Ok(vec![v[0].index_select(&ids, 0)?]), &[x.clone()])?;
        let gi = Tensor::from_vec(
            (0..rows * n).map(|_| rng.below(cols) as i64).collect::<Vec<_>>(),
            [rows, n],
            &Device::Cpu,
        )?;
        check(|v| Ok(vec![v[0].gather(&gi, 1)?]), &[x])?;
    }
}

#[test]
fn var_chunk_and_tensor_chunk_agree() {
    let t = rand(&[5, 2], -1.0, 1.0, 1);
    let v = Var::leaf(t.clone());
    for n in 1..7 {
        let (a, b) = (t.chunk(n, 0).unwrap(), v.chunk(n, 0).unwrap());
        assert_eq!(
            a.iter().map(|x| x.dims().to_vec()).collect::<Vec<_>>(),
            b.iter().map(|x| x.dims().to_vec()).collect::<Vec<_>>()
        );
    }
    assert!(t.chunk(0, 0).is_err() && v.chunk(0, 0).is_err());
}

#[test]
fn gradcheck_catches_a_wrong_rule() {
    // A deliberately wrong backward: claims d/dx x^2 = x.
    struct Wrong(Tensor);
    impl autograd::Backward for Wrong {
        fn name(&self) -> &'static str {
            "wrong"
        }
        fn backward(
            &self,
            g: &[Option<Tensor>],
            _needs: &[bool],
        ) -> tensor::Result<Vec<Option<Tensor>>> {
            Ok(vec![Some(g[0].as_ref().unwrap().mul(&self.0)?)])
        }
    }
    let x = rand(&[3], 0.5, 1.0, 1);
    let r = gradcheck(
        |v| Ok(vec![Var::from_op1(Wrong(v[0].value().clone()), &[&v[0]], v[0].value().sqr()?)]),
        &[x],
        &GradcheckOptions::default(),
    );
    assert!(r.unwrap_err().to_string().contains("gradcheck"));
}

#[test]
fn casts_pass_the_gradient_through_in_the_input_dtype() {
    let x = Var::leaf(rand(&[4], -1.0, 1.0, 3));
    let w = Tensor::from_vec(vec![0.5f32, -2.0, 3.0, 0.25], 4, &Device::Cpu).unwrap();
    let y = x
        .to_dtype(DType::BF16)
        .unwrap()
        .to_dtype(DType::F32)
        .unwrap()
        .mul(&Var::constant(w))
        .unwrap()
        .sum_all()
        .unwrap();
    let g = y.backward().unwrap().get(&x).unwrap().clone();
    assert_eq!(g.dtype(), DType::F64);
    assert_eq!(g.to_vec_f64().unwrap(), vec![0.5, -2.0, 3.0, 0.25]);
}
