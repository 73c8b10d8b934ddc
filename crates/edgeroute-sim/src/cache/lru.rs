//! LRU over a [`Ring`]: exact least-recently-used order without a linked list.
//!
//! Every access (hit or insertion) pushes the key onto the ring and records the entry's
//! number in the node; an older entry of the same key is then stale. Eviction pops the ring's
//! oldest entries, skipping stale ones, until it reaches a node whose recorded number is that
//! entry's: the object whose last access is the oldest, exactly LRU's victim. A hit so touches
//! one node (no neighbours to relink) and appends 8 bytes to the ring.

use super::slots::{Ring, SlotNode, Slots, needs_compaction};
use super::{Cache, CachePolicy, Capacity};

/// One cached object: 16 bytes, four to a cache line.
#[derive(Debug, Clone, Copy)]
#[repr(C, align(16))]
pub(crate) struct Node {
    key: u64,
    /// Number of the ring entry of the last access.
    pos: u32,
    /// Size charged to the cache (1 in object mode).
    size: u32,
}

impl SlotNode for Node {
    const EMPTY: Self = Self {
        key: 0,
        pos: 0,
        size: 0,
    };
    #[inline]
    fn key(&self) -> u64 {
        self.key
    }
}

/// Least recently used.
#[derive(Debug)]
pub(crate) struct Lru {
    slots: Slots<Node>,
    /// Accesses, oldest first (stale entries included).
    order: Ring,
    capacity: Capacity,
    used: u64,
}

impl Lru {
    pub(crate) fn new(capacity: Capacity) -> Self {
        Self {
            slots: Slots::with_capacity(capacity.objects_hint()),
            order: Ring::default(),
            capacity,
            used: 0,
        }
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.slots.heap_bytes() + self.order.heap_bytes()
    }

    /// Evicts the least recently used object; false if nothing is cached.
    fn evict_one(&mut self) -> bool {
        while let Some((key, pos)) = self.order.pop() {
            if let Some(i) = self.slots.find(key)
                && let Some(n) = self.slots.get(i)
                && n.pos == pos
            {
                self.used = self.used.saturating_sub(u64::from(n.size));
                self.slots.remove(i);
                return true;
            }
        }
        false
    }

    #[inline]
    fn after_push(&mut self) {
        if needs_compaction(self.order.len(), self.slots.len()) {
            self.compact();
        }
    }

    /// Drops the ring's stale entries (renumbering the live ones, in order).
    #[cold]
    fn compact(&mut self) {
        for (key, pos) in self.order.drain() {
            if let Some((_, n)) = self.slots.find_mut(key)
                && n.pos == pos
            {
                n.pos = self.order.push(key);
            }
        }
    }
}

impl Cache for Lru {
    #[inline]
    fn prefetch(&self, key: u64) {
        self.slots.prefetch(key);
    }

    #[inline]
    fn access(&mut self, key: u64, size: u32) -> bool {
        if let Some((_, node)) = self.slots.find_mut(key) {
            node.pos = self.order.push(key);
            self.after_push();
            return true;
        }
        let size = self.capacity.charge(size);
        let cap = self.capacity.amount;
        if u64::from(size) > cap {
            return false;
        }
        while self.used + u64::from(size) > cap {
            if !self.evict_one() {
                break;
            }
        }
        let pos = self.order.push(key);
        self.slots.insert(Node { key, pos, size });
        self.used += u64::from(size);
        self.after_push();
        false
    }

    fn contains(&self, key: u64) -> bool {
        self.slots.find(key).is_some()
    }

    fn remove(&mut self, key: u64) -> bool {
        let Some(i) = self.slots.find(key) else {
            return false;
        };
        if let Some(n) = self.slots.get(i) {
            self.used = self.used.saturating_sub(u64::from(n.size));
        }
        self.slots.remove(i);
        true
    }

    fn len(&self) -> usize {
        self.slots.len()
    }

    fn used(&self) -> u64 {
        self.used
    }

    fn capacity(&self) -> Capacity {
        self.capacity
    }

    fn policy(&self) -> CachePolicy {
        CachePolicy::Lru
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    /// The textbook LRU: a list, most recent at the front, searched linearly.
    struct Reference {
        items: VecDeque<(u64, u32)>,
        capacity: Capacity,
    }

    impl Reference {
        fn used(&self) -> u64 {
            self.items.iter().map(|&(_, s)| u64::from(s)).sum()
        }

        fn access(&mut self, key: u64, size: u32) -> bool {
            if let Some(at) = self.items.iter().position(|&(k, _)| k == key) {
                let item = self.items.remove(at).unwrap();
                self.items.push_front(item);
                return true;
            }
            let size = self.capacity.charge(size);
            if u64::from(size) > self.capacity.amount {
                return false;
            }
            while self.used() + u64::from(size) > self.capacity.amount {
                self.items.pop_back();
            }
            self.items.push_front((key, size));
            false
        }

        fn remove(&mut self, key: u64) -> bool {
            let at = self.items.iter().position(|&(k, _)| k == key);
            at.and_then(|at| self.items.remove(at)).is_some()
        }
    }

    /// Long runs of hits (the ring fills with stale entries and is compacted, several times),
    /// removals and evictions, in both modes: every answer, length and total as the
    /// reference's.
    #[test]
    fn matches_a_reference_lru_through_compactions() {
        for capacity in [Capacity::objects(100), Capacity::bytes(20_000)] {
            let mut lru = Lru::new(capacity);
            let mut reference = Reference {
                items: VecDeque::new(),
                capacity,
            };
            let mut x = 7u64;
            for step in 0..60_000u64 {
                x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                let r = x >> 33;
                // Phases: hits only (keys 0..80), then churn over 0..400 with removals.
                let key = if (step / 10_000) % 2 == 0 {
                    r % 80
                } else {
                    r % 400
                };
                let size = 50 + (key % 7) as u32 * 60;
                if step % 10_000 >= 5_000 && r.is_multiple_of(11) {
                    assert_eq!(lru.remove(key), reference.remove(key), "step {step}");
                } else {
                    assert_eq!(
                        lru.access(key, size),
                        reference.access(key, size),
                        "step {step}"
                    );
                }
                if step == 9_999 {
                    // 10,000 accesses to 80 keys, nothing evicted: only compaction keeps the
                    // ring this short.
                    assert!(lru.order.len() <= 8 * 80 + 4096, "the ring was compacted");
                }
                assert_eq!(lru.len(), reference.items.len());
                assert_eq!(lru.used(), reference.used());
            }
        }
    }
}
