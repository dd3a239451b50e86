//! Property tests: every op's backward rule against f64 central differences, on random
//! shapes, through non-contiguous views and broadcasting.

use autograd::{cross_entropy, gradcheck, kl_div, mse, GradcheckOptions, Var};
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
            check(|v| Ok(vec![op(&through_view(&v[0], transpose)?)?]), &[x]).map_err(|e| TestCaseError::fail(format!("{name}: {e}")))?;
        }
    }

    #[test]
    fn binary_rules_with_broadcasting((_o, sa, sb) in arb_broadcast_pair(), transpose in any::<bool>(), seed in any::<u64>()) {
        prop_assume!(sa.iter().chain(&sb).all(|&d| d <= 4) && broadcast_shapes("t", &sa, &sb).unwrap().numel() <= 64);
        for (name, op, lo, hi) in binary_cases() {
            // max/min ties are not differentiable: keep the two inputs in disjoint ranges
            // for half of the elements' worth of coverage, and otherwise distinct values.
            let a = rand(&sa, lo, hi, seed);
            let b = rand(&sb, lo, hi, seed ^ 0xabc).affine(1.0, 1e-3)?;
            check(|v| Ok(vec![op(&through_view(&v[0], transpose)?, &v[1])?]), &[a, b]).map_err(|e| TestCaseError::fail(format!("{name} {sa:?} {sb:?}: {e}")))?;
        }
    }

    #[test]
    fn reductions_softmax_cumsum(shape in small_shape().prop_filter("rank >= 1", |s| !s.is_empty()), dim_pick in 0usize..3, keep in any::<bool>(), transpose in any::<bool>(), seed in any::<u64>()) {
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
            check(|v| Ok(vec![op(&through_view(&v[0], transpose)?)?]), &[x.clone()]).map_err(|e| TestCaseError::fail(format!("{name} dim {dim}: {e}")))?;
        }
    }

    #[test]
    fn views_and_joins(shape in small_shape().prop_filter("rank >= 2", |s| s.len() >= 2), seed in any::<u64>()) {
        let x = rand(&shape, -2.0, 2.0, seed);
        let r = shape.len();
        let views: Vec<(&str, Box<dyn Fn(&Var) -> tensor::Result<Vec<Var>>>)> = vec![
            ("reshape", Box::new(|x| Ok(vec![x.reshape(x.value().numel())?]))),
            ("permute", Box::new(move |x| Ok(vec![x.permute(&(0..r).rev().collect::<Vec<_>>())?.exp()?]))),
            ("narrow", Box::new(|x| { let n = x.dims()[0]; Ok(vec![x.narrow(0, n / 2, n - n / 2)?.sqr()?]) })),
            ("select", Box::new(|x| Ok(vec![x.select(1, 0)?.sqr()?]))),
            ("squeeze_unsqueeze", Box::new(|x| Ok(vec![x.unsqueeze(1)?.sqr()?.squeeze(1)?]))),
            ("broadcast", Box::new(|x| { let mut d = vec![2]; d.extend(x.dims()); Ok(vec![x.broadcast_as(d)?.sqr()?]) })),
            ("contiguous", Box::new(|x| Ok(vec![x.t()?.contiguous()?.sqr()?]))),
            ("chunk (several outputs)", Box::new(|x| Ok(x.chunk(2, 0)?.into_iter().map(|c| c.sqr()).collect::<tensor::Result<Vec<_>>>()?))),
            ("cat", Box::new(|x| Ok(vec![Var::cat(&[x, &x.sqr()?, x], 1)?]))),
            ("stack", Box::new(|x| Ok(vec![Var::stack(&[x, &x.exp()?], 0)?]))),
        ];
        for (name, f) in views {
            check(|v| f(&v[0]), &[x.clone()]).map_err(|e| TestCaseError::fail(format!("{name}: {e}")))?;
        }
        let cond = x.gt(&Tensor::scalar(0.0, DType::F64, &Device::Cpu).unwrap())?;
        check(|v| Ok(vec![Var::where_cond(&cond, &v[0], &v[1])?]), &[x.clone(), rand(&shape[1..], -1.0, 1.0, seed ^ 1)])?;
    }

    #[test]
    fn matmul_with_broadcast_batches(b in 1usize..3, m in 1usize..4, k in 1usize..4, n in 1usize..4, bcast in any::<bool>(), ta in any::<bool>(), seed in any::<u64>()) {
        let a = rand(&[b, m, k], -1.0, 1.0, seed);
        let w = if bcast { rand(&[k, n], -1.0, 1.0, seed ^ 2) } else { rand(&[b, k, n], -1.0, 1.0, seed ^ 2) };
        check(|v| {
            let a = if ta { v[0].t()?.contiguous()?.t()? } else { v[0].clone() };
            Ok(vec![a.matmul(&v[1])?])
        }, &[a, w])?;
        // vectors
        check(|v| Ok(vec![v[0].matmul(&v[1])?, v[1].t()?.matmul(&v[0])?]), &[rand(&[k], -1.0, 1.0, seed), rand(&[k, n], -1.0, 1.0, seed ^ 3)])?;
    }

    #[test]
    fn gather_and_index_select(rows in 1usize..5, cols in 1usize..5, n in 1usize..6, seed in any::<u64>()) {
        let mut rng = Rng::new(seed);
        let ids = Tensor::from_vec((0..n).map(|_| rng.below(rows) as i64).collect::<Vec<_>>(), n, &Device::Cpu)?;
        let x = rand(&[rows, cols], -1.0, 1.0, seed);
        check(|v| Ok(vec![v[0].index_select(&ids, 0)?]), &[x.clone()])?;
        let gi = Tensor::from_vec((0..rows * n).map(|_| rng.below(cols) as i64).collect::<Vec<_>>(), [rows, n], &Device::Cpu)?;
        check(|v| Ok(vec![v[0].gather(&gi, 1)?]), &[x])?;
    }

    #[test]
    fn losses(n in 1usize..5, v in 2usize..6, temp in prop_oneof![Just(1.0), Just(2.0)], seed in any::<u64>()) {
        let mut rng = Rng::new(seed);
        let logits = rand(&[n, v], -2.0, 2.0, seed);
        let mut t: Vec<i64> = (0..n).map(|_| rng.below(v) as i64).collect();
        if n > 1 { t[0] = -100; }
        let targets = Tensor::from_vec(t, n, &Device::Cpu)?;
        check(|x| Ok(vec![cross_entropy(&x[0], &targets, Some(-100))?]), &[logits.clone()])?;
        let teacher = rand(&[n, v], -2.0, 2.0, seed ^ 5);
        check(|x| Ok(vec![kl_div(&x[0], &teacher, temp)?]), &[logits.clone()])?;
        check(|x| Ok(vec![mse(&x[0], &x[1])?]), &[logits, teacher])?;
    }
}

#[test]
fn fused_losses_match_their_composites() {
    let mut rng = Rng::new(4);
    let logits = Tensor::randn([2, 3, 7], 2.0, DType::F64, &Device::Cpu, &mut rng).unwrap();
    let targets = Tensor::from_vec(vec![1i64, 6, -100, 0, 3, 2], [2, 3], &Device::Cpu).unwrap();
    let x = Var::leaf(logits.clone());
    let fused = cross_entropy(&x, &targets, Some(-100)).unwrap();
    let gf = fused.backward().unwrap().get(&x).unwrap().to_vec_f64().unwrap();
    // composite: mean over counted rows of lse - z_t
    let y = Var::leaf(logits.clone());
    let flat = y.reshape([6, 7]).unwrap();
    let safe = Tensor::from_vec(vec![1i64, 6, 0, 0, 3, 2], [6, 1], &Device::Cpu).unwrap();
    let mask = Tensor::from_vec(vec![1.0, 1.0, 0.0, 1.0, 1.0, 1.0], [6, 1], &Device::Cpu).unwrap();
    let per = flat.logsumexp(1, true).unwrap().sub(&flat.gather(&safe, 1).unwrap()).unwrap();
    let comp = per.mul(&Var::constant(mask)).unwrap().sum_all().unwrap().scale(1.0 / 5.0).unwrap();
    assert!((fused.to_scalar().unwrap() - comp.to_scalar().unwrap()).abs() < 1e-12);
    let gc = comp.backward().unwrap().get(&y).unwrap().to_vec_f64().unwrap();
    tensor::tolerance::assert_close(
        "ce grad",
        &gf,
        &gc,
        tensor::tolerance::Tol::elementwise(DType::F64),
    );

    let teacher = Tensor::randn([2, 3, 7], 2.0, DType::F64, &Device::Cpu, &mut rng).unwrap();
    let x = Var::leaf(logits.clone());
    let fused = kl_div(&x, &teacher, 2.0).unwrap();
    let gf = fused.backward().unwrap().get(&x).unwrap().to_vec_f64().unwrap();
    let y = Var::leaf(logits);
    let lps = y.scale(0.5).unwrap().log_softmax(2).unwrap();
    let lpt = Var::constant(teacher.scale(0.5).unwrap().log_softmax(2).unwrap());
    let comp = lpt
        .exp()
        .unwrap()
        .mul(&lpt.sub(&lps).unwrap())
        .unwrap()
        .sum_all()
        .unwrap()
        .scale(1.0 / 6.0)
        .unwrap();
    assert!((fused.to_scalar().unwrap() - comp.to_scalar().unwrap()).abs() < 1e-12);
    let gc = comp.backward().unwrap().get(&y).unwrap().to_vec_f64().unwrap();
    tensor::tolerance::assert_close(
        "kl grad",
        &gf,
        &gc,
        tensor::tolerance::Tol::elementwise(DType::F64),
    );
}

#[test]
fn fused_mse_matches_its_composite_and_computes_only_needed_gradients() {
    let mut rng = Rng::new(9);
    let a = Tensor::randn([3, 5], 1.0, DType::F64, &Device::Cpu, &mut rng).unwrap();
    let b = Tensor::randn([3, 5], 1.0, DType::F64, &Device::Cpu, &mut rng).unwrap();
    let (x, y) = (Var::leaf(a.clone()), Var::leaf(b.clone()));
    let fused = mse(&x, &y).unwrap();
    let g = fused.backward().unwrap();
    let (x2, y2) = (Var::leaf(a.clone()), Var::leaf(b.clone()));
    let comp = x2.sub(&y2).unwrap().sqr().unwrap().mean_all().unwrap();
    let gc = comp.backward().unwrap();
    assert!((fused.to_scalar().unwrap() - comp.to_scalar().unwrap()).abs() < 1e-14);
    for (f, c) in [(g.get(&x), gc.get(&x2)), (g.get(&y), gc.get(&y2))] {
        tensor::tolerance::assert_close(
            "mse grad",
            &f.unwrap().to_vec_f64().unwrap(),
            &c.unwrap().to_vec_f64().unwrap(),
            tensor::tolerance::Tol::elementwise(DType::F64),
        );
    }
    // a constant target gets no gradient
    let x3 = Var::leaf(a);
    let g3 = mse(&x3, &Var::constant(b)).unwrap().backward().unwrap();
    assert_eq!(g3.len(), 1);
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
