//! Routing one request: location -> region -> pool -> endpoint, with health, residency and
//! failover. No heap allocation, no lock on the common path, deterministic given the input,
//! the health state and the seed.

use std::cell::Cell;
use std::net::IpAddr;

use serde::Serialize;

use super::cache::{Cached, Resolved};
use super::config::{EndpointSteering, Steering, WhenUnavailable};
use super::health::{Binding, Forced, HealthBinding, HealthTable};
use super::location::{LocationId, MatchSource};
use super::model::{
    Affinity, CompiledRouting, EndpointId, Group, GroupId, Pool, PoolId, RegionId, Service,
    ServiceId,
};
use super::select::{
    below, hash_bytes, mix64, pick_least_outstanding, pick_rendezvous, pick_weighted,
};

const POOL_SALT: u64 = 0x706f_6f6c_7069_636b;
const AFFINITY_SEED: u64 = 0x6166_6669_6e69_7479;

/// What routing needs to know about a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteInput<'a> {
    /// The service the request's host belongs to.
    pub service: ServiceId,
    /// The client's ISO 3166-1 country (`cf-ipcountry` or `ip.src.country`), either case.
    pub country: Option<[u8; 2]>,
    /// The client's ISO 3166-2 subdivision: the suffix (`CA`, as in `cf-region-code`) or the
    /// full code (`US-CA`, as in `ip.src.subdivision_1_iso_code`).
    pub subdivision: Option<&'a [u8]>,
    /// The resolved client IP (the affinity key when the service's affinity is `"ip"`).
    pub client_ip: Option<IpAddr>,
    /// The affinity key the caller extracted for a `"header:NAME"` or `"cookie:NAME"`
    /// affinity (see [`CompiledRouting::affinity`]).
    pub affinity: Option<&'a [u8]>,
}

impl RouteInput<'_> {
    /// An input for `service` with no location, client IP or affinity key.
    #[must_use]
    pub const fn new(service: ServiceId) -> Self {
        Self {
            service,
            country: None,
            subdivision: None,
            client_ip: None,
            affinity: None,
        }
    }
}

/// Why the first choice was not used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailoverReason {
    /// The preferred region is marked down.
    RegionDown,
    /// The preferred region has no healthy pool for the service.
    RegionUnhealthy,
    /// The first pool (failover steering) is marked down.
    PoolDown,
    /// The first pool (failover steering) is unhealthy.
    PoolUnhealthy,
    /// Nothing allowed was healthy: the service's fallback pool serves.
    FallbackPool,
}

impl FailoverReason {
    /// `"region_down"`, `"region_unhealthy"`, `"pool_down"`, `"pool_unhealthy"` or
    /// `"fallback_pool"`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            FailoverReason::RegionDown => "region_down",
            FailoverReason::RegionUnhealthy => "region_unhealthy",
            FailoverReason::PoolDown => "pool_down",
            FailoverReason::PoolUnhealthy => "pool_unhealthy",
            FailoverReason::FallbackPool => "fallback_pool",
        }
    }
}

/// Why a request cannot be routed (the gateway answers 503).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RefusalReason {
    /// The client's residency group allows no region that can serve, and its policy (or the
    /// fallback pool's region) forbids going elsewhere.
    Residency,
    /// No pool is healthy and the service has no fallback pool.
    NoHealthyOrigin,
    /// The service id is not in this routing.
    UnknownService,
}

impl RefusalReason {
    /// `"residency"`, `"no_healthy_origin"` or `"unknown_service"`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            RefusalReason::Residency => "residency",
            RefusalReason::NoHealthyOrigin => "no_healthy_origin",
            RefusalReason::UnknownService => "unknown_service",
        }
    }
}

/// Where a request goes. Names are borrowed from the [`CompiledRouting`]; ids stay valid for
/// it (use its `*_arc` accessors to keep names beyond its borrow without allocating).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route<'r> {
    /// The region chosen.
    pub region: RegionId,
    /// Its code.
    pub region_name: &'r str,
    /// The pool chosen.
    pub pool: PoolId,
    /// Its name.
    pub pool_name: &'r str,
    /// The endpoint chosen.
    pub endpoint: EndpointId,
    /// Its address.
    pub endpoint_address: &'r str,
    /// Why the first choice was not used (`None`: it was).
    pub failover: Option<FailoverReason>,
    /// The first choice (region of the first pool considered), when it was not used.
    pub preferred_region: Option<RegionId>,
    /// How the client's location was mapped.
    pub matched: MatchSource,
}

/// A request routing cannot place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal<'r> {
    /// Why.
    pub reason: RefusalReason,
    /// The client's residency group, if any.
    pub group: Option<&'r str>,
    /// The region that would have been preferred.
    pub preferred_region: Option<RegionId>,
    /// How the client's location was mapped.
    pub matched: MatchSource,
}

impl Refusal<'_> {
    /// The HTTP status the gateway answers with: 503.
    pub const STATUS: u16 = 503;
}

/// The result of [`CompiledRouting::route`].
#[must_use]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteOutcome<'r> {
    /// Forward to this endpoint.
    Routed(Route<'r>),
    /// Answer 503.
    Refused(Refusal<'r>),
}

impl<'r> RouteOutcome<'r> {
    /// The route, if routed.
    #[must_use]
    pub fn route(&self) -> Option<&Route<'r>> {
        match self {
            RouteOutcome::Routed(r) => Some(r),
            RouteOutcome::Refused(_) => None,
        }
    }

    /// The region's code, if routed.
    #[must_use]
    pub fn region_name(&self) -> Option<&'r str> {
        self.route().map(|r| r.region_name)
    }
}

impl CompiledRouting {
    /// The place routing uses for a client: its subdivision if known, else its country, else
    /// "unknown". Accepts subdivision suffixes (`CA`) and full codes (`US-CA`), either case.
    #[inline]
    #[must_use]
    pub fn locate(&self, country: Option<[u8; 2]>, subdivision: Option<&[u8]>) -> LocationId {
        self.locations.locate(country, subdivision)
    }

    /// The region map's answer for a location when every region is healthy (before looking
    /// at which regions a service has pools in).
    #[inline]
    #[must_use]
    pub fn preferred_region(&self, location: LocationId) -> Option<RegionId> {
        let loc = self.locations.get(location)?;
        self.locations.ranked(loc).first().copied()
    }

    /// `preferred_region(locate(country, subdivision))`: the region-map lookup.
    #[inline]
    #[must_use]
    pub fn region_for(
        &self,
        country: Option<[u8; 2]>,
        subdivision: Option<&[u8]>,
    ) -> Option<RegionId> {
        self.preferred_region(self.locate(country, subdivision))
    }

    /// The regions a location may be served from, best first: the mapped (or nearest) region,
    /// then (with `fallback = "default"`) the default region, then the rest by distance.
    /// Residency is applied: a group member's list holds only the group's regions.
    #[must_use]
    pub fn ranked_regions(&self, location: LocationId) -> &[RegionId] {
        self.locations
            .get(location)
            .map(|loc| self.locations.ranked(loc))
            .unwrap_or_default()
    }

    /// How a location's preferred region was found.
    #[must_use]
    pub fn location_match(&self, location: LocationId) -> Option<MatchSource> {
        self.locations.get(location).map(|l| l.matched)
    }

    /// A location's residency group.
    #[must_use]
    pub fn location_group(&self, location: LocationId) -> Option<GroupId> {
        self.locations.get(location).and_then(|l| l.group)
    }

    pub(crate) fn service_pools_in<'s>(
        &self,
        service: &'s Service,
        region: RegionId,
    ) -> &'s [PoolId] {
        let (start, len) = service
            .pools_by_region
            .get(region.index())
            .copied()
            .unwrap_or((0, 0));
        let (start, len) = (start as usize, len as usize);
        service
            .region_pools
            .get(start..start.saturating_add(len))
            .unwrap_or_default()
    }

    /// Routes one request: the region map (or the service's steering) picks a pool, the pool's
    /// endpoint steering picks an endpoint, skipping whatever `health` says cannot serve and
    /// never leaving the client's residency group. `now_ms` is the caller's time (ejections
    /// end at a time); `seed` drives the weighted random choices, so the same input, health
    /// and seed always give the same answer.
    ///
    /// Allocation-free and lock-free once `health` is bound to this routing (see
    /// [`HealthTable::register`]). Finding the binding costs one `ArcSwap` load; callers that
    /// keep a [`HealthBinding`] beside the routing save it with
    /// [`route_bound`](Self::route_bound).
    ///
    /// The pool choice (everything but the endpoint pick) is cached per location class and
    /// service against the health table's generation, so a request whose choice did not
    /// change since the last one like it skips the walk over regions and pools; the answer is
    /// always the one routing without the cache gives.
    pub fn route<'r>(
        &'r self,
        input: &RouteInput<'_>,
        health: &HealthTable,
        now_ms: u64,
        seed: u64,
    ) -> RouteOutcome<'r> {
        let binding = health.binding(self);
        self.route_with(input, &binding, now_ms, &|| seed)
    }

    /// [`route`](Self::route) with a binding made earlier by [`HealthTable::bind`] for this
    /// routing. A binding made for another routing (another layout of names) is not used:
    /// routing then looks the right one up in `health`, so a mix-up costs time, never
    /// correctness.
    pub fn route_bound<'r>(
        &'r self,
        input: &RouteInput<'_>,
        health: &HealthTable,
        bound: &HealthBinding,
        now_ms: u64,
        seed: u64,
    ) -> RouteOutcome<'r> {
        self.route_bound_lazy(input, health, bound, now_ms, || seed)
    }

    /// [`route_bound`](Self::route_bound) with the seed made only when a choice needs it (a
    /// weighted pick between pools or endpoints, a hash pick without a key, a
    /// least-outstanding tie-break): `seed` is called at most once, and the answer is the
    /// same as `route_bound(.., seed())`.
    pub fn route_bound_lazy<'r>(
        &'r self,
        input: &RouteInput<'_>,
        health: &HealthTable,
        bound: &HealthBinding,
        now_ms: u64,
        seed: impl Fn() -> u64,
    ) -> RouteOutcome<'r> {
        match bound.for_layout(self.layout_id) {
            Some(binding) => self.route_with(input, binding, now_ms, &seed),
            None => {
                let binding = health.binding(self);
                self.route_with(input, &binding, now_ms, &seed)
            }
        }
    }

    fn route_with<'r>(
        &'r self,
        input: &RouteInput<'_>,
        binding: &Binding,
        now_ms: u64,
        seed: &dyn Fn() -> u64,
    ) -> RouteOutcome<'r> {
        let location = self.locations.locate(input.country, input.subdivision);
        let loc = self.locations.get(location);
        let (matched, group_id) =
            loc.map_or((MatchSource::Unknown, None), |l| (l.matched, l.group));
        let group = group_id.and_then(|g| self.groups.get(g.index()));
        let Some(service) = self.services.get(input.service.index()) else {
            return RouteOutcome::Refused(Refusal {
                reason: RefusalReason::UnknownService,
                group: group.map(|g| &*g.name),
                preferred_region: None,
                matched,
            });
        };
        let cx = Cx {
            routing: self,
            binding,
            service,
            input,
            now_ms,
            make_seed: seed,
            seed: Cell::new(None),
        };
        let ranked = || loc.map_or(&[][..], |l| self.locations.ranked(l));
        let service_index = input.service.index();
        let stamp = loc.and_then(|l| Some((l.class, binding.version().stamp(now_ms)?)));
        let resolved = match stamp
            .and_then(|(class, generation)| self.route_cache.get(class, service_index, generation))
        {
            Some(Cached::Resolved(resolved)) => resolved,
            Some(Cached::Bypass) => cx.resolve(ranked(), group),
            None => {
                let resolved = cx.resolve(ranked(), group);
                if let Some((class, generation)) = stamp {
                    // A choice that drew on the seed is not the same for every request.
                    let content = if cx.seed.get().is_some() {
                        Cached::Bypass
                    } else {
                        Cached::Resolved(resolved)
                    };
                    self.route_cache
                        .put(class, service_index, generation, content);
                }
                resolved
            }
        };
        cx.outcome(resolved, group, matched)
    }
}

type First = (RegionId, Option<PoolId>, FailoverReason);

/// Per-call context of [`CompiledRouting::route`].
struct Cx<'a, 'r> {
    routing: &'r CompiledRouting,
    binding: &'a Binding,
    service: &'r Service,
    input: &'a RouteInput<'a>,
    now_ms: u64,
    make_seed: &'a dyn Fn() -> u64,
    /// The seed, once made.
    seed: Cell<Option<u64>>,
}

impl<'r> Cx<'_, 'r> {
    /// The request's seed (made on first use).
    #[inline]
    fn seed(&self) -> u64 {
        if let Some(seed) = self.seed.get() {
            return seed;
        }
        let seed = (self.make_seed)();
        self.seed.set(Some(seed));
        seed
    }

    /// The choice before the endpoint pick: walks the service's steering over the ranked
    /// regions (or its ordered pools), then the fallback pool, then refuses.
    fn resolve(&self, ranked: &[RegionId], group: Option<&Group>) -> Resolved {
        let routing = self.routing;
        let service = self.service;
        let binding = self.binding;
        let allowed = group.map_or(u64::MAX, |g| g.allowed);

        // The first choice that could not serve: its region, its pool (failover steering) and
        // why.
        let mut first: Option<First> = None;
        match service.steering {
            Steering::Geo => {
                for &region in ranked {
                    if service.region_mask & region.bit() == 0 {
                        continue;
                    }
                    let reason = if binding.region_forced(region) == Forced::Down {
                        FailoverReason::RegionDown
                    } else if let Some((pool, mask)) =
                        self.pick_pool(routing.service_pools_in(service, region))
                        && let Some(chosen) = self.chosen(pool, mask, first, false)
                    {
                        return chosen;
                    } else {
                        FailoverReason::RegionUnhealthy
                    };
                    first.get_or_insert((region, None, reason));
                }
            }
            Steering::Failover => {
                for &pool in &service.ordered_pools {
                    let Some(p) = routing.pools.get(pool.index()) else {
                        continue;
                    };
                    if allowed & p.region.bit() == 0 {
                        continue;
                    }
                    if let Some(mask) = self.healthy_mask(pool, p)
                        && let Some(chosen) = self.chosen(pool, mask, first, false)
                    {
                        return chosen;
                    }
                    let down = binding.region_forced(p.region) == Forced::Down
                        || binding.pool_forced(pool) == Forced::Down;
                    let reason = if down {
                        FailoverReason::PoolDown
                    } else {
                        FailoverReason::PoolUnhealthy
                    };
                    first.get_or_insert((p.region, Some(pool), reason));
                }
            }
            Steering::Random => {
                if let Some((pool, mask)) = self.pick_weighted(&service.ordered_pools, allowed)
                    && let Some(chosen) = self.chosen(pool, mask, None, false)
                {
                    return chosen;
                }
            }
        }

        // Nothing allowed is healthy: the fallback pool, if residency permits. As the pool of
        // last resort it serves even when unhealthy, from its usable endpoints if it has any.
        let fallback = service.fallback_pool.filter(|&pool| {
            let inside = routing
                .pools
                .get(pool.index())
                .is_some_and(|p| allowed & p.region.bit() != 0);
            match group {
                None => true,
                Some(g) => g.when_unavailable == WhenUnavailable::FallbackPool && inside,
            }
        });
        if let Some(pool) = fallback
            && let Some(p) = routing.pools.get(pool.index())
            && let Some(chosen) = self.chosen(pool, self.last_resort_mask(p), first, true)
        {
            return chosen;
        }
        let reason = if group.is_some() {
            RefusalReason::Residency
        } else {
            RefusalReason::NoHealthyOrigin
        };
        Resolved::Refused {
            reason,
            preferred: first.map(|(r, ..)| r).or_else(|| ranked.first().copied()),
        }
    }

    /// `pool` with its usable endpoints `mask` as the choice, unless it has no endpoint to
    /// pick (an empty mask). `fallback`: the pool serves as the fallback pool.
    #[inline]
    fn chosen(
        &self,
        pool_id: PoolId,
        mask: u64,
        first: Option<First>,
        fallback: bool,
    ) -> Option<Resolved> {
        let pool = self.routing.pools.get(pool_id.index())?;
        self.routing.regions.get(pool.region.index())?;
        // Every bit of a usable mask is an endpoint with weight, so every steering method
        // picks one of them when the mask is not empty (and none when it is).
        if mask == 0 {
            return None;
        }
        let (failover, preferred) = match first {
            _ if fallback => (Some(FailoverReason::FallbackPool), first.map(|(r, ..)| r)),
            Some((r, Some(p), reason)) if p != pool_id => (Some(reason), Some(r)),
            Some((r, None, reason)) if r != pool.region => (Some(reason), Some(r)),
            _ => (None, None),
        };
        Some(Resolved::Pool {
            pool: pool_id,
            mask,
            failover,
            preferred,
        })
    }

    /// The outcome of a choice: picks the endpoint (returned whole, so it is written once, in
    /// place).
    #[inline]
    fn outcome(
        &self,
        resolved: Resolved,
        group: Option<&'r Group>,
        matched: MatchSource,
    ) -> RouteOutcome<'r> {
        let (reason, preferred_region) = match resolved {
            Resolved::Pool {
                pool,
                mask,
                failover,
                preferred,
            } => match self.finish(pool, mask, failover, preferred, matched) {
                Some(route) => return RouteOutcome::Routed(route),
                // Unreachable: `chosen` only accepts masks an endpoint can be picked from.
                None => (RefusalReason::NoHealthyOrigin, preferred),
            },
            Resolved::Refused { reason, preferred } => (reason, preferred),
        };
        RouteOutcome::Refused(Refusal {
            reason,
            group: group.map(|g| &*g.name),
            preferred_region,
            matched,
        })
    }

    /// The pool's usable endpoints (weight > 0 and usable by health), one bit each in pool
    /// order. One pass of relaxed atomic loads; every later decision reads the mask.
    #[inline]
    fn usable_mask(&self, pool: &Pool) -> u64 {
        let monitored = pool.monitor.is_some();
        let unknown = self.service.unknown_healthy;
        let configs = self.routing.endpoints_of(pool);
        let states = self
            .binding
            .endpoint_range(pool.first_endpoint, pool.endpoint_count);
        let mut mask = 0u64;
        // INVARIANT: pools have at most 64 endpoints (checked at compile), so `bit` < 64.
        for (bit, (e, state)) in (0u32..64).zip(configs.iter().zip(states)) {
            if e.weight > 0 && state.usable(monitored, unknown, self.now_ms) {
                mask |= 1 << bit;
            }
        }
        mask
    }

    /// The usable endpoints, or every endpoint with weight when none is usable: for a pool
    /// that serves whatever its health (the fallback pool, a pool forced up).
    fn last_resort_mask(&self, pool: &Pool) -> u64 {
        match self.usable_mask(pool) {
            0 => (0u32..64)
                .zip(self.routing.pool_endpoints(pool))
                .filter(|(_, (_, e))| e.weight > 0)
                .fold(0, |m, (bit, _)| m | 1 << bit),
            mask => mask,
        }
    }

    /// `Some(usable endpoints)` when the pool counts as healthy: it and its region are not
    /// forced down, and it has `minimum_origins` usable endpoints (or is forced up).
    #[inline]
    fn healthy_mask(&self, id: PoolId, pool: &Pool) -> Option<u64> {
        if self.binding.region_forced(pool.region) == Forced::Down {
            return None;
        }
        self.pool_mask(id, pool)
    }

    /// [`healthy_mask`](Self::healthy_mask) for a pool whose region is known not to be
    /// forced down.
    #[inline]
    fn pool_mask(&self, id: PoolId, pool: &Pool) -> Option<u64> {
        match self.binding.pool_forced(id) {
            Forced::Down => None,
            Forced::Up => Some(self.last_resort_mask(pool)),
            Forced::Auto => {
                let mask = self.usable_mask(pool);
                (mask.count_ones() >= pool.minimum_origins).then_some(mask)
            }
        }
    }

    /// A healthy pool among `pools` (whose region is not forced down), chosen by pool weight
    /// (see [`pick_weighted`](Self::pick_weighted)), with its usable endpoints.
    #[inline]
    fn pick_pool(&self, pools: &[PoolId]) -> Option<(PoolId, u64)> {
        if let [only] = pools {
            let p = self.routing.pools.get(only.index())?;
            return if p.weight == 0 {
                None
            } else {
                self.pool_mask(*only, p).map(|mask| (*only, mask))
            };
        }
        self.pick_weighted(pools, u64::MAX)
    }

    /// A healthy pool among `pools` whose region is in `allowed` (a region bit mask), chosen
    /// by pool weight in one pass (weighted reservoir sampling: candidate `i` replaces the
    /// choice with probability `w_i / (w_1 + ... + w_i)`), with its usable endpoints.
    #[inline]
    fn pick_weighted(&self, pools: &[PoolId], allowed: u64) -> Option<(PoolId, u64)> {
        let mut total = 0u64;
        let mut chosen = None;
        for (i, &id) in (0u64..).zip(pools) {
            let Some(p) = self.routing.pools.get(id.index()) else {
                continue;
            };
            if p.weight == 0 || allowed & p.region.bit() == 0 {
                continue;
            }
            let Some(mask) = self.healthy_mask(id, p) else {
                continue;
            };
            let weight = u64::from(p.weight);
            total += weight;
            if below(mix64(self.seed() ^ POOL_SALT ^ i), total) < weight {
                chosen = Some((id, mask));
            }
        }
        chosen
    }

    /// Picks the endpoint among `mask` and builds the route.
    #[inline]
    fn finish(
        &self,
        pool_id: PoolId,
        mask: u64,
        failover: Option<FailoverReason>,
        preferred_region: Option<RegionId>,
        matched: MatchSource,
    ) -> Option<Route<'r>> {
        let routing = self.routing;
        let pool = routing.pools.get(pool_id.index())?;
        let bit = self.pick_endpoint(pool, mask)?;
        let endpoint = EndpointId(pool.first_endpoint.checked_add(bit)?);
        let region = routing.regions.get(pool.region.index())?;
        let address = routing.endpoints.get(endpoint.index())?;
        Some(Route {
            region: pool.region,
            region_name: &region.name,
            pool: pool_id,
            pool_name: &pool.name,
            endpoint,
            endpoint_address: &address.address,
            failover,
            preferred_region,
            matched,
        })
    }

    /// The bit (position in the pool) of the endpoint to use among `mask`.
    #[inline]
    fn pick_endpoint(&self, pool: &Pool, mask: u64) -> Option<u32> {
        if mask.is_power_of_two() {
            // One candidate: every steering method agrees.
            return Some(mask.trailing_zeros());
        }
        let endpoints = self.routing.endpoints_of(pool);
        let get = |b: u32| endpoints.get(b as usize);
        let weight = |b: u32| get(b).map_or(0, |e| e.weight);
        let random = || mix64(self.seed() ^ pool.hash);
        match pool.steering {
            EndpointSteering::Hash => match self.affinity_hash() {
                Some(key) => pick_rendezvous(
                    mask,
                    |b| get(b).map_or((0, 0), |e| (e.hash, e.weight)),
                    key,
                    pool.uniform_weights,
                ),
                None => pick_weighted(mask, weight, random()),
            },
            EndpointSteering::LeastOutstanding => pick_least_outstanding(
                mask,
                |b| {
                    let outstanding = self
                        .binding
                        .endpoint(EndpointId(pool.first_endpoint.saturating_add(b)))
                        .map_or(0, |s| s.outstanding());
                    get(b).map_or((0, 0, 0), |e| (outstanding, e.weight, e.hash))
                },
                random(),
            ),
            EndpointSteering::Random => pick_weighted(mask, weight, random()),
        }
    }

    /// The hash of the request's affinity key, if the service has one and the request has it.
    fn affinity_hash(&self) -> Option<u64> {
        match self.service.affinity.as_ref()? {
            Affinity::ClientIp => match self.input.client_ip? {
                IpAddr::V4(v4) => Some(hash_bytes(AFFINITY_SEED, &v4.octets())),
                IpAddr::V6(v6) => Some(hash_bytes(AFFINITY_SEED, &v6.octets())),
            },
            Affinity::Header(_) | Affinity::Cookie(_) => self
                .input
                .affinity
                .map(|key| hash_bytes(AFFINITY_SEED, key)),
        }
    }
}

/// The value of cookie `name` in a `Cookie` header value (`a=1; b=2`), for callers that
/// extract a `"cookie:NAME"` affinity key. No allocation.
#[must_use]
pub fn cookie_value<'a>(cookie_header: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    cookie_header.split(|&b| b == b';').find_map(|pair| {
        let pair = pair.trim_ascii();
        let eq = pair.iter().position(|&b| b == b'=')?;
        let (k, v) = pair.split_at(eq);
        (k.trim_ascii() == name).then(|| v.get(1..).unwrap_or_default().trim_ascii())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_values_are_found_by_exact_name() {
        let h = b"theme=dark; session=abc123 ; sess=x";
        assert_eq!(cookie_value(h, b"session"), Some(&b"abc123"[..]));
        assert_eq!(cookie_value(h, b"sess"), Some(&b"x"[..]));
        assert_eq!(cookie_value(h, b"none"), None);
        assert_eq!(cookie_value(b"flag", b"flag"), None);
        assert_eq!(cookie_value(b"a=", b"a"), Some(&b""[..]));
    }
}

/// Routing as it was before the route cache (one walk per request, the endpoint picked inside
/// the walk), kept to check the cached path against.
#[cfg(test)]
pub(crate) mod reference {
    use super::*;

    impl CompiledRouting {
        /// [`CompiledRouting::route`] without the cache.
        pub(crate) fn route_reference<'r>(
            &'r self,
            input: &RouteInput<'_>,
            health: &HealthTable,
            now_ms: u64,
            seed: u64,
        ) -> RouteOutcome<'r> {
            let binding = health.binding(self);
            let binding: &Binding = &binding;
            let location = self.locations.locate(input.country, input.subdivision);
            let (matched, group_id, ranked) = match self.locations.get(location) {
                Some(loc) => (loc.matched, loc.group, self.locations.ranked(loc)),
                None => (MatchSource::Unknown, None, &[][..]),
            };
            let group = group_id.and_then(|g| self.groups.get(g.index()));
            let refuse = |reason, preferred_region| {
                RouteOutcome::Refused(Refusal {
                    reason,
                    group: group.map(|g| &*g.name),
                    preferred_region,
                    matched,
                })
            };
            let Some(service) = self.services.get(input.service.index()) else {
                return refuse(RefusalReason::UnknownService, None);
            };
            let allowed = group.map_or(u64::MAX, |g| g.allowed);
            let make_seed = || seed;
            let cx = Cx {
                routing: self,
                binding,
                service,
                input,
                now_ms,
                make_seed: &make_seed,
                seed: Cell::new(None),
            };
            let finish = |pool_id: PoolId, mask: u64, first: Option<First>, fallback: bool| {
                let pool = self.pools.get(pool_id.index())?;
                let (failover, preferred_region) = match first {
                    _ if fallback => (Some(FailoverReason::FallbackPool), first.map(|(r, ..)| r)),
                    Some((r, Some(p), reason)) if p != pool_id => (Some(reason), Some(r)),
                    Some((r, None, reason)) if r != pool.region => (Some(reason), Some(r)),
                    _ => (None, None),
                };
                cx.finish(pool_id, mask, failover, preferred_region, matched)
                    .map(RouteOutcome::Routed)
            };

            let mut first: Option<First> = None;
            match service.steering {
                Steering::Geo => {
                    for &region in ranked {
                        if service.region_mask & region.bit() == 0 {
                            continue;
                        }
                        let reason = if binding.region_forced(region) == Forced::Down {
                            FailoverReason::RegionDown
                        } else if let Some((pool, mask)) =
                            cx.pick_pool(self.service_pools_in(service, region))
                            && let Some(outcome) = finish(pool, mask, first, false)
                        {
                            return outcome;
                        } else {
                            FailoverReason::RegionUnhealthy
                        };
                        first.get_or_insert((region, None, reason));
                    }
                }
                Steering::Failover => {
                    for &pool in &service.ordered_pools {
                        let Some(p) = self.pools.get(pool.index()) else {
                            continue;
                        };
                        if allowed & p.region.bit() == 0 {
                            continue;
                        }
                        if let Some(mask) = cx.healthy_mask(pool, p)
                            && let Some(outcome) = finish(pool, mask, first, false)
                        {
                            return outcome;
                        }
                        let down = binding.region_forced(p.region) == Forced::Down
                            || binding.pool_forced(pool) == Forced::Down;
                        let reason = if down {
                            FailoverReason::PoolDown
                        } else {
                            FailoverReason::PoolUnhealthy
                        };
                        first.get_or_insert((p.region, Some(pool), reason));
                    }
                }
                Steering::Random => {
                    let mut total = 0u64;
                    let mut chosen = None;
                    for (i, &id) in (0u64..).zip(service.ordered_pools.iter()) {
                        let Some(p) = self.pools.get(id.index()) else {
                            continue;
                        };
                        if p.weight == 0 || allowed & p.region.bit() == 0 {
                            continue;
                        }
                        let Some(mask) = cx.healthy_mask(id, p) else {
                            continue;
                        };
                        let weight = u64::from(p.weight);
                        total += weight;
                        if below(mix64(seed ^ POOL_SALT ^ i), total) < weight {
                            chosen = Some((id, mask));
                        }
                    }
                    if let Some((pool, mask)) = chosen
                        && let Some(outcome) = finish(pool, mask, None, false)
                    {
                        return outcome;
                    }
                }
            }
            let fallback = service.fallback_pool.filter(|&pool| {
                let inside = self
                    .pools
                    .get(pool.index())
                    .is_some_and(|p| allowed & p.region.bit() != 0);
                match group {
                    None => true,
                    Some(g) => g.when_unavailable == WhenUnavailable::FallbackPool && inside,
                }
            });
            if let Some(pool) = fallback
                && let Some(p) = self.pools.get(pool.index())
                && let Some(outcome) = finish(pool, cx.last_resort_mask(p), first, true)
            {
                return outcome;
            }
            let reason = if group.is_some() {
                RefusalReason::Residency
            } else {
                RefusalReason::NoHealthyOrigin
            };
            refuse(
                reason,
                first.map(|(r, ..)| r).or_else(|| ranked.first().copied()),
            )
        }
    }
}
