//! Global memory: allocations at 64-bit addresses with unmapped gaps between them, so an
//! overrun lands in no allocation, and a per-byte "written since allocation" bit for the
//! checker's uninitialised-read test. Addresses are never reused, so a use after `free`
//! also lands in no allocation (and is named as freed).
//!
//! The generic address space (ISA 6.4.1) is laid out as: global allocations (and the
//! module-scope `.global` and `.const` variables, allocations with a name) from
//! [`GLOBAL_BASE`], the block's shared memory at [`SHARED_WINDOW`] and the thread's local
//! memory at [`LOCAL_WINDOW`], each window 4 GiB. Functions have addresses too (for indirect
//! calls), in [`FUNC_WINDOW`], where nothing can be read or written.

use super::error::MemError;
use super::rng::Rng;

pub const GLOBAL_BASE: u64 = 0x7f00_0000_0000;
pub const SHARED_WINDOW: u64 = 0x7e00_0000_0000;
pub const LOCAL_WINDOW: u64 = 0x7d00_0000_0000;
pub const WINDOW_BYTES: u64 = 1 << 32;
pub const FUNC_WINDOW: u64 = 0x7c00_0000_0000;
/// An address this close to an allocation (or within its own size of it) is reported as
/// missing that allocation; farther from all of them, as in no buffer at all.
pub const NEAR_BYTES: u64 = 4096;
/// Unmapped bytes after each allocation (at least; the next one starts 64 KiB-aligned).
pub const GAP: u64 = 1 << 20;
const MAX_ALLOC: u64 = 1 << 40;

pub struct Alloc {
    pub base: u64,
    pub data: Vec<u8>,
    /// One bit per byte: written (by the host or a kernel) since allocation.
    pub init: Vec<u64>,
    /// The module variable it holds (`None` for a host or `malloc` allocation).
    pub name: Option<String>,
    /// A `.const` variable: kernels may not write it (the host may).
    pub read_only: bool,
}

impl Alloc {
    /// Names it in reports: "the 400-byte allocation at 0x7f0000000000", or "the .global
    /// variable `table` (16 bytes at 0x...)".
    pub fn describe(&self) -> String {
        match &self.name {
            Some(n) => format!(
                "the .{} variable `{n}` ({} bytes at 0x{:x})",
                if self.read_only { "const" } else { "global" },
                self.size(),
                self.base
            ),
            None => format!("the {}-byte allocation at 0x{:x}", self.size(), self.base),
        }
    }

    pub fn size(&self) -> u64 {
        self.data.len() as u64
    }

    pub fn mark_init(&mut self, off: usize, len: usize) {
        for i in off..off + len {
            self.init[i >> 6] |= 1 << (i & 63);
        }
    }

    /// The first byte in `off..off+len` never written, if any.
    pub fn first_uninit(&self, off: usize, len: usize) -> Option<usize> {
        (off..off + len).find(|&i| self.init[i >> 6] & (1 << (i & 63)) == 0)
    }
}

pub struct Global {
    /// Live allocations, sorted by base (addresses only grow).
    pub allocs: Vec<Alloc>,
    freed: Vec<(u64, u64)>,
    next: u64,
    rng: Rng,
    /// The allocation hit last (most accesses hit the same one again).
    last: usize,
}

impl Global {
    pub fn new(seed: u64) -> Global {
        Global {
            allocs: vec![],
            freed: vec![],
            next: GLOBAL_BASE,
            rng: Rng::new(seed ^ 0x6a6c_6f62),
            last: 0,
        }
    }

    /// A new allocation of `bytes`, 256-byte aligned, filled with seeded garbage.
    pub fn alloc(&mut self, bytes: u64) -> Result<u64, MemError> {
        if bytes == 0 || bytes > MAX_ALLOC {
            return Err(MemError::BadSize(bytes));
        }
        let base = self.next;
        self.next = (base + bytes + GAP).next_multiple_of(1 << 16);
        let mut data = vec![0u8; bytes as usize];
        self.rng.fill(&mut data);
        let init = vec![0u64; (bytes as usize).div_ceil(64)];
        self.allocs.push(Alloc { base, data, init, name: None, read_only: false });
        Ok(base)
    }

    /// Allocates a module variable: `data` are its initial bytes (all count as written),
    /// aligned to `align` (at most 64 KiB).
    pub fn alloc_var(
        &mut self,
        name: &str,
        data: Vec<u8>,
        read_only: bool,
        align: u64,
    ) -> Result<u64, MemError> {
        let bytes = data.len().max(1) as u64;
        if bytes > MAX_ALLOC {
            return Err(MemError::BadSize(bytes));
        }
        let base = self.next.next_multiple_of(align.clamp(1, 1 << 16));
        self.next = (base + bytes + GAP).next_multiple_of(1 << 16);
        let mut data = data;
        data.resize(bytes as usize, 0);
        let init = vec![u64::MAX; (bytes as usize).div_ceil(64)];
        self.allocs.push(Alloc { base, data, init, name: Some(name.to_string()), read_only });
        Ok(base)
    }

    /// Frees a host or `malloc` allocation (module variables stay).
    pub fn free(&mut self, addr: u64) -> Result<(), MemError> {
        let i = self
            .allocs
            .iter()
            .position(|a| a.base == addr && a.name.is_none())
            .ok_or(MemError::NotAllocated(addr))?;
        let a = self.allocs.remove(i);
        self.freed.push((a.base, a.size()));
        self.last = 0;
        Ok(())
    }

    /// The allocation holding `len` bytes at `addr`, and the offset in it.
    pub fn find(&mut self, addr: u64, len: u64) -> Option<(usize, usize)> {
        if let Some(a) = self.allocs.get(self.last) {
            if addr >= a.base
                && addr.wrapping_add(len) <= a.base + a.size()
                && addr.wrapping_add(len) >= addr
            {
                return Some((self.last, (addr - a.base) as usize));
            }
        }
        let i = self.allocs.partition_point(|a| a.base <= addr).checked_sub(1)?;
        let a = &self.allocs[i];
        let end = addr.checked_add(len)?;
        if end <= a.base + a.size() {
            self.last = i;
            Some((i, (addr - a.base) as usize))
        } else {
            None
        }
    }

    /// The `len` bytes at `addr`, if they are in one allocation.
    pub fn bytes(&self, addr: u64, len: u64) -> Option<&[u8]> {
        let i = self.allocs.partition_point(|a| a.base <= addr).checked_sub(1)?;
        let a = &self.allocs[i];
        let off = addr - a.base;
        let end = off.checked_add(len)?;
        (end <= a.size()).then(|| &a.data[off as usize..end as usize])
    }

    /// Where an address that is in no allocation lies, for reports: inside a freed
    /// allocation; near the allocation it is closest to (measured to its bounds, above or
    /// below); or in no buffer at all.
    pub fn describe_miss(&self, addr: u64, len: u64) -> String {
        if let Some(&(b, s)) = self.freed.iter().find(|(b, s)| addr >= *b && addr < b + s) {
            return format!(
                "{len}-byte access inside the freed {s}-byte allocation at 0x{b:x} (offset {})",
                addr - b
            );
        }
        if addr < NEAR_BYTES {
            return format!("{len}-byte access at 0x{addr:x}: a null pointer (plus {addr})");
        }
        let i = self.allocs.partition_point(|a| a.base <= addr);
        // The allocation below (that the access starts in or after) and the one above.
        let below = i.checked_sub(1).map(|j| &self.allocs[j]).map(|a| {
            let end = a.base + a.size();
            (a, addr.saturating_sub(end))
        });
        let above = self.allocs.get(i).map(|a| (a, a.base - addr.min(a.base)));
        let nearest = match (below, above) {
            (Some(b), Some(a)) => {
                Some(if a.1 < b.1 { (a.0, a.1, false) } else { (b.0, b.1, true) })
            }
            (Some(b), None) => Some((b.0, b.1, true)),
            (None, Some(a)) => Some((a.0, a.1, false)),
            (None, None) => None,
        };
        let Some((a, dist, after)) = nearest else {
            return format!("{len}-byte access at 0x{addr:x}, and nothing is allocated");
        };
        let end = a.base + a.size();
        if after && addr < end {
            return format!(
                "{len}-byte access at offset {} of {} runs {} bytes past its end",
                addr - a.base,
                a.describe(),
                addr + len - end
            );
        }
        if dist > NEAR_BYTES.max(a.size()) {
            return format!(
                "{len}-byte access at 0x{addr:x}, in no buffer: the nearest, {}, is {dist} bytes \
                 {} it (a wild or uninitialised pointer?)",
                a.describe(),
                if after { "past the end of" } else { "before the start of" }
            );
        }
        if after {
            format!(
                "{len}-byte access {dist} bytes past the end of {} (offset {} of it)",
                a.describe(),
                addr - a.base
            )
        } else {
            format!(
                "{len}-byte access {} bytes before the start of {}",
                a.base - addr,
                a.describe()
            )
        }
    }
}
