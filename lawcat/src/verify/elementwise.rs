//! `ptx/kernels/elementwise.cu`, launcher `ptx::ops::elementwise`, the ops `Tensor::unary`
//! (`unary_<dtype>`), `binary` (`binary_<dtype>`), `compare` (`cmp_<dtype>`) and `where_cond`
//! (`where_<cond>_b<size>`): every op on every dtype it takes, broadcasting, on awkward shapes
//! and non-contiguous operands; and NaN and infinities where the CPU defines the result
//! (relu, maximum/minimum, comparisons, a NaN condition). Comparisons and selections are
//! exact; transcendental maps allow a few ulps (`Tol::elementwise`).

use super::helpers::{
    check, check_marked, operand, pick_view, random_shape, special_operand, special_values, ALL,
    FLOATS,
};
use super::{Case, Check};
use tensor::tolerance::Tol;
use tensor::{BinaryOp, CmpOp, DType, Device, Result, Rng, Tensor, UnaryOp};

/// The input range of each unary op (positive where the op needs it).
fn unary_range(op: UnaryOp) -> (f64, f64) {
    match op {
        UnaryOp::Log | UnaryOp::Sqrt | UnaryOp::Rsqrt | UnaryOp::Powf(_) => (0.05, 4.0),
        UnaryOp::Recip => (0.25, 3.0),
        UnaryOp::Exp => (-6.0, 6.0),
        UnaryOp::Neg
        | UnaryOp::Sqr
        | UnaryOp::Abs
        | UnaryOp::Relu
        | UnaryOp::Silu
        | UnaryOp::Sigmoid
        | UnaryOp::LogSigmoid
        | UnaryOp::Softplus
        | UnaryOp::Tanh
        | UnaryOp::Elu(_)
        | UnaryOp::Affine { .. }
        | UnaryOp::Clamp { .. } => (-12.0, 12.0),
    }
}

/// Every UnaryOp on every float dtype (`unary_<dtype>`).
fn unary(device: &Device, rng: &mut Rng, size: usize) -> Result<Vec<Check>> {
    let ops = [
        UnaryOp::Neg,
        UnaryOp::Exp,
        UnaryOp::Log,
        UnaryOp::Sqrt,
        UnaryOp::Rsqrt,
        UnaryOp::Recip,
        UnaryOp::Sqr,
        UnaryOp::Abs,
        UnaryOp::Relu,
        UnaryOp::Silu,
        UnaryOp::Sigmoid,
        UnaryOp::LogSigmoid,
        UnaryOp::Softplus,
        UnaryOp::Tanh,
        UnaryOp::Elu(0.7),
        UnaryOp::Powf(1.7),
        UnaryOp::Affine { mul: 0.3, add: -1.25 },
        UnaryOp::Clamp { min: -2.0, max: 3.5 },
    ];
    let mut out = vec![];
    for dtype in FLOATS {
        let s = random_shape(rng, size);
        let view = pick_view(rng);
        for op in ops {
            let (lo, hi) = unary_range(op);
            let (c, g) = operand(&s, dtype, lo, hi, view, device, rng)?;
            out.push(check(
                format!("{op:?} {dtype} {s:?} {view:?}"),
                &g.unary(op)?,
                &c.unary(op)?,
                Tol::elementwise(dtype),
            )?);
        }
    }
    Ok(out)
}

/// Two operands of one shape, or one of them broadcast from a size-1 or missing dim.
fn binary_shapes(rng: &mut Rng, size: usize) -> (Vec<usize>, Vec<usize>) {
    let s = random_shape(rng, size);
    let mut t = s.clone();
    match rng.below(3) {
        0 => {}
        1 => {
            let d = rng.below(t.len());
            t[d] = 1;
        }
        _ => {
            t.remove(0);
        }
    }
    if rng.below(2) == 0 {
        (s, t)
    } else {
        (t, s)
    }
}

/// Every BinaryOp on every float dtype, broadcasting (`binary_<dtype>`).
fn binary(device: &Device, rng: &mut Rng, size: usize) -> Result<Vec<Check>> {
    let ops = [
        BinaryOp::Add,
        BinaryOp::Sub,
        BinaryOp::Mul,
        BinaryOp::Div,
        BinaryOp::Max,
        BinaryOp::Min,
        BinaryOp::Pow,
    ];
    let mut out = vec![];
    for dtype in FLOATS {
        let (sa, sb) = binary_shapes(rng, size);
        let (va, vb) = (pick_view(rng), pick_view(rng));
        for op in ops {
            let (la, ha, lb, hb) = match op {
                BinaryOp::Pow => (0.1, 3.0, -2.0, 2.0),
                BinaryOp::Div => (-4.0, 4.0, 0.5, 2.0),
                BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Max | BinaryOp::Min => {
                    (-4.0, 4.0, -4.0, 4.0)
                }
            };
            let (ca, ga) = operand(&sa, dtype, la, ha, va, device, rng)?;
            let (cb, gb) = operand(&sb, dtype, lb, hb, vb, device, rng)?;
            out.push(check(
                format!("{op:?} {dtype} {sa:?} {va:?} with {sb:?} {vb:?}"),
                &ga.binary(&gb, op)?,
                &ca.binary(&cb, op)?,
                Tol::elementwise(dtype),
            )?);
        }
    }
    Ok(out)
}

/// Every CmpOp on every dtype, on small integers so that ties happen (`cmp_<dtype>`).
fn compare(device: &Device, rng: &mut Rng, size: usize) -> Result<Vec<Check>> {
    let ops = [CmpOp::Eq, CmpOp::Ne, CmpOp::Lt, CmpOp::Le, CmpOp::Gt, CmpOp::Ge];
    let mut out = vec![];
    for dtype in ALL {
        let (sa, sb) = binary_shapes(rng, size);
        let (va, vb) = (pick_view(rng), pick_view(rng));
        let (ca, ga) = operand(&sa, DType::I64, 0.0, 4.0, va, device, rng)?;
        let (cb, gb) = operand(&sb, DType::I64, 0.0, 4.0, vb, device, rng)?;
        let (ca, ga, cb, gb) =
            (ca.to_dtype(dtype)?, ga.to_dtype(dtype)?, cb.to_dtype(dtype)?, gb.to_dtype(dtype)?);
        for op in ops {
            out.push(check(
                format!("{op:?} {dtype} {sa:?} with {sb:?}"),
                &ga.compare(&gb, op)?,
                &ca.compare(&cb, op)?,
                Tol::EXACT,
            )?);
        }
    }
    Ok(out)
}

/// where(cond, t, f) for every condition dtype and every branch dtype, broadcasting
/// (`where_<cond>_b<size>`).
fn where_cond(device: &Device, rng: &mut Rng, size: usize) -> Result<Vec<Check>> {
    let mut out = vec![];
    for cd in ALL {
        let s = random_shape(rng, size);
        let (cc, gc) = operand(&s, DType::I64, -1.0, 2.0, pick_view(rng), device, rng)?;
        let (cc, gc) = (cc.to_dtype(cd)?, gc.to_dtype(cd)?);
        for vd in ALL {
            let mut st = s.clone();
            st[rng.below(s.len())] = 1;
            let (ct, gt) = operand(&st, vd, -9.0, 9.0, pick_view(rng), device, rng)?;
            let (cf, gf) = operand(&s, vd, 10.0, 30.0, pick_view(rng), device, rng)?;
            out.push(check(
                format!("where {cd} ? {vd} : {vd} {s:?}"),
                &gc.where_cond(&gt, &gf)?,
                &cc.where_cond(&ct, &cf)?,
                Tol::EXACT,
            )?);
        }
    }
    Ok(out)
}

/// NaN and infinities where the CPU defines the result, every float dtype: relu, maximum and
/// minimum, a comparison, where with a NaN condition (NaN and infinities marked so that "NaN
/// where the CPU has NaN" compares equal).
fn special(device: &Device, rng: &mut Rng, _size: usize) -> Result<Vec<Check>> {
    let (v, w) = special_values(rng);
    let mut out = vec![];
    for dtype in FLOATS {
        let (c, g) = special_operand(&v, dtype, device)?;
        let (d, h) = special_operand(&w, dtype, device)?;
        let pairs: [(&str, Tensor, Tensor); 5] = [
            ("relu", g.relu()?, c.relu()?),
            ("maximum", g.maximum(&h)?, c.maximum(&d)?),
            ("minimum", g.minimum(&h)?, c.minimum(&d)?),
            ("le", g.le(&h)?, c.le(&d)?),
            ("where", g.where_cond(&h, &g)?, c.where_cond(&d, &c)?),
        ];
        for (what, got, want) in pairs {
            out.push(check_marked(format!("{what} {dtype} with NaN/inf"), &got, &want)?);
        }
    }
    Ok(out)
}

pub fn cases() -> Vec<Case> {
    vec![
        Case { family: "elementwise", kernel: "unary_*", run: unary },
        Case { family: "elementwise", kernel: "binary_*", run: binary },
        Case { family: "elementwise", kernel: "cmp_*", run: compare },
        Case { family: "elementwise", kernel: "where_*", run: where_cond },
        Case {
            family: "elementwise",
            kernel: "special values: relu, maximum, le, where",
            run: special,
        },
    ]
}
