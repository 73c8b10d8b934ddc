//! The in-process counter store: a fixed-size, sharded, set-associative table.

use std::sync::Mutex;

use super::{CounterStore, RateCheck, RateOutcome, WindowState};

/// Slots per bucket: a key lives in one of the 8 slots of either of the two buckets its hash
/// selects. Eight 8-byte key hashes fill one 64-byte cache line.
const WAYS: usize = 8;
/// Number of independently locked shards.
const SHARDS: usize = 64;

/// An in-process [`CounterStore`] with a fixed key budget.
///
/// # Memory
/// Each slot is 24 bytes: the key hash (8 bytes, in a per-bucket array of keys that fills exactly
/// one cache line, so finding a key touches one line) and its state (16 bytes: window index and
/// count, previous count and mitigation end). The table is allocated zeroed up front, so the
/// operating system only backs the pages that keys actually touch. The budget is rounded up to a
/// power of two multiple of `64 × 8` slots.
///
/// # Eviction rule
/// A key may live in either of two buckets of 8 slots, chosen by independent bits of its hash
/// (a new key takes a free slot in the emptier one; when both are full, one resident key may
/// move to its own other bucket to make room). When no room can be made, the new key replaces
/// the candidate whose key was **least recently active** (oldest window index; on a tie, the
/// lowest current count). Keys idle for more than one period hold nothing that matters (their
/// estimate is 0) and are the first to go, so eviction only loses information when more keys
/// are active at once than the budget holds. An evicted key restarts from zero, which can only
/// let a client through, never refuse one wrongly. The accuracy with one million distinct keys
/// is measured by a test (see the crate README).
///
/// # Concurrency
/// 64 shards, each behind its own mutex, chosen by the top bits of the key hash; a check holds
/// one lock for a few dozen nanoseconds.
pub struct MemoryCounterStore {
    shards: Box<[Mutex<Shard>]>,
    bucket_mask: usize,
}

struct Shard {
    /// Key hashes, 8 per bucket; bucket `b` starts at `base + 8 b`.
    // INVARIANT: keys.len() == base + (bucket_mask + 1) * WAYS, and `base` makes every bucket
    // start on a 64-byte boundary.
    keys: Vec<u64>,
    base: usize,
    /// Packed state per slot: `[window << 32 | current, previous << 32 | mitigated_until_s]`.
    vals: Vec<[u64; 2]>,
    len: usize,
}

impl Shard {
    fn new(buckets: usize) -> Self {
        // `vec![0; n]` allocates zeroed memory lazily; the extra line lets every bucket start
        // on a cache-line boundary wherever the allocator put the array.
        let keys = vec![0u64; buckets * WAYS + WAYS];
        let misalign = (keys.as_ptr() as usize % 64) / 8;
        let base = (WAYS - misalign) % WAYS;
        Shard {
            keys,
            base,
            vals: vec![[0u64; 2]; buckets * WAYS],
            len: 0,
        }
    }

    fn key(&self, slot: usize) -> u64 {
        self.keys.get(self.base + slot).copied().unwrap_or(0)
    }

    fn bucket_keys(&self, bucket: usize) -> &[u64] {
        let start = self.base + bucket * WAYS;
        self.keys.get(start..start + WAYS).unwrap_or(&[])
    }

    fn state(&self, slot: usize) -> WindowState {
        self.vals.get(slot).map(unpack).unwrap_or_default()
    }

    fn put(&mut self, slot: usize, key: u64, state: &WindowState) {
        if let Some(k) = self.keys.get_mut(self.base + slot) {
            *k = key;
        }
        if let Some(v) = self.vals.get_mut(slot) {
            *v = pack(state);
        }
    }

    fn clear(&mut self, slot: usize) {
        self.put(slot, 0, &WindowState::default());
    }
}

impl MemoryCounterStore {
    /// The default key budget: 1,048,576 keys (24 MiB of address space).
    pub const DEFAULT_KEY_BUDGET: u64 = 1 << 20;

    /// A store holding at most about `key_budget` keys (rounded up as described above; at most
    /// [`crate::MAX_KEY_BUDGET`]).
    #[must_use]
    pub fn new(key_budget: u64) -> Self {
        let per_shard = key_budget
            .min(crate::compile::MAX_KEY_BUDGET)
            .div_ceil(SHARDS as u64)
            .max(WAYS as u64);
        let buckets = per_shard
            .div_ceil(WAYS as u64)
            .checked_next_power_of_two()
            .unwrap_or(1 << 40);
        let buckets = usize::try_from(buckets).unwrap_or(usize::MAX / 2 / WAYS);
        let shards = (0..SHARDS)
            .map(|_| Mutex::new(Shard::new(buckets)))
            .collect();
        MemoryCounterStore {
            shards,
            bucket_mask: buckets - 1,
        }
    }

    /// Number of slots (the effective key budget).
    #[must_use]
    pub fn capacity(&self) -> usize {
        (self.bucket_mask + 1) * WAYS * SHARDS
    }

    /// Bytes of the table (address space; resident memory is what keys touched).
    #[must_use]
    pub fn table_bytes(&self) -> usize {
        self.capacity() * (std::mem::size_of::<u64>() + std::mem::size_of::<[u64; 2]>())
    }
}

impl Default for MemoryCounterStore {
    fn default() -> Self {
        MemoryCounterStore::new(Self::DEFAULT_KEY_BUDGET)
    }
}

impl std::fmt::Debug for MemoryCounterStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryCounterStore")
            .field("capacity", &self.capacity())
            .finish_non_exhaustive()
    }
}

fn buckets_of(key: u64, mask: usize) -> (usize, usize) {
    (
        usize::try_from(key).unwrap_or(0) & mask,
        usize::try_from(key >> 26).unwrap_or(0) & mask,
    )
}

/// Moves one key of the full buckets `from` to its other bucket when that has a free slot;
/// returns the slot freed.
fn relocate(shard: &mut Shard, from: [usize; 2], mask: usize) -> Option<usize> {
    for bucket in from {
        for i in bucket * WAYS..(bucket + 1) * WAYS {
            let key = shard.key(i);
            let (a, b) = buckets_of(key, mask);
            let other = if a == bucket { b } else { a };
            if other == bucket {
                continue;
            }
            let Some(free) = (other * WAYS..(other + 1) * WAYS).find(|&j| shard.key(j) == 0) else {
                continue;
            };
            let state = shard.state(i);
            shard.put(free, key, &state);
            shard.clear(i);
            return Some(i);
        }
    }
    None
}

fn unpack(v: &[u64; 2]) -> WindowState {
    #[expect(clippy::cast_possible_truncation, reason = "unpacking two u32 halves")]
    WindowState {
        window: (v[0] >> 32) as u32,
        current: v[0] as u32,
        previous: (v[1] >> 32) as u32,
        mitigated_until_s: v[1] as u32,
    }
}

fn pack(s: &WindowState) -> [u64; 2] {
    [
        (u64::from(s.window) << 32) | u64::from(s.current),
        (u64::from(s.previous) << 32) | u64::from(s.mitigated_until_s),
    ]
}

impl CounterStore for MemoryCounterStore {
    fn check(&self, query: &RateCheck) -> RateOutcome {
        // 0 marks an empty slot.
        let key = query.key.0.max(1);
        let shard_index = usize::try_from(key >> 58).unwrap_or(0) % SHARDS;
        // Two candidate buckets from independent bits of the hash ("two choices").
        let (b1, b2) = buckets_of(key, self.bucket_mask);
        let Some(shard) = self.shards.get(shard_index) else {
            return RateOutcome::default();
        };
        let mut guard = match shard.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        let shard = &mut *guard;
        // The common case: the key is already in its first bucket (one cache line of keys).
        let mut found = shard
            .bucket_keys(b1)
            .iter()
            .position(|&k| k == key)
            .map(|i| b1 * WAYS + i);
        if found.is_none() && b2 != b1 {
            found = shard
                .bucket_keys(b2)
                .iter()
                .position(|&k| k == key)
                .map(|i| b2 * WAYS + i);
        }
        let index = match found {
            Some(i) => i,
            None => {
                let free = |b: usize| -> (Option<usize>, usize) {
                    let keys = shard.bucket_keys(b);
                    let filled = keys.iter().filter(|&&k| k != 0).count();
                    (
                        keys.iter().position(|&k| k == 0).map(|i| b * WAYS + i),
                        filled,
                    )
                };
                let (e1, f1) = free(b1);
                let (e2, f2) = free(b2);
                // A new key goes to the emptier bucket (the first on a tie).
                let empty = if f2 < f1 { e2.or(e1) } else { e1.or(e2) };
                let slot = match empty {
                    Some(i) => Some(i),
                    // One cuckoo step may free a slot: then no one loses a count.
                    None => relocate(shard, [b1, b2], self.bucket_mask),
                };
                match slot {
                    Some(i) => {
                        shard.len += 1;
                        i
                    }
                    None => {
                        // Evict the least recently active candidate.
                        let mut victim = b1 * WAYS;
                        let mut rank = (u32::MAX, u32::MAX);
                        for b in [b1, b2] {
                            for i in b * WAYS..(b + 1) * WAYS {
                                let st = shard.state(i);
                                if (st.window, st.current) < rank {
                                    rank = (st.window, st.current);
                                    victim = i;
                                }
                            }
                        }
                        shard.clear(victim);
                        victim
                    }
                }
            }
        };
        let mut state = if found.is_some() {
            shard.state(index)
        } else {
            WindowState::default()
        };
        let outcome = state.apply(query);
        shard.put(index, key, &state);
        outcome
    }

    fn key_count(&self) -> Option<usize> {
        Some(
            self.shards
                .iter()
                .map(|s| match s.lock() {
                    Ok(g) => g.len,
                    Err(p) => p.into_inner().len,
                })
                .sum(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ratelimit::CounterKey;
    use crate::time::Timestamp;

    fn q(key: u64, t: u64, limit: u32) -> RateCheck {
        RateCheck {
            key: CounterKey(key),
            period_secs: 60,
            now: Timestamp::from_secs(t),
            count: true,
            limit: Some(limit),
            mitigation_timeout_secs: 0,
        }
    }

    #[test]
    fn counts_per_key() {
        let store = MemoryCounterStore::new(4096);
        for _ in 0..3 {
            assert!(!store.check(&q(7, 1, 3)).limited);
        }
        assert!(store.check(&q(7, 1, 3)).limited);
        assert!(!store.check(&q(8, 1, 3)).limited);
        assert_eq!(store.key_count(), Some(2));
    }

    #[test]
    fn capacity_is_rounded_up() {
        let s = MemoryCounterStore::new(1);
        assert_eq!(s.capacity(), 64 * 8);
        let s = MemoryCounterStore::new(1 << 20);
        assert_eq!(s.capacity(), 1 << 20);
        assert_eq!(s.table_bytes(), 24 << 20);
    }

    #[test]
    fn a_full_bucket_evicts_the_least_recently_active_key() {
        let store = MemoryCounterStore::new(1);
        // Small keys all land in shard 0, and each shard has one bucket of 8 slots (both choices
        // are the same bucket).
        for k in 1..=8u64 {
            for _ in 0..k {
                store.check(&q(k, 600, 100));
            }
        }
        // Key 1 has the lowest count in the same window: the newcomer replaces it.
        assert_eq!(store.check(&q(9, 600, 100)).estimate, 1);
        assert_eq!(store.check(&q(2, 600, 100)).estimate, 3);
        assert_eq!(store.check(&q(1, 600, 100)).estimate, 1, "key 1 restarted");
        assert_eq!(store.key_count(), Some(8));
    }
}
