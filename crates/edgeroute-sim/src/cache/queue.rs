//! LRU and FIFO: one list, evict from the tail; LRU also moves a hit to the head.

use super::table::Table;
use super::{Cache, CachePolicy, Capacity};

/// A single queue of objects. `PROMOTE` selects LRU (a hit moves to the head) or FIFO.
#[derive(Debug)]
pub(crate) struct Queue<const PROMOTE: bool> {
    table: Table,
    capacity: Capacity,
}

/// Least recently used.
pub(crate) type Lru = Queue<true>;
/// First in, first out.
pub(crate) type Fifo = Queue<false>;

impl<const PROMOTE: bool> Queue<PROMOTE> {
    pub(crate) fn new(capacity: Capacity) -> Self {
        Self {
            table: Table::with_capacity(capacity.objects_hint()),
            capacity,
        }
    }

    #[inline]
    pub(crate) fn touch(&self, key: u64) -> u64 {
        self.table.touch(key)
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

impl<const PROMOTE: bool> Cache for Queue<PROMOTE> {
    #[inline]
    fn access(&mut self, key: u64, size: u32) -> bool {
        if let Some(idx) = self.table.find(key) {
            if PROMOTE {
                self.table.move_to_head(idx);
            }
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
        if PROMOTE {
            CachePolicy::Lru
        } else {
            CachePolicy::Fifo
        }
    }
}
