//! Cache models: eviction policies, TTLs and the counters a replay reports.
//!
//! Every model implements [`Cache`]: one call, [`Cache::access`], looks a key up and, on a miss,
//! admits the object (evicting as the policy says). Counting follows libCacheSim's `cachesim`,
//! so miss counts compare one to one with it:
//!
//! - every request counts, first-time misses included; there is no warm-up;
//! - in [object mode](SizeUnit::Objects) every object has size 1 and the capacity is a count;
//! - in [byte mode](SizeUnit::Bytes) an object larger than the cache is a miss and is not
//!   inserted (nothing is evicted for it);
//! - a hit does not change the stored size, even if the request carries another size.
//!
//! # Policies
//!
//! | name | policy |
//! |---|---|
//! | `lru` | least recently used |
//! | `fifo` | first in, first out |
//! | `clock` | FIFO with one reference bit, second chance (libCacheSim's `Clock`, 1-bit counter) |
//! | `sieve` | SIEVE: FIFO with a visited bit and a hand that sweeps from tail to head |
//! | `s3fifo` | S3-FIFO as libCacheSim's `S3FIFO` (see [`S3FifoParams`]) |
//! | `wtinylfu` | W-TinyLFU: window LRU, segmented LRU main, count-min sketch admission (see [`WTinyLfuParams`]) |
//!
//! Parameters follow the name after a colon, `name:key=value,key=value`, with libCacheSim's
//! parameter names, e.g. `s3fifo:small-size-ratio=0.2,move-to-main-threshold=1`.
//!
//! # Example: one cache
//!
//! ```
//! use edgeroute_sim::cache::{new_cache, Cache, CachePolicy, Capacity, CacheStats};
//!
//! let policy: CachePolicy = "s3fifo".parse()?;
//! let mut cache = new_cache(&policy, Capacity::objects(2));
//! let mut stats = CacheStats::default();
//! for key in [1, 2, 1, 3, 1] {
//!     let hit = cache.access(key, 100);
//!     stats.record(hit, 100);
//! }
//! assert_eq!(stats.requests, 5);
//! # Ok::<(), edgeroute_sim::cache::PolicyParseError>(())
//! ```
//!
//! # Tiers
//!
//! A tier is one cache; a miss goes on to the next tier, and the first tier that hits (or the
//! origin) serves the request. Every tier admits the object on its own miss, so a request that
//! misses everywhere fills every tier on the way back, as tiered CDN caches do. Tiers with a TTL
//! (a Redis-like regional cache, a database query cache) wrap their cache in [`TtlCache`] and
//! call [`TtlCache::access_at`] with the virtual time and the content class's TTL:
//!
//! ```
//! use edgeroute_sim::cache::{new_cache, Cache, CachePolicy, Capacity, TtlCache};
//!
//! let mut edge = new_cache(&CachePolicy::Lru, Capacity::bytes(10_000));
//! let mut regional = TtlCache::new(new_cache(&CachePolicy::Lru, Capacity::bytes(1_000_000)));
//!
//! // Returns the tier that served the request: 0 edge, 1 regional, 2 origin.
//! let mut serve = |key: u64, size: u32, now_ms: u64| -> usize {
//!     if edge.access(key, size) {
//!         0
//!     } else if regional.access_at(key, size, now_ms, Some(60_000)) {
//!         1
//!     } else {
//!         2
//!     }
//! };
//! assert_eq!(serve(7, 500, 0), 2); // cold: origin, both tiers filled
//! assert_eq!(serve(7, 500, 1), 0); // edge hit
//! # Ok::<(), edgeroute_sim::cache::PolicyParseError>(())
//! ```
//!
//! # Performance
//!
//! FIFO, CLOCK, SIEVE and W-TinyLFU keep their nodes *in* the slots of one open-addressing hash
//! table (linear probing, at most half full, 32-byte nodes) with their lists threaded through
//! it by `u32` slot numbers, so a lookup lands on the node itself. LRU and S3-FIFO keep no
//! links at all: their order is a ring of keys per queue (a node records which entry is its
//! current one; older entries are skipped when popped), so a hit touches one node (LRU: 16
//! bytes, four to a cache line) and moving an object to the back of a queue is one push.
//! S3-FIFO's small-queue ring carries each object's size and hit count, so evicting from it
//! reads no node, and an object that leaves it for the ghost queue keeps its node unchanged.
//! Once the cache has reached its working size a request allocates nothing but ring growth.
//! [`PolicyCache`] dispatches by `match`, not through a vtable.

mod clock;
mod lru;
mod one_list;
mod params;
mod queue;
mod s3fifo;
mod sieve;
mod sketch;
mod slots;
mod stats;
mod table;
mod ttl;
mod wtinylfu;

use std::fmt;

use one_list::OneList;

pub use params::{CachePolicy, PolicyParseError, S3FifoParams, WTinyLfuParams};
pub use stats::{CacheStats, replay};
pub use ttl::TtlCache;

/// A cache model: looks keys up and admits objects on a miss.
pub trait Cache {
    /// Requests `key` of `size` bytes. Returns `true` on a hit. On a miss the object is admitted
    /// if the policy admits it and it fits the capacity, evicting others as needed.
    fn access(&mut self, key: u64, size: u32) -> bool;

    /// Starts loading what an access to `key` will read first, without changing anything: a
    /// hint a replay gives a few requests ahead (see [`PolicyCache::replay`]). The default
    /// does nothing.
    #[inline]
    fn prefetch(&self, key: u64) {
        let _ = key;
    }

    /// Whether `key` is cached now (ghost entries do not count). Does not touch any policy
    /// state.
    fn contains(&self, key: u64) -> bool;

    /// Removes `key` if it is cached; returns whether it was.
    fn remove(&mut self, key: u64) -> bool;

    /// Number of cached objects.
    fn len(&self) -> usize;

    /// Whether nothing is cached.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Space in use: bytes in byte mode, objects in object mode.
    fn used(&self) -> u64;

    /// The capacity the cache was built with.
    fn capacity(&self) -> Capacity;

    /// The policy and its parameters.
    fn policy(&self) -> CachePolicy;
}

impl<C: Cache + ?Sized> Cache for Box<C> {
    fn access(&mut self, key: u64, size: u32) -> bool {
        (**self).access(key, size)
    }
    fn prefetch(&self, key: u64) {
        (**self).prefetch(key);
    }
    fn contains(&self, key: u64) -> bool {
        (**self).contains(key)
    }
    fn remove(&mut self, key: u64) -> bool {
        (**self).remove(key)
    }
    fn len(&self) -> usize {
        (**self).len()
    }
    fn used(&self) -> u64 {
        (**self).used()
    }
    fn capacity(&self) -> Capacity {
        (**self).capacity()
    }
    fn policy(&self) -> CachePolicy {
        (**self).policy()
    }
}

/// What a capacity counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SizeUnit {
    /// Bytes: objects are charged their size.
    Bytes,
    /// Objects: every object is charged 1, whatever its size.
    Objects,
}

/// A cache's capacity: an amount of bytes or of objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Capacity {
    /// How much fits.
    pub amount: u64,
    /// What `amount` counts.
    pub unit: SizeUnit,
}

impl Capacity {
    /// A capacity of `amount` bytes.
    #[must_use]
    pub const fn bytes(amount: u64) -> Self {
        Self {
            amount,
            unit: SizeUnit::Bytes,
        }
    }

    /// A capacity of `amount` objects (every object has size 1).
    #[must_use]
    pub const fn objects(amount: u64) -> Self {
        Self {
            amount,
            unit: SizeUnit::Objects,
        }
    }

    /// How many objects the cache will hold at most, when that is known up front (object
    /// mode); 0 in byte mode.
    #[inline]
    pub(crate) fn objects_hint(self) -> u64 {
        match self.unit {
            SizeUnit::Bytes => 0,
            SizeUnit::Objects => self.amount,
        }
    }

    /// The size an object of `size` bytes is charged.
    #[inline]
    pub(crate) fn charge(self, size: u32) -> u32 {
        match self.unit {
            SizeUnit::Bytes => size,
            SizeUnit::Objects => 1,
        }
    }
}

impl fmt::Display for Capacity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.unit {
            SizeUnit::Bytes => write!(f, "{} bytes", self.amount),
            SizeUnit::Objects => write!(f, "{} objects", self.amount),
        }
    }
}

/// A cache of any policy, dispatched by `match` (no vtable, no box).
#[derive(Debug)]
pub struct PolicyCache {
    inner: Inner,
}

#[derive(Debug)]
enum Inner {
    Lru(lru::Lru),
    Fifo(OneList<queue::Fifo>),
    Clock(OneList<clock::Clock>),
    Sieve(OneList<sieve::Sieve>),
    S3FifoObjects(s3fifo::S3Fifo<s3fifo::ObjectNode>),
    S3FifoBytes(s3fifo::S3Fifo<s3fifo::ByteNode>),
    WTinyLfu(wtinylfu::WTinyLfu),
}

/// Builds an empty cache of `policy` with `capacity`.
#[must_use]
pub fn new_cache(policy: &CachePolicy, capacity: Capacity) -> PolicyCache {
    PolicyCache::new(policy, capacity)
}

impl PolicyCache {
    /// Builds an empty cache of `policy` with `capacity`.
    #[must_use]
    pub fn new(policy: &CachePolicy, capacity: Capacity) -> Self {
        let inner = match policy {
            CachePolicy::Lru => Inner::Lru(lru::Lru::new(capacity)),
            CachePolicy::Fifo => Inner::Fifo(OneList::new(capacity)),
            CachePolicy::Clock => Inner::Clock(OneList::new(capacity)),
            CachePolicy::Sieve => Inner::Sieve(OneList::new(capacity)),
            CachePolicy::S3Fifo(p) => match capacity.unit {
                SizeUnit::Objects => Inner::S3FifoObjects(s3fifo::S3Fifo::new(capacity, *p)),
                SizeUnit::Bytes => Inner::S3FifoBytes(s3fifo::S3Fifo::new(capacity, *p)),
            },
            CachePolicy::WTinyLfu(p) => Inner::WTinyLfu(wtinylfu::WTinyLfu::new(capacity, *p)),
        };
        Self { inner }
    }

    /// Approximate heap memory the cache holds, in bytes (nodes, index and sketches).
    #[must_use]
    pub fn heap_bytes(&self) -> usize {
        match &self.inner {
            Inner::Lru(c) => c.heap_bytes(),
            Inner::Fifo(c) => c.heap_bytes(),
            Inner::Clock(c) => c.heap_bytes(),
            Inner::Sieve(c) => c.heap_bytes(),
            Inner::S3FifoObjects(c) => c.heap_bytes(),
            Inner::S3FifoBytes(c) => c.heap_bytes(),
            Inner::WTinyLfu(c) => c.heap_bytes(),
        }
    }
}

macro_rules! dispatch {
    ($self:expr, $c:ident => $e:expr) => {
        match $self {
            Inner::Lru($c) => $e,
            Inner::Fifo($c) => $e,
            Inner::Clock($c) => $e,
            Inner::Sieve($c) => $e,
            Inner::S3FifoObjects($c) => $e,
            Inner::S3FifoBytes($c) => $e,
            Inner::WTinyLfu($c) => $e,
        }
    };
}

impl PolicyCache {
    /// Replays `requests` (`(key, size)`) in order and adds them to `stats`: the same hits
    /// and misses as calling [`Cache::access`] on each in turn, with one policy dispatch per
    /// batch. Each request's table line is prefetched [`LOOKAHEAD`] requests ahead
    /// ([`Cache::prefetch`]), so the cache misses of consecutive requests overlap. (A plain
    /// load in its place, as sessions 4 and 5 tried, blocks the requests behind it until its
    /// line arrives, and made the ring-ordered LRU slower.)
    pub fn replay(&mut self, requests: &[(u64, u32)], stats: &mut CacheStats) {
        // One dispatch per batch, not per request.
        dispatch!(&mut self.inner, c => replay_each(c, requests, stats));
    }
}

/// How many requests ahead [`PolicyCache::replay`] prefetches. A miss to memory takes about
/// 200 ns on the 2-core sandbox VM and a request 60 to 120 ns, so the line must be asked for
/// a few requests early. On the 10M-request Zipf trace at 76,282 objects (LRU and S3-FIFO,
/// object mode), 16 beat 4 and 8 on one thread, and beat 32 for S3-FIFO on two (LRU: even).
pub const LOOKAHEAD: usize = 16;

/// Replays `requests` one access at a time, prefetching [`LOOKAHEAD`] requests ahead.
#[inline]
fn replay_each<C: Cache>(cache: &mut C, requests: &[(u64, u32)], stats: &mut CacheStats) {
    for &(key, _) in requests.iter().take(LOOKAHEAD) {
        cache.prefetch(key);
    }
    for (i, &(key, size)) in requests.iter().enumerate() {
        if let Some(&(ahead, _)) = requests.get(i + LOOKAHEAD) {
            cache.prefetch(ahead);
        }
        let hit = cache.access(key, size);
        stats.record(hit, size);
    }
}

impl Cache for PolicyCache {
    #[inline]
    fn access(&mut self, key: u64, size: u32) -> bool {
        dispatch!(&mut self.inner, c => c.access(key, size))
    }
    #[inline]
    fn prefetch(&self, key: u64) {
        dispatch!(&self.inner, c => c.prefetch(key));
    }
    fn contains(&self, key: u64) -> bool {
        dispatch!(&self.inner, c => c.contains(key))
    }
    fn remove(&mut self, key: u64) -> bool {
        dispatch!(&mut self.inner, c => c.remove(key))
    }
    fn len(&self) -> usize {
        dispatch!(&self.inner, c => c.len())
    }
    fn used(&self) -> u64 {
        dispatch!(&self.inner, c => c.used())
    }
    fn capacity(&self) -> Capacity {
        dispatch!(&self.inner, c => c.capacity())
    }
    fn policy(&self) -> CachePolicy {
        dispatch!(&self.inner, c => c.policy())
    }
}
