//! The run: setting a scenario up and driving it through virtual time.
//!
//! # How a run is organised
//! Data centres are split into a fixed number of **shards** (a scenario setting, not the
//! machine's core count). Time advances in **epochs** (default 1 s). In each epoch:
//! 1. every shard, in parallel, generates its clients' requests for the epoch and runs each
//!    through its own [`edgeroute::Engine`] (health checks are applied at their exact virtual
//!    times), its data centres' edge caches and the network model; what must go further is
//!    queued for the routed region;
//! 2. every region's origin side, in parallel, merges its queued requests from all shards in
//!    (time, shard, sequence) order and runs the upper tier, regional and database caches,
//!    event effects and the origin queues;
//! 3. the coordinator evaluates deploy alarms and hands passive results (for outlier
//!    detection) back to the shards for the next epoch.
//!
//! Every shard and region has its own random stream and its own statistics, merged in index
//! order at the end, so the report is byte-identical on any number of threads.

mod barrier;
mod events;
mod net;
mod origin_side;
mod shard;
pub mod stats;
mod tier;
mod totals;

use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Mutex, PoisonError, RwLock};

use edgeroute::routing::{EndpointId, ProbeStatus};
use edgeroute::{Engine, Policy};
use edgeroute_geo::Continent;

pub use events::{CanaryAlarm, DeployState, EventPlan, ProbeReport};
use events::{ProbeSpec, probe_timeline};
pub use net::LatencyTables;
use origin_side::OriginSide;
use shard::Shard;
use stats::Stats;

use crate::cache::{CachePolicy, Capacity, PolicyCache};
use crate::dist::LogNormal;
use crate::network::{NetworkConfig, NetworkError, NetworkModel};
use crate::origin::OriginQueue;
use crate::report::Report;
use crate::rng::mix64;
use crate::scenario::model::TierConfig;
use crate::scenario::{EventKind, Scenario, ScenarioError};
use crate::trace::{TraceError, TraceOptions, TraceReader};
use crate::traffic::{
    AttackModel, ClassModel, Client, DailyShape, Population, ShardTraffic, Source, TrafficModel,
};
use tier::TierCache;

/// Why a simulation could not be set up or run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// A problem in the scenario file (with line and column).
    #[error("{0}")]
    Scenario(Box<ScenarioError>),
    /// The policy did not compile (the rendered diagnostics).
    #[error("{0}")]
    Policy(String),
    /// The network model could not be built.
    #[error(transparent)]
    Network(#[from] NetworkError),
    /// The price table (built-in, a price file, the scenario's `[prices]`) is invalid or
    /// lacks an item the policy's regions need (rendered with file, line and column).
    #[error("{0}")]
    Prices(String),
    /// The cost model could not price the run.
    #[error("cost model: {0}")]
    Cost(String),
    /// The trace could not be read.
    #[error("{origin}: {source}")]
    Trace {
        /// The trace file.
        origin: String,
        /// What went wrong (with its line).
        #[source]
        source: Box<TraceError>,
    },
}

impl From<ScenarioError> for SimError {
    fn from(e: ScenarioError) -> Self {
        SimError::Scenario(Box::new(e))
    }
}

/// How to run (not part of the scenario: nothing here changes the report).
#[derive(Debug, Clone, Copy, Default)]
pub struct RunOptions {
    /// Worker threads (0: one per available core).
    pub threads: usize,
    /// Keep every attack request and what the engine did with it in
    /// [`Report::attack_log`] (for checking the firewall and rate limits by hand; costs memory
    /// proportional to the attack).
    pub log_attacks: bool,
}

/// One attack request and the engine's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttackRecord {
    /// Virtual time (µs).
    pub t_us: u64,
    /// Source address.
    pub ip: Ipv4Addr,
    /// `cf.bot_management.score` it carried.
    pub bot_score: u8,
    /// `cf.threat_score` it carried.
    pub threat_score: u8,
    /// The action (`allow`, `block`, `managed_challenge`, ...).
    pub action: &'static str,
    /// The HTTP status the edge answered with, if it answered.
    pub status: Option<u16>,
}

/// One origin-bound request, from a shard to a region's origin side.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OriginJob {
    pub t_us: u64,
    pub seq: u64,
    pub shard: u32,
    pub region: u16,
    pub preferred: u16,
    pub service: u16,
    pub class: u16,
    pub continent: u8,
    pub source: Source,
    pub key: u64,
    pub size: u32,
    pub upper: bool,
    pub edge_ttl_us: u64,
    pub tier: edgeroute::config::CacheTier,
    pub tier_ttl_us: Option<u64>,
    pub base_us: u64,
    pub endpoint: Option<EndpointId>,
    pub session_s: f64,
    pub group: u32,
}

/// One trace row, assigned to the shard of its client's data centre.
#[derive(Debug, Clone)]
pub(crate) struct TraceArrival {
    pub t_us: u64,
    pub ip: String,
    pub country: &'static str,
    pub group: u32,
    pub continent: u8,
    pub host: String,
    pub method: String,
    pub path: String,
    pub key: u64,
    pub size: u32,
}

/// What workers read during an epoch; the coordinator updates it between epochs.
#[derive(Debug, Clone, Default)]
pub(crate) struct EpochState {
    /// Per event (indexed like the scenario's events): deploy rollback state.
    pub deploys: Vec<DeployState>,
    /// Per event: when it counts as recovered (µs), if known yet.
    pub recovered_us: Vec<Option<u64>>,
}

/// A cache tier's settings.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TierSpec {
    pub policy: CachePolicy,
    pub capacity: Capacity,
}

/// Regional cache settings.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RegionalSpec {
    pub tier: TierSpec,
    pub hit_us: u64,
}

impl std::ops::Deref for RegionalSpec {
    type Target = TierSpec;
    fn deref(&self) -> &TierSpec {
        &self.tier
    }
}

/// Database query cache settings.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DatabaseSpec {
    pub tier: TierSpec,
    pub ttl_us: u64,
    pub hit_us: u64,
    pub database: LogNormal,
}

/// Origin settings for one (service, region).
#[derive(Debug, Clone, Copy)]
struct OriginSpec {
    capacity: u32,
    service: LogNormal,
}

/// Everything read-only during a run.
pub(crate) struct Ctx {
    pub name: String,
    pub seed: u64,
    pub duration_us: u64,
    pub epoch_us: u64,
    pub interval_us: u64,
    pub buckets: usize,
    pub shards: usize,
    pub population: Population,
    pub traffic: TrafficModel,
    pub lat: LatencyTables,
    pub regions: Vec<String>,
    pub services: Vec<String>,
    pub events: Vec<EventPlan>,
    pub probes: Vec<ProbeReport>,
    pub probe_endpoints: Vec<EndpointId>,
    pub colo_shard: Vec<u32>,
    pub peer: IpAddr,
    client_ip_text: Vec<u8>,
    client_ip_off: Vec<u32>,
    sub_suffix: Vec<&'static str>,
    pub fields: Option<[edgeroute_rules::FieldId; 3]>,
    pub edge_processing_us: u64,
    pub default_edge_ttl_s: u32,
    pub connect_timeout_us: u64,
    pub retries: u32,
    pub has_upper: bool,
    edge_tier: TierSpec,
    upper_tier: Option<TierSpec>,
    pub regional: Option<RegionalSpec>,
    pub database: Option<DatabaseSpec>,
    pub default_service: LogNormal,
    origins: Vec<OriginSpec>,
    max_queue_us: u64,
    /// Per region: windows `[from, to)` in which monitors have it marked down.
    down_windows: Vec<Vec<(u64, u64)>>,
    /// Per event: (detected, recovered) from the monitors, for region events.
    pub monitor_times: Vec<(Option<u64>, Option<u64>)>,
    pub targets: crate::scenario::model::TargetsConfig,
    pub within_50ms: f64,
    pub trace: Option<TraceSpec>,
    pub policy_rules: u32,
    pub health_checks: u32,
    pub cost_scale: f64,
    pub cost_volumes: Vec<f64>,
    pub prices: crate::cost::PriceTable,
}

/// Trace replay settings.
#[derive(Debug, Clone)]
pub(crate) struct TraceSpec {
    pub path: std::path::PathBuf,
    pub origin: String,
    pub skip_bad_rows: bool,
    pub host: String,
    pub units_per_second: f64,
}

impl Ctx {
    pub(crate) fn edge_cache(&self) -> TierCache {
        self.tier_cache(&self.edge_tier)
    }

    pub(crate) fn upper_cache(&self) -> TierCache {
        self.tier_cache(&self.upper_tier.unwrap_or(self.edge_tier))
    }

    pub(crate) fn tier_cache(&self, t: &TierSpec) -> TierCache {
        TierCache::new(PolicyCache::new(&t.policy, t.capacity), self.duration_us)
    }

    fn origin_queue(&self, service: usize, region: u16) -> OriginQueue {
        let spec = self
            .origins
            .get(service * self.regions.len() + usize::from(region))
            .copied()
            .unwrap_or(OriginSpec {
                capacity: 512,
                service: self.default_service,
            });
        OriginQueue::new(spec.capacity, self.max_queue_us, spec.service)
    }

    pub(crate) fn client_ip(&self, client: u32) -> &[u8] {
        let i = client as usize;
        let (Some(&a), Some(&b)) = (self.client_ip_off.get(i), self.client_ip_off.get(i + 1))
        else {
            return b"0.0.0.0";
        };
        self.client_ip_text
            .get(a as usize..b as usize)
            .unwrap_or(b"0.0.0.0")
    }

    pub(crate) fn subdivision_suffix(&self, group: u32) -> &'static [u8] {
        self.sub_suffix
            .get(group as usize)
            .map_or(b"", |s| s.as_bytes())
    }

    pub(crate) fn continent_index(&self, c: Continent) -> u8 {
        let i = Continent::ALL.iter().position(|x| *x == c).unwrap_or(0);
        u8::try_from(i).unwrap_or(0)
    }

    pub(crate) fn attack(&self, event: u16) -> Option<&AttackModel> {
        self.traffic.attacks.iter().find(|a| a.event == event)
    }

    /// Attacks are counted as one extra class after the scenario's classes.
    pub(crate) fn attack_class(&self) -> u16 {
        u16::try_from(self.traffic.classes.len()).unwrap_or(u16::MAX)
    }

    pub(crate) fn bucket(&self, t: u64) -> usize {
        usize::try_from(t / self.interval_us.max(1))
            .unwrap_or(0)
            .min(self.buckets.saturating_sub(1))
    }

    pub(crate) fn group_colo(&self, group: u32) -> u32 {
        self.population
            .groups
            .get(group as usize)
            .map_or(0, |g| g.colo)
    }

    pub(crate) fn detected_down(&self, region: u16, t: u64) -> bool {
        self.down_windows
            .get(usize::from(region))
            .is_some_and(|w| w.iter().any(|&(a, b)| t >= a && t < b))
    }

    pub(crate) fn service_index(&self, name: Option<&str>) -> u16 {
        let last = self.services.len().saturating_sub(1);
        let i = name
            .and_then(|n| self.services.iter().position(|s| s == n))
            .unwrap_or(last);
        u16::try_from(i).unwrap_or(0)
    }
}

/// Records an answered request's latency everywhere it counts.
#[expect(
    clippy::too_many_arguments,
    reason = "one call site per stage; a struct would only rename them"
)]
pub(crate) fn record_latency(
    stats: &mut Stats,
    ctx: &Ctx,
    st: &EpochState,
    class: u16,
    continent: u8,
    source: Source,
    region: Option<u16>,
    preferred: Option<u16>,
    t: u64,
    (latency_us, network_us): (u64, u64),
    bucket: usize,
) {
    if let Source::Attack(_) = source {
        // Attack traffic is not user latency.
        return;
    }
    stats.latency.record(latency_us);
    if let Some(h) = stats.by_continent.get_mut(usize::from(continent)) {
        h.record(latency_us);
    }
    if let Some(h) = stats.network_by_continent.get_mut(usize::from(continent)) {
        h.record(network_us);
    }
    if let Some(r) = region.and_then(|r| stats.regions.get_mut(usize::from(r))) {
        r.routed += 1;
        r.latency.record(latency_us);
    }
    if let Some(c) = stats.classes.get_mut(usize::from(class)) {
        c.latency.record(latency_us);
    }
    if let Some(b) = stats.series.get_mut(bucket) {
        if let Some(h) = b.continents.get_mut(usize::from(continent)) {
            h.record(latency_us);
        }
        if let Some(n) = region.and_then(|r| b.regions.get_mut(usize::from(r))) {
            *n += 1;
        }
    }
    for (e, es, phase) in affected_events(&mut stats.events, ctx, st, region, preferred, t) {
        match phase {
            Some(Phase::Before) => es.before.record(latency_us),
            Some(Phase::During) => {
                es.during.record(latency_us);
                if let Some(r) = region {
                    if let Some(w) = es.went_to.get_mut(usize::from(r)) {
                        *w += 1;
                    }
                    if is_region_event(e) && e.region == preferred && region != preferred {
                        es.rerouted += 1;
                        es.first_reroute_us = Some(es.first_reroute_us.map_or(t, |x| x.min(t)));
                    }
                }
            }
            Some(Phase::After) => es.after.record(latency_us),
            None => {}
        }
    }
}

/// Records a failed request in its time bucket and against the events it belongs to.
#[expect(
    clippy::too_many_arguments,
    reason = "one call site per stage; a struct would only rename them"
)]
pub(crate) fn record_failure(
    stats: &mut Stats,
    ctx: &Ctx,
    st: &EpochState,
    source: Source,
    region: Option<u16>,
    preferred: Option<u16>,
    t: u64,
    bucket: usize,
) {
    if let Some(b) = stats.series.get_mut(bucket) {
        b.failed += 1;
    }
    if let Source::Attack(_) = source {
        return;
    }
    for (_, es, phase) in affected_events(&mut stats.events, ctx, st, region, preferred, t) {
        if phase == Some(Phase::During) {
            es.failed += 1;
        }
    }
}

/// The events a request at `t` belongs to (routed to `region`, preferring `preferred`), each
/// with its stats and the phase of the event `t` falls in.
fn affected_events<'a>(
    events: &'a mut [stats::EventStats],
    ctx: &'a Ctx,
    st: &'a EpochState,
    region: Option<u16>,
    preferred: Option<u16>,
    t: u64,
) -> impl Iterator<Item = (&'a EventPlan, &'a mut stats::EventStats, Option<Phase>)> {
    ctx.events
        .iter()
        .zip(events)
        .enumerate()
        .filter(move |(_, (e, _))| affected(e, region, preferred))
        .map(move |(i, (e, es))| {
            let recovered = st.recovered_us.get(i).copied().flatten();
            (e, es, phase(e, recovered, t))
        })
}

fn is_region_event(e: &EventPlan) -> bool {
    matches!(
        e.kind,
        EventKind::RegionOutage | EventKind::OriginDegradation
    )
}

/// Whether a request belongs to the population an event is about.
fn affected(e: &EventPlan, region: Option<u16>, preferred: Option<u16>) -> bool {
    match e.kind {
        EventKind::RegionOutage | EventKind::OriginDegradation => {
            e.region.is_some() && (preferred.or(region) == e.region)
        }
        EventKind::Deploy => e.region.is_some() && region == e.region,
        EventKind::Attack | EventKind::Surge => true,
    }
}

/// Where `t` falls relative to an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    Before,
    During,
    After,
}

fn phase(e: &EventPlan, recovered: Option<u64>, t: u64) -> Option<Phase> {
    if t < e.start_us {
        return (t + e.compare_us >= e.start_us).then_some(Phase::Before);
    }
    match recovered {
        Some(r) if t >= r => (t < r.saturating_add(e.compare_us)).then_some(Phase::After),
        _ => Some(Phase::During),
    }
}

/// A scenario set up and ready to run.
pub struct Simulation {
    ctx: Ctx,
    shards: Vec<Shard>,
    sides: Vec<OriginSide>,
    state: EpochState,
    alarms: Vec<CanaryAlarm>,
    skipped_rows: u64,
    routed_after_detection: u64,
}

impl std::fmt::Debug for Simulation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulation")
            .field("scenario", &self.ctx.name)
            .field("shards", &self.shards.len())
            .field("regions", &self.ctx.regions)
            .finish_non_exhaustive()
    }
}

/// The counter key budget of one shard's engine. A shard is the gateway of its data centres:
/// its counters only ever hold keys of its own clients. When every rate-limit key is bound to
/// the client (characteristics `ip.src` and `cf.colo.id` only), the table is sized for those
/// keys (each rule's and the `rate()` count's, with fourfold headroom, at least 16,384) and
/// never above the policy's budget, so no key is evicted that the policy's table would have
/// kept, and a check touches a table that fits in the cache instead of one 33 MB table per
/// shard. Otherwise (other characteristics, or a trace whose clients are not known up front)
/// the policy's budget.
fn shard_key_budget(policy: &Policy, clients: usize, trace: bool) -> u64 {
    let rules = &policy.config().rate_limiting.rules;
    let client_bound = rules.iter().all(|r| {
        r.characteristics
            .iter()
            .all(|c| c == "ip.src" || c == "cf.colo.id")
    });
    if trace || !client_bound {
        return policy.key_budget();
    }
    let per_client = u64::try_from(rules.len())
        .unwrap_or(u64::MAX)
        .saturating_add(1);
    u64::try_from(clients)
        .unwrap_or(u64::MAX)
        .saturating_mul(per_client)
        .saturating_mul(4)
        .max(16_384)
        .min(policy.key_budget())
}

fn compile_policy(s: &Scenario) -> Result<Policy, SimError> {
    Policy::from_toml_str(
        &s.policy_text,
        &s.policy_origin,
        s.file.environment.as_deref(),
    )
    .map(|(p, _warnings)| p)
    .map_err(|e| SimError::Policy(e.to_string()))
}

fn tier_spec(s: &Scenario, path: &str, t: &TierConfig) -> Result<TierSpec, SimError> {
    let policy: CachePolicy = t
        .policy
        .parse()
        .map_err(|e: crate::cache::PolicyParseError| {
            s.error_at(&format!("{path}.policy"), e.to_string())
        })?;
    let capacity = if t.objects {
        Capacity::objects(t.capacity.0)
    } else {
        Capacity::bytes(t.capacity.0)
    };
    Ok(TierSpec { policy, capacity })
}

impl Simulation {
    /// Sets a scenario up: compiles the policy (once per shard), places clients, builds the
    /// network tables, caches and origins, and lays out the health checks of the whole run.
    ///
    /// # Errors
    /// A policy that does not compile, references the policy does not have (event targets,
    /// origin overrides), a network model that cannot be built.
    pub fn new(scenario: &Scenario) -> Result<Simulation, SimError> {
        let f = &scenario.file;
        let policy = compile_policy(scenario)?;
        let routing = policy.routing();
        let regions: Vec<String> = match routing {
            Some(rt) if rt.region_names().len() > 0 => {
                rt.region_names().map(str::to_owned).collect()
            }
            _ => vec![policy.default_region().unwrap_or("us-east-1").to_owned()],
        };
        let mut services: Vec<String> = policy
            .services()
            .iter()
            .map(|s| s.name().to_owned())
            .collect();
        services.push("(none)".to_owned());
        let region_index = |code: &str| {
            regions
                .iter()
                .position(|r| r == code)
                .and_then(|i| u16::try_from(i).ok())
        };
        // References into the policy.
        for (i, e) in f.events.iter().enumerate() {
            if let Some(t) = &e.target
                && region_index(t).is_none()
            {
                return Err(scenario
                    .error_at(
                        &format!("events[{i}].target"),
                        format!("`{t}` is not a region of the policy"),
                    )
                    .with_help(format!("the policy's regions are {}", regions.join(", ")))
                    .into());
            }
            if let Some(svc) = &e.service
                && !services.iter().any(|s| s == svc)
            {
                return Err(scenario
                    .error_at(
                        &format!("events[{i}].service"),
                        format!("unknown service `{svc}`"),
                    )
                    .into());
            }
        }
        for (i, o) in f.origins.overrides.iter().enumerate() {
            if let Some(r) = &o.region
                && region_index(r).is_none()
            {
                return Err(scenario
                    .error_at(
                        &format!("origins.override[{i}].region"),
                        format!("`{r}` is not a region of the policy"),
                    )
                    .into());
            }
            if let Some(svc) = &o.service
                && !services.iter().any(|s| s == svc)
            {
                return Err(scenario
                    .error_at(
                        &format!("origins.override[{i}].service"),
                        format!("unknown service `{svc}`"),
                    )
                    .into());
            }
        }
        // Data centres and clients.
        let colos: Vec<&'static edgeroute_geo::Colo> = match &f.edge.colos {
            Some(list) => list.iter().filter_map(|c| edgeroute_geo::colo(c)).collect(),
            None => edgeroute_geo::colos().iter().collect(),
        };
        let t = &f.traffic;
        let mut population = Population::build(&t.population, &t.bots, t.clients, colos, f.seed);
        let normal_clients = u32::try_from(population.clients.len()).unwrap_or(u32::MAX);
        let classes: Vec<ClassModel> = t.classes.iter().map(ClassModel::new).collect();
        let shape = t
            .daily_shape
            .as_deref()
            .map_or_else(DailyShape::default, DailyShape::new);
        let mut traffic =
            TrafficModel::new(classes, shape, t.rate, f.start_utc.0 / 3600.0, &f.events);
        // Attack sources.
        for (i, e) in f.events.iter().enumerate() {
            if e.kind != EventKind::Attack {
                continue;
            }
            let event = u16::try_from(i).unwrap_or(u16::MAX);
            let start = u32::try_from(population.clients.len()).unwrap_or(u32::MAX);
            add_attack_clients(&mut population, e, event, f.seed);
            let end = u32::try_from(population.clients.len()).unwrap_or(u32::MAX);
            let start_us = e.start.as_micros();
            let end_us = e
                .end
                .map(|x| x.as_micros())
                .or(e.duration.map(|d| start_us + d.as_micros()))
                .unwrap_or(start_us);
            traffic.attacks.push(AttackModel {
                event,
                start_us,
                end_us,
                rate: e.rate.unwrap_or(0.0),
                host: e
                    .host
                    .clone()
                    .unwrap_or_else(|| "api.aybiza.com".to_owned())
                    .into_bytes(),
                path: e
                    .path
                    .clone()
                    .unwrap_or_else(|| "/api/v1/calls".to_owned())
                    .into_bytes(),
                method: e
                    .method
                    .clone()
                    .unwrap_or_else(|| "POST".to_owned())
                    .into_bytes(),
                clients: start..end,
            });
        }
        let shards = f.shards.max(1);
        let colo_shard = population.shard_colos(shards);
        // Network.
        let net_cfg: NetworkConfig = match &f.network {
            Some(table) => table.clone().try_into().map_err(|e: toml::de::Error| {
                scenario.error_at("network", e.message().to_owned())
            })?,
            None => NetworkConfig::default(),
        };
        let model = NetworkModel::with_base_dir(&net_cfg, scenario.base_dir.as_deref())?;
        let lat = LatencyTables::new(&model, &population, &regions);
        let normal_groups: Vec<u32> = (0..population.groups.len())
            .filter(|&g| population.groups.get(g).is_some_and(|x| x.weight > 0.0))
            .filter_map(|g| u32::try_from(g).ok())
            .collect();
        let within_50ms = {
            let mut within = 0.0;
            let mut total = 0.0;
            for g in &normal_groups {
                let w = population.groups.get(*g as usize).map_or(0.0, |x| x.weight);
                total += w;
                if lat.median_client_rtt_ms(*g) <= 50.0 {
                    within += w;
                }
            }
            if total > 0.0 { within / total } else { 0.0 }
        };
        // Events and health checks.
        let duration_us = scenario.duration_micros();
        let events: Vec<EventPlan> = f
            .events
            .iter()
            .map(|e| EventPlan::new(e, region_index))
            .collect();
        let mut probe_endpoints = Vec::new();
        let mut specs = Vec::new();
        if let Some(rt) = routing {
            for p in rt.probe_targets() {
                let idx = u32::try_from(probe_endpoints.len()).unwrap_or(u32::MAX);
                probe_endpoints.push(p.endpoint);
                specs.push(ProbeSpec {
                    endpoint: idx,
                    region: region_index(p.region),
                    key: p.key.to_owned(),
                    interval_us: p.monitor.interval_ms() * 1000,
                    timeout_us: p.monitor.timeout_ms() * 1000,
                    retries: p.monitor.retries(),
                });
            }
        }
        let probes = probe_timeline(&specs, &events, duration_us, f.seed);
        let (down_windows, monitor_times) = monitor_history(
            &policy,
            &probes,
            &probe_endpoints,
            &specs,
            &events,
            regions.len(),
        );
        // Every shard's engine applies the probes: only those that change a status matter.
        let probes = match routing {
            Some(rt) => events::status_changing_probes(rt, &probes, &probe_endpoints),
            None => probes,
        };
        let fields = {
            let sc = policy.scheme();
            match (
                sc.field("cf.bot_management.score"),
                sc.field("cf.threat_score"),
                sc.field("cf.bot_management.verified_bot"),
            ) {
                (Some(a), Some(b), Some(c)) => Some([a, b, c]),
                _ => None,
            }
        };
        let peer = edgeroute_geo::cloudflare_ip_ranges()
            .iter()
            .find_map(|n| match n.network() {
                IpAddr::V4(v4) => Some(IpAddr::V4(Ipv4Addr::from(u32::from(v4) + 1))),
                IpAddr::V6(_) => None,
            })
            .unwrap_or(IpAddr::V4(Ipv4Addr::new(173, 245, 48, 1)));
        let mut client_ip_text = Vec::new();
        let mut client_ip_off = vec![0u32];
        for c in &population.clients {
            client_ip_text.extend_from_slice(c.ip.to_string().as_bytes());
            client_ip_off.push(u32::try_from(client_ip_text.len()).unwrap_or(u32::MAX));
        }
        let sub_suffix = population
            .groups
            .iter()
            .map(|g| {
                g.subdivision
                    .and_then(|s| s.split_once('-').map(|(_, b)| b))
                    .unwrap_or("")
            })
            .collect();
        // Caches and origins.
        let edge_tier = tier_spec(scenario, "edge.cache", &f.edge.cache)?;
        let upper_tier = f
            .edge
            .upper_tier
            .as_ref()
            .map(|u| tier_spec(scenario, "edge.upper_tier", u))
            .transpose()?;
        let regional = match &f.regional_cache {
            Some(r) => Some(RegionalSpec {
                tier: tier_spec(scenario, "regional_cache", r)?,
                hit_us: shard::ms_to_us(r.hit_ms.unwrap_or(1.0)),
            }),
            None => None,
        };
        let database = match &f.database_cache {
            Some(d) => {
                let tc = TierConfig {
                    policy: d.policy.clone(),
                    capacity: d.capacity,
                    objects: d.objects,
                    hit_ms: None,
                };
                Some(DatabaseSpec {
                    tier: tier_spec(scenario, "database_cache", &tc)?,
                    ttl_us: d.ttl.as_micros(),
                    hit_us: shard::ms_to_us(d.hit_ms),
                    database: LogNormal::from_p50_p99(d.database.p50_ms, d.database.p99_ms),
                })
            }
            None => None,
        };
        let prices =
            crate::cost::PriceTable::from_scenario(&scenario.origin, &scenario.text, |file| {
                let path = scenario.resolve_path(file);
                std::fs::read_to_string(&path)
                    .map(|text| (path.display().to_string(), text))
                    .map_err(|e| e.to_string())
            })
            .map_err(|e| SimError::Prices(e.to_string()))?;
        prices
            .check_regions(regions.iter().map(String::as_str))
            .map_err(|e| SimError::Prices(e.to_string()))?;
        let policy_rules = policy
            .rules()
            .iter()
            .filter(|r| {
                matches!(
                    r.phase(),
                    edgeroute::Phase::Firewall | edgeroute::Phase::RateLimiting
                )
            })
            .count();
        let o = &f.origins;
        let default_service = LogNormal::from_p50_p99(o.p50_ms, o.p99_ms);
        let mut origins = Vec::with_capacity(services.len() * regions.len());
        for svc in &services {
            for reg in &regions {
                let mut spec = OriginSpec {
                    capacity: o.capacity,
                    service: default_service,
                };
                let (mut p50, mut p99) = (o.p50_ms, o.p99_ms);
                // Least specific first, so the most specific override applies last.
                let mut ranked: Vec<(u8, &crate::scenario::model::OriginOverride)> = o
                    .overrides
                    .iter()
                    .filter(|ov| ov.service.as_ref().is_none_or(|s| s == svc))
                    .filter(|ov| ov.region.as_ref().is_none_or(|r| r == reg))
                    .map(|ov| {
                        (
                            u8::from(ov.region.is_some()) * 2 + u8::from(ov.service.is_some()),
                            ov,
                        )
                    })
                    .collect();
                ranked.sort_by_key(|(rank, _)| *rank);
                for (_, ov) in ranked {
                    if let Some(c) = ov.capacity {
                        spec.capacity = c;
                    }
                    if let Some(v) = ov.p50_ms {
                        p50 = v;
                    }
                    if let Some(v) = ov.p99_ms {
                        p99 = v;
                    }
                }
                spec.service = LogNormal::from_p50_p99(p50, p99.max(p50));
                origins.push(spec);
            }
        }
        let trace = t.trace.as_ref().map(|tr| TraceSpec {
            path: scenario.resolve_path(&tr.file),
            origin: tr.file.clone(),
            skip_bad_rows: tr.skip_bad_rows,
            host: tr.host.clone(),
            units_per_second: tr.time_units_per_second,
        });
        let interval_us = f.series_interval.as_micros().max(1_000_000);
        let buckets = usize::try_from(duration_us.div_ceil(interval_us))
            .unwrap_or(1)
            .max(1);
        let n_classes = traffic.classes.len() + 1;
        let policy_rules = u32::try_from(policy_rules).unwrap_or(u32::MAX);
        let health_checks = u32::try_from(probe_endpoints.len()).unwrap_or(u32::MAX);
        let ctx = Ctx {
            name: scenario.name(),
            seed: f.seed,
            duration_us,
            epoch_us: f.epoch.as_micros().max(1_000),
            interval_us,
            buckets,
            shards: shards as usize,
            population,
            traffic,
            lat,
            services,
            events,
            probes,
            probe_endpoints,
            colo_shard,
            peer,
            client_ip_text,
            client_ip_off,
            sub_suffix,
            fields,
            edge_processing_us: shard::ms_to_us(f.edge.processing_ms),
            default_edge_ttl_s: 7_200,
            connect_timeout_us: f.edge.connect_timeout.as_micros(),
            retries: u32::from(f.edge.retry_on_failure),
            has_upper: upper_tier.is_some(),
            edge_tier,
            upper_tier,
            regional,
            database,
            default_service,
            origins,
            max_queue_us: o.max_queue.as_micros(),
            down_windows,
            monitor_times,
            targets: f.targets.clone(),
            within_50ms,
            trace,
            policy_rules,
            health_checks,
            cost_scale: f.cost.scale,
            cost_volumes: f.cost.volumes.clone(),
            prices,
            regions,
        };
        // Shards: one engine each, each with its own compiled policy (an engine owns its
        // policy and binds it to its health table); the first reuses the one compiled above.
        let mut first_policy = Some(policy);
        let mut shard_list = Vec::with_capacity(ctx.shards);
        for s in 0..shards {
            let mut normal = Vec::new();
            let mut attack: Vec<Vec<u32>> = vec![Vec::new(); ctx.traffic.attacks.len()];
            for (i, c) in ctx.population.clients.iter().enumerate() {
                let Ok(i) = u32::try_from(i) else { continue };
                let colo = ctx.group_colo(c.group);
                if ctx.colo_shard.get(colo as usize).copied() != Some(s) {
                    continue;
                }
                if i < normal_clients {
                    normal.push(i);
                } else if let Some(k) = ctx
                    .traffic
                    .attacks
                    .iter()
                    .position(|a| a.clients.contains(&i))
                    && let Some(v) = attack.get_mut(k)
                {
                    v.push(i);
                }
            }
            let traffic = ShardTraffic::new(
                &ctx.population,
                normal,
                attack,
                &ctx.traffic.attacks,
                ctx.seed,
                s,
            );
            let policy = match first_policy.take() {
                Some(p) => p,
                None => compile_policy(scenario)?,
            };
            let budget = shard_key_budget(&policy, traffic.local_clients(), ctx.trace.is_some());
            let engine = Engine::new_with_budget(policy, budget);
            let stats = Stats::new(
                ctx.regions.len(),
                n_classes,
                ctx.buckets,
                ctx.events.len(),
                ctx.population.groups.len(),
            );
            shard_list.push(Shard::new(&ctx, s, engine, traffic, stats));
        }
        // The origin sides only read the policy's routing: they share a shard's snapshot.
        let shared_policy = match shard_list.first() {
            Some(shard) => shard.policy(),
            None => std::sync::Arc::new(compile_policy(scenario)?),
        };
        let sides = (0..ctx.regions.len())
            .filter_map(|r| u16::try_from(r).ok())
            .map(|r| {
                let stats = Stats::new(
                    ctx.regions.len(),
                    n_classes,
                    ctx.buckets,
                    ctx.events.len(),
                    ctx.population.groups.len(),
                );
                OriginSide::new(&ctx, r, stats, std::sync::Arc::clone(&shared_policy))
            })
            .collect();
        let state = EpochState {
            deploys: vec![DeployState::default(); ctx.events.len()],
            recovered_us: ctx
                .events
                .iter()
                .zip(&ctx.monitor_times)
                .map(|(e, &(_, recovered))| match e.kind {
                    EventKind::RegionOutage | EventKind::OriginDegradation => {
                        recovered.or(e.end_us)
                    }
                    EventKind::Deploy => e.end_us,
                    EventKind::Attack | EventKind::Surge => e.end_us,
                })
                .collect(),
        };
        let alarms = vec![CanaryAlarm::default(); ctx.events.len()];
        Ok(Simulation {
            ctx,
            shards: shard_list,
            sides,
            state,
            alarms,
            skipped_rows: 0,
            routed_after_detection: 0,
        })
    }

    /// Simulated requests per second (mean over a day) and the run's duration, for a progress
    /// display.
    #[must_use]
    pub fn duration_us(&self) -> u64 {
        self.ctx.duration_us
    }

    /// Runs the whole scenario. `progress` is called after each epoch with the virtual time
    /// reached (µs).
    ///
    /// # Errors
    /// A trace that cannot be read (a bad row without `skip_bad_rows`).
    pub fn run(
        mut self,
        options: RunOptions,
        progress: &mut dyn FnMut(u64),
    ) -> Result<Report, SimError> {
        let threads = match options.threads {
            0 => self.auto_threads(),
            n => n,
        }
        .min(self.shards.len().max(self.sides.len()))
        .max(1);
        if options.log_attacks {
            for s in &mut self.shards {
                s.attack_log = Some(Vec::new());
            }
        }
        let mut trace = match &self.ctx.trace {
            Some(t) => Some(TraceFeed::open(t)?),
            None => None,
        };
        if threads == 1 {
            let mut from = 0;
            while from < self.ctx.duration_us {
                let to = (from + self.ctx.epoch_us).min(self.ctx.duration_us);
                if let Some(feed) = trace.as_mut() {
                    feed.fill(&self.ctx, &mut self.shards, to)?;
                }
                for s in &mut self.shards {
                    s.run_epoch(&self.ctx, &self.state, from, to);
                }
                for side in &mut self.sides {
                    let r = usize::from(side.region);
                    for (s, shard) in self.shards.iter_mut().enumerate() {
                        side.swap_input(s, &mut shard.out, r);
                    }
                    side.run_epoch(&self.ctx, &self.state);
                }
                self.coordinate(to);
                progress(to);
                from = to;
            }
        } else {
            self.run_threads(threads, &mut trace, progress)?;
        }
        if let Some(feed) = &trace {
            self.skipped_rows = feed.skipped();
        }
        self.finish()
    }

    /// One thread per core when an epoch holds enough work to split (at least ten requests at
    /// the peak rate); otherwise one thread, since the three synchronisations per epoch would
    /// cost more than they save. Measured on an idle 2-core machine: the default day 34.7 s on
    /// one thread, 21.5 s on two; at 20% of its rate (about 20 requests per epoch) 7.2 s vs
    /// 5.1 s; at 2% (about 2) 1.0 s vs 1.3 s. The report is the same either way.
    fn auto_threads(&self) -> usize {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        let peak_rate = self.ctx.traffic.rate * self.ctx.traffic.shape.max()
            + self.ctx.traffic.attacks.iter().map(|a| a.rate).sum::<f64>();
        let per_epoch = peak_rate * self.ctx.epoch_us as f64 / 1e6;
        if self.ctx.trace.is_some() || per_epoch >= 10.0 {
            cores
        } else {
            1
        }
    }

    fn run_threads(
        &mut self,
        threads: usize,
        trace: &mut Option<TraceFeed>,
        progress: &mut dyn FnMut(u64),
    ) -> Result<(), SimError> {
        let ctx = &self.ctx;
        let shards: Vec<Mutex<Shard>> = std::mem::take(&mut self.shards)
            .into_iter()
            .map(Mutex::new)
            .collect();
        let sides: Vec<Mutex<OriginSide>> = std::mem::take(&mut self.sides)
            .into_iter()
            .map(Mutex::new)
            .collect();
        let state = RwLock::new(std::mem::take(&mut self.state));
        let window = Mutex::new((0u64, 0u64, false)); // (from, to, done)
        let barrier = barrier::SpinBarrier::new(threads);
        let mut result = Ok(());
        // Worker `w` runs shards w, w + threads, ... then regions w, w + threads, ...
        let stage_a = |w: usize, from: u64, to: u64| {
            let st = state.read().unwrap_or_else(PoisonError::into_inner);
            for s in shards.iter().skip(w).step_by(threads) {
                lock(s).run_epoch(ctx, &st, from, to);
            }
        };
        let stage_b = |w: usize| {
            let st = state.read().unwrap_or_else(PoisonError::into_inner);
            for side in sides.iter().skip(w).step_by(threads) {
                let mut side = lock(side);
                let r = usize::from(side.region);
                for (s, shard) in shards.iter().enumerate() {
                    side.swap_input(s, &mut lock(shard).out, r);
                }
                side.run_epoch(ctx, &st);
            }
        };
        let work = |w: usize| {
            loop {
                barrier.wait();
                let (from, to, done) = *lock(&window);
                if done {
                    break;
                }
                stage_a(w, from, to);
                barrier.wait();
                stage_b(w);
                barrier.wait();
            }
        };
        std::thread::scope(|scope| {
            for w in 1..threads {
                let work = &work;
                scope.spawn(move || work(w));
            }
            // The main thread is worker 0 and the coordinator.
            let mut from = 0;
            loop {
                let done = from >= ctx.duration_us;
                let to = (from + ctx.epoch_us).min(ctx.duration_us);
                if !done && let Some(feed) = trace.as_mut() {
                    let mut guards: Vec<_> = shards.iter().map(lock).collect();
                    let mut views: Vec<&mut Shard> = guards.iter_mut().map(|g| &mut **g).collect();
                    if let Err(e) = feed.fill_refs(ctx, &mut views, to) {
                        result = Err(e);
                    }
                }
                let stop = done || result.is_err();
                *lock(&window) = (from, to, stop);
                barrier.wait();
                if stop {
                    break;
                }
                stage_a(0, from, to);
                barrier.wait();
                stage_b(0);
                barrier.wait();
                {
                    let mut guards: Vec<_> = shards.iter().map(lock).collect();
                    let mut side_guards: Vec<_> = sides.iter().map(lock).collect();
                    let mut st = state.write().unwrap_or_else(PoisonError::into_inner);
                    coordinate(
                        ctx,
                        &mut st,
                        &mut self.alarms,
                        guards.iter_mut().map(|g| &mut **g),
                        side_guards.iter_mut().map(|g| &mut **g),
                        to,
                    );
                }
                progress(to);
                from = to;
            }
        });
        self.shards = shards
            .into_iter()
            .map(|m| m.into_inner().unwrap_or_else(PoisonError::into_inner))
            .collect();
        self.sides = sides
            .into_iter()
            .map(|m| m.into_inner().unwrap_or_else(PoisonError::into_inner))
            .collect();
        self.state = state.into_inner().unwrap_or_else(PoisonError::into_inner);
        result
    }

    fn coordinate(&mut self, epoch_end: u64) {
        coordinate(
            &self.ctx,
            &mut self.state,
            &mut self.alarms,
            self.shards.iter_mut(),
            self.sides.iter_mut(),
            epoch_end,
        );
    }

    fn finish(mut self) -> Result<Report, SimError> {
        let n_classes = self.ctx.traffic.classes.len() + 1;
        let mut total = Stats::new(
            self.ctx.regions.len(),
            n_classes,
            self.ctx.buckets,
            self.ctx.events.len(),
            self.ctx.population.groups.len(),
        );
        let mut peak = vec![0u64; self.ctx.regions.len()];
        for s in &self.shards {
            total.merge(&s.stats);
            self.routed_after_detection += s.routed_after_detection;
        }
        for side in &self.sides {
            total.merge(&side.stats);
            if let Some(p) = peak.get_mut(usize::from(side.region)) {
                *p = side.peak_busy();
            }
        }
        for (r, p) in total.regions.iter_mut().zip(peak) {
            r.peak_busy = p;
        }
        let mut report = crate::report::build(
            &self.ctx,
            &total,
            &self.state,
            self.skipped_rows,
            self.routed_after_detection,
        );
        let mut log: Vec<AttackRecord> = self
            .shards
            .iter_mut()
            .filter_map(|s| s.attack_log.take())
            .flatten()
            .collect();
        log.sort_by_key(|r| (r.t_us, r.ip));
        report.attack_log = log;
        let totals = totals::traffic_totals(&self.ctx, &total);
        let cost = |volume: f64| {
            crate::cost::cost_report_at(&self.ctx.prices, &totals, self.ctx.cost_scale * volume)
                .map_err(|e| SimError::Cost(e.to_string()))
        };
        report.cost_monthly_usd = Some(cost(1.0)?);
        for &v in &self.ctx.cost_volumes {
            let c = cost(v)?;
            report.cost_by_volume.push(crate::report::VolumeCost {
                volume: v,
                requests_per_month_million: c.month.requests_million,
                hybrid_total: c.hybrid.total,
                cloud_only_total: c.cloud_only.total,
                savings: c.savings,
                verdict: c.design_claim.verdict,
            });
        }
        Ok(report)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Deploy alarms and passive feedback between epochs.
fn coordinate<'a>(
    ctx: &Ctx,
    state: &mut EpochState,
    alarms: &mut [CanaryAlarm],
    shards: impl Iterator<Item = &'a mut Shard>,
    sides: impl Iterator<Item = &'a mut OriginSide>,
    epoch_end: u64,
) {
    let mut sides: Vec<&mut OriginSide> = sides.collect();
    for (i, e) in ctx.events.iter().enumerate() {
        if e.kind != EventKind::Deploy {
            continue;
        }
        let (req, err) = sides
            .iter()
            .map(|s| s.canary.get(i).copied().unwrap_or((0, 0)))
            .fold((0, 0), |(a, b), (c, d)| (a + c, b + d));
        let (Some(alarm), Some(dep)) = (alarms.get_mut(i), state.deploys.get_mut(i)) else {
            continue;
        };
        if dep.alarm_us.is_none()
            && e.active(epoch_end.saturating_sub(1))
            && alarm.observe(e, epoch_end, req, err)
        {
            dep.alarm_us = Some(epoch_end);
            dep.rolled_back_us = Some(epoch_end + e.rollback_us);
            if let Some(r) = state.recovered_us.get_mut(i) {
                *r = Some(epoch_end + e.rollback_us);
            }
        }
    }
    if sides
        .iter()
        .all(|side| side.feedback.iter().all(Vec::is_empty))
    {
        return;
    }
    for (s, shard) in shards.enumerate() {
        for side in &mut sides {
            if let Some(fb) = side.feedback.get_mut(s) {
                shard.feedback.append(fb);
            }
        }
        shard.feedback.sort_by_key(|(t, _, _)| *t);
    }
}

/// Reads the trace epoch by epoch into the shards' inboxes.
struct TraceFeed {
    reader: TraceReader<std::fs::File>,
    origin: String,
    host: String,
    scale: f64,
    pending: Option<TraceArrival>,
    groups: std::collections::BTreeMap<&'static str, Vec<u32>>,
    done: bool,
}

impl TraceFeed {
    fn open(t: &TraceSpec) -> Result<Self, SimError> {
        let reader = TraceReader::open(
            &t.path,
            TraceOptions {
                skip_bad_rows: t.skip_bad_rows,
            },
        )
        .map_err(|source| SimError::Trace {
            origin: t.origin.clone(),
            source: Box::new(source),
        })?;
        Ok(TraceFeed {
            reader,
            origin: t.origin.clone(),
            host: t.host.clone(),
            scale: 1e6 / t.units_per_second.max(f64::MIN_POSITIVE),
            pending: None,
            groups: std::collections::BTreeMap::new(),
            done: false,
        })
    }

    fn skipped(&self) -> u64 {
        self.reader.skipped_rows()
    }

    fn fill(&mut self, ctx: &Ctx, shards: &mut [Shard], to: u64) -> Result<(), SimError> {
        let mut views: Vec<&mut Shard> = shards.iter_mut().collect();
        self.fill_refs(ctx, &mut views, to)
    }

    fn fill_refs(&mut self, ctx: &Ctx, shards: &mut [&mut Shard], to: u64) -> Result<(), SimError> {
        if self.groups.is_empty() {
            self.groups = ctx.population.groups_by_country();
        }
        loop {
            if let Some(p) = self.pending.take() {
                if p.t_us >= to {
                    self.pending = Some(p);
                    return Ok(());
                }
                let colo = ctx.group_colo(p.group);
                let s = ctx.colo_shard.get(colo as usize).copied().unwrap_or(0) as usize;
                if let Some(shard) = shards.get_mut(s) {
                    shard.trace_inbox.push(p);
                }
                continue;
            }
            if self.done {
                return Ok(());
            }
            let row = self
                .reader
                .next_request()
                .map_err(|source| SimError::Trace {
                    origin: self.origin.clone(),
                    source: Box::new(source),
                })?;
            let Some(row) = row else {
                self.done = true;
                return Ok(());
            };
            let t_us = (row.timestamp as f64 * self.scale).clamp(0.0, 1.8e19) as u64;
            if t_us >= ctx.duration_us {
                self.done = true;
                return Ok(());
            }
            // The client's place: its country (or one drawn by population from its address or
            // key), then a group of that country fixed by the same hash.
            let h = mix64(row.client_ip.map_or(row.key, |ip| match ip {
                IpAddr::V4(v4) => u64::from(u32::from(v4)),
                IpAddr::V6(v6) => u128::from(v6) as u64,
            }));
            let group = pick_group(ctx, &self.groups, row.country, h);
            let g = ctx.population.groups.get(group as usize);
            let country = g.map_or("US", |g| g.country);
            let continent = g.map_or(0, |g| ctx.continent_index(g.continent));
            let ip = match row.client_ip {
                Some(ip) => ip.to_string(),
                None => Ipv4Addr::from(
                    crate::traffic::population::CLIENT_BASE
                        .wrapping_add(u32::try_from(h % (1 << 24)).unwrap_or(0)),
                )
                .to_string(),
            };
            let path = row
                .path
                .map_or_else(|| format!("/objects/{}", row.key), str::to_owned);
            self.pending = Some(TraceArrival {
                t_us,
                ip,
                country,
                group,
                continent,
                host: row.host.map_or_else(|| self.host.clone(), str::to_owned),
                method: row.method.unwrap_or("GET").to_owned(),
                path,
                key: row.key,
                size: row.size,
            });
        }
    }
}

fn pick_group(
    ctx: &Ctx,
    by_country: &std::collections::BTreeMap<&'static str, Vec<u32>>,
    country: Option<&str>,
    h: u64,
) -> u32 {
    let pick = |list: &[u32]| -> Option<u32> {
        let total: f64 = list
            .iter()
            .filter_map(|g| ctx.population.groups.get(*g as usize))
            .map(|g| g.weight)
            .sum();
        if list.is_empty() {
            return None;
        }
        let mut x = (h >> 11) as f64 / (1u64 << 53) as f64 * total;
        for g in list {
            let w = ctx
                .population
                .groups
                .get(*g as usize)
                .map_or(0.0, |g| g.weight);
            if x < w {
                return Some(*g);
            }
            x -= w;
        }
        list.last().copied()
    };
    if let Some(list) = country.and_then(|c| by_country.get(c))
        && let Some(g) = pick(list)
    {
        return g;
    }
    let all: Vec<u32> = (0..ctx.population.groups.len())
        .filter_map(|g| u32::try_from(g).ok())
        .collect();
    pick(&all).unwrap_or(0)
}

/// Adds an attack's source addresses: spread over its countries by population (every listed
/// country gets at least one when there are enough addresses).
fn add_attack_clients(
    population: &mut Population,
    e: &crate::scenario::EventConfig,
    event: u16,
    seed: u64,
) {
    let addresses = e.addresses.unwrap_or(1_000).max(1);
    let countries: Vec<String> = match &e.countries {
        Some(c) if !c.is_empty() => c.clone(),
        _ => population
            .groups
            .iter()
            .map(|g| g.country.to_owned())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect(),
    };
    let weights: Vec<(u32, f64)> = countries
        .iter()
        .filter_map(|c| {
            let g = population.country_group(c)?;
            let pop = edgeroute_geo::country(c).map_or(1.0, |x| x.population as f64);
            Some((g, pop.max(1.0)))
        })
        .collect();
    let total: f64 = weights.iter().map(|w| w.1).sum();
    let bot = e.bot_score.unwrap_or([1, 10]);
    let threat = e.threat_score.unwrap_or([20, 90]);
    // Addresses from 45.0.0.0/8 plus the event index, so attacks never share an address with
    // normal clients.
    let base = 0x2D00_0000u32 + (u32::from(event) << 16);
    let mut n = 0u64;
    for (k, (group, w)) in weights.iter().enumerate() {
        let mut share = ((w / total.max(1.0)) * addresses as f64).floor() as u64;
        if share == 0 && (k as u64) < addresses {
            share = 1;
        }
        if k + 1 == weights.len() {
            share = addresses.saturating_sub(n);
        }
        for _ in 0..share {
            if n >= addresses {
                break;
            }
            let h = mix64(seed ^ u64::from(base) ^ n);
            let pick = |r: [i64; 2], x: u64| {
                let width = u64::try_from(r[1] - r[0] + 1).unwrap_or(1).max(1);
                u8::try_from((r[0] + i64::try_from(x % width).unwrap_or(0)).clamp(0, 255))
                    .unwrap_or(0)
            };
            population.clients.push(Client {
                group: *group,
                ip: Ipv4Addr::from(base.wrapping_add(u32::try_from(n).unwrap_or(0))),
                bot: true,
                verified: false,
                bot_score: pick(bot, h),
                threat_score: pick(threat, h >> 32),
                activity: 1.0,
            });
            n += 1;
        }
    }
}

/// Per region: windows in which monitors have it marked down.
type DownWindows = Vec<Vec<(u64, u64)>>;
/// Per event: (detected, recovered).
type MonitorTimes = Vec<(Option<u64>, Option<u64>)>;

/// Replays the health-check timeline into a scratch health table: for each region the windows
/// in which every monitored endpoint there is down, and for each region event the times the
/// monitors noticed it (every endpoint down) and saw it recover (every endpoint up again).
fn monitor_history(
    policy: &Policy,
    probes: &[ProbeReport],
    endpoints: &[EndpointId],
    specs: &[ProbeSpec],
    events: &[EventPlan],
    regions: usize,
) -> (DownWindows, MonitorTimes) {
    let mut windows: Vec<Vec<(u64, u64)>> = vec![Vec::new(); regions];
    let mut times = vec![(None, None); events.len()];
    let Some(rt) = policy.routing() else {
        return (windows, times);
    };
    let table = edgeroute::routing::HealthTable::new();
    table.register(rt);
    let mut by_region: Vec<Vec<usize>> = vec![Vec::new(); regions];
    for (i, s) in specs.iter().enumerate() {
        if let Some(list) = s.region.and_then(|r| by_region.get_mut(usize::from(r))) {
            list.push(i);
        }
    }
    let mut all_down = vec![false; regions];
    let mut down_since = vec![0u64; regions];
    for p in probes {
        let Some(&ep) = endpoints.get(p.endpoint as usize) else {
            continue;
        };
        let _ = table.report_probe_endpoint(rt, ep, p.ok, p.t_us / 1000);
        let Some(region) = specs.get(p.endpoint as usize).and_then(|s| s.region) else {
            continue;
        };
        let r = usize::from(region);
        let Some(members) = by_region.get(r) else {
            continue;
        };
        let status = |i: &usize| endpoints.get(*i).and_then(|e| table.probe_status(rt, *e));
        let down =
            !members.is_empty() && members.iter().all(|i| status(i) == Some(ProbeStatus::Down));
        let was = all_down.get(r).copied().unwrap_or(false);
        if down
            && !was
            && let Some(d) = down_since.get_mut(r)
        {
            *d = p.t_us;
        }
        let any_up = members.iter().any(|i| status(i) == Some(ProbeStatus::Up));
        if was && any_up {
            let since = down_since.get(r).copied().unwrap_or(0);
            if let Some(w) = windows.get_mut(r) {
                w.push((since, p.t_us));
            }
        }
        // Event times: noticed when the first endpoint of the region is marked down (from
        // then on routing may steer around it); recovered when, after the event's end, none
        // is marked down any more.
        let any_down = members.iter().any(|i| status(i) == Some(ProbeStatus::Down));
        for (k, e) in events.iter().enumerate() {
            if e.region != Some(region)
                || !matches!(
                    e.kind,
                    EventKind::RegionOutage | EventKind::OriginDegradation
                )
            {
                continue;
            }
            let Some(t) = times.get_mut(k) else { continue };
            if t.0.is_none() && any_down && p.t_us >= e.start_us {
                t.0 = Some(p.t_us);
            }
            if t.0.is_some()
                && t.1.is_none()
                && !any_down
                && e.end_us.is_none_or(|end| p.t_us >= end)
            {
                t.1 = Some(p.t_us);
            }
        }
        if let Some(a) = all_down.get_mut(r) {
            *a = if was { !any_up } else { down };
        }
    }
    for (r, down) in all_down.iter().enumerate() {
        if *down && let Some(w) = windows.get_mut(r) {
            w.push((down_since.get(r).copied().unwrap_or(0), u64::MAX));
        }
    }
    (windows, times)
}

#[cfg(test)]
mod tests {
    use super::shard_key_budget;
    use edgeroute::Policy;

    fn policy(characteristics: &str) -> Policy {
        let text = format!(
            r#"
[policy]
name = "test"
[rate_limiting]
key_budget = 1048576
[[rate_limiting.rules]]
id = "per-client"
characteristics = {characteristics}
period = "1m"
requests_per_period = 100
"#
        );
        Policy::from_toml_str(&text, "test.toml", None).unwrap().0
    }

    #[test]
    fn client_bound_keys_get_a_table_sized_for_the_shard() {
        let p = policy(r#"["ip.src"]"#);
        // One rule plus the rate() count, fourfold headroom.
        assert_eq!(shard_key_budget(&p, 10_000, false), 80_000);
        assert_eq!(shard_key_budget(&p, 10, false), 16_384);
        // Never above the policy's budget.
        assert_eq!(shard_key_budget(&p, 1_000_000, false), 1_048_576);
        // A trace's clients are not known up front.
        assert_eq!(shard_key_budget(&p, 10_000, true), 1_048_576);
    }

    #[test]
    fn keys_not_bound_to_the_client_keep_the_policy_budget() {
        let p = policy(r#"["ip.src", "http.request.headers[\"x-api-key\"]"]"#);
        assert_eq!(shard_key_budget(&p, 10_000, false), 1_048_576);
    }
}
