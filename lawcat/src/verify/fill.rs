//! `ptx/kernels/fill.cu`, launcher `ptx::ops::fill`, the ops `Tensor::full` and
//! `Tensor::arange` (`AccelDevice::full`, `arange`): `fill_<dtype>` and `arange_<dtype>` for
//! every dtype they make, lengths 0, 1, 63, 65 (1000 and 2^20 on the GPU), exact.

use super::{gen, Case, Check};
use tensor::tolerance::Tol;
use tensor::{DType, Device, Result, Rng, Tensor};

/// Constants made on the device (`fill.cu`).
fn fill(device: &Device, rng: &mut Rng, size: usize) -> Result<Vec<Check>> {
    let n = gen::len(rng, size, &[0, 1, 63, 65], &[1000, 1 << 20]);
    let mut out = vec![];
    for dtype in [DType::F32, DType::F64, DType::BF16, DType::F16, DType::I64] {
        let v = rng.uniform() * 100.0 - 50.0;
        let (got, want) =
            (Tensor::full(v, n, dtype, device)?, Tensor::full(v, n, dtype, &Device::Cpu)?);
        out.push(Check::new(
            format!("full {dtype} [{n}]"),
            got.to_device(&Device::Cpu)?,
            want,
            Tol::EXACT,
        ));
        if dtype == DType::I64 {
            // bytes (masks): u8 has a fill but no range
            let b = rng.below(256) as f64;
            let (got, want) = (
                Tensor::full(b, n, DType::U8, device)?,
                Tensor::full(b, n, DType::U8, &Device::Cpu)?,
            );
            out.push(Check::new(
                format!("full u8 [{n}]"),
                got.to_device(&Device::Cpu)?,
                want,
                Tol::EXACT,
            ));
        }
        let s = rng.below(100) as i64 - 50;
        let (got, want) = (
            Tensor::arange(s, s + n as i64, dtype, device)?,
            Tensor::arange(s, s + n as i64, dtype, &Device::Cpu)?,
        );
        out.push(Check::new(
            format!("arange {dtype} [{n}]"),
            got.to_device(&Device::Cpu)?,
            want,
            Tol::EXACT,
        ));
    }
    Ok(out)
}

pub fn cases() -> Vec<Case> {
    vec![Case { family: "fill", kernel: "fill, arange", run: fill }]
}
