//! What the checker reports: a [`Problem`] of a [`ProblemKind`] at a [`Site`].

use std::fmt;

use super::error::Site;

/// The kinds of bug the checker finds (each the interpreter's counterpart of a
/// compute-sanitizer tool: memcheck, initcheck, racecheck, synccheck).
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
    /// A `cp.async` destination read (or written) before the `cp.async.wait_group` /
    /// `wait_all` that completes it.
    AsyncCopyUnwaited,
}

impl ProblemKind {
    pub const ALL: [ProblemKind; 11] = [
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
        ProblemKind::AsyncCopyUnwaited,
    ];

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
            ProblemKind::AsyncCopyUnwaited => "async-copy-unwaited",
        }
    }
}

/// One problem found in a launch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub kind: ProblemKind,
    pub kernel: String,
    pub site: Site,
    /// The address involved (in the access's state space), where there is one.
    pub address: Option<u64>,
    /// What happened, in words (sizes, the allocation, the other thread of a race).
    pub detail: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
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
    /// The problems found, at most [`crate::Machine::set_problem_cap`] of each kind
    /// (and one per kind and instruction).
    pub problems: Vec<Problem>,
    /// Problems of each kind not listed (over the cap, or repeats at one instruction).
    pub suppressed: Vec<(ProblemKind, u64)>,
    /// Instructions executed, all threads together (guarded-off ones included).
    pub instructions: u64,
}

impl LaunchReport {
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }

    /// The problems of one kind.
    pub fn of_kind(&self, k: ProblemKind) -> Vec<&Problem> {
        self.problems.iter().filter(|p| p.kind == k).collect()
    }
}
