//! The losses on the device (`kernels/loss.cu`): cross-entropy (`ce_fwd_rows_*`,
//! `ce_fwd_finish_*`, `ce_bwd_*`), the KL divergence to a teacher (`kl_fwd_rows_*`,
//! `mean_finish_*`, `kl_bwd_*`) and mean squared error (`mse_partial_*`, `mean_finish_*`,
//! `mse_bwd_*`), each `_f32` or `_f64` by the compute dtype. Row losses take one block per
//! row; the scalar over rows is a one-block second pass in a fixed order. The fused ops are in
//! `autograd::ops::loss`; their CPU bodies are the reference.

use super::fused_args::{
    compute, elementwise_dims, float_in, ids_in, out_ptr, row_dims, rows_in, scratch, In, Out,
};
use crate::runtime::{KernelArg, LaunchDims};
use tensor::{bail, DType, Result};

/// Threads of the one-block second passes.
const FINISH_THREADS: u32 = 256;

/// `(n, v)` of logits `[.., v]`.
fn rows_cols(kernel: &'static str, z: In) -> Result<(usize, usize)> {
    let dims = z.1.dims();
    let Some(&v) = dims.last() else { bail!(kernel, "logits must have rank >= 1, got a scalar") };
    Ok((dims[..dims.len() - 1].iter().product(), v))
}

fn scalar_in(kernel: &'static str, what: &str, s: In) -> Result<Vec<KernelArg>> {
    if s.1.numel() != 1 {
        bail!(kernel, "{what} must hold one value, got shape {:?}", s.1.dims())
    }
    float_in(kernel, what, s)
}

fn ignore_args(ignore_index: Option<i64>) -> [KernelArg; 2] {
    [KernelArg::I64(ignore_index.unwrap_or(0)), KernelArg::I32(ignore_index.is_some() as i32)]
}

/// Mean cross-entropy of `z [.., v]` against i64 targets (one per row, any layout): `loss []`,
/// `lse [n]`, `count []` (rows that count), contiguous in the compute dtype. A target outside
/// the vocabulary (the CPU body's error) is never read: it makes the loss NaN.
pub fn cross_entropy_forward(
    z: In,
    targets: In,
    loss: Out,
    lse: Out,
    count: Out,
    ignore_index: Option<i64>,
) -> Result<()> {
    let k32 = "ce_fwd_rows_f32";
    let (n, v) = rows_cols(k32, z)?;
    if targets.1.numel() != n {
        bail!(k32, "{} targets for {n} rows of logits {:?}", targets.1.numel(), z.1.dims())
    }
    let cd = compute(k32, loss.0.dtype())?;
    let (kr, kf) = if cd == DType::F64 {
        ("ce_fwd_rows_f64", "ce_fwd_finish_f64")
    } else {
        (k32, "ce_fwd_finish_f32")
    };
    let term = scratch(z.0, 2 * n)?;
    let counted = KernelArg::Ptr(term.addr() + 8 * n as u64);
    let mut args = rows_in(kr, "logits", z)?;
    args.extend(ids_in(kr, "targets", targets)?);
    args.extend([
        out_ptr(kr, "lse", &lse, cd, &[n])?,
        term.arg(),
        counted.clone(),
        KernelArg::I64(n as i64),
        KernelArg::I64(v as i64),
    ]);
    args.extend(ignore_args(ignore_index));
    let fin = [
        term.arg(),
        counted,
        KernelArg::I64(n as i64),
        out_ptr(kf, "loss", &loss, cd, &[])?,
        out_ptr(kf, "count", &count, cd, &[])?,
    ];
    let gpu = z.0.gpu();
    if n > 0 {
        gpu.launch("loss", kr, row_dims(n, v), &args)?;
    }
    gpu.launch("loss", kf, LaunchDims::linear(1, FINISH_THREADS), &fin)
}

/// `dz [n, v]` (contiguous, compute dtype) of the mean cross-entropy from the logits, the
/// targets, the forward's `lse [n]` and `count []`, and the cotangent `g []`.
pub fn cross_entropy_backward(
    z: In,
    targets: In,
    lse: In,
    count: In,
    g: In,
    dz: Out,
    ignore_index: Option<i64>,
) -> Result<()> {
    let k32 = "ce_bwd_f32";
    let (n, v) = rows_cols(k32, z)?;
    if targets.1.numel() != n || lse.1.dims() != [n] {
        bail!(
            k32,
            "targets {:?} and lse {:?} do not match {n} rows",
            targets.1.dims(),
            lse.1.dims()
        )
    }
    let cd = compute(k32, dz.0.dtype())?;
    let kernel = if cd == DType::F64 { "ce_bwd_f64" } else { k32 };
    let mut args = rows_in(kernel, "logits", z)?;
    args.extend(ids_in(kernel, "targets", targets)?);
    args.extend(float_in(kernel, "lse", lse)?);
    args.extend(scalar_in(kernel, "count", count)?);
    args.extend(scalar_in(kernel, "g", g)?);
    args.extend([
        out_ptr(kernel, "dz", &dz, cd, z.1.dims())?,
        KernelArg::I64(n as i64),
        KernelArg::I64(v as i64),
    ]);
    args.extend(ignore_args(ignore_index));
    if n * v == 0 {
        return Ok(());
    }
    z.0.gpu().launch("loss", kernel, row_dims(n, v), &args)
}

/// `KL(softmax(teacher / T) || softmax(student / T))` averaged over rows: `kl []`,
/// `lse_s [n]`, `lse_t [n]` (contiguous, compute dtype) from logits `[.., v]` of one shape.
pub fn kl_forward(
    student: In,
    teacher: In,
    kl: Out,
    lse_s: Out,
    lse_t: Out,
    temperature: f64,
) -> Result<()> {
    let k32 = "kl_fwd_rows_f32";
    let (n, v) = rows_cols(k32, student)?;
    if teacher.1.dims() != student.1.dims() {
        bail!(
            k32,
            "student {:?} and teacher {:?} differ in shape",
            student.1.dims(),
            teacher.1.dims()
        )
    }
    let cd = compute(k32, kl.0.dtype())?;
    let (kr, kf, inv_t) = match cd {
        DType::F64 => ("kl_fwd_rows_f64", "mean_finish_f64", KernelArg::F64(1.0 / temperature)),
        _ => (k32, "mean_finish_f32", KernelArg::F32((1.0 / temperature) as f32)),
    };
    let term = scratch(student.0, n)?;
    let mut args = rows_in(kr, "student", student)?;
    args.extend(rows_in(kr, "teacher", teacher)?);
    args.extend([
        out_ptr(kr, "lse_s", &lse_s, cd, &[n])?,
        out_ptr(kr, "lse_t", &lse_t, cd, &[n])?,
        term.arg(),
        KernelArg::I64(n as i64),
        KernelArg::I64(v as i64),
        inv_t,
    ]);
    let fin = [
        term.arg(),
        KernelArg::I64(n as i64),
        KernelArg::F64(n.max(1) as f64),
        out_ptr(kf, "kl", &kl, cd, &[])?,
    ];
    let gpu = student.0.gpu();
    if n > 0 {
        gpu.launch("loss", kr, row_dims(n, v), &args)?;
    }
    gpu.launch("loss", kf, LaunchDims::linear(1, FINISH_THREADS), &fin)
}

/// `d student [n, v]` (contiguous, compute dtype) of the KL from both logits, the forward's
/// `lse_s`, `lse_t` and the cotangent `g []`.
pub fn kl_backward(
    student: In,
    teacher: In,
    lse_s: In,
    lse_t: In,
    g: In,
    dz: Out,
    temperature: f64,
) -> Result<()> {
    let k32 = "kl_bwd_f32";
    let (n, v) = rows_cols(k32, student)?;
    if teacher.1.dims() != student.1.dims() || lse_s.1.dims() != [n] || lse_t.1.dims() != [n] {
        bail!(
            k32,
            "teacher {:?}, lse_s {:?}, lse_t {:?} do not match student {:?}",
            teacher.1.dims(),
            lse_s.1.dims(),
            lse_t.1.dims(),
            student.1.dims()
        )
    }
    let cd = compute(k32, dz.0.dtype())?;
    let (kernel, inv_t) = match cd {
        DType::F64 => ("kl_bwd_f64", KernelArg::F64(1.0 / temperature)),
        _ => (k32, KernelArg::F32((1.0 / temperature) as f32)),
    };
    let mut args = rows_in(kernel, "student", student)?;
    args.extend(rows_in(kernel, "teacher", teacher)?);
    args.extend(float_in(kernel, "lse_s", lse_s)?);
    args.extend(float_in(kernel, "lse_t", lse_t)?);
    args.extend(scalar_in(kernel, "g", g)?);
    args.extend([
        out_ptr(kernel, "dz", &dz, cd, student.1.dims())?,
        KernelArg::I64(n as i64),
        KernelArg::I64(v as i64),
        inv_t,
    ]);
    if n * v == 0 {
        return Ok(());
    }
    student.0.gpu().launch("loss", kernel, row_dims(n, v), &args)
}

/// `mean((a - b)^2)` over every element of `a`, `b` (one shape, any float dtypes and layouts)
/// into `loss []` of the compute dtype: per-block partial sums (f64) over a grid fixed by the
/// size, then those in order.
pub fn mse_forward(a: In, b: In, loss: Out) -> Result<()> {
    let k32 = "mse_partial_f32";
    if a.1.dims() != b.1.dims() {
        bail!(k32, "a {:?} and b {:?} differ in shape", a.1.dims(), b.1.dims())
    }
    let cd = compute(k32, loss.0.dtype())?;
    let (kp, kf) = if cd == DType::F64 {
        ("mse_partial_f64", "mean_finish_f64")
    } else {
        (k32, "mean_finish_f32")
    };
    let n = a.1.numel();
    let dims = elementwise_dims(n);
    let blocks = dims.grid[0] as usize;
    let partial = scratch(a.0, blocks)?;
    let mut args = float_in(kp, "a", a)?;
    args.extend(float_in(kp, "b", b)?);
    args.extend([partial.arg(), KernelArg::I64(n as i64)]);
    let fin = [
        partial.arg(),
        KernelArg::I64(blocks as i64),
        KernelArg::F64(n.max(1) as f64),
        out_ptr(kf, "loss", &loss, cd, &[])?,
    ];
    let gpu = a.0.gpu();
    gpu.launch("loss", kp, dims, &args)?;
    gpu.launch("loss", kf, LaunchDims::linear(1, FINISH_THREADS), &fin)
}

/// `da = 2 g (a - b) / n` (contiguous, compute dtype) for the cotangent `g []`.
pub fn mse_backward(a: In, b: In, g: In, da: Out) -> Result<()> {
    let k32 = "mse_bwd_f32";
    if a.1.dims() != b.1.dims() {
        bail!(k32, "a {:?} and b {:?} differ in shape", a.1.dims(), b.1.dims())
    }
    let cd = compute(k32, da.0.dtype())?;
    let kernel = if cd == DType::F64 { "mse_bwd_f64" } else { k32 };
    let n = a.1.numel();
    let mut args = float_in(kernel, "a", a)?;
    args.extend(float_in(kernel, "b", b)?);
    args.extend(scalar_in(kernel, "g", g)?);
    args.extend([out_ptr(kernel, "da", &da, cd, a.1.dims())?, KernelArg::I64(n as i64)]);
    if n == 0 {
        return Ok(());
    }
    a.0.gpu().launch("loss", kernel, elementwise_dims(n), &args)
}
