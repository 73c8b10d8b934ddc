//! The in-process counter store: a fixed-size, sharded, two-choice set-associative table of
//! 16-byte slots, four to a 64-byte bucket (one cache line).

use std::sync::{Mutex, PoisonError};

use super::{CounterKey, CounterStore, RateCheck, RateOutcome, WindowState};

/// Slots per bucket: four 16-byte slots fill one 64-byte cache line.
const WAYS: usize = 4;
/// Bytes per bucket (one cache line).
const BUCKET_BYTES: usize = 64;
/// Bytes per slot.
const SLOT_BYTES: usize = 16;
/// A transparent huge page (x86-64, aarch64 with 4 KiB base pages).
const HUGE_PAGE: usize = 2 << 20;
/// Buckets in one huge page.
const HUGE_PAGE_BUCKETS: u64 = (HUGE_PAGE / BUCKET_BYTES) as u64;
/// Most independently locked shards.
const MAX_SHARDS: u64 = 64;
/// Shards of small tables hold at least this many buckets (256 KiB).
const SMALL_SHARD_BUCKETS: u64 = 4096;
/// Slots per budgeted key, as a fraction over 16: 17/16 leaves about 6% of the slots free when
/// the budget is full, which keeps cuckoo insertions short.
const HEADROOM_SIXTEENTHS: u64 = 17;
/// Buckets visited by one insertion's search for a free slot (breadth first, at most three
/// moves deep).
const SEARCH_NODES: usize = 32;
/// The longest period the packed fast path takes (549,755 s, about 6.4 days: below 2^39
/// microseconds, so with counts below 2^24 its arithmetic fits in 64 bits).
const FAST_PERIOD_SECS: u32 = 549_755;

// Slot layout, as one little-endian `u128` (bits, low to high):
// tag 27 | overflow 1 | window 32 | current 24 | previous 24 | mitigation end 20.
// The overflow bit is the bucket's, kept in its first slot (way 0) whatever that slot holds;
// it is 0 in the other slots.
const TAG_BITS: u32 = 27;
const TAG_MASK: u64 = (1 << TAG_BITS) - 1;
/// Set in way 0 of a bucket once a key whose first bucket it is may live in its second one
/// (never cleared: a stale bit costs one more cache line on a miss, nothing else).
const OVERFLOW: u128 = 1 << TAG_BITS;
const WINDOW_SHIFT: u32 = TAG_BITS + 1;
const CURRENT_SHIFT: u32 = WINDOW_SHIFT + 32;
const PREVIOUS_SHIFT: u32 = CURRENT_SHIFT + 24;
const MITIGATION_SHIFT: u32 = PREVIOUS_SHIFT + 24;
const COUNT_MASK: u128 = (1 << 24) - 1;
const MITIGATION_MASK: u128 = (1 << 20) - 1;

/// An in-process [`CounterStore`] with a fixed key budget.
///
/// # Memory
/// Each slot is 16 bytes: a 27-bit tag of the key hash and the complete [`WindowState`] (the
/// 32-bit window index, the current and previous counts in 24 bits each, and the end of a
/// mitigation in 20 bits, as seconds after the start of the stored window). Four slots make a
/// bucket of exactly one cache line. The table holds `17/16` of the budget in slots (rounded up
/// to whole 2 MiB shards for large budgets): with the default budget of 1,048,576 keys that is
/// 18 MiB, 18.9 bytes per budgeted key. Tables of 2 MiB shards are anonymous memory maps with
/// transparent huge pages requested (`madvise`), so a check of a random key costs no page
/// walk on systems that grant them; smaller tables are plain zeroed allocations. Either way
/// the zero pages come from the OS on first touch: creating a store writes nothing.
///
/// # Limits of the packing
/// Counts are exact up to [`MemoryCounterStore::MAX_COUNT`] (16,777,215) per window: a limit
/// above that is enforced as that value, and an estimate (for `rate(..)`) saturates there.
/// A mitigation end is kept to the second up to about 12 days past the start of the window
/// (the policy compiler caps `mitigation_timeout` at one day).
///
/// # Eviction rule
/// A key may live in either of two buckets (partial-key cuckoo hashing: the second bucket is a
/// function of the first and the tag, `h(tag) − bucket` modulo the bucket count, so a
/// resident's other bucket is known without its key). A new key takes a free slot in its first
/// bucket, else in its second; when both are full, residents move to their other buckets along
/// a path of at most three moves (a bounded breadth-first search) to make room, unless the
/// shard is full (then no path can end at a free slot). When no room can be made, the new key
/// replaces the candidate of its two buckets that was **least
/// recently active** (oldest window index; on a tie, the lowest current count). Keys idle for
/// more than one period hold nothing that matters (their estimate is 0) and are the first to
/// go, so eviction only loses information when more keys are active at once than the table
/// holds. An evicted key restarts from zero, which can only let a client through, never refuse
/// one wrongly. The accuracy with one million distinct keys is measured by a test (see the
/// crate README).
///
/// A key is identified by its shard, its pair of buckets and its 27-bit tag: two live keys
/// sharing all three are counted together (for a key not in the table, the chance that one of
/// the candidate slots carries its tag is about 4 in 2^27, or 8 in 2^27 once its first bucket
/// overflowed).
///
/// A check that counts nothing (a rule whose counting expression did not match) and starts no
/// mitigation does not store a key that is not in the table: its answer is that of an empty
/// counter, and nothing would be remembered.
///
/// # Overflow bit
/// Each bucket keeps one bit (in its first slot) set once a key whose first bucket it is may
/// have gone to its second: a new key placed there, or a resident moved out by a cuckoo path.
/// A key missing from its first bucket is only looked up in its second when that bit is set,
/// so a new client's key costs one cache line, not two, until buckets start to fill. The bit
/// is never cleared. Measured (test `few_buckets_overflow_below_half_the_budget`): with a
/// quarter of the budget in use 0.3% of the buckets have it set, with half 4%, with three
/// quarters 19%.
///
/// # Concurrency
/// The shards (up to 64, each on its own cache line) are each behind a mutex, chosen by the
/// top bits of a hash of the key's low half (its place); a check holds one lock for the time
/// of one or two cache misses. A client's per-IP keys share a shard and a first bucket, so the
/// checks of one request usually miss the cache once between them.
pub struct MemoryCounterStore {
    shards: Box<[Locked]>,
    /// Buckets per shard.
    buckets: u64,
}

/// A shard on its own cache line (no false sharing between the locks of two shards).
#[repr(align(64))]
struct Locked(Mutex<Shard>);

struct Shard {
    table: Table,
    len: usize,
    /// Failed relocation searches (for tests).
    failed_searches: u32,
}

/// Zeroed memory for the buckets of one shard.
enum Storage {
    /// An anonymous memory map (large shards: huge pages requested).
    Mapped(memmap2::MmapMut),
    /// A zeroed heap allocation.
    Heap(Vec<u8>),
}

/// The buckets of one shard.
struct Table {
    storage: Storage,
    // INVARIANT: `base + buckets * BUCKET_BYTES <= storage.len()` and `base` makes every
    // bucket start on a 64-byte boundary (when the allocation allows it).
    base: usize,
}

/// A bucket as its four slots.
type Bucket = [u128; WAYS];

/// What [`Table::update_in`] found.
enum Probe {
    /// The key, and the fast path answered (the slot is updated).
    Done(RateOutcome),
    /// The key, but the general rule must answer.
    Declined,
    /// Not the key.
    Absent,
}

impl Table {
    fn new(buckets: usize) -> Self {
        let bytes = buckets.saturating_mul(BUCKET_BYTES);
        if bytes >= HUGE_PAGE
            && let Some(t) = Self::mapped(bytes)
        {
            return t;
        }
        // `vec![0; n]` asks the allocator for zeroed memory (calloc: fresh pages are not
        // written); the extra line lets every bucket start on a cache-line boundary.
        let heap = vec![0u8; bytes.saturating_add(BUCKET_BYTES)];
        let misalign = heap.as_ptr() as usize % BUCKET_BYTES;
        let base = (BUCKET_BYTES - misalign) % BUCKET_BYTES;
        Table {
            storage: Storage::Heap(heap),
            base,
        }
    }

    /// An anonymous map of `bytes` (a multiple of the huge page size) with huge pages
    /// requested; `None` if the OS refuses the map.
    fn mapped(bytes: usize) -> Option<Self> {
        let map = memmap2::MmapMut::map_anon(bytes).ok()?;
        let (map, base) = if (map.as_ptr() as usize).is_multiple_of(HUGE_PAGE) {
            (map, 0)
        } else {
            // Only whole, aligned 2 MiB ranges can be huge pages: map one more and start at
            // the first boundary.
            drop(map);
            let map = memmap2::MmapMut::map_anon(bytes.checked_add(HUGE_PAGE)?).ok()?;
            let base = (HUGE_PAGE - map.as_ptr() as usize % HUGE_PAGE) % HUGE_PAGE;
            (map, base)
        };
        #[cfg(target_os = "linux")]
        {
            // Best effort: without huge pages the table works the same, only slower.
            let _ = map.advise(memmap2::Advice::HugePage);
        }
        Some(Table {
            storage: Storage::Mapped(map),
            base,
        })
    }

    fn bytes(&self) -> &[u8] {
        match &self.storage {
            Storage::Mapped(m) => m,
            Storage::Heap(v) => v,
        }
    }

    fn bytes_mut(&mut self) -> &mut [u8] {
        match &mut self.storage {
            Storage::Mapped(m) => m,
            Storage::Heap(v) => v,
        }
    }

    /// The slots of bucket `b` (`None` out of range: never, by construction).
    #[inline]
    fn line(&self, b: usize) -> Option<&[[u8; SLOT_BYTES]]> {
        let at = self.base + b * BUCKET_BYTES;
        let line =
            <&[u8; BUCKET_BYTES]>::try_from(self.bytes().get(at..at + BUCKET_BYTES)?).ok()?;
        Some(line.as_chunks::<SLOT_BYTES>().0)
    }

    /// The way of bucket `b` holding `tag` (0: a free way), and its slot.
    #[inline]
    fn find(&self, b: usize, tag: u64) -> Option<(usize, u128)> {
        self.line(b)?
            .iter()
            .map(|s| u128::from_le_bytes(*s))
            .enumerate()
            .find(|&(_, v)| v & u128::from(TAG_MASK) == u128::from(tag))
    }

    /// Applies `query` to the slot of bucket `b` holding `tag` if the packed fast path
    /// ([`apply_packed`]) answers it; otherwise nothing is written.
    #[inline(always)]
    fn update_in(&mut self, b: usize, tag: u64, query: &RateCheck) -> Probe {
        let at = self.base + b * BUCKET_BYTES;
        let Some(Ok(line)) = self
            .bytes_mut()
            .get_mut(at..at + BUCKET_BYTES)
            .map(<&mut [u8; BUCKET_BYTES]>::try_from)
        else {
            return Probe::Absent;
        };
        let Some(slot) = line
            .as_chunks_mut::<SLOT_BYTES>()
            .0
            .iter_mut()
            .find(|s| u128::from_le_bytes(**s) & u128::from(TAG_MASK) == u128::from(tag))
        else {
            return Probe::Absent;
        };
        match apply_packed(u128::from_le_bytes(*slot), query) {
            Some((v, outcome)) => {
                *slot = v.to_le_bytes();
                Probe::Done(outcome)
            }
            None => Probe::Declined,
        }
    }

    /// Bucket `b`'s slots (all free if out of range: never, by construction).
    fn load(&self, b: usize) -> Bucket {
        let mut out = [0u128; WAYS];
        if let Some(line) = self.line(b) {
            for (o, s) in out.iter_mut().zip(line) {
                *o = u128::from_le_bytes(*s);
            }
        }
        out
    }

    /// Writes slot `way` of bucket `b`, keeping the bucket's overflow bit where it is (the
    /// bit of `slot`, which may come from another bucket's way 0, is dropped).
    #[inline]
    fn store(&mut self, b: usize, way: usize, slot: u128) {
        let at = self.base + b * BUCKET_BYTES + way * SLOT_BYTES;
        if let Some(dst) = self.bytes_mut().get_mut(at..at + SLOT_BYTES)
            && let Ok(old) = <[u8; SLOT_BYTES]>::try_from(&*dst)
        {
            let kept = u128::from_le_bytes(old) & OVERFLOW;
            dst.copy_from_slice(&(slot & !OVERFLOW | kept).to_le_bytes());
        }
    }

    /// Whether bucket `b`'s overflow bit is set: whether a key whose first bucket is `b` may
    /// live in its second.
    #[inline]
    fn overflowed(&self, b: usize) -> bool {
        self.line(b)
            .and_then(|l| l.first())
            .is_none_or(|s| u128::from_le_bytes(*s) & OVERFLOW != 0)
    }

    /// Sets bucket `b`'s overflow bit.
    fn set_overflow(&mut self, b: usize) {
        let at = self.base + b * BUCKET_BYTES;
        if let Some(dst) = self.bytes_mut().get_mut(at..at + SLOT_BYTES)
            && let Ok(old) = <[u8; SLOT_BYTES]>::try_from(&*dst)
        {
            dst.copy_from_slice(&(u128::from_le_bytes(old) | OVERFLOW).to_le_bytes());
        }
    }
}

/// The tag of slot `way` (0: free).
#[inline]
fn tag_at(bucket: &Bucket, way: usize) -> u64 {
    bucket
        .get(way)
        .map_or(0, |&v| u64::try_from(v & u128::from(TAG_MASK)).unwrap_or(0))
}

/// The way of a loaded bucket holding `tag` (0: a free way).
#[inline]
fn find(bucket: &Bucket, tag: u64) -> Option<usize> {
    (0..WAYS).find(|&w| tag_at(bucket, w) == tag)
}

/// The nonzero 27-bit tag of a (mixed) key hash (0 marks a free slot): bits 32 to 58,
/// independent of the low bits that choose the bucket.
#[inline]
fn tag_of(key: u64) -> u64 {
    ((key >> 32) & TAG_MASK).max(1)
}

/// A bijective mix of a key, so keys that are not hashes (small integers) spread too.
#[inline]
fn mix(key: u64) -> u64 {
    (key ^ (key >> 32)).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// Where a key lives and how it is told apart: `(word, place)`. Only the key's low half
/// decides its place (its shard, from the top bits of `place`, and its first bucket, from the
/// low 32 bits of `word`), so keys that share their low half share a shard and a first bucket:
/// one cache line. [`crate::ratelimit::CounterKeyBuilder::finish_with_ip`] gives every per-IP
/// key of one client the same low half, so a request's per-IP counters (its `rate(..)` counts
/// and the rules keyed by `ip.src` alone) cost one cache miss, not one each. The tag (the
/// high half of `word`, see [`tag_of`]) is a mix of the whole key, so such keys are told
/// apart.
#[inline]
fn placed(key: u64) -> (u64, u32) {
    // Two xorshift-multiply rounds (one multiply leaves the low bits of the result, which
    // choose the bucket, depending on few input bits): keys whose low halves have structure
    // (multiples of 4,096, say) still spread evenly.
    let low = key & 0xffff_ffff;
    let z = (low ^ (low >> 16)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let z = (z ^ (z >> 29)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    let place = (z >> 32) as u32;
    // The bucket takes the bits below the shard's (rotated to the top for `scale`).
    let word = (mix(key) & !0xffff_ffff) | u64::from(place.rotate_left(8));
    (word, place)
}

/// The other bucket of a key with `tag` in `bucket`, among `n`: `h(tag) − bucket` modulo `n`,
/// an involution for any `n`.
#[inline]
fn alternate(bucket: u64, tag: u64, n: u64) -> u64 {
    let h = (tag * n) >> TAG_BITS;
    if h >= bucket {
        h - bucket
    } else {
        h + n - bucket
    }
}

/// `x` scaled into `0..n` (the high half of a 32 × 64-bit product).
#[inline]
fn scale(x: u32, n: u64) -> u64 {
    (u64::from(x) * n) >> 32
}

/// Packs a tag and a state into a slot, the mitigation end relative to the window start.
#[inline]
fn pack(tag: u64, s: &WindowState, period: u64) -> u128 {
    let start = u64::from(s.window) * period;
    let until = u64::from(s.mitigated_until_s);
    let rel = if until > start {
        (until - start).min(MITIGATION_MASK as u64)
    } else {
        0
    };
    u128::from(tag & TAG_MASK)
        | u128::from(s.window) << WINDOW_SHIFT
        | u128::from(s.current.min(MemoryCounterStore::MAX_COUNT)) << CURRENT_SHIFT
        | u128::from(s.previous.min(MemoryCounterStore::MAX_COUNT)) << PREVIOUS_SHIFT
        | u128::from(rel) << MITIGATION_SHIFT
}

/// The state in a slot.
#[inline]
fn unpack(v: u128, period: u64) -> WindowState {
    #[expect(clippy::cast_possible_truncation, reason = "masked fields")]
    let (window, current, previous, rel) = (
        (v >> WINDOW_SHIFT) as u32,
        ((v >> CURRENT_SHIFT) & COUNT_MASK) as u32,
        ((v >> PREVIOUS_SHIFT) & COUNT_MASK) as u32,
        ((v >> MITIGATION_SHIFT) & MITIGATION_MASK) as u64,
    );
    let mitigated_until_s = if rel == 0 {
        0
    } else {
        u32::try_from(u64::from(window) * period + rel).unwrap_or(u32::MAX)
    };
    WindowState {
        window,
        current,
        previous,
        mitigated_until_s,
    }
}

/// The common case of [`WindowState::apply`] on a packed slot, without unpacking it: no
/// mitigation stored and the request not acted on. `None` when the general rule must run
/// (the request is acted on, a mitigation is stored, or the period is 0 or longer than
/// [`FAST_PERIOD_SECS`]); the answer and the new slot are otherwise exactly the general rule's.
#[inline]
fn apply_packed(v: u128, query: &RateCheck) -> Option<(u128, RateOutcome)> {
    // The mitigation end is the top field.
    if v >> MITIGATION_SHIFT != 0 {
        return None;
    }
    // A period of 0 (taken as 1 s by the general rule) or above FAST_PERIOD_SECS: the general
    // rule.
    if query.period_secs.wrapping_sub(1) >= FAST_PERIOD_SECS {
        return None;
    }
    let period_us = u64::from(query.period_secs) * 1_000_000;
    let now_us = query.now.as_micros();
    let window = u32::try_from(now_us / period_us).ok()?;
    let elapsed_us = now_us % period_us;
    #[expect(clippy::cast_possible_truncation, reason = "masked fields")]
    let (stored, current, previous) = (
        (v >> WINDOW_SHIFT) as u32,
        ((v >> CURRENT_SHIFT) & COUNT_MASK) as u64,
        ((v >> PREVIOUS_SHIFT) & COUNT_MASK) as u64,
    );
    let (previous, current) = if stored == window {
        (previous, current)
    } else if stored.checked_add(1) == Some(window) {
        (current, 0)
    } else {
        (0, 0)
    };
    // The previous window's share of the estimate, scaled by P: previous × (P − e). With
    // counts below 2^24 and P below 2^39 (FAST_PERIOD_SECS), no sum or product below
    // overflows 64 bits.
    let carried = previous * (period_us - elapsed_us);
    let count = u64::from(query.count);
    let current = current + count;
    if let Some(limit) = query.limit {
        // Acted on when the estimate with this request exceeds the limit:
        // carried + (current before + 1) × P > limit × P.
        let limit = u64::from(limit.min(MemoryCounterStore::MAX_COUNT));
        if carried + (current + 1 - count) * period_us > limit * period_us {
            return None;
        }
    }
    if current > u64::from(MemoryCounterStore::MAX_COUNT) {
        return None;
    }
    // ⌈(carried + current × P) / P⌉, the division only when there is a previous count.
    let carried_requests = if previous == 0 {
        0
    } else {
        carried.div_ceil(period_us)
    };
    // Below 2^25: current is at most 2^24 − 1 and the carried requests at most previous.
    #[expect(clippy::cast_possible_truncation, reason = "below 2^25")]
    let estimate = (current + carried_requests) as u32;
    let kept = v & (u128::from(TAG_MASK) | OVERFLOW);
    let slot = kept
        | u128::from(window) << WINDOW_SHIFT
        | u128::from(current) << CURRENT_SHIFT
        | u128::from(previous) << PREVIOUS_SHIFT;
    Some((
        slot,
        RateOutcome {
            estimate,
            limited: false,
            retry_after_secs: 0,
        },
    ))
}

/// One bucket reached by the search for a free slot: `from` names the node and way whose
/// resident moves here.
#[derive(Clone, Copy)]
struct Node {
    bucket: u64,
    from: Option<(usize, usize)>,
}

/// Makes room in one of the full buckets `start` by moving residents to their other buckets
/// along a path of at most three moves (breadth first over at most [`SEARCH_NODES`] buckets);
/// returns the way of `start[0]` or `start[1]` (named by its bucket) freed.
fn relocate(table: &mut Table, start: [u64; 2], n: u64) -> Option<(u64, usize)> {
    let mut nodes = [Node {
        bucket: 0,
        from: None,
    }; SEARCH_NODES];
    let mut len = 0;
    for b in start {
        if len == 0 || nodes.first().is_some_and(|f| f.bucket != b) {
            *nodes.get_mut(len)? = Node {
                bucket: b,
                from: None,
            };
            len += 1;
        }
    }
    let mut next = 0;
    while next < len {
        let node = *nodes.get(next)?;
        let here = table.load(usize::try_from(node.bucket).ok()?);
        for way in 0..WAYS {
            let other = alternate(node.bucket, tag_at(&here, way), n);
            if other == node.bucket || nodes.get(..len)?.iter().any(|m| m.bucket == other) {
                continue;
            }
            let there = table.load(usize::try_from(other).ok()?);
            if let Some(free) = find(&there, 0) {
                // Found: move residents back along the path, from the free slot to the start.
                let (mut to_bucket, mut to_way) = (other, free);
                let (mut at, mut at_way) = (next, way);
                loop {
                    let from = *nodes.get(at)?;
                    let fb = usize::try_from(from.bucket).ok()?;
                    let moved = table.load(fb).get(at_way).copied().unwrap_or(0);
                    table.store(usize::try_from(to_bucket).ok()?, to_way, moved);
                    table.store(fb, at_way, 0);
                    // The resident may have left its first bucket for its second (which of
                    // its two `fb` was is not known without its key): mark `fb`.
                    table.set_overflow(fb);
                    match from.from {
                        Some((parent, parent_way)) => {
                            (to_bucket, to_way) = (from.bucket, at_way);
                            (at, at_way) = (parent, parent_way);
                        }
                        None => return Some((from.bucket, at_way)),
                    }
                }
            }
            if len < SEARCH_NODES {
                *nodes.get_mut(len)? = Node {
                    bucket: other,
                    from: Some((next, way)),
                };
                len += 1;
            }
        }
        next += 1;
    }
    None
}

impl MemoryCounterStore {
    /// The default key budget: 1,048,576 keys (an 18 MiB table).
    pub const DEFAULT_KEY_BUDGET: u64 = 1 << 20;

    /// The largest count a slot holds per window (limits above it are enforced as it).
    pub const MAX_COUNT: u32 = (1 << 24) - 1;

    /// A store holding at least `key_budget` keys (with the headroom and rounding described
    /// above; at most [`crate::MAX_KEY_BUDGET`]).
    #[must_use]
    pub fn new(key_budget: u64) -> Self {
        let (shards, buckets) = layout(key_budget);
        let per_shard = usize::try_from(buckets).unwrap_or(usize::MAX / 2 / BUCKET_BYTES);
        let shards = (0..shards)
            .map(|_| {
                Locked(Mutex::new(Shard {
                    table: Table::new(per_shard),
                    len: 0,
                    failed_searches: 0,
                }))
            })
            .collect();
        MemoryCounterStore { shards, buckets }
    }

    /// Where `key` lives: its placed word (tag above, bucket below: see [`placed`]), its
    /// shard and its first bucket in that shard.
    #[inline(always)]
    fn home(&self, key: CounterKey) -> (u64, Option<&Locked>, usize) {
        let (key, place) = placed(key.0);
        let shard_index = usize::try_from(scale(place, self.shards.len() as u64)).unwrap_or(0);
        #[expect(clippy::cast_possible_truncation, reason = "the placing half")]
        let b1 = usize::try_from(scale(key as u32, self.buckets)).unwrap_or(0);
        (key, self.shards.get(shard_index), b1)
    }

    /// Number of slots (the effective key budget).
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.total_buckets().saturating_mul(WAYS)
    }

    /// Bytes of the table (address space; resident memory is what keys touched, in whole huge
    /// pages where the OS grants them).
    #[must_use]
    pub fn table_bytes(&self) -> usize {
        self.total_buckets().saturating_mul(BUCKET_BYTES)
    }

    fn slots_per_shard(&self) -> usize {
        usize::try_from(self.buckets)
            .unwrap_or(usize::MAX)
            .saturating_mul(WAYS)
    }

    /// A shard's share of the key budget: the slots less the 1/17 of headroom.
    fn budget_per_shard(&self) -> usize {
        self.slots_per_shard() / 17 * 16
    }

    fn total_buckets(&self) -> usize {
        usize::try_from(self.buckets)
            .unwrap_or(usize::MAX)
            .saturating_mul(self.shards.len())
    }

    /// [`CounterStore::check`] for a key not in its first bucket: the fast path on its second
    /// bucket, else the general rule.
    #[inline(never)]
    fn check_second(&self, shard: &mut Shard, key: u64, query: &RateCheck) -> RateOutcome {
        let tag = tag_of(key);
        #[expect(
            clippy::cast_possible_truncation,
            reason = "the low half of the key hash"
        )]
        let b1 = scale(key as u32, self.buckets);
        if !shard.table.overflowed(usize::try_from(b1).unwrap_or(0)) {
            // No key of this first bucket ever went to its second: a new key.
            return self.check_slow(shard, key, query);
        }
        let b2 = alternate(b1, tag, self.buckets);
        if let Probe::Done(outcome) =
            shard
                .table
                .update_in(usize::try_from(b2).unwrap_or(0), tag, query)
        {
            return outcome;
        }
        self.check_slow(shard, key, query)
    }

    /// Everything but the common case of [`CounterStore::check`]: the key in its second
    /// bucket, a stored mitigation, a request acted on, or a new key.
    #[cold]
    #[inline(never)]
    fn check_slow(&self, shard: &mut Shard, key: u64, query: &RateCheck) -> RateOutcome {
        let n = self.buckets;
        let tag = tag_of(key);
        #[expect(
            clippy::cast_possible_truncation,
            reason = "the low half of the key hash"
        )]
        let b1 = scale(key as u32, n);
        let b2 = alternate(b1, tag, n);
        let period = u64::from(query.period_secs.max(1));
        let query = RateCheck {
            limit: query.limit.map(|l| l.min(Self::MAX_COUNT)),
            ..*query
        };
        let (i1, i2) = (
            usize::try_from(b1).unwrap_or(0),
            usize::try_from(b2).unwrap_or(0),
        );
        // The second bucket is read only when the first's overflow bit says a key of it may
        // be there, or to find room when the first is full.
        let spilled = shard.table.overflowed(i1);
        let (at, way, mut state) = if let Some((at, w, v)) = shard
            .table
            .find(i1, tag)
            .map(|(w, v)| (i1, w, v))
            .or_else(|| {
                spilled
                    .then(|| shard.table.find(i2, tag).map(|(w, v)| (i2, w, v)))
                    .flatten()
            }) {
            if let Some((slot, outcome)) = apply_packed(v, &query) {
                shard.table.store(at, w, slot);
                return outcome;
            }
            (at, w, unpack(v, period))
        } else {
            // A check that counts nothing and starts no mitigation leaves a new key's state
            // empty: answer it without taking a slot (a rule whose counting expression rarely
            // matches would otherwise fill the table with empty keys).
            let mut fresh = WindowState::default();
            let outcome = fresh.apply(&query);
            if fresh.current == 0 && fresh.mitigated_until_s == 0 {
                return outcome;
            }
            let free = |table: &Table, i: usize, b: u64| table.find(i, 0).map(|(w, _)| (b, w));
            let room = if let Some(r) = free(&shard.table, i1, b1) {
                Some(r)
            } else if let Some(r) = free(&shard.table, i2, b2) {
                Some(r)
            } else if shard.len >= self.budget_per_shard() {
                // A full shard has no free slot for a path to reach: evict at once (once a
                // table has filled up, as with clients rotating addresses, every new key
                // costs its two buckets only).
                // Likewise once the shard holds its share of the key budget: keys are only
                // ever replaced, never removed, so it stays that full, and near full a search
                // mostly fails after reading dozens of cache lines. Without this, a flood of
                // new keys (clients rotating addresses) would pay such a search per request.
                None
            } else {
                let found = relocate(&mut shard.table, [b1, b2], n);
                if found.is_none() {
                    shard.failed_searches = shard.failed_searches.saturating_add(1);
                }
                found
            };
            let (bucket, w) = if let Some(r) = room {
                shard.len += 1;
                r
            } else {
                // Evict the least recently active candidate.
                let mut victim = (b1, 0);
                let mut rank = (u32::MAX, u32::MAX);
                for b in [b1, b2] {
                    let loaded = shard.table.load(usize::try_from(b).unwrap_or(0));
                    for (w, &v) in loaded.iter().enumerate() {
                        let st = unpack(v, period);
                        if (st.window, st.current) < rank {
                            rank = (st.window, st.current);
                            victim = (b, w);
                        }
                    }
                }
                victim
            };
            if bucket != b1 {
                // The key goes to its second bucket: a later miss in its first must look there.
                shard.table.set_overflow(i1);
            }
            // The new key's state is the one the query was applied to above.
            let at = usize::try_from(bucket).unwrap_or(0);
            shard.table.store(at, w, pack(tag, &fresh, period));
            return outcome;
        };
        let outcome = state.apply(&query);
        shard.table.store(at, way, pack(tag, &state, period));
        outcome
    }
}

/// The number of shards and of buckets per shard for a key budget.
fn layout(key_budget: u64) -> (u64, u64) {
    let budget = key_budget.clamp(1, crate::compile::MAX_KEY_BUDGET);
    let slots = (budget * HEADROOM_SIXTEENTHS).div_ceil(16);
    let buckets = slots.div_ceil(WAYS as u64);
    if buckets >= 2 * HUGE_PAGE_BUCKETS {
        // Whole huge pages per shard.
        let pages = buckets.div_ceil(HUGE_PAGE_BUCKETS);
        let per_shard_pages = pages.div_ceil(MAX_SHARDS);
        let shards = pages.div_ceil(per_shard_pages);
        (shards, per_shard_pages * HUGE_PAGE_BUCKETS)
    } else {
        let shards = (buckets / SMALL_SHARD_BUCKETS).clamp(1, MAX_SHARDS);
        (shards, buckets.div_ceil(shards))
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
            .field("shards", &self.shards.len())
            .finish_non_exhaustive()
    }
}

impl CounterStore for MemoryCounterStore {
    fn check(&self, query: &RateCheck) -> RateOutcome {
        let (key, shard, b1) = self.home(query.key);
        let tag = tag_of(key);
        let Some(Locked(shard)) = shard else {
            return RateOutcome::default();
        };
        let mut guard = shard.lock().unwrap_or_else(PoisonError::into_inner);
        // The common case: the key is in its first bucket (one cache line; else its second),
        // no mitigation is stored and the request is not acted on.
        match guard.table.update_in(b1, tag, query) {
            Probe::Done(outcome) => outcome,
            Probe::Declined => self.check_slow(&mut guard, key, query),
            Probe::Absent => self.check_second(&mut guard, key, query),
        }
    }

    fn key_count(&self) -> Option<usize> {
        Some(
            self.shards
                .iter()
                .map(|Locked(s)| match s.lock() {
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

    /// Writes a slot for `tag` holding `current` requests in window 0 (period 60 s) into way
    /// `way` of bucket `b`.
    fn plant(shard: &Mutex<Shard>, b: usize, way: usize, tag: u64, current: u32) {
        let s = WindowState {
            window: 0,
            current,
            previous: 0,
            mitigated_until_s: 0,
        };
        shard.lock().unwrap().table.store(b, way, pack(tag, &s, 60));
    }

    #[test]
    fn a_clients_ip_keys_share_a_line_and_count_apart() {
        let store = MemoryCounterStore::new(1 << 20);
        let ip = std::net::IpAddr::from([81, 2, 69, 160]);
        // More per-IP keys than a bucket has ways: the extra ones go to their other buckets.
        let keys: Vec<CounterKey> = (0..7u32)
            .map(|i| CounterKey::builder("rule", 60 + i).finish_with_ip(ip))
            .collect();
        let (_, shard0, b0) = store.home(keys[0]);
        for &k in &keys {
            let (_, shard, b1) = store.home(k);
            assert!(std::ptr::eq(shard.unwrap(), shard0.unwrap()));
            assert_eq!(b1, b0);
        }
        for (n, &k) in keys.iter().enumerate() {
            for _ in 0..=n {
                let _ = store.check(&RateCheck {
                    key: k,
                    ..q(0, 1, 100)
                });
            }
        }
        for (n, &k) in keys.iter().enumerate() {
            let o = store.check(&RateCheck {
                key: k,
                count: false,
                ..q(0, 1, 100)
            });
            assert_eq!(o.estimate as usize, n + 1, "key {n}");
        }
        assert_eq!(store.key_count(), Some(keys.len()));
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
    fn layout_of_budgets() {
        let s = MemoryCounterStore::new(1);
        assert_eq!(s.capacity(), 4);
        assert_eq!(s.shards.len(), 1);
        // The default: 1,114,112 slots needed, 278,528 buckets: 9 shards of one huge page.
        let s = MemoryCounterStore::default();
        assert_eq!(s.shards.len(), 9);
        assert_eq!(s.table_bytes(), 9 * HUGE_PAGE);
        assert_eq!(s.capacity(), 9 * 32_768 * 4);
        // Small budgets: shards of at least 4,096 buckets.
        let s = MemoryCounterStore::new(100_000);
        assert_eq!(s.shards.len(), 6);
        assert!(s.capacity() >= 100_000 * 17 / 16);
        // The largest budget: at most 64 shards of whole huge pages.
        let (shards, buckets) = layout(crate::compile::MAX_KEY_BUDGET);
        assert!(shards > 32 && shards <= MAX_SHARDS);
        assert_eq!(buckets % HUGE_PAGE_BUCKETS, 0);
        assert!(shards * buckets * 4 >= crate::compile::MAX_KEY_BUDGET);
        for budget in [1u64, 2, 3, 5, 1000, 70_000, 300_000, 1 << 20, 3 << 20] {
            let (shards, buckets) = layout(budget);
            assert!(shards * buckets * 4 >= budget, "{budget}");
            assert!((1..=MAX_SHARDS).contains(&shards), "{budget}");
        }
    }

    #[test]
    fn a_full_bucket_evicts_the_least_recently_active_key() {
        // One shard of one bucket of 4 slots (both choices are the same bucket).
        let store = MemoryCounterStore::new(1);
        for k in 1..=4u64 {
            for _ in 0..k {
                store.check(&q(k, 600, 100));
            }
        }
        // Key 1 has the lowest count in the same window: the newcomer replaces it.
        assert_eq!(store.check(&q(9, 600, 100)).estimate, 1);
        assert_eq!(store.check(&q(2, 600, 100)).estimate, 3);
        assert_eq!(store.check(&q(1, 600, 100)).estimate, 1, "key 1 restarted");
        assert_eq!(store.key_count(), Some(4));
    }

    #[test]
    fn an_older_window_is_evicted_before_a_busier_one() {
        let store = MemoryCounterStore::new(1);
        for _ in 0..50 {
            store.check(&q(1, 60, 100));
        }
        for k in 2..=4u64 {
            store.check(&q(k, 600, 100));
        }
        // Key 1 was busiest but is the least recently active.
        store.check(&q(5, 600, 100));
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
    fn a_mitigation_spanning_windows_keeps_its_end() {
        // One day of mitigation on a 10-second period, set late in a window: the end is
        // stored relative to the window start and survives many window rolls.
        let store = MemoryCounterStore::new(4096);
        let mut m = RateCheck {
            period_secs: 10,
            mitigation_timeout_secs: 86_400,
            ..q(77, 1_000_009, 1)
        };
        m.now = Timestamp::from_millis(1_000_009_500);
        assert!(!store.check(&m).limited);
        let o = store.check(&m);
        assert!(o.limited);
        assert_eq!(o.retry_after_secs, 86_400);
        m.now = Timestamp::from_secs(1_000_009 + 50_000);
        assert_eq!(store.check(&m).retry_after_secs, 36_401);
        m.now = Timestamp::from_secs(1_000_009 + 86_400);
        assert!(store.check(&m).limited, "ends at the next whole second");
        m.now = Timestamp::from_secs(1_000_010 + 86_400);
        assert!(!store.check(&m).limited);
    }

    #[test]
    fn packing_round_trips_every_field() {
        for period in [1u64, 10, 60, 86_400] {
            for s in [
                WindowState::default(),
                WindowState {
                    window: u32::MAX,
                    current: MemoryCounterStore::MAX_COUNT,
                    previous: MemoryCounterStore::MAX_COUNT,
                    mitigated_until_s: 0,
                },
                WindowState {
                    window: 40_000,
                    current: 12,
                    previous: 7_654_321,
                    mitigated_until_s: u32::try_from(40_000 * period + 172_800).unwrap(),
                },
                WindowState {
                    window: 3,
                    current: 1,
                    previous: 0,
                    mitigated_until_s: u32::try_from(3 * period + 1).unwrap(),
                },
            ] {
                let slot = pack(TAG_MASK, &s, period);
                assert_eq!(unpack(slot, period), s, "{period}");
                let b: Bucket = [slot, 0, 0, 0];
                assert_eq!(find(&b, TAG_MASK), Some(0));
                assert_eq!(find(&b, 0), Some(1));
            }
        }
    }

    #[test]
    fn limits_above_the_largest_count_are_enforced_as_it() {
        let store = MemoryCounterStore::new(64);
        let mut big = q(3, 5, u32::MAX);
        big.limit = Some(u32::MAX);
        // Fill the window directly to one below the cap, then two more requests.
        {
            let (key, Some(Locked(shard)), b1) = store.home(big.key) else {
                unreachable!("a store has shards")
            };
            let mut g = shard.lock().unwrap();
            let s = WindowState {
                window: 0,
                current: MemoryCounterStore::MAX_COUNT - 1,
                previous: 0,
                mitigated_until_s: 0,
            };
            g.table.store(b1, 0, pack(tag_of(key), &s, 60));
        }
        assert!(!store.check(&big).limited);
        let o = store.check(&big);
        assert!(o.limited);
        assert_eq!(
            o.estimate,
            MemoryCounterStore::MAX_COUNT + 1,
            "the count and itself"
        );
    }

    #[test]
    fn counting_only_saturates_at_the_largest_count() {
        let store = MemoryCounterStore::new(64);
        let mut q = q(4, 5, 1);
        q.limit = None;
        let (key, Some(Locked(shard)), b1) = store.home(q.key) else {
            unreachable!("a store has shards")
        };
        plant(shard, b1, 0, tag_of(key), MemoryCounterStore::MAX_COUNT - 1);
        assert_eq!(store.check(&q).estimate, MemoryCounterStore::MAX_COUNT);
        for _ in 0..3 {
            assert!(store.check(&q).estimate >= MemoryCounterStore::MAX_COUNT);
        }
        let v = shard.lock().unwrap().table.load(b1)[0];
        assert_eq!(
            unpack(v, 60).current,
            MemoryCounterStore::MAX_COUNT,
            "no wrap"
        );
    }

    #[test]
    fn the_packed_fast_path_takes_the_common_case() {
        let s = WindowState {
            window: 0,
            current: 5,
            previous: 0,
            mitigated_until_s: 0,
        };
        let (slot, out) = apply_packed(pack(9, &s, 60), &q(1, 30, 100)).unwrap();
        assert_eq!(out.estimate, 6);
        assert_eq!(unpack(slot, 60).current, 6);
        assert_eq!(slot & u128::from(TAG_MASK), 9);
        // Acted on: the general rule answers.
        assert!(apply_packed(pack(9, &s, 60), &q(1, 30, 5)).is_none());
    }

    proptest::proptest! {
        /// Whenever the fast path answers, its answer and new slot are the general rule's.
        #[test]
        fn the_packed_fast_path_is_the_general_rule(
            back in 0u32..4,
            current in 0u32..300,
            previous in 0u32..300,
            mitigation in proptest::prop_oneof![proptest::strategy::Just(0u64), 1u64..200],
            now_ms in 0u64..10_000_000,
            period in proptest::prop_oneof![
                proptest::strategy::Just(1u32),
                proptest::strategy::Just(10),
                proptest::strategy::Just(60),
                proptest::strategy::Just(3600),
            ],
            limit in proptest::option::of(1u32..400),
            count: bool,
            timeout in proptest::prop_oneof![proptest::strategy::Just(0u32), proptest::strategy::Just(30)],
        ) {
            let p = u64::from(period);
            let query = RateCheck {
                key: CounterKey(1),
                period_secs: period,
                now: Timestamp::from_millis(now_ms),
                count,
                limit,
                mitigation_timeout_secs: timeout,
            };
            let window = u32::try_from(now_ms / 1000 / p).unwrap().saturating_sub(back);
            let until = if mitigation == 0 { 0 } else { u64::from(window) * p + mitigation };
            let s = WindowState {
                window,
                current,
                previous,
                mitigated_until_s: u32::try_from(until).unwrap(),
            };
            let v = pack(12_345, &s, p);
            if let Some((slot, out)) = apply_packed(v, &query) {
                let mut general = unpack(v, p);
                let expected = general.apply(&query);
                proptest::prop_assert_eq!(out, expected);
                proptest::prop_assert_eq!(slot, pack(12_345, &general, p));
            }
        }
    }

    #[test]
    fn concurrent_checks_count_every_request_exactly() {
        // Four threads insert and count the same 3,000 keys (90% of a small table's slots, so
        // insertions relocate residents while other threads count): every count is exact.
        let store = MemoryCounterStore::new(3_200);
        let keys: Vec<u64> = (0..3_000u64)
            .map(|i| i.wrapping_mul(0x2545_f491_4f6c_dd1d))
            .collect();
        std::thread::scope(|s| {
            for t in 0..4u64 {
                let (store, keys) = (&store, &keys);
                s.spawn(move || {
                    for round in 0..5u64 {
                        for (i, &k) in keys.iter().enumerate() {
                            if (i as u64 + t + round).is_multiple_of(2) {
                                store.check(&RateCheck {
                                    limit: None,
                                    ..q(k, 30, 0)
                                });
                            }
                        }
                    }
                });
            }
        });
        let lost = keys
            .iter()
            .enumerate()
            .filter(|&(i, &k)| {
                let expected: u64 = (0..4u64)
                    .map(|t| {
                        (0..5u64)
                            .filter(|r| (i as u64 + t + r).is_multiple_of(2))
                            .count() as u64
                    })
                    .sum();
                let got = store.check(&RateCheck {
                    limit: None,
                    count: false,
                    ..q(k, 30, 0)
                });
                u64::from(got.estimate) != expected
            })
            .count();
        // A failed three-move search evicts (rare at 90%); nothing else may lose a count.
        assert!(lost <= 3, "{lost} keys with a wrong count");
    }

    #[test]
    fn a_full_table_keeps_evicting_and_stays_full() {
        let store = MemoryCounterStore::new(1_000);
        let cap = store.capacity();
        for k in 0..(3 * cap as u64) {
            store.check(&RateCheck {
                limit: None,
                ..q(k.wrapping_mul(0x9e37_79b9_7f4a_7c15), 30 + k / 1000, 0)
            });
        }
        // Past its budget (16/17 of the slots) a shard stops searching for room, and only
        // fills the free slots new keys happen to land on.
        let held = store.key_count().unwrap();
        assert!(held <= cap && held >= cap / 17 * 16, "{held} of {cap}");
        // The most recent keys are still there.
        let last = 3 * cap as u64 - 1;
        let o = store.check(&RateCheck {
            limit: None,
            count: false,
            ..q(
                last.wrapping_mul(0x9e37_79b9_7f4a_7c15),
                30 + last / 1000,
                0,
            )
        });
        assert_eq!(o.estimate, 1);
    }

    #[test]
    fn a_table_at_its_budget_stops_searching_for_room() {
        // A flood of new keys (clients rotating addresses): once a shard holds its share of
        // the budget, new keys whose buckets are full evict at once instead of each paying a
        // failing search over dozens of cache lines.
        let store = MemoryCounterStore::new(20_000);
        let cap = store.capacity() as u64;
        for k in 0..4 * cap {
            store.check(&RateCheck {
                limit: None,
                ..q(k.wrapping_mul(0x9e37_79b9_7f4a_7c15), 30 + k / 1000, 0)
            });
        }
        let failed: u32 = store
            .shards
            .iter()
            .map(|l| l.0.lock().unwrap().failed_searches)
            .sum();
        // Only the last few inserts below the budget can fail a search (a handful at 94% of
        // the slots); the three capacities' worth of keys after them never search.
        assert!(failed <= 50, "{failed} failed searches");
        assert!(store.key_count().unwrap() as u64 >= cap / 17 * 16);
    }

    #[test]
    fn alternate_buckets_are_an_involution() {
        for n in [1u64, 2, 3, 7, 64, 1000, 32_768] {
            for b in (0..n).step_by(usize::try_from(n / 50 + 1).unwrap()) {
                for tag in [1u64, 7, 0x0ead_beef & TAG_MASK, TAG_MASK] {
                    let other = alternate(b, tag, n);
                    assert!(other < n);
                    assert_eq!(alternate(other, tag, n), b, "{n} {b} {tag}");
                }
            }
        }
    }

    #[test]
    fn a_check_that_counts_nothing_stores_no_new_key() {
        let store = MemoryCounterStore::new(1 << 12);
        let not_counted = RateCheck {
            count: false,
            ..q(7, 1, 100)
        };
        assert_eq!(store.check(&not_counted).estimate, 0);
        assert_eq!(store.key_count(), Some(0));
        // Counted, the key is stored; a later uncounted check reads it.
        let _ = store.check(&q(7, 1, 100));
        assert_eq!(store.key_count(), Some(1));
        assert_eq!(store.check(&not_counted).estimate, 1);
        // An uncounted check over its limit with a mitigation starts it, so it is stored.
        let mitigating = RateCheck {
            count: false,
            limit: Some(0),
            mitigation_timeout_secs: 30,
            ..q(8, 1, 0)
        };
        assert!(store.check(&mitigating).limited);
        assert_eq!(store.key_count(), Some(2));
        let later = store.check(&RateCheck {
            now: Timestamp::from_secs(20),
            ..q(8, 20, 100)
        });
        assert!(later.limited, "the mitigation was kept");
    }

    #[test]
    fn a_miss_reads_the_second_bucket_only_once_the_first_overflowed() {
        let store = MemoryCounterStore::new(1 << 16);
        // Keys sharing their low half share a shard and a first bucket; their tags differ.
        let keys: Vec<u64> = (1..=5u64).map(|i| i << 40 | 0x1234_5678).collect();
        let (_, shard, b1) = store.home(CounterKey(keys[0]));
        let Locked(shard) = shard.unwrap();
        let overflowed = || shard.lock().unwrap().table.overflowed(b1);
        let count = |k: u64| {
            store
                .check(&RateCheck {
                    count: false,
                    ..q(k, 1, 100)
                })
                .estimate
        };
        // Four keys fill the first bucket without overflowing it.
        for &k in &keys[..4] {
            let _ = store.check(&q(k, 1, 100));
            assert!(!overflowed());
        }
        // A slot carrying the fifth key's tag, planted in that key's second bucket: while the
        // first bucket never overflowed, a check of the fifth key must not look there.
        let (word, _) = placed(keys[4]);
        let tag = tag_of(word);
        let b2 = usize::try_from(alternate(b1 as u64, tag, store.buckets)).unwrap();
        assert_ne!(b2, b1);
        plant(shard, b2, 3, tag, 50);
        assert_eq!(
            count(keys[4]),
            0,
            "looked up a new key in its second bucket"
        );
        assert_eq!(
            store.check(&q(keys[4], 1, 100)).estimate,
            1,
            "looked up a new key in its second bucket"
        );
        // The fifth key went to its second bucket (the first is full) and marked the first.
        assert!(overflowed());
        let _ = store.check(&q(keys[4], 1, 100));
        assert_eq!(count(keys[4]), 2, "the key in its second bucket is found");
        for &k in &keys[..4] {
            assert_eq!(count(k), 1);
        }
        // The bit stays with the bucket through writes to its first slot.
        for _ in 0..3 {
            let _ = store.check(&q(keys[0], 1, 100));
        }
        assert_eq!(count(keys[0]), 4);
        shard.lock().unwrap().table.store(b1, 0, 0);
        assert!(overflowed());
        assert_eq!(
            shard.lock().unwrap().table.find(b1, 0).map(|(w, _)| w),
            Some(0)
        );
    }

    #[test]
    fn few_buckets_overflow_below_half_the_budget() {
        let budget = 1u64 << 16;
        let store = MemoryCounterStore::new(budget);
        let flagged = || -> f64 {
            let (mut set, mut all) = (0usize, 0usize);
            for Locked(s) in &store.shards {
                let g = s.lock().unwrap();
                for b in 0..usize::try_from(store.buckets).unwrap() {
                    set += usize::from(g.table.overflowed(b));
                    all += 1;
                }
            }
            set as f64 / all as f64
        };
        let mut inserted = 0u64;
        for (share, most) in [(0.25, 0.01), (0.5, 0.08), (0.75, 0.3)] {
            let upto = (budget as f64 * share) as u64;
            for i in inserted..upto {
                let _ = store.check(&q(i.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1, 1, 100));
            }
            inserted = upto;
            let f = flagged();
            eprintln!("{share}: {f:.4} of the buckets overflowed");
            assert!(
                f <= most,
                "{f} of the buckets overflowed at {share} of the budget"
            );
        }
    }

    #[test]
    fn keys_moved_by_the_cuckoo_path_keep_their_counts() {
        // As many keys as the budget (94% of the slots), so buckets overflow and keys move
        // along cuckoo paths: moved keys keep their counts.
        let budget = 20_000u64;
        let store = MemoryCounterStore::new(budget);
        let keys: Vec<u64> = (0..budget)
            .map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(17))
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
        assert!(store.capacity() >= 20_000 && store.capacity() < 24_000);
        // At 94% of the slots a three-move search can still fail now and then (then the least
        // recently active candidate is evicted, and read back as a new key).
        assert!(kept >= 19_990, "{kept} kept");
        assert!(store.key_count().unwrap() <= store.capacity());
    }

    #[test]
    fn large_tables_are_mapped() {
        let store = MemoryCounterStore::new(1 << 20);
        let Locked(shard) = &store.shards[0];
        let g = shard.lock().unwrap();
        assert!(matches!(g.table.storage, Storage::Mapped(_)));
        assert!(g.table.bytes().len() >= usize::try_from(store.buckets).unwrap() * 64);
        let small = MemoryCounterStore::new(4096);
        let Locked(shard) = &small.shards[0];
        assert!(matches!(
            shard.lock().unwrap().table.storage,
            Storage::Heap(_)
        ));
    }
}
