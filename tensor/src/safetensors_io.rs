//! safetensors files: reading (memory-mapped; a tensor is copied out only when asked for)
//! and writing (atomically). F32, F64, BF16, F16, I64 and U8/BOOL are stored as they are;
//! I32 is widened to I64 on reading.

use crate::atomic::write_atomic;
use crate::host::CpuStorage;
use crate::{DType, Error, Result, Tensor};
use safetensors::tensor::{Dtype as StDtype, TensorInfo};
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};

/// An open safetensors file: its header parsed, its data mapped, nothing copied yet.
pub struct SafetensorsFile {
    path: PathBuf,
    mmap: memmap2::Mmap,
    data_start: usize,
    infos: BTreeMap<String, TensorInfo>,
    metadata: HashMap<String, String>,
}

fn to_dtype(path: &Path, name: &str, d: StDtype) -> Result<(DType, bool)> {
    Ok(match d {
        StDtype::F32 => (DType::F32, false),
        StDtype::F64 => (DType::F64, false),
        StDtype::BF16 => (DType::BF16, false),
        StDtype::F16 => (DType::F16, false),
        StDtype::I64 => (DType::I64, false),
        StDtype::U8 | StDtype::BOOL => (DType::U8, false),
        StDtype::I32 => (DType::I64, true),
        other => {
            return Err(Error::file(
                path,
                format!(
                    "tensor {name:?} has dtype {other:?}, \
            which is not supported (F32, F64, BF16, F16, I64, I32, U8, BOOL are)"
                ),
            ))
        }
    })
}

fn st_dtype(d: DType) -> StDtype {
    match d {
        DType::F32 => StDtype::F32,
        DType::F64 => StDtype::F64,
        DType::BF16 => StDtype::BF16,
        DType::F16 => StDtype::F16,
        DType::I64 => StDtype::I64,
        DType::U8 => StDtype::U8,
    }
}

impl SafetensorsFile {
    pub fn open(path: impl AsRef<Path>) -> Result<SafetensorsFile> {
        let path = path.as_ref().to_path_buf();
        if path.is_dir() {
            return Err(Error::file(&path, "is a folder; expected a .safetensors file"));
        }
        let file = std::fs::File::open(&path).map_err(|e| Error::io(&path, e))?;
        // SAFETY: the map is read-only; a file changed underneath us while mapped is outside
        // what we promise (as for every mmap reader).
        let mmap = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Error::io(&path, e))?;
        let (n, meta) = safetensors::SafeTensors::read_metadata(&mmap)
            .map_err(|e| Error::file(&path, format!("not a valid safetensors file: {e}")))?;
        let infos = meta.tensors().into_iter().map(|(k, v)| (k, v.clone())).collect();
        let metadata = meta.metadata().clone().unwrap_or_default();
        Ok(SafetensorsFile { path, mmap, data_start: 8 + n, infos, metadata })
    }
    pub fn path(&self) -> &Path {
        &self.path
    }
    /// Tensor names, sorted.
    pub fn names(&self) -> Vec<&str> {
        self.infos.keys().map(|s| s.as_str()).collect()
    }
    pub fn contains(&self, name: &str) -> bool {
        self.infos.contains_key(name)
    }
    /// The `__metadata__` string map of the header.
    pub fn metadata(&self) -> &HashMap<String, String> {
        &self.metadata
    }
    /// Shape and dtype of a tensor, without reading it.
    pub fn info(&self, name: &str) -> Result<(Vec<usize>, DType)> {
        let info = self
            .infos
            .get(name)
            .ok_or_else(|| Error::file(&self.path, format!("no tensor named {name:?}")))?;
        Ok((info.shape.clone(), to_dtype(&self.path, name, info.dtype)?.0))
    }
    /// Reads one tensor into memory.
    pub fn load(&self, name: &str) -> Result<Tensor> {
        let info = self
            .infos
            .get(name)
            .ok_or_else(|| Error::file(&self.path, format!("no tensor named {name:?}")))?;
        let (dtype, widen) = to_dtype(&self.path, name, info.dtype)?;
        let (s, e) = info.data_offsets;
        let bytes = &self.mmap[self.data_start + s..self.data_start + e];
        let storage = if widen {
            let v: Vec<i64> = bytes
                .chunks_exact(4)
                .map(|c| i32::from_le_bytes(c.try_into().expect("4 bytes")) as i64)
                .collect();
            CpuStorage::I64(v)
        } else {
            CpuStorage::from_bytes(bytes, dtype).ok_or_else(|| {
                Error::file(
                    &self.path,
                    format!(
                        "tensor {name:?}: data length {} is not a whole number of {dtype} values",
                        bytes.len()
                    ),
                )
            })?
        };
        Tensor::from_cpu(storage, info.shape.clone())
            .map_err(|e| Error::file(&self.path, format!("tensor {name:?}: {e}")))
    }
    /// Every tensor, by name.
    pub fn load_all(&self) -> Result<BTreeMap<String, Tensor>> {
        self.infos.keys().map(|k| Ok((k.clone(), self.load(k)?))).collect()
    }
}

/// Reads safetensors data held in memory (`name` says where it came from, for errors).
pub fn load_bytes(bytes: &[u8], name: &str) -> Result<BTreeMap<String, Tensor>> {
    let path = PathBuf::from(name);
    let st = safetensors::SafeTensors::deserialize(bytes)
        .map_err(|e| Error::file(&path, format!("not valid safetensors data: {e}")))?;
    let mut out = BTreeMap::new();
    for (n, view) in st.tensors() {
        let (dtype, widen) = to_dtype(&path, &n, view.dtype())?;
        let data = view.data();
        let storage = if widen {
            CpuStorage::I64(
                data.chunks_exact(4)
                    .map(|c| i32::from_le_bytes(c.try_into().expect("4 bytes")) as i64)
                    .collect(),
            )
        } else {
            CpuStorage::from_bytes(data, dtype)
                .ok_or_else(|| Error::file(&path, format!("tensor {n:?}: bad data length")))?
        };
        out.insert(n.clone(), Tensor::from_cpu(storage, view.shape().to_vec())?);
    }
    Ok(out)
}

/// Reads a whole file.
pub fn load(path: impl AsRef<Path>) -> Result<BTreeMap<String, Tensor>> {
    SafetensorsFile::open(path)?.load_all()
}

struct View<'a> {
    dtype: StDtype,
    shape: Vec<usize>,
    data: Cow<'a, [u8]>,
}

impl safetensors::View for &View<'_> {
    fn dtype(&self) -> StDtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.data)
    }
    fn data_len(&self) -> usize {
        self.data.len()
    }
}

/// Writes `tensors` (with optional `__metadata__`) to `path`, atomically: the file at
/// `path` is either the old one or the complete new one, never a torn mix.
pub fn save<'a>(
    tensors: impl IntoIterator<Item = (&'a str, &'a Tensor)>,
    metadata: Option<HashMap<String, String>>,
    path: impl AsRef<Path>,
) -> Result<()> {
    let path = path.as_ref();
    let mut views = Vec::new();
    for (name, t) in tensors {
        let host = t.to_cpu_storage()?;
        views.push((
            name.to_string(),
            View {
                dtype: st_dtype(t.dtype()),
                shape: t.dims().to_vec(),
                data: Cow::Owned(host.as_bytes().to_vec()),
            },
        ));
    }
    let refs: Vec<(String, &View)> = views.iter().map(|(n, v)| (n.clone(), v)).collect();
    let bytes = safetensors::serialize(refs, metadata)
        .map_err(|e| Error::file(path, format!("cannot serialize: {e}")))?;
    write_atomic(path, |w| w.write_all(&bytes))
}
