//! Control flow (PTX ISA, "Control Flow Instructions": `bra`, `call`, `ret`, `exit`; and
//! `trap`, from "Miscellaneous Instructions").
//!
//! Each thread has its own program counter (independent thread scheduling, sm_70 and
//! later), so a divergent branch needs no reconvergence stack: threads simply continue at
//! their own instruction, and meet again where a barrier or a warp collective makes them
//! wait for each other. `bra.uni` promises the branch does not diverge; it runs like `bra`.
//!
//! `call{.uni} (ret), f, (a, b);` ("call"): the arguments are `.param` variables of the
//! caller (or, outside the ABI, registers and constants), copied into the callee's parameters
//! in order, each taking the callee parameter's size; the thread then runs `f` in a fresh
//! *frame*: its own registers (none written yet), its own `.param` space (the parameters,
//! then what its body declares) and its own `.local` variables (nvcc's `__local_depot`,
//! addressed through `%SPL`/`%SP`). `ret` ("ret") copies the callee's return parameters into
//! the caller's `ret` operands and resumes the caller after its `call`; `ret` in a kernel
//! ends the thread, like `exit` ("exit"; what `exit` does to barriers the threads left behind
//! wait at is the scheduler's, `exec.rs`). An indirect call `call (ret), %rd, (a), proto;`
//! takes a function's address (`mov.u64 %rd, f;`, or a table initialised with `{f, g}`);
//! `proto` (a `.callprototype`) or a `.calltargets` list only describes the possible callees.
//! A call to a function the module only declares is a system call (`syscall.rs`) or fails
//! the launch. The frames themselves (the stack) are the executor's, `exec.rs`.
//!
//! `trap` ("trap") aborts the kernel: the launch fails, naming the thread.

use super::super::ctx::Ctx;
use super::super::exec::Flow;
use super::super::inst::{use_src, Base, Op, Reg, Src};
use super::super::memory::FUNC_WINDOW;
use super::super::module::{Function, Param};
use super::super::operands::{Mods, Operands};
use super::super::types::Ty;

#[derive(Clone, Debug)]
pub enum ControlOp {
    /// A branch to an instruction index (a label id while parsing).
    Bra {
        target: u32,
    },
    Call(Box<CallOp>),
    Ret,
    Exit,
    Trap,
}

/// `call (rets), callee, (args)`.
#[derive(Clone, Debug)]
pub struct CallOp {
    pub callee: Callee,
    /// Where the return values go: `.param` variables of the caller, or registers.
    pub rets: Vec<Src>,
    pub args: Vec<Src>,
}

#[derive(Clone, Copy, Debug)]
pub enum Callee {
    /// A function of the module, by index.
    Direct(u32),
    /// A register holding a function's address.
    Indirect(Src),
}

pub const OPCODES: &[&str] = &["bra", "ret", "exit", "call", "trap"];

pub fn parse(m: &mut Mods, o: &mut Operands) -> Result<Op, String> {
    let op = match m.base {
        "bra" => {
            m.has("uni");
            ControlOp::Bra { target: o.label()? }
        }
        "ret" => {
            m.has("uni");
            ControlOp::Ret
        }
        "exit" => ControlOp::Exit,
        "trap" => ControlOp::Trap,
        _ => {
            m.has("uni");
            // call (rets), f, (args), proto;  with (rets) and (args) optional.
            let rets = if o.is_punct('(') {
                let r = o.paren_list(Ty::B64)?;
                o.comma()?;
                r
            } else {
                vec![]
            };
            let name = o.word()?;
            let callee = match (o.res.function(name), o.res.reg(name)) {
                (Some(f), _) => Callee::Direct(f),
                (None, Some(r)) => Callee::Indirect(Src::Reg(r)),
                (None, None) => {
                    return Err(format!("call: `{name}` is not a declared function or register"))
                }
            };
            let mut args = vec![];
            if o.eat(',') {
                if o.is_punct('(') {
                    args = o.paren_list(Ty::B64)?;
                    if o.eat(',') {
                        o.word()?;
                    }
                } else {
                    o.word()?;
                }
            }
            for s in rets.iter().chain(&args) {
                if !matches!(s, Src::Reg(_) | Src::Imm(_) | Src::Symbol(Base::Param(_))) {
                    return Err("call: arguments and return values must be .param variables, \
                         registers or constants"
                        .into());
                }
            }
            ControlOp::Call(Box::new(CallOp { callee, rets, args }))
        }
    };
    Ok(Op::Control(op))
}

impl ControlOp {
    pub fn visit_regs(&self, f: &mut dyn FnMut(Reg, bool)) {
        if let ControlOp::Call(c) = self {
            if let Callee::Indirect(s) = &c.callee {
                use_src(s, f);
            }
            c.args.iter().for_each(|s| use_src(s, f));
            // Registers receiving return values are written by the `ret`, not the `call`:
            // the executor marks them then.
        }
    }

    /// The branch target, to patch label ids into instruction indices after parsing.
    pub fn label_mut(&mut self) -> Option<&mut u32> {
        match self {
            ControlOp::Bra { target } => Some(target),
            ControlOp::Call(_) | ControlOp::Ret | ControlOp::Exit | ControlOp::Trap => None,
        }
    }
}

/// The function index a function address names (addresses are `FUNC_WINDOW + 16 * index`).
pub fn function_at(addr: u64, n_functions: usize) -> Option<u32> {
    let off = addr.checked_sub(FUNC_WINDOW)?;
    (off % 16 == 0 && off / 16 < n_functions as u64).then_some((off / 16) as u32)
}

/// The address of function `index`.
pub fn function_addr(index: u32) -> u64 {
    FUNC_WINDOW + 16 * index as u64
}

pub fn exec(op: &ControlOp, cx: &mut Ctx) -> Flow {
    match op {
        ControlOp::Bra { target } => Flow::Jump(*target),
        ControlOp::Call(c) => match c.callee {
            Callee::Direct(f) => Flow::Call { func: f },
            Callee::Indirect(s) => {
                let a = cx.get(&s);
                match function_at(a, cx.env.n_functions) {
                    Some(f) => Flow::Call { func: f },
                    None => Flow::BadCall { addr: a },
                }
            }
        },
        ControlOp::Ret => Flow::Ret,
        ControlOp::Exit => Flow::Exit,
        ControlOp::Trap => Flow::Trap,
    }
}

/// Checks that a call fits its callee: as many arguments as parameters, at most as many
/// return operands as return values.
pub fn check_signature(c: &CallOp, callee: &Function) -> Result<(), String> {
    if c.args.len() != callee.params.len() {
        return Err(format!(
            "call to {} passes {} arguments, but it takes {}",
            callee.name,
            c.args.len(),
            callee.params.len()
        ));
    }
    if c.rets.len() > callee.returns.len() {
        return Err(format!(
            "call to {} expects {} return values, but it returns {}",
            callee.name,
            c.rets.len(),
            callee.returns.len()
        ));
    }
    Ok(())
}

/// The bytes an argument or return operand holds in the caller: a `.param` variable is read
/// from the caller's parameter space by `read_param(offset, buf)`; a register or constant
/// gives its low bytes.
fn operand_bytes(
    s: &Src,
    p: &Param,
    value: &dyn Fn(&Src) -> u64,
    read_param: &mut dyn FnMut(u32, &mut [u8]),
) -> Vec<u8> {
    let n = p.bytes() as usize;
    let mut buf = vec![0u8; n];
    match s {
        Src::Symbol(Base::Param(o)) => read_param(*o, &mut buf),
        _ => {
            let v = value(s).to_le_bytes();
            let k = n.min(8);
            buf[..k].copy_from_slice(&v[..k]);
        }
    }
    buf
}

/// `call`: the arguments, as the callee's parameters see them: `(offset, bytes)` in its
/// frame's parameter space.
pub fn arguments(
    c: &CallOp,
    callee: &Function,
    value: &dyn Fn(&Src) -> u64,
    read_param: &mut dyn FnMut(u32, &mut [u8]),
) -> Vec<(u32, Vec<u8>)> {
    c.args
        .iter()
        .zip(&callee.params)
        .map(|(s, p)| (p.offset, operand_bytes(s, p, value, read_param)))
        .collect()
}

/// Where a return value lands in the caller.
pub enum RetDest {
    /// At this offset of the caller's parameter space.
    Param(u32),
    Reg(Reg),
}

/// `ret` from a `.func`: for each return operand of the `call`, the callee's return value
/// (offset and size in the callee's parameter space) and where it lands in the caller.
pub fn return_values(c: &CallOp, callee: &Function) -> Vec<(u32, u32, RetDest)> {
    c.rets
        .iter()
        .zip(&callee.returns)
        .filter_map(|(s, p)| {
            let dest = match s {
                Src::Symbol(Base::Param(o)) => RetDest::Param(*o),
                Src::Reg(r) => RetDest::Reg(*r),
                _ => return None,
            };
            Some((p.offset, p.bytes(), dest))
        })
        .collect()
}
