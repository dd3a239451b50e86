//! LAWCAT's ops against PyTorch float64 references: gated linear attention (plain, fla's
//! `naive_recurrent_gla`; and normalized) and the causal depthwise conv1d — outputs, final
//! states and every gradient, in both the recurrent and the chunked form.

use autograd::{backward_multi, Var};
use lawcat::ops::conv1d::conv1d;
use lawcat::ops::gla::{gla, gla_normalized, GlaMode};
use lawcat_tests::fixture;
use std::collections::BTreeMap;
use tensor::safetensors_io::load;
use tensor::tolerance::{compare_tensors, Tol};
use tensor::Tensor;

fn close(what: &str, got: &Tensor, want: &Tensor) {
    let c = compare_tensors(got, want, Tol::relative(1e-4)).unwrap();
    assert!(c.pass, "{what}: {c}");
}

fn leaf(r: &BTreeMap<String, Tensor>, name: &str) -> Var {
    Var::leaf(r[name].clone())
}

#[test]
fn plain_gla_matches_reference() {
    let r = load(fixture("gla/gla_b2_t37_h3_k16_v8.safetensors")).unwrap();
    for mode in [GlaMode::Recurrent, GlaMode::Chunked(64), GlaMode::Chunked(16)] {
        let (q, k, v, g, s0) = (leaf(&r, "q"), leaf(&r, "k"), leaf(&r, "v"), leaf(&r, "g"), leaf(&r, "initial_state"));
        let scale = 1.0 / (q.dims()[3] as f64).sqrt();
        let (o, sf) = gla(&q, &k, &v, &g, Some(&s0), scale, mode).unwrap();
        close(&format!("{mode:?} o"), o.value(), &r["o"]);
        close(&format!("{mode:?} final_state"), sf.value(), &r["final_state"]);
        let grads = backward_multi(&[(&o, r["do"].clone()), (&sf, r["d_final_state"].clone())]).unwrap();
        for (x, name) in [(&q, "dq"), (&k, "dk"), (&v, "dv"), (&g, "dg"), (&s0, "d_initial_state")] {
            close(&format!("{mode:?} {name}"), grads.get(x).unwrap(), &r[name]);
        }
    }
}

#[test]
fn normalized_gla_matches_reference() {
    let r = load(fixture("gla/gla_normalized_b1_t50_h2_k8_v12.safetensors")).unwrap();
    for mode in [GlaMode::Recurrent, GlaMode::Chunked(64), GlaMode::Chunked(16)] {
        let (q, k, v, g) = (leaf(&r, "q"), leaf(&r, "k"), leaf(&r, "v"), leaf(&r, "g"));
        let (o, st) = gla_normalized(&q, &k, &v, &g, None, 1e-6, mode).unwrap();
        close(&format!("{mode:?} o"), o.value(), &r["o"]);
        close(&format!("{mode:?} final_state"), st.s.value(), &r["final_state"]);
        let grads = backward_multi(&[(&o, r["do"].clone()), (&st.s, r["d_final_state"].clone())]).unwrap();
        for (x, name) in [(&q, "dq"), (&k, "dk"), (&v, "dv"), (&g, "dg")] {
            close(&format!("{mode:?} {name}"), grads.get(x).unwrap(), &r[name]);
        }
    }
}

#[test]
fn conv1d_matches_reference() {
    let r = load(fixture("conv1d/conv1d_b2_t19_d6_w4.safetensors")).unwrap();
    let (x, w, b) = (leaf(&r, "x"), leaf(&r, "weight"), leaf(&r, "bias"));
    let y = conv1d(&x, &w, Some(&b)).unwrap();
    close("y", y.value(), &r["y"]);
    let grads = y.backward_with(r["dy"].clone()).unwrap();
    close("dx", grads.get(&x).unwrap(), &r["dx"]);
    close("dweight", grads.get(&w).unwrap(), &r["dweight"]);
    close("dbias", grads.get(&b).unwrap(), &r["dbias"]);
}
