//! # lawcat
//!
//! LAWCAT ("Linear Attention with Convolution Across Time", arXiv 2509.18467) on our own
//! engine: the causal depthwise conv1d and gated linear attention ops (recurrent reference
//! and chunked form, with their gradients), the LAWCAT attention layer that replaces a
//! Llama teacher's softmax attention, distillation, evaluation, and the `lawcat` program.
//! `docs/LAWCAT.md` is the specification.
//!
//! Dependencies and why: `clap` (the command line), `indicatif` (progress bars during
//! distillation and evaluation), `anyhow` (error context in the program), `serde`/
//! `serde_json` (student configs, metrics logs, evaluation results), `rayon` (parallel
//! scans over batch and heads).

pub mod audit;
pub mod bench_step;
pub mod builtin;
pub mod cli;
pub mod config;
pub mod data;
pub mod demo;
pub mod distill;
pub mod eval;
pub mod layer;
pub mod ops;
pub mod shapes;
pub mod student;
pub mod synth;
pub mod teacher;
pub mod train;
pub mod verify;
