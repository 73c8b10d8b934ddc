//! Health state: monitor results, passive outlier detection, forced up/down and outstanding
//! request counts, kept outside the compiled routing so a policy reload keeps it.
//!
//! State is keyed by stable names: region codes, pool names and endpoint keys
//! (`pool/address`). A [`CompiledRouting`] is *bound* to the table once per layout (the list of
//! names it uses): the binding maps its ids to the shared state cells, so routing reads health
//! with a handful of relaxed atomic loads and no lock. The newest binding is published with one
//! `ArcSwap` store; a routing compiled from a different policy binds on first use (or when the
//! engine calls [`HealthTable::register`] on reload).

use std::collections::BTreeMap;
use std::ops::Deref;
use std::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use arc_swap::{ArcSwap, Guard};
use serde::Serialize;

use super::cache::HealthVersion;
use super::model::{CompiledRouting, EndpointId, Pool, PoolId, RegionId, ServiceId, Target};

const FORCE_AUTO: u8 = 0;
const FORCE_DOWN: u8 = 1;
const FORCE_UP: u8 = 2;

const STATUS_UNKNOWN: u8 = 0;
const STATUS_UP: u8 = 1;
const STATUS_DOWN: u8 = 2;

/// How many bindings (layouts) the table keeps ready; older ones are rebuilt on demand.
const KEPT_BINDINGS: usize = 4;

/// An operator's override of a region, pool or endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Forced {
    /// No override: monitors and outlier detection decide.
    Auto,
    /// Down: never chosen (a region or pool: none of its endpoints).
    Down,
    /// Up: an endpoint is healthy whatever its monitor says; a pool counts as healthy whatever
    /// its endpoints say; for a region this is the same as [`Forced::Auto`].
    Up,
}

impl Forced {
    fn from_u8(v: u8) -> Self {
        match v {
            FORCE_DOWN => Forced::Down,
            FORCE_UP => Forced::Up,
            _ => Forced::Auto,
        }
    }
    fn as_u8(self) -> u8 {
        match self {
            Forced::Auto => FORCE_AUTO,
            Forced::Down => FORCE_DOWN,
            Forced::Up => FORCE_UP,
        }
    }
}

/// What the monitor last concluded about an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbeStatus {
    /// No conclusion yet (fewer checks than the thresholds need); treated as the policy's
    /// `unknown_health` says.
    Unknown,
    /// Passed `consecutive_up` checks in a row.
    Up,
    /// Failed `consecutive_down` checks in a row.
    Down,
}

/// A response (or its absence) the gateway saw from an endpoint, for outlier detection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PassiveResult {
    /// An HTTP response with this status; 5xx counts as a failure.
    Status(u16),
    /// The connection could not be made or was reset: counts as a failure.
    ConnectFailure,
    /// No answer in time: counts as a failure.
    Timeout,
}

impl PassiveResult {
    fn is_failure(self) -> bool {
        match self {
            PassiveResult::Status(s) => (500..=599).contains(&s),
            PassiveResult::ConnectFailure | PassiveResult::Timeout => true,
        }
    }
}

/// What a probe report changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProbeEffect {
    /// Monitored endpoints the report applied to (0: unknown target or nothing monitored).
    pub endpoints: u32,
    /// Endpoints that became up with this report.
    pub became_up: u32,
    /// Endpoints that became down with this report.
    pub became_down: u32,
}

/// What a passive report changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PassiveEffect {
    /// The endpoint is unknown or its pool has no outlier detection.
    Ignored,
    /// Counted; no ejection.
    Counted,
    /// The endpoint was ejected until this time (ms).
    Ejected {
        /// End of the ejection, in the caller's ms.
        until_ms: u64,
    },
    /// The threshold was reached but the pool already has `max_ejection_percent` ejected.
    EjectionCapped,
}

#[derive(Debug, Default)]
struct ForceCell(AtomicU8);

#[derive(Debug, Default)]
struct ProbeRun {
    ok_run: u32,
    fail_run: u32,
    checks: u64,
}

#[derive(Debug, Default)]
struct OutlierRun {
    times_ejected: u32,
    last_until_ms: u64,
}

#[derive(Debug, Default)]
pub(crate) struct EndpointState {
    forced: AtomicU8,
    status: AtomicU8,
    ejected_until_ms: AtomicU64,
    consecutive_failures: AtomicU32,
    outstanding: AtomicU32,
    probe: Mutex<ProbeRun>,
    outlier: Mutex<OutlierRun>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these locks cannot leave the counters inconsistent in a way
    // that matters more than losing health state, so a poisoned lock is simply used.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl EndpointState {
    /// Whether routing may use the endpoint now.
    #[inline]
    pub(crate) fn usable(&self, monitored: bool, unknown_healthy: bool, now_ms: u64) -> bool {
        match self.forced.load(Ordering::Relaxed) {
            FORCE_DOWN => return false,
            FORCE_UP => return true,
            _ => {}
        }
        if self.ejected_until_ms.load(Ordering::Relaxed) > now_ms {
            return false;
        }
        if !monitored {
            return true;
        }
        match self.status.load(Ordering::Relaxed) {
            STATUS_UP => true,
            STATUS_DOWN => false,
            _ => unknown_healthy,
        }
    }

    #[inline]
    pub(crate) fn outstanding(&self) -> u32 {
        self.outstanding.load(Ordering::Relaxed)
    }

    fn ejected(&self, now_ms: u64) -> bool {
        self.ejected_until_ms.load(Ordering::Relaxed) > now_ms
    }

    /// Applies one check result with the monitor's thresholds; returns the new status when it
    /// changed.
    fn apply_probe(&self, ok: bool, down_after: u32, up_after: u32) -> Option<u8> {
        let mut run = lock(&self.probe);
        run.checks = run.checks.saturating_add(1);
        let status = self.status.load(Ordering::Relaxed);
        let next = if ok {
            run.fail_run = 0;
            run.ok_run = run.ok_run.saturating_add(1);
            (status != STATUS_UP && run.ok_run >= up_after.max(1)).then_some(STATUS_UP)
        } else {
            run.ok_run = 0;
            run.fail_run = run.fail_run.saturating_add(1);
            (status != STATUS_DOWN && run.fail_run >= down_after.max(1)).then_some(STATUS_DOWN)
        };
        if let Some(s) = next {
            self.status.store(s, Ordering::Relaxed);
        }
        next
    }
}

/// The health binding of one layout: its ids mapped to shared state cells.
#[derive(Debug)]
pub(crate) struct Binding {
    layout_id: u64,
    regions: Box<[Arc<ForceCell>]>,
    pools: Box<[Arc<ForceCell>]>,
    endpoints: Box<[Arc<EndpointState>]>,
    /// The table's version (shared by all its bindings), for the route cache.
    version: Arc<HealthVersion>,
}

impl Binding {
    fn empty(version: Arc<HealthVersion>) -> Self {
        Self {
            layout_id: 0,
            regions: Box::default(),
            pools: Box::default(),
            endpoints: Box::default(),
            version,
        }
    }

    /// The table's version.
    #[inline]
    pub(crate) fn version(&self) -> &HealthVersion {
        &self.version
    }

    #[inline]
    pub(crate) fn region_forced(&self, id: RegionId) -> Forced {
        self.regions.get(id.index()).map_or(Forced::Auto, |c| {
            Forced::from_u8(c.0.load(Ordering::Relaxed))
        })
    }

    #[inline]
    pub(crate) fn pool_forced(&self, id: PoolId) -> Forced {
        self.pools.get(id.index()).map_or(Forced::Auto, |c| {
            Forced::from_u8(c.0.load(Ordering::Relaxed))
        })
    }

    #[inline]
    pub(crate) fn endpoint(&self, id: EndpointId) -> Option<&EndpointState> {
        self.endpoints.get(id.index()).map(|e| &**e)
    }

    /// The states of endpoints `start..start + len` (empty if out of range).
    #[inline]
    pub(crate) fn endpoint_range(&self, start: u32, len: u32) -> &[Arc<EndpointState>] {
        let start = start as usize;
        self.endpoints
            .get(start..start.saturating_add(len as usize))
            .unwrap_or_default()
    }

    /// Whether routing may use the endpoint now (unknown ids: no).
    #[inline]
    pub(crate) fn endpoint_usable(
        &self,
        id: EndpointId,
        monitored: bool,
        unknown_healthy: bool,
        now_ms: u64,
    ) -> bool {
        self.endpoint(id)
            .is_some_and(|e| e.usable(monitored, unknown_healthy, now_ms))
    }
}

/// A [`HealthTable`] bound to one [`CompiledRouting`]: its ids mapped to the table's shared
/// state. [`CompiledRouting::route_bound`] with it skips finding the binding (one `ArcSwap`
/// load per request). Cheap to clone (one `Arc`); keep it beside the compiled routing, for
/// example in the engine's policy snapshot, and make a new one on reload.
#[derive(Debug, Clone)]
pub struct HealthBinding(Arc<Binding>);

impl HealthBinding {
    #[inline]
    pub(crate) fn for_layout(&self, layout_id: u64) -> Option<&Binding> {
        (self.0.layout_id == layout_id).then_some(&*self.0)
    }
}

/// A binding borrowed from the table: the published one, or one looked up on the slow path.
pub(crate) enum BindingRef {
    Published(Guard<Arc<Binding>>),
    Looked(Arc<Binding>),
}

impl Deref for BindingRef {
    type Target = Binding;
    fn deref(&self) -> &Binding {
        match self {
            BindingRef::Published(g) => g,
            BindingRef::Looked(a) => a,
        }
    }
}

#[derive(Debug, Default)]
struct Registry {
    regions: BTreeMap<Box<str>, Arc<ForceCell>>,
    pools: BTreeMap<Box<str>, Arc<ForceCell>>,
    endpoints: BTreeMap<Box<str>, Arc<EndpointState>>,
    bindings: Vec<Arc<Binding>>,
}

impl Registry {
    fn bind(&mut self, routing: &CompiledRouting, version: &Arc<HealthVersion>) -> Arc<Binding> {
        if let Some(b) = self
            .bindings
            .iter()
            .find(|b| b.layout_id == routing.layout_id)
        {
            return Arc::clone(b);
        }
        let regions = routing
            .regions
            .iter()
            .map(|r| Arc::clone(self.regions.entry(Box::from(&*r.name)).or_default()))
            .collect();
        let pools = routing
            .pools
            .iter()
            .map(|p| Arc::clone(self.pools.entry(Box::from(&*p.name)).or_default()))
            .collect();
        let endpoints = routing
            .endpoints
            .iter()
            .map(|e| Arc::clone(self.endpoints.entry(Box::from(&*e.key)).or_default()))
            .collect();
        let binding = Arc::new(Binding {
            layout_id: routing.layout_id,
            regions,
            pools,
            endpoints,
            version: Arc::clone(version),
        });
        if self.bindings.len() >= KEPT_BINDINGS {
            self.bindings.remove(0);
        }
        self.bindings.push(Arc::clone(&binding));
        binding
    }
}

/// Health of every region, pool and endpoint the engine has seen, shared by all policy
/// versions. `Send + Sync`: reports may come from any thread while requests are routed.
///
/// Time is the caller's: every method that needs it takes `now_ms` (milliseconds since the
/// caller's epoch; the simulator passes virtual time).
#[derive(Debug)]
pub struct HealthTable {
    registry: Mutex<Registry>,
    current: ArcSwap<Binding>,
    ignored: AtomicU64,
    version: Arc<HealthVersion>,
}

impl Default for HealthTable {
    fn default() -> Self {
        Self::new()
    }
}

impl HealthTable {
    /// An empty table: every endpoint unknown, nothing forced.
    #[must_use]
    pub fn new() -> Self {
        let version = Arc::new(HealthVersion::default());
        Self {
            registry: Mutex::new(Registry::default()),
            current: ArcSwap::from_pointee(Binding::empty(Arc::clone(&version))),
            ignored: AtomicU64::new(0),
            version,
        }
    }

    /// Prepares the table for `routing` and makes it the fast path. The engine calls this when
    /// it loads or reloads a policy so the first routed request does no allocation; routing
    /// works without it (it binds on first use).
    pub fn register(&self, routing: &CompiledRouting) {
        let binding = lock(&self.registry).bind(routing, &self.version);
        self.current.store(binding);
    }

    /// Binds the table to `routing` (as [`register`](Self::register) does) and returns the
    /// binding, for [`CompiledRouting::route_bound`].
    pub fn bind(&self, routing: &CompiledRouting) -> HealthBinding {
        let binding = lock(&self.registry).bind(routing, &self.version);
        self.current.store(Arc::clone(&binding));
        HealthBinding(binding)
    }

    #[inline]
    pub(crate) fn binding(&self, routing: &CompiledRouting) -> BindingRef {
        let published = self.current.load();
        if published.layout_id == routing.layout_id {
            return BindingRef::Published(published);
        }
        drop(published);
        BindingRef::Looked(lock(&self.registry).bind(routing, &self.version))
    }

    /// How many reports and overrides named something unknown (and were ignored).
    #[must_use]
    pub fn ignored_reports(&self) -> u64 {
        self.ignored.load(Ordering::Relaxed)
    }

    fn ignore(&self) {
        self.ignored.fetch_add(1, Ordering::Relaxed);
    }

    /// Applies the result of one health check (including its retries) of `target`: an
    /// endpoint key (`pool/address`), an endpoint address (every endpoint with it), a pool
    /// (all its endpoints) or a region (all endpoints of all pools there). Each monitored
    /// endpoint flips down after exactly `consecutive_down` failed checks in a row and up
    /// after exactly `consecutive_up` passed ones. Unknown targets are ignored and counted.
    pub fn report_probe(
        &self,
        routing: &CompiledRouting,
        target: &str,
        ok: bool,
        now_ms: u64,
    ) -> ProbeEffect {
        let _ = now_ms; // Thresholds count checks, not time; kept for symmetry and future use.
        let Some(target) = routing.target(target) else {
            self.ignore();
            return ProbeEffect::default();
        };
        let binding = self.binding(routing);
        let mut effect = ProbeEffect::default();
        for_each_endpoint(routing, target, |id| {
            self.probe_one(routing, &binding, id, ok, &mut effect);
        });
        effect
    }

    /// [`report_probe`](Self::report_probe) for one endpoint by id (from
    /// [`CompiledRouting::probe_targets`]).
    pub fn report_probe_endpoint(
        &self,
        routing: &CompiledRouting,
        endpoint: EndpointId,
        ok: bool,
        now_ms: u64,
    ) -> ProbeEffect {
        let _ = now_ms;
        if routing.endpoints.get(endpoint.index()).is_none() {
            self.ignore();
            return ProbeEffect::default();
        }
        let binding = self.binding(routing);
        let mut effect = ProbeEffect::default();
        self.probe_one(routing, &binding, endpoint, ok, &mut effect);
        effect
    }

    fn probe_one(
        &self,
        routing: &CompiledRouting,
        binding: &Binding,
        id: EndpointId,
        ok: bool,
        effect: &mut ProbeEffect,
    ) {
        let Some(monitor) = routing
            .endpoints
            .get(id.index())
            .and_then(|e| routing.pools.get(e.pool.index()))
            .and_then(|p| p.monitor)
            .and_then(|m| routing.monitors.get(usize::from(m)))
        else {
            return;
        };
        let Some(state) = binding.endpoint(id) else {
            return;
        };
        effect.endpoints += 1;
        match state.apply_probe(ok, monitor.consecutive_down, monitor.consecutive_up) {
            Some(STATUS_UP) => {
                self.version.bump();
                effect.became_up += 1;
            }
            Some(_) => {
                self.version.bump();
                effect.became_down += 1;
            }
            None => {}
        }
    }

    /// Applies a response (or failure) the gateway saw from `endpoint`, for outlier detection:
    /// `consecutive_5xx` failures in a row eject it for `base_ejection_time` × times ejected
    /// (at most `max_ejection_time`; the multiplier decays by one per `base_ejection_time`
    /// spent un-ejected), unless more than `max_ejection_percent` of the pool would be ejected
    /// (one endpoint may always be). A success resets the run.
    pub fn report_passive(
        &self,
        routing: &CompiledRouting,
        endpoint: EndpointId,
        result: PassiveResult,
        now_ms: u64,
    ) -> PassiveEffect {
        let Some((pool, outlier)) = routing
            .endpoints
            .get(endpoint.index())
            .and_then(|e| routing.pools.get(e.pool.index()))
            .and_then(|p| Some((p, p.outlier?)))
        else {
            if routing.endpoints.get(endpoint.index()).is_none() {
                self.ignore();
            }
            return PassiveEffect::Ignored;
        };
        let binding = self.binding(routing);
        let Some(state) = binding.endpoint(endpoint) else {
            return PassiveEffect::Ignored;
        };
        if !result.is_failure() {
            if state.consecutive_failures.load(Ordering::Relaxed) != 0 {
                state.consecutive_failures.store(0, Ordering::Relaxed);
            }
            return PassiveEffect::Counted;
        }
        let run = state
            .consecutive_failures
            .fetch_add(1, Ordering::Relaxed)
            .saturating_add(1);
        if run < outlier.consecutive_5xx.max(1) {
            return PassiveEffect::Counted;
        }
        let mut history = lock(&state.outlier);
        if state.ejected(now_ms) {
            return PassiveEffect::Counted;
        }
        if !ejection_allowed(
            routing,
            &binding,
            pool,
            outlier.max_ejection_percent,
            now_ms,
        ) {
            return PassiveEffect::EjectionCapped;
        }
        let base = outlier.base_ejection_ms.max(1);
        if history.times_ejected > 0 && now_ms > history.last_until_ms {
            let decay = (now_ms - history.last_until_ms) / base;
            let decay = u32::try_from(decay).unwrap_or(u32::MAX);
            history.times_ejected = history.times_ejected.saturating_sub(decay);
        }
        history.times_ejected = history.times_ejected.saturating_add(1);
        let length = base
            .saturating_mul(u64::from(history.times_ejected))
            .min(outlier.max_ejection_ms.max(base));
        let until_ms = now_ms.saturating_add(length);
        history.last_until_ms = until_ms;
        // The horizon first: a cached route is never used while this ejection may be in force.
        self.version.eject_until(until_ms);
        state.ejected_until_ms.store(until_ms, Ordering::Relaxed);
        state.consecutive_failures.store(0, Ordering::Relaxed);
        self.version.bump();
        PassiveEffect::Ejected { until_ms }
    }

    /// [`report_passive`](Self::report_passive) by endpoint key (`pool/address`) or address.
    pub fn report_passive_by_name(
        &self,
        routing: &CompiledRouting,
        name: &str,
        result: PassiveResult,
        now_ms: u64,
    ) -> PassiveEffect {
        match routing.target(name) {
            Some(Target::Endpoint(id)) => self.report_passive(routing, id, result, now_ms),
            Some(target @ Target::Address(..)) => {
                let mut last = PassiveEffect::Ignored;
                for_each_endpoint(routing, target, |id| {
                    last = self.report_passive(routing, id, result, now_ms);
                });
                last
            }
            _ => {
                self.ignore();
                PassiveEffect::Ignored
            }
        }
    }

    /// Overrides a region, pool or endpoint (by key or address): [`Forced::Down`] for
    /// `--down NAME` and `"up": false` health lines, [`Forced::Up`] or [`Forced::Auto`] to
    /// bring it back. Returns false (and counts it) when the name is unknown.
    pub fn set_forced(&self, routing: &CompiledRouting, name: &str, forced: Forced) -> bool {
        let Some(target) = routing.target(name) else {
            self.ignore();
            return false;
        };
        let binding = self.binding(routing);
        let value = forced.as_u8();
        match target {
            Target::Region(id) => {
                if let Some(cell) = binding.regions.get(id.index()) {
                    cell.0.store(value, Ordering::Relaxed);
                }
            }
            Target::Pool(id) => {
                if let Some(cell) = binding.pools.get(id.index()) {
                    cell.0.store(value, Ordering::Relaxed);
                }
            }
            Target::Endpoint(_) | Target::Address(..) => {
                for_each_endpoint(routing, target, |id| {
                    if let Some(state) = binding.endpoint(id) {
                        state.forced.store(value, Ordering::Relaxed);
                    }
                });
            }
        }
        self.version.bump();
        true
    }

    /// `set_forced(routing, name, Forced::Down)`.
    pub fn set_down(&self, routing: &CompiledRouting, name: &str) -> bool {
        self.set_forced(routing, name, Forced::Down)
    }

    /// `set_forced(routing, name, Forced::Up)`.
    pub fn set_up(&self, routing: &CompiledRouting, name: &str) -> bool {
        self.set_forced(routing, name, Forced::Up)
    }

    /// Counts a request sent to `endpoint` (for least-outstanding steering).
    pub fn request_started(&self, routing: &CompiledRouting, endpoint: EndpointId) {
        if let Some(state) = self.binding(routing).endpoint(endpoint) {
            state.outstanding.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts a request to `endpoint` as finished.
    pub fn request_finished(&self, routing: &CompiledRouting, endpoint: EndpointId) {
        if let Some(state) = self.binding(routing).endpoint(endpoint) {
            let _ = state
                .outstanding
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
        }
    }

    /// Whether routing may use `endpoint` now (forced state, ejection, monitor and the
    /// service's unknown-health rule).
    #[must_use]
    pub fn endpoint_usable(
        &self,
        routing: &CompiledRouting,
        endpoint: EndpointId,
        now_ms: u64,
    ) -> bool {
        let Some((pool, service)) = routing
            .endpoints
            .get(endpoint.index())
            .and_then(|e| routing.pools.get(e.pool.index()))
            .and_then(|p| Some((p, routing.services.get(p.service.index())?)))
        else {
            return false;
        };
        self.binding(routing).endpoint_usable(
            endpoint,
            pool.monitor.is_some(),
            service.unknown_healthy,
            now_ms,
        )
    }

    /// A monitored endpoint's probe status.
    #[must_use]
    pub fn probe_status(
        &self,
        routing: &CompiledRouting,
        endpoint: EndpointId,
    ) -> Option<ProbeStatus> {
        let binding = self.binding(routing);
        binding
            .endpoint(endpoint)
            .map(|s| status_of(s.status.load(Ordering::Relaxed)))
    }

    /// Whether `pool` counts as healthy now: not forced down (nor its region), and at least
    /// `minimum_origins` usable endpoints (or forced up).
    #[must_use]
    pub fn pool_healthy(&self, routing: &CompiledRouting, pool: PoolId, now_ms: u64) -> bool {
        let binding = self.binding(routing);
        routing.pools.get(pool.index()).is_some_and(|p| {
            let unknown = routing
                .services
                .get(p.service.index())
                .is_some_and(|s| s.unknown_healthy);
            pool_healthy(routing, &binding, pool, p, unknown, now_ms)
        })
    }

    /// Whether `service` has a healthy active pool in `region` now.
    #[must_use]
    pub fn region_healthy(
        &self,
        routing: &CompiledRouting,
        service: ServiceId,
        region: RegionId,
        now_ms: u64,
    ) -> bool {
        let binding = self.binding(routing);
        let Some(svc) = routing.services.get(service.index()) else {
            return false;
        };
        binding.region_forced(region) != Forced::Down
            && routing.service_pools_in(svc, region).iter().any(|&id| {
                routing.pools.get(id.index()).is_some_and(|p| {
                    pool_healthy(routing, &binding, id, p, svc.unknown_healthy, now_ms)
                })
            })
    }

    /// The state of everything in `routing`, for `engine.health()` and reports.
    #[must_use]
    pub fn snapshot(&self, routing: &CompiledRouting, now_ms: u64) -> HealthSnapshot {
        let binding = self.binding(routing);
        let regions = routing
            .regions
            .iter()
            .zip(0u8..)
            .map(|(r, i)| RegionHealth {
                name: r.name.to_string(),
                forced: binding.region_forced(RegionId(i)),
            })
            .collect();
        let pools = routing
            .pools
            .iter()
            .zip(0u16..)
            .map(|(p, i)| {
                let service = routing.services.get(p.service.index());
                let unknown = service.is_some_and(|s| s.unknown_healthy);
                let usable = routing
                    .pool_endpoints(p)
                    .filter(|(id, _)| {
                        binding.endpoint_usable(*id, p.monitor.is_some(), unknown, now_ms)
                    })
                    .count();
                PoolHealth {
                    name: p.name.to_string(),
                    service: service.map(|s| s.name.to_string()).unwrap_or_default(),
                    region: routing.region_name(p.region).unwrap_or_default().to_owned(),
                    forced: binding.pool_forced(PoolId(i)),
                    healthy: pool_healthy(routing, &binding, PoolId(i), p, unknown, now_ms),
                    usable_endpoints: u32::try_from(usable).unwrap_or(u32::MAX),
                    minimum_origins: p.minimum_origins,
                }
            })
            .collect();
        let endpoints = routing
            .endpoints
            .iter()
            .zip(0u32..)
            .filter_map(|(e, i)| {
                let pool = routing.pools.get(e.pool.index())?;
                let unknown = routing
                    .services
                    .get(pool.service.index())
                    .is_some_and(|s| s.unknown_healthy);
                let state = binding.endpoint(EndpointId(i))?;
                let run = lock(&state.probe);
                let until = state.ejected_until_ms.load(Ordering::Relaxed);
                Some(EndpointHealth {
                    key: e.key.to_string(),
                    address: e.address.to_string(),
                    pool: pool.name.to_string(),
                    monitored: pool.monitor.is_some(),
                    status: status_of(state.status.load(Ordering::Relaxed)),
                    forced: Forced::from_u8(state.forced.load(Ordering::Relaxed)),
                    ejected_until_ms: (until > now_ms).then_some(until),
                    usable: state.usable(pool.monitor.is_some(), unknown, now_ms),
                    consecutive_ok: run.ok_run,
                    consecutive_failed: run.fail_run,
                    checks: run.checks,
                    outstanding: state.outstanding(),
                })
            })
            .collect();
        HealthSnapshot {
            regions,
            pools,
            endpoints,
            ignored_reports: self.ignored_reports(),
        }
    }
}

fn status_of(v: u8) -> ProbeStatus {
    match v {
        STATUS_UNKNOWN => ProbeStatus::Unknown,
        STATUS_UP => ProbeStatus::Up,
        STATUS_DOWN => ProbeStatus::Down,
        _ => ProbeStatus::Unknown,
    }
}

fn for_each_endpoint(routing: &CompiledRouting, target: Target, mut f: impl FnMut(EndpointId)) {
    match target {
        Target::Endpoint(id) => f(id),
        Target::Address(start, len) => {
            let (start, len) = (start as usize, len as usize);
            for id in routing
                .address_endpoints
                .get(start..start.saturating_add(len))
                .unwrap_or_default()
            {
                f(*id);
            }
        }
        Target::Pool(id) => {
            if let Some(pool) = routing.pools.get(id.index()) {
                for (id, _) in routing.pool_endpoints(pool) {
                    f(id);
                }
            }
        }
        Target::Region(region) => {
            for pool in routing.pools.iter().filter(|p| p.region == region) {
                for (id, _) in routing.pool_endpoints(pool) {
                    f(id);
                }
            }
        }
    }
}

fn ejection_allowed(
    routing: &CompiledRouting,
    binding: &Binding,
    pool: &Pool,
    max_percent: u32,
    now_ms: u64,
) -> bool {
    let ejected = routing
        .pool_endpoints(pool)
        .filter(|(id, _)| binding.endpoint(*id).is_some_and(|s| s.ejected(now_ms)))
        .count() as u64;
    ejected == 0
        || (ejected + 1).saturating_mul(100)
            <= u64::from(max_percent).saturating_mul(u64::from(pool.endpoint_count))
}

/// Whether a pool counts as healthy (see [`HealthTable::pool_healthy`]).
#[inline]
pub(crate) fn pool_healthy(
    routing: &CompiledRouting,
    binding: &Binding,
    id: PoolId,
    pool: &Pool,
    unknown_healthy: bool,
    now_ms: u64,
) -> bool {
    if binding.region_forced(pool.region) == Forced::Down {
        return false;
    }
    match binding.pool_forced(id) {
        Forced::Down => return false,
        Forced::Up => return true,
        Forced::Auto => {}
    }
    let monitored = pool.monitor.is_some();
    let mut usable = 0u32;
    for (eid, e) in routing.pool_endpoints(pool) {
        if e.weight > 0 && binding.endpoint_usable(eid, monitored, unknown_healthy, now_ms) {
            usable += 1;
            if usable >= pool.minimum_origins {
                return true;
            }
        }
    }
    false
}

/// The health of everything in a routing, at one moment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HealthSnapshot {
    /// Regions, in id order.
    pub regions: Vec<RegionHealth>,
    /// Pools, in id order.
    pub pools: Vec<PoolHealth>,
    /// Endpoints, in id order.
    pub endpoints: Vec<EndpointHealth>,
    /// Reports and overrides that named something unknown.
    pub ignored_reports: u64,
}

/// A region's state.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RegionHealth {
    /// Region code.
    pub name: String,
    /// Operator override.
    pub forced: Forced,
}

/// A pool's state.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PoolHealth {
    /// Pool name.
    pub name: String,
    /// The service it serves.
    pub service: String,
    /// Its region.
    pub region: String,
    /// Operator override.
    pub forced: Forced,
    /// Whether it counts as healthy.
    pub healthy: bool,
    /// Endpoints routing may use now.
    pub usable_endpoints: u32,
    /// Usable endpoints it needs to count as healthy.
    pub minimum_origins: u32,
}

/// An endpoint's state.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EndpointHealth {
    /// Stable key, `pool/address`.
    pub key: String,
    /// Address.
    pub address: String,
    /// Pool name.
    pub pool: String,
    /// Whether a monitor checks it.
    pub monitored: bool,
    /// The monitor's conclusion.
    pub status: ProbeStatus,
    /// Operator override.
    pub forced: Forced,
    /// End of the current outlier ejection, if ejected.
    pub ejected_until_ms: Option<u64>,
    /// Whether routing may use it now.
    pub usable: bool,
    /// Passed checks in a row.
    pub consecutive_ok: u32,
    /// Failed checks in a row.
    pub consecutive_failed: u32,
    /// Checks reported so far.
    pub checks: u64,
    /// Outstanding requests reported by the gateway.
    pub outstanding: u32,
}
