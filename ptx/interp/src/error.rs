//! The interpreter's errors: a PTX file that does not parse, a memory call outside any
//! allocation, and a launch that cannot run (bad arguments, deadlock, runaway kernel).

use std::fmt;

/// A PTX text the interpreter cannot load: syntax errors and unsupported instructions alike,
/// with the file and line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {message}")]
pub struct ParseError {
    pub file: String,
    pub line: u32,
    pub message: String,
}

/// A host-side memory call (`alloc`, `free`, `read`, `write`) that does not fit the
/// allocations.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MemError {
    #[error("allocation of {0} bytes refused (zero bytes, or over the 1 TiB limit)")]
    BadSize(u64),
    #[error("0x{0:x} is not the start of a live allocation")]
    NotAllocated(u64),
    #[error("{len} bytes at 0x{addr:x} are not inside one live allocation")]
    OutOfRange { addr: u64, len: u64 },
}

/// A launch that could not run to the end. The detail names the kernel and, where there is
/// one, the line, instruction, block and thread.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LaunchError {
    #[error("{kernel}: no entry of that name in the module (entries: {entries})")]
    NoEntry { kernel: String, entries: String },
    #[error("{kernel}: {message}")]
    BadLaunch { kernel: String, message: String },
    #[error("{kernel}: deadlock: {detail}")]
    Deadlock { kernel: String, detail: String },
    #[error("{kernel}: {detail}")]
    Fault { kernel: String, detail: String },
    #[error("{kernel}: stopped after {limit} instructions (an endless loop, or a spin-wait on another block, which the interpreter cannot run: it runs blocks one after another)")]
    InstructionLimit { kernel: String, limit: u64 },
}

/// Where in a kernel something happened: for problems and errors alike.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    pub line: u32,
    pub instruction: String,
    pub block: [u32; 3],
    pub thread: [u32; 3],
}

impl fmt::Display for Site {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [bx, by, bz] = self.block;
        let [tx, ty, tz] = self.thread;
        write!(
            f,
            "line {} `{}` block ({bx},{by},{bz}) thread ({tx},{ty},{tz})",
            self.line, self.instruction
        )
    }
}
