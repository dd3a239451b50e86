//! Distillation on the tiny fixture teacher (fixed seed): stage 1 lowers the attention
//! transfer loss at least 10x and stage 2 the KL at least 2x; a killed and resumed run ends
//! with exactly the weights of an uninterrupted one; a non-finite loss stops the run.

use lawcat::config::LawcatConfig;
use lawcat::data::Data;
use lawcat::distill::{distill, DistillConfig, DistillOptions};
use lawcat::student::{build_student, trainable_params};
use lawcat::train::{RunDir, StageConfig};
use lawcat_tests::fixture;
use tensor::Rng;

fn teacher() -> nn::Llama {
    nn::weights::load_hf_dir(&fixture("tiny-llama")).unwrap().model
}

/// Random token sequences over the fixture teacher's 256-token vocabulary.
fn data(seq_len: usize, batch: usize) -> Data {
    let mut rng = Rng::new(11);
    let seqs: Vec<Vec<u32>> =
        (0..64).map(|_| (0..seq_len).map(|_| rng.below(256) as u32).collect()).collect();
    Data::from_sequences(seqs, batch, 5).unwrap()
}

fn config(s1: u64, s2: u64) -> DistillConfig {
    DistillConfig {
        seq_len: 64,
        batch_size: 4,
        stage1: StageConfig::recipe(s1, 1e-2),
        stage2: StageConfig::recipe(s2, 3e-3),
        checkpoint_every: 10,
        seed: 3,
        ..DistillConfig::default()
    }
}

fn tmp(name: &str) -> std::path::PathBuf {
    let p = std::env::temp_dir().join(format!("lawcat-distill-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    p
}

/// The fixture teacher has random weights (std 0.05; q_proj and k_proj 0.07), so its
/// attention is not far from a uniform average of the prefix, which a student whose gates
/// start at slow forgetting (the default b_g = 4) already resembles. These runs start the
/// gates at b_g = 0 (plain `logsigmoid(x G1 G2) / 16`), so the student has to learn its way
/// to the teacher.
fn fresh_student(t: &nn::Llama) -> (nn::Llama, LawcatConfig) {
    let lcfg = LawcatConfig { gate_bias_init: 0.0, ..LawcatConfig::default() };
    (build_student(t, &lcfg, 1).unwrap(), lcfg)
}

#[test]
fn stage_one_lowers_attention_transfer_loss_tenfold() {
    let t = teacher();
    let (mut s, lcfg) = fresh_student(&t);
    let mut cfg = config(300, 0);
    cfg.stage1.lr = 3e-2;
    let dir = RunDir::create(&tmp("stage1")).unwrap();
    let sums =
        distill(&t, &mut s, &lcfg, &data(64, 4), &cfg, &DistillOptions::fresh(&dir)).unwrap();
    let s1 = &sums[0];
    assert_eq!(s1.steps, 300);
    assert!(s1.first_loss / s1.last_loss >= 10.0, "stage 1: {} -> {}", s1.first_loss, s1.last_loss);
    let lines = std::fs::read_to_string(dir.metrics_path()).unwrap().lines().count();
    assert_eq!(lines, 300);
}

#[test]
fn stage_two_lowers_the_kl_twofold() {
    let t = teacher();
    let (mut s, lcfg) = fresh_student(&t);
    let mut cfg = config(0, 200);
    cfg.stage2.lr = 1e-2;
    let dir = RunDir::create(&tmp("stage2")).unwrap();
    let sums =
        distill(&t, &mut s, &lcfg, &data(64, 4), &cfg, &DistillOptions::fresh(&dir)).unwrap();
    let s2 = &sums[0];
    assert_eq!((s2.stage, s2.steps), (2, 200));
    assert!(s2.first_loss / s2.last_loss >= 2.0, "stage 2: {} -> {}", s2.first_loss, s2.last_loss);
}

#[test]
fn resumed_run_ends_with_the_same_weights() {
    let t = teacher();
    let lcfg = LawcatConfig { lora_rank: 0, ..LawcatConfig::default() };
    let mut cfg = config(25, 20);
    cfg.lora_rank = 4;
    cfg.batch_size = 2;
    let d = data(64, 2);
    let straight = {
        let mut s = build_student(&t, &lcfg, 1).unwrap();
        let dir = RunDir::create(&tmp("straight")).unwrap();
        distill(&t, &mut s, &lcfg, &d, &cfg, &DistillOptions::fresh(&dir)).unwrap();
        trainable_params(&s)
            .unwrap()
            .into_iter()
            .map(|(n, p)| (n, p.value().to_vec::<f32>().unwrap()))
            .collect::<Vec<_>>()
    };
    for kill_at in [17u64, 33] {
        let root = tmp(&format!("killed{kill_at}"));
        {
            let mut s = build_student(&t, &lcfg, 1).unwrap();
            let dir = RunDir::create(&root).unwrap();
            distill(
                &t,
                &mut s,
                &lcfg,
                &d,
                &cfg,
                &DistillOptions { stop_after: Some(kill_at), ..DistillOptions::fresh(&dir) },
            )
            .unwrap();
        }
        // a fresh process: rebuild the student from the seed and resume from the checkpoint
        let mut s = build_student(&t, &lcfg, 1).unwrap();
        let dir = RunDir::create(&root).unwrap();
        distill(
            &t,
            &mut s,
            &lcfg,
            &d,
            &cfg,
            &DistillOptions { resume: true, ..DistillOptions::fresh(&dir) },
        )
        .unwrap();
        let resumed: Vec<(String, Vec<f32>)> = trainable_params(&s)
            .unwrap()
            .into_iter()
            .map(|(n, p)| (n, p.value().to_vec::<f32>().unwrap()))
            .collect();
        assert_eq!(straight.len(), resumed.len());
        for (a, b) in straight.iter().zip(&resumed) {
            assert_eq!(a, b, "killed after {kill_at} steps: {} differs", a.0);
        }
        // metrics hold every step once
        let steps: Vec<(u64, u64)> = std::fs::read_to_string(dir.metrics_path())
            .unwrap()
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                (v["stage"].as_u64().unwrap(), v["step"].as_u64().unwrap())
            })
            .collect();
        assert_eq!(steps.len(), 45, "killed after {kill_at}");
    }
}

#[test]
fn non_finite_loss_stops_the_run_naming_the_step() {
    let t = teacher();
    let lcfg = LawcatConfig::default();
    let mut s = build_student(&t, &lcfg, 1).unwrap();
    let mut cfg = config(30, 0);
    cfg.batch_size = 2;
    cfg.stage1.lr = 1e30; // diverges
    cfg.stage1.clip = 1e30;
    let dir = RunDir::create(&tmp("nan")).unwrap();
    let e = distill(&t, &mut s, &lcfg, &data(64, 2), &cfg, &DistillOptions::fresh(&dir))
        .unwrap_err()
        .to_string();
    assert!(e.contains("at step") && e.contains("Last good checkpoint"), "{e}");
}
