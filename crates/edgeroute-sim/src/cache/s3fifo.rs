//! S3-FIFO, with libCacheSim's `S3FIFO` semantics (see [`S3FifoParams`]).
//!
//! Small, main and ghost queues share one slab and one index: a key is in at most one of them,
//! so a request costs one hash probe whichever queue holds it.

use super::params::S3FifoParams;
use super::slab::{List, Slab};
use super::{Cache, CachePolicy, Capacity};

const SMALL: u8 = 0;
const MAIN: u8 = 1;
const GHOST: u8 = 2;

#[derive(Debug)]
pub(crate) struct S3Fifo {
    slab: Slab,
    small: List,
    main: List,
    ghost: List,
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

impl S3Fifo {
    pub(crate) fn new(capacity: Capacity, params: S3FifoParams) -> Self {
        let small_cap = share(capacity.amount, params.small_size_ratio);
        Self {
            slab: Slab::new(),
            small: List::default(),
            main: List::default(),
            ghost: List::default(),
            capacity,
            small_cap,
            main_cap: capacity.amount.saturating_sub(small_cap),
            ghost_cap: share(capacity.amount, params.ghost_size_ratio),
            params,
            has_evicted: false,
        }
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.slab.heap_bytes()
    }

    /// Evicts one object (moving others between queues on the way). False if nothing is cached.
    fn evict_one(&mut self) -> bool {
        self.has_evicted = true;
        if self.main.bytes > self.main_cap || self.small.bytes == 0 {
            self.evict_main()
        } else {
            self.evict_small();
            true
        }
    }

    fn evict_small(&mut self) {
        while self.small.bytes > 0 {
            let idx = self.small.tail;
            let Some(size) = self.slab.get(idx).map(|n| n.size) else {
                return;
            };
            let Some(entry) = self.slab.meta_mut(idx) else {
                return;
            };
            let freq = entry.freq;
            if freq >= self.params.move_to_main_threshold {
                entry.freq = 0;
                entry.tag = MAIN;
            }
            self.small.unlink(&mut self.slab, idx);
            if freq >= self.params.move_to_main_threshold {
                self.main.push_head(&mut self.slab, idx);
            } else {
                self.remember_in_ghost(idx, size);
                return;
            }
        }
    }

    /// Turns the just-unlinked slot `idx` into a ghost entry, or frees it.
    fn remember_in_ghost(&mut self, idx: u32, size: u32) {
        let size = u64::from(size);
        if self.ghost_cap == 0 || size > self.ghost_cap {
            self.slab.release(idx);
            return;
        }
        while self.ghost.bytes + size > self.ghost_cap {
            let old = self.ghost.tail;
            if self.slab.get(old).is_none() {
                break;
            }
            self.ghost.unlink(&mut self.slab, old);
            self.slab.release(old);
        }
        if let Some(entry) = self.slab.meta_mut(idx) {
            entry.tag = GHOST;
            entry.freq = 0;
        }
        self.ghost.push_head(&mut self.slab, idx);
    }

    fn evict_main(&mut self) -> bool {
        while self.main.bytes > 0 {
            let idx = self.main.tail;
            let Some(entry) = self.slab.meta_mut(idx) else {
                return false;
            };
            if entry.freq >= 1 {
                // Reinsert at the head: CLOCK with a 2-bit counter.
                entry.freq = entry.freq.min(3) - 1;
                self.main.move_to_head(&mut self.slab, idx);
            } else {
                self.main.unlink(&mut self.slab, idx);
                self.slab.release(idx);
                return true;
            }
        }
        false
    }
}

impl Cache for S3Fifo {
    #[inline]
    fn access(&mut self, key: u64, size: u32) -> bool {
        let mut hit_on_ghost = false;
        if let Some(entry) = self.slab.entry_mut(key) {
            if entry.tag != GHOST {
                entry.freq = entry.freq.saturating_add(1);
                return true;
            }
            let idx = entry.idx();
            self.ghost.unlink(&mut self.slab, idx);
            self.slab.release(idx);
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
        let (tag, list) = if to_main {
            (MAIN, &mut self.main)
        } else {
            (SMALL, &mut self.small)
        };
        let idx = self.slab.alloc(key, size, tag);
        list.push_head(&mut self.slab, idx);
        false
    }

    fn contains(&self, key: u64) -> bool {
        self.slab.entry(key).is_some_and(|e| e.tag != GHOST)
    }

    fn remove(&mut self, key: u64) -> bool {
        let Some(&entry) = self.slab.entry(key) else {
            return false;
        };
        let idx = entry.idx();
        match entry.tag {
            SMALL => self.small.unlink(&mut self.slab, idx),
            MAIN => self.main.unlink(&mut self.slab, idx),
            _ => return false,
        }
        self.slab.release(idx);
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
