//! SIEVE: a FIFO with a visited bit and a hand.
//!
//! New objects enter at the head unvisited; a hit marks the object visited. To evict, the hand
//! starts where it stopped last time (the tail at first) and walks towards the head, clearing
//! visited bits, until it finds an unvisited object; that object is evicted and the hand rests
//! on its neighbour towards the head, wrapping to the tail past the head. Objects never move.

use super::table::{NIL, Table};
use super::{Cache, CachePolicy, Capacity};

#[derive(Debug)]
pub(crate) struct Sieve {
    /// The objects; the hand is the table's cursor: the next slot to examine, or [`NIL`] for
    /// the tail.
    table: Table,
    capacity: Capacity,
}

impl Sieve {
    pub(crate) fn new(capacity: Capacity) -> Self {
        Self {
            table: Table::with_capacity(capacity.objects_hint()),
            capacity,
        }
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.table.heap_bytes()
    }

    fn evict_one(&mut self) -> bool {
        let tail = self.table.list(0).tail;
        let mut cur = if self.table.cursor == NIL {
            tail
        } else {
            self.table.cursor
        };
        loop {
            let Some(node) = self.table.node_mut(cur) else {
                return false;
            };
            let visited = node.freq > 0;
            node.freq = 0;
            let prev = node.prev;
            if visited {
                cur = if prev == NIL { tail } else { prev };
            } else {
                // Set before the removal, which keeps the cursor on its node if that moves.
                self.table.cursor = prev;
                self.table.remove(cur);
                return true;
            }
        }
    }
}

impl Cache for Sieve {
    #[inline]
    fn prefetch(&self, key: u64) {
        self.table.prefetch(key);
    }

    #[inline]
    fn access(&mut self, key: u64, size: u32) -> bool {
        if let Some((_, node)) = self.table.find_mut(key) {
            node.freq = 1;
            return true;
        }
        let size = self.capacity.charge(size);
        let cap = self.capacity.amount;
        if u64::from(size) > cap {
            return false;
        }
        while self.table.list(0).bytes + u64::from(size) > cap {
            if !self.evict_one() {
                break;
            }
        }
        self.table.insert(key, size, 0, 0);
        false
    }

    fn contains(&self, key: u64) -> bool {
        self.table.find(key).is_some()
    }

    fn remove(&mut self, key: u64) -> bool {
        let Some(idx) = self.table.find(key) else {
            return false;
        };
        if self.table.cursor == idx {
            self.table.cursor = self.table.node(idx).map_or(NIL, |n| n.prev);
        }
        self.table.remove(idx);
        true
    }

    fn len(&self) -> usize {
        self.table.list(0).len
    }

    fn used(&self) -> u64 {
        self.table.list(0).bytes
    }

    fn capacity(&self) -> Capacity {
        self.capacity
    }

    fn policy(&self) -> CachePolicy {
        CachePolicy::Sieve
    }
}
