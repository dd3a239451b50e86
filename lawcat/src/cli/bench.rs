//! `lawcat bench`: timings on this machine. `model` — load time and forward tokens/s of a
//! model; `scan` — the LAWCAT student's attention (chunked and recurrent GLA) against
//! softmax attention as the context grows; `matmul` — our GEMM's GFLOP/s (the ratio to
//! the `matrixmultiply` crate is `cargo bench -p tensor --bench matmul`). Each prints the
//! SIMD path the CPU kernels take (`LAWCAT_SIMD=avx2|portable` forces a narrower one) and
//! the FMA peak of the threads it runs on, measured by the same probe as the tensor bench.

use anyhow::bail;
use autograd::{no_grad, Var};
use std::process::ExitCode;
use std::time::Instant;
use tensor::{DType, Device, Rng, Tensor};

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub what: What,
}

#[derive(clap::Subcommand)]
pub enum What {
    /// Load time and forward (prefill) tokens/s of a model.
    Model {
        /// HF folder, .gguf file, student folder, "builtin" or shape:NAME (random weights).
        model: String,
        /// Prompt lengths in tokens, comma separated.
        #[arg(long, value_delimiter = ',', default_value = "256,1024")]
        lengths: Vec<usize>,
        /// Timed runs per length after one warm-up (the median is printed).
        #[arg(long, default_value_t = 3)]
        reps: usize,
    },
    /// Attention-mixing cost per layer as the context grows: softmax attention (the
    /// teacher's, blocked CPU kernel) against the student's gated linear attention.
    Scan {
        /// Context lengths in tokens, comma separated.
        #[arg(long, value_delimiter = ',', default_value = "1024,4096,16384")]
        lengths: Vec<usize>,
        /// Query heads (SmolLM2-135M's shape by default).
        #[arg(long, default_value_t = 9)]
        heads: usize,
        /// Key/value heads (grouped-query attention).
        #[arg(long, default_value_t = 3)]
        kv_heads: usize,
        /// Dimension per head.
        #[arg(long, default_value_t = 64)]
        head_dim: usize,
    },
    /// Whole distillation steps (stage 1 and stage 2, forward, backward, clipping, AdamW) of
    /// a teacher and its fresh LAWCAT student: milliseconds and tokens per second, with and
    /// without gradient masks (backward rules told which inputs need gradients).
    Step {
        /// HF folder, .gguf file, "builtin", or shape:smollm2-135m / shape:llama-3.2-1b (the
        /// model's shape with random weights: speed without its weights, as the peer times it).
        model: String,
        /// Sequences per batch.
        #[arg(long, default_value_t = 2)]
        batch: usize,
        /// Tokens per sequence.
        #[arg(long, default_value_t = 256)]
        seq_len: usize,
        /// Timed steps per stage after one warm-up (the median is printed).
        #[arg(long, default_value_t = 3)]
        steps: usize,
    },
    /// f32 GEMM GFLOP/s at square sizes.
    Matmul {
        /// Square sizes n (n x n times n x n), comma separated.
        #[arg(long, value_delimiter = ',', default_value = "256,512,1024,2048")]
        sizes: Vec<usize>,
    },
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// Median seconds of `reps` runs of `f` after one warm-up, each run waited for on `device`.
fn time(
    device: &Device,
    reps: usize,
    mut f: impl FnMut() -> anyhow::Result<()>,
) -> anyhow::Result<f64> {
    f()?;
    device.synchronize()?;
    let mut t = vec![];
    for _ in 0..reps.max(1) {
        let s = Instant::now();
        f()?;
        device.synchronize()?;
        t.push(s.elapsed().as_secs_f64());
    }
    Ok(median(t))
}

pub fn run(a: &Args) -> anyhow::Result<ExitCode> {
    let dev = super::device();
    let threads = rayon::current_num_threads();
    let peak = tensor::cpu::fma_peak_gflops(threads);
    let (mr, nr) = <f32 as tensor::cpu::gemm::GemmScalar>::kernel().tile();
    outln!(
        "{threads} threads, device {dev}; CPU SIMD path: {} (f32 GEMM tile {mr}x{nr}); FMA peak \
            {peak:.1} GFLOP/s ({}-wide, all {threads} threads)",
        tensor::cpu::simd_path(),
        tensor::cpu::Simd::widest().f32_lanes()
    );
    match &a.what {
        What::Model { model, lengths, reps } => {
            let t0 = Instant::now();
            let m = super::load_named(model)?;
            m.model.to_device(&dev)?;
            outln!("load {model}: {:.2} s", t0.elapsed().as_secs_f64());
            let v = m.model.config.vocab_size as i64;
            for &n in lengths {
                if n == 0 {
                    bail!("--lengths must be positive");
                }
                let ids = m.model.embed_tokens.ids_to_device(&Tensor::from_vec(
                    (0..n as i64).map(|i| (i * 7919 + 13) % v).collect::<Vec<_>>(),
                    [1, n],
                    &Device::Cpu,
                )?)?;
                let s = time(&dev, *reps, || {
                    no_grad(|| m.model.forward(&ids, None, false))?;
                    Ok(())
                })?;
                outln!(
                    "forward {n:>6} tokens: {:>8.1} ms  {:>8.1} tokens/s",
                    s * 1e3,
                    n as f64 / s
                );
            }
        }
        What::Scan { lengths, heads, kv_heads, head_dim } => {
            let (h, hkv, d) = (*heads, *kv_heads, *head_dim);
            if hkv == 0 || h % hkv != 0 {
                bail!("--heads must be a multiple of --kv-heads");
            }
            // The teacher's attention in the dtype inference gives it (bf16 under --dtype
            // bf16: the tensor-core kernels on a GPU).
            let soft_dtype = nn::linear::autocast().unwrap_or(DType::F32);
            outln!(
                "one layer's token mixing, batch 1, {h} heads ({hkv} kv), head dim {d}; softmax \
                attention in {soft_dtype}; GLA with the hedgehog feature dim {}",
                2 * d
            );
            outln!(
                "{:>8} {:>14} {:>14} {:>14} {:>10}",
                "length",
                "softmax ms",
                "gla chunk ms",
                "gla recur ms",
                "speed-up"
            );
            let mut rng = Rng::new(0);
            for &n in lengths {
                let q = Tensor::randn([1, n, h, d], 1.0, soft_dtype, &dev, &mut rng)?;
                let k = Tensor::randn([1, n, hkv, d], 1.0, soft_dtype, &dev, &mut rng)?;
                let v = Tensor::randn([1, n, hkv, d], 1.0, soft_dtype, &dev, &mut rng)?;
                let soft = time(&dev, 3, || {
                    nn::attention_kernel::sdpa_blocked(&q, &k, &v, 0)?;
                    Ok(())
                })?;
                let f = 2 * d;
                let pq = Var::constant(Tensor::rand_uniform(
                    [1, n, h, f],
                    0.0,
                    1.0,
                    DType::F32,
                    &dev,
                    &mut rng,
                )?);
                let pk = Var::constant(Tensor::rand_uniform(
                    [1, n, h, f],
                    0.0,
                    1.0,
                    DType::F32,
                    &dev,
                    &mut rng,
                )?);
                let vv =
                    Var::constant(Tensor::randn([1, n, h, d], 1.0, DType::F32, &dev, &mut rng)?);
                let g = Var::constant(Tensor::rand_uniform(
                    [1, n, h, f],
                    -0.1,
                    -0.001,
                    DType::F32,
                    &dev,
                    &mut rng,
                )?);
                let gla = |mode| {
                    time(&dev, 1, || {
                        crate::ops::gla::gla_normalized(&pq, &pk, &vv, &g, None, 1e-6, mode)?;
                        Ok(())
                    })
                };
                let chunked = gla(crate::ops::gla::GlaMode::Chunked(64))?;
                let recurrent = gla(crate::ops::gla::GlaMode::Recurrent)?;
                outln!(
                    "{n:>8} {:>14.1} {:>14.1} {:>14.1} {:>9.2}x",
                    soft * 1e3,
                    chunked * 1e3,
                    recurrent * 1e3,
                    soft / chunked.min(recurrent)
                );
            }
        }
        What::Step { model, batch, seq_len, steps } => {
            if *batch == 0 || *seq_len < 2 || *steps == 0 {
                bail!("--batch and --steps must be positive, --seq-len at least 2");
            }
            let t = super::load_named(model)?;
            let student = crate::student::build_student(
                &t.model,
                &crate::config::LawcatConfig::default(),
                0,
            )?;
            student.to_device(&dev)?;
            let tokens = (batch * seq_len) as f64;
            outln!(
                "distillation steps of {model} on {dev}, batch {batch} x {seq_len} tokens; \
                median of {steps}"
            );
            outln!(
                "{:>8} {:>16} {:>14} {:>16} {:>14} {:>8} {:>9}",
                "stage",
                "masked ms/step",
                "tokens/s",
                "unmasked ms",
                "tokens/s",
                "saved",
                "peak GiB"
            );
            let gpu = super::gpu();
            for stage in [1u32, 2] {
                // Alternate (masked, unmasked) twice and keep each one's best median, so both
                // see the same machine. The peak: the live buffers' most during the first
                // masked run (as torch.cuda.max_memory_allocated; the weights included).
                let (mut on, mut off) = (f64::INFINITY, f64::INFINITY);
                let mut peak = None;
                for round in 0..2 {
                    autograd::set_gradient_masks(true);
                    if let Some(g) = &gpu {
                        g.reset_peaks();
                    }
                    on = on.min(crate::bench_step::time_stage(
                        &t.model, &student, stage, *batch, *seq_len, *steps, 1,
                    )?);
                    if round == 0 {
                        peak = gpu
                            .as_ref()
                            .map(|g| g.pool_stats().live_peak as f64 / (1u64 << 30) as f64);
                    }
                    autograd::set_gradient_masks(false);
                    let r = crate::bench_step::time_stage(
                        &t.model, &student, stage, *batch, *seq_len, *steps, 1,
                    );
                    autograd::set_gradient_masks(true);
                    off = off.min(r?);
                }
                outln!(
                    "{stage:>8} {:>16.1} {:>14.0} {:>16.1} {:>14.0} {:>7.1}% {:>9}",
                    on * 1e3,
                    tokens / on,
                    off * 1e3,
                    tokens / off,
                    100.0 * (1.0 - on / off),
                    peak.map_or("-".to_string(), |p| format!("{p:.1}"))
                );
            }
        }
        What::Matmul { sizes } => {
            let mut rng = Rng::new(1);
            for &n in sizes {
                let x = Tensor::randn([n, n], 1.0, DType::F32, &dev, &mut rng)?;
                let y = Tensor::randn([n, n], 1.0, DType::F32, &dev, &mut rng)?;
                let s = time(&dev, 3, || {
                    x.matmul(&y)?;
                    Ok(())
                })?;
                let g = 2.0 * (n as f64).powi(3) / s / 1e9;
                outln!("{n:>6}^3: {g:>8.1} GFLOP/s  {:>4.0}% of peak", 100.0 * g / peak);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
