//! Losses. Cross-entropy and the KL divergence to a teacher are fused ops (one softmax,
//! no one-hot or probability tensors kept for the backward pass); each is tested against
//! the composite of primitive ops it replaces. MSE is a composite.

use crate::var::{Backward, Var};
use tensor::{bail, DType, Result, Tensor};

/// Rows of `[.., V]` logits as `[N, V]` in f32 (or f64), the compute dtype of losses.
fn rows(logits: &Tensor) -> Result<Tensor> {
    let v = *logits.dims().last().unwrap_or(&0);
    let t = logits.reshape_infer(&[None, Some(v)])?;
    if t.dtype() == DType::F64 {
        Ok(t)
    } else {
        t.to_dtype(DType::F32)
    }
}

struct CrossEntropy {
    logits: Tensor,
    /// Target per row, ignored rows pointed at column 0.
    safe_targets: Tensor,
    /// `[N, 1]`: 1 / (number of counted rows) where counted, 0 where ignored.
    weight: Tensor,
    shape: Vec<usize>,
}

impl Backward for CrossEntropy {
    fn name(&self) -> &'static str {
        "cross_entropy"
    }
    // d/dz_j [lse(z) - z_t] = softmax(z)_j - [j = t], per counted row, over the count.
    fn backward(&self, g: &[Option<Tensor>], _needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let Some(g) = &g[0] else { return Ok(vec![None]) };
        let p = self.logits.softmax(1)?;
        let idx = self.safe_targets.unsqueeze(1)?;
        let onehot = p.zeros_like()?.scatter_add(&idx, &Tensor::ones(idx.dims(), p.dtype()), 1)?;
        let d = p.sub(&onehot)?.mul(&self.weight)?.mul(&g.to_dtype(p.dtype())?)?;
        Ok(vec![Some(d.reshape(self.shape.as_slice())?)])
    }
}

/// Mean next-token cross-entropy of `logits` `[.., V]` against `targets` (i64, the leading
/// shape of the logits); rows whose target is `ignore_index` do not count. 0 when no row
/// counts.
pub fn cross_entropy(logits: &Var, targets: &Tensor, ignore_index: Option<i64>) -> Result<Var> {
    let z = rows(logits.value())?;
    let n = z.dims()[0];
    if targets.dtype() != DType::I64 || targets.numel() != n {
        bail!("cross_entropy", "targets must be i64 with one value per row: logits {:?}, targets {:?} {}", logits.dims(), targets.dims(), targets.dtype())
    }
    let t = targets.to_vec::<i64>()?;
    let v = z.dims()[1] as i64;
    let counted: Vec<bool> = t.iter().map(|&x| Some(x) != ignore_index).collect();
    if let Some((i, &bad)) = t.iter().enumerate().find(|(i, &x)| counted[*i] && (x < 0 || x >= v)) {
        bail!("cross_entropy", "target {bad} at row {i} is outside the vocabulary of {v}")
    }
    let count = counted.iter().filter(|&&c| c).count();
    let w = if count == 0 { 0.0 } else { 1.0 / count as f64 };
    let weight: Vec<f64> = counted.iter().map(|&c| if c { w } else { 0.0 }).collect();
    let weight = Tensor::from_vec(weight, [n, 1])?.to_dtype(z.dtype())?;
    let safe: Vec<i64> = t.iter().zip(&counted).map(|(&x, &c)| if c { x } else { 0 }).collect();
    let safe_targets = Tensor::from_vec(safe, n)?;
    let picked = z.gather(&safe_targets.unsqueeze(1)?, 1)?;
    let per_row = z.logsumexp(1, true)?.sub(&picked)?;
    let loss = per_row.mul(&weight)?.sum_all()?.to_dtype(logits.dtype())?;
    let back = CrossEntropy { logits: z, safe_targets, weight, shape: logits.dims().to_vec() };
    Ok(Var::from_op1(back, &[logits], loss))
}

struct KlToTeacher {
    student: Tensor,
    teacher_p: Tensor,
    inv_t_over_n: f64,
    shape: Vec<usize>,
}

impl Backward for KlToTeacher {
    fn name(&self) -> &'static str {
        "kl_div"
    }
    // d/dz_j sum_k p_k (log p_k - log softmax(z/T)_k) = (softmax(z/T)_j - p_j) / T, per row.
    fn backward(&self, g: &[Option<Tensor>], _needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let Some(g) = &g[0] else { return Ok(vec![None]) };
        let q = self.student.softmax(1)?;
        let d = q.sub(&self.teacher_p)?.scale(self.inv_t_over_n)?.mul(&g.to_dtype(q.dtype())?)?;
        Ok(vec![Some(d.reshape(self.shape.as_slice())?)])
    }
}

/// `KL(p_teacher || p_student)` of the next-token distributions, averaged over positions;
/// both distributions are softmaxes at `temperature` of the logits `[.., V]`. The teacher's
/// logits are data (no gradient).
pub fn kl_div(student_logits: &Var, teacher_logits: &Tensor, temperature: f64) -> Result<Var> {
    if student_logits.dims() != teacher_logits.dims() {
        bail!("kl_div", "student logits {:?} and teacher logits {:?} differ in shape", student_logits.dims(), teacher_logits.dims())
    }
    if temperature <= 0.0 {
        bail!("kl_div", "temperature must be positive, got {temperature}")
    }
    let zs = rows(student_logits.value())?.scale(1.0 / temperature)?;
    let zt = rows(teacher_logits)?.to_dtype(zs.dtype())?.scale(1.0 / temperature)?;
    let n = zs.dims()[0].max(1);
    let log_pt = zt.log_softmax(1)?;
    let pt = log_pt.exp()?;
    let log_ps = zs.log_softmax(1)?;
    let kl = pt.mul(&log_pt.sub(&log_ps)?)?.sum_all()?.scale(1.0 / n as f64)?;
    let back = KlToTeacher { student: zs, teacher_p: pt, inv_t_over_n: 1.0 / (temperature * n as f64), shape: student_logits.dims().to_vec() };
    Ok(Var::from_op1(back, &[student_logits], kl.to_dtype(student_logits.dtype())?))
}

/// Mean squared error `mean((a - b)^2)` (a composite: its gradient comes from its parts).
pub fn mse(a: &Var, b: &Var) -> Result<Var> {
    a.sub(b)?.sqr()?.mean_all()
}
