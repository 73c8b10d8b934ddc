//! S3-FIFO, with libCacheSim's `S3FIFO` semantics (see [`S3FifoParams`]).
//!
//! Small, main and ghost objects share one table (a key is in at most one queue, so a request
//! costs one hash probe whichever queue holds it); each queue's order is a [`Ring`] of keys, so
//! moving an object between queues or to the back of main writes only that node and the ring.

use super::params::S3FifoParams;
use super::slots::{Ring, SlotNode, Slots, needs_compaction};
use super::{Cache, CachePolicy, Capacity};

const SMALL: u8 = 0;
const MAIN: u8 = 1;
const GHOST: u8 = 2;

/// A node of the S3-FIFO table: a cached or ghost object.
pub(crate) trait S3Node: SlotNode {
    /// A node for `key` (of `size`) on `queue` at ring entry `pos`, never hit.
    fn new(key: u64, pos: u32, size: u32, queue: u8) -> Self;
    /// Number of the node's entry in its queue's ring.
    fn pos(&self) -> u32;
    fn set_pos(&mut self, pos: u32);
    /// Size charged to the cache.
    fn size(&self) -> u32;
    /// Hits while cached (small), or CLOCK's counter (main).
    fn freq(&self) -> u16;
    fn set_freq(&mut self, freq: u16);
    /// `SMALL`, `MAIN` or `GHOST`.
    fn queue(&self) -> u8;
    fn set_queue(&mut self, queue: u8);
}

/// Object mode's node: every object has size 1, so none is stored. 16 bytes, four to a cache
/// line.
#[derive(Debug, Clone, Copy)]
#[repr(C, align(16))]
pub(crate) struct ObjectNode {
    key: u64,
    pos: u32,
    freq: u16,
    queue: u8,
}

/// Byte mode's node: with its size. 24 bytes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ByteNode {
    key: u64,
    pos: u32,
    size: u32,
    freq: u16,
    queue: u8,
}

impl SlotNode for ObjectNode {
    const EMPTY: Self = Self {
        key: 0,
        pos: 0,
        freq: 0,
        queue: 0,
    };
    #[inline]
    fn key(&self) -> u64 {
        self.key
    }
}

impl SlotNode for ByteNode {
    const EMPTY: Self = Self {
        key: 0,
        pos: 0,
        size: 0,
        freq: 0,
        queue: 0,
    };
    #[inline]
    fn key(&self) -> u64 {
        self.key
    }
}

macro_rules! s3_node_fields {
    () => {
        #[inline]
        fn pos(&self) -> u32 {
            self.pos
        }
        #[inline]
        fn set_pos(&mut self, pos: u32) {
            self.pos = pos;
        }
        #[inline]
        fn freq(&self) -> u16 {
            self.freq
        }
        #[inline]
        fn set_freq(&mut self, freq: u16) {
            self.freq = freq;
        }
        #[inline]
        fn queue(&self) -> u8 {
            self.queue
        }
        #[inline]
        fn set_queue(&mut self, queue: u8) {
            self.queue = queue;
        }
    };
}

impl S3Node for ObjectNode {
    #[inline]
    fn new(key: u64, pos: u32, _size: u32, queue: u8) -> Self {
        Self {
            key,
            pos,
            freq: 0,
            queue,
        }
    }
    #[inline]
    fn size(&self) -> u32 {
        1
    }
    s3_node_fields!();
}

impl S3Node for ByteNode {
    #[inline]
    fn new(key: u64, pos: u32, size: u32, queue: u8) -> Self {
        Self {
            key,
            pos,
            size,
            freq: 0,
            queue,
        }
    }
    #[inline]
    fn size(&self) -> u32 {
        self.size
    }
    s3_node_fields!();
}

/// One FIFO queue: its ring (stale entries included) and its live nodes' count and bytes.
#[derive(Debug, Default)]
struct Queue {
    ring: Ring,
    len: usize,
    bytes: u64,
}

/// S3-FIFO over nodes `N` ([`ObjectNode`] in object mode, [`ByteNode`] in byte mode).
#[derive(Debug)]
pub(crate) struct S3Fifo<N> {
    /// Small, main and ghost objects (a key is in at most one queue).
    slots: Slots<N>,
    small: Queue,
    main: Queue,
    ghost: Queue,
    capacity: Capacity,
    small_cap: u64,
    main_cap: u64,
    /// 0: no ghost queue.
    ghost_cap: u64,
    params: S3FifoParams,
    /// Set by the first eviction; before it, new objects go to main once small is full.
    has_evicted: bool,
}

/// `floor(amount * ratio)`, as libCacheSim computes its queue sizes.
#[expect(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_precision_loss,
    reason = "a ratio in [0, 1] of a capacity: the product is non-negative and at most the capacity"
)]
fn share(amount: u64, ratio: f64) -> u64 {
    (amount as f64 * ratio) as u64
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
            small: Queue::default(),
            main: Queue::default(),
            ghost: Queue::default(),
            capacity,
            small_cap,
            main_cap: capacity.amount.saturating_sub(small_cap),
            ghost_cap: share(capacity.amount, params.ghost_size_ratio),
            params,
            has_evicted: false,
        }
    }

    #[inline]
    pub(crate) fn touch(&self, key: u64) -> u64 {
        self.slots.touch(key)
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.slots.heap_bytes()
            + self.small.ring.heap_bytes()
            + self.main.ring.heap_bytes()
            + self.ghost.ring.heap_bytes()
    }

    #[inline]
    fn queue(&self, q: u8) -> &Queue {
        match q {
            SMALL => &self.small,
            MAIN => &self.main,
            _ => &self.ghost,
        }
    }

    #[inline]
    fn queue_mut(&mut self, q: u8) -> &mut Queue {
        match q {
            SMALL => &mut self.small,
            MAIN => &mut self.main,
            _ => &mut self.ghost,
        }
    }

    /// Appends `key` (of `size`) to queue `q`; returns its entry's number.
    #[inline]
    fn enqueue(&mut self, q: u8, key: u64, size: u32) -> u32 {
        let queue = self.queue_mut(q);
        queue.len += 1;
        queue.bytes += u64::from(size);
        queue.ring.push(key)
    }

    /// Takes the node at slot `i` off its queue's totals (its ring entry becomes stale).
    #[inline]
    fn leave(&mut self, i: usize) {
        let Some(&n) = self.slots.get(i) else {
            return;
        };
        let queue = self.queue_mut(n.queue());
        queue.len = queue.len.saturating_sub(1);
        queue.bytes = queue.bytes.saturating_sub(u64::from(n.size()));
    }

    /// Moves the node at slot `i` to the back of queue `q` (its own queue too).
    fn requeue(&mut self, i: usize, q: u8) {
        self.leave(i);
        let Some(&n) = self.slots.get(i) else {
            return;
        };
        let pos = self.enqueue(q, n.key(), n.size());
        if let Some(node) = self.slots.get_mut(i) {
            node.set_queue(q);
            node.set_pos(pos);
        }
        self.after_push(q);
    }

    /// Removes the node at slot `i` from its queue and the table.
    fn drop_node(&mut self, i: usize) {
        self.leave(i);
        self.slots.remove(i);
    }

    /// Pops queue `q`'s oldest live entry (skipping stale ones): the slot of its node, which
    /// the caller then moves to a queue or drops.
    fn pop_live(&mut self, q: u8) -> Option<usize> {
        while let Some((key, pos)) = self.queue_mut(q).ring.pop() {
            if let Some(i) = self.slots.find(key)
                && let Some(n) = self.slots.get(i)
                && n.queue() == q
                && n.pos() == pos
            {
                return Some(i);
            }
        }
        None
    }

    #[inline]
    fn after_push(&mut self, q: u8) {
        let queue = self.queue(q);
        if needs_compaction(queue.ring.len(), queue.len) {
            self.compact(q);
        }
    }

    /// Drops queue `q`'s stale ring entries (renumbering the live ones, in order).
    #[cold]
    fn compact(&mut self, q: u8) {
        for (key, pos) in self.queue_mut(q).ring.drain() {
            if let Some(i) = self.slots.find(key)
                && let Some(&n) = self.slots.get(i)
                && n.queue() == q
                && n.pos() == pos
            {
                let pos = self.queue_mut(q).ring.push(key);
                if let Some(n) = self.slots.get_mut(i) {
                    n.set_pos(pos);
                }
            }
        }
    }

    /// Evicts one object (moving others between queues on the way). False if nothing is cached.
    fn evict_one(&mut self) -> bool {
        self.has_evicted = true;
        if self.queue(MAIN).bytes > self.main_cap || self.queue(SMALL).bytes == 0 {
            self.evict_main()
        } else {
            self.evict_small();
            true
        }
    }

    fn evict_small(&mut self) {
        while self.queue(SMALL).bytes > 0 {
            let Some(i) = self.pop_live(SMALL) else {
                return;
            };
            let Some(node) = self.slots.get_mut(i) else {
                return;
            };
            if node.freq() >= self.params.move_to_main_threshold {
                node.set_freq(0);
                self.requeue(i, MAIN);
            } else {
                let size = node.size();
                self.remember_in_ghost(i, size);
                return;
            }
        }
    }

    /// Turns small-queue slot `i` (just popped) into a ghost entry, or removes it.
    fn remember_in_ghost(&mut self, i: usize, size: u32) {
        let size = u64::from(size);
        if self.ghost_cap == 0 || size > self.ghost_cap {
            self.drop_node(i);
            return;
        }
        if let Some(node) = self.slots.get_mut(i) {
            node.set_freq(0);
        }
        self.requeue(i, GHOST);
        // The new ghost is the newest entry and fits on its own, so older ones go first.
        while self.queue(GHOST).bytes > self.ghost_cap {
            let Some(old) = self.pop_live(GHOST) else {
                break;
            };
            self.drop_node(old);
        }
    }

    fn evict_main(&mut self) -> bool {
        while self.queue(MAIN).bytes > 0 {
            let Some(i) = self.pop_live(MAIN) else {
                return false;
            };
            let Some(node) = self.slots.get_mut(i) else {
                return false;
            };
            if node.freq() >= 1 {
                // Reinsert at the back: CLOCK with a 2-bit counter.
                node.set_freq(node.freq().min(3) - 1);
                self.requeue(i, MAIN);
            } else {
                self.drop_node(i);
                return true;
            }
        }
        false
    }
}

impl<N: S3Node> Cache for S3Fifo<N> {
    #[inline]
    fn access(&mut self, key: u64, size: u32) -> bool {
        let mut hit_on_ghost = false;
        if let Some((i, node)) = self.slots.find_mut(key) {
            if node.queue() != GHOST {
                node.set_freq(node.freq().saturating_add(1));
                return true;
            }
            self.drop_node(i);
            hit_on_ghost = true;
        }
        let size = self.capacity.charge(size);
        let size64 = u64::from(size);
        if size64 > self.small_cap || size64 > self.capacity.amount {
            return false;
        }
        while self.small.bytes + self.main.bytes + size64 > self.capacity.amount {
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
            !self.has_evicted && self.small.bytes >= self.small_cap
        };
        let queue = if to_main { MAIN } else { SMALL };
        let pos = self.enqueue(queue, key, size);
        self.slots.insert(N::new(key, pos, size, queue));
        self.after_push(queue);
        false
    }

    fn contains(&self, key: u64) -> bool {
        self.slots
            .find(key)
            .and_then(|i| self.slots.get(i))
            .is_some_and(|n| n.queue() != GHOST)
    }

    fn remove(&mut self, key: u64) -> bool {
        let Some(i) = self.slots.find(key) else {
            return false;
        };
        if self.slots.get(i).is_none_or(|n| n.queue() == GHOST) {
            return false;
        }
        self.drop_node(i);
        true
    }

    fn len(&self) -> usize {
        self.small.len + self.main.len
    }

    fn used(&self) -> u64 {
        self.small.bytes + self.main.bytes
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
    use std::collections::VecDeque;

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
            for q in [SMALL, MAIN, GHOST] {
                assert_eq!(s3.queue(q).len, reference.queues[usize::from(q)].len());
                longest_ring = longest_ring.max(s3.queue(q).ring.len());
            }
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
        assert!(s3.small.ring.len() + s3.main.ring.len() <= 2 * (8 * 50 + 4096));
        for key in 0..3_000 {
            assert_eq!(s3.access(key, 1), reference.access(key, 1), "key {key}");
        }
    }
}
