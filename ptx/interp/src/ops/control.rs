//! Control flow (PTX ISA, "Control Flow Instructions: bra, ret, exit"; `call` is not
//! supported).
//!
//! Each thread has its own program counter (independent thread scheduling, sm_70 and
//! later), so a divergent branch needs no reconvergence stack: threads simply continue at
//! their own instruction, and meet again where a barrier or a warp collective makes them
//! wait for each other. `bra.uni` promises the branch does not diverge; it runs like `bra`.
//! `ret` in a kernel ends the thread like `exit`.

use super::super::ctx::Ctx;
use super::super::exec::Flow;
use super::super::inst::{Op, Reg};
use super::super::operands::{Mods, Operands};

#[derive(Clone, Debug)]
pub enum ControlOp {
    /// A branch to an instruction index (a label id while parsing).
    Bra {
        target: u32,
    },
    Exit,
}

pub const OPCODES: &[&str] = &["bra", "ret", "exit", "call"];

pub fn parse(m: &mut Mods, o: &mut Operands) -> Result<Op, String> {
    let op = match m.base {
        "bra" => {
            m.has("uni");
            ControlOp::Bra { target: o.label()? }
        }
        "ret" | "exit" => {
            m.has("uni");
            ControlOp::Exit
        }
        _ => return Err("call is not supported by the interpreter (inline the .func)".into()),
    };
    Ok(Op::Control(op))
}

impl ControlOp {
    pub fn visit_regs(&self, _f: &mut dyn FnMut(Reg, bool)) {}

    /// The branch target, to patch label ids into instruction indices after parsing.
    pub fn label_mut(&mut self) -> Option<&mut u32> {
        match self {
            ControlOp::Bra { target } => Some(target),
            ControlOp::Exit => None,
        }
    }
}

pub fn exec(op: &ControlOp, _cx: &mut Ctx) -> Flow {
    match op {
        ControlOp::Bra { target } => Flow::Jump(*target),
        ControlOp::Exit => Flow::Exit,
    }
}
