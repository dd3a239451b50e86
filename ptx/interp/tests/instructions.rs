//! The newer instruction families (mbarrier, wmma, activemask, half-precision atomics, set,
//! 8-bit float and tf32 conversions, bfind), each run as nvcc-made PTX and checked against
//! an independent statement of what it computes:
//! * conversions and half-precision arithmetic against the nearest value found by search
//!   over the target format's codes (no rounding code shared with the interpreter);
//! * wmma against a plain CPU matrix product;
//! * mbarrier against the phase arithmetic of the ISA, walked by hand;
//! * and every bit-exact kernel of `kernels/nvcc/instructions.ptx` against an H100's output
//!   for the same PTX (`kernels/nvcc/gpu_reference.sh` made it; its FNV-1a hashes are below).
//!
//! Then planted bugs (`kernels/instruction_bugs.ptx`): each kernel beside a clean control,
//! and the problem the checker must report.

mod common;

use common::{kernels, upload, words};
use ptx_interp::{Arg, LaunchError, LaunchReport, Machine, Module, ProblemKind};

/// The FNV-1a hash of the little-endian bytes of `words` (16- or 32-bit).
fn hash<const N: usize, T: Copy + Into<u64>>(words: &[T]) -> u64 {
    fnv1a(&words.iter().flat_map(|w| (*w).into().to_le_bytes()[..N].to_vec()).collect::<Vec<_>>())
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ *b as u64).wrapping_mul(0x100_0000_01b3))
}

/// Runs `entry` of `kernels/nvcc/instructions.ptx` with one output buffer of `bytes` (and any
/// `extra` buffers), returning the output.
fn run_instructions(entry: &str, grid: u32, block: u32, bytes: u64, extra: &[u64]) -> Vec<u8> {
    let m = kernels("nvcc/instructions.ptx");
    let mut mach = Machine::new(3);
    let out = mach.alloc(bytes).unwrap();
    let mut args = vec![Arg::Ptr(out)];
    for &e in extra {
        args.push(Arg::Ptr(mach.alloc(e).unwrap()));
    }
    let r = mach.launch(&m, entry, [grid, 1, 1], [block, 1, 1], 0, &args).unwrap();
    assert!(r.is_clean(), "{entry}: {:?}", r.problems);
    mach.read(out, bytes).unwrap()
}

fn u16s(b: &[u8]) -> Vec<u16> {
    b.chunks(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect()
}

/// The kernels' inputs, as `mix` and `f32_bits` in instructions.cu make them.
fn mix(i: u32, s: u32) -> u32 {
    let mut x = i.wrapping_mul(0x9E37_79B1) ^ s.wrapping_mul(0x85EB_CA77);
    x ^= x >> 15;
    x = x.wrapping_mul(0x2c1b_3c6d);
    x ^= x >> 12;
    x = x.wrapping_mul(0x297a_2d39);
    x ^ (x >> 15)
}

fn f32_bits(i: u32) -> u32 {
    let lo = match i & 3 {
        0 => 0,
        1 => 0x8000,
        2 => 1,
        _ => mix(i, 9) & 0xffff,
    };
    (i >> 2) << 16 | lo
}

// ---- reference formats: values by definition, rounding by search ----

/// A binary float format: exponent and mantissa widths, and whether the all-ones exponent
/// holds infinities/NaN (IEEE-like) or, as in e4m3, finite values but for one NaN code.
#[derive(Clone, Copy)]
struct Format {
    e: u32,
    m: u32,
    ieee: bool,
}

const F16: Format = Format { e: 5, m: 10, ieee: true };
const BF16: Format = Format { e: 8, m: 7, ieee: true };
const E4M3: Format = Format { e: 4, m: 3, ieee: false };
const E5M2: Format = Format { e: 5, m: 2, ieee: true };

impl Format {
    fn bias(self) -> i32 {
        (1 << (self.e - 1)) - 1
    }
    fn sign(self) -> u32 {
        1 << (self.e + self.m)
    }
    /// The value of a code (NaN codes give NaN).
    fn value(self, code: u32) -> f64 {
        let s = if code & self.sign() != 0 { -1.0 } else { 1.0 };
        let e = (code >> self.m) & ((1 << self.e) - 1);
        let f = (code & ((1 << self.m) - 1)) as f64;
        let top = (1 << self.e) - 1;
        let v = if self.ieee && e == top {
            if f == 0.0 {
                f64::INFINITY
            } else {
                f64::NAN
            }
        } else if !self.ieee && e == top && f as u32 == (1 << self.m) - 1 {
            f64::NAN
        } else if e == 0 {
            f * 2f64.powi(1 - self.bias() - self.m as i32)
        } else {
            (1.0 + f / (1u32 << self.m) as f64) * 2f64.powi(e as i32 - self.bias())
        };
        s * v
    }
    /// The largest finite code.
    fn max_code(self) -> u32 {
        if self.ieee {
            (((1u32 << self.e) - 1) << self.m) - 1
        } else {
            (1u32 << (self.e + self.m)) - 2
        }
    }
    /// `x` rounded to nearest, ties to the even code, found by binary search over the
    /// positive codes (which increase with their value). Beyond the largest finite value:
    /// `satfinite` gives it, otherwise infinity (the first code past it, rounding as a
    /// value one ulp further).
    fn nearest(self, x: f64, satfinite: bool) -> u32 {
        let sign = if x.is_sign_negative() { self.sign() } else { 0 };
        let a = x.abs();
        let max = self.max_code();
        if a.is_infinite() {
            return sign | if satfinite { max } else { max + 1 };
        }
        let (mut lo, mut hi) = (0u32, max);
        while lo < hi {
            let mid = (lo + hi).div_ceil(2);
            if self.value(mid) <= a {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        let below = lo;
        let above_value = if below == max {
            self.value(max) + (self.value(max) - self.value(max - 1))
        } else {
            self.value(below + 1)
        };
        let (d0, d1) = (a - self.value(below), above_value - a);
        let up = d1 < d0 || (d1 == d0 && below % 2 == 1);
        let code = if up { below + 1 } else { below };
        if code > max {
            return sign | if satfinite { max } else { max + 1 };
        }
        sign | code
    }
}

/// f32 bits to the exact value.
fn f32v(b: u32) -> f64 {
    f32::from_bits(b) as f64
}

/// One half of cvt.rn.satfinite{.relu}.{e4m3,e5m2}: NaN gives 0x7f, relu turns negative
/// values, -0 included, into +0.
fn fp8_ref(x: f64, fmt: Format, relu: bool) -> u32 {
    if x.is_nan() {
        return 0x7f;
    }
    if relu && x.is_sign_negative() {
        return 0;
    }
    fmt.nearest(x, true)
}

#[test]
fn cvt_to_fp8_from_f16x2_every_f16() {
    let out = u16s(&run_instructions("fp8_from_f16x2", 256, 256, 65536 * 8, &[]));
    for i in 0..65536u32 {
        let (hi, lo) = (F16.value(i), F16.value(i ^ 0x8000));
        for (j, (fmt, relu)) in
            [(E4M3, false), (E5M2, false), (E4M3, true), (E5M2, true)].into_iter().enumerate()
        {
            let want = fp8_ref(hi, fmt, relu) << 8 | fp8_ref(lo, fmt, relu);
            let got = out[i as usize * 4 + j] as u32;
            assert_eq!(got, want, "f16 0x{i:04x} form {j}: got 0x{got:04x}, want 0x{want:04x}");
        }
    }
    assert_eq!(hash::<2, _>(&out), GPU.fp8_from_f16x2);
}

#[test]
fn cvt_to_fp8_from_f32_ties_saturation_nan() {
    let out = u16s(&run_instructions("fp8_from_f32", 1024, 256, 262144 * 8, &[]));
    for i in 0..262144u32 {
        let (a, b) = (f32v(f32_bits(i)), f32v(f32_bits(i) ^ 0x8000_0000));
        for (j, (fmt, relu)) in
            [(E4M3, false), (E5M2, false), (E4M3, true), (E5M2, true)].into_iter().enumerate()
        {
            let want = fp8_ref(a, fmt, relu) << 8 | fp8_ref(b, fmt, relu);
            let got = out[i as usize * 4 + j] as u32;
            assert_eq!(got, want, "f32 {a:e} form {j}: got 0x{got:04x}, want 0x{want:04x}");
        }
    }
    // Spot checks, stated by hand: 448 is e4m3's largest value (0x7e), 464 the tie above it
    // (even: down), infinity saturates; 57344 is e5m2's largest (0x7b).
    let e4 = |x: f64| fp8_ref(x, E4M3, false);
    assert_eq!((e4(448.0), e4(464.0), e4(1e9), e4(f64::INFINITY)), (0x7e, 0x7e, 0x7e, 0x7e));
    assert_eq!((e4(-f64::INFINITY), e4(2f64.powi(-10)), e4(3.0 * 2f64.powi(-10))), (0xfe, 0, 2));
    assert_eq!(fp8_ref(60000.0, E5M2, false), 0x7b);
    assert_eq!(hash::<2, _>(&out), GPU.fp8_from_f32);
}

#[test]
fn cvt_f16x2_from_every_fp8_pair() {
    let out = words(&run_instructions("f16x2_from_fp8", 256, 256, 65536 * 16, &[]));
    let half = |code: u32, fmt: Format, relu: bool| {
        let v = fmt.value(code);
        if v.is_nan() {
            0x7fff
        } else if relu && v.is_sign_negative() {
            0
        } else {
            F16.nearest(v, false)
        }
    };
    for i in 0..65536u32 {
        for (j, (fmt, relu)) in
            [(E4M3, false), (E5M2, false), (E4M3, true), (E5M2, true)].into_iter().enumerate()
        {
            let want = half(i >> 8, fmt, relu) << 16 | half(i & 0xff, fmt, relu);
            let got = out[i as usize * 4 + j];
            assert_eq!(got, want, "0x{i:04x} form {j}: got 0x{got:08x}, want 0x{want:08x}");
        }
    }
    assert_eq!(hash::<4, _>(&out), GPU.f16x2_from_fp8);
}

#[test]
fn cvt_tf32_rna_rn_rz_relu() {
    let out = words(&run_instructions("tf32_from_f32", 1024, 256, 262144 * 20, &[]));
    // tf32 by its definition: an f32 whose 13 low mantissa bits are zero; the candidates
    // around x are x truncated and the next one up (in magnitude). NaN, as an H100 gives it:
    // .rn/.rz the canonical 0x7fffe000, .rna the NaN's own bits truncated (which can make it
    // infinity); .satfinite lowers an all-ones exponent by one ulp.
    let tf32 = |b: u32, mode: &str, satfinite: bool| -> u32 {
        let x = f32::from_bits(b);
        if x.is_nan() && mode != "rna" {
            return 0x7fff_e000;
        }
        let (sign, mag) = (b & 0x8000_0000, b & 0x7fff_ffff);
        let down = mag & !0x1fff;
        let up = down + 0x2000;
        let rest = mag & 0x1fff;
        let r = match mode {
            _ if !x.is_finite() => down,
            "rz" => down,
            "rna" if rest >= 0x1000 => up,
            "rn" if rest > 0x1000 || (rest == 0x1000 && down & 0x2000 != 0) => up,
            _ => down,
        };
        let r = if satfinite && r >= 0x7f80_0000 { r - 0x2000 } else { r };
        sign | r
    };
    for i in 0..262144u32 {
        let b = f32_bits(i);
        let x = f32::from_bits(b);
        let relu = |v: u32| if x.is_sign_negative() && !x.is_nan() { 0 } else { v };
        let want = [
            tf32(b, "rna", false),
            tf32(b, "rna", true),
            tf32(b, "rn", false),
            tf32(b, "rz", false),
            relu(tf32(b, "rn", false)),
        ];
        for (j, w) in want.into_iter().enumerate() {
            let got = out[i as usize * 5 + j];
            assert_eq!(got, w, "f32 0x{b:08x} form {j}: got 0x{got:08x}, want 0x{w:08x}");
        }
    }
    assert_eq!(hash::<4, _>(&out), GPU.tf32_from_f32);
}

// ---- half-precision atomics ----

/// `a op b` on one 16-bit lane of format `fmt`, rounded to nearest even, subnormals kept,
/// NaN canonical (0x7fff); min/max ignore a NaN operand and order -0 below +0.
fn half_ref(op: &str, fmt: Format, a: u32, b: u32) -> u32 {
    let (x, y) = (fmt.value(a), fmt.value(b));
    let r = match op {
        "add" => x + y,
        _ if x.is_nan() && y.is_nan() => f64::NAN,
        _ if x.is_nan() => y,
        _ if y.is_nan() => x,
        "min" if x == y => {
            if x.is_sign_negative() {
                x
            } else {
                y
            }
        }
        "max" if x == y => {
            if x.is_sign_negative() {
                y
            } else {
                x
            }
        }
        "min" => x.min(y),
        _ => x.max(y),
    };
    if r.is_nan() {
        return 0x7fff;
    }
    if r == 0.0 && op == "add" {
        // An exact zero sum is +0 unless both operands are -0.
        return if x.is_sign_negative() && y.is_sign_negative() { fmt.sign() } else { 0 };
    }
    fmt.nearest(r, false)
}

fn pair_ref(op: &str, fmt: Format, a: u32, b: u32) -> u32 {
    half_ref(op, fmt, a >> 16, b >> 16) << 16 | half_ref(op, fmt, a & 0xffff, b & 0xffff)
}

#[test]
fn half_precision_atomics_round_to_nearest_even() {
    let n = 16384u32;
    let out = words(&run_instructions("atomics_half", 64, 256, n as u64 * 64, &[n as u64 * 64]));
    for i in 0..n {
        let (x, y, x2, y2) = (mix(i, 1), mix(i, 2), mix(i, 3), mix(i, 4));
        let (xs, ys) = (x & 0xffff, y & 0xffff);
        let cas = |swap: bool| if swap { ys } else { xs };
        let want: [u32; 16] = [
            half_ref("add", F16, xs, ys),
            half_ref("add", BF16, xs, ys),
            pair_ref("add", F16, x, y),
            pair_ref("add", BF16, x, y),
            half_ref("add", F16, xs, ys),
            half_ref("add", BF16, xs, ys),
            pair_ref("add", F16, x, y),
            pair_ref("add", BF16, x, y),
            pair_ref("add", F16, x, y),
            pair_ref("min", F16, x, y),
            pair_ref("max", BF16, x, y),
            pair_ref("max", F16, x, y) ^ pair_ref("max", F16, x2, y2),
            cas(i % 2 == 1) | xs << 16,
            (x & 0xffff_0000) | cas(i % 2 == 0),
            xs,
            pair_ref("min", BF16, x, y) ^ (pair_ref("min", BF16, x2, y2) << 1),
        ];
        for (j, w) in want.into_iter().enumerate() {
            let got = out[(i * 16) as usize + j];
            assert_eq!(
                got, w,
                "thread {i} word {j}: x 0x{x:08x} y 0x{y:08x}: got 0x{got:08x}, want 0x{w:08x}"
            );
        }
    }
    // By hand: 1 + 2^-11 is a tie in f16 (to even: 1), 1 + 3 * 2^-11 too (to even: 1 + 2^-9);
    // 65504 + 16 overflows to infinity; the smallest subnormals add without flushing.
    assert_eq!(half_ref("add", F16, 0x3c00, 0x1000), 0x3c00);
    assert_eq!(half_ref("add", F16, 0x3c00, 0x1600), 0x3c02);
    assert_eq!(half_ref("add", F16, 0x7bff, 0x4c00), 0x7c00);
    assert_eq!(half_ref("add", F16, 0x0001, 0x0001), 0x0002);
    assert_eq!(hash::<4, _>(&out), GPU.atomics_half);
}

// ---- set / setp ----

/// The comparison of two values of a format (or integers), as the ISA defines it.
fn cmp_ref(op: &str, x: f64, y: f64) -> bool {
    let un = x.is_nan() || y.is_nan();
    match op {
        "lt" => x < y,
        "le" => x <= y,
        "gt" => x > y,
        "ne" => !un && x != y,
        "eq" => x == y,
        "gtu" => un || x > y,
        "geu" => un || x >= y,
        "equ" => un || x == y,
        "num" => !un,
        _ => unreachable!(),
    }
}

#[test]
fn set_and_packed_setp() {
    let out = words(&run_instructions("set_forms", 256, 256, 65536 * 48, &[]));
    for i in 0..65536u32 {
        let x = mix(i, 5);
        let y = if i & 3 == 3 { x } else { mix(i, 6) };
        let c = i & 1 == 1;
        let mask = |b: bool| if b { 0xffff_ffffu32 } else { 0 };
        let h = |fmt: Format, op: &str, a: u32, b: u32| cmp_ref(op, fmt.value(a), fmt.value(b));
        let per_half = |fmt: Format, op: &str, one: u32| {
            let hi = h(fmt, op, x >> 16, y >> 16);
            let lo = h(fmt, op, x & 0xffff, y & 0xffff);
            (if hi { one << 16 } else { 0 }) | if lo { one } else { 0 }
        };
        let (xi, yi) = (x as i32, y as i32);
        let (xf, yf) = (f32v(x), f32v(y));
        let hl = h(F16, "lt", x >> 16, y >> 16);
        let ll = h(F16, "lt", x & 0xffff, y & 0xffff);
        let hb = h(BF16, "gtu", x >> 16, y >> 16) ^ c;
        let lb = h(BF16, "gtu", x & 0xffff, y & 0xffff) ^ c;
        let want: [u32; 12] = [
            mask(xi < yi),
            mask(xi < yi && c),
            if cmp_ref("gtu", xf, yf) || !c { 0x3f80_0000 } else { 0 },
            mask(cmp_ref("ne", xf, yf)),
            per_half(F16, "lt", 0x3c00),
            per_half(F16, "geu", 0xffff),
            per_half(BF16, "equ", 0x3f80),
            if h(F16, "le", x & 0xffff, y & 0xffff) { 0x3c00 } else { 0 },
            if h(BF16, "num", x & 0xffff, y & 0xffff) { 0xffff } else { 0 },
            ll as u32 | (hl as u32) << 1,
            lb as u32 | (hb as u32) << 1,
            mask((x as u64) << 20 > (y as u64) << 20),
        ];
        for (j, w) in want.into_iter().enumerate() {
            let got = out[(i * 12) as usize + j];
            assert_eq!(
                got, w,
                "thread {i} word {j}: x 0x{x:08x} y 0x{y:08x}: got 0x{got:08x}, want 0x{w:08x}"
            );
        }
    }
    assert_eq!(hash::<4, _>(&out), GPU.set_forms);
}

// ---- mbarrier ----

#[test]
fn mbarrier_phases_arrivals_and_transactions() {
    let out = words(&run_instructions("mbarrier_walk", 1, 32, 32 * 4, &[]));
    // Walked by hand from the ISA's phase arithmetic (see the comments in instructions.cu).
    #[rustfmt::skip]
    let want: [u32; 32] = [
        3, 0, 0, 1, // init 3; arrive.noComplete 1 (it found 3 pending), phase 0 open
        1, 1, 1, 0, // arrive 2: phase 0 complete, phase 1 (parity 1) open
        1, 0, 0,    // expect_tx 16, arrive.expect_tx 8, arrive, arrive.noComplete (found 1): tx 24
        0, 1, 1, 0, // complete_tx 20: tx 4 left; complete_tx 4: phase 1 complete
        0, 1,       // arrive_drop (expected 3 -> 2), arrive, arrive: phase 2 complete
        2, 0, 1,    // phase 3: arrive.noComplete (found 2), arrive_drop completes it
        1, 0,       // phase 4 expects 1: one arrival completes it
        0xdeadbeef, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ];
    assert_eq!(out, want);
    assert_eq!(hash::<4, _>(&out), GPU.mbarrier_walk);
}

/// `cuda::barrier` (nvcc's own mbarrier code: arrive, then try_wait in a loop with
/// `nanosleep` back-off) as a block-wide barrier: every thread reads its neighbour's value
/// after `arrive_and_wait`, so a barrier that let a thread through early would read garbage,
/// and the checker's race detector would see it. `barrier_copy` fills the tile with
/// `cuda::memcpy_async` (`cp.async`, then `cp.async.mbarrier.arrive`), `barrier_copy_noinc`
/// with `cp.async.mbarrier.arrive.noinc` on a barrier that counts the copies' arrivals.
#[test]
fn cuda_barrier_kernels_from_nvcc() {
    let m = kernels("nvcc/barrier.ptx");
    for entry in ["barrier_sum", "barrier_copy", "barrier_copy_noinc"] {
        for seed in 0..8 {
            let mut mach = Machine::new(seed);
            mach.set_max_slice(1 + seed as u32 * 5);
            let n = 2 * 256u64;
            let inp = mach.alloc(4 * n).unwrap();
            let v: Vec<u8> = (0..n).flat_map(|i| (i as f32 * 0.5).to_le_bytes()).collect();
            mach.write(inp, &v).unwrap();
            let out = mach.alloc(4 * n).unwrap();
            let args = [Arg::Ptr(inp), Arg::Ptr(out)];
            let r = mach.launch(&m, entry, [2, 1, 1], [256, 1, 1], 0, &args).unwrap();
            assert!(r.is_clean(), "{entry} seed {seed}: {:?}", r.problems);
            let got = words(&mach.read(out, 4 * n).unwrap());
            for b in 0..2 {
                for t in 0..256 {
                    let want = (b * 256 + (t + 1) % 256) as f32 * 0.5;
                    assert_eq!(
                        f32::from_bits(got[b * 256 + t]),
                        want,
                        "{entry} seed {seed} block {b} thread {t}"
                    );
                }
            }
        }
    }
}

// ---- activemask ----

#[test]
fn activemask_is_the_lanes_executing_together() {
    // Each thread runs activemask alone here: its own lane, and the shuffle over that mask
    // reads its own value. (An H100 gives the branch's lanes 0, 3, 6, ...: a superset that
    // a correct program handles the same way.)
    let out = words(&run_instructions("activemask_branch", 1, 64, 64 * 8, &[]));
    for i in 0..64u32 {
        let want = if i % 3 == 0 { [1 << (i % 32), i * 10] } else { [0, 0] };
        assert_eq!(out[i as usize * 2..i as usize * 2 + 2], want, "thread {i}");
    }
}

// ---- wmma ----

fn halves(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| half::f16::from_f32(*x).to_bits().to_le_bytes()).collect()
}

fn launch_clean(m: &mut Machine, module: &Module, entry: &str, grid: [u32; 3], args: &[Arg]) {
    let r: LaunchReport = m.launch(module, entry, grid, [32, 1, 1], 0, args).unwrap();
    assert!(r.is_clean(), "{entry}: {:?}", r.problems);
}

/// Small multiples of 1/8 (exact in f16, bf16 and tf32, and so are their products and sums).
fn eighths(n: usize, s: usize) -> Vec<f32> {
    (0..n).map(|i| ((i * 7 + s * 13) % 23) as f32 / 8.0 - 1.375).collect()
}

#[test]
fn wmma_gemm_f16_from_nvcc() {
    let m = kernels("nvcc/wmma.ptx");
    let (mm, nn, kk) = (32usize, 48usize, 80usize);
    let mut mach = Machine::new(1);
    let a = eighths(mm * kk, 1);
    let b = eighths(nn * kk, 2); // column-major: b[n * K + k]
    let pa = upload(&mut mach, &halves(&a));
    let pb = upload(&mut mach, &halves(&b));
    let pc = mach.alloc((mm * nn * 4) as u64).unwrap();
    let args = [
        Arg::Ptr(pa),
        Arg::Ptr(pb),
        Arg::Ptr(pc),
        Arg::U32(mm as u32),
        Arg::U32(nn as u32),
        Arg::U32(kk as u32),
    ];
    launch_clean(&mut mach, &m, "wmma_gemm", [(nn / 16) as u32, (mm / 16) as u32, 1], &args);
    let got = words(&mach.read(pc, (mm * nn * 4) as u64).unwrap());
    for i in 0..mm {
        for j in 0..nn {
            let want: f64 = (0..kk).map(|k| a[i * kk + k] as f64 * b[j * kk + k] as f64).sum();
            assert_eq!(f32::from_bits(got[i * nn + j]), want as f32, "C[{i}][{j}]");
        }
    }
}

#[test]
fn wmma_m32n8k16_f16_accumulators_column_major_and_fragment_scaling() {
    let m = kernels("nvcc/wmma.ptx");
    let mut mach = Machine::new(2);
    let a = eighths(32 * 16, 3); // column-major: a[k * 32 + m]
    let b = eighths(16 * 8, 4); // row-major: b[k * 8 + n]
    let c = eighths(32 * 8, 5); // column-major: c[n * 32 + m]
    let (pa, pb, pc) = (
        upload(&mut mach, &halves(&a)),
        upload(&mut mach, &halves(&b)),
        upload(&mut mach, &halves(&c)),
    );
    let pd = mach.alloc(32 * 8 * 2).unwrap();
    let args = [Arg::Ptr(pa), Arg::Ptr(pb), Arg::Ptr(pc), Arg::Ptr(pd), Arg::F32(0.5)];
    launch_clean(&mut mach, &m, "wmma_f16_acc", [1, 1, 1], &args);
    let got: Vec<u16> = u16s(&mach.read(pd, 32 * 8 * 2).unwrap());
    for i in 0..32 {
        for j in 0..8 {
            let s: f64 = c[j * 32 + i] as f64
                + (0..16).map(|k| a[k * 32 + i] as f64 * b[k * 8 + j] as f64).sum::<f64>();
            let want = half::f16::from_f64(s * 0.5).to_bits();
            assert_eq!(got[j * 32 + i], want, "D[{i}][{j}]");
        }
    }
}

#[test]
fn wmma_m8n32k16_bf16_with_a_stride() {
    let m = kernels("nvcc/wmma.ptx");
    let mut mach = Machine::new(3);
    let lda = 24usize;
    let a = eighths(8 * lda, 6); // row-major, rows lda apart (the last 8 of each row unused)
    let b = eighths(32 * 16, 7); // column-major: b[n * 16 + k]
    let bf = |v: &[f32]| -> Vec<u8> {
        v.iter().flat_map(|x| half::bf16::from_f32(*x).to_bits().to_le_bytes()).collect()
    };
    let (pa, pb) = (upload(&mut mach, &bf(&a)), upload(&mut mach, &bf(&b)));
    let pd = mach.alloc(8 * 32 * 4).unwrap();
    let args = [Arg::Ptr(pa), Arg::U32(lda as u32), Arg::Ptr(pb), Arg::Ptr(pd)];
    launch_clean(&mut mach, &m, "wmma_bf16", [1, 1, 1], &args);
    let got = words(&mach.read(pd, 8 * 32 * 4).unwrap());
    for i in 0..8 {
        for j in 0..32 {
            let want: f64 = (0..16).map(|k| a[i * lda + k] as f64 * b[j * 16 + k] as f64).sum();
            assert_eq!(f32::from_bits(got[i * 32 + j]), want as f32, "D[{i}][{j}]");
        }
    }
}

#[test]
fn wmma_s8_wraps_in_s32() {
    let m = kernels("nvcc/wmma.ptx");
    let mut mach = Machine::new(4);
    let a: Vec<i8> = (0..256).map(|i| mix(i, 11) as i8).collect();
    let b: Vec<i8> = (0..256).map(|i| mix(i, 12) as i8).collect(); // column-major
    let c: Vec<i32> = (0..256).map(|i| mix(i, 13) as i32 | 0x7f00_0000).collect();
    let pa = upload(&mut mach, &a.iter().map(|v| *v as u8).collect::<Vec<_>>());
    let pb = upload(&mut mach, &b.iter().map(|v| *v as u8).collect::<Vec<_>>());
    let pc = upload(&mut mach, &c.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<_>>());
    let pd = mach.alloc(256 * 4).unwrap();
    launch_clean(
        &mut mach,
        &m,
        "wmma_s8",
        [1, 1, 1],
        &[Arg::Ptr(pa), Arg::Ptr(pb), Arg::Ptr(pc), Arg::Ptr(pd)],
    );
    let got = words(&mach.read(pd, 256 * 4).unwrap());
    for i in 0..16 {
        for j in 0..16 {
            let s = (0..16).fold(c[i * 16 + j], |s, k| {
                s.wrapping_add(a[i * 16 + k] as i32 * b[j * 16 + k] as i32)
            });
            assert_eq!(got[i * 16 + j] as i32, s, "D[{i}][{j}]");
        }
    }
}

#[test]
fn wmma_m16n16k8_tf32_rounds_inputs_to_tf32() {
    let m = kernels("nvcc/wmma.ptx");
    let mut mach = Machine::new(5);
    // Inputs with more than tf32's 11 significant bits: __float_to_tf32 (cvt.rna) rounds
    // them, ties away from zero.
    let a: Vec<f32> = (0..128).map(|i| 1.0 + (mix(i, 14) & 0x7fffff) as f32 / 8388608.0).collect();
    let b: Vec<f32> =
        (0..128).map(|i| -0.5 - (mix(i, 15) & 0x7fffff) as f32 / 16777216.0).collect();
    let f = |v: &[f32]| -> Vec<u8> { v.iter().flat_map(|x| x.to_le_bytes()).collect() };
    let (pa, pb) = (upload(&mut mach, &f(&a)), upload(&mut mach, &f(&b)));
    let pd = mach.alloc(256 * 4).unwrap();
    launch_clean(
        &mut mach,
        &m,
        "wmma_tf32",
        [1, 1, 1],
        &[Arg::Ptr(pa), Arg::Ptr(pb), Arg::Ptr(pd)],
    );
    let got = words(&mach.read(pd, 256 * 4).unwrap());
    let rna = |x: f32| {
        f32::from_bits(((x.to_bits() & 0x7fff_ffff) + 0x1000) & !0x1fff | x.to_bits() & 0x8000_0000)
            as f64
    };
    for i in 0..16 {
        for j in 0..16 {
            let s: f64 = (0..8).map(|k| rna(a[i * 8 + k]) * rna(b[k * 16 + j])).sum();
            assert_eq!(f32::from_bits(got[i * 16 + j]), s as f32, "D[{i}][{j}]");
        }
    }
}

#[test]
fn wmma_m8n8k4_f64_in_place() {
    let m = kernels("nvcc/wmma.ptx");
    let mut mach = Machine::new(6);
    let a: Vec<f64> = (0..32).map(|i| (mix(i, 16) % 1000) as f64 / 7.0).collect();
    let b: Vec<f64> = (0..32).map(|i| (mix(i, 17) % 1000) as f64 / 3.0 - 100.0).collect();
    let c: Vec<f64> = (0..64).map(|i| (mix(i, 18) % 1000) as f64 / 11.0).collect();
    let f = |v: &[f64]| -> Vec<u8> { v.iter().flat_map(|x| x.to_le_bytes()).collect() };
    let (pa, pb, pc) =
        (upload(&mut mach, &f(&a)), upload(&mut mach, &f(&b)), upload(&mut mach, &f(&c)));
    launch_clean(&mut mach, &m, "wmma_f64", [1, 1, 1], &[Arg::Ptr(pa), Arg::Ptr(pb), Arg::Ptr(pc)]);
    let got: Vec<f64> = mach
        .read(pc, 64 * 8)
        .unwrap()
        .chunks(8)
        .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
        .collect();
    for i in 0..8 {
        for j in 0..8 {
            // A chain of fused multiply-adds, k in order.
            let want = (0..4).fold(c[i * 8 + j], |s, k| a[i * 4 + k].mul_add(b[j * 4 + k], s));
            assert_eq!(got[i * 8 + j], want, "D[{i}][{j}]");
        }
    }
}

// ---- planted bugs ----

fn bugs() -> Module {
    kernels("instruction_bugs.ptx")
}

/// Runs a planted-bug kernel (one block of `threads`, an output of 4 bytes per thread).
fn run_bug(entry: &str, threads: u32, seed: u64) -> LaunchReport {
    let m = bugs();
    let mut mach = Machine::new(seed);
    mach.set_instruction_limit(10_000_000);
    let out = mach.alloc(4 * threads as u64).unwrap();
    let inp = mach.alloc(1024 * 2).unwrap();
    mach.write(inp, &halves(&eighths(1024, 8))).unwrap();
    mach.launch(&m, entry, [1, 1, 1], [threads, 1, 1], 0, &[Arg::Ptr(out), Arg::Ptr(inp)]).unwrap()
}

fn only(r: &LaunchReport, kind: ProblemKind, what: &str) {
    assert!(!r.of_kind(kind).is_empty(), "expected {kind:?}, got {:?}", r.problems);
    assert!(r.problems.iter().all(|p| p.kind == kind), "{:?}", r.problems);
    assert!(r.problems.iter().any(|p| p.detail.contains(what)), "`{what}` in {:?}", r.problems);
}

#[test]
fn planted_mbarrier_bugs() {
    for seed in 0..4 {
        assert!(
            run_bug("mbar_clean", 64, seed).is_clean(),
            "{:?}",
            run_bug("mbar_clean", 64, seed).problems
        );
        // A wait on an mbarrier nobody initialised: reported, and the wait gives up.
        only(&run_bug("mbar_no_init", 64, seed), ProblemKind::UninitShared, "no mbarrier object");
        only(&run_bug("mbar_overarrive", 64, seed), ProblemKind::MbarrierMisuse, "pending");
        only(&run_bug("mbar_nocomplete", 64, seed), ProblemKind::MbarrierMisuse, ".noComplete");
        only(&run_bug("mbar_global", 32, seed), ProblemKind::OutOfBounds, "shared memory");
    }
}

/// Shared memory starts as seeded garbage, which passes the mbarrier object's own check 1 time
/// in 8 or so: memory the block never wrote must be no object under every seed.
#[test]
fn an_mbarrier_never_written_is_reported_and_its_wait_gives_up_under_every_seed() {
    for seed in 0..32 {
        let r = run_bug("mbar_never_written", 64, seed);
        only(&r, ProblemKind::UninitShared, "no thread of this block wrote");
    }
}

#[test]
fn planted_mbarrier_that_never_completes_stops_the_launch() {
    // Every thread spins on try_wait for a phase that needs one arrival more than the block
    // has: once each has polled twice with nothing else happening, the launch is a deadlock
    // naming the wait, long before the instruction limit, under every seed and slice length.
    let m = bugs();
    for seed in 0..8 {
        let mut mach = Machine::new(seed);
        mach.set_max_slice(1 + seed as u32 * 7);
        mach.set_instruction_limit(1_000_000);
        let out = mach.alloc(4 * 64).unwrap();
        let args = [Arg::Ptr(out), Arg::Ptr(out)];
        let r = mach.launch(&m, "mbar_never_completes", [1, 1, 1], [64, 1, 1], 0, &args);
        let Err(LaunchError::Deadlock { detail, .. }) = &r else { panic!("seed {seed}: {r:?}") };
        assert!(detail.contains("64 thread(s) at line 129"), "seed {seed}: {detail}");
        assert!(detail.contains("mbarrier.try_wait.shared.b64"), "seed {seed}: {detail}");
        assert!(detail.contains("can never complete"), "seed {seed}: {detail}");
    }
}

#[test]
fn planted_wmma_bugs() {
    for seed in 0..4 {
        assert!(
            run_bug("wmma_clean", 32, seed).is_clean(),
            "{:?}",
            run_bug("wmma_clean", 32, seed).problems
        );
        // Lane 31 exits before the warp's wmma.load.
        only(&run_bug("wmma_lane_exited", 32, seed), ProblemKind::CollectiveMask, "exited");
        only(
            &run_bug("wmma_addresses_differ", 32, seed),
            ProblemKind::CollectiveDivergence,
            "different addresses",
        );
    }
}

#[test]
fn unsupported_cvt_names_the_types_it_saw() {
    let text = |inst: &str| {
        format!(
            ".version 9.0\n.target sm_90\n.address_size 64\n.visible .entry k() {{\n\
             .reg .b16 %h<2>;\n.reg .b32 %r<2>;\n.reg .f32 %f<2>;\n{inst}\nret;\n}}\n"
        )
    };
    // The message, whether the parser refuses the module or (keeping the instruction as
    // unsupported) the launch that reaches it fails.
    let err = |inst: &str| match Module::parse(&text(inst), "t.ptx") {
        Err(e) => e.to_string(),
        Ok(m) => {
            let r = Machine::new(0).launch(&m, "k", [1, 1, 1], [1, 1, 1], 0, &[]);
            r.err().map(|e| e.to_string()).unwrap_or_default()
        }
    };
    let e = err("cvt.rn.satfinite.e2m1x2.f32 %h1, %f1, %f1;");
    assert!(e.contains(".e2m1x2.f32"), "{e}");
    let e = err("cvt.rn.f32 %f1, %f1;");
    assert!(e.contains("given 1") && e.contains(".f32"), "{e}");
    let e = err("mov.f32 %f1, 0f3f800000; cvt.rn.satfinite.e4m3x2.f32 %h1, %f1, %f1;");
    assert!(e.is_empty(), "{e}");
}

/// The GPU's answers: FNV-1a hashes of each entry's output on an H100 (sm_90, driver
/// 580.159, the driver's JIT of kernels/nvcc/instructions.ptx), from
/// kernels/nvcc/gpu_reference.sh. `set_forms` is hashed with word 7 cut to its 16 bits: there
/// the GPU's code (ptxas) drops the `cvt.u32.u16` after `set.le.f16.f16` and stores 1.0 in
/// both halves (`0x3c003c00`), where the PTX's own semantics (and this interpreter) give
/// `0x3c00`.
struct GpuHashes {
    fp8_from_f16x2: u64,
    fp8_from_f32: u64,
    f16x2_from_fp8: u64,
    tf32_from_f32: u64,
    atomics_half: u64,
    set_forms: u64,
    mbarrier_walk: u64,
}

const GPU: GpuHashes = GpuHashes {
    fp8_from_f16x2: 0xe367_7049_75b2_7765,
    fp8_from_f32: 0x672d_8fb8_a495_fce5,
    f16x2_from_fp8: 0xa30a_5b67_fd08_cc7d,
    tf32_from_f32: 0xad36_9530_91b2_dade,
    atomics_half: 0x7311_74a7_4ec7_8dde,
    set_forms: 0xf156_720b_75d9_6a19,
    mbarrier_walk: 0x4a2b_c79b_05ce_93ca,
};
