//! S3-FIFO, with libCacheSim's `S3FIFO` semantics (see [`S3FifoParams`]).
//!
//! Small, main and ghost objects share one table (a key is in at most one queue, so a request
//! costs one hash probe whichever queue holds it). The small queue is a ring of entries that
//! carry the key, size and hit count, so evicting from it reads the ring, not the table: an
//! object that leaves the small queue for the ghost keeps its node untouched, and the node is
//! a ghost from then on because its small-queue position is older than the ring's oldest
//! entry. The main queue's order is a [`Ring`] of keys (a node records its entry's number;
//! older entries are skipped when popped); the ghost queue is a FIFO of keys and the small
//! positions they left at.

use std::collections::VecDeque;

use super::params::{S3FifoParams, share};
use super::slots::{Ring, SlotNode, Slots, needs_compaction};
use super::{Cache, CachePolicy, Capacity};

/// Tag bit of a node in the main queue (else: the small queue or the ghost).
const IN_MAIN: u64 = 1 << 63;
/// A main node's CLOCK counter (0 to 3) sits at these bits of its tag.
const FREQ_SHIFT: u32 = 61;
const FREQ_ONE: u64 = 1 << FREQ_SHIFT;
const FREQ_MASK: u64 = 3 << FREQ_SHIFT;
/// A main node's ring entry number sits in the low 32 bits of its tag.
const MAIN_POS_MASK: u64 = 0xffff_ffff;

/// A node of the S3-FIFO table: a cached or ghost object. Its tag is either
/// `IN_MAIN | freq << FREQ_SHIFT | main entry number`, or the object's small-queue position
/// (below 2^61): in the small queue while that position is in the small ring, a ghost after.
pub(crate) trait S3Node: SlotNode {
    /// A node for `key` (of `size`) with `tag`.
    fn new(key: u64, tag: u64, size: u32) -> Self;
    fn tag(&self) -> u64;
    fn set_tag(&mut self, tag: u64);
    /// Size charged to the cache.
    fn size(&self) -> u32;
}

/// Object mode's node: every object has size 1, so none is stored. 16 bytes, four to a cache
/// line.
#[derive(Debug, Clone, Copy)]
#[repr(C, align(16))]
pub(crate) struct ObjectNode {
    key: u64,
    tag: u64,
}

/// Byte mode's node: with its size. 24 bytes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ByteNode {
    key: u64,
    tag: u64,
    size: u32,
}

impl SlotNode for ObjectNode {
    const EMPTY: Self = Self { key: 0, tag: 0 };
    #[inline]
    fn key(&self) -> u64 {
        self.key
    }
}

impl SlotNode for ByteNode {
    const EMPTY: Self = Self {
        key: 0,
        tag: 0,
        size: 0,
    };
    #[inline]
    fn key(&self) -> u64 {
        self.key
    }
}

impl S3Node for ObjectNode {
    #[inline]
    fn new(key: u64, tag: u64, _size: u32) -> Self {
        Self { key, tag }
    }
    #[inline]
    fn tag(&self) -> u64 {
        self.tag
    }
    #[inline]
    fn set_tag(&mut self, tag: u64) {
        self.tag = tag;
    }
    #[inline]
    fn size(&self) -> u32 {
        1
    }
}

impl S3Node for ByteNode {
    #[inline]
    fn new(key: u64, tag: u64, size: u32) -> Self {
        Self { key, tag, size }
    }
    #[inline]
    fn tag(&self) -> u64 {
        self.tag
    }
    #[inline]
    fn set_tag(&mut self, tag: u64) {
        self.tag = tag;
    }
    #[inline]
    fn size(&self) -> u32 {
        self.size
    }
}

/// An entry of the small queue: the object, its charged size and its hits while in small.
#[derive(Debug, Clone, Copy)]
struct SmallEntry {
    key: u64,
    size: u32,
    freq: u16,
    /// Removed by [`Cache::remove`]: skipped when popped.
    dead: bool,
}

/// The small queue: entries in insertion order, numbered by position (never reused).
#[derive(Debug, Default)]
struct SmallRing {
    entries: VecDeque<SmallEntry>,
    /// Entries ever pushed: the next entry's position.
    pushed: u64,
}

impl SmallRing {
    /// Position of the oldest entry (every node tagged below it is a ghost).
    #[inline]
    fn start(&self) -> u64 {
        self.pushed - self.entries.len() as u64
    }

    #[inline]
    fn push(&mut self, key: u64, size: u32) -> u64 {
        self.entries.push_back(SmallEntry {
            key,
            size,
            freq: 0,
            dead: false,
        });
        self.pushed += 1;
        self.pushed - 1
    }

    #[inline]
    fn pop(&mut self) -> Option<(u64, SmallEntry)> {
        let pos = self.start();
        self.entries.pop_front().map(|e| (pos, e))
    }

    #[inline]
    fn get_mut(&mut self, pos: u64) -> Option<&mut SmallEntry> {
        let at = pos.checked_sub(self.start())?;
        self.entries.get_mut(usize::try_from(at).ok()?)
    }
}

/// A queue's live objects: count and charged bytes.
#[derive(Debug, Default, Clone, Copy)]
struct Totals {
    len: usize,
    bytes: u64,
}

impl Totals {
    #[inline]
    fn add(&mut self, size: u32) {
        self.len += 1;
        self.bytes += u64::from(size);
    }

    #[inline]
    fn sub(&mut self, size: u32) {
        self.len = self.len.saturating_sub(1);
        self.bytes = self.bytes.saturating_sub(u64::from(size));
    }
}

/// S3-FIFO over nodes `N` ([`ObjectNode`] in object mode, [`ByteNode`] in byte mode).
#[derive(Debug)]
pub(crate) struct S3Fifo<N> {
    /// Small, main and ghost objects (a key is in at most one queue).
    slots: Slots<N>,
    small: SmallRing,
    main: Ring,
    /// `(key, small position)` of each ghost, oldest first (stale entries included).
    ghost: VecDeque<(u64, u64)>,
    small_live: Totals,
    main_live: Totals,
    ghost_live: Totals,
    capacity: Capacity,
    small_cap: u64,
    main_cap: u64,
    /// 0: no ghost queue.
    ghost_cap: u64,
    params: S3FifoParams,
    /// Set by the first eviction; before it, new objects go to main once small is full.
    has_evicted: bool,
}

impl<N: S3Node> S3Fifo<N> {
    pub(crate) fn new(capacity: Capacity, params: S3FifoParams) -> Self {
        let small_cap = share(capacity.amount, params.small_size_ratio);
        Self {
            // Cached objects plus ghosts.
            slots: Slots::with_capacity(
                capacity
                    .objects_hint()
                    .saturating_add(share(capacity.objects_hint(), params.ghost_size_ratio)),
            ),
            small: SmallRing::default(),
            main: Ring::default(),
            ghost: VecDeque::new(),
            small_live: Totals::default(),
            main_live: Totals::default(),
            ghost_live: Totals::default(),
            capacity,
            small_cap,
            main_cap: capacity.amount.saturating_sub(small_cap),
            ghost_cap: share(capacity.amount, params.ghost_size_ratio),
            params,
            has_evicted: false,
        }
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.slots.heap_bytes()
            + self.small.entries.capacity() * size_of::<SmallEntry>()
            + self.main.heap_bytes()
            + self.ghost.capacity() * 16
    }

    /// Appends `key` (of `size`) to main with CLOCK counter `freq`; returns the node's tag.
    #[inline]
    fn push_main(&mut self, key: u64, size: u32, freq: u64) -> u64 {
        self.main_live.add(size);
        IN_MAIN | (freq << FREQ_SHIFT) | u64::from(self.main.push(key))
    }

    /// Pops main's oldest live entry (skipping stale ones): the slot of its node.
    fn pop_main(&mut self) -> Option<usize> {
        while let Some((key, pos)) = self.main.pop() {
            // The loop may pop the next entry too: start loading its node now.
            if let Some(next) = self.main.front() {
                self.slots.prefetch(next);
            }
            if let Some(i) = self.slots.find(key)
                && let Some(n) = self.slots.get(i)
                && n.tag() & IN_MAIN != 0
                && n.tag() & MAIN_POS_MASK == u64::from(pos)
            {
                return Some(i);
            }
        }
        None
    }

    #[inline]
    fn after_push_main(&mut self) {
        if needs_compaction(self.main.len(), self.main_live.len) {
            self.compact_main();
        }
    }

    /// Drops main's stale ring entries (renumbering the live ones, in order).
    #[cold]
    fn compact_main(&mut self) {
        for (key, pos) in self.main.drain() {
            if let Some((_, n)) = self.slots.find_mut(key)
                && n.tag() & IN_MAIN != 0
                && n.tag() & MAIN_POS_MASK == u64::from(pos)
            {
                let pos = self.main.push(key);
                n.set_tag((n.tag() & !MAIN_POS_MASK) | u64::from(pos));
            }
        }
    }

    /// Drops the small ring's dead entries (renumbering the live ones, in order; ghosts keep
    /// their older positions, so they stay ghosts).
    #[cold]
    fn compact_small(&mut self) {
        let entries = std::mem::take(&mut self.small.entries);
        for e in entries {
            if e.dead {
                continue;
            }
            let pos = self.small.pushed;
            self.small.entries.push_back(e);
            self.small.pushed += 1;
            if let Some((_, n)) = self.slots.find_mut(e.key) {
                n.set_tag(pos);
            }
        }
    }

    /// Drops the ghost FIFO's stale entries (ghosts since requested again).
    #[cold]
    fn compact_ghost(&mut self) {
        let slots = &self.slots;
        self.ghost.retain(|&(key, pos)| {
            slots
                .find(key)
                .and_then(|i| slots.get(i))
                .is_some_and(|n| n.tag() == pos)
        });
    }

    /// Evicts one object (moving others between queues on the way). False if nothing is cached.
    fn evict_one(&mut self) -> bool {
        self.has_evicted = true;
        let evicted = if self.main_live.bytes > self.main_cap || self.small_live.bytes == 0 {
            self.evict_main()
        } else {
            self.evict_small();
            true
        };
        self.warm_fronts();
        evicted
    }

    /// Prefetches the table lines of the nodes the next eviction will read first (main's and
    /// the ghost's oldest entries, and small's when it will move to main), so that their cache
    /// misses overlap the requests before it instead of stalling it one after another.
    #[inline]
    fn warm_fronts(&self) {
        if let Some(key) = self.main.front() {
            self.slots.prefetch(key);
        }
        if let Some(&(key, _)) = self.ghost.front() {
            self.slots.prefetch(key);
        }
        if let Some(e) = self.small.entries.front()
            && e.freq >= self.params.move_to_main_threshold
        {
            self.slots.prefetch(e.key);
        }
    }

    fn evict_small(&mut self) {
        while self.small_live.bytes > 0 {
            let Some((pos, e)) = self.small.pop() else {
                return;
            };
            if e.dead {
                continue;
            }
            self.small_live.sub(e.size);
            if e.freq >= self.params.move_to_main_threshold {
                let tag = self.push_main(e.key, e.size, 0);
                if let Some((_, node)) = self.slots.find_mut(e.key) {
                    node.set_tag(tag);
                }
                self.after_push_main();
            } else {
                self.remember_in_ghost(e.key, pos, e.size);
                return;
            }
        }
    }

    /// `key` (of `size`) just left the small queue from position `pos`: its node stays as a
    /// ghost, or is removed when there is no room for ghosts.
    fn remember_in_ghost(&mut self, key: u64, pos: u64, size: u32) {
        if self.ghost_cap == 0 || u64::from(size) > self.ghost_cap {
            if let Some(i) = self.slots.find(key) {
                self.slots.remove(i);
            }
            return;
        }
        self.ghost.push_back((key, pos));
        self.ghost_live.add(size);
        if needs_compaction(self.ghost.len(), self.ghost_live.len) {
            self.compact_ghost();
        }
        // The new ghost is the newest entry and fits on its own, so older ones go first.
        while self.ghost_live.bytes > self.ghost_cap {
            if !self.pop_ghost() {
                break;
            }
        }
    }

    /// Forgets the oldest ghost (skipping stale entries); false if there is none.
    fn pop_ghost(&mut self) -> bool {
        while let Some((key, pos)) = self.ghost.pop_front() {
            if let Some(&(next, _)) = self.ghost.front() {
                self.slots.prefetch(next);
            }
            if let Some(i) = self.slots.find(key)
                && let Some(n) = self.slots.get(i)
                && n.tag() == pos
            {
                self.ghost_live.sub(n.size());
                self.slots.remove(i);
                return true;
            }
        }
        false
    }

    fn evict_main(&mut self) -> bool {
        while self.main_live.bytes > 0 {
            let Some(i) = self.pop_main() else {
                return false;
            };
            let Some(node) = self.slots.get_mut(i) else {
                return false;
            };
            let tag = node.tag();
            let size = node.size();
            if tag & FREQ_MASK != 0 {
                // Reinsert at the back: CLOCK with a 2-bit counter.
                let key = node.key();
                self.main_live.sub(size);
                let tag = self.push_main(key, size, ((tag & FREQ_MASK) >> FREQ_SHIFT) - 1);
                if let Some(node) = self.slots.get_mut(i) {
                    node.set_tag(tag);
                }
                self.after_push_main();
            } else {
                self.main_live.sub(size);
                self.slots.remove(i);
                return true;
            }
        }
        false
    }
}

impl<N: S3Node> Cache for S3Fifo<N> {
    #[inline]
    fn prefetch(&self, key: u64) {
        self.slots.prefetch(key);
    }

    #[inline]
    fn access(&mut self, key: u64, size: u32) -> bool {
        let mut hit_on_ghost = false;
        if let Some((i, node)) = self.slots.find_mut(key) {
            let tag = node.tag();
            if tag & IN_MAIN != 0 {
                if tag & FREQ_MASK != FREQ_MASK {
                    node.set_tag(tag + FREQ_ONE);
                }
                return true;
            }
            if tag >= self.small.start() {
                if let Some(e) = self.small.get_mut(tag) {
                    e.freq = e.freq.saturating_add(1);
                }
                return true;
            }
            // A ghost: it goes to main below.
            self.ghost_live.sub(node.size());
            self.slots.remove(i);
            hit_on_ghost = true;
        }
        let size = self.capacity.charge(size);
        let size64 = u64::from(size);
        if size64 > self.small_cap || size64 > self.capacity.amount {
            return false;
        }
        while self.small_live.bytes + self.main_live.bytes + size64 > self.capacity.amount {
            if !self.evict_one() {
                break;
            }
        }
        let to_main = if hit_on_ghost {
            true
        } else if size64 >= self.small_cap {
            // libCacheSim refuses an object exactly the small queue's size (after evicting).
            return false;
        } else {
            !self.has_evicted && self.small_live.bytes >= self.small_cap
        };
        if to_main {
            let tag = self.push_main(key, size, 0);
            self.slots.insert(N::new(key, tag, size));
            self.after_push_main();
        } else {
            let pos = self.small.push(key, size);
            self.small_live.add(size);
            self.slots.insert(N::new(key, pos, size));
            if needs_compaction(self.small.entries.len(), self.small_live.len) {
                self.compact_small();
            }
        }
        false
    }

    fn contains(&self, key: u64) -> bool {
        self.slots
            .find(key)
            .and_then(|i| self.slots.get(i))
            .is_some_and(|n| n.tag() & IN_MAIN != 0 || n.tag() >= self.small.start())
    }

    fn remove(&mut self, key: u64) -> bool {
        let Some(i) = self.slots.find(key) else {
            return false;
        };
        let Some(&n) = self.slots.get(i) else {
            return false;
        };
        let tag = n.tag();
        if tag & IN_MAIN != 0 {
            // Its main ring entry is now stale.
            self.main_live.sub(n.size());
        } else if tag >= self.small.start() {
            if let Some(e) = self.small.get_mut(tag) {
                e.dead = true;
            }
            self.small_live.sub(n.size());
        } else {
            return false;
        }
        self.slots.remove(i);
        true
    }

    fn len(&self) -> usize {
        self.small_live.len + self.main_live.len
    }

    fn used(&self) -> u64 {
        self.small_live.bytes + self.main_live.bytes
    }

    fn capacity(&self) -> Capacity {
        self.capacity
    }

    fn policy(&self) -> CachePolicy {
        CachePolicy::S3Fifo(self.params)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: u8 = 0;
    const MAIN: u8 = 1;
    const GHOST: u8 = 2;

    /// libCacheSim's S3-FIFO written plainly: three lists (front = oldest) searched linearly.
    struct Reference {
        /// `(key, size, freq)` per queue.
        queues: [VecDeque<(u64, u32, u16)>; 3],
        capacity: Capacity,
        small_cap: u64,
        main_cap: u64,
        ghost_cap: u64,
        threshold: u16,
        has_evicted: bool,
    }

    impl Reference {
        fn new(capacity: Capacity, p: S3FifoParams) -> Self {
            let small_cap = share(capacity.amount, p.small_size_ratio);
            Self {
                queues: Default::default(),
                capacity,
                small_cap,
                main_cap: capacity.amount - small_cap,
                ghost_cap: share(capacity.amount, p.ghost_size_ratio),
                threshold: p.move_to_main_threshold,
                has_evicted: false,
            }
        }

        fn bytes(&self, q: u8) -> u64 {
            self.queues[usize::from(q)]
                .iter()
                .map(|&(_, s, _)| u64::from(s))
                .sum()
        }

        fn find(&self, key: u64) -> Option<(u8, usize)> {
            (0..3u8).find_map(|q| {
                self.queues[usize::from(q)]
                    .iter()
                    .position(|&(k, _, _)| k == key)
                    .map(|at| (q, at))
            })
        }

        fn evict_one(&mut self) -> bool {
            self.has_evicted = true;
            if self.bytes(MAIN) > self.main_cap || self.bytes(SMALL) == 0 {
                while let Some((k, s, f)) = self.queues[1].pop_front() {
                    if f >= 1 {
                        self.queues[1].push_back((k, s, f.min(3) - 1));
                    } else {
                        return true;
                    }
                }
                false
            } else {
                while let Some((k, s, f)) = self.queues[0].pop_front() {
                    if f >= self.threshold {
                        self.queues[1].push_back((k, s, 0));
                    } else {
                        if self.ghost_cap > 0 && u64::from(s) <= self.ghost_cap {
                            self.queues[2].push_back((k, s, 0));
                            while self.bytes(GHOST) > self.ghost_cap {
                                self.queues[2].pop_front();
                            }
                        }
                        break;
                    }
                }
                true
            }
        }

        fn access(&mut self, key: u64, size: u32) -> bool {
            let mut ghost = false;
            if let Some((q, at)) = self.find(key) {
                if q != GHOST {
                    let e = &mut self.queues[usize::from(q)][at];
                    e.2 = e.2.saturating_add(1);
                    return true;
                }
                self.queues[2].remove(at);
                ghost = true;
            }
            let size = self.capacity.charge(size);
            let s = u64::from(size);
            if s > self.small_cap || s > self.capacity.amount {
                return false;
            }
            while self.bytes(SMALL) + self.bytes(MAIN) + s > self.capacity.amount {
                if !self.evict_one() {
                    break;
                }
            }
            let to_main = if ghost {
                true
            } else if s >= self.small_cap {
                return false;
            } else {
                !self.has_evicted && self.bytes(SMALL) >= self.small_cap
            };
            self.queues[usize::from(if to_main { MAIN } else { SMALL })].push_back((key, size, 0));
            false
        }

        fn remove(&mut self, key: u64) -> bool {
            match self.find(key) {
                Some((q, at)) if q != GHOST => self.queues[usize::from(q)].remove(at).is_some(),
                _ => false,
            }
        }
    }

    /// Every answer, length and total as the plain reference's, through ghost hits,
    /// removals (which leave stale ring entries) and ring compactions, in both modes and
    /// with other parameters.
    #[test]
    fn matches_a_plain_reference() {
        let params = [
            S3FifoParams::default(),
            S3FifoParams {
                small_size_ratio: 0.3,
                ghost_size_ratio: 0.5,
                move_to_main_threshold: 1,
            },
            S3FifoParams {
                small_size_ratio: 0.2,
                ghost_size_ratio: 0.0,
                move_to_main_threshold: 3,
            },
        ];
        for p in params {
            check_against_reference::<ObjectNode>(Capacity::objects(60), p);
            check_against_reference::<ByteNode>(Capacity::objects(60), p);
            check_against_reference::<ByteNode>(Capacity::bytes(15_000), p);
        }
    }

    fn check_against_reference<N: S3Node>(capacity: Capacity, p: S3FifoParams) {
        let mut s3 = S3Fifo::<N>::new(capacity, p);
        let mut reference = Reference::new(capacity, p);
        let mut x = 3u64;
        let mut longest_ring = 0;
        for step in 0..40_000u64 {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let r = x >> 33;
            // Skewed keys over 0..300; in the second half, many removals followed by
            // re-requests (stale entries pile up without evictions).
            let key = (r % 300) * (r % 300) / 300;
            let size = 40 + (key % 5) as u32 * 70;
            if step >= 20_000 && r.is_multiple_of(3) {
                assert_eq!(s3.remove(key), reference.remove(key), "step {step}");
            } else {
                assert_eq!(
                    s3.access(key, size),
                    reference.access(key, size),
                    "{p:?} {capacity} step {step}"
                );
            }
            assert_eq!(
                s3.len(),
                reference.queues[0].len() + reference.queues[1].len()
            );
            assert_eq!(s3.used(), reference.bytes(SMALL) + reference.bytes(MAIN));
            for (q, live) in [
                (SMALL, s3.small_live),
                (MAIN, s3.main_live),
                (GHOST, s3.ghost_live),
            ] {
                assert_eq!(live.len, reference.queues[usize::from(q)].len());
                assert_eq!(live.bytes, reference.bytes(q));
            }
            longest_ring = longest_ring
                .max(s3.small.entries.len())
                .max(s3.main.len())
                .max(s3.ghost.len());
        }
        assert!(longest_ring <= 8 * 300 + 4096);
    }

    /// Removing and re-requesting cached keys without evictions leaves stale entries only;
    /// compaction keeps the ring bounded and the order intact.
    #[test]
    fn stale_entries_are_compacted() {
        let mut s3 = S3Fifo::<ObjectNode>::new(Capacity::objects(1_000), S3FifoParams::default());
        let mut reference = Reference::new(Capacity::objects(1_000), S3FifoParams::default());
        for round in 0..200u64 {
            for key in 0..50 {
                assert_eq!(s3.access(key, 1), reference.access(key, 1), "round {round}");
                assert_eq!(s3.remove(key), reference.remove(key));
            }
        }
        assert!(s3.small.entries.len() + s3.main.len() <= 2 * (8 * 50 + 4096));
        for key in 0..3_000 {
            assert_eq!(s3.access(key, 1), reference.access(key, 1), "key {key}");
        }
    }
}
