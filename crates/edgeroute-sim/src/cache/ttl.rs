//! Time to live on top of any policy.

use hashbrown::HashMap;

use super::Cache;

/// Expiry on top of a cache: an object inserted at `now` with a TTL is fresh for accesses at
/// times `< now + ttl`; an access after that finds it expired, counts a miss, and refreshes it
/// (re-inserts it with the new TTL), as a Redis-like cache in front of a database behaves. A
/// hit does not extend the TTL.
///
/// Time is whatever unit the caller uses for `now` and `ttl` (the simulator uses virtual
/// milliseconds); the wrapper never reads a clock. A cache that needs no TTL should not be
/// wrapped: the wrapper costs one extra hash probe per access, the bare policy nothing.
///
/// Memory: expiry times of evicted objects are pruned once they outnumber the cached objects,
/// so the wrapper holds at most about twice the cache's object count.
#[derive(Debug)]
pub struct TtlCache<C> {
    inner: C,
    expires: HashMap<u64, u64, foldhash::fast::FixedState>,
    expired: u64,
}

impl<C: Cache> TtlCache<C> {
    /// Wraps `inner`.
    #[must_use]
    pub fn new(inner: C) -> Self {
        Self {
            inner,
            expires: HashMap::default(),
            expired: 0,
        }
    }

    /// Requests `key` of `size` bytes at time `now`; on a miss (or expiry) the object is
    /// (re)inserted to expire at `now + ttl`, or never if `ttl` is `None`. Returns `true` on a
    /// fresh hit.
    pub fn access_at(&mut self, key: u64, size: u32, now: u64, ttl: Option<u64>) -> bool {
        if let Some(&at) = self.expires.get(&key)
            && now >= at
            && self.inner.remove(key)
        {
            self.expired += 1;
        }
        let hit = self.inner.access(key, size);
        if !hit {
            match ttl {
                Some(ttl) => {
                    self.expires.insert(key, now.saturating_add(ttl));
                }
                None => {
                    self.expires.remove(&key);
                }
            }
            if self.expires.len() > 2 * self.inner.len() + 1024 {
                let inner = &self.inner;
                self.expires.retain(|k, _| inner.contains(*k));
            }
        }
        hit
    }

    /// Accesses that found their object expired.
    #[must_use]
    pub fn expired(&self) -> u64 {
        self.expired
    }

    /// The wrapped cache.
    #[must_use]
    pub fn get_ref(&self) -> &C {
        &self.inner
    }

    /// The wrapped cache, mutably (removing objects through it is fine; their expiry is
    /// forgotten lazily).
    pub fn get_mut(&mut self) -> &mut C {
        &mut self.inner
    }

    /// Unwraps the cache.
    #[must_use]
    pub fn into_inner(self) -> C {
        self.inner
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::{CachePolicy, Capacity, new_cache};

    #[test]
    fn expires_and_refreshes() {
        let mut c = TtlCache::new(new_cache(&CachePolicy::Lru, Capacity::objects(10)));
        assert!(!c.access_at(1, 1, 0, Some(100)));
        assert!(c.access_at(1, 1, 99, Some(100)), "fresh before 100");
        assert!(
            !c.access_at(1, 1, 100, Some(100)),
            "expired at 100, refreshed"
        );
        assert_eq!(c.expired(), 1);
        assert!(c.access_at(1, 1, 199, Some(100)));
        assert!(!c.access_at(1, 1, 200, None), "expired; now without TTL");
        assert!(c.access_at(1, 1, u64::MAX, Some(1)), "never expires");
    }

    #[test]
    fn expiry_map_stays_bounded() {
        let mut c = TtlCache::new(new_cache(&CachePolicy::Fifo, Capacity::objects(4)));
        for k in 0..100_000 {
            c.access_at(k, 1, k, Some(10));
        }
        assert!(c.expires.len() <= 2 * 4 + 1025, "{}", c.expires.len());
    }
}
