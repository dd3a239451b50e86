//! The caching allocator: device memory is taken from the backend in size classes and, when
//! a buffer is dropped, kept for the next request of its class instead of being freed, so a
//! training step (which allocates the same sizes every step) makes no driver allocation
//! after the first. Classes: powers of two up to 1 MiB, then whole MiB. When the backend
//! refuses an allocation, everything cached is freed and the allocation tried once more.

use super::Backend;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tensor::{Error, Result};

#[derive(Debug, Default)]
struct Cache {
    free: HashMap<usize, Vec<u64>>,
    /// Bytes held by live buffers and by the cache.
    in_use: usize,
    cached: usize,
    peak: usize,
    /// Bytes held by live buffers alone (their size classes), and the most since the last
    /// [`Pool::reset_peaks`].
    live: usize,
    live_peak: usize,
    driver_allocs: u64,
}

/// The pool of one device.
#[derive(Debug)]
pub struct Pool {
    backend: Arc<dyn Backend>,
    cache: Mutex<Cache>,
}

/// Pool statistics, in bytes (and the number of allocations that reached the backend).
/// `in_use` and `peak` count what the pool holds from the driver (live buffers and the
/// cache: PyTorch's "reserved"); `live` and `live_peak` the live buffers alone (its
/// "allocated", `torch.cuda.max_memory_allocated` for the peak), in size classes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolStats {
    pub in_use: usize,
    pub cached: usize,
    pub peak: usize,
    pub live: usize,
    pub live_peak: usize,
    pub driver_allocs: u64,
}

/// Device memory from the pool, returned to it on drop.
#[derive(Debug)]
pub struct Buffer {
    addr: u64,
    class: usize,
    pool: Arc<Pool>,
}

fn class_of(bytes: usize) -> usize {
    const MIB: usize = 1 << 20;
    if bytes <= MIB {
        bytes.max(256).next_power_of_two()
    } else {
        bytes.div_ceil(MIB) * MIB
    }
}

impl Pool {
    pub fn new(backend: Arc<dyn Backend>) -> Arc<Pool> {
        Arc::new(Pool { backend, cache: Mutex::new(Cache::default()) })
    }
    pub fn backend(&self) -> &Arc<dyn Backend> {
        &self.backend
    }
    fn cache(&self) -> Result<std::sync::MutexGuard<'_, Cache>> {
        self.cache.lock().map_err(|_| Error::op("pool", "the allocator's lock was poisoned"))
    }
    /// A buffer of at least `bytes` bytes.
    pub fn alloc(self: &Arc<Pool>, bytes: usize) -> Result<Buffer> {
        let class = class_of(bytes);
        let mut c = self.cache()?;
        if let Some(addr) = c.free.get_mut(&class).and_then(Vec::pop) {
            c.cached -= class;
            c.live += class;
            c.live_peak = c.live_peak.max(c.live);
            return Ok(Buffer { addr, class, pool: self.clone() });
        }
        let addr = match self.backend.alloc(class) {
            Ok(a) => a,
            Err(first) => {
                // Out of memory, perhaps because of what the cache holds: give it all back.
                for (_, addrs) in c.free.drain() {
                    for a in addrs {
                        self.backend.free(a)?;
                    }
                }
                c.in_use -= c.cached;
                c.cached = 0;
                self.backend.alloc(class).map_err(|e| {
                    Error::op(
                        "pool",
                        format!("{bytes} bytes: {e} (and before emptying the cache: {first})"),
                    )
                })?
            }
        };
        c.in_use += class;
        c.peak = c.peak.max(c.in_use);
        c.live += class;
        c.live_peak = c.live_peak.max(c.live);
        c.driver_allocs += 1;
        Ok(Buffer { addr, class, pool: self.clone() })
    }
    pub fn stats(&self) -> PoolStats {
        self.cache()
            .map(|c| PoolStats {
                in_use: c.in_use,
                cached: c.cached,
                peak: c.peak,
                live: c.live,
                live_peak: c.live_peak,
                driver_allocs: c.driver_allocs,
            })
            .unwrap_or_default()
    }
    /// Starts both peaks again from what is held now (to measure one piece of work).
    pub fn reset_peaks(&self) {
        if let Ok(mut c) = self.cache() {
            c.peak = c.in_use;
            c.live_peak = c.live;
        }
    }
    /// Frees everything cached (live buffers stay).
    pub fn trim(&self) -> Result<()> {
        let mut c = self.cache()?;
        for (_, addrs) in c.free.drain() {
            for a in addrs {
                self.backend.free(a)?;
            }
        }
        c.in_use -= c.cached;
        c.cached = 0;
        Ok(())
    }
}

impl Buffer {
    pub fn addr(&self) -> u64 {
        self.addr
    }
    /// Usable bytes (the size class, at least what was asked for).
    pub fn bytes(&self) -> usize {
        self.class
    }
}

impl Drop for Buffer {
    fn drop(&mut self) {
        if let Ok(mut c) = self.pool.cache.lock() {
            c.free.entry(self.class).or_default().push(self.addr);
            c.cached += self.class;
            c.live -= self.class;
        }
    }
}
