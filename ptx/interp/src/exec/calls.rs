//! Calls and returns (`ops/control.rs` says what passes between the frames): the thread's
//! stack of frames, pushed by `call` and popped by `ret`, and calls to functions the module
//! only declares (system calls, `ops/syscall.rs`).

use super::super::check::Who;
use super::super::ctx::{self, BlockEnv, FrameBase};
use super::super::error::LaunchError;
use super::super::inst::{Op, Src};
use super::super::module::Function;
use super::super::ops;
use super::super::ops::control::{CallOp, ControlOp, RetDest};
use super::{BlockRun, Saved};

impl BlockRun<'_, '_, '_> {
    /// Thread `t` runs the `call` at `pc` to function `func`.
    pub(super) fn call(&mut self, t: u32, pc: u32, func: u32) -> Result<(), LaunchError> {
        let who = Who { thread: t, pc };
        let Op::Control(ControlOp::Call(c)) = &self.code.insts[pc as usize].op else {
            unreachable!("Flow::Call comes from a call")
        };
        let c: &CallOp = c;
        let callee = &self.module.functions[func as usize];
        if let Err(e) = ops::control::check_signature(c, callee) {
            let site = self.env.check.site(who);
            return Err(self.kernel_err(format!("{site}: {e}")));
        }
        let args = {
            let th = &self.threads[t as usize];
            let env = &*self.env;
            let value = |s: &Src| match s {
                Src::Reg(r) => th.regs[*r as usize],
                Src::Imm(v) => *v,
                Src::Sreg(sr) => ctx::sreg(&env.geo, t, env.clock, *sr),
                Src::Symbol(b) => ctx::symbol_addr(env, th.frame, *b),
            };
            let base = th.frame.param;
            ops::control::arguments(c, callee, &value, &mut |o, buf| {
                read_param(env, t, base as u64 + o as u64, buf)
            })
        };
        let Some(body) = callee.body.clone() else {
            return self.system_call(t, pc, c, callee, args);
        };
        let depth = self.threads[t as usize].callers.len();
        if depth + 1 >= self.limits.call_depth {
            let site = self.env.check.site(who);
            return Err(self.kernel_err(format!(
                "{site}: call to {}: {} calls deep, over the limit of {} (endless recursion? \
                 Machine::set_call_depth_limit raises it; a GPU's stack, 1 KiB per thread by \
                 default, usually ends it sooner)",
                callee.name,
                depth + 1,
                self.limits.call_depth
            )));
        }
        let base = self.env.param_stack_base as usize;
        let th = &mut self.threads[t as usize];
        let local = &mut self.env.local[t as usize];
        let params = &mut self.env.param_stack[t as usize];
        // The callee's registers: a returned frame's buffer if there is one, zeroed (none
        // written yet).
        let mut regs = th.spare.pop().unwrap_or_default();
        regs.clear();
        regs.resize(callee.n_regs as usize, 0);
        let mut defined = vec![];
        if self.checking {
            defined = th.spare.pop().unwrap_or_default();
            defined.clear();
            defined.resize((callee.n_regs as usize).div_ceil(64).max(1), 0);
        }
        let saved = Saved {
            func: th.func,
            call_pc: pc,
            regs: std::mem::replace(&mut th.regs, regs),
            defined: std::mem::replace(&mut th.defined, defined),
            frame: th.frame,
            local_top: local.len(),
            param_top: params.len(),
        };
        // The callee's parameter and local spaces, 16-byte aligned.
        let param_at = (base + params.len()).next_multiple_of(16);
        params.resize(param_at - base + callee.frame_param_bytes as usize, 0);
        for (off, bytes) in args {
            let o = param_at - base + off as usize;
            params[o..o + bytes.len()].copy_from_slice(&bytes);
        }
        let local_at = local.len().next_multiple_of(16);
        local.resize(local_at + callee.local_bytes as usize, 0);
        th.frame = FrameBase { local: local_at as u32, param: param_at as u32 };
        th.func = func;
        th.pc = body.start;
        th.callers.push(saved);
        self.env.check.enter_call(t, pc, func);
        Ok(())
    }

    /// `ret` from a `.func`: return values to the caller, pop the frame.
    pub(super) fn ret(&mut self, t: u32) {
        if self.checking {
            let depth = self.threads[t as usize].callers.len();
            self.drop_taints(t, depth);
        }
        let base = self.env.param_stack_base as usize;
        let th = &mut self.threads[t as usize];
        let Some(saved) = th.callers.pop() else { return };
        let callee = &self.module.functions[th.func as usize];
        let Op::Control(ControlOp::Call(c)) = &self.code.insts[saved.call_pc as usize].op else {
            unreachable!("frames are entered by calls")
        };
        let values = ops::control::return_values(c, callee);
        let params = &mut self.env.param_stack[t as usize];
        let from = th.frame.param as usize - base;
        let mut reg_writes = vec![];
        for (off, size, dest) in values {
            let src = from + off as usize;
            let bytes = params[src..src + size as usize].to_vec();
            match dest {
                RetDest::Param(o) => {
                    let at = saved.frame.param as usize + o as usize;
                    if at >= base && at - base + bytes.len() <= saved.param_top {
                        params[at - base..at - base + bytes.len()].copy_from_slice(&bytes);
                    }
                }
                RetDest::Reg(r) => {
                    let mut w = [0u8; 8];
                    let k = bytes.len().min(8);
                    w[..k].copy_from_slice(&bytes[..k]);
                    reg_writes.push((r, u64::from_le_bytes(w)));
                }
            }
        }
        params.truncate(saved.param_top);
        self.env.local[t as usize].truncate(saved.local_top);
        let regs = std::mem::replace(&mut th.regs, saved.regs);
        let defined = std::mem::replace(&mut th.defined, saved.defined);
        th.spare.push(regs);
        if self.checking {
            th.spare.push(defined);
        }
        th.func = saved.func;
        th.frame = saved.frame;
        th.pc = saved.call_pc + 1;
        for (r, v) in reg_writes {
            let th = &mut self.threads[t as usize];
            th.regs[r as usize] = v;
            if self.checking {
                self.mark_def(t, r);
            }
        }
        self.env.check.leave_call(t);
    }

    /// A call to a function the module only declares: a system call, or an error.
    fn system_call(
        &mut self,
        t: u32,
        pc: u32,
        c: &CallOp,
        callee: &Function,
        args: Vec<(u32, Vec<u8>)>,
    ) -> Result<(), LaunchError> {
        let who = Who { thread: t, pc };
        let mut params = vec![0u8; callee.frame_param_bytes.max(callee.param_bytes) as usize];
        for (off, bytes) in args {
            params[off as usize..off as usize + bytes.len()].copy_from_slice(&bytes);
        }
        match ops::syscall::run(&callee.name, callee, &mut params, self.env, who) {
            ops::syscall::Outcome::Return => {
                // The return values, as `ret` would pass them.
                let base = self.env.param_stack_base as u64;
                let frame = self.threads[t as usize].frame;
                for (off, size, dest) in ops::control::return_values(c, callee) {
                    let bytes = &params[off as usize..(off + size) as usize];
                    match dest {
                        RetDest::Param(o) => {
                            let at = frame.param as u64 + o as u64;
                            let ps = &mut self.env.param_stack[t as usize];
                            if at >= base && (at - base) as usize + bytes.len() <= ps.len() {
                                let i = (at - base) as usize;
                                ps[i..i + bytes.len()].copy_from_slice(bytes);
                            }
                        }
                        RetDest::Reg(r) => {
                            let mut w = [0u8; 8];
                            let k = bytes.len().min(8);
                            w[..k].copy_from_slice(&bytes[..k]);
                            let th = &mut self.threads[t as usize];
                            th.regs[r as usize] = u64::from_le_bytes(w);
                            if self.checking {
                                self.mark_def(t, r);
                            }
                        }
                    }
                }
                self.threads[t as usize].pc = pc + 1;
                Ok(())
            }
            ops::syscall::Outcome::ExitThread => {
                self.exit(t);
                Ok(())
            }
            ops::syscall::Outcome::Unknown => {
                let site = self.env.check.site(who);
                Err(LaunchError::Unsupported {
                    kernel: self.f.name.clone(),
                    detail: format!(
                        "{site}: call to {}, which the module declares but does not define \
                         (the interpreter does not link modules; system calls it knows: {})",
                        callee.name,
                        ops::syscall::NAMES.join(", ")
                    ),
                })
            }
        }
    }
}

/// Reads `buf.len()` bytes of thread `t`'s parameter space at `addr` (a caller's `.param`
/// argument), without checking: zeros where nothing is.
fn read_param(env: &BlockEnv, t: u32, addr: u64, buf: &mut [u8]) {
    let kp = env.params.len() as u64;
    let base = env.param_stack_base as u64;
    let stack = &env.param_stack[t as usize];
    for (i, b) in buf.iter_mut().enumerate() {
        let a = addr + i as u64;
        *b = if a < kp {
            env.params[a as usize]
        } else if a >= base && ((a - base) as usize) < stack.len() {
            stack[(a - base) as usize]
        } else {
            0
        };
    }
}
