//! The losses on the device (`kernels/loss.cu`): cross-entropy (`ce_fwd_rows_*`,
//! `ce_fwd_finish_*`, `ce_bwd_*`), the KL divergence to a teacher (`kl_fwd_rows_*`,
//! `mean_finish_*`, `kl_bwd_*`) and mean squared error (`mse_partial_*`, `mean_finish_*`,
//! `mse_bwd_*`), each `_f32` or `_f64` by the compute dtype. Row losses take one block per
//! row; the scalar over rows is a one-block second pass in a fixed order. The fused ops are in
//! `nn::loss`; their CPU bodies are the reference.

use super::operand::{compute_out, Operand};
use super::{elementwise_dims, f32_f64, row_dims, scratch};
use crate::modules::{Entry, Kernels};
use crate::runtime::{KernelArg, LaunchDims};
use tensor::{bail, DType, Result};

/// `kernels/loss.ptx`.
pub static KERNELS: Kernels = Kernels::new("loss", || {
    f32_f64(&[
        "ce_fwd_rows",
        "ce_fwd_finish",
        "ce_bwd",
        "kl_fwd_rows",
        "kl_bwd",
        "mse_partial",
        "mean_finish",
        "mse_bwd",
    ])
});

/// The entry `{stem}_{suffix}`.
fn kernel(stem: &str, suffix: &str) -> Result<Entry> {
    KERNELS.entry(&format!("{stem}_{suffix}"))
}

/// Threads of the one-block second passes.
const FINISH_THREADS: u32 = 256;

/// `(n, v)` of logits `[.., v]`.
fn rows_cols(kernel: &str, z: Operand) -> Result<(usize, usize)> {
    let dims = z.dims();
    let Some(&v) = dims.last() else {
        bail!("ptx", "{kernel}: logits must have rank >= 1, got a scalar")
    };
    Ok((dims[..dims.len() - 1].iter().product(), v))
}

fn scalar_in(kernel: &str, what: &str, s: Operand) -> Result<KernelArg> {
    if s.layout.numel() != 1 {
        bail!("ptx", "{kernel}: {what} must hold one value, got shape {:?}", s.dims())
    }
    s.flat(kernel, what)
}

/// `1 / temperature` as a kernel argument of the compute dtype.
fn inverse(cd: DType, temperature: f64) -> KernelArg {
    match cd {
        DType::F64 => KernelArg::F64(1.0 / temperature),
        _ => KernelArg::F32((1.0 / temperature) as f32),
    }
}

fn ignore_args(ignore_index: Option<i64>) -> [KernelArg; 2] {
    [KernelArg::I64(ignore_index.unwrap_or(0)), KernelArg::I32(ignore_index.is_some() as i32)]
}

/// Mean cross-entropy of `z [.., v]` against i64 targets (one per row, any layout): `loss []`,
/// `lse [n]`, `count []` (rows that count), contiguous in the compute dtype. A target outside
/// the vocabulary (the CPU body's error) is never read: it makes the loss NaN.
pub fn cross_entropy_forward(
    z: Operand,
    targets: Operand,
    loss: Operand,
    lse: Operand,
    count: Operand,
    ignore_index: Option<i64>,
) -> Result<()> {
    let k32 = "ce_fwd_rows";
    let (n, v) = rows_cols(k32, z)?;
    if targets.layout.numel() != n {
        bail!(
            "ptx",
            "{k32}: {} targets for {n} rows of logits {:?}",
            targets.layout.numel(),
            z.dims()
        )
    }
    let (cd, sfx) = compute_out(k32, "the loss", loss.dtype())?;
    let (kr, kf) = (kernel("ce_fwd_rows", sfx)?, kernel("ce_fwd_finish", sfx)?);
    let term = scratch(z.storage, 2 * n)?;
    let counted = KernelArg::Ptr(term.addr() + 8 * n as u64);
    let mut args = vec![z.rows(kr.name, "logits")?];
    args.extend(targets.ids(kr.name, "targets")?);
    args.extend([
        lse.out(kr.name, "lse", &[n], cd)?,
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
        loss.out(kf.name, "loss", &[], cd)?,
        count.out(kf.name, "count", &[], cd)?,
    ];
    let gpu = z.gpu();
    if n > 0 {
        gpu.launch(kr, row_dims(n, v), &args)?;
    }
    gpu.launch(kf, LaunchDims::linear(1, FINISH_THREADS), &fin)
}

/// `dz [n, v]` (contiguous, compute dtype) of the mean cross-entropy from the logits, the
/// targets, the forward's `lse [n]` and `count []`, and the cotangent `g []`.
pub fn cross_entropy_backward(
    z: Operand,
    targets: Operand,
    lse: Operand,
    count: Operand,
    g: Operand,
    dz: Operand,
    ignore_index: Option<i64>,
) -> Result<()> {
    let k32 = "ce_bwd";
    let (n, v) = rows_cols(k32, z)?;
    if targets.layout.numel() != n || lse.dims() != [n] {
        bail!(
            "ptx",
            "{k32}: targets {:?} and lse {:?} do not match {n} rows",
            targets.dims(),
            lse.dims()
        )
    }
    let (cd, sfx) = compute_out(k32, "dz", dz.dtype())?;
    let kernel = self::kernel("ce_bwd", sfx)?;
    let mut args = vec![z.rows(kernel.name, "logits")?];
    args.extend(targets.ids(kernel.name, "targets")?);
    args.push(lse.flat(kernel.name, "lse")?);
    args.push(scalar_in(kernel.name, "count", count)?);
    args.push(scalar_in(kernel.name, "g", g)?);
    args.extend([
        dz.out(kernel.name, "dz", z.dims(), cd)?,
        KernelArg::I64(n as i64),
        KernelArg::I64(v as i64),
    ]);
    args.extend(ignore_args(ignore_index));
    if n * v == 0 {
        return Ok(());
    }
    z.gpu().launch(kernel, row_dims(n, v), &args)
}

/// `KL(softmax(teacher / T) || softmax(student / T))` averaged over rows: `kl []`,
/// `lse_s [n]`, `lse_t [n]` (contiguous, compute dtype) from logits `[.., v]` of one shape.
pub fn kl_forward(
    student: Operand,
    teacher: Operand,
    kl: Operand,
    lse_s: Operand,
    lse_t: Operand,
    temperature: f64,
) -> Result<()> {
    let k32 = "kl_fwd_rows";
    let (n, v) = rows_cols(k32, student)?;
    if teacher.dims() != student.dims() {
        bail!(
            "ptx",
            "{k32}: student {:?} and teacher {:?} differ in shape",
            student.dims(),
            teacher.dims()
        )
    }
    let (cd, sfx) = compute_out(k32, "kl", kl.dtype())?;
    let (kr, kf) = (kernel("kl_fwd_rows", sfx)?, kernel("mean_finish", sfx)?);
    let inv_t = inverse(cd, temperature);
    let term = scratch(student.storage, n)?;
    let mut args = vec![student.rows(kr.name, "student")?];
    args.push(teacher.rows(kr.name, "teacher")?);
    args.extend([
        lse_s.out(kr.name, "lse_s", &[n], cd)?,
        lse_t.out(kr.name, "lse_t", &[n], cd)?,
        term.arg(),
        KernelArg::I64(n as i64),
        KernelArg::I64(v as i64),
        inv_t,
    ]);
    let fin = [
        term.arg(),
        KernelArg::I64(n as i64),
        KernelArg::F64(n.max(1) as f64),
        kl.out(kf.name, "kl", &[], cd)?,
    ];
    let gpu = student.gpu();
    if n > 0 {
        gpu.launch(kr, row_dims(n, v), &args)?;
    }
    gpu.launch(kf, LaunchDims::linear(1, FINISH_THREADS), &fin)
}

/// `d student [n, v]` (contiguous, compute dtype) of the KL from both logits, the forward's
/// `lse_s`, `lse_t` and the cotangent `g []`.
pub fn kl_backward(
    student: Operand,
    teacher: Operand,
    lse_s: Operand,
    lse_t: Operand,
    g: Operand,
    dz: Operand,
    temperature: f64,
) -> Result<()> {
    let k32 = "kl_bwd";
    let (n, v) = rows_cols(k32, student)?;
    if teacher.dims() != student.dims() || lse_s.dims() != [n] || lse_t.dims() != [n] {
        bail!(
            "ptx",
            "{k32}: teacher {:?}, lse_s {:?}, lse_t {:?} do not match student {:?}",
            teacher.dims(),
            lse_s.dims(),
            lse_t.dims(),
            student.dims()
        )
    }
    let (cd, sfx) = compute_out(k32, "dz", dz.dtype())?;
    let (kernel, inv_t) = (self::kernel("kl_bwd", sfx)?, inverse(cd, temperature));
    let mut args = vec![student.rows(kernel.name, "student")?];
    args.push(teacher.rows(kernel.name, "teacher")?);
    args.push(lse_s.flat(kernel.name, "lse_s")?);
    args.push(lse_t.flat(kernel.name, "lse_t")?);
    args.push(scalar_in(kernel.name, "g", g)?);
    args.extend([
        dz.out(kernel.name, "dz", student.dims(), cd)?,
        KernelArg::I64(n as i64),
        KernelArg::I64(v as i64),
        inv_t,
    ]);
    if n * v == 0 {
        return Ok(());
    }
    student.gpu().launch(kernel, row_dims(n, v), &args)
}

/// `mean((a - b)^2)` over every element of `a`, `b` (one shape, any float dtypes and layouts)
/// into `loss []` of the compute dtype: per-block partial sums (f64) over a grid fixed by the
/// size, then those in order.
pub fn mse_forward(a: Operand, b: Operand, loss: Operand) -> Result<()> {
    let k32 = "mse_partial";
    if a.dims() != b.dims() {
        bail!("ptx", "{k32}: a {:?} and b {:?} differ in shape", a.dims(), b.dims())
    }
    let (cd, sfx) = compute_out(k32, "the loss", loss.dtype())?;
    let (kp, kf) = (kernel("mse_partial", sfx)?, kernel("mean_finish", sfx)?);
    let n = a.layout.numel();
    let dims = elementwise_dims(n);
    let blocks = dims.grid[0] as usize;
    let partial = scratch(a.storage, blocks)?;
    let mut args = vec![a.flat(kp.name, "a")?];
    args.push(b.flat(kp.name, "b")?);
    args.extend([partial.arg(), KernelArg::I64(n as i64)]);
    let fin = [
        partial.arg(),
        KernelArg::I64(blocks as i64),
        KernelArg::F64(n.max(1) as f64),
        loss.out(kf.name, "loss", &[], cd)?,
    ];
    let gpu = a.gpu();
    gpu.launch(kp, dims, &args)?;
    gpu.launch(kf, LaunchDims::linear(1, FINISH_THREADS), &fin)
}

/// `da = 2 g (a - b) / n` (contiguous, compute dtype) for the cotangent `g []`.
pub fn mse_backward(a: Operand, b: Operand, g: Operand, da: Operand) -> Result<()> {
    let k32 = "mse_bwd";
    if a.dims() != b.dims() {
        bail!("ptx", "{k32}: a {:?} and b {:?} differ in shape", a.dims(), b.dims())
    }
    let (cd, sfx) = compute_out(k32, "da", da.dtype())?;
    let kernel = self::kernel("mse_bwd", sfx)?;
    let n = a.layout.numel();
    let mut args = vec![a.flat(kernel.name, "a")?];
    args.push(b.flat(kernel.name, "b")?);
    args.push(scalar_in(kernel.name, "g", g)?);
    args.extend([da.out(kernel.name, "da", a.dims(), cd)?, KernelArg::I64(n as i64)]);
    if n == 0 {
        return Ok(());
    }
    a.gpu().launch(kernel, elementwise_dims(n), &args)
}
