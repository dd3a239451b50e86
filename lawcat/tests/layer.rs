//! The LAWCAT layer and students: prefill then token-by-token decoding equals one full
//! forward (random splits, every option), the identity-initialised conv leaves the student
//! equal to the one without conv, decoding memory is constant, students save and load.

mod common;

use autograd::no_grad;
use common::{ids, teacher};
use lawcat::config::{FeatureMap, GateKind, LawcatConfig};
use lawcat::student::{build_student, load_any, save_student, trainable_params, StudentInfo};
use nn::Llama;
use proptest::prelude::*;
use tensor::testing::config;
use tensor::tolerance::{compare_tensors, Tol};
use tensor::{DType, Device, Rng, Tensor};

fn arb_cfg() -> impl Strategy<Value = LawcatConfig> {
    (
        any::<bool>(),
        prop_oneof![
            Just(FeatureMap::Hedgehog),
            Just(FeatureMap::EluPlusOne),
            Just(FeatureMap::Relu)
        ],
        prop_oneof![Just(GateKind::PerFeature), Just(GateKind::PerHead)],
        any::<bool>(),
        any::<bool>(),
        prop_oneof![Just(0usize), Just(16), Just(64)],
        prop_oneof![Just(1usize), Just(2), Just(4)],
    )
        .prop_map(|(conv, feature_map, gate, normalize, rope, chunk, w)| LawcatConfig {
            conv,
            conv_width: w,
            feature_map,
            gate,
            normalize,
            rope,
            chunk,
            gate_bias_init: 2.0,
            ..LawcatConfig::default()
        })
}

/// Random, non-identity LAWCAT weights (so the test exercises the conv and the map).
fn perturb(student: &Llama, seed: u64) {
    let mut rng = Rng::new(seed);
    for (_, p) in trainable_params(student).unwrap() {
        let v = p.value();
        let noise = Tensor::randn(v.dims(), 0.3, DType::F32, &Device::Cpu, &mut rng).unwrap();
        p.set(v.add(&noise).unwrap()).unwrap();
    }
}

proptest! {
    #![proptest_config(config(20))]

    #[test]
    fn prefill_then_decode_equals_full_forward(
        cfg in arb_cfg(),
        t in 2usize..50,
        cut in 0.0f64..1.0,
        kv in prop_oneof![Just(1usize), Just(2), Just(4)],
        seed in any::<u64>(),
    ) {
        let te = teacher(kv, seed);
        let st = build_student(&te, &cfg, seed).unwrap();
        perturb(&st, seed ^ 1);
        let x = ids(2, t, seed);
        let full = no_grad(|| st.forward(&x, None, false)).unwrap().logits.value().clone();
        let cut = ((t as f64 * cut) as usize).clamp(1, t);
        let mut cache = st.new_cache(2).unwrap();
        let mut parts =
            vec![no_grad(|| st.forward(&x.narrow(1, 0, cut).unwrap(), Some(&mut cache), false))
                .unwrap()
                .logits
                .value()
                .clone()];
        let bytes_after_prefill = cache.bytes();
        for i in cut..t {
            parts.push(
                no_grad(|| st.forward(&x.narrow(1, i, 1).unwrap(), Some(&mut cache), false))
                    .unwrap()
                    .logits
                    .value()
                    .clone(),
            );
        }
        // constant decoding memory: the state does not grow with the tokens seen
        prop_assert_eq!(cache.bytes(), bytes_after_prefill);
        let stitched = Tensor::cat(&parts.iter().collect::<Vec<_>>(), 1).unwrap();
        let c =
            compare_tensors(&stitched, &full, Tol { atol: 2e-5, rtol: 1e-4, rms: 1e-5 }).unwrap();
        prop_assert!(c.pass, "{cfg:?} t={t} cut={cut}: {c}");
    }
}

#[test]
fn identity_conv_student_equals_the_unconvolved_one() {
    let te = teacher(2, 3);
    let with = build_student(&te, &LawcatConfig::default(), 7).unwrap();
    let without =
        build_student(&te, &LawcatConfig { conv: false, ..LawcatConfig::default() }, 7).unwrap();
    let x = ids(1, 20, 1);
    let a =
        no_grad(|| with.forward(&x, None, false)).unwrap().logits.value().to_vec::<f32>().unwrap();
    let b = no_grad(|| without.forward(&x, None, false))
        .unwrap()
        .logits
        .value()
        .to_vec::<f32>()
        .unwrap();
    assert_eq!(a, b);
    // the student shares the teacher's weights and trains only LAWCAT's own
    let names: Vec<String> = trainable_params(&with).unwrap().into_iter().map(|(n, _)| n).collect();
    assert!(
        names.iter().any(|n| n.ends_with("conv_q.weight"))
            && names.iter().any(|n| n.ends_with("gate.g2.bias"))
    );
    assert!(names.iter().all(|n| !n.ends_with("q_proj.weight")));
}

#[test]
fn students_save_and_load() {
    let te = teacher(2, 4);
    let mut st =
        build_student(&te, &LawcatConfig { gate: GateKind::PerHead, ..LawcatConfig::default() }, 1)
            .unwrap();
    lawcat::student::add_lora(&mut st, 4, 8.0, 2).unwrap();
    perturb(&st, 5);
    let dir = std::env::temp_dir().join(format!("lawcat-student-{}", std::process::id()));
    let info = StudentInfo {
        lawcat: LawcatConfig {
            gate: GateKind::PerHead,
            lora_rank: 4,
            lora_alpha: 8.0,
            ..LawcatConfig::default()
        },
        teacher: "test".into(),
        notes: serde_json::json!({}),
    };
    save_student(&st, &info, None, &dir).unwrap();
    let back = load_any(&dir).unwrap();
    assert_eq!(back.student.as_ref().unwrap(), &info);
    let x = ids(2, 9, 3);
    let a =
        no_grad(|| st.forward(&x, None, false)).unwrap().logits.value().to_vec::<f32>().unwrap();
    let b = no_grad(|| back.model.forward(&x, None, false))
        .unwrap()
        .logits
        .value()
        .to_vec::<f32>()
        .unwrap();
    assert_eq!(a, b);
    // a damaged lawcat.json is named in the error
    std::fs::write(dir.join("lawcat.json"), "{\"lawcat\": {\"conv_width\": \"four\"}}").unwrap();
    let e = load_any(&dir).err().unwrap().to_string();
    assert!(e.contains("lawcat.json"), "{e}");
}
