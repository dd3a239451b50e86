//! Gated linear attention (`kernels/gla.cu`), for `lawcat::ops::gla`'s Gla (forward and
//! backward) and GlaStep.
//!
//! * chunked, f32: `gla_cumsum` (gates summed inside chunks), `gla_chunk_h` (the states at
//!   the chunk boundaries), `gla_chunk_fwd_o` (the outputs, one block per chunk); backward:
//!   the same two, `gla_chunk_h` again in reverse over `(q, dO)` for the state gradients,
//!   then `gla_chunk_bwd` (dq, dk, dv, dg per chunk).
//! * recurrent, f32 and f64: `gla_rec_fwd_*` (also the in-place decoding step),
//!   `gla_rec_bwd_*` + `gla_rec_bwd_sum_*`.
//!
//! f64 operands (CPU gradchecks carried to the device) run the recurrent kernels in f64 in
//! either mode, and chunked calls with V over [`MAX_CHUNK_V`] run the recurrent kernels in
//! f32: both forms compute the same recurrence, and agree to rounding (tested).

use super::operand::{descriptor, Operand};
use crate::modules::Kernels;
use crate::runtime::{GpuDevice, GpuStorage, KernelArg, LaunchDims};
use tensor::{bail, DType, Result};

/// The longest chunk the chunked kernels take (`GLA_MAXC`); longer chunks run as chunks of 64
/// (the same result up to rounding).
pub const MAX_CHUNK: usize = 64;
/// The widest value rows the chunked kernels take (`GLA_MAX_V`).
pub const MAX_CHUNK_V: usize = 144;
/// The largest key (feature) dim of the recurrent kernels (16 rows per thread x 16 warps).
pub const MAX_REC_K: usize = 256;
/// Steps between checkpoints of the recurrent backward.
const REC_SEGMENT: usize = 64;
/// Steps staged at a time by the recurrent kernels (`REC_TS`).
const REC_TS: usize = 8;

/// `kernels/gla.ptx`.
pub static KERNELS: Kernels = Kernels::new("gla", || {
    [
        "gla_cumsum",
        "gla_chunk_h",
        "gla_chunk_fwd_o",
        "gla_chunk_bwd",
        "gla_rec_fwd_f32",
        "gla_rec_fwd_f64",
        "gla_rec_bwd_f32",
        "gla_rec_bwd_f64",
        "gla_rec_bwd_sum_f32",
        "gla_rec_bwd_sum_f64",
    ]
    .map(String::from)
    .to_vec()
});

/// The operands of one call: `q, k, g [B, T, H, K]`, `v [B, T, H, V]`, and the initial state
/// `s0 [B, H, K, V]` when there is one.
#[derive(Clone, Copy)]
pub struct Inputs<'a> {
    pub q: Operand<'a>,
    pub k: Operand<'a>,
    pub v: Operand<'a>,
    pub g: Operand<'a>,
    pub s0: Option<Operand<'a>>,
}

#[derive(Clone, Copy, Debug)]
struct Dims {
    b: usize,
    t: usize,
    h: usize,
    k: usize,
    v: usize,
}

impl Dims {
    fn lanes(&self) -> usize {
        self.b * self.h
    }
    fn bthk(&self) -> [usize; 4] {
        [self.b, self.t, self.h, self.k]
    }
    fn bthv(&self) -> [usize; 4] {
        [self.b, self.t, self.h, self.v]
    }
    fn bhkv(&self) -> [usize; 4] {
        [self.b, self.h, self.k, self.v]
    }
    fn ints(&self) -> [KernelArg; 5] {
        [self.b, self.t, self.h, self.k, self.v].map(|x| KernelArg::I32(x as i32))
    }
}

/// How a call runs: the chunked f32 kernels with chunks of `c`, or the recurrent ones.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Form {
    Chunked(usize),
    Recurrent,
}

fn dims(kernel: &str, x: &Inputs) -> Result<Dims> {
    let qd = x.q.dims();
    if qd.len() != 4
        || x.k.dims() != qd
        || x.g.dims() != qd
        || x.v.dims().len() != 4
        || x.v.dims()[..3] != qd[..3]
    {
        bail!(
            "ptx",
            "{kernel}: expects q, k, g [B, T, H, K] and v [B, T, H, V]; got q {qd:?}, k {:?}, \
             v {:?}, g {:?}",
            x.k.dims(),
            x.v.dims(),
            x.g.dims()
        )
    }
    let d = Dims { b: qd[0], t: qd[1], h: qd[2], k: qd[3], v: x.v.dims()[3] };
    if [d.b, d.t, d.h, d.k, d.v].iter().any(|&n| n > i32::MAX as usize) {
        bail!("ptx", "{kernel}: sizes {d:?} are over the kernels' 32-bit dims")
    }
    if d.lanes() > 65535 {
        bail!("ptx", "{kernel}: {} (sequence, head) lanes are over the grid's 65535", d.lanes())
    }
    Ok(d)
}

/// The form for `chunk` (None: recurrent) in compute dtype `cd`.
fn form(chunk: Option<usize>, cd: DType, d: Dims) -> Form {
    match chunk {
        Some(c) if cd == DType::F32 && d.v <= MAX_CHUNK_V => Form::Chunked(c.clamp(1, MAX_CHUNK)),
        _ => Form::Recurrent,
    }
}

fn in_args(kernel: &str, x: &Inputs, d: Dims) -> Result<[KernelArg; 4]> {
    Ok([
        x.q.arg(kernel, "q", &d.bthk())?,
        x.k.arg(kernel, "k", &d.bthk())?,
        x.v.arg(kernel, "v", &d.bthv())?,
        x.g.arg(kernel, "g", &d.bthk())?,
    ])
}

/// `s0` as an operand and its flag (`q` stands in, unread, when there is none).
fn s0_arg(kernel: &str, x: &Inputs, d: Dims) -> Result<[KernelArg; 2]> {
    Ok(match x.s0 {
        Some(s) => [s.arg(kernel, "initial state", &d.bhkv())?, KernelArg::I32(1)],
        None => [x.q.arg(kernel, "q", &d.bthk())?, KernelArg::I32(0)],
    })
}

fn opt_out(
    kernel: &str,
    what: &str,
    o: Option<Operand>,
    dims: &[usize],
    dt: DType,
) -> Result<KernelArg> {
    match o {
        Some(o) => o.out(kernel, what, dims, dt),
        None => Ok(KernelArg::Ptr(0)),
    }
}

fn grid_stride(n: usize) -> LaunchDims {
    LaunchDims::linear(n.div_ceil(256).clamp(1, 4096) as u32, 256)
}

fn chunks(d: Dims, c: usize) -> usize {
    d.t.div_ceil(c)
}

/// `gc [B*H, T, K]`: the log gates summed inside chunks of `c`.
fn cumsum(gpu: &GpuDevice, x: &Inputs, d: Dims, c: usize) -> Result<GpuStorage> {
    let gc = gpu.storage(DType::F32, d.lanes() * d.t * d.k)?;
    let n = d.lanes() * chunks(d, c) * d.k;
    if n > 0 {
        let args = [
            gc.arg(),
            x.g.arg("gla_cumsum", "g", &d.bthk())?,
            KernelArg::I32(d.b as i32),
            KernelArg::I32(d.t as i32),
            KernelArg::I32(d.h as i32),
            KernelArg::I32(d.k as i32),
            KernelArg::I32(c as i32),
        ];
        gpu.launch(KERNELS.entry("gla_cumsum")?, grid_stride(n), &args)?;
    }
    Ok(gc)
}

/// One `gla_chunk_h` sweep: forward (`reverse = false`: `hs [B*H, NC+1, K, V]` from `s0` over
/// `(a, y) = (k, v)`) or reverse (`hs [B*H, NC, K, V]` from `s0 = dS_T` over `(q, dO)`).
#[allow(clippy::too_many_arguments)]
fn chunk_h(
    gpu: &GpuDevice,
    s0: [KernelArg; 2],
    a: KernelArg,
    y: KernelArg,
    gc: &GpuStorage,
    fin: KernelArg,
    d: Dims,
    c: usize,
    scale: f64,
    reverse: bool,
) -> Result<GpuStorage> {
    let nc = chunks(d, c);
    let hs =
        gpu.storage(DType::F32, d.lanes() * (if reverse { nc } else { nc + 1 }) * d.k * d.v)?;
    if d.lanes() * d.k * d.v == 0 {
        return Ok(hs);
    }
    let [s0p, has] = s0;
    let mut args = vec![hs.arg(), fin, s0p, has, a, y, gc.arg()];
    args.extend(d.ints());
    args.extend([
        KernelArg::I32(c as i32),
        KernelArg::F32(scale as f32),
        KernelArg::I32(reverse as i32),
    ]);
    let shared = ((32 * c + c * d.v + 32) * 4) as u32;
    let dims = LaunchDims {
        grid: [d.k.div_ceil(32) as u32, d.lanes() as u32, 1],
        block: [256, 1, 1],
        shared,
    };
    gpu.launch(KERNELS.entry("gla_chunk_h")?, dims, &args)?;
    Ok(hs)
}

/// The chunked forward's first two passes: the gates summed inside chunks (`gla_cumsum`) and
/// the states at every chunk boundary (`gla_chunk_h` over `(k, v)` from `s0`), the final
/// state into `fin` (a pointer, or null).
fn states(
    gpu: &GpuDevice,
    x: &Inputs,
    [k, v]: [&KernelArg; 2],
    fin: KernelArg,
    d: Dims,
    c: usize,
    scale: f64,
) -> Result<(GpuStorage, GpuStorage)> {
    let gc = cumsum(gpu, x, d, c)?;
    let s0 = s0_arg("gla_chunk_h", x, d)?;
    let hs = chunk_h(gpu, s0, k.clone(), v.clone(), &gc, fin, d, c, scale, false)?;
    Ok((gc, hs))
}

fn rec_shared(d: Dims, size: usize) -> u32 {
    ((3 * REC_TS * d.k + 2 * REC_TS * 32 + REC_TS * 16 * 32) * size) as u32
}

fn rec_check(kernel: &str, d: Dims) -> Result<()> {
    if d.k > MAX_REC_K {
        bail!("ptx", "{kernel}: key dim {} is over the {MAX_REC_K} the recurrent kernels take", d.k)
    }
    Ok(())
}

fn scalar(cd: DType, x: f64) -> KernelArg {
    if cd == DType::F64 {
        KernelArg::F64(x)
    } else {
        KernelArg::F32(x as f32)
    }
}

/// The forward: `o [B, T, H, V]` and the final state `sf [B, H, K, V]` (fresh outputs, both of
/// the compute dtype, f32 or f64). `chunk`: `Some(C)` for the chunked form, `None` for the
/// recurrent one.
pub fn forward(
    o: Operand,
    sf: Operand,
    x: &Inputs,
    scale: f64,
    chunk: Option<usize>,
) -> Result<()> {
    let cd = o.dtype();
    let d = dims("gla forward", x)?;
    let gpu = o.gpu();
    match form(chunk, cd, d) {
        Form::Chunked(c) => {
            let o_arg = o.out("gla_chunk_fwd_o", "o", &d.bthv(), DType::F32)?;
            let sf_arg = sf.out("gla_chunk_h", "final state", &d.bhkv(), DType::F32)?;
            let [q, k, v, _] = in_args("gla_chunk_fwd_o", x, d)?;
            let (gc, hs) = states(gpu, x, [&k, &v], sf_arg, d, c, scale)?;
            let nc = chunks(d, c);
            if nc * d.lanes() * d.v == 0 {
                return Ok(());
            }
            let mut args = vec![o_arg, q, k, v, gc.arg(), hs.arg()];
            args.extend(d.ints());
            args.extend([KernelArg::I32(c as i32), KernelArg::F32(scale as f32)]);
            let shared = ((64 * 64 + 6 * 64 * 32 + 6 * 32 + 32 * d.v) * 4) as u32;
            gpu.launch(
                KERNELS.entry("gla_chunk_fwd_o")?,
                LaunchDims { grid: [nc as u32, d.lanes() as u32, 1], block: [256, 1, 1], shared },
                &args,
            )
        }
        Form::Recurrent => {
            let kernel = if cd == DType::F64 { "gla_rec_fwd_f64" } else { "gla_rec_fwd_f32" };
            rec_check(kernel, d)?;
            let o_arg = o.out(kernel, "o", &d.bthv(), cd)?;
            let sf_arg = sf.out(kernel, "final state", &d.bhkv(), cd)?;
            let mut args = vec![
                o_arg,
                sf_arg,
                descriptor(kernel, &d.bhkv(), tensor::Layout::contiguous(d.bhkv()).strides(), 0)?,
            ];
            args.extend(in_args(kernel, x, d)?);
            args.extend(s0_arg(kernel, x, d)?);
            args.extend(d.ints());
            args.push(scalar(cd, scale));
            rec_launch(gpu, kernel, d, cd, &args)
        }
    }
}

/// Launches a recurrent kernel over grid (ceil(V/32), B*H) (nothing to do without lanes or
/// value columns).
fn rec_launch(gpu: &GpuDevice, kernel: &str, d: Dims, cd: DType, args: &[KernelArg]) -> Result<()> {
    if d.lanes() * d.v == 0 {
        return Ok(());
    }
    let dims = LaunchDims {
        grid: [d.v.div_ceil(32) as u32, d.lanes() as u32, 1],
        block: [512, 1, 1],
        shared: rec_shared(d, cd.size_in_bytes()),
    };
    gpu.launch(KERNELS.entry(kernel)?, dims, args)
}

/// The decoding step in place: advances `state [B, H, K, V]` (f32 or f64, read and written
/// through its view) by the recurrence over the `T` steps of `x` (which has no `s0`: the
/// state is it) and writes `o [B, T, H, V]` (fresh, the state's dtype).
pub fn step(state: Operand, o: Operand, x: &Inputs, scale: f64) -> Result<()> {
    let cd = state.dtype();
    let kernel = if cd == DType::F64 { "gla_rec_fwd_f64" } else { "gla_rec_fwd_f32" };
    let d = dims(kernel, x)?;
    rec_check(kernel, d)?;
    if cd != DType::F32 && cd != DType::F64 {
        bail!("ptx", "{kernel}: the state is {cd}; decoding states are f32 (or f64)")
    }
    let o_arg = o.out(kernel, "o", &d.bthv(), cd)?;
    let [sp, sv] = state.inplace(kernel, "state", &d.bhkv(), cd)?;
    let mut args = vec![o_arg, sp, sv];
    args.extend(in_args(kernel, x, d)?);
    args.extend([state.arg(kernel, "state", &d.bhkv())?, KernelArg::I32(1)]);
    args.extend(d.ints());
    args.push(scalar(cd, scale));
    rec_launch(state.gpu(), kernel, d, cd, &args)
}

/// Gradients wanted from [`backward`], each a fresh output of the compute dtype:
/// `dq, dk, dg [B, T, H, K]`, `dv [B, T, H, V]`, `ds0 [B, H, K, V]`.
#[derive(Clone, Copy, Default)]
pub struct Grads<'a> {
    pub dq: Option<Operand<'a>>,
    pub dk: Option<Operand<'a>>,
    pub dv: Option<Operand<'a>>,
    pub dg: Option<Operand<'a>>,
    pub ds0: Option<Operand<'a>>,
}

/// The backward of [`forward`] from the output gradient `dout [B, T, H, V]` and the final
/// state's `dsf [B, H, K, V]`. The compute dtype is that of `dout`.
pub fn backward(
    grads: Grads,
    x: &Inputs,
    dout: Operand,
    dsf: Operand,
    scale: f64,
    chunk: Option<usize>,
) -> Result<()> {
    let cd = super::operand::compute(dout.dtype()).0;
    let d = dims("gla backward", x)?;
    let gpu = dout.gpu();
    match form(chunk, cd, d) {
        Form::Chunked(c) => {
            let kb = "gla_chunk_bwd";
            let outs = [
                opt_out(kb, "dq", grads.dq, &d.bthk(), cd)?,
                opt_out(kb, "dk", grads.dk, &d.bthk(), cd)?,
                opt_out(kb, "dv", grads.dv, &d.bthv(), cd)?,
                opt_out(kb, "dg", grads.dg, &d.bthk(), cd)?,
            ];
            let ds0 = opt_out("gla_chunk_h", "ds0", grads.ds0, &d.bhkv(), cd)?;
            let [q, k, v, _] = in_args(kb, x, d)?;
            let dout_a = dout.arg(kb, "dO", &d.bthv())?;
            let dsf_a = dsf.arg("gla_chunk_h", "dS_T", &d.bhkv())?;
            let (gc, hs) = states(gpu, x, [&k, &v], KernelArg::Ptr(0), d, c, scale)?;
            let dhs = chunk_h(
                gpu,
                [dsf_a, KernelArg::I32(1)],
                q.clone(),
                dout_a.clone(),
                &gc,
                ds0,
                d,
                c,
                scale,
                true,
            )?;
            let nc = chunks(d, c);
            if nc * d.lanes() == 0 {
                return Ok(());
            }
            let mut args = outs.to_vec();
            args.extend([q, k, v, dout_a, gc.arg(), hs.arg(), dhs.arg()]);
            args.extend(d.ints());
            args.extend([KernelArg::I32(c as i32), KernelArg::F32(scale as f32)]);
            let shared = ((192 * d.v + 64 * 64 + 8 * 64 * 32 + 6 * 32) * 4) as u32;
            gpu.launch(
                KERNELS.entry(kb)?,
                LaunchDims { grid: [nc as u32, d.lanes() as u32, 1], block: [256, 1, 1], shared },
                &args,
            )
        }
        Form::Recurrent => {
            let is64 = cd == DType::F64;
            let (kb, ks) = if is64 {
                ("gla_rec_bwd_f64", "gla_rec_bwd_sum_f64")
            } else {
                ("gla_rec_bwd_f32", "gla_rec_bwd_sum_f32")
            };
            rec_check(kb, d)?;
            let nv = d.v.div_ceil(32);
            let nseg = d.t.div_ceil(REC_SEGMENT);
            let part = gpu.storage(cd, 3 * nv * d.lanes() * d.t * d.k)?;
            let ck = gpu.storage(cd, d.lanes() * nseg * d.k * d.v)?;
            let seg = gpu.storage(cd, d.lanes() * (REC_SEGMENT + 1) * d.k * d.v)?;
            let mut args = vec![
                opt_out(kb, "dv", grads.dv, &d.bthv(), cd)?,
                opt_out(kb, "ds0", grads.ds0, &d.bhkv(), cd)?,
                part.arg(),
                ck.arg(),
                seg.arg(),
            ];
            args.extend(in_args(kb, x, d)?);
            args.extend(s0_arg(kb, x, d)?);
            args.extend([dout.arg(kb, "dO", &d.bthv())?, dsf.arg(kb, "dS_T", &d.bhkv())?]);
            args.extend(d.ints());
            args.extend([KernelArg::I32(REC_SEGMENT as i32), scalar(cd, scale)]);
            rec_launch(gpu, kb, d, cd, &args)?;
            let n = d.lanes() * d.t * d.k;
            if n == 0 {
                return Ok(());
            }
            let mut args = vec![
                opt_out(ks, "dq", grads.dq, &d.bthk(), cd)?,
                opt_out(ks, "dk", grads.dk, &d.bthk(), cd)?,
                opt_out(ks, "dg", grads.dg, &d.bthk(), cd)?,
                part.arg(),
            ];
            args.push(x.g.arg(ks, "g", &d.bthk())?);
            args.extend([d.b, d.t, d.h, d.k, nv].map(|x| KernelArg::I32(x as i32)));
            args.push(scalar(cd, scale));
            gpu.launch(KERNELS.entry(ks)?, grid_stride(n), &args)
        }
    }
}
