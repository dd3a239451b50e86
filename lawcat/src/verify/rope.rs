//! `ptx/kernels/rope.cu`, launcher `ptx::ops::rope`, fused op `nn::rope` (RopeOp, through
//! `nn::rope::apply_rope`): `rope_*` forward and (sign -1) the inverse as its backward, at an
//! offset position, default and Llama 3 frequency scaling, head dims 60 and 64, bf16 and f64
//! inputs, against the same call on the CPU (`Tol::elementwise`: a few roundings).

use super::helpers::{float_dtype, grad_of, host, view};
use super::{gen, Case, Check};
use autograd::Var;
use nn::rope::Rope;
use nn::RopeScaling;
use tensor::tolerance::Tol;
use tensor::{Device, Result, Rng, Tensor};

/// RoPE (`rope.cu`): the rotation at an offset position and its backward (the inverse).
fn rope(device: &Device, rng: &mut Rng, size: usize) -> Result<Vec<Check>> {
    let b = 1 + rng.below(2);
    let t = gen::len(rng, size, &[1, 5, 63], &[65, 1000]);
    let h = [1, 3][rng.below(2)];
    let d = gen::len(rng, size, &[60, 64], &[64, 128]);
    let start = rng.below(10);
    let scaling = match rng.below(2) {
        0 => RopeScaling::Default,
        _ => RopeScaling::Llama3 {
            factor: 8.0,
            low_freq_factor: 1.0,
            high_freq_factor: 4.0,
            original_max_position_embeddings: 16,
        },
    };
    let rope = Rope::new(d, [10_000.0, 500_000.0][rng.below(2)], &scaling);
    let xd = float_dtype(rng);
    let cd = xd.compute();
    let dims = [b, t, h, d];
    let (x_cpu, x_dev) = view(&dims, xd, -1.0, 1.0, device, rng)?;
    let (g_cpu, g_dev) = view(&dims, cd, -1.0, 1.0, device, rng)?;
    let run = |x: &Tensor, g: &Tensor| -> Result<(Tensor, Tensor)> {
        let x = Var::leaf(x.clone());
        let y = nn::rope::apply_rope(&x, &rope, start)?;
        let grads = y.backward_with(g.clone())?;
        Ok((y.value().clone(), grad_of(&grads, &x, "x")?))
    };
    let (y, dx) = run(&x_dev, &g_dev)?;
    let (y_ref, dx_ref) = run(&x_cpu, &g_cpu)?;
    let what = format!("{xd} x {dims:?} from position {start}");
    Ok(vec![
        Check::new(format!("rope y, {what}"), host(&y)?, y_ref, Tol::elementwise(cd)),
        Check::new(format!("rope dx, {what}"), host(&dx)?, dx_ref, Tol::elementwise(cd)),
    ])
}

pub fn cases() -> Vec<Case> {
    vec![Case { family: "rope", kernel: "rope, inverse", run: rope }]
}
