//! The in-process counter store: a fixed-size, sharded, two-choice set-associative table whose
//! buckets are one 64-byte cache line each.

use std::sync::Mutex;

use super::{CounterStore, RateCheck, RateOutcome, WindowState};

/// Slots per bucket: three 20-byte slots fit one 64-byte cache line.
const WAYS: usize = 3;
/// `u32` words per slot: tag, window, current, previous, mitigation end.
const WORDS: usize = 5;
/// `u32` words per bucket (one cache line; the last word is unused).
const BUCKET_WORDS: usize = 16;
/// Number of independently locked shards.
const SHARDS: usize = 64;

/// An in-process [`CounterStore`] with a fixed key budget.
///
/// # Memory
/// Each slot is 20 bytes: a 32-bit tag of the key hash and the complete [`WindowState`]
/// (window index, current and previous count, mitigation end). Three slots make a bucket of
/// exactly one cache line, so a check of a key in its first bucket touches one line of memory.
/// The table is allocated zeroed up front (large zeroed allocations are usually mapped lazily,
/// so only the pages keys touch get backed). The budget is rounded up to a power of two number of buckets per shard
/// (64 shards of 3-slot buckets), so the table holds between 1 and 2 times the budget; with the
/// default budget it is 33.5 bytes per budgeted key.
///
/// # Eviction rule
/// A key may live in either of two buckets (partial-key cuckoo hashing: the second bucket is
/// the first one XOR a hash of the tag, so a resident's other bucket is known without its
/// key). A new key takes a free slot in the emptier bucket; when both are full, residents may
/// move to their other buckets (a cuckoo path of at most two moves) to make room. When no room
/// can be made, the new key replaces the candidate that was **least recently active** (oldest
/// window index; on a tie, the lowest current count). Keys idle for more than one period hold
/// nothing that matters (their estimate is 0) and are the first to go, so eviction only loses
/// information when more keys are active at once than the table holds. An evicted key restarts
/// from zero, which can only let a client through, never refuse one wrongly. The accuracy with
/// one million distinct keys is measured by a test (see the crate README).
///
/// A key is identified by its pair of buckets and a 32-bit tag: two live keys sharing both are
/// counted together (for a key not in the table, the chance that one of the 6 candidate slots
/// carries its tag is about 6 in 2^32).
///
/// # Concurrency
/// 64 shards, each behind its own mutex, chosen by the top bits of the key hash; a check holds
/// one lock for a few dozen nanoseconds.
pub struct MemoryCounterStore {
    shards: Box<[Mutex<Shard>]>,
    bucket_mask: usize,
}

/// A slot is named by the offset of its first word from `Shard::base`:
/// `bucket × BUCKET_WORDS + way × WORDS`.
type Slot = usize;

struct Shard {
    /// The buckets as `u32` words; bucket `b` starts at `base + 16 b`.
    // INVARIANT: words.len() == base + (bucket_mask + 1) * BUCKET_WORDS, and `base` makes every
    // bucket start on a 64-byte boundary.
    words: Vec<u32>,
    base: usize,
    len: usize,
}

impl Shard {
    fn new(buckets: usize) -> Self {
        // `vec![0; n]` allocates zeroed memory lazily; the extra line lets every bucket start
        // on a cache-line boundary wherever the allocator put the array.
        let words = vec![0u32; buckets * BUCKET_WORDS + BUCKET_WORDS];
        let misalign = (words.as_ptr() as usize % 64) / 4;
        let base = (BUCKET_WORDS - misalign) % BUCKET_WORDS;
        Shard {
            words,
            base,
            len: 0,
        }
    }

    /// The five words of a slot.
    fn get(&self, slot: Slot) -> [u32; WORDS] {
        let i = self.base + slot;
        match self.words.get(i..i + WORDS) {
            Some(&[a, b, c, d, e]) => [a, b, c, d, e],
            _ => [0; WORDS],
        }
    }

    fn set(&mut self, slot: Slot, v: [u32; WORDS]) {
        let i = self.base + slot;
        if let Some(dst) = self.words.get_mut(i..i + WORDS) {
            dst.copy_from_slice(&v);
        }
    }

    fn tag(&self, slot: Slot) -> u32 {
        self.words.get(self.base + slot).copied().unwrap_or(0)
    }

    /// The slot of bucket `bucket` holding `tag`.
    fn find(&self, bucket: usize, tag: u32) -> Option<Slot> {
        slots(bucket).find(|&s| self.tag(s) == tag)
    }

    /// The first free slot of a bucket and how many slots it has in use.
    fn free(&self, bucket: usize) -> (Option<Slot>, usize) {
        let free = slots(bucket).find(|&s| self.tag(s) == 0);
        let used = slots(bucket).filter(|&s| self.tag(s) != 0).count();
        (free, used)
    }
}

/// The slots of a bucket.
fn slots(bucket: usize) -> impl Iterator<Item = Slot> + Clone {
    (0..WAYS).map(move |way| bucket * BUCKET_WORDS + way * WORDS)
}

/// The bucket a slot belongs to.
fn bucket_of(slot: Slot) -> usize {
    slot / BUCKET_WORDS
}

fn unpack(w: [u32; WORDS]) -> WindowState {
    let [_, window, current, previous, mitigated_until_s] = w;
    WindowState {
        window,
        current,
        previous,
        mitigated_until_s,
    }
}

fn pack(tag: u32, s: &WindowState) -> [u32; WORDS] {
    [tag, s.window, s.current, s.previous, s.mitigated_until_s]
}

/// The nonzero tag of a key hash (0 marks a free slot).
fn tag_of(key: u64) -> u32 {
    #[expect(clippy::cast_possible_truncation, reason = "folding a hash to 32 bits")]
    let t = (key as u32) ^ ((key >> 32) as u32);
    t.max(1)
}

/// The other bucket of a key with `tag` that lives in `bucket` (an involution).
fn alternate(bucket: usize, tag: u32, mask: usize) -> usize {
    let h = u64::from(tag).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32;
    (bucket ^ usize::try_from(h).unwrap_or(0)) & mask
}

impl MemoryCounterStore {
    /// The default key budget: 1,048,576 keys (a 33.5 MB table).
    pub const DEFAULT_KEY_BUDGET: u64 = 1 << 20;

    /// A store holding at least `key_budget` keys (rounded up as described above; at most
    /// [`crate::MAX_KEY_BUDGET`]).
    #[must_use]
    pub fn new(key_budget: u64) -> Self {
        let per_shard = key_budget
            .min(crate::compile::MAX_KEY_BUDGET)
            .div_ceil(SHARDS as u64)
            .max(1);
        let buckets = per_shard
            .div_ceil(WAYS as u64)
            .checked_next_power_of_two()
            .unwrap_or(1 << 40);
        let buckets = usize::try_from(buckets).unwrap_or(usize::MAX / 2 / BUCKET_WORDS);
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
        (self.bucket_mask + 1) * BUCKET_WORDS * std::mem::size_of::<u32>() * SHARDS
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

/// Moves `from` (a slot of `bucket`) to the free slot `to`, leaving `from` free.
fn shift(shard: &mut Shard, from: Slot, to: Slot) {
    let v = shard.get(from);
    shard.set(to, v);
    shard.set(from, [0; WORDS]);
}

/// Makes room in one of the full buckets `from` by moving residents along a cuckoo path of at
/// most two moves (each resident to its other bucket); returns the slot freed. Bounded: at
/// most 2 + 6 + 18 buckets are looked at.
fn relocate(shard: &mut Shard, from: [usize; 2], mask: usize) -> Option<Slot> {
    // One move: a resident of `from` whose other bucket has room.
    for bucket in from {
        for slot in slots(bucket) {
            let other = alternate(bucket, shard.tag(slot), mask);
            if other == bucket {
                continue;
            }
            if let (Some(free), _) = shard.free(other) {
                shift(shard, slot, free);
                return Some(slot);
            }
        }
    }
    // Two moves: make room in a resident's other bucket first.
    for bucket in from {
        for slot in slots(bucket) {
            let mid = alternate(bucket, shard.tag(slot), mask);
            if mid == bucket {
                continue;
            }
            for mid_slot in slots(mid) {
                let far = alternate(mid, shard.tag(mid_slot), mask);
                if far == mid || far == bucket {
                    continue;
                }
                if let (Some(free), _) = shard.free(far) {
                    shift(shard, mid_slot, free);
                    shift(shard, slot, mid_slot);
                    return Some(slot);
                }
            }
        }
    }
    None
}

impl CounterStore for MemoryCounterStore {
    fn check(&self, query: &RateCheck) -> RateOutcome {
        let key = query.key.0;
        let tag = tag_of(key);
        let shard_index = usize::try_from(key >> 58).unwrap_or(0) % SHARDS;
        let b1 = usize::try_from(key).unwrap_or(0) & self.bucket_mask;
        let b2 = alternate(b1, tag, self.bucket_mask);
        let Some(shard) = self.shards.get(shard_index) else {
            return RateOutcome::default();
        };
        let mut guard = match shard.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        let shard = &mut *guard;
        // The common case: the key is in its first bucket (one cache line).
        let mut found = shard.find(b1, tag);
        if found.is_none() && b2 != b1 {
            found = shard.find(b2, tag);
        }
        let (slot, mut state) = match found {
            Some(s) => (s, unpack(shard.get(s))),
            None => {
                let (e1, u1) = shard.free(b1);
                let (e2, u2) = shard.free(b2);
                // A new key goes to the emptier bucket (the first on a tie).
                let empty = if u2 < u1 { e2.or(e1) } else { e1.or(e2) };
                // A short cuckoo path may free a slot: then no one loses a count.
                let room = empty.or_else(|| relocate(shard, [b1, b2], self.bucket_mask));
                let slot = if let Some(s) = room {
                    shard.len += 1;
                    s
                } else {
                    // Evict the least recently active candidate.
                    let mut victim = b1 * BUCKET_WORDS;
                    let mut rank = (u32::MAX, u32::MAX);
                    for s in slots(b1).chain(slots(b2)) {
                        let st = unpack(shard.get(s));
                        if (st.window, st.current) < rank {
                            rank = (st.window, st.current);
                            victim = s;
                        }
                    }
                    victim
                };
                (slot, WindowState::default())
            }
        };
        debug_assert!(bucket_of(slot) == b1 || bucket_of(slot) == b2);
        let outcome = state.apply(query);
        shard.set(slot, pack(tag, &state));
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
        assert_eq!(s.capacity(), 64 * 3);
        let s = MemoryCounterStore::new(1 << 20);
        // 16,384 keys per shard need 5,462 buckets of 3: rounded up to 8,192.
        assert_eq!(s.capacity(), 64 * 8192 * 3);
        assert_eq!(s.table_bytes(), 64 * 8192 * 64);
        assert!(s.capacity() >= 1 << 20);
    }

    #[test]
    fn a_full_bucket_evicts_the_least_recently_active_key() {
        let store = MemoryCounterStore::new(1);
        // Small keys all land in shard 0, and each shard has one bucket of 3 slots (both
        // choices are the same bucket).
        for k in 1..=3u64 {
            for _ in 0..k {
                store.check(&q(k, 600, 100));
            }
        }
        // Key 1 has the lowest count in the same window: the newcomer replaces it.
        assert_eq!(store.check(&q(9, 600, 100)).estimate, 1);
        assert_eq!(store.check(&q(2, 600, 100)).estimate, 3);
        assert_eq!(store.check(&q(1, 600, 100)).estimate, 1, "key 1 restarted");
        assert_eq!(store.key_count(), Some(3));
    }

    #[test]
    fn an_older_window_is_evicted_before_a_busier_one() {
        let store = MemoryCounterStore::new(1);
        for _ in 0..50 {
            store.check(&q(1, 60, 100));
        }
        store.check(&q(2, 600, 100));
        store.check(&q(3, 600, 100));
        // Key 1 was busiest but is the least recently active.
        store.check(&q(4, 600, 100));
        assert_eq!(store.check(&q(2, 600, 100)).estimate, 2);
        assert_eq!(store.check(&q(1, 600, 100)).estimate, 1, "key 1 restarted");
    }

    #[test]
    fn mitigation_and_counts_survive_in_the_slot() {
        let store = MemoryCounterStore::new(4096);
        let mut m = q(5, 10, 2);
        m.mitigation_timeout_secs = 30;
        assert!(!store.check(&m).limited);
        assert!(!store.check(&m).limited);
        let o = store.check(&m);
        assert!(o.limited);
        assert_eq!(o.retry_after_secs, 30);
        m.now = Timestamp::from_secs(39);
        assert!(store.check(&m).limited);
        // Mitigation over, but the window still holds its 2 requests: refused again.
        m.now = Timestamp::from_secs(40);
        assert!(store.check(&m).limited);
    }

    #[test]
    fn alternate_buckets_are_an_involution() {
        for b in 0..64usize {
            for tag in [1u32, 7, 0xdead_beef, u32::MAX] {
                let other = alternate(b, tag, 63);
                assert_eq!(alternate(other, tag, 63), b);
            }
        }
    }

    #[test]
    fn keys_moved_by_the_cuckoo_path_keep_their_counts() {
        // 4,000 keys into 6,144 slots (65% full, so buckets overflow and keys move along
        // cuckoo paths): moved keys keep their counts.
        let store = MemoryCounterStore::new(64 * 64);
        let keys: Vec<u64> = (0..4000u64)
            .map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
            .collect();
        for (n, &k) in keys.iter().enumerate() {
            for _ in 0..(n % 3 + 1) {
                store.check(&RateCheck {
                    limit: None,
                    ..q(k, 30, 100)
                });
            }
        }
        let kept = keys
            .iter()
            .enumerate()
            .filter(|&(n, &k)| {
                let o = store.check(&RateCheck {
                    limit: None,
                    count: false,
                    ..q(k, 30, 100)
                });
                o.estimate == u32::try_from(n % 3 + 1).unwrap()
            })
            .count();
        assert!(store.capacity() >= 4000 && store.capacity() < 8000);
        assert!(kept > 3500, "{kept} kept");
        assert!(kept <= store.capacity());
    }
}
