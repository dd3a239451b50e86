//! Race detection: which accesses are ordered.
//!
//! Within a block, a barrier (`bar.sync`, `barrier.sync`, `bar.warp.sync`) orders the
//! accesses its participants made before it against those they make after it (ISA 9.7.13.4
//! "bar, barrier": the barrier also guarantees memory ordering among the participating
//! threads). Each completed barrier starts a new *generation*; an access remembers the
//! generation it happened in. An earlier access by thread P in generation g is ordered
//! before thread T's current access when P is T, or when a barrier completed after g in
//! which both P and T took part. Threads of different blocks are never ordered (only
//! atomics and fences could order them, and atomics are exempt from race checking).
//!
//! Every byte keeps its last write and its readers since that write. Several readers are
//! summarised: a later write is ordered after all of them only when a whole-block barrier
//! completed after the latest read (the usual "read tile, `bar.sync`, overwrite tile"). Named
//! barriers over part of a block are tracked exactly for one reader and conservatively for
//! several; ordering through a chain of partial barriers (P with Q, then Q with T) is not
//! followed, which can only add reports, never hide one. Of several readers, two distinct
//! ones are remembered, so a write that conflicts with them names a reader other than the
//! writer itself.
//!
//! Two unordered writes of the same bytes (the second writes exactly what the first left
//! there, and no read came between) are a *benign* conflict: every order of the two leaves
//! the same memory. The checker reports it as a note; a read unordered with either write is
//! still a race.

/// The per-byte record. Thread ids are global (block * threads per block + thread) plus one,
/// so zero means "none".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Shadow {
    w: u32,
    w_gen: u32,
    w_pc: u32,
    r: u32,
    r_gen: u32,
    r_pc: u32,
    /// The latest reader other than `r`, when there are several.
    r2: u32,
    r2_pc: u32,
    /// 0: `r` is the only reader; 1: several readers of one block; 2: readers of several blocks.
    multi: u8,
    /// An atomic changed the byte after the last plain write (so memory no longer holds
    /// what that write wrote).
    atomic_since: bool,
}

/// The barriers completed so far in the current block.
pub struct SyncState {
    gen: u32,
    last_full: u32,
    /// Barriers over part of the block since the last whole-block one: generation and
    /// member bits.
    partial: Vec<(u32, Vec<u64>)>,
    n_threads: u32,
}

impl SyncState {
    pub fn new(n_threads: u32) -> SyncState {
        SyncState { gen: 1, last_full: 0, partial: vec![], n_threads }
    }

    pub fn barrier(&mut self, members: Option<&[u32]>) {
        self.gen += 1;
        match members {
            Some(m) if (m.len() as u32) < self.n_threads => {
                let mut bits = vec![0u64; (self.n_threads as usize).div_ceil(64)];
                for &t in m {
                    bits[t as usize >> 6] |= 1 << (t & 63);
                }
                self.partial.push((self.gen, bits));
            }
            _ => {
                self.last_full = self.gen;
                self.partial.clear();
            }
        }
    }

    /// Is an access by `prev` (thread of this block) in generation `g` ordered before the
    /// current point of thread `cur`?
    fn ordered(&self, prev: u32, g: u32, cur: u32) -> bool {
        if prev == cur || self.last_full > g {
            return true;
        }
        let has = |bits: &[u64], t: u32| bits[t as usize >> 6] & (1 << (t & 63)) != 0;
        self.partial
            .iter()
            .rev()
            .take_while(|(pg, _)| *pg > g)
            .any(|(_, bits)| has(bits, prev) && has(bits, cur))
    }
}

/// A conflicting earlier access found by [`access`].
pub struct Conflict {
    pub other: u32,
    pub other_pc: u32,
    other_wrote: bool,
    /// Both accesses write, the second the very bytes the first left: a same-value write.
    pub benign: bool,
}

impl Conflict {
    pub fn describe(&self, i_write: bool) -> String {
        let me = if i_write { "write" } else { "read" };
        let them = if self.other_wrote { "write" } else { "read" };
        format!("this {me} conflicts with an earlier {them} by")
    }
}

/// Records an access by global thread `me` to `bytes` and returns the first conflicting
/// earlier access, if any. `same`: a write that leaves the bytes as they were.
pub fn access(
    sync: &SyncState,
    bytes: &mut [Shadow],
    me: u32,
    n_threads: u32,
    pc: u32,
    write: bool,
    same: bool,
) -> Option<Conflict> {
    // Threads of my block are lo..lo + n_threads (no division per byte).
    let lo = me - me % n_threads;
    let same_block = |t: u32| t >= lo && t - lo < n_threads;
    let ord =
        |prev: u32, g: u32| prev == me || (same_block(prev) && sync.ordered(prev - lo, g, me - lo));
    // The bytes of one access usually share one record: decide once, copy to the rest.
    let uniform = bytes.windows(2).all(|w| w[0] == w[1]);
    let n = if uniform { bytes.len().min(1) } else { bytes.len() };
    let mut found: Option<Conflict> = None;
    for s in bytes[..n].iter_mut() {
        if s.w != 0 && !ord(s.w - 1, s.w_gen) && found.as_ref().is_none_or(|c| c.benign) {
            // A write after a write, of the same bytes, with no read in between and no
            // atomic since: benign.
            let benign = write && same && s.r == 0 && !s.atomic_since;
            found = Some(Conflict { other: s.w - 1, other_pc: s.w_pc, other_wrote: true, benign });
        }
        if write {
            if s.r != 0 && found.as_ref().is_none_or(|c| c.benign) {
                let conflict = match s.multi {
                    0 => !ord(s.r - 1, s.r_gen),
                    1 => !same_block(s.r - 1) || sync.last_full <= s.r_gen,
                    _ => true,
                };
                if conflict {
                    // Name a reader other than this thread.
                    let (reader, rpc) = if s.r - 1 == me && s.r2 != 0 {
                        (s.r2 - 1, s.r2_pc)
                    } else {
                        (s.r - 1, s.r_pc)
                    };
                    if reader != me {
                        found = Some(Conflict {
                            other: reader,
                            other_pc: rpc,
                            other_wrote: false,
                            benign: false,
                        });
                    }
                }
            }
            *s = Shadow { w: me + 1, w_gen: sync.gen, w_pc: pc, ..Shadow::default() };
        } else if s.r == 0
            || (s.multi == 0 && ord(s.r - 1, s.r_gen))
            || (s.multi == 1 && same_block(s.r - 1) && sync.last_full > s.r_gen)
        {
            s.r = me + 1;
            s.r_gen = sync.gen;
            s.r_pc = pc;
            s.r2 = 0;
            s.multi = 0;
        } else {
            s.multi = if s.multi == 2 || !same_block(s.r - 1) { 2 } else { 1 };
            s.r_gen = s.r_gen.max(sync.gen);
            if s.r != me + 1 {
                s.r2 = me + 1;
                s.r2_pc = pc;
            }
        }
    }
    if uniform && bytes.len() > 1 {
        let first = bytes[0];
        bytes[1..].fill(first);
    }
    found
}

/// An atomic wrote the bytes: memory no longer holds the last plain write's value.
pub fn atomic_write(bytes: &mut [Shadow]) {
    for s in bytes {
        s.atomic_since = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn barriers_order_and_their_absence_is_a_race() {
        let mut sync = SyncState::new(64);
        let mut b = vec![Shadow::default(); 4];
        assert!(access(&sync, &mut b, 3, 64, 0, true, false).is_none());
        // Another thread reads without a barrier: race with the write.
        assert!(access(&sync, &mut b, 5, 64, 1, false, false).is_some());
        sync.barrier(None);
        // After a barrier, reads by many threads, then (after another barrier) a write: fine.
        for t in 0..64 {
            assert!(access(&sync, &mut b, t, 64, 2, false, false).is_none());
        }
        assert!(
            access(&sync, &mut b, 7, 64, 3, true, false).is_some(),
            "write after many unordered reads"
        );
        sync.barrier(None);
        assert!(access(&sync, &mut b, 9, 64, 4, true, false).is_none());
        // A partial barrier orders its members only.
        sync.barrier(Some(&[9, 10]));
        assert!(access(&sync, &mut b, 10, 64, 5, false, false).is_none());
        let mut c = vec![Shadow::default(); 1];
        assert!(access(&sync, &mut c, 9, 64, 0, true, false).is_none());
        sync.barrier(Some(&[9, 10]));
        assert!(access(&sync, &mut c, 11, 64, 1, false, false).is_some());
        // Different blocks are never ordered.
        let mut d = vec![Shadow::default(); 1];
        assert!(access(&sync, &mut d, 1, 64, 0, true, false).is_none());
        sync.barrier(None);
        assert!(access(&sync, &mut d, 65, 64, 1, false, false).is_some());
    }

    #[test]
    fn same_value_writes_are_benign_until_someone_reads() {
        let sync = SyncState::new(64);
        let mut b = vec![Shadow::default(); 4];
        assert!(access(&sync, &mut b, 3, 64, 0, true, false).is_none());
        let c = access(&sync, &mut b, 4, 64, 1, true, true).expect("a conflict");
        assert!(c.benign && c.other == 3);
        let c = access(&sync, &mut b, 5, 64, 2, false, false).expect("a read races");
        assert!(!c.benign && c.other == 4);
        // A different value is a race.
        let mut d = vec![Shadow::default(); 1];
        assert!(access(&sync, &mut d, 3, 64, 0, true, false).is_none());
        assert!(!access(&sync, &mut d, 4, 64, 1, true, false).unwrap().benign);
        // An atomic in between: memory no longer holds the first write's bytes.
        let mut e = vec![Shadow::default(); 1];
        assert!(access(&sync, &mut e, 3, 64, 0, true, false).is_none());
        atomic_write(&mut e);
        assert!(!access(&sync, &mut e, 4, 64, 1, true, true).unwrap().benign);
    }

    #[test]
    fn a_write_after_several_reads_names_another_reader() {
        let sync = SyncState::new(64);
        let mut b = vec![Shadow::default(); 1];
        assert!(access(&sync, &mut b, 5, 64, 0, false, false).is_none());
        assert!(access(&sync, &mut b, 6, 64, 1, false, false).is_none());
        assert!(access(&sync, &mut b, 5, 64, 2, false, false).is_none());
        // Thread 5 writes: the conflict is with thread 6's read, never with itself.
        let c = access(&sync, &mut b, 5, 64, 3, true, false).expect("a conflict");
        assert_eq!((c.other, c.other_pc), (6, 1));
    }
}
