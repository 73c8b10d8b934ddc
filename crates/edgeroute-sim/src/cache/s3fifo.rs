//! S3-FIFO, with libCacheSim's `S3FIFO` semantics (see [`S3FifoParams`]).
//!
//! Small, main and ghost queues share one slab and one index: a key is in at most one of them,
//! so a request costs one hash probe whichever queue holds it.

use super::params::S3FifoParams;
use super::table::Table;
use super::{Cache, CachePolicy, Capacity};

const SMALL: u8 = 0;
const MAIN: u8 = 1;
const GHOST: u8 = 2;

#[derive(Debug)]
pub(crate) struct S3Fifo {
    /// Lists `SMALL`, `MAIN` and `GHOST`.
    table: Table,
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
            // Cached objects plus ghosts.
            table: Table::with_capacity(
                capacity
                    .objects_hint()
                    .saturating_add(share(capacity.objects_hint(), params.ghost_size_ratio)),
            ),
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
        self.table.touch(key)
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.table.heap_bytes()
    }

    /// Evicts one object (moving others between queues on the way). False if nothing is cached.
    fn evict_one(&mut self) -> bool {
        self.has_evicted = true;
        if self.table.list(MAIN).bytes > self.main_cap || self.table.list(SMALL).bytes == 0 {
            self.evict_main()
        } else {
            self.evict_small();
            true
        }
    }

    fn evict_small(&mut self) {
        while self.table.list(SMALL).bytes > 0 {
            let idx = self.table.list(SMALL).tail;
            let Some(node) = self.table.node_mut(idx) else {
                return;
            };
            if node.freq >= self.params.move_to_main_threshold {
                node.freq = 0;
                self.table.move_to_list(idx, MAIN);
            } else {
                let size = node.size;
                self.remember_in_ghost(idx, size);
                return;
            }
        }
    }

    /// Turns small-queue slot `idx` into a ghost entry, or removes it.
    fn remember_in_ghost(&mut self, idx: u32, size: u32) {
        let size = u64::from(size);
        if self.ghost_cap == 0 || size > self.ghost_cap {
            self.table.remove(idx);
            return;
        }
        if let Some(node) = self.table.node_mut(idx) {
            node.freq = 0;
        }
        // Onto the ghost list first: removing old ghosts may move this node, but the list
        // keeps track of it (it is the head).
        self.table.move_to_list(idx, GHOST);
        while self.table.list(GHOST).bytes > self.ghost_cap {
            let old = self.table.list(GHOST).tail;
            if self.table.node(old).is_none() {
                break;
            }
            self.table.remove(old);
        }
    }

    fn evict_main(&mut self) -> bool {
        while self.table.list(MAIN).bytes > 0 {
            let idx = self.table.list(MAIN).tail;
            let Some(node) = self.table.node_mut(idx) else {
                return false;
            };
            if node.freq >= 1 {
                // Reinsert at the head: CLOCK with a 2-bit counter.
                node.freq = node.freq.min(3) - 1;
                self.table.move_to_head(idx);
            } else {
                self.table.remove(idx);
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
        if let Some((idx, node)) = self.table.find_mut(key) {
            if node.tag() != GHOST {
                node.freq = node.freq.saturating_add(1);
                return true;
            }
            self.table.remove(idx);
            hit_on_ghost = true;
        }
        let size = self.capacity.charge(size);
        let size64 = u64::from(size);
        if size64 > self.small_cap || size64 > self.capacity.amount {
            return false;
        }
        while self.table.list(SMALL).bytes + self.table.list(MAIN).bytes + size64
            > self.capacity.amount
        {
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
            !self.has_evicted && self.table.list(SMALL).bytes >= self.small_cap
        };
        self.table
            .insert(key, size, if to_main { MAIN } else { SMALL }, 0);
        false
    }

    fn contains(&self, key: u64) -> bool {
        self.table
            .find(key)
            .and_then(|idx| self.table.node(idx))
            .is_some_and(|n| n.tag() != GHOST)
    }

    fn remove(&mut self, key: u64) -> bool {
        let Some(idx) = self.table.find(key) else {
            return false;
        };
        if self.table.node(idx).is_none_or(|n| n.tag() == GHOST) {
            return false;
        }
        self.table.remove(idx);
        true
    }

    fn len(&self) -> usize {
        self.table.list(SMALL).len + self.table.list(MAIN).len
    }

    fn used(&self) -> u64 {
        self.table.list(SMALL).bytes + self.table.list(MAIN).bytes
    }

    fn capacity(&self) -> Capacity {
        self.capacity
    }

    fn policy(&self) -> CachePolicy {
        CachePolicy::S3Fifo(self.params)
    }
}
