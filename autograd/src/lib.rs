//! autograd: reverse-mode differentiation over `tensor` ops (filled by its issue).
