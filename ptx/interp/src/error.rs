//! The interpreter's errors: a PTX file that does not parse, a memory call outside any
//! allocation, and a launch that cannot run (bad arguments, deadlock, runaway kernel).

use std::fmt;

/// A PTX text the interpreter cannot load: a syntax error (malformed text, an undeclared
/// register, a label or function that does not exist), with the file and line. An
/// instruction the interpreter does not support is no parse error: it fails the launches
/// that reach it ([`LaunchError::Unsupported`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub file: String,
    pub line: u32,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.message)
    }
}

impl std::error::Error for ParseError {}

/// A host-side memory call (`alloc`, `free`, `read`, `write`) that does not fit the
/// allocations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemError {
    BadSize(u64),
    NotAllocated(u64),
    OutOfRange { addr: u64, len: u64 },
}

impl fmt::Display for MemError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MemError::BadSize(n) => {
                write!(f, "allocation of {n} bytes refused (zero bytes, or over the 1 TiB limit)")
            }
            MemError::NotAllocated(a) => write!(f, "0x{a:x} is not the start of a live allocation"),
            MemError::OutOfRange { addr, len } => {
                write!(f, "{len} bytes at 0x{addr:x} are not inside one live allocation")
            }
        }
    }
}

impl std::error::Error for MemError {}

/// A launch that could not run to the end. The detail names the kernel and, where there is
/// one, the line, instruction, block and thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LaunchError {
    NoEntry {
        kernel: String,
        entries: String,
    },
    BadLaunch {
        kernel: String,
        message: String,
    },
    Deadlock {
        kernel: String,
        detail: String,
    },
    Fault {
        kernel: String,
        detail: String,
    },
    InstructionLimit {
        kernel: String,
        limit: u64,
    },
    /// A thread reached an instruction the interpreter cannot run (or called a function the
    /// module only declares): the detail names it, its line and the thread.
    Unsupported {
        kernel: String,
        detail: String,
    },
}

impl fmt::Display for LaunchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LaunchError::NoEntry { kernel, entries } => {
                write!(f, "{kernel}: no entry of that name in the module (entries: {entries})")
            }
            LaunchError::BadLaunch { kernel, message } => write!(f, "{kernel}: {message}"),
            LaunchError::Deadlock { kernel, detail } => write!(f, "{kernel}: deadlock: {detail}"),
            LaunchError::Fault { kernel, detail } => write!(f, "{kernel}: {detail}"),
            LaunchError::Unsupported { kernel, detail } => {
                write!(f, "{kernel}: not supported by the interpreter: {detail}")
            }
            LaunchError::InstructionLimit { kernel, limit } => write!(
                f,
                "{kernel}: stopped after {limit} instructions (an endless loop, or a spin-wait \
                 on another block, which the interpreter cannot run: it runs blocks one after \
                 another)"
            ),
        }
    }
}

impl std::error::Error for LaunchError {}

/// Where in a kernel something happened: for problems and errors alike.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    pub line: u32,
    pub instruction: String,
    /// The `.func` the instruction is in, when it is not the kernel itself.
    pub function: Option<String>,
    /// The line of the `call` that entered that function (the innermost), where known.
    pub called_from: Option<u32>,
    pub block: [u32; 3],
    pub thread: [u32; 3],
}

impl fmt::Display for Site {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [bx, by, bz] = self.block;
        let [tx, ty, tz] = self.thread;
        write!(f, "line {} `{}`", self.line, self.instruction)?;
        if let Some(func) = &self.function {
            write!(f, " in {func}")?;
            if let Some(l) = self.called_from {
                write!(f, " (called from line {l})")?;
            }
        }
        write!(f, " block ({bx},{by},{bz}) thread ({tx},{ty},{tz})")
    }
}
