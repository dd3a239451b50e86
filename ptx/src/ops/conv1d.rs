//! Causal depthwise conv1d (`kernels/conv1d.cu`): the forward `conv1d_fwd_*`, the backward
//! `conv1d_bwd_dx_*` and `conv1d_bwd_dw_part_*` + `conv1d_bwd_dw_sum_*` (a deterministic
//! two-pass sum over batch and time), and the decoding step `conv1d_step_y_*` then
//! `conv1d_step_tail_*` (in place on the tail). `*` is the compute type: f32, or f64 for f64
//! operands. Callers: `lawcat::ops::conv1d`'s Conv1dForward, Conv1dBackwardOp, Conv1dStep.

use super::operand::{compute, i64_arg, inplace, input, output, Operand};
use crate::runtime::{KernelArg, LaunchDims};
use tensor::{bail, DType, Result};

/// Widths the kernels take (`CONV_MAX_W`).
pub const MAX_WIDTH: usize = 16;
const THREADS: u32 = 256;
const MAX_BLOCKS: usize = 4096;

macro_rules! entry {
    ($f64:expr, $name:literal) => {
        if $f64 {
            concat!($name, "_f64")
        } else {
            concat!($name, "_f32")
        }
    };
}

/// Every entry the launchers use (tested against the module).
pub const ENTRIES: &[&str] = &[
    "conv1d_fwd_f32",
    "conv1d_fwd_f64",
    "conv1d_bwd_dx_f32",
    "conv1d_bwd_dx_f64",
    "conv1d_bwd_dw_part_f32",
    "conv1d_bwd_dw_part_f64",
    "conv1d_bwd_dw_sum_f32",
    "conv1d_bwd_dw_sum_f64",
    "conv1d_step_y_f32",
    "conv1d_step_y_f64",
    "conv1d_step_tail_f32",
    "conv1d_step_tail_f64",
];

fn grid(n: usize) -> LaunchDims {
    LaunchDims::linear(n.div_ceil(THREADS as usize).clamp(1, MAX_BLOCKS) as u32, THREADS)
}

/// `(B, T, C, W)` of `x [B, T, C]` and `w [C, W]`, checked.
fn sizes(kernel: &str, x: Operand, w: Operand) -> Result<(usize, usize, usize, usize)> {
    let (xd, wd) = (x.1.dims(), w.1.dims());
    if xd.len() != 3 || wd.len() != 2 || wd[0] != xd[2] || wd[1] == 0 {
        bail!("ptx", "{kernel}: expects x [B, T, C] and w [C, W], got {xd:?} and {wd:?}")
    }
    if wd[1] > MAX_WIDTH {
        bail!("ptx", "{kernel}: filter width {} is over the {MAX_WIDTH} the kernels take", wd[1])
    }
    Ok((xd[0], xd[1], xd[2], wd[1]))
}

/// The bias arguments (pointer, dtype code, view, has_bias); `x`'s pointer stands in when
/// there is none (never read).
fn bias_args(kernel: &str, bias: Option<Operand>, c: usize, x: Operand) -> Result<Vec<KernelArg>> {
    Ok(match bias {
        Some(b) => {
            let mut v = input(kernel, "bias", b, &[c])?.to_vec();
            v.push(KernelArg::I32(1));
            v
        }
        None => {
            let mut v = input(kernel, "x", x, x.1.dims())?.to_vec();
            v.push(KernelArg::I32(0));
            v
        }
    })
}

/// `y [B, T, C] = conv1d(x, w) + bias` into the fresh output `y` (f32, or f64 for f64 `y`).
pub fn forward(y: Operand, x: Operand, w: Operand, bias: Option<Operand>) -> Result<()> {
    let is64 = y.0.dtype() == DType::F64;
    let kernel = entry!(is64, "conv1d_fwd");
    let (b, t, c, kw) = sizes(kernel, x, w)?;
    let mut args = vec![output(kernel, "y", y, &[b, t, c], compute(y.0.dtype()).0)?];
    args.extend(input(kernel, "x", x, &[b, t, c])?);
    args.extend(input(kernel, "w", w, &[c, kw])?);
    args.extend(bias_args(kernel, bias, c, x)?);
    args.extend([i64_arg(b), i64_arg(t), i64_arg(c), KernelArg::I32(kw as i32)]);
    if b * t * c == 0 {
        return Ok(());
    }
    y.0.gpu().launch("conv1d", kernel, grid(b * t * c), &args)
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
    let (cd, _) = compute(dy.0.dtype());
    let is64 = cd == DType::F64;
    let kernel = entry!(is64, "conv1d_bwd_dx");
    let (b, t, c, kw) = sizes(kernel, x, w)?;
    let gpu = dy.0.gpu();
    if let Some(dx) = dx {
        let mut args = vec![output(kernel, "dx", dx, &[b, t, c], cd)?];
        args.extend(input(kernel, "dy", dy, &[b, t, c])?);
        args.extend(input(kernel, "w", w, &[c, kw])?);
        args.extend([i64_arg(b), i64_arg(t), i64_arg(c), KernelArg::I32(kw as i32)]);
        if b * t * c > 0 {
            gpu.launch("conv1d", kernel, grid(b * t * c), &args)?;
        }
    }
    if dw.is_none() && db.is_none() {
        return Ok(());
    }
    let (part_k, sum_k) = (entry!(is64, "conv1d_bwd_dw_part"), entry!(is64, "conv1d_bwd_dw_sum"));
    let dw_arg = match dw {
        Some(o) => output(sum_k, "dw", o, &[c, kw], cd)?,
        None => KernelArg::Ptr(0),
    };
    let db_arg = match db {
        Some(o) => output(sum_k, "dbias", o, &[c], cd)?,
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
    args.extend(input(part_k, "x", x, &[b, t, c])?);
    args.extend(input(part_k, "dy", dy, &[b, t, c])?);
    args.extend([i64_arg(b), i64_arg(t), i64_arg(c), KernelArg::I32(kw as i32), i64_arg(r)]);
    let dims = LaunchDims { grid: [cblocks as u32, parts as u32, 1], block: [32, 8, 1], shared: 0 };
    gpu.launch("conv1d", part_k, dims, &args)?;
    let args = [dw_arg, db_arg, part.arg(), i64_arg(parts), i64_arg(c), KernelArg::I32(kw as i32)];
    gpu.launch("conv1d", sum_k, grid(c * (kw + 1)), &args)
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
    let is64 = tail.0.dtype() == DType::F64;
    let (ky, kt) = (entry!(is64, "conv1d_step_y"), entry!(is64, "conv1d_step_tail"));
    let (b, t, c, kw) = sizes(ky, x, w)?;
    let cd = if is64 { DType::F64 } else { DType::F32 };
    let [tp, tv] = inplace(ky, "tail", tail, &[b, kw - 1, c], cd)?;
    let mut args = vec![output(ky, "y", y, &[b, t, c], cd)?, tp.clone(), tv.clone()];
    args.extend(input(ky, "x", x, &[b, t, c])?);
    args.extend(input(ky, "w", w, &[c, kw])?);
    args.extend(bias_args(ky, bias, c, x)?);
    args.extend([i64_arg(b), i64_arg(t), i64_arg(c), KernelArg::I32(kw as i32)]);
    if b * t * c == 0 {
        return Ok(());
    }
    let gpu = tail.0.gpu().clone();
    gpu.launch("conv1d", ky, grid(b * t * c), &args)?;
    if kw == 1 {
        return Ok(());
    }
    let mut args = vec![tp, tv];
    args.extend(input(kt, "x", x, &[b, t, c])?);
    args.extend([i64_arg(b), i64_arg(t), i64_arg(c), KernelArg::I32(kw as i32)]);
    gpu.launch("conv1d", kt, grid(b * c), &args)
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_entry_is_in_the_module() {
        let entries = crate::modules::entries(crate::modules::text("conv1d").unwrap());
        for e in super::ENTRIES {
            assert!(entries.contains(e), "{e} missing from conv1d.ptx");
        }
    }
}
