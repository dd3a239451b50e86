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
    /// Elements (the product of the dims, checked when the file was opened).
    pub fn numel(&self) -> usize {
        self.ggml_dims.iter().product()
    }
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

/// Metadata values a file may hold in all (arrays included): real files hold a few
/// hundred thousand (the tokens and merges); each costs 32 bytes in memory however few it
/// takes in the file, so a length field cannot make the reader take gigabytes.
const MAX_VALUES: usize = 1 << 23;

struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
    path: &'a Path,
    values: usize,
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
            None => Err(Error::file(
                self.path,
                format!(
                    "truncated: needs {n} more bytes at offset {}, file has {}",
                    self.pos,
                    self.buf.len()
                ),
            )),
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
    /// A count of items that take at least `min_bytes` each: more than the rest of the
    /// file can hold is an error before anything is read or reserved.
    fn count(&mut self, what: &str, min_bytes: usize) -> Result<usize> {
        let at = self.pos;
        let n = self.u64()?;
        let left = (self.buf.len() - self.pos) as u64;
        if n.checked_mul(min_bytes as u64).is_none_or(|b| b > left) {
            return Err(Error::file(
                self.path,
                format!(
                    "{what} {n} at offset {at} is more than the {left} bytes left in the file can \
                     hold: truncated or corrupt"
                ),
            ));
        }
        Ok(n as usize)
    }
    fn string(&mut self) -> Result<String> {
        let n = self.count("string length", 1)?;
        let b = self.take(n)?;
        String::from_utf8(b.to_vec()).map_err(|_| {
            Error::file(self.path, format!("string at offset {} is not UTF-8", self.pos - n))
        })
    }
    /// The smallest encoding of a value of type `ty` (0 for unknown types, caught later).
    fn min_size(ty: u32) -> usize {
        match ty {
            0 | 1 | 7 => 1,
            2 | 3 => 2,
            4..=6 => 4,
            8 | 10..=12 => 8,
            9 => 12,
            _ => 1,
        }
    }
    fn value(&mut self, ty: u32, depth: usize) -> Result<Value> {
        self.values += 1;
        if self.values > MAX_VALUES {
            return Err(Error::file(
                self.path,
                format!(
                    "more than {MAX_VALUES} metadata values (at offset {}): not a model file this \
                     reader takes",
                    self.pos
                ),
            ));
        }
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
                let n = self.count("array length", Self::min_size(et))?;
                let mut v = Vec::with_capacity(n.min(1 << 16));
                for _ in 0..n {
                    v.push(self.value(et, depth + 1)?);
                }
                Value::Array(v)
            }
            10 => Value::U64(self.u64()?),
            11 => Value::I64(self.u64()? as i64),
            12 => Value::F64(f64::from_bits(self.u64()?)),
            other => {
                return Err(Error::file(
                    self.path,
                    format!("unknown metadata value type {other} at offset {}", self.pos),
                ))
            }
        })
    }
}

impl GgufFile {
    /// Reads the header, metadata and tensor table, and checks every size and offset in
    /// them (checked arithmetic throughout): each tensor's data lies inside the file, at an
    /// aligned offset, without overlapping another, and the tensors tile the data section
    /// (a gap or an overlap means a type or a shape does not match the bytes).
    pub fn open(path: impl AsRef<Path>) -> Result<GgufFile> {
        let path = path.as_ref().to_path_buf();
        if path.is_dir() {
            return Err(Error::file(&path, "is a folder; expected a .gguf file"));
        }
        let file = std::fs::File::open(&path).map_err(|e| Error::io(&path, e))?;
        // SAFETY: read-only map of a file we do not modify.
        let mmap = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Error::io(&path, e))?;
        let mut c = Cursor { buf: &mmap, pos: 0, path: &path, values: 0 };
        let magic = c
            .take(4)
            .map_err(|_| Error::file(&path, "not a GGUF file: shorter than its magic number"))?;
        if magic != b"GGUF" {
            return Err(Error::file(
                &path,
                format!(
                    "not a GGUF file: magic {:?}, expected \"GGUF\"",
                    String::from_utf8_lossy(magic)
                ),
            ));
        }
        let version = c.u32()?;
        if !(2..=3).contains(&version) {
            return Err(Error::file(
                &path,
                format!("GGUF version {version} is not supported (2 and 3 are)"),
            ));
        }
        // a tensor entry is at least 8 (name length) + 4 (dims) + 4 (type) + 8 (offset) bytes
        let n_tensors = c.count("tensor count", 24)?;
        // a metadata entry is at least 8 (key length) + 4 (type) + 1 bytes
        let n_kv = c.count("metadata count", 13)?;
        let mut metadata = BTreeMap::new();
        for _ in 0..n_kv {
            let at = c.pos;
            let key = c.string()?;
            let ty = c.u32()?;
            let v = c.value(ty, 0)?;
            if metadata.insert(key.clone(), v).is_some() {
                return Err(Error::file(
                    &path,
                    format!("metadata key {key:?} appears twice (again at offset {at})"),
                ));
            }
        }
        let mut raw = vec![];
        let mut names = std::collections::HashSet::new();
        for _ in 0..n_tensors {
            let name = c.string()?;
            let nd = c.u32()? as usize;
            if nd == 0 || nd > 4 {
                return Err(Error::file(&path, format!("tensor {name:?} has {nd} dims (1 to 4)")));
            }
            let dims = (0..nd).map(|_| c.u64()).collect::<Result<Vec<_>>>()?;
            let ty = c.u32()?;
            let off = c.u64()?;
            if !names.insert(name.clone()) {
                return Err(Error::file(&path, format!("tensor {name:?} is listed twice")));
            }
            if dims.contains(&0) {
                return Err(Error::file(
                    &path,
                    format!("tensor {name:?} has dims {dims:?}: a dim of 0"),
                ));
            }
            raw.push((name, dims, ty, off));
        }
        let align = match metadata.get("general.alignment") {
            None => 32,
            Some(v) => v.as_u64().ok_or_else(|| {
                Error::file(&path, format!("general.alignment is {v:?}, not an integer"))
            })?,
        };
        if align == 0 || !align.is_power_of_two() || align > 1 << 20 {
            return Err(Error::file(
                &path,
                format!("general.alignment {align} is not a power of two up to 1 MiB"),
            ));
        }
        let align = align as usize;
        let file_len = mmap.len();
        let data_start = c.pos.div_ceil(align) * align;
        let mut tensors = vec![];
        for (name, dims, ty, off) in raw {
            let kind = GgmlType::from_u32(ty).ok_or_else(|| {
                Error::file(
                    &path,
                    format!(
                        "tensor {name:?} has ggml type {ty}, which this reader does not dequantize \
                         (supported: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, \
                         Q4_K, Q5_K, Q6_K)"
                    ),
                )
            })?;
            let (bs, bb) = kind.block();
            let n = dims.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d));
            let nbytes = n.and_then(|n| (n / bs as u64).checked_mul(bb as u64));
            let Some((n, nbytes)) = n.zip(nbytes).filter(|&(_, b)| b <= file_len as u64) else {
                return Err(Error::file(
                    &path,
                    format!(
                        "tensor {name:?} has dims {dims:?}: {kind:?} data of that size cannot fit \
                         in the file ({file_len} bytes)"
                    ),
                ));
            };
            if dims[0] % bs as u64 != 0 {
                return Err(Error::file(
                    &path,
                    format!(
                        "tensor {name:?}: row length {} is not a multiple of the {kind:?} block \
                         size {bs}",
                        dims[0]
                    ),
                ));
            }
            if off % align as u64 != 0 {
                return Err(Error::file(
                    &path,
                    format!(
                        "tensor {name:?} starts at data offset {off}, which is not a multiple of \
                         the alignment {align}"
                    ),
                ));
            }
            let offset = (data_start as u64).checked_add(off).filter(|&o| o <= file_len as u64);
            let Some(offset) = offset.filter(|o| o + nbytes <= file_len as u64) else {
                return Err(Error::file(
                    &path,
                    format!(
                        "tensor {name:?} ({nbytes} bytes at data offset {off}, the data starting \
                         at {data_start}) runs past the end of the file ({file_len} bytes): \
                         truncated?"
                    ),
                ));
            };
            let _ = n; // fits: n / bs * bb bytes are inside the file
            let ggml_dims = dims.iter().map(|&d| d as usize).collect();
            tensors.push(TensorInfo {
                name,
                ggml_dims,
                kind,
                offset: offset as usize,
                nbytes: nbytes as usize,
            });
        }
        check_tiling(&path, &tensors, data_start, file_len, align)?;
        Ok(GgufFile { path, version, metadata, tensors, mmap })
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.metadata.get(key)
    }
    pub fn require(&self, key: &str) -> Result<&Value> {
        self.get(key)
            .ok_or_else(|| Error::file(&self.path, format!("missing metadata key {key:?}")))
    }
    pub fn require_u64(&self, key: &str) -> Result<u64> {
        self.require(key)?
            .as_u64()
            .ok_or_else(|| Error::file(&self.path, format!("metadata {key:?} is not an integer")))
    }
    pub fn info(&self, name: &str) -> Option<&TensorInfo> {
        self.tensors.iter().find(|t| t.name == name)
    }
    /// A tensor dequantized to f32, in PyTorch order (`[rows, row_length]` for weights).
    pub fn tensor(&self, name: &str) -> Result<Tensor> {
        let info = self
            .info(name)
            .ok_or_else(|| Error::file(&self.path, format!("no tensor named {name:?}")))?;
        let bytes = &self.mmap[info.offset..info.offset + info.nbytes];
        let values = quant::dequantize(info.kind, bytes, info.numel())
            .map_err(|m| Error::file(&self.path, format!("tensor {name:?}: {m}")))?;
        Tensor::from_vec(values, info.shape(), &tensor::Device::Cpu)
            .map_err(|e| Error::file(&self.path, format!("tensor {name:?}: {e}")))
    }
}

/// The tensors' data must tile the data section: sorted by offset, each starts where the
/// previous one ended (plus padding to the alignment), the first at the start, the last
/// ending at the end of the file (plus padding). A gap or an overlap means a tensor's
/// type or dims say a size its bytes do not have.
fn check_tiling(
    path: &Path,
    tensors: &[TensorInfo],
    data_start: usize,
    file_len: usize,
    align: usize,
) -> Result<()> {
    let mut order: Vec<&TensorInfo> = tensors.iter().collect();
    order.sort_by_key(|t| t.offset);
    let mut end = data_start;
    let mut prev: Option<&TensorInfo> = None;
    for t in order {
        if t.offset < end {
            let p = prev.expect("the first tensor starts at or after the data start");
            return Err(Error::file(
                path,
                format!(
                    "tensors {:?} and {:?} overlap: {:?} ({:?}, {} bytes) ends at {end}, {:?} \
                     starts at {}",
                    p.name, t.name, p.name, p.kind, p.nbytes, t.name, t.offset
                ),
            ));
        }
        if t.offset - end >= align {
            let what = match prev {
                Some(p) => format!(
                    "after {:?} ({:?}, dims {:?}, {} bytes), which ends at {end}",
                    p.name, p.kind, p.ggml_dims, p.nbytes
                ),
                None => format!("at the start of the data ({end})"),
            };
            return Err(Error::file(
                path,
                format!(
                    "{} unaccounted bytes {what}, before {:?} at {}: a tensor's type or dims do \
                     not match its data",
                    t.offset - end,
                    t.name,
                    t.offset
                ),
            ));
        }
        end = t.offset + t.nbytes;
        prev = Some(t);
    }
    if let Some(p) = prev {
        if file_len - end >= align {
            return Err(Error::file(
                path,
                format!(
                    "{} unaccounted bytes after the last tensor {:?} ({:?}, dims {:?}, {} bytes), \
                     which ends at {end}: its type or dims do not match its data",
                    file_len - end,
                    p.name,
                    p.kind,
                    p.ggml_dims,
                    p.nbytes
                ),
            ));
        }
    }
    Ok(())
}
