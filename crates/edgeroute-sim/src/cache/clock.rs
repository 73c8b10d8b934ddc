//! CLOCK with one reference bit (libCacheSim's `Clock` with a 1-bit counter).
//!
//! New objects enter at the head with the bit clear; a hit sets it. To evict, look at the tail:
//! a set bit is cleared and the object goes back to the head (its second chance); a clear bit
//! means eviction.

use super::table::Table;
use super::{Cache, CachePolicy, Capacity};

#[derive(Debug)]
pub(crate) struct Clock {
    table: Table,
    capacity: Capacity,
}

impl Clock {
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
        loop {
            let victim = self.table.list(0).tail;
            let Some(node) = self.table.node_mut(victim) else {
                return false;
            };
            if node.freq > 0 {
                node.freq = 0;
                self.table.move_to_head(victim);
            } else {
                self.table.remove(victim);
                return true;
            }
        }
    }
}

impl Cache for Clock {
    // No `prefetch`: a hit reads one line and consecutive requests already overlap; prefetching
    // made the 10M-request Zipf replay about 5% slower.

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
        CachePolicy::Clock
    }
}
