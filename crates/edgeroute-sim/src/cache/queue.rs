//! LRU and FIFO: one list, evict from the tail; LRU also moves a hit to the head.

use super::slab::{List, Slab};
use super::{Cache, CachePolicy, Capacity};

/// A single queue of objects. `PROMOTE` selects LRU (a hit moves to the head) or FIFO.
#[derive(Debug)]
pub(crate) struct Queue<const PROMOTE: bool> {
    slab: Slab,
    list: List,
    capacity: Capacity,
}

/// Least recently used.
pub(crate) type Lru = Queue<true>;
/// First in, first out.
pub(crate) type Fifo = Queue<false>;

impl<const PROMOTE: bool> Queue<PROMOTE> {
    pub(crate) fn new(capacity: Capacity) -> Self {
        Self {
            slab: Slab::new(),
            list: List::default(),
            capacity,
        }
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.slab.heap_bytes()
    }

    fn evict_one(&mut self) -> bool {
        let victim = self.list.tail;
        if self.slab.get(victim).is_none() {
            return false;
        }
        self.list.unlink(&mut self.slab, victim);
        self.slab.release(victim);
        true
    }
}

impl<const PROMOTE: bool> Cache for Queue<PROMOTE> {
    #[inline]
    fn access(&mut self, key: u64, size: u32) -> bool {
        if let Some(idx) = self.slab.find(key) {
            if PROMOTE {
                self.list.move_to_head(&mut self.slab, idx);
            }
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
        if PROMOTE {
            CachePolicy::Lru
        } else {
            CachePolicy::Fifo
        }
    }
}
