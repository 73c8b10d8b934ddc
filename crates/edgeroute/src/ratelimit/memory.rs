//! The in-process counter store: a fixed-size, sharded, set-associative table.

use std::sync::Mutex;

use super::{CounterStore, RateCheck, RateOutcome, WindowState};

/// Slots per bucket: a key lives in one of the 8 slots of the bucket its hash selects.
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
/// When a new key arrives and all 8 slots of its bucket hold other keys, it replaces the slot
/// whose key was **least recently active** (oldest window index; on a tie, the lowest current
/// count). Keys idle for more than one period hold nothing that matters (their estimate is 0)
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
        let bucket = usize::try_from(key).unwrap_or(0) & self.bucket_mask;
        let Some(shard) = self.shards.get(shard_index) else {
            return RateOutcome::default();
        };
        let mut guard = match shard.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        let shard = &mut *guard;
        let start = bucket * WAYS;
        let Some(ways) = shard.slots.get_mut(start..start + WAYS) else {
            return RateOutcome::default();
        };
        // Find the key, or the slot to take: an empty one first, else the least recently
        // active (oldest window, then lowest count).
        let mut found = None;
        let mut empty = None;
        let mut victim = 0usize;
        let mut victim_rank = (u32::MAX, u32::MAX);
        for (i, slot) in ways.iter().enumerate() {
            if slot[0] == key {
                found = Some(i);
                break;
            }
            if slot[0] == 0 {
                if empty.is_none() {
                    empty = Some(i);
                }
                continue;
            }
            let s = unpack(slot);
            if (s.window, s.current) < victim_rank {
                victim = i;
                victim_rank = (s.window, s.current);
            }
        }
        let (index, mut state) = match (found, empty) {
            (Some(i), _) => (i, ways.get(i).map(unpack).unwrap_or_default()),
            (None, Some(i)) => {
                shard.len += 1;
                (i, WindowState::default())
            }
            (None, None) => (victim, WindowState::default()),
        };
        let outcome = state.apply(query);
        if let Some(slot) = shard.slots.get_mut(start + index) {
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
        // Small keys all land in shard 0, and each shard has one bucket of 8 slots.
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
