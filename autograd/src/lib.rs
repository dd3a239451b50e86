//! # autograd
//!
//! Reverse-mode automatic differentiation over the `tensor` crate's ops.
//!
//! * [`Var`] — a value in a recorded computation; ops on `Var`s record a graph of nodes
//!   (each holding its inputs and what its backward rule needs) while gradients are on.
//! * [`Var::backward`] — gradients of a scalar, summed into [`Param`] slots and returned
//!   for every leaf; the graph is freed as the pass runs through it.
//! * [`no_grad`] — inference without a graph; [`Var::detach`] cuts a value off.
//! * `ops/` — every differentiable op, its backward beside its forward with the
//!   derivative in a comment; other crates add fused ops by implementing [`Backward`] and
//!   calling [`Var::from_op`].
//! * [`gradcheck()`] — analytic vs central-difference gradients in f64.
//!
//! Losses and optimizers are built on top of this crate, in `nn` (`nn::loss`, `nn::optim`),
//! as candle keeps them in `candle-nn`.
//!
//! Dependencies: `tensor` (and `rayon`) only.

mod backward;
pub mod gradcheck;
pub mod ops;
mod param;
mod var;

pub use backward::{backward_multi, grad_dtype, gradient_masks, set_gradient_masks, Gradients};
pub use gradcheck::{gradcheck, GradcheckOptions};
pub use ops::sum_to_shape;
pub use param::Param;
pub use var::{grad_enabled, live_nodes, no_grad, Backward, NoGradGuard, Var};
