//! The GPU as a backend, through the CUDA driver API (cudarc's thin `result` wrappers, loaded
//! at run time: a binary built without CUDA starts everywhere and says "no CUDA driver
//! found" where there is none). One context (the device's primary one), one stream, PTX
//! modules JIT-loaded on first use and kept; plain `cuMemAlloc` allocations (the caching pool
//! above keeps them); every launch error names the kernel and its shape.

use super::{Backend, KernelArg, LaunchDims, Mark};
use crate::modules::{self, Entry};
use cudarc::driver::{result, sys};
use std::collections::HashMap;
use std::ffi::{c_void, CString};
use std::sync::Mutex;
use tensor::{Error, Result};

/// True when the CUDA driver library can be loaded on this machine.
pub fn driver_present() -> bool {
    // SAFETY: only probes whether the shared library loads; no driver call is made.
    unsafe { sys::is_culib_present() }
}

/// How many CUDA devices there are (0 without a driver).
pub fn device_count() -> usize {
    if !driver_present() || result::init().is_err() {
        return 0;
    }
    result::device::get_count().map(|n| n.max(0) as usize).unwrap_or(0)
}

fn driver(what: impl std::fmt::Display, e: result::DriverError) -> Error {
    Error::op("cuda", format!("{what}: {e}"))
}

struct Loaded {
    modules: HashMap<&'static str, sys::CUmodule>,
    functions: HashMap<(&'static str, &'static str), (sys::CUfunction, u32)>,
}

/// One CUDA device.
pub struct CudaBackend {
    ordinal: usize,
    name: String,
    memory: usize,
    ctx: sys::CUcontext,
    stream: sys::CUstream,
    loaded: Mutex<Loaded>,
}

// SAFETY: the context and stream handles are process-wide driver objects; every call that
// uses them first makes the context current on the calling thread, and the driver
// serialises work on the one stream. Module and function handles are kept behind a Mutex.
unsafe impl Send for CudaBackend {}
// SAFETY: as for Send: no method hands out the raw handles, and the mutable state is locked.
unsafe impl Sync for CudaBackend {}

impl std::fmt::Debug for CudaBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CudaBackend({}: {})", self.ordinal, self.name)
    }
}

impl CudaBackend {
    /// Opens device `ordinal`: an error, never a panic, where there is no driver or device.
    pub fn open(ordinal: usize) -> Result<CudaBackend> {
        if !driver_present() {
            tensor::bail!(
                "cuda",
                "no CUDA driver found (libcuda could not be loaded); use \
                --device cpu, or --device interp to run the kernels in the PTX interpreter"
            )
        }
        result::init().map_err(|e| driver("cuInit", e))?;
        let count =
            result::device::get_count().map_err(|e| driver("cuDeviceGetCount", e))? as usize;
        if ordinal >= count {
            tensor::bail!("cuda", "device cuda:{ordinal} asked for, {count} CUDA device(s) present")
        }
        let dev = result::device::get(ordinal as i32).map_err(|e| driver("cuDeviceGet", e))?;
        let name = result::device::get_name(dev).unwrap_or_else(|_| "CUDA device".into());
        // SAFETY: `dev` came from cuDeviceGet above.
        let memory = unsafe { result::device::total_mem(dev) }.unwrap_or(0);
        // SAFETY: as above; the primary context is retained for the life of the process.
        let ctx = unsafe { result::primary_ctx::retain(dev) }
            .map_err(|e| driver("cuDevicePrimaryCtxRetain", e))?;
        // SAFETY: `ctx` was just retained.
        unsafe { result::ctx::set_current(ctx) }.map_err(|e| driver("cuCtxSetCurrent", e))?;
        let stream = result::stream::create(result::stream::StreamKind::NonBlocking)
            .map_err(|e| driver("cuStreamCreate", e))?;
        Ok(CudaBackend {
            ordinal,
            name,
            memory,
            ctx,
            stream,
            loaded: Mutex::new(Loaded { modules: HashMap::new(), functions: HashMap::new() }),
        })
    }

    /// Makes this device's context current on the calling thread (rayon threads included).
    fn current(&self) -> Result<()> {
        // SAFETY: the context was retained in `open` and is never released.
        unsafe { result::ctx::set_current(self.ctx) }.map_err(|e| driver("cuCtxSetCurrent", e))
    }

    /// The function handle of `module.entry`, loading the module on first use, with its
    /// dynamic shared memory limit raised to `shared` when that is over the default 48 KiB.
    fn function(
        &self,
        module: &'static str,
        entry: &'static str,
        shared: u32,
    ) -> Result<sys::CUfunction> {
        let mut l =
            self.loaded.lock().map_err(|_| Error::op("cuda", "module cache lock poisoned"))?;
        let (f, limit) = match l.functions.get(&(module, entry)) {
            Some(&f) => f,
            None => {
                let m = match l.modules.get(module) {
                    Some(&m) => m,
                    None => {
                        let text = CString::new(modules::text(module)?).map_err(|_| {
                            Error::op("cuda", format!("{module}.ptx holds a NUL byte"))
                        })?;
                        // SAFETY: `text` is a NUL-terminated PTX image that outlives the call.
                        let m =
                            unsafe { result::module::load_data(text.as_ptr() as *const c_void) }
                                .map_err(|e| driver(format!("loading {module}.ptx"), e))?;
                        l.modules.insert(module, m);
                        m
                    }
                };
                let name = CString::new(entry)
                    .map_err(|_| Error::op("cuda", "entry name holds a NUL byte"))?;
                // SAFETY: `m` is a loaded module, never unloaded.
                let f = unsafe { result::module::get_function(m, name) }
                    .map_err(|e| driver(format!("{module}.{entry}: no such entry"), e))?;
                l.functions.insert((module, entry), (f, 48 * 1024));
                (f, 48 * 1024)
            }
        };
        if shared > limit {
            // SAFETY: `f` is a live function handle.
            unsafe {
                result::function::set_function_attribute(
                    f,
                    sys::CUfunction_attribute_enum::CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                    shared as i32,
                )
            }
            .map_err(|e| {
                driver(format!("{module}.{entry}: {shared} bytes of dynamic shared memory"), e)
            })?;
            l.functions.insert((module, entry), (f, shared));
        }
        Ok(f)
    }
}

impl Backend for CudaBackend {
    fn kind(&self) -> &'static str {
        "cuda"
    }
    fn ordinal(&self) -> usize {
        self.ordinal
    }
    fn describe(&self) -> String {
        format!(
            "cuda:{} ({}, {:.1} GiB)",
            self.ordinal,
            self.name,
            self.memory as f64 / (1u64 << 30) as f64
        )
    }
    fn alloc(&self, bytes: usize) -> Result<u64> {
        self.current()?;
        // SAFETY: plain device allocation in the current context; the contents are
        // unspecified and every user writes before reading.
        unsafe { result::malloc_sync(bytes.max(1)) }
            .map_err(|e| driver(format!("cuMemAlloc of {bytes} bytes"), e))
    }
    fn free(&self, addr: u64) -> Result<()> {
        self.current()?;
        // SAFETY: `addr` came from `alloc` and is freed once (the pool's contract);
        // cuMemFree waits for the work that may still use it.
        unsafe { result::free_sync(addr) }.map_err(|e| driver("cuMemFree", e))
    }
    fn htod(&self, dst: u64, src: &[u8]) -> Result<()> {
        self.current()?;
        // SAFETY: `dst` holds at least `src.len()` bytes (the caller's contract); from
        // pageable memory the call returns once the source has been staged.
        unsafe { result::memcpy_htod_async(dst, src, self.stream) }
            .map_err(|e| driver(format!("upload of {} bytes", src.len()), e))
    }
    fn dtoh(&self, src: u64, dst: &mut [u8]) -> Result<()> {
        self.current()?;
        // SAFETY: `src` holds at least `dst.len()` bytes; the stream is synchronised before
        // `dst` is used.
        unsafe { result::memcpy_dtoh_async(dst, src, self.stream) }
            .map_err(|e| driver(format!("download of {} bytes", dst.len()), e))?;
        self.synchronize()
    }
    fn dtod(&self, dst: u64, src: u64, bytes: usize) -> Result<()> {
        self.current()?;
        // SAFETY: both ranges hold `bytes` bytes (the caller's contract).
        unsafe { result::memcpy_dtod_async(dst, src, bytes, self.stream) }
            .map_err(|e| driver(format!("device copy of {bytes} bytes"), e))
    }
    fn launch(&self, entry: Entry, dims: LaunchDims, args: &[KernelArg]) -> Result<()> {
        let Entry { module, name: entry } = entry;
        self.current()?;
        let f = self.function(module, entry, dims.shared)?;
        // Every argument's bytes, kept alive until the launch call returns (the driver
        // copies them then).
        let mut words: Vec<[u8; 8]> = Vec::with_capacity(args.len());
        for a in args {
            let mut w = [0u8; 8];
            match a {
                KernelArg::Ptr(v) | KernelArg::U64(v) => w.copy_from_slice(&v.to_le_bytes()),
                KernelArg::I64(v) => w.copy_from_slice(&v.to_le_bytes()),
                KernelArg::F64(v) => w.copy_from_slice(&v.to_le_bytes()),
                KernelArg::U32(v) => w[..4].copy_from_slice(&v.to_le_bytes()),
                KernelArg::I32(v) => w[..4].copy_from_slice(&v.to_le_bytes()),
                KernelArg::F32(v) => w[..4].copy_from_slice(&v.to_le_bytes()),
                KernelArg::Bytes(_) => {}
            }
            words.push(w);
        }
        let mut params: Vec<*mut c_void> = args
            .iter()
            .zip(words.iter_mut())
            .map(|(a, w)| match a {
                KernelArg::Bytes(b) => b.as_ptr() as *mut c_void,
                _ => w.as_mut_ptr() as *mut c_void,
            })
            .collect();
        let (g, b) = (dims.grid, dims.block);
        // SAFETY: `f` is a loaded entry whose parameters the launcher (crate::ops) built
        // `args` for, in order and type; every pointer argument is a live allocation of
        // this device; `params` and the bytes it points at outlive the call.
        unsafe {
            result::launch_kernel(
                f,
                (g[0], g[1], g[2]),
                (b[0], b[1], b[2]),
                dims.shared,
                self.stream,
                &mut params,
            )
        }
        .map_err(|e| {
            driver(
                format!("launching {module}.{entry} grid {g:?} block {b:?} shared {}", dims.shared),
                e,
            )
        })
    }
    fn synchronize(&self) -> Result<()> {
        self.current()?;
        // SAFETY: the stream was created in `open` and is never destroyed.
        unsafe { result::stream::synchronize(self.stream) }
            .map_err(|e| driver("stream synchronise (a kernel queued earlier failed)", e))
    }
    fn prepare(&self, entry: Entry, dims: LaunchDims) -> Result<()> {
        self.current()?;
        self.function(entry.module, entry.name, dims.shared).map(|_| ())
    }
    fn mark(&self) -> Result<Mark> {
        self.current()?;
        let e = result::event::create(sys::CUevent_flags::CU_EVENT_DEFAULT)
            .map_err(|e| driver("cuEventCreate", e))?;
        // SAFETY: `e` was just created in this context; the stream lives as long as `self`.
        unsafe { result::event::record(e, self.stream) }.map_err(|e| driver("cuEventRecord", e))?;
        Ok(Mark::Event(e as usize))
    }
    fn elapsed(&self, start: Mark, end: Mark) -> Result<f64> {
        let (Mark::Event(a), Mark::Event(b)) = (start, end) else {
            tensor::bail!("cuda", "a mark of another backend")
        };
        let (a, b) = (a as sys::CUevent, b as sys::CUevent);
        self.current()?;
        // SAFETY: both events were created and recorded by `mark` on this stream and are
        // destroyed here, once.
        unsafe {
            let ms = result::event::synchronize(b)
                .and_then(|_| result::event::elapsed(a, b))
                .map_err(|e| driver("cuEventElapsedTime", e));
            let _ = result::event::destroy(a);
            let _ = result::event::destroy(b);
            Ok(ms? as f64 / 1e3)
        }
    }
}
