//! Property tests of LAWCAT's ops: the chunked scan against the recurrent reference on
//! awkward lengths, head dims and gate strengths (weak to strong), with and without
//! normalization and initial states, every output and gradient; gradcheck of both forms in
//! f64; the conv1d against its f64 reference loops, and its decoding step; the fused Hedgehog
//! map against its composite.

use autograd::{backward_multi, gradcheck, GradcheckOptions, Var};
use lawcat::ops::conv1d::{conv1d, conv1d_reference, conv1d_step};
use lawcat::ops::gla::{gla, gla_normalized, GlaMode, NormState};
use proptest::prelude::*;
use tensor::testing::config;
use tensor::tolerance::{compare_tensors, Tol};
use tensor::{DType, Device, Rng, Tensor};

struct Case {
    q: Tensor,
    k: Tensor,
    v: Tensor,
    g: Tensor,
    s0: Tensor,
}

/// Random inputs; log gates uniform in `[-strength, -strength / 100]` (from -0.01 to -10
/// as `strength` goes from 1 to 10, weaker with smaller values).
fn case(
    b: usize,
    t: usize,
    h: usize,
    k: usize,
    v: usize,
    strength: f64,
    dtype: DType,
    seed: u64,
) -> Case {
    let mut rng = Rng::new(seed);
    Case {
        q: Tensor::randn([b, t, h, k], 1.0, dtype, &Device::Cpu, &mut rng).unwrap(),
        k: Tensor::randn([b, t, h, k], 1.0, dtype, &Device::Cpu, &mut rng).unwrap(),
        v: Tensor::randn([b, t, h, v], 1.0, dtype, &Device::Cpu, &mut rng).unwrap(),
        g: Tensor::rand_uniform(
            [b, t, h, k],
            -strength,
            -strength / 100.0,
            dtype,
            &Device::Cpu,
            &mut rng,
        )
        .unwrap(),
        s0: Tensor::randn([b, h, k, v], 1.0, dtype, &Device::Cpu, &mut rng).unwrap(),
    }
}

/// Outputs and gradients of one form: `[o, state, dq, dk, dv, dg, ds0]`.
fn run(c: &Case, mode: GlaMode, normalized: bool, with_s0: bool, seed: u64) -> Vec<Tensor> {
    let (q, k, v, g, s0) = (
        Var::leaf(c.q.clone()),
        Var::leaf(c.k.clone()),
        Var::leaf(c.v.clone()),
        Var::leaf(c.g.clone()),
        Var::leaf(c.s0.clone()),
    );
    let (o, st) = if normalized {
        // keys must keep the denominator away from zero: use positive features, as phi does
        let (qp, kp) = (q.exp().unwrap(), k.exp().unwrap());
        let init = with_s0.then(|| NormState {
            s: s0.clone(),
            z: Var::constant(c.s0.narrow(3, 0, 1).unwrap().squeeze(3).unwrap().abs().unwrap()),
        });
        let (o, st) = gla_normalized(&qp, &kp, &v, &g, init.as_ref(), 1e-6, mode).unwrap();
        (o, st.s)
    } else {
        gla(&q, &k, &v, &g, with_s0.then_some(&s0), 0.25, mode).unwrap()
    };
    let mut rng = Rng::new(seed);
    let dt = o.dtype();
    let grads = backward_multi(&[
        (&o, Tensor::randn(o.dims(), 1.0, dt, &Device::Cpu, &mut rng).unwrap()),
        (&st, Tensor::randn(st.dims(), 1.0, dt, &Device::Cpu, &mut rng).unwrap()),
    ])
    .unwrap();
    let mut out = vec![o.value().clone(), st.value().clone()];
    for x in [&q, &k, &v, &g] {
        out.push(grads.get(x).unwrap().clone());
    }
    if with_s0 {
        out.push(grads.get(&s0).unwrap().clone());
    }
    out
}

const NAMES: [&str; 7] = ["o", "final state", "dq", "dk", "dv", "dg", "d_initial"];

proptest! {
    #![proptest_config(config(24))]

    #[test]
    fn chunked_equals_recurrent(
        t in prop_oneof![Just(1usize), Just(63), Just(65), Just(130), 2usize..40],
        kd in prop_oneof![Just(4usize), Just(16), Just(60)],
        vd in prop_oneof![Just(3usize), Just(8), Just(33)],
        strength in prop_oneof![Just(1.0f64), Just(10.0), 0.5f64..10.0],
        chunk in prop_oneof![Just(64usize), Just(16), Just(40)],
        normalized in any::<bool>(), with_s0 in any::<bool>(), seed in any::<u64>()
    ) {
        let c = case(2, t, 2, kd, vd, strength, DType::F64, seed);
        let a = run(&c, GlaMode::Recurrent, normalized, with_s0, seed);
        let b = run(&c, GlaMode::Chunked(chunk), normalized, with_s0, seed);
        for (i, (x, y)) in a.iter().zip(&b).enumerate() {
            // both in f64: only summation order differs
            let cmp = compare_tensors(y, x, Tol { atol: 1e-10, rtol: 1e-9, rms: 1e-9 }).unwrap();
            prop_assert!(cmp.pass, "{} (t={t}, K={kd}, V={vd}, strength={strength}, chunk={chunk}, \
                                    normalized={normalized}): {cmp}", NAMES[i]);
        }
        // and the f32 chunked form stays close to the f64 reference
        let c32 = Case {
            q: c.q.to_dtype(DType::F32)?,
            k: c.k.to_dtype(DType::F32)?,
            v: c.v.to_dtype(DType::F32)?,
            g: c.g.to_dtype(DType::F32)?,
            s0: c.s0.to_dtype(DType::F32)?,
        };
        let f = run(&c32, GlaMode::Chunked(chunk), normalized, with_s0, seed);
        for (i, (x, y)) in a.iter().zip(&f).enumerate() {
            // f32 rounding of sums over up to 130 steps, relative to the tensor's scale
            // (an element can be an exact zero in f64, e.g. dg with no earlier state).
            let scale = x.abs()?.max_all()?.to_scalar()?.max(1.0);
            let cmp =
                compare_tensors(y, x, Tol { atol: 2e-5 * scale, rtol: 1e-3, rms: 2e-4 }).unwrap();
            prop_assert!(cmp.pass, "f32 {}: {cmp}", NAMES[i]);
        }
    }

    #[test]
    fn gradcheck_both_forms(
        t in 1usize..20,
        strength in prop_oneof![Just(0.5f64), Just(10.0)],
        normalized in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let c = case(1, t, 2, 3, 2, strength, DType::F64, seed);
        for mode in [GlaMode::Recurrent, GlaMode::Chunked(16), GlaMode::Chunked(4)] {
            let r = gradcheck(
                |v| {
                    if normalized {
                        let (o, st) = gla_normalized(
                            &v[0].exp()?,
                            &v[1].exp()?,
                            &v[2],
                            &v[3],
                            None,
                            1e-6,
                            mode,
                        )?;
                        Ok(vec![o, st.s, st.z])
                    } else {
                        let (o, s) = gla(&v[0], &v[1], &v[2], &v[3], Some(&v[4]), 0.5, mode)?;
                        Ok(vec![o, s])
                    }
                },
                &[c.q.clone(), c.k.clone(), c.v.clone(), c.g.clone(), c.s0.clone()],
                &GradcheckOptions::default(),
            );
            prop_assert!(r.is_ok(), "{mode:?} normalized={normalized}: {}", r.err().unwrap());
        }
    }

    #[test]
    fn conv1d_matches_reference_loops(
        b in 1usize..3,
        t in 0usize..40,
        c in prop_oneof![1usize..8, Just(64), Just(70)],
        w in 1usize..6,
        bias in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let mut rng = Rng::new(seed);
        let x = Tensor::randn([b, t, c], 1.0, DType::F64, &Device::Cpu, &mut rng).unwrap();
        let wt = Tensor::randn([c, w], 1.0, DType::F64, &Device::Cpu, &mut rng).unwrap();
        let bt = Tensor::randn(c, 1.0, DType::F64, &Device::Cpu, &mut rng).unwrap();
        let dy = Tensor::randn([b, t, c], 1.0, DType::F64, &Device::Cpu, &mut rng).unwrap();
        let (xv, wv, bv, dyv) =
            (Var::leaf(x.clone()), Var::leaf(wt.clone()), Var::leaf(bt.clone()), dy.to_vec_f64()?);
        let y = conv1d(&xv, &wv, bias.then_some(&bv))?;
        let bias_vals = bt.to_vec_f64()?;
        let (ry, rdx, rdw, rdb) = conv1d_reference(
            &x.to_vec_f64()?,
            &wt.to_vec_f64()?,
            bias.then_some(&bias_vals[..]),
            Some(&dyv),
            b,
            t,
            c,
            w,
        );
        let tol = Tol::accumulated(DType::F64, w * b * t, 4.0);
        tensor::tolerance::assert_close("y", &y.value().to_vec_f64()?, &ry, tol);
        let g = y.backward_with(dy)?;
        tensor::tolerance::assert_close("dx", &g.get(&xv).unwrap().to_vec_f64()?, &rdx, tol);
        tensor::tolerance::assert_close("dw", &g.get(&wv).unwrap().to_vec_f64()?, &rdw, tol);
        if bias {
            tensor::tolerance::assert_close("db", &g.get(&bv).unwrap().to_vec_f64()?, &rdb, tol);
        }
    }

    #[test]
    fn conv1d_decoding_steps_equal_one_pass(
        t in 1usize..30,
        split in 0usize..30,
        w in 1usize..5,
        seed in any::<u64>(),
    ) {
        let mut rng = Rng::new(seed);
        let (b, c) = (2, 5);
        let x = Tensor::randn([b, t, c], 1.0, DType::F32, &Device::Cpu, &mut rng).unwrap();
        let wt =
            Var::constant(Tensor::randn([c, w], 1.0, DType::F32, &Device::Cpu, &mut rng).unwrap());
        let bt = Var::constant(Tensor::randn(c, 1.0, DType::F32, &Device::Cpu, &mut rng).unwrap());
        let full = conv1d(&Var::constant(x.clone()), &wt, Some(&bt))?;
        let cut = split.min(t);
        let mut tail = Tensor::zeros([b, w - 1, c], DType::F32, &Device::Cpu).unwrap();
        let mut parts = vec![];
        for (s, n) in [(0, cut), (cut, t - cut)] {
            if n == 0 { continue; }
            for i in 0..n {
                let (y, nt) =
                    conv1d_step(&Var::constant(x.narrow(1, s + i, 1)?), &tail, &wt, Some(&bt))?;
                parts.push(y.value().clone());
                tail = nt;
            }
        }
        let stitched = Tensor::cat(&parts.iter().collect::<Vec<_>>(), 1)?;
        prop_assert_eq!(stitched.to_vec::<f32>()?, full.value().to_vec::<f32>()?);
    }
}

#[test]
fn conv1d_gradchecks_and_rejects_bad_shapes() {
    let mut rng = Rng::new(1);
    let x = Tensor::randn([2, 7, 3], 1.0, DType::F64, &Device::Cpu, &mut rng).unwrap();
    let w = Tensor::randn([3, 4], 1.0, DType::F64, &Device::Cpu, &mut rng).unwrap();
    let b = Tensor::randn(3, 1.0, DType::F64, &Device::Cpu, &mut rng).unwrap();
    gradcheck(
        |v| Ok(vec![conv1d(&v[0], &v[1], Some(&v[2]))?]),
        &[x.clone(), w, b],
        &GradcheckOptions::default(),
    )
    .unwrap();
    let e = conv1d(
        &Var::constant(x),
        &Var::constant(Tensor::zeros([4, 4], DType::F64, &Device::Cpu).unwrap()),
        None,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("conv1d") && e.contains("[2, 7, 3]") && e.contains("[4, 4]"), "{e}");
}

#[test]
fn per_head_scalar_gates_equal_broadcast_feature_gates_and_gradcheck() {
    let c = case(1, 9, 2, 3, 2, 2.0, DType::F64, 4);
    let g3 = c.g.narrow(3, 0, 1).unwrap().squeeze(3).unwrap().contiguous().unwrap();
    let g4 = g3.unsqueeze(3).unwrap().broadcast_as([1, 9, 2, 3]).unwrap().contiguous().unwrap();
    let q = Var::constant(c.q.clone());
    let (a, _) = gla(
        &q,
        &Var::constant(c.k.clone()),
        &Var::constant(c.v.clone()),
        &Var::constant(g3.clone()),
        None,
        0.5,
        GlaMode::Chunked(4),
    )
    .unwrap();
    let (b, _) = gla(
        &q,
        &Var::constant(c.k.clone()),
        &Var::constant(c.v.clone()),
        &Var::constant(g4),
        None,
        0.5,
        GlaMode::Recurrent,
    )
    .unwrap();
    assert!(
        compare_tensors(a.value(), b.value(), Tol { atol: 1e-12, rtol: 1e-10, rms: 1e-10 })
            .unwrap()
            .pass
    );
    gradcheck(
        |v| {
            let (o, s) = gla(&v[0], &v[1], &v[2], &v[3], None, 0.5, GlaMode::Chunked(4))?;
            Ok(vec![o, s])
        },
        &[c.q, c.k, c.v, g3],
        &GradcheckOptions::default(),
    )
    .unwrap();
}

#[test]
fn gla_rejects_mismatched_shapes() {
    let q = Var::constant(Tensor::zeros([1, 4, 2, 8], DType::F32, &Device::Cpu).unwrap());
    let v = Var::constant(Tensor::zeros([1, 5, 2, 8], DType::F32, &Device::Cpu).unwrap());
    let e = gla(&q, &q, &v, &q, None, 1.0, GlaMode::Recurrent).unwrap_err().to_string();
    assert!(e.contains("gla") && e.contains("[1, 5, 2, 8]"), "{e}");
}

#[test]
fn hedgehog_equals_its_composite_and_gradchecks() {
    use lawcat::ops::feature_map::{hedgehog, hedgehog_composite};
    let mut rng = Rng::new(5);
    for (dims, dtype, spread) in [
        (vec![3, 4, 5], DType::F64, 2.0),
        (vec![2, 7, 64], DType::F32, 3.0),
        (vec![6, 1], DType::F32, 1.0),
        (vec![4, 9], DType::F32, 90.0),
    ] {
        // A permuted view, as the feature map hands it over.
        let mut stored = dims.clone();
        stored.swap(0, 1);
        let z = Tensor::rand_uniform(stored, -spread, spread, dtype, &Device::Cpu, &mut rng)
            .unwrap()
            .permute(if dims.len() == 3 { &[1, 0, 2][..] } else { &[1, 0][..] })
            .unwrap();
        let mut gd = dims.clone();
        *gd.last_mut().unwrap() *= 2;
        let g = Tensor::randn(gd, 1.0, dtype, &Device::Cpu, &mut rng).unwrap();
        let run = |f: &dyn Fn(&Var) -> tensor::Result<Var>| {
            let zv = Var::leaf(z.clone());
            let y = f(&zv).unwrap();
            let grads = y.backward_with(g.clone()).unwrap();
            (y.value().clone(), grads.get(&zv).unwrap().clone())
        };
        let (y, dz) = run(&hedgehog);
        let (yc, dzc) = run(&hedgehog_composite);
        let tol = Tol::accumulated(dtype, dims[dims.len() - 1], 1.0);
        assert!(compare_tensors(&y, &yc, tol).unwrap().pass, "{dims:?} {dtype} y");
        assert!(compare_tensors(&dz, &dzc, tol).unwrap().pass, "{dims:?} {dtype} dz");
        let halves = y.sum(dims.len() - 1, false).unwrap().to_vec_f64().unwrap();
        assert!(halves.iter().all(|s| (s - 2.0).abs() < 1e-5), "each half sums to 1: {halves:?}");
        assert!(y.to_vec_f64().unwrap().iter().all(|v| v.is_finite()), "{dims:?}: no overflow");
    }
    let z = Tensor::randn([2, 3, 5], 1.0, DType::F64, &Device::Cpu, &mut rng).unwrap();
    gradcheck(|v| Ok(vec![hedgehog(&v[0])?]), &[z], &GradcheckOptions::default()).unwrap();
}
