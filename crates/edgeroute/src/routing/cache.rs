//! The route cache: the choice of pool (and why, and which endpoints are usable) for a
//! (service, location class) pair, kept against the health table's generation.
//!
//! Everything routing decides before the endpoint pick depends only on the service, the
//! location's ranked regions and residency group (its *class*: many locations share one), the
//! health state, and the time only through outlier ejections. The health table keeps a
//! generation number that changes with every state change that can change a choice (forced
//! marks, probe flips, ejections) and an *ejection horizon* (the latest end of any ejection it
//! ever set): a cached choice made under generation `g` is the same choice routing would make
//! now while the generation is still `g` and `now` is at or past the horizon (no endpoint can
//! be ejected then, at any later time either). Choices that used the seed (a weighted pick
//! between pools) are marked so routing does not cache them.
//!
//! Each entry is a small seqlock of three atomic words (generation, packed choice, usable
//! endpoint mask): a reader checks the generation before and after reading the two others; a
//! writer claims the entry by swapping its generation for `LOCKED`. No lock, no allocation,
//! and a torn or stale entry is never used.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering, fence};

use super::model::{PoolId, RegionId};
use super::route::{FailoverReason, RefusalReason};

/// Generation value of an entry being written.
const LOCKED: u64 = u64::MAX;

/// Generation value of an empty entry (the health table never uses it).
const EMPTY: u64 = 0;

const KIND_POOL: u64 = 1;
const KIND_REFUSED: u64 = 2;
const KIND_BYPASS: u64 = 3;

/// What routing decided before picking an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Resolved {
    /// Serve from `pool`, choosing among the endpoints in `mask`.
    Pool {
        pool: PoolId,
        mask: u64,
        failover: Option<FailoverReason>,
        preferred: Option<RegionId>,
    },
    /// Answer 503.
    Refused {
        reason: RefusalReason,
        preferred: Option<RegionId>,
    },
}

/// A cache entry's content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cached {
    /// The choice.
    Resolved(Resolved),
    /// The choice depends on the seed: route without the cache.
    Bypass,
}

fn failover_code(f: Option<FailoverReason>) -> u64 {
    match f {
        None => 0,
        Some(FailoverReason::RegionDown) => 1,
        Some(FailoverReason::RegionUnhealthy) => 2,
        Some(FailoverReason::PoolDown) => 3,
        Some(FailoverReason::PoolUnhealthy) => 4,
        Some(FailoverReason::FallbackPool) => 5,
    }
}

fn failover_of(code: u64) -> Option<FailoverReason> {
    match code {
        1 => Some(FailoverReason::RegionDown),
        2 => Some(FailoverReason::RegionUnhealthy),
        3 => Some(FailoverReason::PoolDown),
        4 => Some(FailoverReason::PoolUnhealthy),
        5 => Some(FailoverReason::FallbackPool),
        _ => None,
    }
}

fn refusal_code(r: RefusalReason) -> u64 {
    match r {
        RefusalReason::Residency => 0,
        RefusalReason::NoHealthyOrigin => 1,
        RefusalReason::UnknownService => 2,
    }
}

fn refusal_of(code: u64) -> RefusalReason {
    match code {
        0 => RefusalReason::Residency,
        1 => RefusalReason::NoHealthyOrigin,
        _ => RefusalReason::UnknownService,
    }
}

fn region_code(r: Option<RegionId>) -> u64 {
    r.map_or(0, |r| 0x100 | u64::from(r.0))
}

fn region_of(code: u64) -> Option<RegionId> {
    (code & 0x100 != 0).then_some(RegionId((code & 0xff) as u8))
}

/// Packs an entry's content into (meta, mask) words.
fn encode(c: Cached) -> (u64, u64) {
    match c {
        Cached::Bypass => (KIND_BYPASS, 0),
        Cached::Resolved(Resolved::Pool {
            pool,
            mask,
            failover,
            preferred,
        }) => (
            KIND_POOL
                | u64::from(pool.0) << 8
                | failover_code(failover) << 24
                | region_code(preferred) << 32,
            mask,
        ),
        Cached::Resolved(Resolved::Refused { reason, preferred }) => (
            KIND_REFUSED | refusal_code(reason) << 4 | region_code(preferred) << 32,
            0,
        ),
    }
}

fn decode(meta: u64, mask: u64) -> Option<Cached> {
    let preferred = region_of((meta >> 32) & 0x1ff);
    match meta & 0xf {
        KIND_POOL => Some(Cached::Resolved(Resolved::Pool {
            pool: PoolId(((meta >> 8) & 0xffff) as u16),
            mask,
            failover: failover_of((meta >> 24) & 0x7),
            preferred,
        })),
        KIND_REFUSED => Some(Cached::Resolved(Resolved::Refused {
            reason: refusal_of((meta >> 4) & 0x3),
            preferred,
        })),
        KIND_BYPASS => Some(Cached::Bypass),
        _ => None,
    }
}

#[derive(Default)]
struct Entry {
    generation: AtomicU64,
    meta: AtomicU64,
    mask: AtomicU64,
}

impl Entry {
    #[inline]
    fn read(&self, generation: u64) -> Option<Cached> {
        if self.generation.load(Ordering::Acquire) != generation {
            return None;
        }
        let meta = self.meta.load(Ordering::Relaxed);
        let mask = self.mask.load(Ordering::Relaxed);
        fence(Ordering::Acquire);
        if self.generation.load(Ordering::Relaxed) != generation {
            return None;
        }
        decode(meta, mask)
    }

    fn write(&self, generation: u64, content: Cached) {
        let current = self.generation.load(Ordering::Relaxed);
        if current == LOCKED || current == generation || generation == LOCKED {
            return;
        }
        if self
            .generation
            .compare_exchange(current, LOCKED, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
        {
            return; // Another thread is writing it.
        }
        fence(Ordering::Release);
        let (meta, mask) = encode(content);
        self.meta.store(meta, Ordering::Relaxed);
        self.mask.store(mask, Ordering::Relaxed);
        self.generation.store(generation, Ordering::Release);
    }
}

/// One entry per (location class, service) of a compiled routing.
pub(crate) struct RouteCache {
    entries: Box<[Entry]>,
    services: usize,
}

impl fmt::Debug for RouteCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let filled = self
            .entries
            .iter()
            .filter(|e| e.generation.load(Ordering::Relaxed) != EMPTY)
            .count();
        f.debug_struct("RouteCache")
            .field("entries", &self.entries.len())
            .field("filled", &filled)
            .finish()
    }
}

impl RouteCache {
    /// An empty cache for `classes` location classes and `services` services.
    pub(crate) fn new(classes: usize, services: usize) -> Self {
        let entries = (0..classes.saturating_mul(services))
            .map(|_| Entry::default())
            .collect();
        Self { entries, services }
    }

    #[inline]
    fn entry(&self, class: u32, service: usize) -> Option<&Entry> {
        if service >= self.services {
            return None;
        }
        let i = (class as usize)
            .checked_mul(self.services)?
            .checked_add(service)?;
        self.entries.get(i)
    }

    /// The cached content for a class and service under `generation`, if any.
    #[inline]
    pub(crate) fn get(&self, class: u32, service: usize, generation: u64) -> Option<Cached> {
        self.entry(class, service)?.read(generation)
    }

    /// Stores `content` for a class and service, made under `generation`.
    pub(crate) fn put(&self, class: u32, service: usize, generation: u64, content: Cached) {
        if let Some(e) = self.entry(class, service) {
            e.write(generation, content);
        }
    }
}

/// The health table's version: a generation number and the ejection horizon.
#[derive(Debug)]
pub(crate) struct HealthVersion {
    generation: AtomicU64,
    horizon_ms: AtomicU64,
}

/// Generations are unique in the process (across health tables), so an entry made under one
/// table's state is never taken for another table's.
static NEXT_GENERATION: AtomicU64 = AtomicU64::new(1);

fn fresh_generation() -> u64 {
    // 2^64 - 2 changes are out of reach; `EMPTY` and `LOCKED` are never handed out.
    NEXT_GENERATION.fetch_add(1, Ordering::Relaxed)
}

impl Default for HealthVersion {
    fn default() -> Self {
        Self {
            generation: AtomicU64::new(fresh_generation()),
            horizon_ms: AtomicU64::new(0),
        }
    }
}

impl HealthVersion {
    /// Records a state change that can change a routing choice.
    pub(crate) fn bump(&self) {
        self.generation.store(fresh_generation(), Ordering::Release);
    }

    /// Records an ejection that ends at `until_ms` (call before storing it).
    pub(crate) fn eject_until(&self, until_ms: u64) {
        self.horizon_ms.fetch_max(until_ms, Ordering::AcqRel);
    }

    /// The generation cached choices may be used under at `now_ms`: `None` while an ejection
    /// may be in force (the choice then depends on the time).
    #[inline]
    pub(crate) fn stamp(&self, now_ms: u64) -> Option<u64> {
        let generation = self.generation.load(Ordering::Acquire);
        (now_ms >= self.horizon_ms.load(Ordering::Acquire)).then_some(generation)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contents_round_trip_through_the_packed_words() {
        let reasons = [
            None,
            Some(FailoverReason::RegionDown),
            Some(FailoverReason::RegionUnhealthy),
            Some(FailoverReason::PoolDown),
            Some(FailoverReason::PoolUnhealthy),
            Some(FailoverReason::FallbackPool),
        ];
        let regions = [
            None,
            Some(RegionId(0)),
            Some(RegionId(63)),
            Some(RegionId(255)),
        ];
        let mut all = vec![Cached::Bypass];
        for failover in reasons {
            for preferred in regions {
                for (pool, mask) in [(0u16, 1u64), (65_535, u64::MAX), (7, 0b1010)] {
                    all.push(Cached::Resolved(Resolved::Pool {
                        pool: PoolId(pool),
                        mask,
                        failover,
                        preferred,
                    }));
                }
            }
        }
        for reason in [
            RefusalReason::Residency,
            RefusalReason::NoHealthyOrigin,
            RefusalReason::UnknownService,
        ] {
            for preferred in regions {
                all.push(Cached::Resolved(Resolved::Refused { reason, preferred }));
            }
        }
        for c in all {
            let (meta, mask) = encode(c);
            assert_eq!(decode(meta, mask), Some(c));
        }
        assert_eq!(decode(0, 0), None);
    }

    #[test]
    fn entries_answer_only_for_their_generation() {
        let cache = RouteCache::new(2, 3);
        let c = Cached::Resolved(Resolved::Refused {
            reason: RefusalReason::Residency,
            preferred: Some(RegionId(2)),
        });
        assert_eq!(cache.get(1, 2, 5), None);
        cache.put(1, 2, 5, c);
        assert_eq!(cache.get(1, 2, 5), Some(c));
        assert_eq!(cache.get(1, 2, 6), None);
        assert_eq!(cache.get(1, 1, 5), None);
        assert_eq!(cache.get(0, 2, 5), None);
        // Out of range: nothing, no panic.
        assert_eq!(cache.get(2, 0, 5), None);
        assert_eq!(cache.get(0, 3, 5), None);
        cache.put(9, 9, 5, c);
        cache.put(1, 2, 6, Cached::Bypass);
        assert_eq!(cache.get(1, 2, 6), Some(Cached::Bypass));
        assert_eq!(cache.get(1, 2, 5), None);
    }

    #[test]
    fn versions_are_unique_and_ejections_hold_the_stamp_back() {
        let a = HealthVersion::default();
        let b = HealthVersion::default();
        let (ga, gb) = (a.stamp(0).unwrap(), b.stamp(0).unwrap());
        assert_ne!(ga, gb);
        a.bump();
        let ga2 = a.stamp(0).unwrap();
        assert_ne!(ga2, ga);
        assert_ne!(ga2, gb);
        a.eject_until(1_000);
        assert_eq!(a.stamp(999), None);
        assert_eq!(a.stamp(1_000), Some(ga2));
        a.eject_until(500);
        assert_eq!(a.stamp(999), None, "the horizon never moves back");
    }
}
