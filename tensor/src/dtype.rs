//! Element types. Floats are stored as f32, f64, bf16 or f16 and computed in f32 (f64 for
//! f64 storage): [`FloatElem::C`] is the compute type of each storage type. I64 holds token
//! ids and indices, U8 holds comparison masks.

use crate::host::CpuStorage;
use half::{bf16, f16};
use std::fmt::Debug;
use std::ops::{Add, AddAssign, Div, Mul, MulAssign, Neg, Sub, SubAssign};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DType {
    F32,
    F64,
    BF16,
    F16,
    I64,
    U8,
}

impl DType {
    pub fn size_in_bytes(self) -> usize {
        match self {
            DType::F32 => 4,
            DType::F64 => 8,
            DType::BF16 | DType::F16 => 2,
            DType::I64 => 8,
            DType::U8 => 1,
        }
    }
    pub fn is_float(self) -> bool {
        match self {
            DType::F32 | DType::F64 | DType::BF16 | DType::F16 => true,
            DType::I64 | DType::U8 => false,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            DType::F32 => "f32",
            DType::F64 => "f64",
            DType::BF16 => "bf16",
            DType::F16 => "f16",
            DType::I64 => "i64",
            DType::U8 => "u8",
        }
    }
    /// Parses the names used on command lines and in configs ("f32", "float32", "bfloat16" ...).
    pub fn parse(s: &str) -> Option<DType> {
        Some(match s.to_ascii_lowercase().as_str() {
            "f32" | "float32" | "float" => DType::F32,
            "f64" | "float64" | "double" => DType::F64,
            "bf16" | "bfloat16" => DType::BF16,
            "f16" | "float16" | "half" => DType::F16,
            "i64" | "int64" | "long" => DType::I64,
            "u8" | "uint8" | "bool" => DType::U8,
            _ => return None,
        })
    }
    /// The dtype float kernels compute in for storage of this dtype: f64 stays f64 (tests
    /// and gradchecks), every other float (f32, bf16, f16) computes in f32.
    pub fn compute(self) -> DType {
        match self {
            DType::F64 => DType::F64,
            DType::F32 | DType::BF16 | DType::F16 | DType::I64 | DType::U8 => DType::F32,
        }
    }
    /// The dtype two float operands are computed and stored in when they differ:
    /// f64 wins, otherwise f32 (bf16 with f16 gives f32, as in PyTorch).
    pub fn promote(a: DType, b: DType) -> DType {
        if a == b {
            a
        } else if a == DType::F64 || b == DType::F64 {
            DType::F64
        } else {
            DType::F32
        }
    }
}

impl std::fmt::Display for DType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The arithmetic that kernels are written in: f32 or f64.
pub trait Real:
    Copy
    + Send
    + Sync
    + Debug
    + Default
    + PartialOrd
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + AddAssign
    + SubAssign
    + MulAssign
    + std::iter::Sum
    + 'static
{
    const ZERO: Self;
    const ONE: Self;
    const NEG_INFINITY: Self;
    const INFINITY: Self;
    fn from_f64(v: f64) -> Self;
    fn to_f64(self) -> f64;
    fn exp(self) -> Self;
    fn ln(self) -> Self;
    fn ln_1p(self) -> Self;
    fn exp_m1(self) -> Self;
    fn sqrt(self) -> Self;
    fn abs(self) -> Self;
    fn tanh(self) -> Self;
    fn powf(self, e: Self) -> Self;
    fn max(self, o: Self) -> Self;
    fn min(self, o: Self) -> Self;
    fn is_finite(self) -> bool;
    fn is_nan(self) -> bool;
    fn mul_add(self, a: Self, b: Self) -> Self;
}

macro_rules! impl_real {
    ($t:ty) => {
        impl Real for $t {
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            const NEG_INFINITY: Self = <$t>::NEG_INFINITY;
            const INFINITY: Self = <$t>::INFINITY;
            #[inline(always)]
            fn from_f64(v: f64) -> Self {
                v as $t
            }
            #[inline(always)]
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[inline(always)]
            fn exp(self) -> Self {
                <$t>::exp(self)
            }
            #[inline(always)]
            fn ln(self) -> Self {
                <$t>::ln(self)
            }
            #[inline(always)]
            fn ln_1p(self) -> Self {
                <$t>::ln_1p(self)
            }
            #[inline(always)]
            fn exp_m1(self) -> Self {
                <$t>::exp_m1(self)
            }
            #[inline(always)]
            fn sqrt(self) -> Self {
                <$t>::sqrt(self)
            }
            #[inline(always)]
            fn abs(self) -> Self {
                <$t>::abs(self)
            }
            #[inline(always)]
            fn tanh(self) -> Self {
                <$t>::tanh(self)
            }
            #[inline(always)]
            fn powf(self, e: Self) -> Self {
                <$t>::powf(self, e)
            }
            #[inline(always)]
            fn max(self, o: Self) -> Self {
                // NaN propagates, as in PyTorch's maximum.
                if self.is_nan() || o.is_nan() {
                    <$t>::NAN
                } else if self >= o {
                    self
                } else {
                    o
                }
            }
            #[inline(always)]
            fn min(self, o: Self) -> Self {
                if self.is_nan() || o.is_nan() {
                    <$t>::NAN
                } else if self <= o {
                    self
                } else {
                    o
                }
            }
            #[inline(always)]
            fn is_finite(self) -> bool {
                <$t>::is_finite(self)
            }
            #[inline(always)]
            fn is_nan(self) -> bool {
                <$t>::is_nan(self)
            }
            #[inline(always)]
            fn mul_add(self, a: Self, b: Self) -> Self {
                self * a + b
            }
        }
    };
}
impl_real!(f32);
impl_real!(f64);

/// A type a tensor can hold, with the CPU storage variant that holds it.
pub trait Elem: Copy + Send + Sync + Debug + bytemuck::Pod + PartialEq + 'static {
    const DTYPE: DType;
    fn wrap(v: Vec<Self>) -> CpuStorage;
    fn slice(s: &CpuStorage) -> Option<&[Self]>;
    fn slice_mut(s: &mut CpuStorage) -> Option<&mut [Self]>;
    /// Value conversion through f64 (casts between any two dtypes go this way).
    fn as_f64(self) -> f64;
    fn from_f64_as(v: f64) -> Self;
}

macro_rules! impl_elem {
    ($t:ty, $variant:ident, |$x:ident| $to:expr, |$v:ident| $from:expr) => {
        impl Elem for $t {
            const DTYPE: DType = DType::$variant;
            fn wrap(v: Vec<Self>) -> CpuStorage {
                CpuStorage::$variant(v)
            }
            fn slice(s: &CpuStorage) -> Option<&[Self]> {
                match s {
                    CpuStorage::$variant(v) => Some(v),
                    _ => None,
                }
            }
            fn slice_mut(s: &mut CpuStorage) -> Option<&mut [Self]> {
                match s {
                    CpuStorage::$variant(v) => Some(v),
                    _ => None,
                }
            }
            #[inline(always)]
            fn as_f64(self) -> f64 {
                let $x = self;
                $to
            }
            #[inline(always)]
            fn from_f64_as($v: f64) -> Self {
                $from
            }
        }
    };
}
impl_elem!(f32, F32, |x| x as f64, |v| v as f32);
impl_elem!(f64, F64, |x| x, |v| v);
impl_elem!(bf16, BF16, |x| x.to_f64(), |v| bf16::from_f32(f32_round_to_odd(v)));
impl_elem!(f16, F16, |x| x.to_f64(), |v| f16::from_f32(f32_round_to_odd(v)));

/// `v` rounded to f32 by round-to-odd: truncated toward zero, the last bit set when anything
/// was dropped. Rounding that to bf16 or f16 (to nearest, ties to even) then rounds `v` once,
/// correctly: 24 bits are at least twice the target's 8 or 11, plus 2, so the odd bit only
/// breaks ties it must break. (`half`'s own f64 conversions first drop the low 32 bits of the
/// f64, so a value just above a tie, such as the f32 -218.50002, was rounded as the tie: to
/// -218 in bf16, where CUDA's `__float2bfloat16_rn` and `__double2bfloat16` give -219.)
pub fn f32_round_to_odd(v: f64) -> f32 {
    let r = v as f32;
    if r.is_nan() || r as f64 == v {
        return r;
    }
    let mut bits = r.to_bits();
    if (r as f64).abs() > v.abs() {
        bits -= 1; // one step toward zero: the truncation
    }
    f32::from_bits(bits | 1)
}
impl_elem!(i64, I64, |x| x as f64, |v| v as i64);
impl_elem!(u8, U8, |x| x as f64, |v| v as u8);

/// A float storage type with the type it is computed in.
pub trait FloatElem: Elem {
    type C: Real;
    fn to_c(self) -> Self::C;
    fn from_c(c: Self::C) -> Self;
    #[inline(always)]
    fn to_f32(self) -> f32 {
        self.to_c().to_f64() as f32
    }
}

impl FloatElem for f32 {
    type C = f32;
    #[inline(always)]
    fn to_c(self) -> f32 {
        self
    }
    #[inline(always)]
    fn from_c(c: f32) -> Self {
        c
    }
    #[inline(always)]
    fn to_f32(self) -> f32 {
        self
    }
}
impl FloatElem for f64 {
    type C = f64;
    #[inline(always)]
    fn to_c(self) -> f64 {
        self
    }
    #[inline(always)]
    fn from_c(c: f64) -> Self {
        c
    }
}
impl FloatElem for bf16 {
    type C = f32;
    #[inline(always)]
    fn to_c(self) -> f32 {
        self.to_f32()
    }
    #[inline(always)]
    fn from_c(c: f32) -> Self {
        bf16::from_f32(c)
    }
    #[inline(always)]
    fn to_f32(self) -> f32 {
        bf16::to_f32(self)
    }
}
impl FloatElem for f16 {
    type C = f32;
    #[inline(always)]
    fn to_c(self) -> f32 {
        self.to_f32()
    }
    #[inline(always)]
    fn from_c(c: f32) -> Self {
        f16::from_f32(c)
    }
    #[inline(always)]
    fn to_f32(self) -> f32 {
        f16::to_f32(self)
    }
}
