//! CLOCK with one reference bit (libCacheSim's `Clock` with a 1-bit counter).
//!
//! New objects enter at the head with the bit clear; a hit sets it. To evict, look at the tail:
//! a set bit is cleared and the object goes back to the head (its second chance); a clear bit
//! means eviction.

use super::slab::{List, Slab};
use super::{Cache, CachePolicy, Capacity};

#[derive(Debug)]
pub(crate) struct Clock {
    slab: Slab,
    list: List,
    capacity: Capacity,
}

impl Clock {
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
        loop {
            let victim = self.list.tail;
            let Some(entry) = self.slab.meta_mut(victim) else {
                return false;
            };
            if entry.freq > 0 {
                entry.freq = 0;
                self.list.move_to_head(&mut self.slab, victim);
            } else {
                self.list.unlink(&mut self.slab, victim);
                self.slab.release(victim);
                return true;
            }
        }
    }
}

impl Cache for Clock {
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
        CachePolicy::Clock
    }
}
