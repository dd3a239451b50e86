//! Tensor cores (PTX ISA, "Warp Level Matrix Multiply-Accumulate Instructions": `mma.sync`
//! with the fragment layouts of "Matrix Fragments for mma.m16n8k16 with floating point
//! type", and `ldmatrix`).
//!
//! `mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 d, a, b, c` (also `.f16` inputs, and
//! `.f16.f16.f16.f16` with f16 accumulators): the 32 lanes of a warp together compute
//! `D = A * B + C` for A 16x16 (row-major fragments), B 16x8 (column-major fragments), C and
//! D 16x8. With `g = lane / 4` (group) and `t = lane % 4` (thread in group), each lane holds
//! * A in 4 registers of 2 halves (low half = lower column):
//!   `a0 = A[g][2t..2t+2]`, `a1 = A[g+8][2t..2t+2]`, `a2 = A[g][2t+8..2t+10]`,
//!   `a3 = A[g+8][2t+8..2t+10]`;
//! * B in 2 registers: `b0 = B[2t..2t+2][g]`, `b1 = B[2t+8..2t+10][g]`;
//! * C and D (f32) in 4 registers: `c0, c1 = C[g][2t], C[g][2t+1]`,
//!   `c2, c3 = C[g+8][2t], C[g+8][2t+1]` (f16 accumulators: the same four values packed in
//!   2 registers).
//!
//! The ISA leaves the order and internal precision of the accumulation unspecified; here
//! the products are exact and the sum is formed in f64 and rounded once (to nearest even)
//! to the accumulator type, so results can differ from a GPU in the last bits.
//!
//! `ldmatrix.sync.aligned.m8n8.{x1,x2,x4}{.trans}.shared.b16 r, [p]`: loads 1, 2 or 4 8x8
//! matrices of 16-bit elements from shared memory. Lane `8*i + j` gives the address of row
//! `j` of matrix `i` (16 contiguous bytes); register `r_i` of lane `l` receives row `l / 4`,
//! elements `2*(l % 4)` and `2*(l % 4) + 1` of matrix `i` (with `.trans`, column `l / 4`,
//! rows `2*(l % 4)` and `2*(l % 4) + 1`): exactly the A/B fragment layout above.

use super::super::ctx::Ctx;
use super::super::exec::{Flow, Group};
use super::super::float::{self as fl, round_to, Finish};
use super::super::inst::{use_addr, use_src, Addr, Op, Reg, Src};
use super::super::operands::{Mods, Operands};
use super::super::types::{Rnd, Space, Ty};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MmaKind {
    /// bf16 inputs, f32 accumulators.
    Bf16F32,
    /// f16 inputs, f32 accumulators.
    F16F32,
    /// f16 inputs, f16 accumulators.
    F16F16,
}

#[derive(Clone, Debug)]
pub enum TcOp {
    Mma { kind: MmaKind, d: [Reg; 4], a: [Src; 4], b: [Src; 2], c: [Src; 4] },
    Ldmatrix { num: u8, trans: bool, space: Space, dst: [Reg; 4], addr: Addr },
}

pub const OPCODES: &[&str] = &["mma", "ldmatrix"];

pub fn parse(m: &mut Mods, o: &mut Operands) -> Result<Op, String> {
    if !m.has("sync") || !m.has("aligned") {
        return Err(format!("{} needs .sync.aligned", m.base));
    }
    let op = if m.base == "mma" {
        if !m.has("m16n8k16") {
            return Err("mma: only the m16n8k16 shape is supported".into());
        }
        if !m.has("row") || !m.has("col") {
            return Err("mma.m16n8k16 takes .row.col".into());
        }
        let kind = match m.tys()[..] {
            [Ty::F32, Ty::BF16, Ty::BF16, Ty::F32] => MmaKind::Bf16F32,
            [Ty::F32, Ty::F16, Ty::F16, Ty::F32] => MmaKind::F16F32,
            [Ty::F16, Ty::F16, Ty::F16, Ty::F16] => MmaKind::F16F16,
            _ => {
                return Err("mma: supported types are .f32.bf16.bf16.f32, .f32.f16.f16.f32 and \
                .f16.f16.f16.f16"
                    .into())
            }
        };
        let nc = if kind == MmaKind::F16F16 { 2 } else { 4 };
        let d = o.dst_vec(nc)?;
        o.comma()?;
        let a = o.src_vec(4, Ty::B32)?;
        o.comma()?;
        let b = o.src_vec(2, Ty::B32)?;
        o.comma()?;
        let c = o.src_vec(nc, if nc == 4 { Ty::F32 } else { Ty::B32 })?;
        let mut dd = [d[0]; 4];
        dd[..nc].copy_from_slice(&d);
        let mut cc = [c[0]; 4];
        cc[..nc].copy_from_slice(&c);
        TcOp::Mma { kind, d: dd, a: [a[0], a[1], a[2], a[3]], b: [b[0], b[1]], c: cc }
    } else {
        if !m.has("m8n8") {
            return Err("ldmatrix: only the m8n8 shape is supported".into());
        }
        let num = match m.one_of(&["x1", "x2", "x4"]) {
            Some("x1") => 1,
            Some("x2") => 2,
            Some(_) => 4,
            None => return Err("ldmatrix needs .x1, .x2 or .x4".into()),
        };
        let trans = m.has("trans");
        let space = m.find(Space::parse).unwrap_or(Space::Generic);
        if !matches!(space, Space::Shared | Space::Generic) {
            return Err("ldmatrix reads shared memory".into());
        }
        if m.ty()? != Ty::B16 {
            return Err("ldmatrix.m8n8 takes .b16".into());
        }
        let dst = o.dst_vec(num as usize)?;
        o.comma()?;
        let addr = o.addr()?;
        let mut dd = [dst[0]; 4];
        dd[..num as usize].copy_from_slice(&dst);
        TcOp::Ldmatrix { num, trans, space, dst: dd, addr }
    };
    Ok(Op::TensorCore(Box::new(op)))
}

impl TcOp {
    fn n_acc(kind: MmaKind) -> usize {
        if kind == MmaKind::F16F16 {
            2
        } else {
            4
        }
    }

    pub fn visit_regs(&self, f: &mut dyn FnMut(Reg, bool)) {
        match self {
            TcOp::Mma { kind, d, a, b, c } => {
                let n = Self::n_acc(*kind);
                a.iter().chain(b.iter()).chain(c[..n].iter()).for_each(|s| use_src(s, f));
                d[..n].iter().for_each(|r| f(*r, true));
            }
            TcOp::Ldmatrix { num, dst, addr, .. } => {
                use_addr(addr, f);
                dst[..*num as usize].iter().for_each(|r| f(*r, true));
            }
        }
    }
}

pub fn exec(_op: &TcOp, _cx: &mut Ctx) -> Flow {
    Flow::Collective { mask: 0xffff_ffff }
}

/// The (row, column) of element `e` (0..8) of lane `lane`'s A fragment (16x16).
pub fn a_pos(lane: u32, e: u32) -> (u32, u32) {
    let (g, t) = (lane / 4, lane % 4);
    let row = g + if e % 4 >= 2 { 8 } else { 0 };
    let col = 2 * t + (e % 2) + if e >= 4 { 8 } else { 0 };
    (row, col)
}

/// The (row k, column n) of element `e` (0..4) of lane `lane`'s B fragment (16x8).
pub fn b_pos(lane: u32, e: u32) -> (u32, u32) {
    let (g, t) = (lane / 4, lane % 4);
    (2 * t + (e % 2) + if e >= 2 { 8 } else { 0 }, g)
}

/// The (row, column) of element `e` (0..4) of lane `lane`'s C/D fragment (16x8).
pub fn c_pos(lane: u32, e: u32) -> (u32, u32) {
    let (g, t) = (lane / 4, lane % 4);
    (g + if e >= 2 { 8 } else { 0 }, 2 * t + (e % 2))
}

/// Executes a gathered `mma.sync` or `ldmatrix` for the lanes of one warp.
pub fn collective(op: &TcOp, g: &mut Group) {
    match op {
        TcOp::Mma { kind, d, a, b, c } => {
            let in_fmt = if *kind == MmaKind::Bf16F32 { fl::BF16 } else { fl::F16 };
            let half =
                |r: u64, hi: bool| in_fmt.to_f64(if hi { (r >> 16) & 0xffff } else { r & 0xffff });
            let mut am = [[0f64; 16]; 16];
            let mut bm = [[0f64; 8]; 16];
            let mut cm = [[0f64; 8]; 16];
            for &t in g.threads {
                let lane = t % 32;
                for e in 0..8 {
                    let (r, col) = a_pos(lane, e);
                    am[r as usize][col as usize] = half(g.get(t, &a[(e / 2) as usize]), e % 2 == 1);
                }
                for e in 0..4 {
                    let (k, n) = b_pos(lane, e);
                    bm[k as usize][n as usize] = half(g.get(t, &b[(e / 2) as usize]), e % 2 == 1);
                    let (r, col) = c_pos(lane, e);
                    cm[r as usize][col as usize] = match kind {
                        MmaKind::F16F16 => fl::F16
                            .to_f64((g.get(t, &c[(e / 2) as usize]) >> (16 * (e % 2))) & 0xffff),
                        _ => f32::from_bits(g.get(t, &c[e as usize]) as u32) as f64,
                    };
                }
            }
            for &t in g.threads {
                let lane = t % 32;
                let mut out = [0u64; 4];
                for e in 0..4 {
                    let (r, n) = c_pos(lane, e);
                    let mut s = cm[r as usize][n as usize];
                    for k in 0..16 {
                        s += am[r as usize][k] * bm[k][n as usize];
                    }
                    out[e as usize] = match kind {
                        MmaKind::F16F16 => round_to(fl::F16, s, 0.0, Rnd::Rn, Finish::default()),
                        _ => round_to(fl::F32, s, 0.0, Rnd::Rn, Finish::default()),
                    };
                }
                match kind {
                    MmaKind::F16F16 => {
                        g.set(t, d[0], out[0] | out[1] << 16);
                        g.set(t, d[1], out[2] | out[3] << 16);
                    }
                    _ => (0..4).for_each(|e| g.set(t, d[e], out[e])),
                }
            }
        }
        TcOp::Ldmatrix { num, trans, space, dst, addr } => {
            // rows[i][j]: the 8 elements of row j of matrix i.
            let mut rows = [[[0u16; 8]; 8]; 4];
            for i in 0..*num as u32 {
                for j in 0..8 {
                    let provider = i * 8 + j;
                    let Some(&t) = g.threads.iter().find(|&&t| t % 32 == provider) else {
                        continue;
                    };
                    let (sp, a) = g.resolve(t, *space, addr);
                    let mut buf = [0u8; 16];
                    g.load(t, sp, a, &mut buf);
                    for (k, e) in rows[i as usize][j as usize].iter_mut().enumerate() {
                        *e = u16::from_le_bytes([buf[2 * k], buf[2 * k + 1]]);
                    }
                }
            }
            for &t in g.threads {
                let l = (t % 32) as usize;
                for i in 0..*num as usize {
                    let (e0, e1) = if *trans {
                        (rows[i][2 * (l % 4)][l / 4], rows[i][2 * (l % 4) + 1][l / 4])
                    } else {
                        (rows[i][l / 4][2 * (l % 4)], rows[i][l / 4][2 * (l % 4) + 1])
                    };
                    g.set(t, dst[i], e0 as u64 | (e1 as u64) << 16);
                }
            }
        }
    }
}
