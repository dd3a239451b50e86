//! What a decoder layer's attention slot must provide. The teacher's softmax attention and
//! the LAWCAT student's linear attention both implement [`AttentionBlock`], so a student is
//! the teacher with its blocks swapped, and generation drives either through the same loop.

use autograd::{Param, Var};
use std::any::Any;
use tensor::Result;

/// What a block keeps between decoding calls (a KV cache, a recurrent state).
pub trait LayerState: Any + Send {
    /// Bytes held, for reporting decoding memory.
    fn bytes(&self) -> usize;
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

pub trait AttentionBlock: Send + Sync {
    /// `x [B, T, D]` (after the layer's input norm) at positions `start..start + T`;
    /// returns `[B, T, D]` (after the output projection). With a state, the block reads
    /// what earlier calls left there and appends this call's tokens.
    fn forward(&self, x: &Var, start: usize, state: Option<&mut dyn LayerState>) -> Result<Var>;
    /// A fresh state for decoding a batch of `batch` sequences, on the block's device.
    fn new_state(&self, batch: usize) -> Result<Box<dyn LayerState>>;
    /// Parameters by their checkpoint names under `prefix` (e.g. `model.layers.3.self_attn`).
    fn named_params(&self, prefix: &str) -> Vec<(String, Param)>;
    /// A short name of the mechanism ("softmax", "lawcat").
    fn kind(&self) -> &'static str;
    fn as_any(&self) -> &dyn Any;
    fn as_any_mut(&mut self) -> &mut dyn Any;
}
