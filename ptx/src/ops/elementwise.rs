//! Element-wise maps (`kernels/elementwise.cu`): `unary_<dtype>`, `binary_<dtype>`,
//! `cmp_<dtype>` (the op a parameter, numbered as the kernel's enums: [`unary_code`],
//! [`binary_code`], [`cmp_code`]) and `where_<cond dtype>_<element size>`. Operands arrive
//! broadcast to the output shape (stride 0 where stretched) and are described over it
//! together, so every kernel walks one index.

use super::operand::{check_view, strided, strided_many};
use super::{bits_name, dtype_name, grid, ALL, FLOATS};
use crate::modules::Kernels;
use crate::runtime::{GpuStorage, KernelArg};
use tensor::{bail, BinaryOp, CmpOp, DType, Layout, Result, UnaryOp};

/// `kernels/elementwise.ptx`: the maps of each float dtype, comparisons of every dtype, and
/// `where` for every condition dtype and element size.
pub static KERNELS: Kernels = Kernels::new("elementwise", || {
    let mut names = vec![];
    for fam in ["unary", "binary"] {
        names.extend(FLOATS.iter().map(|&d| format!("{fam}_{}", dtype_name(d))));
    }
    names.extend(ALL.iter().map(|&d| format!("cmp_{}", dtype_name(d))));
    for c in ALL {
        for b in ["b1", "b2", "b4", "b8"] {
            names.push(format!("where_{}_{b}", dtype_name(c)));
        }
    }
    names
});

fn where_name(cond: DType, values: DType) -> String {
    format!("where_{}_{}", dtype_name(cond), bits_name(values))
}

/// `UnaryCode` of `kernels/elementwise.cu` and the op's two parameters.
pub fn unary_code(op: UnaryOp) -> (i32, f64, f64) {
    match op {
        UnaryOp::Neg => (0, 0.0, 0.0),
        UnaryOp::Exp => (1, 0.0, 0.0),
        UnaryOp::Log => (2, 0.0, 0.0),
        UnaryOp::Sqrt => (3, 0.0, 0.0),
        UnaryOp::Rsqrt => (4, 0.0, 0.0),
        UnaryOp::Recip => (5, 0.0, 0.0),
        UnaryOp::Sqr => (6, 0.0, 0.0),
        UnaryOp::Abs => (7, 0.0, 0.0),
        UnaryOp::Relu => (8, 0.0, 0.0),
        UnaryOp::Silu => (9, 0.0, 0.0),
        UnaryOp::Sigmoid => (10, 0.0, 0.0),
        UnaryOp::LogSigmoid => (11, 0.0, 0.0),
        UnaryOp::Softplus => (12, 0.0, 0.0),
        UnaryOp::Tanh => (13, 0.0, 0.0),
        UnaryOp::Elu(alpha) => (14, alpha, 0.0),
        UnaryOp::Powf(e) => (15, e, 0.0),
        UnaryOp::Affine { mul, add } => (16, mul, add),
        UnaryOp::Clamp { min, max } => (17, min, max),
    }
}

/// `BinaryCode` of `kernels/elementwise.cu`.
pub fn binary_code(op: BinaryOp) -> i32 {
    match op {
        BinaryOp::Add => 0,
        BinaryOp::Sub => 1,
        BinaryOp::Mul => 2,
        BinaryOp::Div => 3,
        BinaryOp::Max => 4,
        BinaryOp::Min => 5,
        BinaryOp::Pow => 6,
    }
}

/// `CmpCode` of `kernels/elementwise.cu`.
pub fn cmp_code(op: CmpOp) -> i32 {
    match op {
        CmpOp::Eq => 0,
        CmpOp::Ne => 1,
        CmpOp::Lt => 2,
        CmpOp::Le => 3,
        CmpOp::Gt => 4,
        CmpOp::Ge => 5,
    }
}

fn n_arg(n: usize) -> KernelArg {
    KernelArg::I64(n as i64)
}

/// `op` of every element of `l` (a float dtype), contiguous.
pub fn unary(x: &GpuStorage, l: &Layout, op: UnaryOp) -> Result<GpuStorage> {
    if !x.dtype().is_float() {
        bail!("unary", "{op:?} needs a float tensor, got {}", x.dtype())
    }
    check_view("unary", "input", x, l)?;
    let n = l.numel();
    let out = x.gpu().storage(x.dtype(), n)?;
    if n == 0 {
        return Ok(out);
    }
    let (code, a, b) = unary_code(op);
    let name = KERNELS.entry(&format!("unary_{}", dtype_name(x.dtype())))?;
    x.gpu().launch(
        name,
        grid(n),
        &[
            out.arg(),
            x.arg(),
            strided("unary", l)?,
            n_arg(n),
            KernelArg::I32(code),
            KernelArg::F64(a),
            KernelArg::F64(b),
        ],
    )?;
    Ok(out)
}

/// Checks two operands of one shape and dtype, and describes them over it.
fn pair(
    op: &'static str,
    x: &GpuStorage,
    xl: &Layout,
    y: &GpuStorage,
    yl: &Layout,
) -> Result<Vec<KernelArg>> {
    if xl.dims() != yl.dims() {
        bail!(op, "operands arrive broadcast to one shape, got {:?} and {:?}", xl.dims(), yl.dims())
    }
    if x.dtype() != y.dtype() {
        bail!(op, "dtypes differ: {} and {}", x.dtype(), y.dtype())
    }
    check_view(op, "left operand", x, xl)?;
    check_view(op, "right operand", y, yl)?;
    strided_many(op, xl.dims(), &[xl, yl])
}

/// `x op y` element by element (float dtypes), contiguous.
pub fn binary(
    x: &GpuStorage,
    xl: &Layout,
    y: &GpuStorage,
    yl: &Layout,
    op: BinaryOp,
) -> Result<GpuStorage> {
    let name = op.name();
    if !x.dtype().is_float() {
        bail!(name, "needs float tensors, got {}", x.dtype())
    }
    two_operands(name, "binary", x, xl, y, yl, x.dtype(), binary_code(op))
}

/// `family_<dtype of x>` over `x`, `y` (broadcast to one shape), the op code `code`, into new
/// storage of `out_dtype`: binary ops and comparisons.
#[allow(clippy::too_many_arguments)]
fn two_operands(
    name: &'static str,
    family: &str,
    x: &GpuStorage,
    xl: &Layout,
    y: &GpuStorage,
    yl: &Layout,
    out_dtype: DType,
    code: i32,
) -> Result<GpuStorage> {
    let d = pair(name, x, xl, y, yl)?;
    let n = xl.numel();
    let out = x.gpu().storage(out_dtype, n)?;
    if n == 0 {
        return Ok(out);
    }
    let entry = KERNELS.entry(&format!("{family}_{}", dtype_name(x.dtype())))?;
    let [dx, dy] = [d[0].clone(), d[1].clone()];
    let args = [out.arg(), x.arg(), dx, y.arg(), dy, n_arg(n), KernelArg::I32(code)];
    x.gpu().launch(entry, grid(n), &args)?;
    Ok(out)
}

/// `x op y` as u8 (1 where true), any dtype.
pub fn cmp(
    x: &GpuStorage,
    xl: &Layout,
    y: &GpuStorage,
    yl: &Layout,
    op: CmpOp,
) -> Result<GpuStorage> {
    two_operands("cmp", "cmp", x, xl, y, yl, DType::U8, cmp_code(op))
}

/// `t` where `c` is non-zero, `f` elsewhere (`c` of any dtype; `t`, `f` of one dtype).
pub fn where_cond(
    c: &GpuStorage,
    cl: &Layout,
    t: &GpuStorage,
    tl: &Layout,
    f: &GpuStorage,
    fl: &Layout,
) -> Result<GpuStorage> {
    if t.dtype() != f.dtype() {
        bail!("where", "branches have dtypes {} and {}", t.dtype(), f.dtype())
    }
    if cl.dims() != tl.dims() || cl.dims() != fl.dims() {
        bail!(
            "where",
            "operands arrive broadcast to one shape, got {:?}, {:?} and {:?}",
            cl.dims(),
            tl.dims(),
            fl.dims()
        )
    }
    check_view("where", "condition", c, cl)?;
    check_view("where", "true branch", t, tl)?;
    check_view("where", "false branch", f, fl)?;
    let n = cl.numel();
    let out = t.gpu().storage(t.dtype(), n)?;
    if n == 0 {
        return Ok(out);
    }
    let d = strided_many("where", cl.dims(), &[cl, tl, fl])?;
    let name = KERNELS.entry(&where_name(c.dtype(), t.dtype()))?;
    t.gpu().launch(
        name,
        grid(n),
        &[out.arg(), c.arg(), d[0].clone(), t.arg(), d[1].clone(), f.arg(), d[2].clone(), n_arg(n)],
    )?;
    Ok(out)
}
