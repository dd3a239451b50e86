//! Rounding to bf16 and f16 happens once, to nearest with ties to even, whatever the source
//! (f32 or f64): what CUDA's `__float2bfloat16_rn` / `__double2bfloat16` do on the GPU. An
//! exact reference (the two neighbours of the value and the distances to them, which are
//! exact in f64 by Sterbenz's lemma) against `Elem::from_f64_as`, the casts and the writes of
//! fused ops.

use tensor::{bf16, f16, DType, Device, Elem, Rng, Tensor};

/// The nearest of the finite values `to_f64(bits)` (`bits` in `0..=max`, increasing with the
/// value), ties to the even bit pattern; `max + 1` (infinity) past the last value's half ulp.
fn nearest(v: f64, max: u16, to_f64: impl Fn(u16) -> f64) -> u16 {
    let a = v.abs();
    // the largest bit pattern whose value is <= a
    let (mut lo, mut hi) = (0u16, max);
    while lo < hi {
        let mid = lo + (hi - lo + 1) / 2;
        if to_f64(mid) <= a {
            lo = mid
        } else {
            hi = mid - 1
        }
    }
    if to_f64(lo) == a {
        return lo;
    }
    let next = if lo == max { 2.0 * to_f64(max) - to_f64(max - 1) } else { to_f64(lo + 1) };
    let (below, above) = (a - to_f64(lo), next - a);
    if below < above || (below == above && lo % 2 == 0) {
        lo
    } else {
        lo + 1
    }
}

fn bf16_ref(v: f64) -> u16 {
    let b = nearest(v, 0x7F7F, |b| bf16::from_bits(b).to_f64());
    b | if v.is_sign_negative() { 0x8000 } else { 0 }
}

fn f16_ref(v: f64) -> u16 {
    let b = nearest(v, 0x7BFF, |b| f16::from_bits(b).to_f64());
    b | if v.is_sign_negative() { 0x8000 } else { 0 }
}

/// The case the GPU verification found (`verify-kernels --large --seed 777`, cast f32 ->
/// bf16): an f32 just above a tie rounds up.
#[test]
fn an_f32_just_above_a_bf16_tie_rounds_away_from_it() {
    let x = f32::from_bits((-218.5f32).to_bits() + 1); // -218.50002
    assert_eq!(bf16::from_f64_as(x as f64).to_f64(), -219.0);
    assert_eq!(bf16::from_f64_as(-218.5).to_f64(), -218.0); // the tie itself: to even
    let t = Tensor::from_vec(vec![x, -218.5, 218.5, 219.5], 4, &Device::Cpu).unwrap();
    let b = t.to_dtype(DType::BF16).unwrap().to_vec_f64().unwrap();
    assert_eq!(b, [-219.0, -218.0, 218.0, 220.0]);
}

/// Random values near ties (f32 and f64 sources), specials and the range's ends.
#[test]
fn bf16_and_f16_round_once_to_nearest_even() {
    let mut rng = Rng::new(11);
    let mut values: Vec<f64> = vec![0.0, -0.0, 65504.0, 65520.0, 65519.99, 3.3895e38, 1e-8, -6e-8];
    for _ in 0..20000 {
        let e = rng.below(60) as i32 - 30;
        let m = 1.0 + rng.uniform();
        let v = m * 2f64.powi(e) * if rng.below(2) == 0 { 1.0 } else { -1.0 };
        values.push(v);
        // a tie of each target, and its neighbours in f32 and in f64
        for tie in [
            bf16::from_f64_as(v).to_f64()
                + (bf16::from_bits(bf16::from_f64_as(v).to_bits() + 1).to_f64()
                    - bf16::from_f64_as(v).to_f64())
                    / 2.0,
            f16::from_f64_as(v).to_f64()
                + (f16::from_bits(f16::from_f64_as(v).to_bits() + 1).to_f64()
                    - f16::from_f64_as(v).to_f64())
                    / 2.0,
        ] {
            if tie.is_finite() {
                let t32 = tie as f32;
                values.extend([
                    tie,
                    f64::from_bits(tie.to_bits() + 1),
                    f64::from_bits(tie.to_bits() - 1),
                    f32::from_bits(t32.to_bits() + 1) as f64,
                    f32::from_bits(t32.to_bits() - 1) as f64,
                ]);
            }
        }
    }
    let mut bad = vec![];
    for &v in &values {
        let (b, h) = (bf16::from_f64_as(v).to_bits(), f16::from_f64_as(v).to_bits());
        if b != bf16_ref(v) {
            bad.push(format!(
                "bf16 of {v:e} ({:#x}): got {b:#06x}, want {:#06x}",
                v.to_bits(),
                bf16_ref(v)
            ));
        }
        if h != f16_ref(v) {
            bad.push(format!(
                "f16 of {v:e} ({:#x}): got {h:#06x}, want {:#06x}",
                v.to_bits(),
                f16_ref(v)
            ));
        }
    }
    assert!(
        bad.is_empty(),
        "{} of {} roundings wrong, e.g.\n{}",
        bad.len(),
        2 * values.len(),
        bad[..bad.len().min(10)].join("\n")
    );
    assert!(bf16::from_f64_as(f64::NAN).is_nan() && f16::from_f64_as(f64::NAN).is_nan());
    assert_eq!(bf16::from_f64_as(f64::INFINITY).to_f64(), f64::INFINITY);
    assert_eq!(f16::from_f64_as(-1e9).to_f64(), f64::NEG_INFINITY);
}
