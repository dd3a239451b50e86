//! The interpreter as a backend: device memory is the [`Machine`]'s, launches run at once on
//! the calling thread, and a launch whose checker reports a problem (an out-of-bounds access,
//! a race, a read of memory nothing wrote...) is an error naming the kernel, so every kernel
//! test run on this device is also a sanitizer run.

use super::{Backend, KernelArg, LaunchDims, Mark};
use crate::modules::{self, Entry};
use ptx_interp::{Arg, Machine, Module};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tensor::{Error, Result};

struct State {
    machine: Machine,
    modules: HashMap<&'static str, Arc<Module>>,
    instructions: u64,
}

/// The PTX interpreter as a device.
pub struct InterpBackend {
    ordinal: usize,
    state: Mutex<State>,
}

impl std::fmt::Debug for InterpBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "InterpBackend({})", self.ordinal)
    }
}

impl InterpBackend {
    pub fn new(ordinal: usize, seed: u64) -> InterpBackend {
        InterpBackend {
            ordinal,
            state: Mutex::new(State {
                machine: Machine::new(seed),
                modules: HashMap::new(),
                instructions: 0,
            }),
        }
    }
    fn state(&self) -> Result<std::sync::MutexGuard<'_, State>> {
        self.state.lock().map_err(|_| {
            Error::op("interp", "the interpreter's lock was poisoned by an earlier panic")
        })
    }
    /// Instructions interpreted so far, all launches together.
    pub fn instructions(&self) -> u64 {
        self.state().map(|s| s.instructions).unwrap_or(0)
    }
}

fn mem(op: &'static str, e: impl std::fmt::Display) -> Error {
    Error::op(op, format!("interp: {e}"))
}

impl InterpBackend {
    /// Module `name`, parsed on first use and kept.
    fn module(&self, name: &'static str) -> Result<Arc<Module>> {
        let mut st = self.state()?;
        if let Some(m) = st.modules.get(name) {
            return Ok(m.clone());
        }
        let text = modules::text(name)?;
        let m = Arc::new(
            Module::parse(text, &format!("{name}.ptx"))
                .map_err(|e| Error::op("interp", e.to_string()))?,
        );
        st.modules.insert(name, m.clone());
        Ok(m)
    }
}

impl Backend for InterpBackend {
    fn kind(&self) -> &'static str {
        "interp"
    }
    fn ordinal(&self) -> usize {
        self.ordinal
    }
    fn describe(&self) -> String {
        format!("interp:{} (the PTX interpreter, with its checker)", self.ordinal)
    }
    fn alloc(&self, bytes: usize) -> Result<u64> {
        self.state()?.machine.alloc(bytes.max(1) as u64).map_err(|e| mem("alloc", e))
    }
    fn free(&self, addr: u64) -> Result<()> {
        self.state()?.machine.free(addr).map_err(|e| mem("free", e))
    }
    fn htod(&self, dst: u64, src: &[u8]) -> Result<()> {
        self.state()?.machine.write(dst, src).map_err(|e| mem("upload", e))
    }
    fn dtoh(&self, src: u64, dst: &mut [u8]) -> Result<()> {
        let st = self.state()?;
        dst.copy_from_slice(
            st.machine.view(src, dst.len() as u64).map_err(|e| mem("download", e))?,
        );
        Ok(())
    }
    fn dtod(&self, dst: u64, src: u64, bytes: usize) -> Result<()> {
        let mut st = self.state()?;
        let data = st.machine.read(src, bytes as u64).map_err(|e| mem("copy", e))?;
        st.machine.write(dst, &data).map_err(|e| mem("copy", e))
    }
    fn launch(&self, entry: Entry, dims: LaunchDims, args: &[KernelArg]) -> Result<()> {
        let Entry { module, name: entry } = entry;
        let what = || {
            format!(
                "{module}.{entry} grid {:?} block {:?} shared {}",
                dims.grid, dims.block, dims.shared
            )
        };
        let m = self.module(module).map_err(|e| Error::op("interp", format!("{}: {e}", what())))?;
        let mut st = self.state()?;
        let args: Vec<Arg> = args
            .iter()
            .map(|a| match a {
                KernelArg::Ptr(p) => Arg::Ptr(*p),
                KernelArg::U32(v) => Arg::U32(*v),
                KernelArg::I32(v) => Arg::S32(*v),
                KernelArg::U64(v) => Arg::U64(*v),
                KernelArg::I64(v) => Arg::S64(*v),
                KernelArg::F32(v) => Arg::F32(*v),
                KernelArg::F64(v) => Arg::F64(*v),
                KernelArg::Bytes(b) => Arg::Bytes(b.clone()),
            })
            .collect();
        let report = st
            .machine
            .launch(&m, entry, dims.grid, dims.block, dims.shared, &args)
            .map_err(|e| Error::op("interp", format!("{}: {e}", what())))?;
        st.instructions += report.instructions;
        if !report.is_clean() {
            let list: Vec<String> = report.problems.iter().take(5).map(|p| p.to_string()).collect();
            return Err(Error::op(
                "interp",
                format!(
                    "{}: the checker found {} problem(s):\n  {}",
                    what(),
                    report.problems.len(),
                    list.join("\n  ")
                ),
            ));
        }
        Ok(())
    }
    fn synchronize(&self) -> Result<()> {
        Ok(())
    }
    fn prepare(&self, entry: Entry, _dims: LaunchDims) -> Result<()> {
        self.module(entry.module).map(|_| ())
    }
    fn mark(&self) -> Result<Mark> {
        Ok(Mark::Host(std::time::Instant::now()))
    }
    fn elapsed(&self, start: Mark, end: Mark) -> Result<f64> {
        match (start, end) {
            (Mark::Host(a), Mark::Host(b)) => Ok(b.saturating_duration_since(a).as_secs_f64()),
            _ => Err(Error::op("interp", "a mark of another backend")),
        }
    }
}
