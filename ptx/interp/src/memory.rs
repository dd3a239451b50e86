//! Global memory: allocations at 64-bit addresses with unmapped gaps between them, so an
//! overrun lands in no allocation, and a per-byte "written since allocation" bit for the
//! checker's uninitialised-read test. Addresses are never reused, so a use after `free`
//! also lands in no allocation (and is named as freed).
//!
//! The generic address space (ISA 6.4.1) is laid out as: global allocations from
//! [`GLOBAL_BASE`], the block's shared memory at [`SHARED_WINDOW`] and the thread's local
//! memory at [`LOCAL_WINDOW`], each window 4 GiB.

use super::error::MemError;
use super::rng::Rng;

pub const GLOBAL_BASE: u64 = 0x7f00_0000_0000;
pub const SHARED_WINDOW: u64 = 0x7e00_0000_0000;
pub const LOCAL_WINDOW: u64 = 0x7d00_0000_0000;
pub const WINDOW_BYTES: u64 = 1 << 32;
/// Unmapped bytes after each allocation (at least; the next one starts 64 KiB-aligned).
pub const GAP: u64 = 1 << 20;
const MAX_ALLOC: u64 = 1 << 40;

pub struct Alloc {
    pub base: u64,
    pub data: Vec<u8>,
    /// One bit per byte: written (by the host or a kernel) since allocation.
    pub init: Vec<u64>,
}

impl Alloc {
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
        self.allocs.push(Alloc { base, data, init });
        Ok(base)
    }

    pub fn free(&mut self, addr: u64) -> Result<(), MemError> {
        let i =
            self.allocs.iter().position(|a| a.base == addr).ok_or(MemError::NotAllocated(addr))?;
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

    /// Where an address that is in no allocation lies, for reports.
    pub fn describe_miss(&self, addr: u64, len: u64) -> String {
        if let Some(&(b, s)) = self.freed.iter().find(|(b, s)| addr >= *b && addr < b + s) {
            return format!(
                "{len}-byte access inside the freed {s}-byte allocation at 0x{b:x} (offset {})",
                addr - b
            );
        }
        let i = self.allocs.partition_point(|a| a.base <= addr);
        if i > 0 {
            let a = &self.allocs[i - 1];
            let end = a.base + a.size();
            if addr < end {
                return format!(
                    "{len}-byte access at offset {} runs {} bytes past the end of the \
                    {}-byte allocation at 0x{:x}",
                    addr - a.base,
                    addr + len - end,
                    a.size(),
                    a.base
                );
            }
            return format!(
                "{len}-byte access {} bytes past the end of the {}-byte allocation at 0x{:x}",
                addr - end,
                a.size(),
                a.base
            );
        }
        if let Some(a) = self.allocs.first() {
            return format!(
                "{len}-byte access {} bytes before the first allocation (0x{:x})",
                a.base - addr.min(a.base),
                a.base
            );
        }
        format!("{len}-byte access, and nothing is allocated")
    }
}
