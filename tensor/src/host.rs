//! Host memory: one typed vector per dtype. The CPU backend computes on it (`cpu/`), files
//! are read into and written from it (`safetensors_io`), and every accelerator uploads from
//! and downloads to it. It knows nothing of ops.

use crate::{DType, Elem};
use half::{bf16, f16};

/// Host memory of one dtype.
#[derive(Clone, Debug, PartialEq)]
pub enum CpuStorage {
    F32(Vec<f32>),
    F64(Vec<f64>),
    BF16(Vec<bf16>),
    F16(Vec<f16>),
    I64(Vec<i64>),
    U8(Vec<u8>),
}

/// Runs `$body` with `$v` bound to the typed vector of any dtype.
macro_rules! any_dtype {
    ($s:expr, $v:ident => $body:expr) => {
        match $s {
            CpuStorage::F32($v) => $body,
            CpuStorage::F64($v) => $body,
            CpuStorage::BF16($v) => $body,
            CpuStorage::F16($v) => $body,
            CpuStorage::I64($v) => $body,
            CpuStorage::U8($v) => $body,
        }
    };
}
pub(crate) use any_dtype;

impl CpuStorage {
    pub fn dtype(&self) -> DType {
        match self {
            CpuStorage::F32(_) => DType::F32,
            CpuStorage::F64(_) => DType::F64,
            CpuStorage::BF16(_) => DType::BF16,
            CpuStorage::F16(_) => DType::F16,
            CpuStorage::I64(_) => DType::I64,
            CpuStorage::U8(_) => DType::U8,
        }
    }
    pub fn len(&self) -> usize {
        any_dtype!(self, v => v.len())
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// `n` copies of `value` in `dtype`.
    pub fn full(value: f64, n: usize, dtype: DType) -> CpuStorage {
        fn fill<T: Elem>(value: f64, n: usize) -> CpuStorage {
            T::wrap(vec![T::from_f64_as(value); n])
        }
        match dtype {
            DType::F32 => fill::<f32>(value, n),
            DType::F64 => fill::<f64>(value, n),
            DType::BF16 => fill::<bf16>(value, n),
            DType::F16 => fill::<f16>(value, n),
            DType::I64 => fill::<i64>(value, n),
            DType::U8 => fill::<u8>(value, n),
        }
    }
    /// The raw little-endian bytes (for writing files).
    pub fn as_bytes(&self) -> &[u8] {
        any_dtype!(self, v => bytemuck::cast_slice(v))
    }
    /// Elements of `dtype` from little-endian bytes; `None` when the length does not fit.
    pub fn from_bytes(bytes: &[u8], dtype: DType) -> Option<CpuStorage> {
        fn read<T: Elem>(b: &[u8]) -> Option<CpuStorage> {
            let n = std::mem::size_of::<T>();
            if b.len() % n != 0 {
                return None;
            }
            // The bytes may be unaligned (memory-mapped files): copy element by element.
            Some(T::wrap(b.chunks_exact(n).map(bytemuck::pod_read_unaligned::<T>).collect()))
        }
        match dtype {
            DType::F32 => read::<f32>(bytes),
            DType::F64 => read::<f64>(bytes),
            DType::BF16 => read::<bf16>(bytes),
            DType::F16 => read::<f16>(bytes),
            DType::I64 => read::<i64>(bytes),
            DType::U8 => read::<u8>(bytes),
        }
    }
}
