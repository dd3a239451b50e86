//! The losses (`nn::loss`): cross-entropy, KL to a teacher and MSE, each a fused op, against
//! f64 central differences on random shapes and against the composites of primitive ops
//! they replace; MSE computes only the gradients asked for; stage 2's chunked loss from hidden
//! states against the same losses on whole logits.

use autograd::{gradcheck, GradcheckOptions, Var};
use nn::{cross_entropy, kl_div, mse};
use proptest::prelude::*;
use tensor::testing::config;
use tensor::{DType, Device, Rng, Tensor};

fn rand(dims: &[usize], lo: f64, hi: f64, seed: u64) -> Tensor {
    Tensor::rand_uniform(dims, lo, hi, DType::F64, &Device::Cpu, &mut Rng::new(seed)).unwrap()
}

fn check(
    f: impl Fn(&[Var]) -> tensor::Result<Vec<Var>>,
    inputs: &[Tensor],
) -> Result<(), TestCaseError> {
    gradcheck(f, inputs, &GradcheckOptions::default())
        .map(|_| ())
        .map_err(|e| TestCaseError::fail(e.to_string()))
}

proptest! {
    #![proptest_config(config(24))]

    #[test]
    fn losses(
        n in 1usize..5,
        v in 2usize..6,
        temp in prop_oneof![Just(1.0), Just(2.0)],
        seed in any::<u64>(),
    ) {
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

/// Stage 2's chunked loss from hidden states equals the KL (and cross-entropy) on whole
/// logits, value and every gradient, for any chunk size: chunks of one row, chunks that
/// cross sequences, a last partial chunk, one chunk for everything.
#[test]
fn head_loss_equals_the_loss_on_whole_logits() {
    use autograd::Param;
    use nn::linear::Linear;
    use nn::loss::{head_loss, HeadLoss};
    let (b, t, d, v) = (2, 5, 8, 11);
    let ids: Vec<i64> = (0..b * t).map(|i| ((i * 7 + 3) % v) as i64).collect();
    let ids = Tensor::from_vec(ids, [b, t], &Device::Cpu).unwrap();
    let ht = rand(&[b, t, d], -1.0, 1.0, 2);
    let head_t = Linear::new(Param::frozen("t", rand(&[v, d], -1.0, 1.0, 3)), None);
    for (ce_weight, temperature) in [(0.0, 1.0), (0.5, 2.0)] {
        // Each run: fresh leaves for the student's states and head weight.
        let run = |chunk_rows: Option<usize>| {
            let w = Param::new("s", rand(&[v, d], -1.0, 1.0, 4));
            let head_s = Linear::new(w.clone(), None);
            let hs = Var::leaf(rand(&[b, t, d], -1.0, 1.0, 1));
            let loss = match chunk_rows {
                Some(c) => {
                    let opts = HeadLoss { temperature, ce_weight, chunk_rows: c };
                    head_loss(&hs, &head_s, &ht, &head_t, &ids, opts).unwrap()
                }
                None => {
                    let s = head_s.forward(&hs).unwrap();
                    let tl = head_t.forward(&Var::constant(ht.clone())).unwrap();
                    let kl = kl_div(&s, tl.value(), temperature).unwrap();
                    let ce = nn::model::next_token_loss(&s, &ids).unwrap();
                    kl.add(&ce.scale(ce_weight).unwrap()).unwrap()
                }
            };
            let grads = loss.backward().unwrap();
            let dh = grads.get(&hs).unwrap().clone();
            (loss.value().to_scalar().unwrap(), dh, w.grad().unwrap())
        };
        let (l0, dh0, dw0) = run(None);
        for c in [1, 3, 4, 10, 100] {
            let (l, dh, dw) = run(Some(c));
            let what = format!("chunks of {c}, ce {ce_weight}");
            assert!((l - l0).abs() <= 1e-12 * l0.abs().max(1.0), "{what}: loss {l} vs {l0}");
            for (name, x, y) in [("dh", &dh, &dh0), ("dW", &dw, &dw0)] {
                let (x, y) = (x.to_vec_f64().unwrap(), y.to_vec_f64().unwrap());
                let worst = x.iter().zip(&y).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
                assert!(worst <= 1e-12, "{what}: {name} differs by {worst}");
                assert!(y.iter().any(|&g| g != 0.0), "{what}: {name} is all zero");
            }
        }
    }
}
