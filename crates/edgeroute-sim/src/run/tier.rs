//! A cache tier with per-access time to live, costing nothing for objects whose TTL outlasts
//! the run.
//!
//! The cache models themselves have no notion of time. An object inserted with a TTL that ends
//! before the run does gets an expiry time in a side table; an access after it counts as a miss
//! and refreshes the object (as the cache helper's `TtlCache` does). Objects whose TTL reaches
//! past the end of the run (30-day static assets, 24-hour sessions in a one-day run) never
//! expire within it, so they get no side-table entry, and while the side table is empty an
//! access costs exactly one cache lookup.

use hashbrown::HashMap;

use crate::cache::{Cache, PolicyCache};

/// One cache tier (an edge data centre, an upper tier, a regional or query cache).
#[derive(Debug)]
pub(crate) struct TierCache {
    inner: PolicyCache,
    expires: HashMap<u64, u64, foldhash::fast::FixedState>,
    /// The end of the run (µs): expiries at or after it are not recorded.
    horizon: u64,
}

impl TierCache {
    pub(crate) fn new(inner: PolicyCache, horizon: u64) -> Self {
        TierCache {
            inner,
            expires: HashMap::default(),
            horizon,
        }
    }

    /// Looks `key` up at `now`; on a miss (or expiry) inserts it to live for `ttl` µs.
    /// Returns whether it was a fresh hit.
    #[inline]
    pub(crate) fn access(&mut self, key: u64, size: u32, now: u64, ttl: u64) -> bool {
        if !self.expires.is_empty()
            && let Some(&at) = self.expires.get(&key)
            && now >= at
        {
            self.expires.remove(&key);
            self.inner.remove(key);
        }
        let hit = self.inner.access(key, size);
        if !hit {
            let until = now.saturating_add(ttl);
            if until < self.horizon {
                self.expires.insert(key, until);
                // Forget the expiry times of evicted objects now and then (amortised O(1)).
                if self.expires.len() > 2 * self.inner.len() + 4096 {
                    let inner = &self.inner;
                    self.expires.retain(|k, _| inner.contains(*k));
                }
            } else if !self.expires.is_empty() {
                self.expires.remove(&key);
            }
        }
        hit
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::{CachePolicy, Capacity};

    fn tier(horizon: u64) -> TierCache {
        TierCache::new(
            PolicyCache::new(&CachePolicy::Lru, Capacity::objects(100)),
            horizon,
        )
    }

    #[test]
    fn expires_and_refreshes() {
        let mut t = tier(1_000_000);
        assert!(!t.access(1, 10, 0, 100));
        assert!(t.access(1, 10, 99, 100));
        // Expired at 100: a miss that refreshes it until 200.
        assert!(!t.access(1, 10, 100, 100));
        assert!(t.access(1, 10, 150, 100));
        assert!(!t.access(1, 10, 200, 100));
    }

    #[test]
    fn ttls_past_the_horizon_are_free() {
        let mut t = tier(1_000);
        assert!(!t.access(7, 10, 0, 5_000));
        assert!(t.expires.is_empty());
        assert!(t.access(7, 10, 999, 5_000));
        // A short TTL on another key is tracked; the long one stays untracked.
        assert!(!t.access(8, 10, 10, 5));
        assert_eq!(t.expires.len(), 1);
        assert!(!t.access(8, 10, 15, 5));
        assert!(t.access(7, 10, 16, 5_000));
    }
}
