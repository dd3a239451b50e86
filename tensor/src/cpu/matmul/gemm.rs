//! The packed, cache-blocked GEMM (the BLIS loop nest) for one matrix product:
//! `C[m x n] = A[m x k] * B[k x n]`, A and B read through any strides (transposed views need
//! no copy: packing reads them in place and converts bf16/f16 to f32 on the way).
//!
//! Loops, outermost first: `jc` over NC columns (B block in L3), `pc` over KC depth (pack
//! B~), `ic` over MC rows (pack A~, in L2), `jr` over NR columns (a B~ panel in L1), `ir`
//! over MR rows (the micro-kernel).

use super::kernels::{self, Kernel};
use crate::cpu::simd::Simd;
use crate::{FloatElem, Real};
use std::cell::RefCell;
use std::sync::OnceLock;

/// A strided matrix operand: element (i, j) is `data[off + i * rs + j * cs]`.
#[derive(Clone, Copy)]
pub struct MatRef<'a, T> {
    pub data: &'a [T],
    pub off: usize,
    pub rs: usize,
    pub cs: usize,
}

impl<'a, T: Copy> MatRef<'a, T> {
    #[inline(always)]
    pub fn at(&self, i: usize, j: usize) -> T {
        self.data[self.off + i * self.rs + j * self.cs]
    }
    /// The sub-matrix starting at (i, j).
    pub fn shift(&self, i: usize, j: usize) -> Self {
        MatRef { off: self.off + i * self.rs + j * self.cs, ..*self }
    }
}

/// Cache block sizes: KC steps of depth, MC rows of A (rounded up to whole MR panels), NC
/// columns of B. Each kernel carries the blocking tuned for it ([`Kernel::blocks`]);
/// `LAWCAT_GEMM_BLOCKS=kc,mc,nc` overrides them all (for tuning on other CPUs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Blocks {
    pub kc: usize,
    pub mc: usize,
    pub nc: usize,
}

/// `kernel`'s blocking, or the `LAWCAT_GEMM_BLOCKS` override.
pub fn blocks_for<S>(kernel: &Kernel<S>) -> Blocks {
    static OVERRIDE: OnceLock<Option<Blocks>> = OnceLock::new();
    let o = OVERRIDE.get_or_init(|| {
        let s = std::env::var("LAWCAT_GEMM_BLOCKS").ok()?;
        let v: Vec<usize> = s.split(',').filter_map(|x| x.trim().parse().ok()).collect();
        let parsed = (v.len() == 3 && v.iter().all(|&x| x > 0)).then(|| Blocks {
            kc: v[0],
            mc: v[1],
            nc: v[2],
        });
        if parsed.is_none() {
            eprintln!(
                "LAWCAT_GEMM_BLOCKS={s}: want three positive numbers kc,mc,nc; using each kernel's \
                 own"
            );
        }
        parsed
    });
    o.unwrap_or(kernel.blocks)
}

/// A compute type with its micro-kernels and per-thread packing buffers.
pub trait GemmScalar: Real {
    /// The micro-kernel products of this type use in this process (the selected SIMD
    /// level's, [`crate::cpu::simd::selected`]); its tile shape drives the packing.
    fn kernel() -> Kernel<Self>;
    /// The micro-kernel of a SIMD level, `None` when the CPU lacks the level or the type has
    /// no kernel for it (f64 has only the portable one).
    fn kernel_for(simd: Simd) -> Option<Kernel<Self>>;
    fn with_buffers<R>(na: usize, nb: usize, f: impl FnOnce(&mut [Self], &mut [Self]) -> R) -> R;
    /// The calling thread's buffer for a packed B~ block that [`gemm_parallel`] shares with
    /// the threads that run its row blocks (apart from [`GemmScalar::with_buffers`], which
    /// those threads, the caller among them, use for their A~).
    fn with_shared_buffer<R>(n: usize, f: impl FnOnce(&mut [Self]) -> R) -> R;
}

macro_rules! thread_buffers {
    ($name:ident, $t:ty) => {
        thread_local! {
            static $name: RefCell<(Vec<$t>, Vec<$t>)> =
                const { RefCell::new((Vec::new(), Vec::new())) };
        }
    };
}
thread_buffers!(BUF_F32, f32);
thread_buffers!(BUF_F64, f64);
thread_buffers!(SHARED_F32, f32);
thread_buffers!(SHARED_F64, f64);

/// Extra elements so that a 64-byte aligned start fits (packed panels are read with
/// 32-byte loads; a cache-line-aligned start keeps each load inside one line).
const ALIGN_PAD: usize = 16;

fn aligned<S>(v: &mut [S], n: usize) -> &mut [S] {
    let skip = v.as_ptr().align_offset(64).min(ALIGN_PAD);
    &mut v[skip..skip + n]
}

fn with_bufs<S: Real, R>(
    key: &'static std::thread::LocalKey<RefCell<(Vec<S>, Vec<S>)>>,
    na: usize,
    nb: usize,
    f: impl FnOnce(&mut [S], &mut [S]) -> R,
) -> R {
    key.with(|cell| match cell.try_borrow_mut() {
        Ok(mut bufs) => {
            let (a, b) = &mut *bufs;
            if a.len() < na + ALIGN_PAD {
                a.resize(na + ALIGN_PAD, S::ZERO);
            }
            if b.len() < nb + ALIGN_PAD {
                b.resize(nb + ALIGN_PAD, S::ZERO);
            }
            f(aligned(a, na), aligned(b, nb))
        }
        // Re-entered on this thread (never expected): fall back to fresh buffers.
        Err(_) => {
            let (mut a, mut b) = (vec![S::ZERO; na + ALIGN_PAD], vec![S::ZERO; nb + ALIGN_PAD]);
            f(aligned(&mut a, na), aligned(&mut b, nb))
        }
    })
}

impl GemmScalar for f32 {
    fn kernel() -> Kernel<f32> {
        static K: OnceLock<Kernel<f32>> = OnceLock::new();
        *K.get_or_init(kernels::f32_kernel)
    }
    fn kernel_for(simd: Simd) -> Option<Kernel<f32>> {
        kernels::f32_kernel_for(simd)
    }
    fn with_buffers<R>(na: usize, nb: usize, f: impl FnOnce(&mut [f32], &mut [f32]) -> R) -> R {
        with_bufs(&BUF_F32, na, nb, f)
    }
    fn with_shared_buffer<R>(n: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
        with_bufs(&SHARED_F32, 0, n, |_, b| f(b))
    }
}

impl GemmScalar for f64 {
    fn kernel() -> Kernel<f64> {
        kernels::f64_kernel()
    }
    fn kernel_for(simd: Simd) -> Option<Kernel<f64>> {
        (simd == Simd::Portable).then(kernels::f64_kernel)
    }
    fn with_buffers<R>(na: usize, nb: usize, f: impl FnOnce(&mut [f64], &mut [f64]) -> R) -> R {
        with_bufs(&BUF_F64, na, nb, f)
    }
    fn with_shared_buffer<R>(n: usize, f: impl FnOnce(&mut [f64]) -> R) -> R {
        with_bufs(&SHARED_F64, 0, n, |_, b| f(b))
    }
}

/// Packs the `mc x kc` block of A into `kernel.mr`-row panels, each `kc` steps of `mr`
/// values, zero-padding the last panel; with the kernel's own packing routine where it has one.
fn pack_a<T: FloatElem>(
    a: MatRef<T>,
    mc: usize,
    kc: usize,
    kernel: &Kernel<T::C>,
    out: &mut [T::C],
) {
    let mr = kernel.mr;
    assert!(
        out.len() >= mc.div_ceil(mr) * mr * kc
            && (mc == 0 || kc == 0 || a.off + (mc - 1) * a.rs + (kc - 1) * a.cs < a.data.len())
    );
    for (pi, panel) in out.chunks_mut(mr * kc).take(mc.div_ceil(mr)).enumerate() {
        let i0 = pi * mr;
        let rows = mr.min(mc - i0);
        if rows < mr {
            panel.fill(T::C::ZERO);
        }
        let src = a.data.as_ptr();
        let dst = panel.as_mut_ptr();
        // SAFETY: every (i, p) read is inside A (asserted above for the block's far corner),
        // every write inside the panel (kc * MR values).
        unsafe {
            if let (1, true, true, Some(pack)) =
                (a.cs, rows == mr, is_f32::<T>(), kernel.pack_lines_f32)
            {
                // Rows contiguous and plain f32: the kernel's in-register transposes (its SIMD
                // level is present: it was handed out).
                pack(src.add(a.off + i0 * a.rs) as *const f32, a.rs, kc, mr, dst as *mut f32);
            } else if a.cs == 1 {
                // Rows contiguous: read along each row, write with stride MR.
                for i in 0..rows {
                    let row = src.add(a.off + (i0 + i) * a.rs);
                    for p in 0..kc {
                        *dst.add(p * mr + i) = (*row.add(p)).to_c();
                    }
                }
            } else if a.rs == 1 && rows == mr {
                // Columns contiguous (a transposed A): MR values per step are adjacent.
                for p in 0..kc {
                    let col = src.add(a.off + i0 + p * a.cs);
                    for i in 0..mr {
                        *dst.add(p * mr + i) = (*col.add(i)).to_c();
                    }
                }
            } else {
                for p in 0..kc {
                    for i in 0..rows {
                        *dst.add(p * mr + i) =
                            (*src.add(a.off + (i0 + i) * a.rs + p * a.cs)).to_c();
                    }
                }
            }
        }
    }
}

/// True when `T` is f32 itself (so its values can be read as f32 without conversion).
fn is_f32<T: 'static>() -> bool {
    std::any::TypeId::of::<T>() == std::any::TypeId::of::<f32>()
}

/// Packs the `kc x nc` block of B into `kernel.nr`-column panels, each `kc` steps of `nr`
/// values, with the kernel's own packing routine where it has one.
fn pack_b<T: FloatElem>(
    b: MatRef<T>,
    kc: usize,
    nc: usize,
    kernel: &Kernel<T::C>,
    out: &mut [T::C],
) {
    let nr = kernel.nr;
    assert!(
        out.len() >= nc.div_ceil(nr) * nr * kc
            && (nc == 0 || kc == 0 || b.off + (kc - 1) * b.rs + (nc - 1) * b.cs < b.data.len())
    );
    for (pj, panel) in out.chunks_mut(nr * kc).take(nc.div_ceil(nr)).enumerate() {
        let j0 = pj * nr;
        let cols = nr.min(nc - j0);
        if cols < nr {
            panel.fill(T::C::ZERO);
        }
        let src = b.data.as_ptr();
        let dst = panel.as_mut_ptr();
        // SAFETY: reads inside B (far corner asserted above), writes inside the panel.
        unsafe {
            if let (1, true, true) = (b.cs, cols == nr, is_f32::<T>()) {
                // Rows contiguous and plain f32 (x @ W): whole rows of the panel at once.
                copy_rows(src.add(b.off + j0) as *const f32, b.rs, kc, nr, dst as *mut f32);
            } else if b.cs == 1 {
                for p in 0..kc {
                    let row = src.add(b.off + p * b.rs + j0);
                    let d = dst.add(p * nr);
                    for j in 0..cols {
                        *d.add(j) = (*row.add(j)).to_c();
                    }
                }
            } else if let (1, true, true, Some(pack)) =
                (b.rs, cols == nr, is_f32::<T>(), kernel.pack_lines_f32)
            {
                // Columns contiguous and plain f32 (x @ W^T with f32 weights): the kernel's
                // in-register transposes (its SIMD level is present: it was handed out).
                pack(src.add(b.off + j0 * b.cs) as *const f32, b.cs, kc, nr, dst as *mut f32);
            } else if b.rs == 1 {
                // Columns contiguous (a transposed operand, x @ W^T): read down each column.
                for j in 0..cols {
                    let col = src.add(b.off + (j0 + j) * b.cs);
                    for p in 0..kc {
                        *dst.add(p * nr + j) = (*col.add(p)).to_c();
                    }
                }
            } else {
                for p in 0..kc {
                    for j in 0..cols {
                        *dst.add(p * nr + j) =
                            (*src.add(b.off + p * b.rs + (j0 + j) * b.cs)).to_c();
                    }
                }
            }
        }
    }
}

/// `kc` rows of `w` f32 values, `rs` apart at `src`, to `dst` back to back, with fixed-size
/// copies for the tile widths there are (a copy loop of run-time length costs its setup per
/// row, as much as the 64 or 128 bytes it moves).
///
/// # Safety
/// `src.add(p * rs + j)` readable and `dst.add(p * w + j)` writable for `p < kc`, `j < w`.
unsafe fn copy_rows(src: *const f32, rs: usize, kc: usize, w: usize, dst: *mut f32) {
    unsafe fn fixed<const W: usize>(src: *const f32, rs: usize, kc: usize, dst: *mut f32) {
        for p in 0..kc {
            // SAFETY: the caller's contract, with w = W.
            unsafe {
                (dst.add(p * W) as *mut [f32; W])
                    .write_unaligned((src.add(p * rs) as *const [f32; W]).read_unaligned())
            };
        }
    }
    // SAFETY: the caller's contract.
    unsafe {
        match w {
            16 => fixed::<16>(src, rs, kc, dst),
            32 => fixed::<32>(src, rs, kc, dst),
            48 => fixed::<48>(src, rs, kc, dst),
            64 => fixed::<64>(src, rs, kc, dst),
            _ => {
                for p in 0..kc {
                    std::ptr::copy_nonoverlapping(src.add(p * rs), dst.add(p * w), w);
                }
            }
        }
    }
}

/// The block length that cuts `len` into as few blocks of at most `block` as possible, all of
/// about the same length, rounded up to a multiple of `unit` (which `block` is).
fn balanced(len: usize, block: usize, unit: usize) -> usize {
    let parts = len.div_ceil(block.max(1)).max(1);
    len.div_ceil(parts).div_ceil(unit) * unit
}

/// `C = A * B` for one matrix, on the calling thread. `c` is row-major with row stride
/// `ldc`; only its `m x n` corner is written.
pub fn gemm<TA, TB>(
    m: usize,
    n: usize,
    k: usize,
    a: MatRef<TA>,
    b: MatRef<TB>,
    c: &mut [TA::C],
    ldc: usize,
) where
    TA: FloatElem,
    TB: FloatElem<C = TA::C>,
    TA::C: GemmScalar,
{
    gemm_into(m, n, k, a, b, c, ldc, false)
}

/// `C = A * B`, or `C += A * B` when `accumulate`, with the kernel this process uses.
#[allow(clippy::too_many_arguments)]
pub fn gemm_into<TA, TB>(
    m: usize,
    n: usize,
    k: usize,
    a: MatRef<TA>,
    b: MatRef<TB>,
    c: &mut [TA::C],
    ldc: usize,
    accumulate: bool,
) where
    TA: FloatElem,
    TB: FloatElem<C = TA::C>,
    TA::C: GemmScalar,
{
    gemm_with(&<TA::C as GemmScalar>::kernel(), m, n, k, a, b, c, ldc, accumulate)
}

/// `C = A * B`, or `C += A * B` when `accumulate` (the micro-kernel adds its tile to C, so
/// accumulating costs nothing extra), with a given micro-kernel (from
/// [`GemmScalar::kernel_for`]: the tests run every kernel the machine has).
#[allow(non_snake_case, clippy::too_many_arguments)]
pub fn gemm_with<TA, TB>(
    kernel: &Kernel<TA::C>,
    m: usize,
    n: usize,
    k: usize,
    a: MatRef<TA>,
    b: MatRef<TB>,
    c: &mut [TA::C],
    ldc: usize,
    accumulate: bool,
) where
    TA: FloatElem,
    TB: FloatElem<C = TA::C>,
    TA::C: GemmScalar,
{
    type S<T> = <T as FloatElem>::C;
    if m == 0 || n == 0 || (k == 0 && accumulate) {
        return;
    }
    if k == 0 {
        for i in 0..m {
            c[i * ldc..i * ldc + n].fill(S::<TA>::ZERO);
        }
        return;
    }
    let (mr, nr) = (kernel.mr, kernel.nr);
    let blocks = blocks_for(kernel);
    // Equal blocks no larger than the configured ones: k = 1024 with KC = 384 runs three
    // blocks of 342, not 384 + 384 + 256 (a short last block costs a C pass for little work).
    let KC = balanced(k, blocks.kc, 1);
    let MC = balanced(m, blocks.mc.div_ceil(mr) * mr, mr);
    let NC = balanced(n, blocks.nc.div_ceil(nr) * nr, nr);
    assert!(c.len() >= (m - 1) * ldc + n, "gemm: C buffer too small");
    S::<TA>::with_buffers(MC * KC, KC * NC, |ap, bp| {
        for jc in (0..n).step_by(NC) {
            let nc = NC.min(n - jc);
            for pc in (0..k).step_by(KC) {
                let kc = KC.min(k - pc);
                pack_b(b.shift(pc, jc), kc, nc, kernel, bp);
                for ic in (0..m).step_by(MC) {
                    let mc = MC.min(m - ic);
                    pack_a(a.shift(ic, pc), mc, kc, kernel, ap);
                    // SAFETY: C holds the m x n corner at row stride ldc (asserted above), and
                    // this block's rows ic.. and columns jc.. lie inside it.
                    unsafe {
                        macro_kernel(
                            kernel,
                            ap,
                            bp,
                            mc,
                            nc,
                            kc,
                            c.as_mut_ptr().add(ic * ldc + jc),
                            ldc,
                            accumulate || pc > 0,
                        )
                    };
                }
            }
        }
    });
}

/// The two inner loops: every `mr x nr` tile of an `mc x nc` block of C from the packed
/// `ap` (mc rows, kc steps) and `bp` (nc columns, kc steps), `c` at the block's first element.
///
/// # Safety
/// `ap` and `bp` hold the packed panels of `kernel` for these sizes, and `c` is valid for
/// writes of `mc` rows of `nc` values at row stride `ldc`.
#[allow(clippy::too_many_arguments)]
unsafe fn macro_kernel<S>(
    kernel: &Kernel<S>,
    ap: &[S],
    bp: &[S],
    mc: usize,
    nc: usize,
    kc: usize,
    c: *mut S,
    ldc: usize,
    accumulate: bool,
) {
    let (mr, nr) = (kernel.mr, kernel.nr);
    assert!(ap.len() >= mc.div_ceil(mr) * mr * kc && bp.len() >= nc.div_ceil(nr) * nr * kc);
    for jr in (0..nc).step_by(nr) {
        let cols = nr.min(nc - jr);
        let bpanel = bp[jr * kc..].as_ptr();
        for ir in (0..mc).step_by(mr) {
            let rows = mr.min(mc - ir);
            let apanel = ap[ir * kc..].as_ptr();
            // SAFETY: the panels hold kc*mr / kc*nr packed values (asserted above; the kernel's
            // own tile, its SIMD level present: `kernel_for` hands out only those); the tile's
            // rows x cols corner lies inside the block the caller vouches for.
            unsafe {
                (kernel.func)(kc, apanel, bpanel, c.add(ir * ldc + jr), ldc, rows, cols, accumulate)
            };
        }
    }
}

/// `C = A * B` for one matrix on `threads` threads (rayon's) that share the packing of B: per
/// (NC, KC) block, B~ is packed once, its panels in parallel, and the row blocks of C (at
/// least `threads` of them) run in parallel, each thread packing only its own rows of A. The
/// split by whole tasks of [`gemm`] packs the shared operand once per task instead.
#[allow(non_snake_case, clippy::too_many_arguments)]
pub fn gemm_parallel<TA, TB>(
    m: usize,
    n: usize,
    k: usize,
    a: MatRef<TA>,
    b: MatRef<TB>,
    c: &mut [TA::C],
    ldc: usize,
    threads: usize,
) where
    TA: FloatElem + Sync,
    TB: FloatElem<C = TA::C> + Sync,
    TA::C: GemmScalar + Send + Sync,
{
    use rayon::prelude::*;
    let kernel = <TA::C as GemmScalar>::kernel();
    if m == 0 || n == 0 || k == 0 || threads <= 1 {
        return gemm_with(&kernel, m, n, k, a, b, c, ldc, false);
    }
    let (mr, nr) = (kernel.mr, kernel.nr);
    let blocks = blocks_for(&kernel);
    let KC = balanced(k, blocks.kc, 1);
    let NC = balanced(n, blocks.nc.div_ceil(nr) * nr, nr);
    // Row blocks no taller than the configured MC, and at least as many as threads.
    let MC =
        balanced(m, blocks.mc.div_ceil(mr) * mr, mr).min(m.div_ceil(threads).div_ceil(mr) * mr);
    assert!(c.len() >= (m - 1) * ldc + n, "gemm: C buffer too small");
    let cptr = crate::send_ptr::SendPtr(c.as_mut_ptr());
    <TA::C as GemmScalar>::with_shared_buffer(KC * NC, |bp| {
        for jc in (0..n).step_by(NC) {
            let nc = NC.min(n - jc);
            for pc in (0..k).step_by(KC) {
                let kc = KC.min(k - pc);
                let panels = &mut bp[..nc.div_ceil(nr) * nr * kc];
                panels.par_chunks_mut(nr * kc).enumerate().for_each(|(pj, panel)| {
                    let j0 = pj * nr;
                    pack_b(b.shift(pc, jc + j0), kc, nr.min(nc - j0), &kernel, panel);
                });
                let panels: &[TA::C] = panels;
                (0..m.div_ceil(MC)).into_par_iter().for_each(|bi| {
                    let (ic, base) = (bi * MC, &cptr);
                    let mc = MC.min(m - ic);
                    <TA::C as GemmScalar>::with_buffers(MC * KC, 0, |ap, _| {
                        pack_a(a.shift(ic, pc), mc, kc, &kernel, ap);
                        // SAFETY: row blocks are disjoint, so each task writes its own rows
                        // ic..ic + mc of C, columns jc..jc + nc, inside the m x n corner
                        // (asserted above).
                        unsafe {
                            macro_kernel(
                                &kernel,
                                ap,
                                panels,
                                mc,
                                nc,
                                kc,
                                base.0.add(ic * ldc + jc),
                                ldc,
                                pc > 0,
                            )
                        };
                    });
                });
            }
        }
    });
}
