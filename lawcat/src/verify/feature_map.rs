//! `ptx/kernels/feature_map.cu`, launcher `ptx::ops::feature_map`, fused op
//! `lawcat::ops::feature_map` (HedgehogOp, through `hedgehog`): `hedgehog_fwd_*` and
//! `hedgehog_bwd_*` on rows 1, 63, 65 and more, F = 1, 60, 64 (the student's), strided views
//! (the feature map reads a permuted product), f32, bf16 and f64 inputs, z spread wide enough
//! that a softmax without its max subtracted would overflow, against the same call on the CPU
//! (`Tol::accumulated` over the row's F terms).

use super::helpers::{float_dtype, grad_of, host, lead, view, with};
use super::{gen, Case, Check};
use autograd::Var;
use tensor::tolerance::Tol;
use tensor::{Device, Result, Rng, Tensor};

/// `[softmax(z), softmax(-z)]` per row and its gradient.
fn hedgehog(device: &Device, rng: &mut Rng, size: usize) -> Result<Vec<Check>> {
    let rows = gen::len(rng, size, &[1, 63, 65], &[1000, 73728]);
    let f = gen::len(rng, size, &[1, 60, 64], &[64, 300]);
    let dims = with(lead(rows, rng), f);
    let zd = float_dtype(rng);
    let cd = zd.compute();
    let spread = if rng.below(2) == 0 { 4.0 } else { 120.0 };
    let (z_cpu, z_dev) = view(&dims, zd, -spread, spread, device, rng)?;
    let (g_cpu, g_dev) =
        view(&with(dims[..dims.len() - 1].to_vec(), 2 * f), cd, -1.0, 1.0, device, rng)?;
    let run = |z: &Tensor, g: &Tensor| -> Result<[Tensor; 2]> {
        let z = Var::leaf(z.clone());
        let y = crate::ops::feature_map::hedgehog(&z)?;
        let grads = y.backward_with(g.clone())?;
        Ok([y.value().clone(), grad_of(&grads, &z, "z")?])
    };
    let (got, want) = (run(&z_dev, &g_dev)?, run(&z_cpu, &g_cpu)?);
    got.iter()
        .zip(want)
        .zip(["y", "dz"])
        .map(|((g, w), name)| {
            Ok(Check::new(
                format!("hedgehog {name}, {zd} z {dims:?}, spread {spread}"),
                host(g)?,
                w,
                Tol::accumulated(cd, f, 1.0),
            ))
        })
        .collect()
}

pub fn cases() -> Vec<Case> {
    vec![Case { family: "feature_map", kernel: "hedgehog fwd, bwd", run: hedgehog }]
}
