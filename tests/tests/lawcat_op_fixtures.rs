//! LAWCAT's ops against PyTorch float64 references: gated linear attention (plain, with an
//! initial state; and normalized) and the causal depthwise conv1d — outputs, final states
//! and every gradient, in both the recurrent and the chunked form. The GLA dumps have 67
//! steps (chunks of 64 and 16 both end part-way) and one head with gates strong enough
//! that `exp(-cumsum g)` over a chunk overflows f32.

use lawcat_tests::{check, fixture};

#[test]
fn plain_gla_matches_reference() {
    check::gla(&fixture("gla/gla_b2_t67_h2_k8_v5.safetensors"));
}

#[test]
fn normalized_gla_matches_reference() {
    check::gla_normalized(&fixture("gla/gla_normalized_b1_t67_h3_k6_v5.safetensors"));
}

#[test]
fn conv1d_matches_reference() {
    check::conv1d(&fixture("conv1d/conv1d_b2_t19_d6_w4.safetensors"));
}
