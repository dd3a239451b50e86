//! Optimizers (`nn::optim`) against hand-worked updates, exact resume, an MLP that learns XOR,
//! graph lifetime (memory does not grow across training steps).

use autograd::{live_nodes, Param, Var};
use nn::mse;
use nn::optim::{clip_grad_norm, AdamW, LrSchedule, Optimizer, Sgd};
use tensor::{DType, Device, Rng, Tensor};

fn f64s(t: &Tensor) -> Vec<f64> {
    t.to_vec_f64().unwrap()
}

#[test]
fn adamw_matches_the_pytorch_formula_step_by_step() {
    let p = Param::new("w", Tensor::from_vec(vec![1.0f64, -2.0, 0.5], 3, &Device::Cpu).unwrap());
    let mut opt = AdamW::new(vec![p.clone()], 0.1).with_weight_decay(0.1);
    let grads = [[0.5, -1.0, 2.0], [0.1, 0.3, -0.4], [-0.2, 0.0, 1.5], [1.0, 1.0, 1.0]];
    // By hand, in f64, as torch.optim.AdamW computes it.
    let (lr, wd, b1, b2, eps) = (0.1f64, 0.1f64, 0.9f64, 0.999f64, 1e-8f64);
    let mut x = [1.0f64, -2.0, 0.5];
    let (mut m, mut v) = ([0.0f64; 3], [0.0f64; 3]);
    for (t, g) in grads.iter().enumerate() {
        let t = (t + 1) as i32;
        for i in 0..3 {
            x[i] *= 1.0 - lr * wd;
            m[i] = b1 * m[i] + (1.0 - b1) * g[i];
            v[i] = b2 * v[i] + (1.0 - b2) * g[i] * g[i];
            let bc1 = 1.0 - b1.powi(t);
            let bc2 = 1.0 - b2.powi(t);
            let denom = v[i].sqrt() / bc2.sqrt() + eps;
            x[i] -= lr / bc1 * m[i] / denom;
        }
        p.set_grad(Some(Tensor::from_vec(g.to_vec(), 3, &Device::Cpu).unwrap()));
        opt.step().unwrap();
        let got = f64s(&p.value());
        for i in 0..3 {
            assert!((got[i] - x[i]).abs() < 1e-14, "step {t}: {got:?} vs {x:?}");
        }
    }
}

#[test]
fn sgd_momentum_matches_the_pytorch_formula() {
    let p = Param::new("w", Tensor::from_vec(vec![1.0f64], 1, &Device::Cpu).unwrap());
    let mut opt = Sgd::new(vec![p.clone()], 0.1, 0.9);
    let (mut x, mut b) = (1.0f64, 0.0f64);
    for (t, g) in [0.5, -0.25, 1.0].iter().enumerate() {
        b = if t == 0 { *g } else { 0.9 * b + g };
        x -= 0.1 * b;
        p.set_grad(Some(Tensor::from_vec(vec![*g], 1, &Device::Cpu).unwrap()));
        opt.step().unwrap();
        assert!((f64s(&p.value())[0] - x).abs() < 1e-15);
    }
}

#[test]
fn clip_grad_norm_scales_to_the_bound() {
    let a = Param::new("a", Tensor::zeros(2, DType::F32, &Device::Cpu).unwrap());
    let b = Param::new("b", Tensor::zeros(1, DType::F32, &Device::Cpu).unwrap());
    a.set_grad(Some(Tensor::from_vec(vec![3.0f32, 0.0], 2, &Device::Cpu).unwrap()));
    b.set_grad(Some(Tensor::from_vec(vec![4.0f32], 1, &Device::Cpu).unwrap()));
    let n = clip_grad_norm(&[a.clone(), b.clone()], 1.0).unwrap().unwrap().to_scalar().unwrap();
    assert!((n - 5.0).abs() < 1e-6);
    let ga = a.grad().unwrap().to_vec_f64().unwrap();
    assert!((ga[0] - 3.0 / 5.0).abs() < 1e-6);
    // below the bound: untouched
    let n2 = clip_grad_norm(&[a.clone(), b.clone()], 10.0).unwrap().unwrap().to_scalar().unwrap();
    assert!((n2 - 1.0).abs() < 1e-5);
    assert_eq!(a.grad().unwrap().to_vec_f64().unwrap(), ga);
    // a norm that is not finite leaves the gradients alone
    b.set_grad(Some(Tensor::from_vec(vec![f32::INFINITY], 1, &Device::Cpu).unwrap()));
    let n3 = clip_grad_norm(&[a.clone(), b], 1.0).unwrap().unwrap().to_scalar().unwrap();
    assert!(n3.is_infinite());
    assert_eq!(a.grad().unwrap().to_vec_f64().unwrap(), ga);
    assert!(clip_grad_norm(
        &[Param::new("c", Tensor::zeros(1, DType::F32, &Device::Cpu).unwrap())],
        1.0
    )
    .unwrap()
    .is_none());
}

/// A bf16 parameter trains through its f32 master copy: the parameter is the master
/// rounded once per step, and small updates that bf16 alone would lose accumulate.
#[test]
fn adamw_keeps_an_f32_master_copy_of_bf16_parameters() {
    let start = vec![1.0f32, -2.0, 0.5, 3.0];
    let p16 = Param::new(
        "w",
        Tensor::from_vec(start.clone(), 4, &Device::Cpu).unwrap().to_dtype(DType::BF16).unwrap(),
    );
    let p32 = Param::new("w", Tensor::from_vec(start, 4, &Device::Cpu).unwrap());
    let mut o16 = AdamW::new(vec![p16.clone()], 1e-4).with_weight_decay(0.0);
    let mut o32 = AdamW::new(vec![p32.clone()], 1e-4).with_weight_decay(0.0);
    for step in 0..20 {
        let g = Tensor::from_vec(vec![0.3f32, -0.1, 0.7, (step as f32).sin()], 4, &Device::Cpu)
            .unwrap();
        p16.set_grad(Some(g.clone()));
        p32.set_grad(Some(g));
        o16.step().unwrap();
        o32.step().unwrap();
    }
    assert_eq!(p16.value().dtype(), DType::BF16);
    let (w32, w16) = (p32.value().to_vec_f64().unwrap(), p16.value().to_vec_f64().unwrap());
    let rounded: Vec<f64> = p32.value().to_dtype(DType::BF16).unwrap().to_vec_f64().unwrap();
    assert_eq!(w16, rounded, "the bf16 parameter is the f32 trajectory rounded");
    assert_ne!(w32[0], 1.0, "20 steps of 1e-4 moved the f32 weights ({w32:?})");
    let (tensors, _) = o16.state();
    let master = tensors.iter().find(|(n, _)| n == "w.master").expect("master copy saved");
    assert_eq!(master.1.dtype(), DType::F32);
    assert_eq!(master.1.to_vec_f64().unwrap(), w32);
    assert!(tensors.iter().all(|(_, t)| t.dtype() == DType::F32), "moments in f32");
}

/// The optimizer works where the parameters are: on the checking device a whole update
/// (clipping included) transfers nothing; the norm is one read.
#[test]
fn clipping_and_adamw_run_on_the_device_without_transfers() {
    let dev = tensor::check_device::CheckDevice::new();
    let d = Device::Accel(std::sync::Arc::new(dev.clone()));
    let p = Param::new(
        "w",
        Tensor::from_vec(vec![1.0f32, -2.0, 0.5], 3, &Device::Cpu).unwrap().to_device(&d).unwrap(),
    );
    let mut opt = AdamW::new(vec![p.clone()], 0.1).with_weight_decay(0.1);
    let cpu = Param::new("w", Tensor::from_vec(vec![1.0f32, -2.0, 0.5], 3, &Device::Cpu).unwrap());
    let mut cpu_opt = AdamW::new(vec![cpu.clone()], 0.1).with_weight_decay(0.1);
    dev.reset();
    let mut norm = None;
    for _ in 0..3 {
        p.set_grad(Some(p.value().mul(&p.value()).unwrap().scale(3.0).unwrap()));
        norm = clip_grad_norm(&[p.clone()], 1.0).unwrap();
        opt.step().unwrap();
        cpu.set_grad(Some(cpu.value().mul(&cpu.value()).unwrap().scale(3.0).unwrap()));
        clip_grad_norm(&[cpu.clone()], 1.0).unwrap();
        cpu_opt.step().unwrap();
    }
    assert!(dev.transfers().is_empty(), "{:?}", dev.transfers());
    assert!(p.value().device().same(&d));
    assert!(norm.unwrap().to_scalar().unwrap() > 1.0);
    assert_eq!(dev.transfers().len(), 1);
    assert_eq!(p.value().to_vec::<f32>().unwrap(), cpu.value().to_vec::<f32>().unwrap());
}

struct Mlp {
    w1: Param,
    b1: Param,
    w2: Param,
    b2: Param,
}

impl Mlp {
    fn new(seed: u64) -> Mlp {
        let mut rng = Rng::new(seed);
        Mlp {
            w1: Param::new(
                "w1",
                Tensor::randn([2, 8], 1.0, DType::F32, &Device::Cpu, &mut rng).unwrap(),
            ),
            b1: Param::new("b1", Tensor::zeros(8, DType::F32, &Device::Cpu).unwrap()),
            w2: Param::new(
                "w2",
                Tensor::randn([8, 1], 0.5, DType::F32, &Device::Cpu, &mut rng).unwrap(),
            ),
            b2: Param::new("b2", Tensor::zeros(1, DType::F32, &Device::Cpu).unwrap()),
        }
    }
    fn params(&self) -> Vec<Param> {
        vec![self.w1.clone(), self.b1.clone(), self.w2.clone(), self.b2.clone()]
    }
    fn forward(&self, x: &Var) -> tensor::Result<Var> {
        let h = x.matmul(&self.w1.var())?.add(&self.b1.var())?.tanh()?;
        h.matmul(&self.w2.var())?.add(&self.b2.var())?.sigmoid()
    }
}

fn xor() -> (Var, Var) {
    let x = Tensor::from_vec(vec![0f32, 0., 0., 1., 1., 0., 1., 1.], [4, 2], &Device::Cpu).unwrap();
    let y = Tensor::from_vec(vec![0f32, 1., 1., 0.], [4, 1], &Device::Cpu).unwrap();
    (Var::constant(x), Var::constant(y))
}

/// Trains for `steps`, returning the losses.
fn train(mlp: &Mlp, opt: &mut AdamW, steps: usize) -> Vec<f64> {
    let (x, y) = xor();
    let sched = LrSchedule::WarmupCosine { warmup: 20, total: 600, min_ratio: 0.1 };
    let mut losses = vec![];
    for _ in 0..steps {
        opt.set_lr(sched.lr(0.05, opt.steps()));
        opt.zero_grad();
        let loss = mse(&mlp.forward(&x).unwrap(), &y).unwrap();
        loss.backward().unwrap();
        clip_grad_norm(&mlp.params(), 1.0).unwrap();
        opt.step().unwrap();
        losses.push(loss.to_scalar().unwrap());
    }
    losses
}

#[test]
fn mlp_learns_xor_deterministically() {
    let run = || {
        let mlp = Mlp::new(42);
        let mut opt = AdamW::new(mlp.params(), 0.05).with_weight_decay(0.0);
        train(&mlp, &mut opt, 600)
    };
    let a = run();
    let b = run();
    assert_eq!(a, b, "same seed, same losses");
    let last = *a.last().unwrap();
    assert!(last < 0.01, "XOR loss after 600 steps: {last} (first {})", a[0]);
}

#[test]
fn resuming_from_saved_state_is_bit_identical() {
    let dir = std::env::temp_dir().join(format!("lawcat-resume-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // straight run of 40 steps
    let mlp = Mlp::new(7);
    let mut opt = AdamW::new(mlp.params(), 0.05);
    train(&mlp, &mut opt, 40);
    let straight: Vec<Vec<f32>> =
        mlp.params().iter().map(|p| p.value().to_vec().unwrap()).collect();
    // 20 steps, save, new process state, restore, 20 more
    let mlp = Mlp::new(7);
    let mut opt = AdamW::new(mlp.params(), 0.05);
    train(&mlp, &mut opt, 20);
    let weights: Vec<(String, Tensor)> =
        mlp.params().iter().map(|p| (p.name().to_string(), p.value())).collect();
    tensor::safetensors_io::save(
        weights.iter().map(|(n, t)| (n.as_str(), t)),
        None,
        dir.join("w.safetensors"),
    )
    .unwrap();
    opt.save_state(&dir.join("opt.safetensors")).unwrap();
    drop((mlp, opt));
    let mlp = Mlp::new(999);
    let saved = tensor::safetensors_io::load(dir.join("w.safetensors")).unwrap();
    for p in mlp.params() {
        p.set(saved[p.name()].clone()).unwrap();
    }
    let mut opt = AdamW::new(mlp.params(), 123.0);
    opt.restore_state(&dir.join("opt.safetensors")).unwrap();
    assert_eq!(opt.steps(), 20);
    train(&mlp, &mut opt, 20);
    let resumed: Vec<Vec<f32>> = mlp.params().iter().map(|p| p.value().to_vec().unwrap()).collect();
    assert_eq!(straight, resumed);
    // a state of the wrong kind is refused, naming the file
    let mut sgd = Sgd::new(mlp.params(), 0.1, 0.9);
    let e = sgd.restore_state(&dir.join("opt.safetensors")).unwrap_err().to_string();
    assert!(e.contains("opt.safetensors") && e.contains("SGD"), "{e}");
}

#[test]
fn graphs_are_freed_so_memory_does_not_grow() {
    let mlp = Mlp::new(1);
    let mut opt = AdamW::new(mlp.params(), 0.01);
    let (x, y) = xor();
    let mut after = vec![];
    for _ in 0..20 {
        opt.zero_grad();
        let loss = mse(&mlp.forward(&x).unwrap(), &y).unwrap();
        loss.backward().unwrap();
        opt.step().unwrap();
        drop(loss);
        after.push(live_nodes());
    }
    // Other tests in this binary build graphs concurrently, so compare this loop's own
    // counts: no growth from step to step.
    assert!(after[19] <= after[5] + 64, "live nodes grew: {after:?}");
    // A graph can be run backward once; its saved tensors are gone after that.
    let loss = mse(&mlp.forward(&x).unwrap(), &y).unwrap();
    loss.backward().unwrap();
    let e = loss.backward().unwrap_err().to_string();
    assert!(e.contains("already"), "{e}");
}
