//! The caches whose objects sit on one list of a [`Table`] (FIFO, CLOCK, SIEVE), with what
//! they share: the lookup, the admission loop, removal and the totals. What differs, the effect
//! of a hit and the choice of victim, is the policy's [`OneListPolicy`].
//!
//! New objects enter at the head of list 0 with `freq` 0. On a miss the object is admitted if
//! it fits the capacity on its own, the policy evicting one object at a time until it fits.

use std::marker::PhantomData;

use super::table::Table;
use super::{Cache, CachePolicy, Capacity};

/// What sets a one-list policy apart. Its functions work on the cache's [`Table`], whose
/// list 0 holds every object (and whose [`Table::cursor`] the policy may keep).
pub(crate) trait OneListPolicy {
    /// The policy, as [`Cache::policy`] reports it.
    const POLICY: CachePolicy;

    /// Looks `key` up and applies a hit's effect; returns whether it is cached. The default
    /// sets the node's reference bit (`freq = 1`), as CLOCK and SIEVE do.
    #[inline]
    fn hit(table: &mut Table, key: u64) -> bool {
        if let Some((_, node)) = table.find_mut(key) {
            node.freq = 1;
            return true;
        }
        false
    }

    /// Evicts one object; false if nothing is cached.
    fn evict_one(table: &mut Table) -> bool;

    /// Removes `key` if it is cached; returns whether it was. The default is
    /// [`Table::remove_key`].
    #[inline]
    fn remove(table: &mut Table, key: u64) -> bool {
        table.remove_key(key)
    }

    /// [`Cache::prefetch`]. The default does nothing.
    #[inline]
    fn prefetch(table: &Table, key: u64) {
        let _ = (table, key);
    }
}

/// A cache of one list under policy `P`.
#[derive(Debug)]
pub(crate) struct OneList<P> {
    table: Table,
    capacity: Capacity,
    policy: PhantomData<P>,
}

impl<P: OneListPolicy> OneList<P> {
    pub(crate) fn new(capacity: Capacity) -> Self {
        Self {
            table: Table::with_capacity(capacity.objects_hint()),
            capacity,
            policy: PhantomData,
        }
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.table.heap_bytes()
    }
}

impl<P: OneListPolicy> Cache for OneList<P> {
    #[inline]
    fn prefetch(&self, key: u64) {
        P::prefetch(&self.table, key);
    }

    #[inline]
    fn access(&mut self, key: u64, size: u32) -> bool {
        if P::hit(&mut self.table, key) {
            return true;
        }
        let size = self.capacity.charge(size);
        let cap = self.capacity.amount;
        if u64::from(size) > cap {
            return false;
        }
        while self.table.list(0).bytes + u64::from(size) > cap {
            if !P::evict_one(&mut self.table) {
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
        P::remove(&mut self.table, key)
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
        P::POLICY
    }
}
