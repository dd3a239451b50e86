//! `ptx/kernels/swiglu.cu`, launcher `ptx::ops::swiglu`, fused op `nn::mlp` (SwiGlu, through
//! `nn::mlp::swiglu`): `swiglu_fwd_*` and `swiglu_bwd_*` with one or both gradients asked
//! for, operands of mixed dtypes, rows 1, 63, 65, D = 60, against the same call on the CPU
//! (`Tol::elementwise` of the compute dtype).

use super::helpers::{float_dtype, grad_of, host, lead, view, with};
use super::{gen, Case, Check};
use autograd::Var;
use tensor::tolerance::Tol;
use tensor::{Device, Result, Rng, Tensor};

/// SwiGLU (`swiglu.cu`): `silu(a) b` and the gradients asked for.
fn swiglu(device: &Device, rng: &mut Rng, size: usize) -> Result<Vec<Check>> {
    let rows = gen::len(rng, size, &[1, 63, 65], &[1000, 4096]);
    let d = gen::len(rng, size, &[1, 60, 64], &[60, 11008]);
    let dims = with(lead(rows, rng), d);
    let ad = float_dtype(rng);
    let cd = ad.compute();
    let bd = if rng.below(2) == 0 { ad } else { cd };
    let (a_cpu, a_dev) = view(&dims, ad, -6.0, 6.0, device, rng)?;
    let (b_cpu, b_dev) = view(&dims, bd, -2.0, 2.0, device, rng)?;
    let (g_cpu, g_dev) = view(&dims, cd, -1.0, 1.0, device, rng)?;
    let want = [[true, true], [true, false], [false, true]][rng.below(3)];
    let run = |a: &Tensor, b: &Tensor, g: &Tensor| -> Result<Vec<Tensor>> {
        let mk =
            |t: &Tensor, w: bool| if w { Var::leaf(t.clone()) } else { Var::constant(t.clone()) };
        let (a, b) = (mk(a, want[0]), mk(b, want[1]));
        let h = nn::mlp::swiglu(&a, &b)?;
        let grads = h.backward_with(g.clone())?;
        let mut out = vec![h.value().clone()];
        for (v, w, name) in [(&a, want[0], "a"), (&b, want[1], "b")] {
            if w {
                out.push(grad_of(&grads, v, name)?);
            }
        }
        Ok(out)
    };
    let (got, want_t) = (run(&a_dev, &b_dev, &g_dev)?, run(&a_cpu, &b_cpu, &g_cpu)?);
    let names = ["h", if want[0] { "da" } else { "db" }, "db"];
    got.iter()
        .zip(want_t)
        .zip(names)
        .map(|((g, w), name)| {
            Ok(Check::new(
                format!("swiglu {name}, {ad} a, {bd} b {dims:?}"),
                host(g)?,
                w,
                Tol::elementwise(cd),
            ))
        })
        .collect()
}

pub fn cases() -> Vec<Case> {
    vec![Case { family: "swiglu", kernel: "swiglu fwd, bwd", run: swiglu }]
}
