//! The tricky instructions, run as PTX kernels (`tests/kernels/semantics.ptx`) and checked
//! against an independent statement of what they compute: the `half` crate for bf16/f16
//! round-to-nearest-even, Rust's float-to-int casts (which saturate and send NaN to 0, as PTX
//! does), a plain CPU matrix product for `mma.sync`, the ISA's layout formulas for
//! `ldmatrix`, and CUDA's `__shfl_*_sync` definitions for the shuffle clamps.

mod common;

use common::{kernels, u32s, upload};
use half::{bf16, f16};
use ptx_interp::{Arg, Machine};

fn bf16_rn(x: f32) -> u32 {
    if x.is_nan() {
        0x7fff
    } else {
        bf16::from_f32(x).to_bits() as u32
    }
}

/// f32 -> f16 toward zero, stated without rounding code: the f16 of largest magnitude not
/// above |x| (the largest finite value on overflow), found by search.
fn f16_rz(x: f32) -> u32 {
    if x.is_nan() {
        return 0x7fff;
    }
    let sign: u32 = if x.is_sign_negative() { 0x8000 } else { 0 };
    if x.is_infinite() {
        return sign | 0x7c00u32;
    }
    let a = x.abs();
    let best = (0u16..0x7c00).filter(|&b| f16::from_bits(b).to_f32() <= a).max().unwrap_or(0);
    sign | best as u32
}

/// f64 -> f32 toward zero: nearest, then one step toward zero when nearest went past.
fn f32_rz(v: f64) -> u32 {
    let r = v as f32;
    if (r as f64).abs() > v.abs() {
        r.to_bits() - 1
    } else {
        r.to_bits()
    }
}

#[test]
fn cvt_rounding_modes_bf16_nan_and_saturation() {
    let mut xs: Vec<f32> = vec![
        0.0,
        -0.0,
        1.0,
        1.5,
        2.5,
        -2.5,
        0.5,
        -0.5,
        3.5,
        1.0 + 1.0 / 256.0,
        1.0 + 3.0 / 256.0,
        65504.0,
        65519.0,
        65520.0,
        1e6,
        -1e6,
        3e9,
        -3e9,
        f32::NAN,
        -f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        1e-40,
        6e-8,
        -6e-8,
        1.000_000_1,
        std::f32::consts::PI,
        -123.456,
        f32::MAX,
        f32::MIN_POSITIVE,
    ];
    let mut s = 0x1234_5678_9abc_def0u64;
    for _ in 0..200 {
        s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        xs.push(f32::from_bits((s >> 32) as u32));
    }
    let n = xs.len();
    let mut m = Machine::new(3);
    let inp = upload(&mut m, &xs.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>());
    let out = m.alloc(32 * n as u64).unwrap();
    let r = m
        .launch(
            &kernels("semantics.ptx"),
            "cvt_modes",
            [(n as u32).div_ceil(64), 1, 1],
            [64, 1, 1],
            0,
            &[Arg::Ptr(out), Arg::Ptr(inp), Arg::U32(n as u32)],
        )
        .unwrap();
    assert!(r.is_clean(), "{:#?}", r.problems);
    let got = u32s(&m, out, 8 * n);
    for (i, &x) in xs.iter().enumerate() {
        let g = &got[8 * i..8 * i + 8];
        let want = [
            bf16_rn(x),
            f16_rz(x),
            x.round_ties_even() as i32 as u32,
            x.trunc() as i32 as u32,
            x.floor() as i32 as u32,
            x.ceil() as i32 as u32,
            bf16_rn(x) << 16 | bf16_rn(-x),
            if x.is_nan() { 0x7fff_ffff } else { f32_rz(x as f64 + 2f64.powi(-40)) },
        ];
        assert_eq!(g, want, "x = {x:e} ({:#010x})", x.to_bits());
    }
}

#[test]
fn mma_m16n8k16_fragments_match_a_cpu_matmul() {
    let mut s = 7u32;
    let mut small = || {
        s = s.wrapping_mul(1103515245).wrapping_add(12345);
        ((s >> 16) % 9) as f32 - 4.0
    };
    let a: Vec<f32> = (0..16 * 16).map(|_| small()).collect();
    let bt: Vec<f32> = (0..8 * 16).map(|_| small()).collect();
    let bytes =
        |v: &[f32]| v.iter().flat_map(|x| bf16::from_f32(*x).to_le_bytes()).collect::<Vec<u8>>();
    let mut m = Machine::new(11);
    let (ad, bd) = (upload(&mut m, &bytes(&a)), upload(&mut m, &bytes(&bt)));
    let d = m.alloc(16 * 8 * 4).unwrap();
    let r = m
        .launch(
            &kernels("semantics.ptx"),
            "mma_bf16",
            [1, 1, 1],
            [32, 1, 1],
            0,
            &[Arg::Ptr(d), Arg::Ptr(ad), Arg::Ptr(bd)],
        )
        .unwrap();
    assert!(r.is_clean(), "{:#?}", r.problems);
    let got: Vec<f32> = u32s(&m, d, 128).into_iter().map(f32::from_bits).collect();
    for i in 0..16 {
        for j in 0..8 {
            let want: f32 = (0..16).map(|k| a[i * 16 + k] * bt[j * 16 + k]).sum();
            assert_eq!(got[i * 8 + j], want, "D[{i}][{j}]");
        }
    }
}

#[test]
fn ldmatrix_layouts() {
    let mut m = Machine::new(5);
    let out = m.alloc(40 * 32).unwrap();
    let r = m
        .launch(
            &kernels("semantics.ptx"),
            "ldmatrix_x4",
            [1, 1, 1],
            [32, 1, 1],
            0,
            &[Arg::Ptr(out)],
        )
        .unwrap();
    assert!(r.is_clean(), "{:#?}", r.problems);
    let got = u32s(&m, out, 10 * 32);
    let el = |mat: usize, row: usize, col: usize| (64 * mat + 8 * row + col) as u32;
    for l in 0..32 {
        let g = &got[10 * l..10 * l + 10];
        for i in 0..4 {
            // Lane l holds row l/4, columns 2(l%4) and 2(l%4)+1 of matrix i (low half first).
            assert_eq!(
                g[i],
                el(i, l / 4, 2 * (l % 4)) | el(i, l / 4, 2 * (l % 4) + 1) << 16,
                "x4 lane {l} r{i}"
            );
            // .trans: column l/4, rows 2(l%4) and 2(l%4)+1.
            assert_eq!(
                g[4 + i],
                el(i, 2 * (l % 4), l / 4) | el(i, 2 * (l % 4) + 1, l / 4) << 16,
                "x4.trans lane {l} r{i}"
            );
        }
        for i in 0..2 {
            assert_eq!(
                g[8 + i],
                el(i, l / 4, 2 * (l % 4)) | el(i, l / 4, 2 * (l % 4) + 1) << 16,
                "x2 lane {l} r{i}"
            );
        }
    }
}

#[test]
fn cp_async_zero_fills_past_src_size_and_for_ignore_src() {
    let mut m = Machine::new(2);
    let src: Vec<u8> = (0..17 * 16).map(|i| (i % 251) as u8 + 1).collect();
    let inp = upload(&mut m, &src);
    let out = m.alloc(17 * 16).unwrap();
    let r = m
        .launch(
            &kernels("semantics.ptx"),
            "cp_async_zfill",
            [1, 1, 1],
            [17, 1, 1],
            0,
            &[Arg::Ptr(out), Arg::Ptr(inp)],
        )
        .unwrap();
    assert!(r.is_clean(), "{:#?}", r.problems);
    let got = m.read(out, 17 * 16).unwrap();
    for t in 0..17 {
        for j in 0..16 {
            let want = if t < 16 && j < t { src[16 * t + j] } else { 0 };
            assert_eq!(got[16 * t + j], want, "thread {t} byte {j}");
        }
    }
}

#[test]
fn shuffle_modes_clamps_and_segments() {
    let mut m = Machine::new(8);
    let out = m.alloc(32 * 32).unwrap();
    let r = m
        .launch(&kernels("semantics.ptx"), "shfl_modes", [1, 1, 1], [32, 1, 1], 0, &[Arg::Ptr(out)])
        .unwrap();
    assert!(r.is_clean(), "{:#?}", r.problems);
    let got = u32s(&m, out, 8 * 32);
    let v = |l: u32| 10 * l + 1;
    for l in 0..32u32 {
        let g = &got[8 * l as usize..8 * l as usize + 8];
        // __shfl_up_sync(v, 3): lanes below 3 keep their own value.
        let up = if l >= 3 { (v(l - 3), 1) } else { (v(l), 0) };
        // __shfl_down_sync(v, 5): lanes past 26 keep their own.
        let down = if l + 5 < 32 { (v(l + 5), 1) } else { (v(l), 0) };
        // __shfl_sync(v, 3, 8): lane 3 of the lane's 8-lane segment.
        let idx = v(l / 8 * 8 + 3);
        // __shfl_down_sync(v, 2, 8): stays inside the segment.
        let down8 = if l % 8 + 2 < 8 { (v(l + 2), 1) } else { (v(l), 0) };
        assert_eq!(g, [up.0, up.1, down.0, down.1, v(l ^ 7), idx, down8.0, down8.1], "lane {l}");
    }
}

#[test]
fn bit_fields_permutes_votes_reductions_and_address_spaces() {
    let mut m = Machine::new(4);
    let out = m.alloc(64 * 32).unwrap();
    let x = 1.0 + 1e-9f64;
    let r = m
        .launch(
            &kernels("misc.ptx"),
            "misc",
            [1, 1, 1],
            [32, 1, 1],
            0,
            &[Arg::Ptr(out), Arg::F64(x)],
        )
        .unwrap();
    assert!(r.is_clean(), "{:#?}", r.problems);
    let got = u32s(&m, out, 16 * 32);
    for l in 0..32u32 {
        let g = &got[16 * l as usize..16 * l as usize + 16];
        let a = -7 - l as i32;
        let fma = x.mul_add(x, -(l as f64)).to_bits();
        let want = [
            0x23,
            0xffff_ffff,
            0xffff_f5ff,
            0x5511_4400,
            3 * l,
            0xaaaa_aaaa,
            1 | 2,
            496,
            21,
            100 + l,
            (l ^ 1) * (l ^ 1),
            ((a / 2) as u32 & 0xffff) | ((a % 2) as u32) << 16,
            ((l as u64 * 0x8000_0001) >> 32) as u32,
            (l < 8) as u32 | (((8..16).contains(&l)) as u32) << 1,
            fma as u32,
            (fma >> 32) as u32,
        ];
        assert_eq!(g, want, "lane {l}");
    }
}

#[test]
fn atomics_on_global_memory() {
    let mut m = Machine::new(6);
    let mut init = [0u32; 8];
    init[7] = u32::MAX;
    let c = upload(&mut m, &init.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>());
    let r = m
        .launch(&kernels("misc.ptx"), "atomics", [2, 1, 1], [128, 1, 1], 0, &[Arg::Ptr(c)])
        .unwrap();
    assert!(r.is_clean(), "{:#?}", r.problems);
    let g = u32s(&m, c, 8);
    assert_eq!(g[0], 256);
    assert_eq!(g[1], 256 % 10, "inc wraps to 0 after 9");
    assert_eq!(g[2] as i32, 155);
    assert_eq!(f32::from_bits(g[3]), 128.0);
    assert_eq!(g[4], 1);
    assert!((1..=256).contains(&g[5]), "one cas winner wrote its id + 1");
    assert!(g[6] < 256);
    assert_eq!(g[7], 0);
}
