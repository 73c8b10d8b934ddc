//! SIEVE: a FIFO with a visited bit and a hand.
//!
//! New objects enter at the head unvisited; a hit marks the object visited. To evict, the hand
//! starts where it stopped last time (the tail at first) and walks towards the head, clearing
//! visited bits, until it finds an unvisited object; that object is evicted and the hand rests
//! on its neighbour towards the head, wrapping to the tail past the head. Objects never move.

use super::slab::{List, NIL, Slab};
use super::{Cache, CachePolicy, Capacity};

#[derive(Debug)]
pub(crate) struct Sieve {
    slab: Slab,
    list: List,
    /// The next slot to examine, or [`NIL`] for the tail.
    hand: u32,
    capacity: Capacity,
}

impl Sieve {
    pub(crate) fn new(capacity: Capacity) -> Self {
        Self {
            slab: Slab::new(),
            list: List::default(),
            hand: NIL,
            capacity,
        }
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.slab.heap_bytes()
    }

    fn evict_one(&mut self) -> bool {
        let mut cur = if self.hand == NIL {
            self.list.tail
        } else {
            self.hand
        };
        loop {
            let Some(entry) = self.slab.meta_mut(cur) else {
                return false;
            };
            let visited = entry.freq > 0;
            entry.freq = 0;
            let prev = self.slab.get(cur).map_or(NIL, |n| n.prev);
            if visited {
                cur = if prev == NIL { self.list.tail } else { prev };
            } else {
                self.hand = prev;
                self.list.unlink(&mut self.slab, cur);
                self.slab.release(cur);
                return true;
            }
        }
    }
}

impl Cache for Sieve {
    #[inline]
    fn access(&mut self, key: u64, size: u32) -> bool {
        if let Some(entry) = self.slab.entry_mut(key) {
            entry.freq = 1;
            return true;
        }
        let size = self.capacity.charge(size);
        let cap = self.capacity.amount;
        if u64::from(size) > cap {
            return false;
        }
        while self.list.bytes + u64::from(size) > cap {
            if !self.evict_one() {
                break;
            }
        }
        let idx = self.slab.alloc(key, size, 0);
        self.list.push_head(&mut self.slab, idx);
        false
    }

    fn contains(&self, key: u64) -> bool {
        self.slab.find(key).is_some()
    }

    fn remove(&mut self, key: u64) -> bool {
        let Some(idx) = self.slab.find(key) else {
            return false;
        };
        if self.hand == idx {
            self.hand = self.slab.get(idx).map_or(NIL, |n| n.prev);
        }
        self.list.unlink(&mut self.slab, idx);
        self.slab.release(idx);
        true
    }

    fn len(&self) -> usize {
        self.list.len
    }

    fn used(&self) -> u64 {
        self.list.bytes
    }

    fn capacity(&self) -> Capacity {
        self.capacity
    }

    fn policy(&self) -> CachePolicy {
        CachePolicy::Sieve
    }
}
