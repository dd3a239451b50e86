//! Causal depthwise conv1d (`kernels/conv1d.cu`): the forward `conv1d_fwd_*`, the backward
//! `conv1d_bwd_dx_*` and `conv1d_bwd_dw_part_*` + `conv1d_bwd_dw_sum_*` (a deterministic
//! two-pass sum over batch and time), and the decoding step `conv1d_step_y_*` then
//! `conv1d_step_tail_*` (in place on the tail). `*` is the compute type: f32, or f64 for f64
//! operands. Callers: `lawcat::ops::conv1d`'s Conv1d (forward and backward) and Conv1dStep.

use super::f32_f64;
use super::operand::{compute, i64_arg, Operand};
use crate::modules::{Entry, Kernels};
use crate::runtime::{KernelArg, LaunchDims};
use tensor::{bail, DType, Result};

/// Widths the kernels take (`CONV_MAX_W`).
pub const MAX_WIDTH: usize = 16;
const THREADS: u32 = 256;
const MAX_BLOCKS: usize = 4096;

/// `kernels/conv1d.ptx`.
pub static KERNELS: Kernels = Kernels::new("conv1d", || {
    f32_f64(&[
        "conv1d_fwd",
        "conv1d_bwd_dx",
        "conv1d_bwd_dw_part",
        "conv1d_bwd_dw_sum",
        "conv1d_step_y",
        "conv1d_step_tail",
    ])
});

/// The entry `{stem}_f64` or `{stem}_f32`.
fn entry(f64: bool, stem: &str) -> Result<Entry> {
    KERNELS.entry(&format!("{stem}_{}", if f64 { "f64" } else { "f32" }))
}

fn grid(n: usize) -> LaunchDims {
    LaunchDims::linear(n.div_ceil(THREADS as usize).clamp(1, MAX_BLOCKS) as u32, THREADS)
}

/// `(B, T, C, W)` of `x [B, T, C]` and `w [C, W]`, checked.
fn sizes(kernel: &str, x: Operand, w: Operand) -> Result<(usize, usize, usize, usize)> {
    let (xd, wd) = (x.dims(), w.dims());
    if xd.len() != 3 || wd.len() != 2 || wd[0] != xd[2] || wd[1] == 0 {
        bail!("ptx", "{kernel}: expects x [B, T, C] and w [C, W], got {xd:?} and {wd:?}")
    }
    if wd[1] > MAX_WIDTH {
        bail!("ptx", "{kernel}: filter width {} is over the {MAX_WIDTH} the kernels take", wd[1])
    }
    Ok((xd[0], xd[1], xd[2], wd[1]))
}

/// The bias arguments (operand, has_bias); `x` stands in when there is none (never read).
fn bias_args(kernel: &str, bias: Option<Operand>, c: usize, x: Operand) -> Result<[KernelArg; 2]> {
    Ok(match bias {
        Some(b) => [b.arg(kernel, "bias", &[c])?, KernelArg::I32(1)],
        None => [x.arg(kernel, "x", x.dims())?, KernelArg::I32(0)],
    })
}

/// `y [B, T, C] = conv1d(x, w) + bias` into the fresh output `y` (f32, or f64 for f64 `y`).
pub fn forward(y: Operand, x: Operand, w: Operand, bias: Option<Operand>) -> Result<()> {
    let is64 = y.dtype() == DType::F64;
    let kernel = entry(is64, "conv1d_fwd")?;
    let (b, t, c, kw) = sizes(kernel.name, x, w)?;
    let mut args = vec![y.out(kernel.name, "y", &[b, t, c], compute(y.dtype()).0)?];
    args.push(x.arg(kernel.name, "x", &[b, t, c])?);
    args.push(w.arg(kernel.name, "w", &[c, kw])?);
    args.extend(bias_args(kernel.name, bias, c, x)?);
    args.extend([i64_arg(b), i64_arg(t), i64_arg(c), KernelArg::I32(kw as i32)]);
    if b * t * c == 0 {
        return Ok(());
    }
    y.gpu().launch(kernel, grid(b * t * c), &args)
}

/// The gradients of [`forward`]: `dx [B, T, C]`, `dw [C, W]`, `dbias [C]` (each written when
/// given; all in the compute dtype of `dy`).
pub fn backward(
    x: Operand,
    w: Operand,
    dy: Operand,
    dx: Option<Operand>,
    dw: Option<Operand>,
    db: Option<Operand>,
) -> Result<()> {
    let (cd, _) = compute(dy.dtype());
    let is64 = cd == DType::F64;
    let kernel = entry(is64, "conv1d_bwd_dx")?;
    let (b, t, c, kw) = sizes(kernel.name, x, w)?;
    let gpu = dy.gpu();
    if let Some(dx) = dx {
        let mut args = vec![dx.out(kernel.name, "dx", &[b, t, c], cd)?];
        args.push(dy.arg(kernel.name, "dy", &[b, t, c])?);
        args.push(w.arg(kernel.name, "w", &[c, kw])?);
        args.extend([i64_arg(b), i64_arg(t), i64_arg(c), KernelArg::I32(kw as i32)]);
        if b * t * c > 0 {
            gpu.launch(kernel, grid(b * t * c), &args)?;
        }
    }
    if dw.is_none() && db.is_none() {
        return Ok(());
    }
    let (part_k, sum_k) = (entry(is64, "conv1d_bwd_dw_part")?, entry(is64, "conv1d_bwd_dw_sum")?);
    let dw_arg = match dw {
        Some(o) => o.out(sum_k.name, "dw", &[c, kw], cd)?,
        None => KernelArg::Ptr(0),
    };
    let db_arg = match db {
        Some(o) => o.out(sum_k.name, "dbias", &[c], cd)?,
        None => KernelArg::Ptr(0),
    };
    if c == 0 {
        return Ok(());
    }
    // Rows per part: enough parts to fill the GPU (about 2 x 132 SMs of blocks), at least 64
    // rows each, at most 1024 parts.
    let rows = b * t;
    let cblocks = c.div_ceil(32);
    let want_parts = (264usize.div_ceil(cblocks)).clamp(1, 1024).min(rows.div_ceil(64).max(1));
    let r = rows.div_ceil(want_parts).max(1);
    let parts = rows.div_ceil(r).max(1);
    if cblocks > u32::MAX as usize || parts > u32::MAX as usize {
        bail!("ptx", "{part_k}: {c} channels and {rows} rows need too large a grid")
    }
    let part = gpu.storage(cd, parts * c * (kw + 1))?;
    let mut args = vec![part.arg()];
    args.push(x.arg(part_k.name, "x", &[b, t, c])?);
    args.push(dy.arg(part_k.name, "dy", &[b, t, c])?);
    args.extend([i64_arg(b), i64_arg(t), i64_arg(c), KernelArg::I32(kw as i32), i64_arg(r)]);
    let dims = LaunchDims { grid: [cblocks as u32, parts as u32, 1], block: [32, 8, 1], shared: 0 };
    gpu.launch(part_k, dims, &args)?;
    let args = [dw_arg, db_arg, part.arg(), i64_arg(parts), i64_arg(c), KernelArg::I32(kw as i32)];
    gpu.launch(sum_k, grid(c * (kw + 1)), &args)
}

/// The decoding step: `y [B, T, C]` (fresh) from `[tail; x]`, then `tail [B, W-1, C]`
/// advanced in place to the last `W - 1` rows of `[tail; x]`. Computes in the tail's dtype
/// (f32 or f64); `y` has that dtype.
pub fn step(
    x: Operand,
    w: Operand,
    bias: Option<Operand>,
    tail: Operand,
    y: Operand,
) -> Result<()> {
    let is64 = tail.dtype() == DType::F64;
    let (ky, kt) = (entry(is64, "conv1d_step_y")?, entry(is64, "conv1d_step_tail")?);
    let (b, t, c, kw) = sizes(ky.name, x, w)?;
    let cd = if is64 { DType::F64 } else { DType::F32 };
    let [tp, tv] = tail.inplace(ky.name, "tail", &[b, kw - 1, c], cd)?;
    let mut args = vec![y.out(ky.name, "y", &[b, t, c], cd)?, tp.clone(), tv.clone()];
    args.push(x.arg(ky.name, "x", &[b, t, c])?);
    args.push(w.arg(ky.name, "w", &[c, kw])?);
    args.extend(bias_args(ky.name, bias, c, x)?);
    args.extend([i64_arg(b), i64_arg(t), i64_arg(c), KernelArg::I32(kw as i32)]);
    if b * t * c == 0 {
        return Ok(());
    }
    let gpu = tail.gpu().clone();
    gpu.launch(ky, grid(b * t * c), &args)?;
    if kw == 1 {
        return Ok(());
    }
    let mut args = vec![tp, tv];
    args.push(x.arg(kt.name, "x", &[b, t, c])?);
    args.extend([i64_arg(b), i64_arg(t), i64_arg(c), KernelArg::I32(kw as i32)]);
    gpu.launch(kt, grid(b * c), &args)
}
