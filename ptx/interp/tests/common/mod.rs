//! What the interpreter's test files share: the nvcc-compiled kernels under `tests/kernels`,
//! and buffers into and out of a [`Machine`]. Each test binary uses some of these.
#![allow(dead_code)]

use ptx_interp::{Machine, Module};

/// `tests/kernels/NAME` parsed (a test fails loudly if it is missing or malformed).
pub fn kernels(name: &str) -> Module {
    let path = format!("{}/tests/kernels/{name}", env!("CARGO_MANIFEST_DIR"));
    Module::parse(&std::fs::read_to_string(&path).unwrap(), &path).unwrap()
}

/// A fresh global allocation holding `bytes`; its address.
pub fn upload(m: &mut Machine, bytes: &[u8]) -> u64 {
    let a = m.alloc(bytes.len() as u64).unwrap();
    m.write(a, bytes).unwrap();
    a
}

/// `n` little-endian 32-bit words at `a`.
pub fn u32s(m: &Machine, a: u64, n: usize) -> Vec<u32> {
    words(&m.read(a, 4 * n as u64).unwrap())
}

/// `n` i32 at `a`.
pub fn i32s(m: &Machine, a: u64, n: usize) -> Vec<i32> {
    u32s(m, a, n).into_iter().map(|w| w as i32).collect()
}

/// `n` f32 at `a`.
pub fn f32s(m: &Machine, a: u64, n: usize) -> Vec<f32> {
    u32s(m, a, n).into_iter().map(f32::from_bits).collect()
}

/// Bytes as little-endian 32-bit words.
pub fn words(b: &[u8]) -> Vec<u32> {
    b.chunks(4).map(|c| u32::from_le_bytes(c.try_into().unwrap())).collect()
}
