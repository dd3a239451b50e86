//! The instruction families, one file each: each file has the family's decoded form, its
//! parser (syntax as in the ISA) and its semantics, with the ISA section it implements.
//! `syscall.rs` is no instruction family: it runs the functions a `call` reaches that the
//! driver provides (`vprintf`, `malloc`, `free`, `__assertfail`).
//!
//! The dispatcher below picks the family by opcode (and, for `add sub mul mad min max ...`,
//! by type: integer, float, or extended precision with `.cc`). A family whose parser refuses
//! an instruction is not an error here: the module keeps it as [`Op::Unsupported`] and a
//! launch fails when a thread reaches it ([`Flow::Unsupported`]).

pub mod async_copy;
pub mod atomic;
pub mod carry;
pub mod compare;
pub mod control;
pub mod convert;
pub mod data_movement;
pub mod float;
pub mod int;
pub mod sync;
pub mod syscall;
pub mod tensor_core;
pub mod warp;

use super::ctx::Ctx;
use super::exec::{Flow, Group};
use super::inst::Op;
use super::operands::{Mods, Operands};

/// Decodes one instruction by its opcode, with its family's parser. An error means the
/// interpreter cannot run the instruction (an unknown opcode, an unsupported modifier or
/// operand form); the module parser keeps it as [`Op::Unsupported`] with the message, so
/// only launches that reach it fail.
pub fn parse(m: &mut Mods, o: &mut Operands) -> Result<Op, String> {
    let b = m.base;
    let in_list = |l: &[&str]| l.contains(&b);
    if carry::is_carry(m) {
        carry::parse(m, o)
    } else if in_list(float::OPCODES)
        && (!in_list(int::OPCODES) || m.peek_ty().is_some_and(|t| t.is_float()))
    {
        float::parse(m, o)
    } else if in_list(int::OPCODES) {
        int::parse(m, o)
    } else if in_list(data_movement::OPCODES) {
        data_movement::parse(m, o)
    } else if in_list(convert::OPCODES) {
        convert::parse(m, o)
    } else if in_list(compare::OPCODES) {
        compare::parse(m, o)
    } else if in_list(control::OPCODES) {
        control::parse(m, o)
    } else if in_list(sync::OPCODES) {
        sync::parse(m, o)
    } else if in_list(warp::OPCODES) {
        warp::parse(m, o)
    } else if in_list(atomic::OPCODES) {
        atomic::parse(m, o)
    } else if in_list(tensor_core::OPCODES) {
        tensor_core::parse(m, o)
    } else if in_list(async_copy::OPCODES) {
        async_copy::parse(m, o)
    } else {
        Err(format!("unsupported instruction `{b}`"))
    }
}

/// Runs one instruction for one thread.
#[inline]
pub fn exec(op: &Op, cx: &mut Ctx) -> Flow {
    match op {
        Op::Data(o) => data_movement::exec(o, cx),
        Op::Int(o) => int::exec(o, cx),
        Op::Float(o) => float::exec(o, cx),
        Op::Cvt(o) => convert::exec(o, cx),
        Op::Cmp(o) => compare::exec(o, cx),
        Op::Control(o) => control::exec(o, cx),
        Op::Sync(o) => sync::exec(o, cx),
        Op::Warp(o) => warp::exec(o, cx),
        Op::Atomic(o) => atomic::exec(o, cx),
        Op::TensorCore(o) => tensor_core::exec(o, cx),
        Op::Async(o) => async_copy::exec(o, cx),
        Op::Carry(o) => carry::exec(o, cx),
        Op::Unsupported(_) => Flow::Unsupported,
    }
}

/// Runs a gathered warp collective (only the families whose `exec` returns
/// [`Flow::Collective`] do anything here).
pub fn collective(op: &Op, g: &mut Group) {
    match op {
        Op::Sync(o) => sync::collective(o, g),
        Op::Warp(o) => warp::collective(o, g),
        Op::TensorCore(o) => tensor_core::collective(o, g),
        Op::Data(_)
        | Op::Int(_)
        | Op::Float(_)
        | Op::Cvt(_)
        | Op::Cmp(_)
        | Op::Control(_)
        | Op::Atomic(_)
        | Op::Async(_)
        | Op::Carry(_)
        | Op::Unsupported(_) => {}
    }
}
