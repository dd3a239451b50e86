//! A raw pointer that rayon tasks may share, for kernels whose tasks write disjoint parts of
//! one output buffer (the matmul's row/column ranges, index_add's column ranges).

/// A pointer to the start of an output buffer, copied into every task. Whoever
/// dereferences it promises that no two tasks touch the same element.
#[derive(Clone, Copy)]
pub(crate) struct SendPtr<T>(pub(crate) *mut T);

// SAFETY: a SendPtr is only an address; every dereference is an `unsafe` block of its own
// whose caller guarantees the tasks' accesses are disjoint and inside the buffer, which is
// what makes sending and sharing the address between threads sound.
unsafe impl<T> Send for SendPtr<T> {}
// SAFETY: as for Send: shared references to the address give no access by themselves.
unsafe impl<T> Sync for SendPtr<T> {}
