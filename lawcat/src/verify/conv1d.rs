//! `ptx/kernels/conv1d.cu`, launcher `ptx::ops::conv1d`, fused ops `lawcat::ops::conv1d`
//! (Conv1d through `conv1d` and `conv1d_forward`; Conv1dStep through `conv1d_step_inplace`):
//! `conv1d_fwd_*`, `conv1d_bwd_dx_*`, `conv1d_bwd_dw_part_*` + `conv1d_bwd_dw_sum_*`, and the
//! decoding step `conv1d_step_y_*` then `conv1d_step_tail_*` in place, against the CPU body
//! of the same op on the same inputs. Inputs are built on the host and uploaded, results
//! downloaded for the comparison.

use super::helpers::{both, check_sum};
use super::{gen, Case, Check};
use crate::ops::conv1d::{conv1d, conv1d_forward, conv1d_step_inplace};
use autograd::Var;
use tensor::tolerance::Tol;
use tensor::{DType, Device, Result, Rng, Tensor};

/// conv1d forward and backward (through autograd, every gradient) on a transposed view of
/// `x`, with and without bias, widths 1 and 4; a bf16 forward.
fn conv1d_case(device: &Device, rng: &mut Rng, size: usize) -> Result<Vec<Check>> {
    let t = gen::len(rng, size, &[0, 1, 5, 17], &[1000]);
    let t = if size == 1 { [1, 63, 65][rng.below(3)] } else { t };
    let c = gen::len(rng, size, &[3, 60], &[2048, 576]);
    let b = if size >= 2 { 4 } else { 1 + rng.below(2) };
    let kw = [1, 4, 4][rng.below(3)];
    let dtype = [DType::F32, DType::F64][rng.below(2)];
    let mut out = vec![];
    let (xc, xd) = gen::pair(&[b, t, c], dtype, -1.0, 1.0, rng.below(2) == 0, device, rng)?;
    let (wc, wd) = both(&[c, kw], dtype, -1.0, 1.0, device, rng)?;
    let with_bias = rng.below(2) == 0;
    let (bc, bd) = both(&[c], dtype, -1.0, 1.0, device, rng)?;
    let (dyc, dyd) = both(&[b, t, c], dtype, -1.0, 1.0, device, rng)?;
    let run = |x: &Tensor,
               w: &Tensor,
               bias: &Tensor,
               dy: &Tensor|
     -> Result<(Tensor, Vec<Tensor>)> {
        let (x, w, bias) = (Var::leaf(x.clone()), Var::leaf(w.clone()), Var::leaf(bias.clone()));
        let y = conv1d(&x, &w, with_bias.then_some(&bias))?;
        let grads = y.backward_with(dy.clone())?;
        let mut gs = vec![grads.get(&x).cloned(), grads.get(&w).cloned()];
        if with_bias {
            gs.push(grads.get(&bias).cloned());
        }
        let gs = gs
            .into_iter()
            .map(|g| g.ok_or_else(|| tensor::Error::op("verify conv1d", "a gradient is missing")))
            .collect::<Result<Vec<_>>>()?;
        Ok((y.value().clone(), gs))
    };
    let (yw, gw) = run(&xc, &wc, &bc, &dyc)?;
    let (yg, gg) = run(&xd, &wd, &bd, &dyd)?;
    let tag = format!("{dtype} b{b} t{t} c{c} w{kw} bias {with_bias}");
    out.push(check_sum(format!("conv1d y {tag}"), &yg, &yw, kw + 1)?);
    for (name, (g, w)) in ["dx", "dw", "dbias"].iter().zip(gg.iter().zip(&gw)) {
        out.push(check_sum(
            format!("conv1d {name} {tag}"),
            g,
            w,
            if *name == "dx" { kw } else { b * t },
        )?);
    }
    let (xc16, xd16) = both(&[b, t, c], DType::BF16, -1.0, 1.0, device, rng)?;
    let want = conv1d_forward(&xc16, &wc, None)?;
    out.push(check_sum(
        format!("conv1d y bf16 x, {dtype} w, b{b} t{t} c{c}"),
        &conv1d_forward(&xd16, &wd, None)?,
        &want,
        kw,
    )?);
    Ok(out)
}

/// The decoding step in place: two calls (T = 1, then a few steps) from a random tail.
fn conv1d_step(device: &Device, rng: &mut Rng, size: usize) -> Result<Vec<Check>> {
    let c = gen::len(rng, size, &[3, 60], &[2048]);
    let b = 1 + rng.below(2);
    let kw = [1, 4, 4, 3][rng.below(4)];
    let dtype = [DType::F32, DType::F64][rng.below(2)];
    let mut tail_c = Tensor::rand_uniform([b, kw - 1, c], -1.0, 1.0, dtype, &Device::Cpu, rng)?;
    let mut tail_d = tail_c.to_device(device)?;
    let (wc, wd) = both(&[c, kw], dtype, -1.0, 1.0, device, rng)?;
    let (bc, bd) = both(&[c], dtype, -1.0, 1.0, device, rng)?;
    let with_bias = rng.below(2) == 0;
    let mut out = vec![];
    for (i, t) in [1, 1 + rng.below(6)].into_iter().enumerate() {
        let (xc, xd) = both(&[b, t, c], DType::F32, -1.0, 1.0, device, rng)?;
        let yc = conv1d_step_inplace(&xc, &mut tail_c, &wc, with_bias.then_some(&bc))?;
        let yd = conv1d_step_inplace(&xd, &mut tail_d, &wd, with_bias.then_some(&bd))?;
        let tag = format!("{dtype} b{b} t{t} c{c} w{kw} bias {with_bias}, call {i}");
        out.push(check_sum(format!("conv1d step y {tag}"), &yd, &yc, kw + 1)?);
        out.push(Check::new(
            format!("conv1d step tail {tag}"),
            tail_d.to_device(&Device::Cpu)?,
            tail_c.clone(),
            Tol::EXACT,
        ));
    }
    Ok(out)
}

pub fn cases() -> Vec<Case> {
    vec![
        Case { family: "conv1d", kernel: "conv1d_fwd, conv1d_bwd_*", run: conv1d_case },
        Case { family: "conv1d", kernel: "conv1d_step_y, conv1d_step_tail", run: conv1d_step },
    ]
}
