//! GGUF (llama.cpp's model format, version 2 and 3): the header, typed metadata, tensor
//! descriptions, and each tensor's data dequantized to f32 (`quant.rs`). `convert.rs` turns
//! a Llama GGUF into our model (HF names and layout) and its tokenizer.

pub mod convert;
pub mod quant;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tensor::{Error, Result, Tensor};

/// A metadata value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    U64(u64),
    I64(i64),
    F32(f32),
    F64(f64),
    Bool(bool),
    Str(String),
    Array(Vec<Value>),
}

impl Value {
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::U8(v) => Some(v as u64),
            Value::U16(v) => Some(v as u64),
            Value::U32(v) => Some(v as u64),
            Value::U64(v) => Some(v),
            Value::I8(v) => u64::try_from(v).ok(),
            Value::I16(v) => u64::try_from(v).ok(),
            Value::I32(v) => u64::try_from(v).ok(),
            Value::I64(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::F32(v) => Some(v as f64),
            Value::F64(v) => Some(v),
            _ => self.as_u64().map(|v| v as f64),
        }
    }
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            Value::Bool(b) => Some(b),
            _ => None,
        }
    }
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }
}

/// ggml tensor types this reader knows (the numbers are ggml's).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GgmlType {
    F32,
    F16,
    BF16,
    Q4_0,
    Q4_1,
    Q5_0,
    Q5_1,
    Q8_0,
    Q2K,
    Q3K,
    Q4K,
    Q5K,
    Q6K,
}

impl GgmlType {
    pub fn from_u32(v: u32) -> Option<GgmlType> {
        Some(match v {
            0 => GgmlType::F32,
            1 => GgmlType::F16,
            2 => GgmlType::Q4_0,
            3 => GgmlType::Q4_1,
            6 => GgmlType::Q5_0,
            7 => GgmlType::Q5_1,
            8 => GgmlType::Q8_0,
            10 => GgmlType::Q2K,
            11 => GgmlType::Q3K,
            12 => GgmlType::Q4K,
            13 => GgmlType::Q5K,
            14 => GgmlType::Q6K,
            30 => GgmlType::BF16,
            _ => return None,
        })
    }
    /// (values per block, bytes per block)
    pub fn block(self) -> (usize, usize) {
        match self {
            GgmlType::F32 => (1, 4),
            GgmlType::F16 | GgmlType::BF16 => (1, 2),
            GgmlType::Q4_0 => (32, 18),
            GgmlType::Q4_1 => (32, 20),
            GgmlType::Q5_0 => (32, 22),
            GgmlType::Q5_1 => (32, 24),
            GgmlType::Q8_0 => (32, 34),
            GgmlType::Q2K => (256, 84),
            GgmlType::Q3K => (256, 110),
            GgmlType::Q4K => (256, 144),
            GgmlType::Q5K => (256, 176),
            GgmlType::Q6K => (256, 210),
        }
    }
}

#[derive(Clone, Debug)]
pub struct TensorInfo {
    pub name: String,
    /// ggml order: `dims[0]` varies fastest (for a weight, the input features).
    pub ggml_dims: Vec<usize>,
    pub kind: GgmlType,
    /// Offset in the file (absolute).
    pub offset: usize,
    pub nbytes: usize,
}

impl TensorInfo {
    /// The PyTorch-order shape (slowest first).
    pub fn shape(&self) -> Vec<usize> {
        self.ggml_dims.iter().rev().copied().collect()
    }
}

pub struct GgufFile {
    pub path: PathBuf,
    pub version: u32,
    pub metadata: BTreeMap<String, Value>,
    pub tensors: Vec<TensorInfo>,
    mmap: memmap2::Mmap,
}

struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
    path: &'a Path,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len());
        match end {
            Some(e) => {
                let s = &self.buf[self.pos..e];
                self.pos = e;
                Ok(s)
            }
            None => Err(Error::file(self.path, format!("truncated: needs {n} more bytes at offset {}, file has {}", self.pos, self.buf.len()))),
        }
    }
    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_le_bytes(self.take(2)?.try_into().expect("2 bytes")))
    }
    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes")))
    }
    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().expect("8 bytes")))
    }
    fn len(&mut self, what: &str) -> Result<usize> {
        let n = self.u64()?;
        if n > self.buf.len() as u64 {
            return Err(Error::file(self.path, format!("{what} length {n} at offset {} is larger than the file", self.pos - 8)));
        }
        Ok(n as usize)
    }
    fn string(&mut self) -> Result<String> {
        let n = self.len("string")?;
        let b = self.take(n)?;
        String::from_utf8(b.to_vec()).map_err(|_| Error::file(self.path, format!("string at offset {} is not UTF-8", self.pos - n)))
    }
    fn value(&mut self, ty: u32, depth: usize) -> Result<Value> {
        Ok(match ty {
            0 => Value::U8(self.u8()?),
            1 => Value::I8(self.u8()? as i8),
            2 => Value::U16(self.u16()?),
            3 => Value::I16(self.u16()? as i16),
            4 => Value::U32(self.u32()?),
            5 => Value::I32(self.u32()? as i32),
            6 => Value::F32(f32::from_bits(self.u32()?)),
            7 => Value::Bool(self.u8()? != 0),
            8 => Value::Str(self.string()?),
            9 if depth < 4 => {
                let et = self.u32()?;
                let n = self.len("array")?;
                let mut v = Vec::with_capacity(n.min(1 << 20));
                for _ in 0..n {
                    v.push(self.value(et, depth + 1)?);
                }
                Value::Array(v)
            }
            10 => Value::U64(self.u64()?),
            11 => Value::I64(self.u64()? as i64),
            12 => Value::F64(f64::from_bits(self.u64()?)),
            other => return Err(Error::file(self.path, format!("unknown metadata value type {other} at offset {}", self.pos))),
        })
    }
}

impl GgufFile {
    pub fn open(path: impl AsRef<Path>) -> Result<GgufFile> {
        let path = path.as_ref().to_path_buf();
        let file = std::fs::File::open(&path).map_err(|e| Error::io(&path, e))?;
        // SAFETY: read-only map of a file we do not modify.
        let mmap = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Error::io(&path, e))?;
        let mut c = Cursor { buf: &mmap, pos: 0, path: &path };
        let magic = c.take(4).map_err(|_| Error::file(&path, "not a GGUF file: shorter than its magic number"))?;
        if magic != b"GGUF" {
            return Err(Error::file(&path, format!("not a GGUF file: magic {:?}, expected \"GGUF\"", String::from_utf8_lossy(magic))));
        }
        let version = c.u32()?;
        if !(2..=3).contains(&version) {
            return Err(Error::file(&path, format!("GGUF version {version} is not supported (2 and 3 are)")));
        }
        let n_tensors = c.len("tensor count")?;
        let n_kv = c.len("metadata count")?;
        let mut metadata = BTreeMap::new();
        for _ in 0..n_kv {
            let key = c.string()?;
            let ty = c.u32()?;
            let v = c.value(ty, 0)?;
            metadata.insert(key, v);
        }
        let mut raw = vec![];
        for _ in 0..n_tensors {
            let name = c.string()?;
            let nd = c.u32()? as usize;
            if nd > 4 {
                return Err(Error::file(&path, format!("tensor {name:?} has {nd} dims (at most 4)")));
            }
            let dims = (0..nd).map(|_| c.u64().map(|d| d as usize)).collect::<Result<Vec<_>>>()?;
            let ty = c.u32()?;
            let off = c.u64()? as usize;
            raw.push((name, dims, ty, off));
        }
        let align = metadata.get("general.alignment").and_then(Value::as_u64).unwrap_or(32) as usize;
        if align == 0 || !align.is_power_of_two() {
            return Err(Error::file(&path, format!("general.alignment {align} is not a power of two")));
        }
        let data_start = c.pos.div_ceil(align) * align;
        let mut tensors = vec![];
        for (name, dims, ty, off) in raw {
            let kind = GgmlType::from_u32(ty).ok_or_else(|| {
                Error::file(&path, format!("tensor {name:?} has ggml type {ty}, which this reader does not dequantize (supported: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K)"))
            })?;
            let n: usize = dims.iter().product();
            let (bs, bb) = kind.block();
            if dims.first().is_some_and(|&d| d % bs != 0) {
                return Err(Error::file(&path, format!("tensor {name:?}: row length {} is not a multiple of the {kind:?} block size {bs}", dims[0])));
            }
            let nbytes = n / bs * bb;
            let offset = data_start + off;
            if offset.checked_add(nbytes).map_or(true, |e| e > mmap.len()) {
                return Err(Error::file(&path, format!("tensor {name:?} ({nbytes} bytes at offset {offset}) runs past the end of the file ({} bytes): truncated?", mmap.len())));
            }
            tensors.push(TensorInfo { name, ggml_dims: dims, kind, offset, nbytes });
        }
        Ok(GgufFile { path, version, metadata, tensors, mmap })
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.metadata.get(key)
    }
    pub fn require(&self, key: &str) -> Result<&Value> {
        self.get(key).ok_or_else(|| Error::file(&self.path, format!("missing metadata key {key:?}")))
    }
    pub fn require_u64(&self, key: &str) -> Result<u64> {
        self.require(key)?.as_u64().ok_or_else(|| Error::file(&self.path, format!("metadata {key:?} is not an integer")))
    }
    pub fn info(&self, name: &str) -> Option<&TensorInfo> {
        self.tensors.iter().find(|t| t.name == name)
    }
    /// A tensor dequantized to f32, in PyTorch order (`[rows, row_length]` for weights).
    pub fn tensor(&self, name: &str) -> Result<Tensor> {
        let info = self.info(name).ok_or_else(|| Error::file(&self.path, format!("no tensor named {name:?}")))?;
        let bytes = &self.mmap[info.offset..info.offset + info.nbytes];
        let n: usize = info.ggml_dims.iter().product();
        let values = quant::dequantize(info.kind, bytes, n).map_err(|m| Error::file(&self.path, format!("tensor {name:?}: {m}")))?;
        Tensor::from_vec(values, info.shape(), &tensor::Device::Cpu)
    }
}
