//! The ops LAWCAT adds to a Llama: a causal depthwise conv1d over time, gated linear
//! attention (recurrent reference and chunked form), and the Hedgehog feature map's
//! `[softmax(z), softmax(-z)]`, each with its backward.

pub mod conv1d;
pub mod feature_map;
pub mod gla;
