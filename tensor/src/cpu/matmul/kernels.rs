//! Micro-kernels: `C[MR x NR] (+)= Ap * Bp` over packed panels (`Ap`: kc steps of MR values,
//! `Bp`: kc steps of NR values). f32 has an AVX2+FMA kernel picked at run time and a portable
//! one of the same shape; f64 (tests, gradcheck) has a portable one.

use crate::Real;

/// `kc, Ap, Bp, C, ldc, rows, cols, accumulate`: writes the `rows x cols` corner of the tile.
pub type KernelFn<S> = unsafe fn(usize, *const S, *const S, *mut S, usize, usize, usize, bool);

/// Writes a finished `MR x NR` tile held in `tile` to the `rows x cols` corner of C.
///
/// # Safety
/// `c` must point at a row-major matrix with row stride `ldc` whose `rows x cols` corner
/// (`rows <= MR`, `cols <= NR`) is valid for reads and writes.
#[inline(always)]
unsafe fn store_tile<S: Real, const MR: usize, const NR: usize>(tile: &[[S; NR]; MR], c: *mut S, ldc: usize, rows: usize, cols: usize, acc: bool) {
    for (i, row) in tile.iter().enumerate().take(rows) {
        let cr = c.add(i * ldc);
        for (j, &v) in row.iter().enumerate().take(cols) {
            *cr.add(j) = if acc { *cr.add(j) + v } else { v };
        }
    }
}

/// Portable kernel: plain loops the compiler vectorizes for whatever the target allows.
///
/// # Safety
/// `a` must be valid for reads of `kc * MR` values and `b` of `kc * NR` values (packed
/// panels); `c` as for [`store_tile`]: its `rows x cols` corner (row stride `ldc`) valid for
/// reads and writes.
pub unsafe fn kernel_portable<S: Real, const MR: usize, const NR: usize>(
    kc: usize,
    a: *const S,
    b: *const S,
    c: *mut S,
    ldc: usize,
    rows: usize,
    cols: usize,
    acc: bool,
) {
    let mut ab = [[S::ZERO; NR]; MR];
    for p in 0..kc {
        let ap = std::slice::from_raw_parts(a.add(p * MR), MR);
        let bp = std::slice::from_raw_parts(b.add(p * NR), NR);
        for i in 0..MR {
            let ai = ap[i];
            for j in 0..NR {
                ab[i][j] += ai * bp[j];
            }
        }
    }
    store_tile(&ab, c, ldc, rows, cols, acc);
}

/// The f32 tile: 6 rows x 16 columns = 12 ymm accumulators, 2 for B, 1 for A.
pub const F32_MR: usize = 6;
pub const F32_NR: usize = 16;

/// The AVX2+FMA f32 micro-kernel (6 x 16 tile).
///
/// # Safety
/// The CPU must support AVX2 and FMA (checked by [`f32_kernel`] before handing it out);
/// the pointer contracts are those of [`kernel_portable`] with `MR = 6`, `NR = 16`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
pub unsafe fn kernel_f32_avx2(kc: usize, a: *const f32, b: *const f32, c: *mut f32, ldc: usize, rows: usize, cols: usize, acc: bool) {
    use std::arch::x86_64::*;
    let mut r = [[_mm256_setzero_ps(); 2]; 6];
    let (mut ap, mut bp) = (a, b);
    // The C tile is needed only at the end: start fetching it now.
    for i in 0..rows {
        _mm_prefetch::<_MM_HINT_T0>(c.add(i * ldc) as *const i8);
        _mm_prefetch::<_MM_HINT_T0>(c.add(i * ldc + 15) as *const i8);
    }
    macro_rules! step {
        () => {{
            let b0 = _mm256_loadu_ps(bp);
            let b1 = _mm256_loadu_ps(bp.add(8));
            let a0 = _mm256_broadcast_ss(&*ap);
            r[0][0] = _mm256_fmadd_ps(a0, b0, r[0][0]);
            r[0][1] = _mm256_fmadd_ps(a0, b1, r[0][1]);
            let a1 = _mm256_broadcast_ss(&*ap.add(1));
            r[1][0] = _mm256_fmadd_ps(a1, b0, r[1][0]);
            r[1][1] = _mm256_fmadd_ps(a1, b1, r[1][1]);
            let a2 = _mm256_broadcast_ss(&*ap.add(2));
            r[2][0] = _mm256_fmadd_ps(a2, b0, r[2][0]);
            r[2][1] = _mm256_fmadd_ps(a2, b1, r[2][1]);
            let a3 = _mm256_broadcast_ss(&*ap.add(3));
            r[3][0] = _mm256_fmadd_ps(a3, b0, r[3][0]);
            r[3][1] = _mm256_fmadd_ps(a3, b1, r[3][1]);
            let a4 = _mm256_broadcast_ss(&*ap.add(4));
            r[4][0] = _mm256_fmadd_ps(a4, b0, r[4][0]);
            r[4][1] = _mm256_fmadd_ps(a4, b1, r[4][1]);
            let a5 = _mm256_broadcast_ss(&*ap.add(5));
            r[5][0] = _mm256_fmadd_ps(a5, b0, r[5][0]);
            r[5][1] = _mm256_fmadd_ps(a5, b1, r[5][1]);
            ap = ap.add(6);
            bp = bp.add(16);
        }};
    }
    let mut p = 0;
    while p + 4 <= kc {
        _mm_prefetch::<_MM_HINT_T0>(ap.add(6 * 16) as *const i8);
        step!();
        step!();
        step!();
        step!();
        p += 4;
    }
    while p < kc {
        step!();
        p += 1;
    }
    if rows == 6 && cols == 16 {
        for (i, ri) in r.iter().enumerate() {
            let cr = c.add(i * ldc);
            let (mut v0, mut v1) = (ri[0], ri[1]);
            if acc {
                v0 = _mm256_add_ps(v0, _mm256_loadu_ps(cr));
                v1 = _mm256_add_ps(v1, _mm256_loadu_ps(cr.add(8)));
            }
            _mm256_storeu_ps(cr, v0);
            _mm256_storeu_ps(cr.add(8), v1);
        }
    } else {
        let mut tile = [[0f32; 16]; 6];
        for (i, ri) in r.iter().enumerate() {
            _mm256_storeu_ps(tile[i].as_mut_ptr(), ri[0]);
            _mm256_storeu_ps(tile[i].as_mut_ptr().add(8), ri[1]);
        }
        store_tile(&tile, c, ldc, rows, cols, acc);
    }
}

/// The best f32 kernel this CPU runs.
pub fn f32_kernel() -> KernelFn<f32> {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") && !force_portable() {
            return kernel_f32_avx2;
        }
    }
    kernel_portable::<f32, F32_MR, F32_NR>
}

/// `LAWCAT_PORTABLE_MATMUL=1` selects the portable kernel (to test and time it on AVX2 hardware).
pub fn force_portable() -> bool {
    std::env::var_os("LAWCAT_PORTABLE_MATMUL").is_some_and(|v| v != "0")
}

/// Packs one full 16-column panel of a column-major f32 operand (`B[p][j]` at
/// `col(j)[p]`, columns `cs` apart) for `kc` steps: 8x8 transposes in registers instead of
/// 16-strided scalar stores. `dst` holds `kc * 16` values.
///
/// # Safety
/// The CPU must support AVX2 ([`avx2_packing`]); `src.add(j * cs + p)` must be readable for
/// every column `j < 16` and step `p < kc`, and `dst` writable for `kc * 16` values.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
pub unsafe fn pack_panel16_colmajor_avx2(src: *const f32, cs: usize, kc: usize, dst: *mut f32) {
    use std::arch::x86_64::*;
    let mut p0 = 0;
    while p0 + 8 <= kc {
        for half in 0..2 {
            let col = |c: usize| src.add((8 * half + c) * cs + p0);
            let r0 = _mm256_loadu_ps(col(0));
            let r1 = _mm256_loadu_ps(col(1));
            let r2 = _mm256_loadu_ps(col(2));
            let r3 = _mm256_loadu_ps(col(3));
            let r4 = _mm256_loadu_ps(col(4));
            let r5 = _mm256_loadu_ps(col(5));
            let r6 = _mm256_loadu_ps(col(6));
            let r7 = _mm256_loadu_ps(col(7));
            let t0 = _mm256_unpacklo_ps(r0, r1);
            let t1 = _mm256_unpackhi_ps(r0, r1);
            let t2 = _mm256_unpacklo_ps(r2, r3);
            let t3 = _mm256_unpackhi_ps(r2, r3);
            let t4 = _mm256_unpacklo_ps(r4, r5);
            let t5 = _mm256_unpackhi_ps(r4, r5);
            let t6 = _mm256_unpacklo_ps(r6, r7);
            let t7 = _mm256_unpackhi_ps(r6, r7);
            let s0 = _mm256_shuffle_ps::<0x44>(t0, t2);
            let s1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
            let s2 = _mm256_shuffle_ps::<0x44>(t1, t3);
            let s3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
            let s4 = _mm256_shuffle_ps::<0x44>(t4, t6);
            let s5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
            let s6 = _mm256_shuffle_ps::<0x44>(t5, t7);
            let s7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
            let rows = [
                _mm256_permute2f128_ps::<0x20>(s0, s4),
                _mm256_permute2f128_ps::<0x20>(s1, s5),
                _mm256_permute2f128_ps::<0x20>(s2, s6),
                _mm256_permute2f128_ps::<0x20>(s3, s7),
                _mm256_permute2f128_ps::<0x31>(s0, s4),
                _mm256_permute2f128_ps::<0x31>(s1, s5),
                _mm256_permute2f128_ps::<0x31>(s2, s6),
                _mm256_permute2f128_ps::<0x31>(s3, s7),
            ];
            for (p, r) in rows.iter().enumerate() {
                _mm256_storeu_ps(dst.add((p0 + p) * 16 + 8 * half), *r);
            }
        }
        p0 += 8;
    }
    for p in p0..kc {
        for j in 0..16 {
            *dst.add(p * 16 + j) = *src.add(j * cs + p);
        }
    }
}

/// Whether the AVX2 packing routines may run here.
pub fn avx2_packing() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        static OK: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *OK.get_or_init(|| std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") && !force_portable())
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}
