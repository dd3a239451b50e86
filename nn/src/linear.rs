//! `Linear` (`y = x W^T + b`, W stored `[out, in]` as in PyTorch) and `Embedding`
//! (row lookup). Weights keep the dtype they were stored in; activations are f32, except
//! under autocast ([`set_autocast`], `--dtype bf16`): then every product of a linear layer,
//! and the other products written with [`autocast_matmul`], multiply in bf16 on tensor
//! cores with f32 accumulation, as PyTorch's autocast does (mixed precision; without it,
//! `--dtype f32`, everything stays the f32 reference). See [`autocast_matmul`] for which
//! dtype each product gives.

use autograd::{Param, Var};
use tensor::{bail, DType, Device, Result, Rng, Tensor};

static AUTOCAST: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);

/// Turns autocast on for half-precision weights of `dtype` (`Some(DType::BF16)`), or off.
pub fn set_autocast(dtype: Option<DType>) {
    let code = match dtype {
        Some(DType::BF16) => 1,
        Some(DType::F16) => 2,
        _ => 0,
    };
    AUTOCAST.store(code, std::sync::atomic::Ordering::Relaxed);
}

/// The autocast dtype, when on.
pub fn autocast() -> Option<DType> {
    match AUTOCAST.load(std::sync::atomic::Ordering::Relaxed) {
        1 => Some(DType::BF16),
        2 => Some(DType::F16),
        _ => None,
    }
}

/// `a @ b` under the autocast rule. Without autocast, or for operands other than f32 and
/// the autocast dtype, the plain product. Under autocast, f32 operands are rounded to the
/// autocast dtype (differentiably: their gradients come back f32) and the product runs in
/// it; its backward does too (`autograd::ops::matmul`). The result keeps the autocast dtype
/// when an operand already had it (activations stay bf16: a half-precision layer's weight
/// times its input), and is widened back to f32 when both operands were f32 (the LAWCAT
/// parameters' small products, which feed softmaxes and log-gates computed in f32).
pub fn autocast_matmul(a: &Var, b: &Var) -> Result<Var> {
    let Some(low) = autocast() else { return a.matmul(b) };
    let castable = |d: DType| d == DType::F32 || d == low;
    if !castable(a.dtype()) || !castable(b.dtype()) {
        return a.matmul(b);
    }
    let y = a.to_dtype(low)?.matmul(&b.to_dtype(low)?)?;
    if a.dtype() == DType::F32 && b.dtype() == DType::F32 {
        y.to_dtype(DType::F32)
    } else {
        Ok(y)
    }
}

#[derive(Clone)]
pub struct Linear {
    pub weight: Param,
    pub bias: Option<Param>,
}

impl Linear {
    pub fn new(weight: Param, bias: Option<Param>) -> Linear {
        Linear { weight, bias }
    }
    /// Kaiming-uniform-like init: U(-1/sqrt(in), 1/sqrt(in)), PyTorch's default scale.
    pub fn init(
        name: &str,
        in_features: usize,
        out_features: usize,
        bias: bool,
        device: &Device,
        rng: &mut Rng,
    ) -> Result<Linear> {
        let bound = 1.0 / (in_features as f64).sqrt();
        let w = Tensor::rand_uniform(
            [out_features, in_features],
            -bound,
            bound,
            DType::F32,
            device,
            rng,
        )?;
        let b = bias
            .then(|| Tensor::rand_uniform(out_features, -bound, bound, DType::F32, device, rng))
            .transpose()?;
        Ok(Linear {
            weight: Param::new(format!("{name}.weight"), w),
            bias: b.map(|b| Param::new(format!("{name}.bias"), b)),
        })
    }
    pub fn in_features(&self) -> usize {
        self.weight.value().dims()[1]
    }
    pub fn out_features(&self) -> usize {
        self.weight.value().dims()[0]
    }
    /// `x [.., in] -> [.., out]`: leading dims flattened into one matrix product.
    pub fn forward(&self, x: &Var) -> Result<Var> {
        let dims = x.dims().to_vec();
        let Some((&last, lead)) = dims.split_last() else {
            bail!("Linear", "input must have at least one dim")
        };
        if last != self.in_features() {
            bail!(
                "Linear",
                "{}: input has {last} features, the layer takes {}",
                self.weight.name(),
                self.in_features()
            )
        }
        let rows: usize = lead.iter().product();
        let x2 = x.reshape([rows, last])?;
        let mut y = autocast_matmul(&x2, &self.weight.var().t()?)?;
        if let Some(b) = &self.bias {
            y = y.add(&b.var())?;
        }
        let mut out = lead.to_vec();
        out.push(self.out_features());
        y.reshape(out)
    }
    pub fn params(&self) -> Vec<Param> {
        std::iter::once(self.weight.clone()).chain(self.bias.clone()).collect()
    }
    /// `{prefix}.weight` and, when there is one, `{prefix}.bias` (HF's tensor names).
    pub fn named_params(&self, prefix: &str) -> Vec<(String, Param)> {
        let mut out = vec![(format!("{prefix}.weight"), self.weight.clone())];
        out.extend(self.bias.iter().map(|b| (format!("{prefix}.bias"), b.clone())));
        out
    }
}

#[derive(Clone)]
pub struct Embedding {
    pub weight: Param,
}

impl Embedding {
    /// Rows `ids` (i64, any shape) of the table, as f32: `[..ids, dim]`. Ids on the host
    /// are checked against the vocabulary, then moved to the table's device (the one
    /// upload of a batch); ids already on the device are the caller's to have checked (a
    /// device lookup of a bad id gives NaN rows, not a read out of bounds).
    /// Host ids checked against the vocabulary, then moved to the table's device: how a
    /// batch gets there once, for the embedding and for the loss's targets.
    pub fn ids_to_device(&self, ids: &Tensor) -> Result<Tensor> {
        let table = self.weight.value();
        let v = table.dims()[0];
        if ids.dtype() != DType::I64 {
            bail!("Embedding", "token ids must be i64, got {}", ids.dtype())
        }
        if let Some(&bad) = ids.to_vec_i64()?.iter().find(|&&i| i < 0 || i as usize >= v) {
            bail!(
                "Embedding",
                "token id {bad} is outside the vocabulary of {v} ({})",
                self.weight.name()
            )
        }
        ids.to_device(&table.device())
    }
    pub fn forward(&self, ids: &Tensor) -> Result<Var> {
        let mut flat = ids.flatten_all()?;
        if flat.device().is_cpu() {
            flat = self.ids_to_device(&flat)?;
        }
        let rows = self.weight.var().index_select(&flat, 0)?.to_dtype(DType::F32)?;
        let mut dims = ids.dims().to_vec();
        dims.push(self.weight.value().dims()[1]);
        rows.reshape(dims)
    }
}
