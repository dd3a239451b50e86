//! PTX's types, state spaces, rounding modes and special registers (ISA 5.1 "State
//! Spaces", 5.2 "Types", 9.7 rounding modifiers, 10 "Special Registers").

/// A fundamental type (ISA 5.2.1). Registers hold raw bits; the instruction's type says how
/// to read them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Ty {
    Pred,
    B8,
    B16,
    B32,
    B64,
    B128,
    U8,
    U16,
    U32,
    U64,
    S8,
    S16,
    S32,
    S64,
    F16,
    F16x2,
    BF16,
    BF16x2,
    F32,
    F64,
}

impl Ty {
    pub fn parse(s: &str) -> Option<Ty> {
        Some(match s {
            "pred" => Ty::Pred,
            "b8" => Ty::B8,
            "b16" => Ty::B16,
            "b32" => Ty::B32,
            "b64" => Ty::B64,
            "b128" => Ty::B128,
            "u8" => Ty::U8,
            "u16" => Ty::U16,
            "u32" => Ty::U32,
            "u64" => Ty::U64,
            "s8" => Ty::S8,
            "s16" => Ty::S16,
            "s32" => Ty::S32,
            "s64" => Ty::S64,
            "f16" => Ty::F16,
            "f16x2" => Ty::F16x2,
            "bf16" => Ty::BF16,
            "bf16x2" => Ty::BF16x2,
            "f32" => Ty::F32,
            "f64" => Ty::F64,
            _ => return None,
        })
    }

    /// Width in bits (a predicate counts as 1).
    pub fn bits(self) -> u32 {
        match self {
            Ty::Pred => 1,
            Ty::B8 | Ty::U8 | Ty::S8 => 8,
            Ty::B16 | Ty::U16 | Ty::S16 | Ty::F16 | Ty::BF16 => 16,
            Ty::B32 | Ty::U32 | Ty::S32 | Ty::F32 | Ty::F16x2 | Ty::BF16x2 => 32,
            Ty::B64 | Ty::U64 | Ty::S64 | Ty::F64 => 64,
            Ty::B128 => 128,
        }
    }

    /// Width in bytes in memory.
    pub fn bytes(self) -> u32 {
        self.bits().div_ceil(8)
    }

    pub fn is_signed(self) -> bool {
        matches!(self, Ty::S8 | Ty::S16 | Ty::S32 | Ty::S64)
    }

    pub fn is_float(self) -> bool {
        matches!(self, Ty::F16 | Ty::F16x2 | Ty::BF16 | Ty::BF16x2 | Ty::F32 | Ty::F64)
    }

    /// All bits of this type set (for truncating register contents).
    pub fn mask(self) -> u64 {
        match self.bits() {
            64 | 128 => u64::MAX,
            b => (1u64 << b) - 1,
        }
    }

    /// Register bits read as this type: truncated, and sign-extended for signed types.
    pub fn read(self, v: u64) -> u64 {
        match self {
            Ty::S8 => v as u8 as i8 as i64 as u64,
            Ty::S16 => v as u16 as i16 as i64 as u64,
            Ty::S32 => v as u32 as i32 as i64 as u64,
            _ => v & self.mask(),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Ty::Pred => "pred",
            Ty::B8 => "b8",
            Ty::B16 => "b16",
            Ty::B32 => "b32",
            Ty::B64 => "b64",
            Ty::B128 => "b128",
            Ty::U8 => "u8",
            Ty::U16 => "u16",
            Ty::U32 => "u32",
            Ty::U64 => "u64",
            Ty::S8 => "s8",
            Ty::S16 => "s16",
            Ty::S32 => "s32",
            Ty::S64 => "s64",
            Ty::F16 => "f16",
            Ty::F16x2 => "f16x2",
            Ty::BF16 => "bf16",
            Ty::BF16x2 => "bf16x2",
            Ty::F32 => "f32",
            Ty::F64 => "f64",
        }
    }
}

/// A state space (ISA 5.1). `Generic` is an address in the generic window that covers global,
/// constant, shared and local memory (ISA 6.4.1 "Generic Addressing"). `Const` (ISA 5.1.3
/// "Constant State Space") is read-only memory the host initialises; here its variables are
/// allocations among the global ones, marked read-only, so a constant address is also its
/// generic address (as a global one is).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Space {
    Generic,
    Global,
    Const,
    Shared,
    Local,
    Param,
}

impl Space {
    pub fn parse(s: &str) -> Option<Space> {
        Some(match s {
            "global" => Space::Global,
            "const" => Space::Const,
            "shared" | "shared::cta" => Space::Shared,
            "local" => Space::Local,
            "param" | "param::entry" | "param::func" => Space::Param,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Space::Generic => "generic",
            Space::Global => "global",
            Space::Const => "const",
            Space::Shared => "shared",
            Space::Local => "local",
            Space::Param => "param",
        }
    }
}

/// Floating-point rounding (ISA 9.7.3 "Floating-Point Instructions", rounding modifiers):
/// to nearest even, toward zero, toward minus infinity, toward plus infinity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rnd {
    Rn,
    Rz,
    Rm,
    Rp,
}

impl Rnd {
    /// `.rn .rz .rm .rp` (float results) or `.rni .rzi .rmi .rpi` (integral results).
    pub fn parse(s: &str) -> Option<(Rnd, bool)> {
        Some(match s {
            "rn" => (Rnd::Rn, false),
            "rz" => (Rnd::Rz, false),
            "rm" => (Rnd::Rm, false),
            "rp" => (Rnd::Rp, false),
            "rni" => (Rnd::Rn, true),
            "rzi" => (Rnd::Rz, true),
            "rmi" => (Rnd::Rm, true),
            "rpi" => (Rnd::Rp, true),
            _ => return None,
        })
    }
}

/// A special register (ISA 10): read-only values the launch gives each thread. The values
/// of the registers about hardware the interpreter does not have (SM ids, performance
/// counters, clusters, the driver's environment registers) are in `ctx::sreg`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sreg {
    Tid(u8),
    Ntid(u8),
    Ctaid(u8),
    Nctaid(u8),
    Laneid,
    Warpid,
    Nwarpid,
    Smid,
    Nsmid,
    Gridid,
    LanemaskEq,
    LanemaskLt,
    LanemaskLe,
    LanemaskGt,
    LanemaskGe,
    Clock,
    ClockHi,
    Clock64,
    Globaltimer,
    GlobaltimerLo,
    GlobaltimerHi,
    /// `%pm0..%pm7` (`false`) and `%pm0_64..%pm7_64` (`true`): performance counters.
    Pm(u8, bool),
    /// `%envreg0..%envreg31`: set by the driver.
    Envreg(u8),
    DynamicSmemSize,
    TotalSmemSize,
    AggrSmemSize,
    ReservedSmemBegin,
    ReservedSmemEnd,
    ReservedSmemCap,
    /// `%reserved_smem_offset_0`, `%reserved_smem_offset_1`.
    ReservedSmemOffset(u8),
    IsExplicitCluster,
    Clusterid(u8),
    Nclusterid(u8),
    ClusterCtaid(u8),
    ClusterNctaid(u8),
    ClusterCtarank,
    ClusterNctarank,
    CurrentGraphExec,
}

impl Sreg {
    /// The special register named `s` (ISA 10, "Special Registers"; `%tid` alone is `%tid.x`
    /// only with a component, as nvcc writes it).
    pub fn parse(s: &str) -> Option<Sreg> {
        let dim = |d: &str| match d {
            "x" => Some(0u8),
            "y" => Some(1),
            "z" => Some(2),
            _ => None,
        };
        if let Some((base, d)) = s.split_once('.') {
            let d = dim(d)?;
            return Some(match base {
                "%tid" => Sreg::Tid(d),
                "%ntid" => Sreg::Ntid(d),
                "%ctaid" => Sreg::Ctaid(d),
                "%nctaid" => Sreg::Nctaid(d),
                "%clusterid" => Sreg::Clusterid(d),
                "%nclusterid" => Sreg::Nclusterid(d),
                "%cluster_ctaid" => Sreg::ClusterCtaid(d),
                "%cluster_nctaid" => Sreg::ClusterNctaid(d),
                _ => return None,
            });
        }
        let numbered = |prefix: &str, n: u8| {
            s.strip_prefix(prefix).and_then(|i| i.parse::<u8>().ok()).filter(|&i| i < n)
        };
        if let Some(i) = numbered("%envreg", 32) {
            return Some(Sreg::Envreg(i));
        }
        if let Some(i) = s.strip_suffix("_64").and_then(|p| {
            p.strip_prefix("%pm").and_then(|i| i.parse::<u8>().ok()).filter(|&i| i < 8)
        }) {
            return Some(Sreg::Pm(i, true));
        }
        if let Some(i) = numbered("%pm", 8) {
            return Some(Sreg::Pm(i, false));
        }
        Some(match s {
            "%laneid" => Sreg::Laneid,
            "%warpid" => Sreg::Warpid,
            "%nwarpid" => Sreg::Nwarpid,
            "%smid" => Sreg::Smid,
            "%nsmid" => Sreg::Nsmid,
            "%gridid" => Sreg::Gridid,
            "%lanemask_eq" => Sreg::LanemaskEq,
            "%lanemask_lt" => Sreg::LanemaskLt,
            "%lanemask_le" => Sreg::LanemaskLe,
            "%lanemask_gt" => Sreg::LanemaskGt,
            "%lanemask_ge" => Sreg::LanemaskGe,
            "%clock" => Sreg::Clock,
            "%clock_hi" => Sreg::ClockHi,
            "%clock64" => Sreg::Clock64,
            "%globaltimer" => Sreg::Globaltimer,
            "%globaltimer_lo" => Sreg::GlobaltimerLo,
            "%globaltimer_hi" => Sreg::GlobaltimerHi,
            "%dynamic_smem_size" => Sreg::DynamicSmemSize,
            "%total_smem_size" => Sreg::TotalSmemSize,
            "%aggr_smem_size" => Sreg::AggrSmemSize,
            "%reserved_smem_offset_begin" => Sreg::ReservedSmemBegin,
            "%reserved_smem_offset_end" => Sreg::ReservedSmemEnd,
            "%reserved_smem_offset_cap" => Sreg::ReservedSmemCap,
            "%reserved_smem_offset_0" => Sreg::ReservedSmemOffset(0),
            "%reserved_smem_offset_1" => Sreg::ReservedSmemOffset(1),
            "%is_explicit_cluster" => Sreg::IsExplicitCluster,
            "%cluster_ctarank" => Sreg::ClusterCtarank,
            "%cluster_nctarank" => Sreg::ClusterNctarank,
            "%current_graph_exec" => Sreg::CurrentGraphExec,
            _ => return None,
        })
    }

    /// Does the register name the reserved shared memory region (which the interpreter then
    /// sets aside for the launch)?
    pub fn is_reserved_smem(self) -> bool {
        matches!(
            self,
            Sreg::ReservedSmemBegin
                | Sreg::ReservedSmemEnd
                | Sreg::ReservedSmemCap
                | Sreg::ReservedSmemOffset(_)
        )
    }
}

/// Is `name` a special register of the ISA (ISA 10), whether or not the interpreter knows
/// it? The parser uses this to tell an unknown special register (the instruction is kept, and
/// fails when a thread reaches it) from a misspelt register (a syntax error).
pub fn is_isa_sreg(name: &str) -> bool {
    if Sreg::parse(name).is_some() {
        return true;
    }
    let base = name.split('.').next().unwrap_or(name);
    const OTHERS: &[&str] = &[
        "%tid",
        "%ntid",
        "%ctaid",
        "%nctaid",
        "%clusterid",
        "%nclusterid",
        "%cluster_ctaid",
        "%cluster_nctaid",
        "%perctamemoryoffset",
        "%perctamemorysize",
        "%activemask",
    ];
    OTHERS.contains(&base) || base.starts_with("%reserved_smem_offset")
}
