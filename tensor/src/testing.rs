//! Test helpers shared by every crate's tests (feature `testing`): random tensors with
//! awkward layouts, f64 reference indexing, and the proptest configuration (fixed seed).

use crate::{DType, Device, Rng, Tensor};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};

/// The proptest configuration of every property test: `cases` cases from a fixed seed, so
/// CI runs are repeatable. `PROPTEST_RNG_SEED=<n>` picks another seed, `=random` a new one
/// each run (for exploring locally); failures are kept in `proptest-regressions/`.
pub fn config(cases: u32) -> Config {
    let seed = match std::env::var("PROPTEST_RNG_SEED").ok().as_deref() {
        Some("random") => RngSeed::Random,
        Some(s) => s.parse().map(RngSeed::Fixed).unwrap_or(RngSeed::Fixed(0x1a7c_a7)),
        None => RngSeed::Fixed(0x1a7c_a7),
    };
    Config { cases, rng_seed: seed, ..Config::default() }
}

/// The devices model tests run on: the CPU and a fresh checking device (host memory that
/// counts transfers and refuses to mix with other devices; see [`crate::check_device`]).
pub fn devices() -> Vec<crate::Device> {
    vec![crate::Device::Cpu, crate::check_device::CheckDevice::device()]
}

/// The float dtypes every op is checked in.
pub const FLOAT_DTYPES: [DType; 4] = [DType::F32, DType::F64, DType::BF16, DType::F16];

/// How a test tensor is laid out: contiguous, a permuted view (strides reversed), a
/// narrowed view of a bigger tensor (offset and gaps), or a broadcast of a smaller one.
#[derive(Clone, Copy, Debug)]
pub enum Mode {
    Contiguous,
    Permuted,
    Narrowed,
    Broadcast,
}

pub fn arb_mode() -> impl Strategy<Value = Mode> {
    prop_oneof![
        Just(Mode::Contiguous),
        Just(Mode::Permuted),
        Just(Mode::Narrowed),
        Just(Mode::Broadcast)
    ]
}

pub fn arb_dtype() -> impl Strategy<Value = DType> {
    prop_oneof![Just(DType::F32), Just(DType::F64), Just(DType::BF16), Just(DType::F16)]
}

/// Shapes of rank 0..=4 with dims 0..=5 (size-0 and size-1 dims included).
pub fn arb_shape() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(prop_oneof![1 => Just(0usize), 3 => Just(1usize), 6 => 2usize..6], 0..5)
}

/// Shapes of rank 1..=3 with no empty dim, up to ~40K elements, sized so some exceed the
/// parallel thresholds.
pub fn arb_big_shape() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(prop_oneof![Just(1usize), 2usize..9, 60usize..70], 1..4)
        .prop_filter("at most ~40K elements", |s| s.iter().product::<usize>() <= 40_000)
}

/// A tensor of logical shape `shape` laid out as `mode` says, values uniform in `[lo, hi)`.
pub fn make(shape: &[usize], dtype: DType, seed: u64, mode: Mode, lo: f64, hi: f64) -> Tensor {
    let mut rng = Rng::new(seed);
    let rank = shape.len();
    match mode {
        Mode::Contiguous => {
            Tensor::rand_uniform(shape, lo, hi, dtype, &Device::Cpu, &mut rng).unwrap()
        }
        Mode::Permuted => {
            let rev: Vec<usize> = shape.iter().rev().copied().collect();
            let base = Tensor::rand_uniform(rev, lo, hi, dtype, &Device::Cpu, &mut rng).unwrap();
            let perm: Vec<usize> = (0..rank).rev().collect();
            base.permute(&perm).unwrap()
        }
        Mode::Narrowed => {
            let big: Vec<usize> = shape.iter().map(|d| d + 2).collect();
            let mut t = Tensor::rand_uniform(big, lo, hi, dtype, &Device::Cpu, &mut rng).unwrap();
            for (i, &d) in shape.iter().enumerate() {
                t = t.narrow(i, 1, d).unwrap();
            }
            t
        }
        Mode::Broadcast => {
            // Every other dim stretched from size 1 (stride 0).
            let small: Vec<usize> = shape
                .iter()
                .enumerate()
                .map(|(i, &d)| if i % 2 == 0 && d > 0 { 1 } else { d })
                .collect();
            Tensor::rand_uniform(small, lo, hi, dtype, &Device::Cpu, &mut rng)
                .unwrap()
                .broadcast_as(shape)
                .unwrap()
        }
    }
}

/// Values of `t` in logical (row-major) order, read straight from the storage by stride
/// arithmetic — independent of the kernels under test.
pub fn logical(t: &Tensor) -> Vec<f64> {
    let host = t.storage().to_cpu(&crate::Layout::contiguous(t.storage().len())).unwrap();
    let raw = Tensor::from_cpu(host.clone(), host.len()).unwrap();
    let raw = if raw.dtype() == DType::F64 { raw } else { raw.to_dtype(DType::F64).unwrap() };
    let raw: Vec<f64> = raw.to_vec().unwrap();
    let dims = t.dims();
    let strides = t.layout().strides();
    let n = t.numel();
    let mut out = Vec::with_capacity(n);
    for lin in 0..n {
        let mut r = lin;
        let mut off = t.layout().offset();
        for d in (0..dims.len()).rev() {
            off += (r % dims[d]) * strides[d];
            r /= dims[d];
        }
        out.push(raw[off]);
    }
    out
}

/// Flat index into a tensor of `dims` (right-aligned, broadcast) for output index `lin` of
/// `out_dims`.
pub fn bcast_index(out_dims: &[usize], dims: &[usize], lin: usize) -> usize {
    let lead = out_dims.len() - dims.len();
    let mut r = lin;
    let mut idx = 0;
    let mut stride = 1;
    for d in (0..out_dims.len()).rev() {
        let i = r % out_dims[d];
        r /= out_dims[d];
        if d >= lead {
            let own = dims[d - lead];
            idx += if own == 1 { 0 } else { i } * stride;
            stride *= own;
        }
    }
    idx
}

/// Rounds an f64 to a dtype and back.
pub fn round_to(v: f64, dtype: DType) -> f64 {
    use crate::Elem;
    match dtype {
        DType::F32 => f32::from_f64_as(v) as f64,
        DType::F64 => v,
        DType::BF16 => crate::bf16::from_f64_as(v).as_f64(),
        DType::F16 => crate::f16::from_f64_as(v).as_f64(),
        DType::I64 => i64::from_f64_as(v) as f64,
        DType::U8 => u8::from_f64_as(v) as f64,
    }
}

/// Two shapes that broadcast to `out`: each drops some leading dims and sets some to 1.
pub fn arb_broadcast_pair() -> impl Strategy<Value = (Vec<usize>, Vec<usize>, Vec<usize>)> {
    arb_shape()
        .prop_flat_map(|out| {
            let r = out.len();
            (
                Just(out),
                0..=r,
                0..=r,
                prop::collection::vec(any::<bool>(), r),
                prop::collection::vec(any::<bool>(), r),
            )
        })
        .prop_map(|(out, da, db, ma, mb)| {
            let a: Vec<usize> =
                out[da..].iter().zip(&ma[da..]).map(|(&d, &one)| if one { 1 } else { d }).collect();
            let b: Vec<usize> =
                out[db..].iter().zip(&mb[db..]).map(|(&d, &one)| if one { 1 } else { d }).collect();
            (out, a, b)
        })
}
