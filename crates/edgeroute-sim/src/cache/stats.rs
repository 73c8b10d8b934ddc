//! Hit and miss counters, counted as libCacheSim's `cachesim` counts them.

use super::Cache;

/// Requests and misses, by count and by bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct CacheStats {
    /// Requests seen.
    pub requests: u64,
    /// Requests that missed (first-time misses included).
    pub misses: u64,
    /// Bytes requested (the requests' sizes as given, whatever the capacity unit).
    pub bytes: u64,
    /// Bytes of the requests that missed.
    pub byte_misses: u64,
}

impl CacheStats {
    /// Counts one request of `size` bytes.
    #[inline]
    pub fn record(&mut self, hit: bool, size: u32) {
        self.requests += 1;
        self.bytes += u64::from(size);
        if !hit {
            self.misses += 1;
            self.byte_misses += u64::from(size);
        }
    }

    /// Requests that hit.
    #[must_use]
    pub fn hits(&self) -> u64 {
        self.requests - self.misses
    }

    /// `misses / requests`, 0 when there were no requests.
    #[must_use]
    pub fn miss_ratio(&self) -> f64 {
        ratio(self.misses, self.requests)
    }

    /// `byte_misses / bytes`, 0 when no bytes were requested.
    #[must_use]
    pub fn byte_miss_ratio(&self) -> f64 {
        ratio(self.byte_misses, self.bytes)
    }

    /// `1 - miss_ratio`, 0 when there were no requests.
    #[must_use]
    pub fn hit_ratio(&self) -> f64 {
        ratio(self.hits(), self.requests)
    }

    /// Adds another run's counts (e.g. a shard's).
    pub fn merge(&mut self, other: &Self) {
        self.requests += other.requests;
        self.misses += other.misses;
        self.bytes += other.bytes;
        self.byte_misses += other.byte_misses;
    }
}

#[expect(
    clippy::cast_precision_loss,
    reason = "a ratio of counts; f64 is the report's precision"
)]
fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// Replays `(key, size)` requests through `cache` and counts them.
pub fn replay<C, I>(cache: &mut C, requests: I) -> CacheStats
where
    C: Cache + ?Sized,
    I: IntoIterator<Item = (u64, u32)>,
{
    let mut stats = CacheStats::default();
    for (key, size) in requests {
        let hit = cache.access(key, size);
        stats.record(hit, size);
    }
    stats
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::{CachePolicy, Capacity, new_cache};

    #[test]
    fn counts_like_cachesim() {
        let mut c = new_cache(&CachePolicy::Lru, Capacity::bytes(100));
        // 1 miss, 1 hit, too large (miss, not inserted), hit, miss.
        let s = replay(&mut c, [(1, 60), (1, 60), (2, 101), (1, 5), (3, 50)]);
        assert_eq!(
            s,
            CacheStats {
                requests: 5,
                misses: 3,
                bytes: 276,
                byte_misses: 211
            }
        );
        assert_eq!(c.len(), 1, "3 evicted 1; 2 never inserted");
        assert_eq!(c.used(), 50);
        assert!((s.miss_ratio() - 0.6).abs() < 1e-12);
        assert_eq!(CacheStats::default().miss_ratio(), 0.0);
    }

    #[test]
    fn hit_keeps_stored_size() {
        let mut c = new_cache(&CachePolicy::Fifo, Capacity::bytes(100));
        assert!(!c.access(1, 10));
        assert!(c.access(1, 90));
        assert_eq!(c.used(), 10);
    }
}
