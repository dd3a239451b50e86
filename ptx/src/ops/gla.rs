//! Gated linear attention (`kernels/gla.cu`), for `lawcat::ops::gla`'s GlaForward,
//! GlaBackwardOp and GlaStep.
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

use super::operand::{in4, inplace, output, view4, Operand};
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

/// Every entry the launchers use (tested against the module).
pub const ENTRIES: &[&str] = &[
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
];

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
    let qd = x.q.1.dims();
    if qd.len() != 4
        || x.k.1.dims() != qd
        || x.g.1.dims() != qd
        || x.v.1.dims().len() != 4
        || x.v.1.dims()[..3] != qd[..3]
    {
        bail!("ptx", "{kernel}: expects q, k, g [B, T, H, K] and v [B, T, H, V]; got q {qd:?}, k {:?}, v {:?}, g {:?}", x.k.1.dims(), x.v.1.dims(), x.g.1.dims())
    }
    let d = Dims { b: qd[0], t: qd[1], h: qd[2], k: qd[3], v: x.v.1.dims()[3] };
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
        in4(kernel, "q", x.q, &d.bthk())?,
        in4(kernel, "k", x.k, &d.bthk())?,
        in4(kernel, "v", x.v, &d.bthv())?,
        in4(kernel, "g", x.g, &d.bthk())?,
    ])
}

/// `s0` as an In4 and its flag (`q` stands in, unread, when there is none).
fn s0_arg(kernel: &str, x: &Inputs, d: Dims) -> Result<[KernelArg; 2]> {
    Ok(match x.s0 {
        Some(s) => [in4(kernel, "initial state", s, &d.bhkv())?, KernelArg::I32(1)],
        None => [in4(kernel, "q", x.q, &d.bthk())?, KernelArg::I32(0)],
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
        Some(o) => output(kernel, what, o, dims, dt),
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
            in4("gla_cumsum", "g", x.g, &d.bthk())?,
            KernelArg::I32(d.b as i32),
            KernelArg::I32(d.t as i32),
            KernelArg::I32(d.h as i32),
            KernelArg::I32(d.k as i32),
            KernelArg::I32(c as i32),
        ];
        gpu.launch("gla", "gla_cumsum", grid_stride(n), &args)?;
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
    gpu.launch("gla", "gla_chunk_h", dims, &args)?;
    Ok(hs)
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
    let cd = o.0.dtype();
    let d = dims("gla forward", x)?;
    let gpu = o.0.gpu();
    match form(chunk, cd, d) {
        Form::Chunked(c) => {
            let o_arg = output("gla_chunk_fwd_o", "o", o, &d.bthv(), DType::F32)?;
            let sf_arg = output("gla_chunk_h", "final state", sf, &d.bhkv(), DType::F32)?;
            let [q, k, v, _] = in_args("gla_chunk_fwd_o", x, d)?;
            let gc = cumsum(gpu, x, d, c)?;
            let hs = chunk_h(
                gpu,
                s0_arg("gla_chunk_h", x, d)?,
                k.clone(),
                v.clone(),
                &gc,
                sf_arg,
                d,
                c,
                scale,
                false,
            )?;
            let nc = chunks(d, c);
            if nc * d.lanes() * d.v == 0 {
                return Ok(());
            }
            let mut args = vec![o_arg, q, k, v, gc.arg(), hs.arg()];
            args.extend(d.ints());
            args.extend([KernelArg::I32(c as i32), KernelArg::F32(scale as f32)]);
            let shared = ((64 * 64 + 6 * 64 * 32 + 6 * 32 + 32 * d.v) * 4) as u32;
            gpu.launch(
                "gla",
                "gla_chunk_fwd_o",
                LaunchDims { grid: [nc as u32, d.lanes() as u32, 1], block: [256, 1, 1], shared },
                &args,
            )
        }
        Form::Recurrent => {
            let kernel = if cd == DType::F64 { "gla_rec_fwd_f64" } else { "gla_rec_fwd_f32" };
            rec_check(kernel, d)?;
            let o_arg = output(kernel, "o", o, &d.bthv(), cd)?;
            let sf_arg = output(kernel, "final state", sf, &d.bhkv(), cd)?;
            let mut args = vec![
                o_arg,
                sf_arg,
                view4(
                    kernel,
                    "final state",
                    &tensor::Layout::contiguous(d.bhkv()),
                    sf.0.len() - sf.1.offset(),
                )?,
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
fn rec_launch(
    gpu: &GpuDevice,
    kernel: &'static str,
    d: Dims,
    cd: DType,
    args: &[KernelArg],
) -> Result<()> {
    if d.lanes() * d.v == 0 {
        return Ok(());
    }
    let dims = LaunchDims {
        grid: [d.v.div_ceil(32) as u32, d.lanes() as u32, 1],
        block: [512, 1, 1],
        shared: rec_shared(d, cd.size_in_bytes()),
    };
    gpu.launch("gla", kernel, dims, args)
}

/// The decoding step in place: advances `state [B, H, K, V]` (f32 or f64, read and written
/// through its view) by the recurrence over the `T` steps of `x` (which has no `s0`: the
/// state is it) and writes `o [B, T, H, V]` (fresh, the state's dtype).
pub fn step(state: Operand, o: Operand, x: &Inputs, scale: f64) -> Result<()> {
    let cd = state.0.dtype();
    let kernel = if cd == DType::F64 { "gla_rec_fwd_f64" } else { "gla_rec_fwd_f32" };
    let d = dims(kernel, x)?;
    rec_check(kernel, d)?;
    if cd != DType::F32 && cd != DType::F64 {
        bail!("ptx", "{kernel}: the state is {cd}; decoding states are f32 (or f64)")
    }
    let o_arg = output(kernel, "o", o, &d.bthv(), cd)?;
    let [sp, sv] = inplace(kernel, "state", state, &d.bhkv(), cd)?;
    let mut args = vec![o_arg, sp, sv];
    args.extend(in_args(kernel, x, d)?);
    args.extend([in4(kernel, "state", state, &d.bhkv())?, KernelArg::I32(1)]);
    args.extend(d.ints());
    args.push(scalar(cd, scale));
    rec_launch(state.0.gpu(), kernel, d, cd, &args)
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
    let cd = super::operand::compute(dout.0.dtype()).0;
    let d = dims("gla backward", x)?;
    let gpu = dout.0.gpu();
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
            let dout_a = in4(kb, "dO", dout, &d.bthv())?;
            let dsf_a = in4("gla_chunk_h", "dS_T", dsf, &d.bhkv())?;
            let gc = cumsum(gpu, x, d, c)?;
            let hs = chunk_h(
                gpu,
                s0_arg("gla_chunk_h", x, d)?,
                k.clone(),
                v.clone(),
                &gc,
                KernelArg::Ptr(0),
                d,
                c,
                scale,
                false,
            )?;
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
                "gla",
                kb,
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
            args.extend([in4(kb, "dO", dout, &d.bthv())?, in4(kb, "dS_T", dsf, &d.bhkv())?]);
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
            args.push(in4(ks, "g", x.g, &d.bthk())?);
            args.extend([d.b, d.t, d.h, d.k, nv].map(|x| KernelArg::I32(x as i32)));
            args.push(scalar(cd, scale));
            gpu.launch("gla", ks, grid_stride(n), &args)
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_entry_is_in_the_module() {
        let entries = crate::modules::entries(crate::modules::text("gla").unwrap());
        for e in super::ENTRIES {
            assert!(entries.contains(e), "{e} missing from gla.ptx");
        }
    }
}
