//! The in-process counter store: a fixed-size, sharded, set-associative table.

use std::sync::Mutex;

use super::{CounterStore, RateCheck, RateOutcome, WindowState};

/// Slots per bucket: a key lives in one of the 8 slots of either of the two buckets its hash
/// selects.
const WAYS: usize = 8;
/// Number of independently locked shards.
const SHARDS: usize = 64;

/// An in-process [`CounterStore`] with a fixed key budget.
///
/// # Memory
/// Each slot is 24 bytes (key hash, window index and count, previous count and mitigation end,
/// packed into three `u64`); the table is allocated zeroed up front, so the operating system
/// only backs the pages that keys actually touch. The budget is rounded up to a power of two
/// multiple of `64 × 8` slots.
///
/// # Eviction rule
/// A key may live in either of two buckets of 8 slots, chosen by independent bits of its hash
/// (a new key takes a free slot in the emptier one; when both are full, one resident key may
/// move to its own other bucket to make room). When no room can be made, the new key replaces
/// the candidate whose key was **least recently active** (oldest window index; on
/// a tie, the lowest current count). Keys idle for more than one period hold nothing that matters (their estimate is 0)
/// and are the first to go, so eviction only loses information when more keys are active at
/// once than the budget holds. An evicted key restarts from zero, which can only let a client
/// through, never refuse one wrongly. The accuracy with one million distinct keys is measured
/// by a test (see the crate README).
///
/// # Concurrency
/// 64 shards, each behind its own mutex, chosen by the top bits of the key hash; a check holds
/// one lock for a few dozen nanoseconds.
pub struct MemoryCounterStore {
    shards: Box<[Mutex<Shard>]>,
    bucket_mask: usize,
}

struct Shard {
    // INVARIANT: len == (bucket_mask + 1) * WAYS.
    slots: Vec<[u64; 3]>,
    len: usize,
}

impl MemoryCounterStore {
    /// The default key budget: 1,048,576 keys (24 MiB of address space).
    pub const DEFAULT_KEY_BUDGET: u64 = 1 << 20;

    /// A store holding at most about `key_budget` keys (rounded up as described above).
    #[must_use]
    pub fn new(key_budget: u64) -> Self {
        let per_shard = key_budget.div_ceil(SHARDS as u64).max(WAYS as u64);
        let buckets = per_shard
            .div_ceil(WAYS as u64)
            .checked_next_power_of_two()
            .unwrap_or(1 << 40);
        let buckets = usize::try_from(buckets).unwrap_or(usize::MAX / 2 / WAYS);
        let shards = (0..SHARDS)
            .map(|_| {
                Mutex::new(Shard {
                    slots: vec![[0u64; 3]; buckets * WAYS],
                    len: 0,
                })
            })
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
        self.capacity() * std::mem::size_of::<[u64; 3]>()
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
fn relocate(slots: &mut [[u64; 3]], from: [usize; 2], mask: usize) -> Option<usize> {
    for bucket in from {
        for i in bucket * WAYS..(bucket + 1) * WAYS {
            let entry = *slots.get(i)?;
            let (a, b) = buckets_of(entry[0], mask);
            let other = if a == bucket { b } else { a };
            if other == bucket {
                continue;
            }
            let Some(free) = (other * WAYS..(other + 1) * WAYS)
                .find(|&j| slots.get(j).is_some_and(|s| s[0] == 0))
            else {
                continue;
            };
            if let Some(dst) = slots.get_mut(free) {
                *dst = entry;
            }
            if let Some(src) = slots.get_mut(i) {
                *src = [0; 3];
            }
            return Some(i);
        }
    }
    None
}

fn unpack(slot: &[u64; 3]) -> WindowState {
    #[expect(clippy::cast_possible_truncation, reason = "unpacking two u32 halves")]
    WindowState {
        window: (slot[1] >> 32) as u32,
        current: slot[1] as u32,
        previous: (slot[2] >> 32) as u32,
        mitigated_until_s: slot[2] as u32,
    }
}

fn pack(key: u64, s: &WindowState) -> [u64; 3] {
    [
        key,
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
        let (found, empty, victim) = {
            let mut found = None;
            // (first empty slot, filled slots) per candidate bucket.
            let mut free: [(Option<usize>, usize); 2] = [(None, WAYS); 2];
            let mut victim = (b1 * WAYS, (u32::MAX, u32::MAX));
            'scan: for (n, bucket) in [b1, b2].into_iter().enumerate() {
                let start = bucket * WAYS;
                let Some(ways) = shard.slots.get(start..start + WAYS) else {
                    continue;
                };
                let mut filled = 0usize;
                let mut first_empty = None;
                for (i, slot) in ways.iter().enumerate() {
                    if slot[0] == key {
                        found = Some(start + i);
                        break 'scan;
                    }
                    if slot[0] == 0 {
                        first_empty = first_empty.or(Some(start + i));
                        continue;
                    }
                    filled += 1;
                    let s = unpack(slot);
                    if (s.window, s.current) < victim.1 {
                        victim = (start + i, (s.window, s.current));
                    }
                }
                if let Some(f) = free.get_mut(n) {
                    *f = (first_empty, filled);
                }
            }
            // A new key goes to the emptier bucket (the first on a tie).
            let [(e1, f1), (e2, f2)] = free;
            let empty = if f2 < f1 { e2.or(e1) } else { e1.or(e2) };
            (found, empty, victim.0)
        };
        let mask = self.bucket_mask;
        let (index, mut state) = match (found, empty) {
            (Some(i), _) => (i, shard.slots.get(i).map(unpack).unwrap_or_default()),
            (None, Some(i)) => {
                shard.len += 1;
                (i, WindowState::default())
            }
            (None, None) => match relocate(&mut shard.slots, [b1, b2], mask) {
                // One cuckoo step freed a slot: no one loses a count.
                Some(i) => {
                    shard.len += 1;
                    (i, WindowState::default())
                }
                None => (victim, WindowState::default()),
            },
        };
        let outcome = state.apply(query);
        if let Some(slot) = shard.slots.get_mut(index) {
            *slot = pack(key, &state);
        }
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
