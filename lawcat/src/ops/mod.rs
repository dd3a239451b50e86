//! The two ops LAWCAT adds to a Llama: a causal depthwise conv1d over time, and gated
//! linear attention (recurrent reference and chunked form), each with its backward.

pub mod conv1d;
pub mod gla;
