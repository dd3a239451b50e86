//! What the checker reports: a [`Problem`] of a [`ProblemKind`] at a [`Site`], at a [`Level`].
//!
//! Errors are bugs: the kernel relies on something the PTX ISA does not promise. Notes are
//! what the ISA allows but is worth knowing: several threads writing the same value to one
//! address, a barrier that `exit` released, a read of uninitialised memory whose value is
//! never used. A launch is clean when it has no errors. Under the strict setting
//! ([`crate::Machine::set_strict`]) the barrier rule is the CUDA programming guide's (every
//! thread of the block must reach a `bar.sync` the others wait at: an `exit` before it is a
//! [`ProblemKind::BarrierDivergence`] error), and every other note is reported as an error.

use std::fmt;

use super::error::Site;

/// Whether a problem fails the launch's check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Level {
    Error,
    Note,
}

impl Level {
    pub fn name(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Note => "note",
        }
    }
}

/// The kinds of bug the checker finds (each the interpreter's counterpart of a
/// compute-sanitizer tool: memcheck, initcheck, racecheck, synccheck), and of notes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProblemKind {
    /// A global, shared, local or param access outside every allocation / the window.
    OutOfBounds,
    /// An access whose address is not a multiple of its size.
    Misaligned,
    /// A register read before any instruction wrote it.
    UninitRegister,
    /// Shared memory read before this block wrote it.
    UninitShared,
    /// Global memory read that nothing (host or kernel) wrote since it was allocated.
    UninitGlobal,
    /// Two threads of a block touch the same shared byte, one writing, with no barrier
    /// between them.
    SharedRace,
    /// Two threads of a launch touch the same global byte, one writing, without ordering
    /// (no barrier between them in one block; nothing orders different blocks).
    GlobalRace,
    /// A block barrier that not all its threads reach (some exited), or that threads of one
    /// warp reach at different `bar.sync` instructions.
    BarrierDivergence,
    /// A warp collective whose member mask names a lane that has exited or does not exist,
    /// or that does not contain the executing lane, or that lanes give differently.
    CollectiveMask,
    /// A warp collective whose member lanes are not converged at the same instruction.
    CollectiveDivergence,
    /// An mbarrier operation the ISA leaves undefined: an `mbarrier.init` count out of range,
    /// more arrivals than the phase has pending (or an `arrive_drop` below zero expected), a
    /// `.noComplete` arrival that completes the phase, a tx-count out of range. (One on
    /// memory that holds no mbarrier object is [`ProblemKind::UninitShared`]; one outside
    /// shared memory, [`ProblemKind::OutOfBounds`].)
    MbarrierMisuse,
    /// A `cp.async` destination read (or written) before the `cp.async.wait_group` /
    /// `wait_all` that completes it.
    AsyncCopyUnwaited,
    /// A write to memory kernels may only read: a `.const` variable, a kernel parameter.
    ReadOnlyWrite,
    /// A failed `assert()` (a call to `__assertfail`): the thread stopped there.
    AssertionFailed,
    /// Note: threads wrote the same bytes to one address with nothing ordering them (and no
    /// thread read them in between): a race, but a benign one under the ISA's memory model,
    /// since every order leaves the same value.
    SameValueWrites,
    /// Note: a barrier for all threads of the block was released when the threads it still
    /// waited for exited (ISA `exit`). Under the strict setting: a barrier-divergence error.
    BarrierReleasedByExit,
    /// Note: a load read memory never written, but the thread overwrote (or never read) the
    /// register it loaded before using the value.
    UninitUnused,
}

impl ProblemKind {
    pub const ALL: [ProblemKind; 17] = [
        ProblemKind::OutOfBounds,
        ProblemKind::Misaligned,
        ProblemKind::UninitRegister,
        ProblemKind::UninitShared,
        ProblemKind::UninitGlobal,
        ProblemKind::SharedRace,
        ProblemKind::GlobalRace,
        ProblemKind::BarrierDivergence,
        ProblemKind::CollectiveMask,
        ProblemKind::CollectiveDivergence,
        ProblemKind::MbarrierMisuse,
        ProblemKind::AsyncCopyUnwaited,
        ProblemKind::ReadOnlyWrite,
        ProblemKind::AssertionFailed,
        ProblemKind::SameValueWrites,
        ProblemKind::BarrierReleasedByExit,
        ProblemKind::UninitUnused,
    ];

    /// The level of problems of this kind (under the strict setting, every one is an error).
    pub fn level(self) -> Level {
        match self {
            ProblemKind::SameValueWrites
            | ProblemKind::BarrierReleasedByExit
            | ProblemKind::UninitUnused => Level::Note,
            ProblemKind::OutOfBounds
            | ProblemKind::Misaligned
            | ProblemKind::UninitRegister
            | ProblemKind::UninitShared
            | ProblemKind::UninitGlobal
            | ProblemKind::SharedRace
            | ProblemKind::GlobalRace
            | ProblemKind::BarrierDivergence
            | ProblemKind::CollectiveMask
            | ProblemKind::CollectiveDivergence
            | ProblemKind::MbarrierMisuse
            | ProblemKind::AsyncCopyUnwaited
            | ProblemKind::ReadOnlyWrite
            | ProblemKind::AssertionFailed => Level::Error,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ProblemKind::OutOfBounds => "out-of-bounds",
            ProblemKind::Misaligned => "misaligned",
            ProblemKind::UninitRegister => "uninitialised-register",
            ProblemKind::UninitShared => "uninitialised-shared",
            ProblemKind::UninitGlobal => "uninitialised-global",
            ProblemKind::SharedRace => "shared-race",
            ProblemKind::GlobalRace => "global-race",
            ProblemKind::BarrierDivergence => "barrier-divergence",
            ProblemKind::CollectiveMask => "collective-mask",
            ProblemKind::CollectiveDivergence => "collective-divergence",
            ProblemKind::MbarrierMisuse => "mbarrier-misuse",
            ProblemKind::AsyncCopyUnwaited => "async-copy-unwaited",
            ProblemKind::ReadOnlyWrite => "read-only-write",
            ProblemKind::AssertionFailed => "assertion-failed",
            ProblemKind::SameValueWrites => "same-value-writes",
            ProblemKind::BarrierReleasedByExit => "barrier-released-by-exit",
            ProblemKind::UninitUnused => "uninitialised-unused",
        }
    }
}

/// One problem found in a launch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub kind: ProblemKind,
    /// `kind.level()`, or [`Level::Error`] for every kind under the strict setting.
    pub level: Level,
    pub kernel: String,
    pub site: Site,
    /// The address involved (in the access's state space), where there is one.
    pub address: Option<u64>,
    /// What happened, in words (sizes, the allocation, the other thread of a race).
    pub detail: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.level == Level::Note {
            write!(f, "note: ")?;
        }
        write!(f, "{}: {}: {}", self.kind.name(), self.kernel, self.site)?;
        if let Some(a) = self.address {
            write!(f, " address 0x{a:x}")?;
        }
        write!(f, ": {}", self.detail)
    }
}

/// The result of a launch that ran to the end.
#[derive(Clone, Debug, Default)]
pub struct LaunchReport {
    /// The problems found, errors and notes, at most [`crate::Machine::set_problem_cap`] of
    /// each kind (and one per kind and instruction).
    pub problems: Vec<Problem>,
    /// Problems of each kind not listed (over the cap, or repeats at one instruction).
    pub suppressed: Vec<(ProblemKind, u64)>,
    /// Instructions executed, all threads together (guarded-off ones included).
    pub instructions: u64,
    /// What the kernel printed with `printf` (at most 1 MiB, as CUDA's default buffer).
    pub printed: String,
}

impl LaunchReport {
    /// No errors (notes allowed).
    pub fn is_clean(&self) -> bool {
        self.problems.iter().all(|p| p.level != Level::Error)
    }

    pub fn errors(&self) -> Vec<&Problem> {
        self.problems.iter().filter(|p| p.level == Level::Error).collect()
    }

    pub fn notes(&self) -> Vec<&Problem> {
        self.problems.iter().filter(|p| p.level == Level::Note).collect()
    }

    /// The problems of one kind.
    pub fn of_kind(&self, k: ProblemKind) -> Vec<&Problem> {
        self.problems.iter().filter(|p| p.kind == k).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_is_listed_once_with_its_own_name() {
        let mut names: Vec<&str> = ProblemKind::ALL.iter().map(|k| k.name()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), ProblemKind::ALL.len());
        let mut kinds = ProblemKind::ALL.to_vec();
        kinds.sort();
        kinds.dedup();
        assert_eq!(kinds.len(), ProblemKind::ALL.len());
        assert_eq!(ProblemKind::MbarrierMisuse.level(), Level::Error);
    }
}
