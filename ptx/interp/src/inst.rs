//! The decoded instruction form: what the parser produces and the executor runs.
//!
//! Every register name is resolved to an index into the thread's register file, every label
//! to an instruction index, every symbol to an offset in its state space, and every literal
//! to the bits of the instruction's type, so running an instruction is a `match` and a few
//! array reads. Each instruction family's operands are a type in its own file under `ops/`.

use super::ops;
use super::types::Sreg;

/// A register: an index into one thread's register file (all registers hold 64 raw bits;
/// predicates hold 0 or 1).
pub type Reg = u32;

/// A source operand.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Src {
    Reg(Reg),
    /// A literal, already converted to the bits of the instruction's type.
    Imm(u64),
    Sreg(Sreg),
    /// The address of a variable in a state space (`mov.u64 %rd, smem;`).
    Symbol(Base),
}

/// The base of an address operand `[base+offset]` (ISA 6.4 "Addresses as Operands").
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Base {
    /// A register holding an address in the instruction's state space (or generic).
    Reg(Reg),
    /// No base: the offset is the whole address.
    Absolute,
    /// A `.shared` variable at this offset of the block's shared memory.
    Shared(u32),
    /// The `.extern .shared` array: starts after the static shared variables.
    DynShared,
    /// A `.param` of the function (or one declared in its body for a call), at this byte
    /// offset of the current frame's parameter space.
    Param(u32),
    /// A `.local` variable at this offset of the current function's frame of the thread's
    /// local memory.
    Local(u32),
    /// A module-scope `.global` or `.const` variable: its index in [`crate::Module::variables`]
    /// (its address is the one the machine gave it when it loaded the module).
    Var(u32),
    /// A function (`mov.u64 %rd, f;` takes its address, for an indirect `call`): its index in
    /// [`crate::Module::functions`].
    Func(u32),
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Addr {
    pub base: Base,
    pub offset: i64,
}

/// A guard `@p` / `@!p`: the instruction runs only when the predicate is true (false).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Guard {
    pub reg: Reg,
    pub negate: bool,
}

/// One instruction, decoded, one variant per family (each family's file says what it
/// implements).
#[derive(Clone, Debug)]
pub enum Op {
    Data(ops::data_movement::DataOp),
    Int(ops::int::IntOp),
    Float(ops::float::FloatOp),
    Cvt(ops::convert::CvtOp),
    Cmp(ops::compare::CmpOp),
    Control(ops::control::ControlOp),
    Sync(ops::sync::SyncOp),
    Warp(ops::warp::WarpOp),
    Atomic(ops::atomic::AtomOp),
    TensorCore(Box<ops::tensor_core::TcOp>),
    Async(ops::async_copy::AsyncOp),
    Carry(ops::carry::CarryOp),
    /// An instruction the interpreter cannot run (its text parses, but the opcode, a modifier
    /// or an operand is not supported): kept, so that the module loads, and a launch fails
    /// only when a thread reaches it, with this message.
    Unsupported(Box<String>),
}

impl Op {
    /// Calls `f(reg, is_def)` for every register the instruction reads (`false`) or writes
    /// (`true`); the checker's uninitialised-register test and the register-definition
    /// tracking run on this, not inside the semantics.
    pub fn visit_regs(&self, f: &mut dyn FnMut(Reg, bool)) {
        match self {
            Op::Data(o) => o.visit_regs(f),
            Op::Int(o) => o.visit_regs(f),
            Op::Float(o) => o.visit_regs(f),
            Op::Cvt(o) => o.visit_regs(f),
            Op::Cmp(o) => o.visit_regs(f),
            Op::Control(o) => o.visit_regs(f),
            Op::Sync(o) => o.visit_regs(f),
            Op::Warp(o) => o.visit_regs(f),
            Op::Atomic(o) => o.visit_regs(f),
            Op::TensorCore(o) => o.visit_regs(f),
            Op::Async(o) => o.visit_regs(f),
            Op::Carry(o) => o.visit_regs(f),
            Op::Unsupported(_) => {}
        }
    }
}

/// Visits a source operand's register, if it has one.
pub fn use_src(s: &Src, f: &mut dyn FnMut(Reg, bool)) {
    if let Src::Reg(r) = s {
        f(*r, false);
    }
}

/// Visits an address operand's base register, if it has one.
pub fn use_addr(a: &Addr, f: &mut dyn FnMut(Reg, bool)) {
    if let Base::Reg(r) = a.base {
        f(r, false);
    }
}

#[derive(Clone, Debug)]
pub struct Inst {
    pub op: Op,
    pub guard: Option<Guard>,
    /// The line in the PTX file.
    pub line: u32,
}

#[cfg(test)]
mod tests {
    #[test]
    fn decoded_instructions_stay_small() {
        // Instructions are read once per thread per step: keep them within two cache lines.
        assert!(
            std::mem::size_of::<super::Inst>() <= 128,
            "{}",
            std::mem::size_of::<super::Inst>()
        );
    }
}
