//! FIFO: one list, evict from the tail; a hit changes nothing. (LRU is [`super::lru`].)

use super::table::Table;
use super::{Cache, CachePolicy, Capacity};

/// First in, first out: a single queue of objects.
#[derive(Debug)]
pub(crate) struct Fifo {
    table: Table,
    capacity: Capacity,
}

impl Fifo {
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
        let victim = self.table.list(0).tail;
        if self.table.node(victim).is_none() {
            return false;
        }
        self.table.remove(victim);
        true
    }
}

impl Cache for Fifo {
    // No `prefetch`: a hit reads one line and consecutive requests already overlap; prefetching
    // made the 10M-request Zipf replay about 5% slower.

    #[inline]
    fn access(&mut self, key: u64, size: u32) -> bool {
        if self.table.find(key).is_some() {
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
        CachePolicy::Fifo
    }
}
