//! The record of transfers between the host and a device: every upload and download a device
//! makes, with its size and (when `RUST_BACKTRACE` is set) where it came from. The checking
//! device ([`crate::check_device`]), the GPU and the interpreter devices keep one each, so one
//! test proves a training step or a decoding step keeps its data on any of them.

use crate::DType;
use std::sync::Mutex;

/// Which way data crossed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Host to device.
    Upload,
    /// Device to host.
    Download,
}

/// One transfer: its direction and size, and where it came from (a backtrace, captured
/// when `RUST_BACKTRACE` is set).
#[derive(Clone, Debug)]
pub struct Transfer {
    pub direction: Direction,
    pub dtype: DType,
    pub elements: usize,
    pub origin: String,
}

impl std::fmt::Display for Transfer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?} of {} {} elements", self.direction, self.elements, self.dtype)?;
        if !self.origin.is_empty() {
            write!(f, "\n{}", self.origin)?;
        }
        Ok(())
    }
}

/// Every transfer a device made, in order: kept by the checking device and by the GPU and
/// interpreter devices alike (their [`AccelDevice::transfer_log`]), so one test proves a step
/// keeps its data on any of them.
#[derive(Debug, Default)]
pub struct TransferLog {
    log: Mutex<Vec<Transfer>>,
}

impl TransferLog {
    /// Notes a transfer of `elements` of `dtype`, with a backtrace when `RUST_BACKTRACE` is set.
    pub fn record(&self, direction: Direction, dtype: DType, elements: usize) {
        let bt = std::backtrace::Backtrace::capture();
        let origin = match bt.status() {
            std::backtrace::BacktraceStatus::Captured => bt.to_string(),
            _ => String::new(),
        };
        self.lock().push(Transfer { direction, dtype, elements, origin });
    }
    /// Every transfer since the device was made or last [`TransferLog::reset`].
    pub fn transfers(&self) -> Vec<Transfer> {
        self.lock().clone()
    }
    pub fn reset(&self) {
        self.lock().clear();
    }
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Transfer>> {
        // A test that panicked while holding the log leaves it as it was: still readable.
        self.log.lock().unwrap_or_else(|e| e.into_inner())
    }
}
