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
//!
//! # wmma ("Warp Level Matrix Multiply-Accumulate Instructions: wmma.load, wmma.mma,
//! wmma.store")
//!
//! `wmma.load.{a,b,c}.sync.aligned.{row,col}.shape{.global,.shared}.type r, [p]{, stride}`
//! loads matrix A (M x K), B (K x N) or C (M x N) stored row- or column-major at `p`, with
//! `stride` elements between consecutive rows (row-major) or columns (column-major); the
//! default stride is the matrix's own width (row-major) or height (column-major) ("Matrix
//! Storage for WMMA"). `wmma.store.d...type [p], r{, stride}` stores D the same way, and
//! `wmma.mma.sync.aligned.alayout.blayout.shape.types d, a, b, c` computes D = A * B + C.
//! All three are warp collectives: the 32 lanes execute them together, with the same `p` and
//! `stride`; `p` is a multiple of the fragment's size in bytes, and so is each row's (column's)
//! start, up to 16 bytes (see [`collective`]). Shapes and types: `.m16n16k16 .m32n8k16
//! .m8n32k16` on `.f16` (C/D `.f16` or `.f32`), `.bf16` (C/D `.f32`) and `.s8 .u8` (C/D
//! `.s32`, `.satfinite` saturating), plus `.m16n16k8` on `.tf32` (C/D `.f32`) and `.m8n8k4`
//! on `.f64` (`.rn`).
//!
//! A *fragment* is a lane's share of a matrix: r registers ("Matrix Fragments for WMMA": 8
//! `.f16x2` for `.f16` A and B, 4 for `.f16` C/D, 8 `.f32` for C/D, and for the other types
//! just enough registers for one 32nd of the matrix). The ISA leaves unspecified which lane
//! holds which element, so any assignment that `load`, `mma` and `store` agree on is correct;
//! this interpreter uses the simplest one. With E the elements of the matrix and S the slots
//! of a fragment (registers x elements per register, 16-bit elements low half first, 8-bit
//! ones low byte first), slot `s` of lane `l` holds element `(l * S + s) mod E` in row-major
//! order for A and C/D (`i = row * width + col`) and column-major order for B (`i = col * K +
//! row`). A `.f16` A or B fragment (S = 16) holds every element twice or more: lanes `l` and
//! `l + E/S` hold the same ones (for m16n16k16, lane `l % 16` holds row `l % 16` of A and
//! column `l % 16` of B). `mma` reads each element from the lowest lane holding it.
//!
//! `mma` rounds like `mma.sync` above: exact products summed in f64 and rounded once to the
//! accumulator type, to nearest even (`.tf32` inputs read with their 13 low
//! mantissa bits dropped; `.f64` is a chain of fused multiply-adds; integers wrap unless
//! `.satfinite` clamps them to the s32 range).

use super::super::check::{AccessKind, Who};
use super::super::ctx::{access, Ctx};
use super::super::exec::{Flow, Group};
use super::super::float::{self as fl, round_to, Finish};
use super::super::inst::{use_addr, use_src, Addr, Op, Reg, Src};
use super::super::operands::{Mods, Operands};
use super::super::problem::ProblemKind;
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

/// Which matrix a wmma fragment holds (`C` is also D).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Which {
    A,
    B,
    C,
}

/// The element type of a wmma fragment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Elem {
    F16,
    BF16,
    Tf32,
    F32,
    F64,
    S8,
    U8,
    S32,
}

impl Elem {
    fn parse(s: &str) -> Option<Elem> {
        Some(match s {
            "f16" => Elem::F16,
            "bf16" => Elem::BF16,
            "tf32" => Elem::Tf32,
            "f32" => Elem::F32,
            "f64" => Elem::F64,
            "s8" => Elem::S8,
            "u8" => Elem::U8,
            "s32" => Elem::S32,
            _ => return None,
        })
    }

    fn bits(self) -> u32 {
        match self {
            Elem::S8 | Elem::U8 => 8,
            Elem::F16 | Elem::BF16 => 16,
            Elem::Tf32 | Elem::F32 | Elem::S32 => 32,
            Elem::F64 => 64,
        }
    }

    /// The exact value of an element's bits.
    fn value(self, bits: u64) -> f64 {
        match self {
            Elem::F16 => fl::F16.to_f64(bits),
            Elem::BF16 => fl::BF16.to_f64(bits),
            Elem::Tf32 => f32::from_bits(bits as u32 & !0x1fff) as f64,
            Elem::F32 => f32::from_bits(bits as u32) as f64,
            Elem::F64 => f64::from_bits(bits),
            Elem::S8 => bits as u8 as i8 as f64,
            Elem::U8 => bits as u8 as f64,
            Elem::S32 => bits as u32 as i32 as f64,
        }
    }
}

/// A wmma shape, M x N x K.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    pub m: u32,
    pub n: u32,
    pub k: u32,
}

/// A wmma fragment type: which matrix, of what shape and element type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frag {
    pub which: Which,
    pub shape: Shape,
    pub ety: Elem,
}

impl Frag {
    /// The matrix's rows and columns.
    pub fn dims(self) -> (u32, u32) {
        let Shape { m, n, k } = self.shape;
        match self.which {
            Which::A => (m, k),
            Which::B => (k, n),
            Which::C => (m, n),
        }
    }

    /// Registers per lane ("Matrix Fragments for WMMA").
    pub fn regs(self) -> usize {
        let (r, c) = self.dims();
        if self.ety == Elem::F16 && self.which != Which::C {
            return 8;
        }
        let per_lane_bits = r * c / 32 * self.ety.bits();
        (per_lane_bits / self.reg_bits()).max(1) as usize
    }

    fn reg_bits(self) -> u32 {
        if self.ety == Elem::F64 {
            64
        } else {
            32
        }
    }

    fn per_reg(self) -> u32 {
        self.reg_bits() / self.ety.bits()
    }

    /// Slots of a fragment: registers x elements per register.
    pub fn slots(self) -> u32 {
        self.regs() as u32 * self.per_reg()
    }

    /// The (row, column) of the element in slot `s` of lane `lane` (see the file's
    /// documentation).
    pub fn pos(self, lane: u32, s: u32) -> (u32, u32) {
        let (rows, cols) = self.dims();
        let i = (lane * self.slots() + s) % (rows * cols);
        match self.which {
            Which::A | Which::C => (i / cols, i % cols),
            Which::B => (i % rows, i / rows),
        }
    }

    /// Slot `s`'s bits in a lane's registers.
    fn get(self, regs: &[u64], s: u32) -> u64 {
        let (per, bits) = (self.per_reg(), self.ety.bits());
        let r = regs[(s / per) as usize];
        if bits == 64 {
            r
        } else {
            (r >> ((s % per) * bits)) & ((1u64 << bits) - 1)
        }
    }

    /// Writes slot `s`'s bits into a lane's registers.
    fn put(self, regs: &mut [u64], s: u32, v: u64) {
        let (per, bits) = (self.per_reg(), self.ety.bits());
        let r = &mut regs[(s / per) as usize];
        if bits == 64 {
            *r = v;
        } else {
            let sh = (s % per) * bits;
            let mask = ((1u64 << bits) - 1) << sh;
            *r = (*r & !mask) | ((v << sh) & mask);
        }
    }

    /// The byte offset of element (row, col) in memory laid out row- or column-major with
    /// `stride` elements between rows (columns).
    fn offset(self, row_major: bool, stride: u64, (r, c): (u32, u32)) -> u64 {
        let e = if row_major { r as u64 * stride + c as u64 } else { c as u64 * stride + r as u64 };
        e * (self.ety.bits() / 8) as u64
    }

    /// The default stride: the width (row-major) or height (column-major).
    fn default_stride(self, row_major: bool) -> u64 {
        let (r, c) = self.dims();
        if row_major {
            c as u64
        } else {
            r as u64
        }
    }
}

/// Is `ety` a type of matrix `which` for `shape` (the wmma.load/store syntax tables)?
fn wmma_type_ok(which: Which, shape: Shape, ety: Elem) -> bool {
    let mnk = (shape.m, shape.n, shape.k);
    let big = matches!(mnk, (16, 16, 16) | (32, 8, 16) | (8, 32, 16));
    match (which, ety) {
        (Which::A | Which::B, Elem::F16 | Elem::BF16 | Elem::S8 | Elem::U8) => big,
        (Which::C, Elem::F16 | Elem::S32) => big,
        (Which::C, Elem::F32) => big || mnk == (16, 16, 8),
        (Which::A | Which::B, Elem::Tf32) => mnk == (16, 16, 8),
        (_, Elem::F64) => mnk == (8, 8, 4),
        _ => false,
    }
}

#[derive(Clone, Debug)]
pub enum TcOp {
    Mma {
        kind: MmaKind,
        d: [Reg; 4],
        a: [Src; 4],
        b: [Src; 2],
        c: [Src; 4],
    },
    Ldmatrix {
        num: u8,
        trans: bool,
        space: Space,
        dst: [Reg; 4],
        addr: Addr,
    },
    WmmaLoad {
        frag: Frag,
        row: bool,
        space: Space,
        dst: Vec<Reg>,
        addr: Addr,
        stride: Option<Src>,
    },
    WmmaStore {
        frag: Frag,
        row: bool,
        space: Space,
        src: Vec<Src>,
        addr: Addr,
        stride: Option<Src>,
    },
    /// D = A * B + C with A, B of `ab` and C, D of `cty`, `dty`.
    WmmaMma {
        shape: Shape,
        ab: Elem,
        cty: Elem,
        dty: Elem,
        satfinite: bool,
        d: Vec<Reg>,
        a: Vec<Src>,
        b: Vec<Src>,
        c: Vec<Src>,
    },
}

pub const OPCODES: &[&str] = &["mma", "ldmatrix", "wmma"];

fn parse_shape(m: &mut Mods) -> Option<Shape> {
    m.find(|s| {
        let (mm, rest) = s.strip_prefix('m')?.split_once('n')?;
        let (nn, kk) = rest.split_once('k')?;
        Some(Shape { m: mm.parse().ok()?, n: nn.parse().ok()?, k: kk.parse().ok()? })
    })
}

/// The wmma forms (see the file's documentation).
fn parse_wmma(m: &mut Mods, o: &mut Operands) -> Result<TcOp, String> {
    let verb = m.one_of(&["load", "store", "mma"]).ok_or("wmma needs .load, .store or .mma")?;
    let which = match verb {
        "load" => match m.one_of(&["a", "b", "c"]) {
            Some("a") => Which::A,
            Some("b") => Which::B,
            Some(_) => Which::C,
            None => return Err("wmma.load needs .a, .b or .c".into()),
        },
        "store" if m.has("d") => Which::C,
        "store" => return Err("wmma.store needs .d".into()),
        _ => Which::A,
    };
    if !m.has("sync") || !m.has("aligned") {
        return Err(format!("wmma.{verb} needs .sync.aligned"));
    }
    let layout = |m: &mut Mods| match m.one_of(&["row", "col"]) {
        Some(l) => Ok(l == "row"),
        None => Err(format!("wmma.{verb} needs a layout (.row or .col)")),
    };
    let row = layout(m)?;
    let b_row = if verb == "mma" { layout(m)? } else { row };
    let shape = parse_shape(m).ok_or_else(|| format!("wmma.{verb} needs a shape (.m16n16k16)"))?;
    let mut tys = vec![];
    while let Some(t) = m.find(Elem::parse) {
        tys.push(t);
    }
    let reg_ty = |e: Elem| match e {
        Elem::F64 => Ty::F64,
        Elem::F32 => Ty::F32,
        _ => Ty::B32,
    };
    if verb == "mma" {
        let _ = b_row;
        let satfinite = m.has("satfinite");
        let (ab, cty, dty) = match tys[..] {
            [d, c] if matches!(d, Elem::F16 | Elem::F32) && matches!(c, Elem::F16 | Elem::F32) => {
                (Elem::F16, c, d)
            }
            [Elem::F32, Elem::BF16, Elem::BF16, Elem::F32] => (Elem::BF16, Elem::F32, Elem::F32),
            [Elem::F32, Elem::Tf32, Elem::Tf32, Elem::F32] => (Elem::Tf32, Elem::F32, Elem::F32),
            [Elem::F64, Elem::F64, Elem::F64, Elem::F64] => (Elem::F64, Elem::F64, Elem::F64),
            [Elem::S32, a @ (Elem::S8 | Elem::U8), b, Elem::S32] if a == b => {
                (a, Elem::S32, Elem::S32)
            }
            _ => {
                return Err("wmma.mma: unsupported types (supported: .dtype.ctype on .f16, \
                             .f32.bf16.bf16.f32, .f32.tf32.tf32.f32, .f64.f64.f64.f64, \
                             .s32.s8.s8.s32, .s32.u8.u8.s32)"
                    .into())
            }
        };
        let fa = Frag { which: Which::A, shape, ety: ab };
        let fc = Frag { which: Which::C, shape, ety: cty };
        let fd = Frag { which: Which::C, shape, ety: dty };
        if !wmma_type_ok(Which::A, shape, ab) || !wmma_type_ok(Which::C, shape, dty) {
            return Err(format!(
                "wmma.mma: the shape m{}n{}k{} does not take these types",
                shape.m, shape.n, shape.k
            ));
        }
        if satfinite && cty != Elem::S32 {
            return Err("wmma.mma: .satfinite is supported on integer types only".into());
        }
        if ab == Elem::F64 && !m.has("rn") {
            return Err("wmma.mma.f64 needs .rn (the other roundings are not supported)".into());
        }
        let fb = Frag { which: Which::B, shape, ety: ab };
        let d = o.dst_vec(fd.regs())?;
        o.comma()?;
        let a = o.src_vec(fa.regs(), reg_ty(ab))?;
        o.comma()?;
        let b = o.src_vec(fb.regs(), reg_ty(ab))?;
        o.comma()?;
        let c = o.src_vec(fc.regs(), reg_ty(cty))?;
        return Ok(TcOp::WmmaMma { shape, ab, cty, dty, satfinite, d, a, b, c });
    }
    let space = match m.find(Space::parse) {
        None => Space::Generic,
        Some(s @ (Space::Global | Space::Shared)) => s,
        Some(s) => return Err(format!("wmma.{verb} takes .global or .shared, not .{}", s.name())),
    };
    let [ety] = tys[..] else {
        return Err(format!("wmma.{verb} takes one element type"));
    };
    if !wmma_type_ok(which, shape, ety) {
        return Err(format!(
            "wmma.{verb}: m{}n{}k{} has no {:?} matrix of .{}",
            shape.m,
            shape.n,
            shape.k,
            which,
            format!("{ety:?}").to_lowercase()
        ));
    }
    let frag = Frag { which, shape, ety };
    let stride_after = |o: &mut Operands| -> Result<Option<Src>, String> {
        if o.eat(',') {
            Ok(Some(o.src(Ty::U32)?))
        } else {
            Ok(None)
        }
    };
    if verb == "load" {
        let dst = o.dst_vec(frag.regs())?;
        o.comma()?;
        let addr = o.addr()?;
        let stride = stride_after(o)?;
        Ok(TcOp::WmmaLoad { frag, row, space, dst, addr, stride })
    } else {
        let addr = o.addr()?;
        o.comma()?;
        let src = o.src_vec(frag.regs(), reg_ty(ety))?;
        let stride = stride_after(o)?;
        Ok(TcOp::WmmaStore { frag, row, space, src, addr, stride })
    }
}

pub fn parse(m: &mut Mods, o: &mut Operands) -> Result<Op, String> {
    if m.base == "wmma" {
        return Ok(Op::TensorCore(Box::new(parse_wmma(m, o)?)));
    }
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
            TcOp::WmmaLoad { dst, addr, stride, .. } => {
                use_addr(addr, f);
                stride.iter().for_each(|s| use_src(s, f));
                dst.iter().for_each(|r| f(*r, true));
            }
            TcOp::WmmaStore { src, addr, stride, .. } => {
                use_addr(addr, f);
                stride.iter().chain(src.iter()).for_each(|s| use_src(s, f));
            }
            TcOp::WmmaMma { d, a, b, c, .. } => {
                a.iter().chain(b.iter()).chain(c.iter()).for_each(|s| use_src(s, f));
                d.iter().for_each(|r| f(*r, true));
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

/// The address and stride of a wmma load/store, the same in every lane (the ISA makes it
/// undefined otherwise: reported, and each lane then uses its own).
fn wmma_where(
    g: &mut Group,
    frag: Frag,
    row: bool,
    space: Space,
    addr: &Addr,
    stride: &Option<Src>,
) -> Vec<(Space, u64, u64)> {
    let at: Vec<(Space, u64, u64)> = g
        .threads
        .iter()
        .map(|&t| {
            let (sp, a) = g.resolve(t, space, addr);
            let st = stride.as_ref().map(|s| g.get(t, s) as u32 as u64);
            (sp, a, st.unwrap_or(frag.default_stride(row)))
        })
        .collect();
    if let Some(i) = at.iter().position(|x| (x.1, x.2) != (at[0].1, at[0].2)) {
        let (t0, t) = (g.threads[0], g.threads[i]);
        let detail = format!(
            "wmma lanes give different addresses or strides (0x{:x} stride {} in lane {}, 0x{:x} \
             stride {} in lane {}); every lane must give the same",
            at[0].1,
            at[0].2,
            t0 % 32,
            at[i].1,
            at[i].2,
            t % 32
        );
        g.env.check.report(
            ProblemKind::CollectiveDivergence,
            Who { thread: t, pc: g.pc },
            None,
            detail,
        );
    }
    // ISA "Matrix Storage for WMMA": every row (column) starts at a multiple of the fragment's
    // size in bytes; for the stride this is relaxed to 16 bytes (CUDA's `ldm` rule for
    // load_matrix_sync, which nvcc's own m32n8k16 code with ldm 8 needs).
    let (first, size) = (at[0], frag.ety.bits() as u64 / 8);
    let frag_bytes = frag.regs() as u64 * frag.reg_bits() as u64 / 8;
    if first.1 % frag_bytes != 0 || (first.2 * size) % frag_bytes.min(16) != 0 {
        let who = Who { thread: g.threads[0], pc: g.pc };
        let detail = format!(
            "wmma matrix at 0x{:x} with rows (columns) {} bytes apart: the address must be a \
             multiple of the fragment's {frag_bytes} bytes, the stride of {} bytes",
            first.1,
            first.2 * size,
            frag_bytes.min(16)
        );
        g.env.check.report(ProblemKind::Misaligned, who, Some(first.1), detail);
    }
    at
}

/// Executes a gathered `mma.sync`, `ldmatrix` or wmma operation for the lanes of one warp.
pub fn collective(op: &TcOp, g: &mut Group) {
    match op {
        TcOp::WmmaLoad { frag, row, space, dst, addr, stride } => {
            let at = wmma_where(g, *frag, *row, *space, addr, stride);
            let size = (frag.ety.bits() / 8) as usize;
            for (i, &t) in g.threads.iter().enumerate() {
                let (sp, base, st) = at[i];
                let mut regs = vec![0u64; dst.len()];
                for s in 0..frag.slots() {
                    let off = frag.offset(*row, st, frag.pos(t % 32, s));
                    let mut buf = [0u8; 8];
                    g.load(t, sp, base.wrapping_add(off), &mut buf[..size]);
                    frag.put(&mut regs, s, u64::from_le_bytes(buf));
                }
                for (r, v) in dst.iter().zip(regs) {
                    g.set(t, *r, v);
                }
            }
        }
        TcOp::WmmaStore { frag, row, space, src, addr, stride } => {
            let at = wmma_where(g, *frag, *row, *space, addr, stride);
            let size = (frag.ety.bits() / 8) as usize;
            for (i, &t) in g.threads.iter().enumerate() {
                let (sp, base, st) = at[i];
                let regs: Vec<u64> = src.iter().map(|s| g.get(t, s)).collect();
                for s in 0..frag.slots() {
                    let off = frag.offset(*row, st, frag.pos(t % 32, s));
                    let bytes = frag.get(&regs, s).to_le_bytes();
                    let who = Who { thread: t, pc: g.pc };
                    access(
                        g.env,
                        who,
                        sp,
                        base.wrapping_add(off),
                        size,
                        AccessKind::Write,
                        &mut |m| m.copy_from_slice(&bytes[..size]),
                    );
                }
            }
        }
        TcOp::WmmaMma { shape, ab, cty, dty, satfinite, d, a, b, c } => {
            let Shape { m, n, k } = *shape;
            let fa = Frag { which: Which::A, shape: *shape, ety: *ab };
            let fb = Frag { which: Which::B, ..fa };
            let fc = Frag { which: Which::C, shape: *shape, ety: *cty };
            let fd = Frag { ety: *dty, ..fc };
            // The matrices, from the lowest lane holding each element (0 where no lane is).
            let gather = |g: &Group, f: Frag, ops: &[Src]| {
                let (rows, cols) = f.dims();
                let mut mat = vec![None; (rows * cols) as usize];
                for &t in g.threads {
                    let regs: Vec<u64> = ops.iter().map(|s| g.get(t, s)).collect();
                    for s in 0..f.slots() {
                        let (r, col) = f.pos(t % 32, s);
                        let e = &mut mat[(r * cols + col) as usize];
                        if e.is_none() {
                            *e = Some(f.get(&regs, s));
                        }
                    }
                }
                mat.into_iter().map(|v| f.ety.value(v.unwrap_or(0))).collect::<Vec<f64>>()
            };
            let (am, bm, cm) = (gather(g, fa, a), gather(g, fb, b), gather(g, fc, c));
            let dm: Vec<u64> = (0..m * n)
                .map(|i| {
                    let (r, col) = ((i / n) as usize, (i % n) as usize);
                    let (k, n) = (k as usize, n as usize);
                    let prods = (0..k).map(|j| (am[r * k + j], bm[j * n + col]));
                    match dty {
                        Elem::F64 => {
                            let v = prods.fold(cm[i as usize], |s, (x, y)| x.mul_add(y, s));
                            fl::canon64(v)
                        }
                        Elem::S32 => {
                            let v = prods.fold(cm[i as usize], |s, (x, y)| s + x * y) as i64;
                            if *satfinite {
                                v.clamp(i32::MIN as i64, i32::MAX as i64) as i32 as u32 as u64
                            } else {
                                v as i32 as u32 as u64
                            }
                        }
                        Elem::F16 => {
                            let v = prods.fold(cm[i as usize], |s, (x, y)| s + x * y);
                            round_to(fl::F16, v, 0.0, Rnd::Rn, Finish::default())
                        }
                        _ => {
                            let v = prods.fold(cm[i as usize], |s, (x, y)| s + x * y);
                            round_to(fl::F32, v, 0.0, Rnd::Rn, Finish::default())
                        }
                    }
                })
                .collect();
            for &t in g.threads {
                let mut regs = vec![0u64; d.len()];
                for s in 0..fd.slots() {
                    let (r, col) = fd.pos(t % 32, s);
                    fd.put(&mut regs, s, dm[(r * n + col) as usize]);
                }
                for (r, v) in d.iter().zip(regs) {
                    g.set(t, *r, v);
                }
            }
        }
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
