//! The report: what a run predicts, as data. Serialises to the JSON of `--format json`
//! (`requests`, `latency_ms.{global,by_continent,by_region}`, `cache.tiers`, `cache.origin_offload`,
//! `actions`, `population_within_50ms_share`, `events[]`, `cost_monthly_usd`), renders as
//! terminal tables ([`Report::to_text`]) and writes CSV time series ([`Report::write_csv`]).
//!
//! Maps are `BTreeMap`s and numbers are rounded where they are derived from floating point, so
//! the same run gives byte-identical JSON.

mod csv;
mod text;

use std::collections::BTreeMap;

use edgeroute_geo::Continent;
use serde::Serialize;

use crate::histogram::{CoarseHistogram, LatencyHistogram};
use crate::run::stats::{ACTION_NAMES, CONTINENTS, Stats, TIER_NAMES, TierCount};

/// Latency percentiles of one population, in milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Percentiles {
    /// Requests measured.
    pub requests: u64,
    /// Median.
    pub p50: Option<f64>,
    /// 95th percentile.
    pub p95: Option<f64>,
    /// 99th percentile.
    pub p99: Option<f64>,
    /// The target for the target percentile, where one exists.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_ms: Option<f64>,
    /// Whether the target percentile is within the target (`null` with no data).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pass: Option<bool>,
}

impl Percentiles {
    fn from_hist(h: &LatencyHistogram, target: Option<f64>, quantile: f64) -> Self {
        let p = Percentiles {
            requests: h.count(),
            p50: h.quantile_ms(0.50),
            p95: h.quantile_ms(0.95),
            p99: h.quantile_ms(0.99),
            target_ms: target,
            pass: None,
        };
        let at = h.quantile_ms(quantile);
        Percentiles {
            pass: target.and_then(|t| at.map(|v| v <= t)),
            ..p
        }
    }
}

/// `latency_ms`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LatencyReport {
    /// The percentile targets apply to (default 0.95).
    pub target_quantile: f64,
    /// Every answered request.
    pub global: Percentiles,
    /// By the client's continent (`NA`, `EU`, `AS`, `SA`, `OC`, `AF`).
    pub by_continent: BTreeMap<String, Percentiles>,
    /// By the region that served the request (edge hits count for the region routing chose).
    pub by_region: BTreeMap<String, Percentiles>,
    /// The network part of the same requests' latency: client <-> data centre round trip
    /// (path and access delay) plus edge processing, and data centre <-> region when the
    /// request went further (and any retry timeouts); no origin queueing, service, database
    /// or regional-cache time. Against the same targets, to show whether a miss is the network
    /// or the servers.
    pub network_global: Percentiles,
    /// The network part, by the client's continent.
    pub network_by_continent: BTreeMap<String, Percentiles>,
    /// Requests answered from an edge data centre's cache (one client round trip plus edge
    /// processing).
    pub edge_hits: Percentiles,
}

/// One cache tier.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TierReport {
    /// Lookups.
    pub lookups: u64,
    /// Hits.
    pub hits: u64,
    /// Hits / lookups (0 with no lookups).
    pub hit_ratio: f64,
    /// Hit bytes / looked-up bytes.
    pub byte_hit_ratio: f64,
}

impl From<&TierCount> for TierReport {
    fn from(t: &TierCount) -> Self {
        TierReport {
            lookups: t.lookups,
            hits: t.hits,
            hit_ratio: ratio(t.hits, t.lookups),
            byte_hit_ratio: ratio(t.hit_bytes, t.bytes),
        }
    }
}

/// One traffic class.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClassReport {
    /// Requests.
    pub requests: u64,
    /// Edge hit ratio.
    pub edge_hit_ratio: f64,
    /// Share of its requests that reached an origin.
    pub origin_share: f64,
    /// Latency.
    pub latency_ms: Percentiles,
}

/// `cache`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CacheReport {
    /// `edge`, `upper`, `regional`, `database`.
    pub tiers: BTreeMap<String, TierReport>,
    /// Share of forwarded requests answered by the edge or upper tier (never reached an origin).
    pub origin_offload: f64,
    /// Per traffic class.
    pub by_class: BTreeMap<String, ClassReport>,
}

/// One region's origins.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OriginReport {
    /// Requests routed to the region (edge hits included).
    pub routed: u64,
    /// Requests its origins served.
    pub requests: u64,
    /// Refused for overload (503).
    pub overloaded: u64,
    /// Answered with 5xx.
    pub errors: u64,
    /// Mean busy slots over the run.
    pub mean_busy_slots: f64,
    /// Most slots busy at once.
    pub peak_busy_slots: u64,
    /// GB its origins sent.
    pub egress_gb: f64,
}

/// `failures`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FailureReport {
    /// All failed requests.
    pub total: u64,
    /// The origin could not be reached, after retries.
    pub connect: u64,
    /// The origin answered 5xx.
    pub origin_error: u64,
    /// The origin was over capacity.
    pub overload: u64,
    /// Nowhere allowed to send it.
    pub unavailable: u64,
    /// Retried attempts.
    pub retries: u64,
}

/// `sessions`: websocket (voice) sessions.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionReport {
    /// Sessions opened.
    pub opened: u64,
    /// Session minutes (clipped to the run).
    pub minutes: f64,
    /// Sessions cut by a region outage.
    pub dropped: u64,
}

/// `latency_ms` of an event: before, during and after.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventLatency {
    /// The comparison window before the start.
    pub before: Percentiles,
    /// From start to recovery.
    pub during: Percentiles,
    /// The comparison window after recovery.
    pub after: Percentiles,
}

/// One entry of `events[]`: the failover timeline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventReport {
    /// `region_outage`, `origin_degradation`, `deploy`, `attack`, `surge`.
    pub kind: String,
    /// The label.
    pub name: String,
    /// The target (region), if any.
    pub target: Option<String>,
    /// Start (s).
    pub start_s: f64,
    /// When it was noticed (s): monitors marking every endpoint of the region down; a deploy's
    /// alarm; an attack's first mitigated request.
    pub detected_s: Option<f64>,
    /// When traffic moved (s): the first request routed away from the region; a deploy's
    /// completed rollback.
    pub rerouted_s: Option<f64>,
    /// When it was over (s): monitors seeing the region up again; rollback complete; the
    /// attack or surge's end.
    pub recovered_s: Option<f64>,
    /// Affected requests that failed between start and recovery.
    pub failed_requests: u64,
    /// Affected requests routed away from their first-choice region between start and recovery.
    pub rerouted_requests: u64,
    /// Latency of affected requests.
    pub latency_ms: EventLatency,
    /// Where affected requests went between start and recovery (region -> requests).
    pub traffic_went_to: BTreeMap<String, u64>,
    /// Attacks: requests by action.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actions: Option<BTreeMap<String, u64>>,
}

/// The cost at one traffic volume.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VolumeCost {
    /// Traffic multiplier.
    pub volume: f64,
    /// Edge requests per month, millions.
    pub requests_per_month_million: f64,
    /// Hybrid total, USD per month.
    pub hybrid_total: f64,
    /// Cloud-only total, USD per month.
    pub cloud_only_total: f64,
    /// Cloud-only minus hybrid.
    pub savings: f64,
    /// How the savings compare with the design's claim.
    pub verdict: crate::cost::Verdict,
}

/// One time-series interval (`--csv-dir`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeriesPoint {
    /// Start of the interval (s).
    pub t_s: f64,
    /// Requests.
    pub requests: u64,
    /// Failed.
    pub failed: u64,
    /// Blocked or challenged.
    pub mitigated: u64,
    /// Requests that reached an origin.
    pub origin_requests: u64,
    /// Hit ratio per tier.
    pub hit_ratio: BTreeMap<String, Option<f64>>,
    /// p50 and p95 (ms) by continent.
    pub latency_ms: BTreeMap<String, (Option<f64>, Option<f64>)>,
    /// Requests by region.
    pub regions: BTreeMap<String, u64>,
}

/// The whole report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// Scenario name.
    pub scenario: String,
    /// Seed.
    pub seed: u64,
    /// Simulated time (s).
    pub duration_s: f64,
    /// Requests that arrived at the edge.
    pub requests: u64,
    /// Mean requests per second.
    pub mean_rps: f64,
    /// Latency.
    pub latency_ms: LatencyReport,
    /// Share of the population whose median RTT to its nearest data centre is at most 50 ms.
    pub population_within_50ms_share: f64,
    /// The design's claim for that share (default 0.95) and whether it holds.
    pub population_within_50ms_target: f64,
    /// Whether the share meets the target.
    pub population_within_50ms_pass: bool,
    /// Cache tiers and offload.
    pub cache: CacheReport,
    /// Decisions by action.
    pub actions: BTreeMap<String, u64>,
    /// Failures by cause.
    pub failures: FailureReport,
    /// Origins by region.
    pub origins: BTreeMap<String, OriginReport>,
    /// Websocket sessions.
    pub sessions: SessionReport,
    /// Failover timeline, one entry per event.
    pub events: Vec<EventReport>,
    /// Requests routed to a region after the monitors had marked it down (should be 0).
    pub routed_after_detection: u64,
    /// Trace rows skipped as malformed (`skip_bad_rows`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped_rows: Option<u64>,
    /// Monthly cost of both architectures (`cost_monthly_usd.hybrid.total`,
    /// `cost_monthly_usd.cloud_only.total`, `cost_monthly_usd.savings`, items per service).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost_monthly_usd: Option<crate::cost::CostReport>,
    /// The same traffic costed at other volumes (`[cost] volumes`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cost_by_volume: Vec<VolumeCost>,
    /// Time series (not in the JSON; see `--csv-dir`).
    #[serde(skip)]
    pub series: Vec<SeriesPoint>,
    /// Every attack request, with `RunOptions::log_attacks` (not in the JSON).
    #[serde(skip)]
    pub attack_log: Vec<crate::run::AttackRecord>,
}

impl Report {
    /// What the charts (`--html`, `--svg-dir`) show: latency over time per continent, hit
    /// ratio per tier, the failover timeline and the cost breakdown.
    #[must_use]
    pub fn chart_data(&self) -> crate::charts::ChartData {
        use crate::charts::{
            ChartData, CostChart, EventTimeline, LatencyPoint, LatencySeries, TierHitRatio,
        };
        let continents: Vec<&String> = self
            .latency_ms
            .by_continent
            .iter()
            .filter(|(_, p)| p.requests > 0)
            .map(|(c, _)| c)
            .collect();
        let latency = continents
            .into_iter()
            .map(|c| LatencySeries {
                name: c.clone(),
                target_ms: self
                    .latency_ms
                    .by_continent
                    .get(c)
                    .and_then(|p| p.target_ms),
                points: self
                    .series
                    .iter()
                    .filter_map(|p| match p.latency_ms.get(c) {
                        Some((Some(p50), Some(p95))) => Some(LatencyPoint {
                            t_s: p.t_s,
                            p50_ms: *p50,
                            p95_ms: *p95,
                        }),
                        _ => None,
                    })
                    .collect(),
            })
            .collect();
        let hit_ratio = ["edge", "upper", "regional", "database"]
            .iter()
            .filter_map(|t| {
                let tier = self.cache.tiers.get(*t)?;
                (tier.lookups > 0).then(|| TierHitRatio {
                    tier: (*t).to_owned(),
                    hit_ratio: tier.hit_ratio,
                })
            })
            .collect();
        let events = self
            .events
            .iter()
            .map(|e| EventTimeline {
                kind: e.kind.clone(),
                target: e.target.clone().unwrap_or_else(|| e.name.clone()),
                start_s: e.start_s,
                detected_s: e.detected_s,
                rerouted_s: e.rerouted_s,
                recovered_s: e.recovered_s,
            })
            .collect();
        ChartData {
            title: format!("edgeroute simulation: {}", self.scenario),
            subtitle: format!(
                "seed {}, {:.1} h simulated, {} requests ({:.0}/s)",
                self.seed,
                self.duration_s / 3600.0,
                self.requests,
                self.mean_rps
            ),
            duration_s: self.duration_s,
            latency,
            hit_ratio,
            events,
            cost: self.cost_monthly_usd.as_ref().map(CostChart::from),
        }
    }

    /// The report as pretty JSON (byte-identical for the same scenario and seed).
    #[must_use]
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        round6(a as f64 / b as f64)
    }
}

/// Rounds to 6 decimal places (keeps JSON short and stable).
#[must_use]
pub fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn coarse_ms(h: &CoarseHistogram, q: f64) -> Option<f64> {
    h.quantile_ms(q)
}

/// Builds the report from merged statistics.
pub(crate) fn build(
    ctx: &crate::run::Ctx,
    s: &Stats,
    state: &crate::run::EpochState,
    skipped_rows: u64,
    routed_after_detection: u64,
) -> Report {
    let q = ctx.targets.quantile;
    let mut by_continent = BTreeMap::new();
    let mut network_by_continent = BTreeMap::new();
    let mut network_global = LatencyHistogram::new();
    for (i, c) in Continent::ALL.iter().enumerate() {
        if let Some(h) = s.network_by_continent.get(i) {
            network_global.merge(h);
        }
        if *c == Continent::AN {
            continue;
        }
        let target = ctx.targets.continents.get(c.as_str()).copied();
        if let Some(h) = s.by_continent.get(i) {
            by_continent.insert(c.as_str().to_owned(), Percentiles::from_hist(h, target, q));
        }
        if let Some(h) = s.network_by_continent.get(i) {
            network_by_continent
                .insert(c.as_str().to_owned(), Percentiles::from_hist(h, target, q));
        }
    }
    let mut by_region = BTreeMap::new();
    let mut origins = BTreeMap::new();
    let duration_s = ctx.duration_us as f64 / 1e6;
    for (name, r) in ctx.regions.iter().zip(&s.regions) {
        by_region.insert(name.clone(), Percentiles::from_hist(&r.latency, None, q));
        origins.insert(
            name.clone(),
            OriginReport {
                routed: r.routed,
                requests: r.origin_requests,
                overloaded: r.overloaded,
                errors: r.errors,
                mean_busy_slots: round2(r.busy_us as f64 / 1e6 / duration_s.max(1e-9)),
                peak_busy_slots: r.peak_busy,
                egress_gb: round6(r.origin_bytes as f64 / 1e9),
            },
        );
    }
    let tiers: BTreeMap<String, TierReport> = TIER_NAMES
        .iter()
        .zip(&s.tiers)
        .map(|(n, t)| ((*n).to_owned(), TierReport::from(t)))
        .collect();
    let mut by_class = BTreeMap::new();
    let names = ctx
        .traffic
        .classes
        .iter()
        .map(|c| c.name.clone())
        .chain(std::iter::once("attack".to_owned()));
    for (name, c) in names.zip(&s.classes) {
        if c.requests == 0 && name == "attack" {
            continue;
        }
        by_class.insert(
            name,
            ClassReport {
                requests: c.requests,
                edge_hit_ratio: ratio(c.edge.hits, c.edge.lookups),
                origin_share: ratio(c.origin, c.requests),
                latency_ms: Percentiles::from_hist(&c.latency, None, q),
            },
        );
    }
    let answered_at_edge = s.forwarded.saturating_sub(s.origin_requests);
    let actions = ACTION_NAMES
        .iter()
        .zip(s.actions)
        .map(|(n, v)| ((*n).to_owned(), v))
        .collect();
    let events = ctx
        .events
        .iter()
        .zip(&s.events)
        .enumerate()
        .map(|(i, (e, es))| event_report(ctx, state, i, e, es, q))
        .collect();
    let series = s
        .series
        .iter()
        .enumerate()
        .map(|(i, b)| SeriesPoint {
            t_s: (i as u64 * ctx.interval_us) as f64 / 1e6,
            requests: b.requests,
            failed: b.failed,
            mitigated: b.mitigated,
            origin_requests: b.origin_requests,
            hit_ratio: TIER_NAMES
                .iter()
                .zip(&b.tiers)
                .map(|(n, t)| {
                    (
                        (*n).to_owned(),
                        (t.lookups > 0).then(|| ratio(t.hits, t.lookups)),
                    )
                })
                .collect(),
            latency_ms: Continent::ALL
                .iter()
                .zip(&b.continents)
                .filter(|(c, _)| **c != Continent::AN)
                .map(|(c, h)| {
                    (
                        c.as_str().to_owned(),
                        (coarse_ms(h, 0.5), coarse_ms(h, 0.95)),
                    )
                })
                .collect(),
            regions: ctx
                .regions
                .iter()
                .cloned()
                .zip(b.regions.iter().copied())
                .collect(),
        })
        .collect();
    let _ = CONTINENTS;
    Report {
        scenario: ctx.name.clone(),
        seed: ctx.seed,
        duration_s,
        requests: s.requests,
        mean_rps: round2(s.requests as f64 / duration_s.max(1e-9)),
        latency_ms: LatencyReport {
            target_quantile: q,
            global: Percentiles::from_hist(&s.latency, Some(ctx.targets.global_ms), q),
            by_continent,
            by_region,
            network_global: Percentiles::from_hist(&network_global, Some(ctx.targets.global_ms), q),
            network_by_continent,
            edge_hits: Percentiles::from_hist(&s.edge_hits, None, q),
        },
        population_within_50ms_share: round6(ctx.within_50ms),
        population_within_50ms_target: ctx.targets.population_within_50ms,
        population_within_50ms_pass: ctx.within_50ms >= ctx.targets.population_within_50ms,
        cache: CacheReport {
            tiers,
            origin_offload: ratio(answered_at_edge, s.forwarded),
            by_class,
        },
        actions,
        failures: FailureReport {
            total: s.failures.total(),
            connect: s.failures.connect,
            origin_error: s.failures.origin_error,
            overload: s.failures.overload,
            unavailable: s.failures.unavailable,
            retries: s.retries,
        },
        origins,
        sessions: SessionReport {
            opened: s.sessions,
            minutes: round2(s.session_s / 60.0),
            dropped: s.sessions_dropped,
        },
        events,
        routed_after_detection,
        skipped_rows: ctx.trace.as_ref().map(|_| skipped_rows),
        cost_monthly_usd: None,
        cost_by_volume: Vec::new(),
        attack_log: Vec::new(),
        series,
    }
}

fn secs(us: Option<u64>) -> Option<f64> {
    us.map(|t| round6(t as f64 / 1e6))
}

fn event_report(
    ctx: &crate::run::Ctx,
    state: &crate::run::EpochState,
    i: usize,
    e: &crate::run::EventPlan,
    es: &crate::run::stats::EventStats,
    q: f64,
) -> EventReport {
    use crate::scenario::EventKind;
    let (monitor_detected, monitor_recovered) =
        ctx.monitor_times.get(i).copied().unwrap_or((None, None));
    let deploy = state.deploys.get(i).copied().unwrap_or_default();
    let (detected, rerouted, recovered) = match e.kind {
        EventKind::RegionOutage | EventKind::OriginDegradation => {
            let rec = monitor_recovered.or(if monitor_detected.is_none() {
                e.end_us
            } else {
                None
            });
            (monitor_detected, es.first_reroute_us, rec)
        }
        EventKind::Deploy => (
            deploy.alarm_us,
            deploy.rolled_back_us,
            deploy.rolled_back_us.or(e.end_us),
        ),
        EventKind::Attack => (es.first_mitigation_us, None, e.end_us),
        EventKind::Surge => (None, None, e.end_us),
    };
    let went_to = ctx
        .regions
        .iter()
        .zip(&es.went_to)
        .filter(|(_, n)| **n > 0)
        .map(|(r, n)| (r.clone(), *n))
        .collect();
    EventReport {
        kind: e.kind.as_str().to_owned(),
        name: e.name.clone(),
        target: e.target.clone(),
        start_s: round6(e.start_us as f64 / 1e6),
        detected_s: secs(detected),
        rerouted_s: secs(rerouted),
        recovered_s: secs(recovered),
        failed_requests: es.failed,
        rerouted_requests: es.rerouted,
        latency_ms: EventLatency {
            before: Percentiles::from_hist(&es.before, None, q),
            during: Percentiles::from_hist(&es.during, None, q),
            after: Percentiles::from_hist(&es.after, None, q),
        },
        traffic_went_to: went_to,
        actions: (e.kind == EventKind::Attack).then(|| {
            ACTION_NAMES
                .iter()
                .zip(es.actions)
                .map(|(n, v)| ((*n).to_owned(), v))
                .collect()
        }),
    }
}
