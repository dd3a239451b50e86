//! The model and distillation on the checking device (an accelerator backed by host memory
//! that counts every transfer): forward, backward, a step of each distillation stage and
//! prefill + decode give what the CPU gives, bit for bit (the same CPU bodies run on its
//! memory); a training step moves nothing but its batch up and its loss and gradient norm
//! down; decoding moves the prompt up and one id per sequence and token down. The transfer
//! counts also hold on the PTX interpreter (the GPU's kernels, on the CPU) and on a GPU.

mod common;

use autograd::no_grad;
use common::{ids, teacher};
use lawcat::config::{GateKind, LawcatConfig};
use lawcat::distill::{attention_transfer_loss, end_to_end_loss};
use lawcat::student::{build_student, trainable_params};
use lawcat::train::{new_optimizer, run_stage, StageConfig, StageRun};
use nn::generate::{generate, GenerateOptions, Sampling};
use nn::Llama;
use std::sync::Arc;
use tensor::check_device::CheckDevice;
use tensor::transfer::{Direction, Transfer};
use tensor::{Device, Tensor};

fn stage_cfg(steps: u64) -> StageConfig {
    StageConfig {
        steps,
        lr: 1e-2,
        warmup_frac: 0.1,
        min_lr_ratio: 0.1,
        weight_decay: 0.01,
        clip: 0.5,
    }
}

/// A teacher and its student (normalized per-feature GLA with conv, the default, and a
/// per-head variant) on `device`.
fn models(device: &Device, per_head: bool) -> (Llama, Llama) {
    let t = teacher(2, 5);
    let cfg = LawcatConfig {
        gate: if per_head { GateKind::PerHead } else { GateKind::PerFeature },
        chunk: 16,
        ..LawcatConfig::default()
    };
    let s = build_student(&t, &cfg, 9).unwrap();
    t.to_device(device).unwrap();
    s.to_device(device).unwrap();
    (t, s)
}

/// Runs `steps` steps of stage `stage` (1: attention transfer, 2: KL) and returns the
/// student's trained values (on the host). `before_step` runs at the start of each step's
/// loss, `after` when the steps are done (before the values are read).
fn train(
    device: &Device,
    stage: u32,
    steps: u64,
    per_head: bool,
    mut before_step: impl FnMut(u64),
    after: impl FnOnce(),
) -> Vec<Vec<f32>> {
    let (t, s) = models(device, per_head);
    let params: Vec<_> = trainable_params(&s).unwrap().into_iter().map(|(_, p)| p).collect();
    let cfg = stage_cfg(steps);
    let mut opt = new_optimizer(params.clone(), &cfg);
    let run = StageRun {
        name: "test",
        stage,
        cfg: &cfg,
        params: params.clone(),
        tokens_per_step: 2 * 24,
        checkpoint_every: 0,
        start_step: 0,
        dir: None,
        run_info: serde_json::json!({}),
        progress: false,
        stop_after: None,
    };
    run_stage(run, &mut opt, |step| {
        before_step(step);
        let batch = ids(2, 24, 100 + step);
        if stage == 1 {
            attention_transfer_loss(&t, &s, &batch)
        } else {
            end_to_end_loss(&t, &s, &batch, 1.0, 0.5)
        }
    })
    .unwrap();
    after();
    params.iter().map(|p| p.value().to_vec_f32().unwrap()).collect()
}

#[test]
fn distillation_steps_on_the_device_equal_the_cpu_bit_for_bit() {
    for stage in [1, 2] {
        for per_head in [false, true] {
            let cpu = train(&Device::Cpu, stage, 3, per_head, |_| {}, || {});
            let dev = train(&CheckDevice::device(), stage, 3, per_head, |_| {}, || {});
            assert_eq!(
                cpu, dev,
                "stage {stage} (per-head gates: {per_head}): trained weights \
                differ between the CPU and the device"
            );
        }
    }
}

fn describe(t: &[Transfer]) -> String {
    t.iter().map(|x| format!("{x}")).collect::<Vec<_>>().join("\n")
}

/// The devices that log their transfers, each a device of its own so the counts are this
/// test's: the checking device, the PTX interpreter, and the GPU where there is one (skipped,
/// saying so, where there is none).
fn logging_devices() -> Vec<Device> {
    let mut v = vec![CheckDevice::device(), ptx::open_separate("interp").unwrap()];
    match ptx::open_separate("cuda") {
        Ok(d) => v.push(d),
        Err(e) => eprintln!("cuda skipped: {e}"),
    }
    v
}

/// What a training step may move: its batch of token ids up (once, for the forward and the
/// loss's targets alike) and, down, the loss and the gradient norm in one read (the norm is
/// the logging we keep). Nothing else: no constant built on the host, no host round-trip
/// inside a fused op, no per-parameter read in clipping or the optimizer. The same on the
/// checking device, the interpreter (the GPU's kernels) and the GPU.
#[test]
fn a_training_step_moves_only_its_batch_up_and_its_loss_down() {
    for device in logging_devices() {
        for stage in [1, 2] {
            let log = device.transfer_log().expect("the device logs its transfers");
            // Step 0 warms the caches (RoPE tables, masks); step 1's transfers are counted.
            let mut t = vec![];
            train(
                &device,
                stage,
                2,
                false,
                |step| {
                    if step == 1 {
                        log.reset();
                    }
                },
                || t = log.transfers(),
            );
            let name = format!("{device}, stage {stage}");
            assert_eq!(
                t.len(),
                2,
                "{name}: expected the batch upload and the loss read, got:\n{}",
                describe(&t)
            );
            assert_eq!(
                (t[0].direction, t[0].elements),
                (Direction::Upload, 2 * 24),
                "{name}: the batch first:\n{}",
                describe(&t)
            );
            assert_eq!(
                (t[1].direction, t[1].elements),
                (Direction::Download, 2),
                "{name}: loss and gradient norm in one read:\n{}",
                describe(&t)
            );
        }
    }
}

/// Generation moves the prompt up once and, per token, the chosen ids down: on the checking
/// device, the interpreter and the GPU.
#[test]
fn generation_moves_the_prompt_up_and_one_id_per_sequence_and_token_down() {
    for device in logging_devices() {
        let (_, student) = models(&device, false);
        let log = device.transfer_log().expect("the device logs its transfers");
        for sampling in [Sampling::Greedy, Sampling::Sample { temperature: 0.8, top_p: 0.9 }] {
            let opts =
                GenerateOptions { max_new_tokens: 4, sampling, stop_tokens: vec![], seed: 3 };
            log.reset();
            generate(&student, &[vec![1u32, 5, 7, 9], vec![2, 4, 6, 8]], &opts).unwrap();
            let t = log.transfers();
            let ups: Vec<_> = t.iter().filter(|x| x.direction == Direction::Upload).collect();
            let downs: Vec<_> = t.iter().filter(|x| x.direction == Direction::Download).collect();
            assert_eq!(
                (ups.len(), ups[0].elements),
                (1, 8),
                "{device}: only the prompt goes up:\n{}",
                describe(&t)
            );
            assert_eq!(
                downs.len(),
                4,
                "{device}: one read of the chosen ids per token:\n{}",
                describe(&t)
            );
            assert!(downs.iter().all(|d| d.elements == 2), "{device}:\n{}", describe(&t));
        }
    }
}

#[test]
fn forward_backward_and_decoding_on_the_device_equal_the_cpu() {
    let cpu = models(&Device::Cpu, false);
    let check = CheckDevice::new();
    let device = Device::Accel(Arc::new(check.clone()));
    let dev = models(&device, false);
    let x = ids(2, 19, 4);
    for m in [&cpu.0, &dev.0] {
        m.named_params().iter().for_each(|(_, p)| p.set_trainable(true));
    }
    for (name, (a, b)) in [("teacher", (&cpu.0, &dev.0)), ("student", (&cpu.1, &dev.1))] {
        // forward and backward
        let (la, lb) = (a.loss(&x).unwrap(), b.loss(&x).unwrap());
        assert_eq!(la.to_scalar().unwrap(), lb.to_scalar().unwrap(), "{name} loss");
        la.backward().unwrap();
        lb.backward().unwrap();
        for ((n, pa), (_, pb)) in a.named_params().iter().zip(b.named_params()) {
            let (ga, gb) = (
                pa.grad().map(|g| g.to_vec_f32().unwrap()),
                pb.grad().map(|g| g.to_vec_f32().unwrap()),
            );
            assert_eq!(ga, gb, "{name} gradient of {n}");
            pa.zero_grad();
            pb.zero_grad();
        }
        // prefill + decode, token by token
        let run = |m: &Llama| -> Vec<Vec<f32>> {
            let mut cache = m.new_cache(2).unwrap();
            let mut out =
                vec![no_grad(|| m.forward(&x.narrow(1, 0, 7).unwrap(), Some(&mut cache), false))
                    .unwrap()
                    .logits
                    .value()
                    .to_vec_f32()
                    .unwrap()];
            for i in 7..19 {
                out.push(
                    no_grad(|| m.forward(&x.narrow(1, i, 1).unwrap(), Some(&mut cache), false))
                        .unwrap()
                        .logits
                        .value()
                        .to_vec_f32()
                        .unwrap(),
                );
            }
            out
        };
        assert_eq!(run(a), run(b), "{name} prefill + decode");
        // generation: the prompt goes up, one id per sequence and token comes down
        for sampling in [Sampling::Greedy, Sampling::Sample { temperature: 0.8, top_p: 0.9 }] {
            let opts =
                GenerateOptions { max_new_tokens: 6, sampling, stop_tokens: vec![], seed: 3 };
            let prompts = [vec![1u32, 5, 7, 9], vec![2, 4, 6, 8]];
            let ga = generate(a, &prompts, &opts).unwrap();
            check.reset();
            let gb = generate(b, &prompts, &opts).unwrap();
            assert_eq!(ga.tokens, gb.tokens, "{name} generation ({sampling:?})");
            let t = check.transfers();
            let ups: Vec<_> = t.iter().filter(|x| x.direction == Direction::Upload).collect();
            let downs: Vec<_> = t.iter().filter(|x| x.direction == Direction::Download).collect();
            assert_eq!(ups.len(), 1, "{name}: only the prompt goes up:\n{}", describe(&t));
            assert_eq!(ups[0].elements, 8);
            assert_eq!(
                downs.len(),
                6,
                "{name}: one read of the chosen ids per token:\n{}",
                describe(&t)
            );
            assert!(downs.iter().all(|d| d.elements == 2));
        }
    }
    // A tensor of another device is refused, not silently copied.
    let err = dev
        .0
        .forward(
            &Tensor::zeros([1, 3], tensor::DType::I64, &CheckDevice::device()).unwrap(),
            None,
            false,
        )
        .err()
        .expect("mixing devices is an error")
        .to_string();
    assert!(err.contains("different devices"), "{err}");
}
