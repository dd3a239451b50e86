//! `ptx/kernels/adamw.cu`, launcher `ptx::ops::adamw`, fused op `nn::optim::adamw`
//! (AdamWUpdate, through `AdamW::step` and `nn::fused::run_inplace`): `adamw_f32` and
//! `adamw_f64` in place, f32 and f64 parameters and a bf16/f16 one through its f32 master
//! copy, equal to the CPU's bit for bit (the kernel performs the CPU's operations in its
//! order).

use super::helpers::{host, view};
use super::{gen, Case, Check};
use autograd::Param;
use nn::optim::{AdamW, AdamWUpdate, Optimizer};
use tensor::tolerance::Tol;
use tensor::{bail, DType, Device, Result, Rng, Tensor};

/// AdamW (`adamw.cu`): three `AdamW::step`s of f32 and f64 parameters on the device, equal to
/// the CPU's bit for bit (parameters and both moments); and the update of a bf16/f16
/// parameter through its f32 master copy, run as the op itself (`AdamW::step` makes the
/// master copy with a cast).
fn adamw(device: &Device, rng: &mut Rng, size: usize) -> Result<Vec<Check>> {
    let rows = gen::len(rng, size, &[1, 63, 65], &[1000, 4096]);
    let d = gen::len(rng, size, &[1, 60, 64], &[60, 4096]);
    let dims = vec![rows, d];
    let pd = [DType::F32, DType::F32, DType::F64][rng.below(3)];
    let wd = [0.0, 0.1][rng.below(2)];
    let lr = 1e-3 * (0.5 + rng.uniform());
    let p_cpu = Tensor::rand_uniform(dims.clone(), -1.0, 1.0, pd, &Device::Cpu, rng)?;
    let grads: Vec<(Tensor, Tensor)> =
        (0..3).map(|_| view(&dims, pd, -1.0, 1.0, device, rng)).collect::<Result<_>>()?;
    let run = |p: Tensor, dev: bool| -> Result<Vec<Tensor>> {
        let param = Param::new("w", p);
        let mut opt = AdamW::new(vec![param.clone()], lr).with_weight_decay(wd);
        for (g_cpu, g_dev) in &grads {
            param.set_grad(Some(if dev { g_dev.clone() } else { g_cpu.clone() }));
            opt.step()?;
        }
        let (state, _) = opt.state();
        let mut out = vec![param.value()];
        out.extend(state.into_iter().map(|(_, t)| t));
        Ok(out)
    };
    let got = run(p_cpu.to_device(device)?, true)?;
    let want = run(p_cpu, false)?;
    if got.len() != 3 || want.len() != 3 {
        bail!(
            "adamw",
            "expected the parameter and two moments, got {} and {} tensors",
            got.len(),
            want.len()
        )
    }
    let mut out = vec![];
    for ((g, w), name) in got.iter().zip(want).zip(["param", "m", "v"]) {
        out.push(Check::new(
            format!("AdamW::step x3 {name}, {pd} {dims:?}, wd {wd}"),
            host(g)?,
            w,
            Tol::EXACT,
        ));
    }
    // A bf16/f16 parameter: the op on (param, m, v, master) in place, two steps.
    let ld = [DType::BF16, DType::F16][rng.below(2)];
    let p_cpu = Tensor::rand_uniform(dims.clone(), -1.0, 1.0, ld, &Device::Cpu, rng)?;
    let master_cpu = p_cpu.to_dtype(DType::F32)?;
    let gs: Vec<(Tensor, Tensor)> =
        (0..2).map(|_| view(&dims, DType::F32, -1.0, 1.0, device, rng)).collect::<Result<_>>()?;
    let run = |dev: &Device| -> Result<Vec<Tensor>> {
        let mut state = vec![
            p_cpu.to_device(dev)?,
            Tensor::zeros(dims.clone(), DType::F32, dev)?,
            Tensor::zeros(dims.clone(), DType::F32, dev)?,
            master_cpu.to_device(dev)?,
        ];
        for (t, (g_cpu, g_dev)) in gs.iter().enumerate() {
            let (b1, b2) = (0.9f64, 0.999f64);
            let op = AdamWUpdate(ptx::ops::adamw::Hyper {
                lr,
                beta1: b1,
                beta2: b2,
                eps: 1e-8,
                weight_decay: wd,
                bc1: 1.0 - b1.powi(t as i32 + 1),
                bc2: 1.0 - b2.powi(t as i32 + 1),
            });
            let g = if dev.same(&Device::Cpu) { g_cpu } else { g_dev };
            let mut outs: Vec<&mut Tensor> = state.iter_mut().collect();
            nn::fused::run_inplace(&op, &[g], &mut outs)?;
        }
        Ok(state)
    };
    let (got, want) = (run(device)?, run(&Device::Cpu)?);
    for ((g, w), name) in got.iter().zip(want).zip(["param", "m", "v", "master"]) {
        out.push(Check::new(
            format!("adamw update x2 {name}, {ld} {dims:?} with an f32 master, wd {wd}"),
            host(g)?,
            w,
            Tol::EXACT,
        ));
    }
    Ok(out)
}

pub fn cases() -> Vec<Case> {
    vec![Case { family: "adamw", kernel: "adamw", run: adamw }]
}
