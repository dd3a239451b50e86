//! lawcat: conv1d, gated linear attention, the LAWCAT layer, distillation, evaluation.
