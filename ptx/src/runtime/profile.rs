//! Device time per kernel entry. While a device's profile is on, every launch is bracketed by
//! two marks in the backend's queue (CUDA events on the GPU, the host clock in the
//! interpreter, which runs each launch to its end before returning); taking the profile waits
//! for the marks and sums, per entry, the launches and the device time between each pair.
//! `lawcat verify-kernels` times each kernel on its cases this way, and `LAWCAT_PROFILE=1`
//! prints the table for any command.

use super::{Backend, LaunchDims, Mark};
use crate::modules::Entry;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use tensor::{Error, Result};

/// What one entry did while the profile was on.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EntryTime {
    pub entry: Entry,
    pub launches: u64,
    /// Device time of all its launches.
    pub seconds: f64,
}

/// The launches of one device between `start` and `take`.
#[derive(Debug, Default)]
pub struct Profiler {
    on: AtomicBool,
    pending: Mutex<Vec<(Entry, Mark, Mark)>>,
}

impl Profiler {
    pub fn is_on(&self) -> bool {
        self.on.load(Ordering::Relaxed)
    }
    /// Starts recording (dropping what an earlier profile left).
    pub fn start(&self, backend: &dyn Backend) -> Result<()> {
        self.release(backend)?;
        self.on.store(true, Ordering::Relaxed);
        Ok(())
    }
    /// Queues `launch` between two marks.
    pub fn time(
        &self,
        backend: &dyn Backend,
        entry: Entry,
        dims: LaunchDims,
        launch: impl FnOnce() -> Result<()>,
    ) -> Result<()> {
        // The module is loaded (JIT-compiled on a GPU) outside the timed span.
        backend.prepare(entry, dims)?;
        let start = backend.mark()?;
        launch()?;
        let end = backend.mark()?;
        self.lock()?.push((entry, start, end));
        Ok(())
    }
    /// Stops recording and returns the time per entry, the longest first.
    pub fn take(&self, backend: &dyn Backend) -> Result<Vec<EntryTime>> {
        self.on.store(false, Ordering::Relaxed);
        let pending = std::mem::take(&mut *self.lock()?);
        let mut by: HashMap<Entry, EntryTime> = HashMap::new();
        for (entry, start, end) in pending {
            let s = backend.elapsed(start, end)?;
            let t = by.entry(entry).or_insert(EntryTime { entry, launches: 0, seconds: 0.0 });
            t.launches += 1;
            t.seconds += s;
        }
        let mut out: Vec<EntryTime> = by.into_values().collect();
        out.sort_by(|a, b| b.seconds.total_cmp(&a.seconds).then(a.entry.name.cmp(b.entry.name)));
        Ok(out)
    }
    fn release(&self, backend: &dyn Backend) -> Result<()> {
        for (_, a, b) in std::mem::take(&mut *self.lock()?) {
            backend.elapsed(a, b)?;
        }
        Ok(())
    }
    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Vec<(Entry, Mark, Mark)>>> {
        self.pending.lock().map_err(|_| Error::op("profile", "the profile's lock was poisoned"))
    }
}

/// The table of a profile: one line per entry (launches, total and mean device time, share).
pub fn table(times: &[EntryTime]) -> String {
    let total: f64 = times.iter().map(|t| t.seconds).sum();
    let launches: u64 = times.iter().map(|t| t.launches).sum();
    let mut s = format!(
        "{:<36} {:>9} {:>12} {:>11} {:>6}\n",
        "kernel entry", "launches", "device ms", "us/launch", "share"
    );
    for t in times {
        s += &format!(
            "{:<36} {:>9} {:>12.3} {:>11.2} {:>5.1}%\n",
            t.entry.to_string(),
            t.launches,
            t.seconds * 1e3,
            t.seconds * 1e6 / t.launches.max(1) as f64,
            100.0 * t.seconds / total.max(f64::MIN_POSITIVE)
        );
    }
    s += &format!("{:<36} {:>9} {:>12.3}\n", "total", launches, total * 1e3);
    s
}
