//! The compiled routing: immutable tables indexed by small ids, built once per policy load by
//! [`RoutingConfig::compile`](super::RoutingConfig::compile).

use std::fmt;
use std::sync::Arc;

use edgeroute_geo::LatLon;

use super::cache::RouteCache;
use super::config::{
    EndpointSteering, FallbackMode, MonitorKind, RegionRole, Steering, WhenUnavailable,
};
use super::location::Locations;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $int:ty) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub(crate) $int);

        impl $name {
            /// The id as an index into the compiled routing's table of this kind.
            #[must_use]
            pub const fn index(self) -> usize {
                self.0 as usize
            }

            /// The id with this index, if it fits the id type (whether it exists depends on
            /// the compiled routing; lookups with an unknown id return `None`).
            #[must_use]
            pub fn from_index(index: usize) -> Option<Self> {
                <$int>::try_from(index).ok().map(Self)
            }
        }
    };
}

id_type!(
    /// A region of a [`CompiledRouting`], in region-code order.
    RegionId, u8
);
id_type!(
    /// A service of a [`CompiledRouting`], in name order.
    ServiceId, u16
);
id_type!(
    /// A pool of a [`CompiledRouting`].
    PoolId, u16
);
id_type!(
    /// An endpoint of a [`CompiledRouting`].
    EndpointId, u32
);
id_type!(
    /// A residency group of a [`CompiledRouting`], in name order.
    GroupId, u8
);

/// The most regions a routing section may declare (region sets are 64-bit masks).
pub const MAX_REGIONS: usize = 64;

impl RegionId {
    /// The region's bit in a region set (a 64-bit mask, see [`MAX_REGIONS`]).
    #[inline]
    pub(crate) const fn bit(self) -> u64 {
        1u64 << (self.0 & 63)
    }
}

/// The most endpoints a pool may have (a pool's usable endpoints are a 64-bit mask).
pub const MAX_POOL_ENDPOINTS: usize = 64;

/// An immutable, compiled routing section: `Send + Sync + 'static`, cheap to share behind the
/// policy's `Arc`. Health lives outside it in a [`HealthTable`](super::HealthTable).
#[derive(Debug)]
pub struct CompiledRouting {
    pub(crate) regions: Box<[Region]>,
    pub(crate) services: Box<[Service]>,
    pub(crate) pools: Box<[Pool]>,
    pub(crate) endpoints: Box<[Endpoint]>,
    pub(crate) monitors: Box<[Monitor]>,
    pub(crate) groups: Box<[Group]>,
    pub(crate) locations: Locations,
    /// Every name a health report or `--down` may use, sorted by name.
    pub(crate) targets: Box<[(Box<str>, Target)]>,
    /// Endpoint ids grouped by address, for [`Target::Address`].
    pub(crate) address_endpoints: Box<[EndpointId]>,
    /// Subdivision codes that are keys of the region map, sorted.
    pub(crate) mapped_subdivisions: Box<[Box<str>]>,
    pub(crate) default_region: RegionId,
    pub(crate) fallback: FallbackMode,
    /// A hash of every region, pool and endpoint name in id order: two compiled routings with
    /// the same layout share a health binding.
    pub(crate) layout_id: u64,
    /// The pool chosen per (location class, service), against the health table's generation.
    pub(crate) route_cache: RouteCache,
}

#[derive(Debug)]
pub(crate) struct Region {
    pub(crate) name: Arc<str>,
    pub(crate) role: RegionRole,
    pub(crate) point: LatLon,
}

#[derive(Debug)]
pub(crate) struct Service {
    pub(crate) name: Arc<str>,
    pub(crate) steering: Steering,
    pub(crate) affinity: Option<Affinity>,
    pub(crate) unknown_healthy: bool,
    pub(crate) fallback_pool: Option<PoolId>,
    /// Per region id: the range of `region_pools` holding this service's active pools there.
    pub(crate) pools_by_region: Box<[(u32, u32)]>,
    pub(crate) region_pools: Box<[PoolId]>,
    /// Regions where the service has an active pool.
    pub(crate) region_mask: u64,
    /// Active pools in failover order (steering `failover`) or declaration order.
    pub(crate) ordered_pools: Box<[PoolId]>,
}

#[derive(Debug)]
pub(crate) struct Pool {
    pub(crate) name: Arc<str>,
    pub(crate) service: ServiceId,
    pub(crate) region: RegionId,
    pub(crate) weight: u32,
    pub(crate) standby: bool,
    pub(crate) minimum_origins: u32,
    pub(crate) monitor: Option<u16>,
    pub(crate) steering: EndpointSteering,
    pub(crate) outlier: Option<Outlier>,
    pub(crate) first_endpoint: u32,
    pub(crate) endpoint_count: u32,
    /// Every endpoint with weight has the same weight (rendezvous hashing can then compare
    /// hashes directly).
    pub(crate) uniform_weights: bool,
    pub(crate) hash: u64,
}

#[derive(Debug)]
pub(crate) struct Endpoint {
    /// `pool/address`: the endpoint's stable health key.
    pub(crate) key: Arc<str>,
    pub(crate) address: Arc<str>,
    pub(crate) weight: u32,
    pub(crate) pool: PoolId,
    /// Hash of the address: the endpoint's identity for rendezvous hashing.
    pub(crate) hash: u64,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Outlier {
    pub(crate) consecutive_5xx: u32,
    pub(crate) base_ejection_ms: u64,
    pub(crate) max_ejection_ms: u64,
    pub(crate) max_ejection_percent: u32,
}

#[derive(Debug)]
pub(crate) struct Group {
    pub(crate) name: Arc<str>,
    pub(crate) allowed: u64,
    pub(crate) when_unavailable: WhenUnavailable,
}

/// What a health report or `--down` name refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    Region(RegionId),
    Pool(PoolId),
    Endpoint(EndpointId),
    /// Every endpoint with this address: `address_endpoints[start..start + len]`.
    Address(u32, u32),
}

/// Where the affinity key of `"hash"` endpoint steering comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Affinity {
    /// The resolved client IP address.
    ClientIp,
    /// A request header, by lowercase name.
    Header(Box<str>),
    /// A cookie, by name.
    Cookie(Box<str>),
}

/// A compiled health monitor. The gateway or simulator runs the checks; the
/// [`HealthTable`](super::HealthTable) applies their results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Monitor {
    pub(crate) name: Arc<str>,
    pub(crate) kind: MonitorKind,
    pub(crate) path: Box<str>,
    pub(crate) method: Box<str>,
    pub(crate) port: u16,
    pub(crate) expected: Box<[(u16, u16)]>,
    pub(crate) interval_ms: u64,
    pub(crate) timeout_ms: u64,
    pub(crate) retries: u32,
    pub(crate) consecutive_down: u32,
    pub(crate) consecutive_up: u32,
}

impl Monitor {
    /// The monitor's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }
    /// http, https or tcp.
    #[must_use]
    pub fn kind(&self) -> MonitorKind {
        self.kind
    }
    /// The request path (http and https).
    #[must_use]
    pub fn path(&self) -> &str {
        &self.path
    }
    /// The request method (http and https).
    #[must_use]
    pub fn method(&self) -> &str {
        &self.method
    }
    /// The port probed.
    #[must_use]
    pub fn port(&self) -> u16 {
        self.port
    }
    /// Whether an http(s) check answered with `status` passes.
    #[must_use]
    pub fn expects(&self, status: u16) -> bool {
        self.expected
            .iter()
            .any(|&(lo, hi)| (lo..=hi).contains(&status))
    }
    /// Time between checks, in ms.
    #[must_use]
    pub fn interval_ms(&self) -> u64 {
        self.interval_ms
    }
    /// Time one attempt may take, in ms.
    #[must_use]
    pub fn timeout_ms(&self) -> u64 {
        self.timeout_ms
    }
    /// Extra attempts before a check fails.
    #[must_use]
    pub fn retries(&self) -> u32 {
        self.retries
    }
    /// Failed checks in a row that mark an endpoint down.
    #[must_use]
    pub fn consecutive_down(&self) -> u32 {
        self.consecutive_down
    }
    /// Passed checks in a row that mark an endpoint up.
    #[must_use]
    pub fn consecutive_up(&self) -> u32 {
        self.consecutive_up
    }
}

/// One endpoint to probe, as listed by [`CompiledRouting::probe_targets`].
#[derive(Debug, Clone, Copy)]
pub struct ProbeTarget<'r> {
    /// The endpoint.
    pub endpoint: EndpointId,
    /// Its stable health key, `pool/address`; pass it to
    /// [`HealthTable::report_probe`](super::HealthTable::report_probe).
    pub key: &'r str,
    /// Its address.
    pub address: &'r str,
    /// Its pool's name.
    pub pool: &'r str,
    /// Its region's code.
    pub region: &'r str,
    /// The monitor that probes it.
    pub monitor: &'r Monitor,
}

impl CompiledRouting {
    /// The declared regions' codes, in [`RegionId`] order.
    pub fn region_names(&self) -> impl ExactSizeIterator<Item = &str> {
        self.regions.iter().map(|r| &*r.name)
    }

    /// A region's code.
    #[must_use]
    pub fn region_name(&self, id: RegionId) -> Option<&str> {
        self.regions.get(id.index()).map(|r| &*r.name)
    }

    /// A region's code as a shared string (cloning it does not allocate).
    #[must_use]
    pub fn region_name_arc(&self, id: RegionId) -> Option<&Arc<str>> {
        self.regions.get(id.index()).map(|r| &r.name)
    }

    /// A region's role.
    #[must_use]
    pub fn region_role(&self, id: RegionId) -> Option<RegionRole> {
        self.regions.get(id.index()).map(|r| r.role)
    }

    /// The id of a declared region by code.
    #[must_use]
    pub fn region_id(&self, code: &str) -> Option<RegionId> {
        self.regions
            .iter()
            .position(|r| &*r.name == code)
            .and_then(|i| u8::try_from(i).ok())
            .map(RegionId)
    }

    /// The default region.
    #[must_use]
    pub fn default_region(&self) -> RegionId {
        self.default_region
    }

    /// The ISO 3166-2 codes the region map names explicitly (`US-CA`, ...), sorted.
    pub fn mapped_subdivisions(&self) -> impl ExactSizeIterator<Item = &str> {
        self.mapped_subdivisions.iter().map(|s| &**s)
    }

    /// The section's fallback rule.
    #[must_use]
    pub fn fallback_mode(&self) -> FallbackMode {
        self.fallback
    }

    /// The services' names, in [`ServiceId`] order.
    pub fn service_names(&self) -> impl ExactSizeIterator<Item = &str> {
        self.services.iter().map(|s| &*s.name)
    }

    /// The id of a service by name.
    #[must_use]
    pub fn service_id(&self, name: &str) -> Option<ServiceId> {
        self.services
            .binary_search_by(|s| (*s.name).cmp(name))
            .ok()
            .and_then(|i| u16::try_from(i).ok())
            .map(ServiceId)
    }

    /// A service's name.
    #[must_use]
    pub fn service_name(&self, id: ServiceId) -> Option<&str> {
        self.services.get(id.index()).map(|s| &*s.name)
    }

    /// Where a service's `"hash"` steering takes its key from, if it has one. The caller
    /// extracts that value from the request and passes it as [`RouteInput::affinity`](super::RouteInput::affinity)
    /// (for [`Affinity::ClientIp`] the client IP is used directly).
    #[must_use]
    pub fn affinity(&self, id: ServiceId) -> Option<&Affinity> {
        self.services
            .get(id.index())
            .and_then(|s| s.affinity.as_ref())
    }

    /// A pool's name.
    #[must_use]
    pub fn pool_name(&self, id: PoolId) -> Option<&str> {
        self.pools.get(id.index()).map(|p| &*p.name)
    }

    /// A pool's name as a shared string.
    #[must_use]
    pub fn pool_name_arc(&self, id: PoolId) -> Option<&Arc<str>> {
        self.pools.get(id.index()).map(|p| &p.name)
    }

    /// A pool's region.
    #[must_use]
    pub fn pool_region(&self, id: PoolId) -> Option<RegionId> {
        self.pools.get(id.index()).map(|p| p.region)
    }

    /// The number of pools.
    #[must_use]
    pub fn pool_count(&self) -> usize {
        self.pools.len()
    }

    /// An endpoint's address.
    #[must_use]
    pub fn endpoint_address(&self, id: EndpointId) -> Option<&str> {
        self.endpoints.get(id.index()).map(|e| &*e.address)
    }

    /// An endpoint's address as a shared string.
    #[must_use]
    pub fn endpoint_address_arc(&self, id: EndpointId) -> Option<&Arc<str>> {
        self.endpoints.get(id.index()).map(|e| &e.address)
    }

    /// An endpoint's stable health key, `pool/address`.
    #[must_use]
    pub fn endpoint_key(&self, id: EndpointId) -> Option<&str> {
        self.endpoints.get(id.index()).map(|e| &*e.key)
    }

    /// The number of endpoints.
    #[must_use]
    pub fn endpoint_count(&self) -> usize {
        self.endpoints.len()
    }

    /// A residency group's name.
    #[must_use]
    pub fn group_name(&self, id: GroupId) -> Option<&str> {
        self.groups.get(id.index()).map(|g| &*g.name)
    }

    /// The monitors, by name order.
    #[must_use]
    pub fn monitors(&self) -> &[Monitor] {
        &self.monitors
    }

    /// Every monitored endpoint with its monitor: what a prober (the gateway's or the
    /// simulator's) must check.
    pub fn probe_targets(&self) -> impl Iterator<Item = ProbeTarget<'_>> {
        self.endpoints.iter().enumerate().filter_map(|(i, e)| {
            let pool = self.pools.get(e.pool.index())?;
            let monitor = self.monitors.get(usize::from(pool.monitor?))?;
            let region = self.regions.get(pool.region.index())?;
            Some(ProbeTarget {
                endpoint: EndpointId(u32::try_from(i).ok()?),
                key: &e.key,
                address: &e.address,
                pool: &pool.name,
                region: &region.name,
                monitor,
            })
        })
    }

    /// Whether `name` is a region, pool, endpoint key (`pool/address`) or endpoint address of
    /// this routing: the names health reports and `--down` accept.
    #[must_use]
    pub fn is_target(&self, name: &str) -> bool {
        self.target(name).is_some()
    }

    pub(crate) fn target(&self, name: &str) -> Option<Target> {
        self.targets
            .binary_search_by(|(n, _)| (**n).cmp(name))
            .ok()
            .and_then(|i| self.targets.get(i))
            .map(|(_, t)| *t)
    }

    /// The pool's endpoints, in pool order (bit `b` of an endpoint mask is the `b`-th).
    #[inline]
    pub(crate) fn endpoints_of(&self, pool: &Pool) -> &[Endpoint] {
        let start = pool.first_endpoint as usize;
        let end = start.saturating_add(pool.endpoint_count as usize);
        self.endpoints.get(start..end).unwrap_or_default()
    }

    /// The pool's endpoints with their ids, in pool order.
    pub(crate) fn pool_endpoints(
        &self,
        pool: &Pool,
    ) -> impl Iterator<Item = (EndpointId, &Endpoint)> + Clone {
        self.endpoints_of(pool)
            .iter()
            .zip(pool.first_endpoint..)
            .map(|(e, i)| (EndpointId(i), e))
    }
}

impl fmt::Display for RegionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "region#{}", self.0)
    }
}
