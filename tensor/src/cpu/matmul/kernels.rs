//! Micro-kernels: `C[MR x NR] (+)= Ap * Bp` over packed panels (`Ap`: kc steps of MR values,
//! `Bp`: kc steps of NR values). Each is described by a [`Kernel`]: its SIMD level, its tile
//! shape (which differs per kernel, so the GEMM reads it at run time), the cache blocking tuned
//! for it and the packing routine that goes with it. f32 has an AVX-512 kernel (12 x 32), an
//! AVX2+FMA one (6 x 16) and a portable one (6 x 16); the best present is picked at run time
//! ([`crate::cpu::simd`]). f64 (tests, gradcheck) has a portable one.

use super::gemm::Blocks;
use crate::cpu::simd::{self, Simd};
use crate::Real;

/// `kc, Ap, Bp, C, ldc, rows, cols, accumulate`: writes the `rows x cols` corner of the tile.
pub type KernelFn<S> = unsafe fn(usize, *const S, *const S, *mut S, usize, usize, usize, bool);

/// `src, ld, kc, w, dst`: packs one full panel of width `w` (MR or NR) from `w` f32 lines
/// contiguous along the depth, `ld` apart (see [`pack_lines_avx2`]).
pub type PackLinesFn = unsafe fn(*const f32, usize, usize, usize, *mut f32);

/// A micro-kernel and what the GEMM needs to drive it. Only this module makes them, and only
/// for SIMD levels the CPU has, with the tile the function computes: so the fields that
/// safety rests on are private. `blocks` is free to change (to tune).
#[derive(Clone, Copy)]
pub struct Kernel<S> {
    /// The instruction set it runs on.
    pub(crate) simd: Simd,
    /// Tile rows (A values broadcast per step).
    pub(crate) mr: usize,
    /// Tile columns (B values loaded per step).
    pub(crate) nr: usize,
    /// Cache blocking tuned for this kernel (`LAWCAT_GEMM_BLOCKS` overrides it).
    pub blocks: Blocks,
    pub(crate) func: KernelFn<S>,
    /// Packs a full panel of f32 lines contiguous along the depth (rows of a row-major A,
    /// columns of a column-major B) in registers, when the kernel's SIMD level has such a
    /// routine.
    pub(crate) pack_lines_f32: Option<PackLinesFn>,
}

impl<S> Kernel<S> {
    /// The instruction set it runs on.
    pub fn simd(&self) -> Simd {
        self.simd
    }
    /// The tile it computes, `(MR, NR)`: rows of A by columns of B.
    pub fn tile(&self) -> (usize, usize) {
        (self.mr, self.nr)
    }
}

impl<S> std::fmt::Debug for Kernel<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}x{} kernel, blocks {:?}", self.simd, self.mr, self.nr, self.blocks)
    }
}

/// Writes a finished `MR x NR` tile held in `tile` to the `rows x cols` corner of C.
///
/// # Safety
/// `c` must point at a row-major matrix with row stride `ldc` whose `rows x cols` corner
/// (`rows <= MR`, `cols <= NR`) is valid for reads and writes.
#[inline(always)]
unsafe fn store_tile<S: Real, const MR: usize, const NR: usize>(
    tile: &[[S; NR]; MR],
    c: *mut S,
    ldc: usize,
    rows: usize,
    cols: usize,
    acc: bool,
) {
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

/// The AVX2 and portable f32 tile: 6 rows x 16 columns = 12 ymm accumulators, 2 for B, 1 for A.
const AVX2_MR: usize = 6;
const AVX2_NR: usize = 16;

/// Blocking of the 6 x 16 kernels, tuned on a Zen 3 core (32 KiB L1d, 512 KiB L2): B~ panel
/// KC*NR*4 = 16 KiB, A~ block MC*KC*4 = 96 KiB.
const AVX2_BLOCKS: Blocks = Blocks { kc: 256, mc: 96, nc: 2048 };

/// The f64 kernel: 4 x 8, portable.
pub fn f64_kernel() -> Kernel<f64> {
    Kernel {
        simd: Simd::Portable,
        mr: 4,
        nr: 8,
        blocks: Blocks { kc: 256, mc: 64, nc: 2048 },
        func: kernel_portable::<f64, 4, 8>,
        pack_lines_f32: None,
    }
}

/// The f32 kernel of a SIMD level, `None` when this CPU lacks the level.
pub fn f32_kernel_for(simd: Simd) -> Option<Kernel<f32>> {
    if !simd.is_present() {
        return None;
    }
    Some(match simd {
        Simd::Portable => Kernel {
            simd,
            mr: AVX2_MR,
            nr: AVX2_NR,
            blocks: AVX2_BLOCKS,
            func: kernel_portable::<f32, AVX2_MR, AVX2_NR>,
            pack_lines_f32: None,
        },
        #[cfg(target_arch = "x86_64")]
        Simd::Avx2 => Kernel {
            simd,
            mr: AVX2_MR,
            nr: AVX2_NR,
            blocks: AVX2_BLOCKS,
            func: kernel_f32_avx2,
            pack_lines_f32: Some(pack_lines_avx2),
        },
        #[cfg(target_arch = "x86_64")]
        Simd::Avx512 => {
            let (mr, nr, func) =
                avx512_variant().unwrap_or((AVX512_MR, AVX512_NR, kernel_f32_avx512));
            avx512_kernel(mr, nr, func)
        }
        #[cfg(not(target_arch = "x86_64"))]
        Simd::Avx2 | Simd::Avx512 => unreachable!("x86 levels are never present elsewhere"),
    })
}

/// The f32 kernel of the level this process uses ([`simd::selected`]).
pub fn f32_kernel() -> Kernel<f32> {
    f32_kernel_for(simd::selected()).expect("the selected SIMD level is present")
}

/// The AVX2+FMA f32 micro-kernel (6 x 16 tile).
///
/// # Safety
/// The CPU must support AVX2 and FMA (checked by [`f32_kernel_for`] before handing it out);
/// the pointer contracts are those of [`kernel_portable`] with `MR = 6`, `NR = 16`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
pub unsafe fn kernel_f32_avx2(
    kc: usize,
    a: *const f32,
    b: *const f32,
    c: *mut f32,
    ldc: usize,
    rows: usize,
    cols: usize,
    acc: bool,
) {
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

/// The AVX-512 f32 tile: 12 rows x 32 columns = 24 zmm accumulators and 2 for B (of 32 zmm),
/// one more for the broadcast A value. Per step 24 FMAs against 2 vector loads and 12
/// broadcasts; a whole tile keeps two 512-bit FMA pipes of latency 4 busy (8 independent
/// chains needed, 24 present). Where 512-bit FMAs run at full width (Intel Xeon since
/// Skylake-SP, Zen 5) the 16-wide peak is twice the 8-wide one; Zen 4 splits each into two
/// 256-bit halves, so there this kernel and the AVX2 one share one peak (measured: both
/// ~105 GFLOP/s on one core at 1024^3 at their best blocking, of 118). A 14 x 32 tile was
/// within 2% in cache.
#[cfg(target_arch = "x86_64")]
const AVX512_MR: usize = 12;
#[cfg(target_arch = "x86_64")]
const AVX512_NR: usize = 32;

/// Blocking of the 12 x 32 kernel, tuned with `examples/gemm_tune` on the project's AVX-512
/// machine (AMD EPYC Zen 4: 32 KiB L1d, 1 MiB L2 per core). Deep KC won there: the per-step
/// traffic of this tile (128 B of B, 48 B of A per 24 FMAs) streams from L2 easily, so the
/// B micro-panel (KC*NR*4 = 128 KiB) lives in L2 beside the A~ block (MC*KC*4 = 576 KiB) and
/// fewer KC blocks mean fewer passes over C. One thread, 1024^3 / 2048^3, best thread CPU
/// time: KC 1024 107 / 109 GFLOP/s, 512 105 / 107, 256 (B panel near L1 size) 101 / 102;
/// MC between 48 and 192 within 1%; matrixmultiply 97 / 94 in the same runs.
#[cfg(target_arch = "x86_64")]
const AVX512_BLOCKS: Blocks = Blocks { kc: 1024, mc: 144, nc: 2048 };

/// The AVX-512 f32 micro-kernel, `MR x 16*NV` tile (`MR = 12`, `NV = 2` in the product path).
///
/// # Safety
/// The CPU must support AVX-512F (checked by [`f32_kernel_for`] before handing it out);
/// the pointer contracts are those of [`kernel_portable`] with `NR = 16 * NV`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
pub unsafe fn kernel_f32_avx512_mr<const MR: usize, const NV: usize, const PF: usize>(
    kc: usize,
    a: *const f32,
    b: *const f32,
    c: *mut f32,
    ldc: usize,
    rows: usize,
    cols: usize,
    acc: bool,
) {
    // An edge tile of a few rows (256 = 21 * 12 + 4) computes only the rows it keeps.
    if MR > 4 && rows <= 4 {
        avx512_rows::<4, MR, NV, PF>(kc, a, b, c, ldc, rows, cols, acc)
    } else if MR > 8 && rows <= 8 {
        avx512_rows::<8, MR, NV, PF>(kc, a, b, c, ldc, rows, cols, acc)
    } else {
        avx512_rows::<MR, MR, NV, PF>(kc, a, b, c, ldc, rows, cols, acc)
    }
}

/// The first `R` rows of the `MR x 16*NV` tile (`R <= MR`) from an A~ panel of `MR` values
/// per step.
///
/// # Safety
/// As [`kernel_f32_avx512_mr`], with `rows <= R`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments)]
unsafe fn avx512_rows<const R: usize, const MR: usize, const NV: usize, const PF: usize>(
    kc: usize,
    a: *const f32,
    b: *const f32,
    c: *mut f32,
    ldc: usize,
    rows: usize,
    cols: usize,
    acc: bool,
) {
    use std::arch::x86_64::*;
    debug_assert!(R <= MR && rows <= R && cols <= 16 * NV);
    let mut r = [[_mm512_setzero_ps(); NV]; R];
    let (mut ap, mut bp) = (a, b);
    // The C tile is needed only at the end: start fetching it now (two or more lines a row).
    for i in 0..rows {
        _mm_prefetch::<_MM_HINT_T0>(c.add(i * ldc) as *const i8);
        _mm_prefetch::<_MM_HINT_T0>(c.add(i * ldc + cols - 1) as *const i8);
    }
    macro_rules! step {
        () => {{
            if PF > 0 {
                // Software prefetch PF steps ahead: every line of B, and A's next line.
                // `wrapping_add`: a prefetch past the panel's end is harmless, no access.
                for v in 0..NV {
                    _mm_prefetch::<_MM_HINT_T0>(
                        bp.wrapping_add(16 * NV * PF + 16 * v) as *const i8,
                    );
                }
                _mm_prefetch::<_MM_HINT_T0>(ap.wrapping_add(MR * PF) as *const i8);
            }
            let mut bv = [_mm512_setzero_ps(); NV];
            for (v, x) in bv.iter_mut().enumerate() {
                *x = _mm512_loadu_ps(bp.add(16 * v));
            }
            for (i, ri) in r.iter_mut().enumerate() {
                let ai = _mm512_set1_ps(*ap.add(i));
                for (acc, x) in ri.iter_mut().zip(&bv) {
                    *acc = _mm512_fmadd_ps(ai, *x, *acc);
                }
            }
            ap = ap.add(MR);
            bp = bp.add(16 * NV);
        }};
    }
    let mut p = 0;
    while p + 4 <= kc {
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
    // Column masks for a partial tile: lanes at or past `cols` are neither read nor written
    // (masked-off lanes of a masked load or store do not touch memory).
    let lanes = |n: usize| -> __mmask16 {
        if n >= 16 {
            0xFFFF
        } else {
            ((1u32 << n) - 1) as __mmask16
        }
    };
    for (i, ri) in r.iter().enumerate() {
        // A constant trip count with a test keeps `r` in registers (a loop to `rows` would
        // index it at run time).
        if i >= rows {
            break;
        }
        let cr = c.add(i * ldc);
        for (v, &x) in ri.iter().enumerate() {
            let mut x = x;
            if cols == 16 * NV {
                let cv = cr.add(16 * v);
                if acc {
                    x = _mm512_add_ps(x, _mm512_loadu_ps(cv));
                }
                _mm512_storeu_ps(cv, x);
            } else {
                // `wrapping_add`: a vector past the row's end is fully masked.
                let (cv, m) = (cr.wrapping_add(16 * v), lanes(cols.saturating_sub(16 * v)));
                if acc {
                    x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(m, cv));
                }
                _mm512_mask_storeu_ps(cv, m, x);
            }
        }
    }
}

/// [`kernel_f32_avx512_mr`] at the product path's tile, 12 x 32.
///
/// # Safety
/// As for [`kernel_f32_avx512_mr`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
pub unsafe fn kernel_f32_avx512(
    kc: usize,
    a: *const f32,
    b: *const f32,
    c: *mut f32,
    ldc: usize,
    rows: usize,
    cols: usize,
    acc: bool,
) {
    kernel_f32_avx512_mr::<AVX512_MR, { AVX512_NR / 16 }, 0>(kc, a, b, c, ldc, rows, cols, acc)
}

/// The AVX-512 tile shapes there are to measure on a new CPU, `(MR, NR, PF, kernel)`: every
/// one keeps at most 31 of the 32 zmm registers live (MR * NR/16 accumulators, NR/16 B
/// vectors, one broadcast A value); `PF` is a software prefetch that many steps ahead (0:
/// none). The first is the default.
#[cfg(target_arch = "x86_64")]
const AVX512_TILES: &[(usize, usize, usize, KernelFn<f32>)] = &[
    (12, 32, 0, kernel_f32_avx512),
    (12, 32, 8, kernel_f32_avx512_mr::<12, 2, 8>),
    (12, 32, 16, kernel_f32_avx512_mr::<12, 2, 16>),
    (14, 32, 0, kernel_f32_avx512_mr::<14, 2, 0>),
    (14, 32, 8, kernel_f32_avx512_mr::<14, 2, 8>),
    (8, 32, 0, kernel_f32_avx512_mr::<8, 2, 0>),
    (8, 48, 0, kernel_f32_avx512_mr::<8, 3, 0>),
    (9, 48, 0, kernel_f32_avx512_mr::<9, 3, 0>),
    (9, 48, 8, kernel_f32_avx512_mr::<9, 3, 8>),
    (6, 64, 0, kernel_f32_avx512_mr::<6, 4, 0>),
    (6, 64, 8, kernel_f32_avx512_mr::<6, 4, 8>),
    (5, 80, 0, kernel_f32_avx512_mr::<5, 5, 0>),
];

/// The AVX-512 kernel `func` of an `mr x nr` tile (one of [`AVX512_TILES`]; the caller has
/// checked that AVX-512F is present).
#[cfg(target_arch = "x86_64")]
fn avx512_kernel(mr: usize, nr: usize, func: KernelFn<f32>) -> Kernel<f32> {
    Kernel {
        simd: Simd::Avx512,
        mr,
        nr,
        blocks: AVX512_BLOCKS,
        func,
        pack_lines_f32: Some(pack_lines_avx2),
    }
}

/// Every AVX-512 tile of [`AVX512_TILES`] as a kernel (the tests run them all), each with the
/// `LAWCAT_AVX512_TILE` value that selects it; empty when the CPU lacks AVX-512F.
pub fn f32_avx512_tiles() -> Vec<(String, Kernel<f32>)> {
    #[cfg(target_arch = "x86_64")]
    if Simd::Avx512.is_present() {
        return AVX512_TILES
            .iter()
            .map(|&(mr, nr, pf, func)| (format!("{mr}x{nr},{pf}"), avx512_kernel(mr, nr, func)))
            .collect();
    }
    Vec::new()
}

/// `LAWCAT_AVX512_TILE=MRxNR[,PF]` (or `MR[,PF]` for NR = 32; tuning, as `LAWCAT_GEMM_BLOCKS`):
/// one of the [`AVX512_TILES`] instead of the default, to measure it on a new CPU with
/// `gemm_tune` or the matmul bench. `None` for the default or a shape not in the table (said on
/// standard error).
#[cfg(target_arch = "x86_64")]
fn avx512_variant() -> Option<(usize, usize, KernelFn<f32>)> {
    let v = std::env::var("LAWCAT_AVX512_TILE").ok()?;
    let parse = || -> Option<(usize, usize, usize)> {
        let mut it = v.split(',').map(str::trim);
        let shape = it.next()?;
        let (mr, nr) = match shape.split_once('x') {
            Some((m, n)) => (m.parse().ok()?, n.parse().ok()?),
            None => (shape.parse().ok()?, 32),
        };
        let pf = match it.next() {
            Some(p) => p.parse().ok()?,
            None => 0,
        };
        Some((mr, nr, pf))
    };
    let found = parse().and_then(|want| AVX512_TILES.iter().find(|t| (t.0, t.1, t.2) == want));
    if found.is_none() {
        let known: Vec<String> =
            AVX512_TILES.iter().map(|t| format!("{}x{},{}", t.0, t.1, t.2)).collect();
        eprintln!("LAWCAT_AVX512_TILE={v}: not one of {}; using the default", known.join(" "));
    }
    found.map(|&(mr, nr, _, func)| (mr, nr, func))
}

/// Stores the first `lanes` (< 8) values of `v` at `dst` with 16-, 8- and 4-byte stores: a
/// masked 32-byte store (`vmaskmovps`) is microcoded and several times slower on AMD Zen.
///
/// # Safety
/// The CPU must support AVX; `dst` must be writable for `lanes` values.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn store_first_lanes(dst: *mut f32, v: std::arch::x86_64::__m256, lanes: usize) {
    use std::arch::x86_64::*;
    let (mut x, mut n, mut d) = (_mm256_castps256_ps128(v), lanes, dst);
    if n >= 4 {
        _mm_storeu_ps(d, x);
        (x, n, d) = (_mm256_extractf128_ps::<1>(v), n - 4, d.add(4));
    }
    if n >= 2 {
        _mm_storel_epi64(d as *mut __m128i, _mm_castps_si128(x));
        (x, n, d) = (_mm_movehl_ps(x, x), n - 2, d.add(2));
    }
    if n == 1 {
        _mm_store_ss(d, x);
    }
}

/// Packs one full panel of width `w` from `w` lines that are each contiguous along the depth
/// (line `j`'s step `p` at `src[j * ld + p]`; the rows of a row-major A, the columns of a
/// column-major B, as in `x @ W^T`) into `kc` steps of `w` values, `dst[p * w + j]`: 8x8
/// transposes in registers instead of `w`-strided scalar stores. Of a last group of fewer than
/// 8 lines only those lanes are stored (its missing lines are read from line 0 of the group
/// and never stored).
///
/// # Safety
/// The CPU must support AVX2; `src.add(j * ld + p)` must be readable for every line `j < w`
/// and step `p < kc`, and `dst` writable for `kc * w` values.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
pub unsafe fn pack_lines_avx2(src: *const f32, ld: usize, kc: usize, w: usize, dst: *mut f32) {
    use std::arch::x86_64::*;
    // Group by group along the whole depth: 8 lines streamed at a time, which the hardware
    // prefetchers follow (all `w` lines at once are too many streams for them).
    let body = kc / 8 * 8;
    for group in 0..w.div_ceil(8) {
        let lanes = (w - 8 * group).min(8);
        for p0 in (0..body).step_by(8) {
            // Lines past the panel's width repeat the group's first line (valid memory).
            let line = |c: usize| src.add((8 * group + if c < lanes { c } else { 0 }) * ld + p0);
            let r0 = _mm256_loadu_ps(line(0));
            let r1 = _mm256_loadu_ps(line(1));
            let r2 = _mm256_loadu_ps(line(2));
            let r3 = _mm256_loadu_ps(line(3));
            let r4 = _mm256_loadu_ps(line(4));
            let r5 = _mm256_loadu_ps(line(5));
            let r6 = _mm256_loadu_ps(line(6));
            let r7 = _mm256_loadu_ps(line(7));
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
            let steps = [
                _mm256_permute2f128_ps::<0x20>(s0, s4),
                _mm256_permute2f128_ps::<0x20>(s1, s5),
                _mm256_permute2f128_ps::<0x20>(s2, s6),
                _mm256_permute2f128_ps::<0x20>(s3, s7),
                _mm256_permute2f128_ps::<0x31>(s0, s4),
                _mm256_permute2f128_ps::<0x31>(s1, s5),
                _mm256_permute2f128_ps::<0x31>(s2, s6),
                _mm256_permute2f128_ps::<0x31>(s3, s7),
            ];
            if lanes == 8 {
                for (p, v) in steps.iter().enumerate() {
                    _mm256_storeu_ps(dst.add((p0 + p) * w + 8 * group), *v);
                }
            } else {
                for (p, v) in steps.iter().enumerate() {
                    store_first_lanes(dst.add((p0 + p) * w + 8 * group), *v, lanes);
                }
            }
        }
    }
    for p in body..kc {
        for j in 0..w {
            *dst.add(p * w + j) = *src.add(j * ld + p);
        }
    }
}
