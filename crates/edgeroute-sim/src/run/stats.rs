//! Counters and histograms one worker (a shard, or a region's origin side) accumulates; merged
//! in a fixed order at the end, so the totals do not depend on the number of threads.

use crate::histogram::{CoarseHistogram, LatencyHistogram};

/// Number of continents tracked (edgeroute_geo::Continent::ALL order).
pub const CONTINENTS: usize = 7;

/// Action slots, in [`ACTION_NAMES`] order.
pub const ACTION_NAMES: [&str; 7] = [
    "allow",
    "block",
    "challenge",
    "managed_challenge",
    "js_challenge",
    "preflight",
    "unavailable",
];

/// Cache tiers, in report order.
pub const TIER_NAMES: [&str; 4] = ["edge", "upper", "regional", "database"];

/// Tier slots.
pub const EDGE: usize = 0;
/// Upper tier slot.
pub const UPPER: usize = 1;
/// Regional cache slot.
pub const REGIONAL: usize = 2;
/// Database query cache slot.
pub const DATABASE: usize = 3;

/// Lookups and hits at one tier.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TierCount {
    /// Lookups.
    pub lookups: u64,
    /// Hits.
    pub hits: u64,
    /// Bytes looked up.
    pub bytes: u64,
    /// Bytes hit.
    pub hit_bytes: u64,
}

impl TierCount {
    /// Counts one lookup.
    #[inline]
    pub fn record(&mut self, hit: bool, size: u32) {
        self.lookups += 1;
        self.bytes += u64::from(size);
        if hit {
            self.hits += 1;
            self.hit_bytes += u64::from(size);
        }
    }

    fn merge(&mut self, o: &TierCount) {
        self.lookups += o.lookups;
        self.hits += o.hits;
        self.bytes += o.bytes;
        self.hit_bytes += o.hit_bytes;
    }
}

/// Why a request failed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Failures {
    /// The origin could not be reached (region down), after any retries.
    pub connect: u64,
    /// The origin answered 5xx (degradation, bad deploy).
    pub origin_error: u64,
    /// The origin was over capacity (queue limit).
    pub overload: u64,
    /// The engine had nowhere to send it (503).
    pub unavailable: u64,
}

impl Failures {
    /// All failures.
    #[must_use]
    pub fn total(&self) -> u64 {
        self.connect + self.origin_error + self.overload + self.unavailable
    }

    fn merge(&mut self, o: &Failures) {
        self.connect += o.connect;
        self.origin_error += o.origin_error;
        self.overload += o.overload;
        self.unavailable += o.unavailable;
    }
}

/// One time-series interval.
#[derive(Debug, Clone, Default)]
pub struct SeriesBucket {
    /// Requests arriving in the interval.
    pub requests: u64,
    /// Failed requests.
    pub failed: u64,
    /// Requests answered with block or a challenge.
    pub mitigated: u64,
    /// Tier lookups and hits.
    pub tiers: [TierCount; 4],
    /// Requests that reached an origin.
    pub origin_requests: u64,
    /// Latency by client continent.
    pub continents: [CoarseHistogram; CONTINENTS],
    /// Requests by region served.
    pub regions: Vec<u64>,
}

impl SeriesBucket {
    fn merge(&mut self, o: &SeriesBucket) {
        self.requests += o.requests;
        self.failed += o.failed;
        self.mitigated += o.mitigated;
        for (a, b) in self.tiers.iter_mut().zip(&o.tiers) {
            a.merge(b);
        }
        self.origin_requests += o.origin_requests;
        for (a, b) in self.continents.iter_mut().zip(&o.continents) {
            a.merge(b);
        }
        merge_counts(&mut self.regions, &o.regions);
    }
}

/// What one event did, from one worker's view.
#[derive(Debug, Clone, Default)]
pub struct EventStats {
    /// Affected requests that failed while the event lasted.
    pub failed: u64,
    /// Affected requests routed away from their first-choice region while it lasted.
    pub rerouted: u64,
    /// The first such reroute (µs).
    pub first_reroute_us: Option<u64>,
    /// The first request the edge mitigated (attacks: block or challenge), in µs.
    pub first_mitigation_us: Option<u64>,
    /// Attack requests by action.
    pub actions: [u64; 7],
    /// Latency of affected requests before, during and after.
    pub before: LatencyHistogram,
    /// During.
    pub during: LatencyHistogram,
    /// After.
    pub after: LatencyHistogram,
    /// Where affected requests went while it lasted (by region index).
    pub went_to: Vec<u64>,
    /// Canary requests and canary errors per epoch index (deploys; evaluated by the coordinator).
    pub canary_requests: u64,
    /// Canary errors.
    pub canary_errors: u64,
}

impl EventStats {
    fn merge(&mut self, o: &EventStats) {
        self.failed += o.failed;
        self.rerouted += o.rerouted;
        self.first_reroute_us = min_opt(self.first_reroute_us, o.first_reroute_us);
        self.first_mitigation_us = min_opt(self.first_mitigation_us, o.first_mitigation_us);
        for (a, b) in self.actions.iter_mut().zip(o.actions) {
            *a += b;
        }
        self.before.merge(&o.before);
        self.during.merge(&o.during);
        self.after.merge(&o.after);
        merge_counts(&mut self.went_to, &o.went_to);
        self.canary_requests += o.canary_requests;
        self.canary_errors += o.canary_errors;
    }
}

fn min_opt(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

/// Adds `b` into `a` element-wise, growing `a` as needed.
pub fn merge_counts(a: &mut Vec<u64>, b: &[u64]) {
    if a.len() < b.len() {
        a.resize(b.len(), 0);
    }
    for (x, y) in a.iter_mut().zip(b) {
        *x += *y;
    }
}

/// Per traffic class.
#[derive(Debug, Clone, Default)]
pub struct ClassStats {
    /// Requests.
    pub requests: u64,
    /// Edge lookups and hits.
    pub edge: TierCount,
    /// Requests that reached an origin.
    pub origin: u64,
    /// Latency.
    pub latency: LatencyHistogram,
}

/// Per origin region.
#[derive(Debug, Clone, Default)]
pub struct RegionStats {
    /// Requests routed there (edge hits included).
    pub routed: u64,
    /// Requests that reached its origins.
    pub origin_requests: u64,
    /// Bytes its origins sent.
    pub origin_bytes: u64,
    /// Requests refused for overload.
    pub overloaded: u64,
    /// 5xx answers.
    pub errors: u64,
    /// Slot busy time (µs), for compute cost and utilisation.
    pub busy_us: u128,
    /// Most slots busy at once over any origin in the region.
    pub peak_busy: u64,
    /// Websocket seconds served.
    pub websocket_s: f64,
    /// Latency of requests routed there.
    pub latency: LatencyHistogram,
}

/// Everything one worker counts.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    /// Requests that arrived at the edge.
    pub requests: u64,
    /// Decisions by action.
    pub actions: [u64; 7],
    /// Failures by cause.
    pub failures: Failures,
    /// Retried attempts.
    pub retries: u64,
    /// Requests forwarded (allowed).
    pub forwarded: u64,
    /// Latency of every answered request (not blocked or challenged, not failed).
    pub latency: LatencyHistogram,
    /// By client continent.
    pub by_continent: [LatencyHistogram; CONTINENTS],
    /// The network part of every answered request's latency (client <-> data centre, and
    /// data centre <-> region when it went further; no queueing, service or database time),
    /// by client continent.
    pub network_by_continent: [LatencyHistogram; CONTINENTS],
    /// Latency of requests answered from an edge data centre's cache.
    pub edge_hits: LatencyHistogram,
    /// By region (index into the policy's regions).
    pub regions: Vec<RegionStats>,
    /// By traffic class (attacks last).
    pub classes: Vec<ClassStats>,
    /// Cache tiers.
    pub tiers: [TierCount; 4],
    /// Requests that reached an origin.
    pub origin_requests: u64,
    /// Bytes delivered to clients.
    pub bytes_out: u64,
    /// Time series.
    pub series: Vec<SeriesBucket>,
    /// Per event.
    pub events: Vec<EventStats>,
    /// Websocket sessions opened.
    pub sessions: u64,
    /// Session seconds (clipped to the run).
    pub session_s: f64,
    /// Sessions cut by an outage or failure.
    pub sessions_dropped: u64,
    /// Requests (all, blocked included) and bytes delivered by client group (for the cost
    /// model's price zones).
    pub by_group: Vec<(u64, u64)>,
    /// Bytes sent between regions.
    pub inter_region_bytes: Vec<u64>,
    /// Authoritative DNS queries (a client resolves again once its cached answer, 300 s, has
    /// expired).
    pub dns_queries: u64,
}

impl Stats {
    /// Empty stats sized for `regions`, `classes`, `buckets` series intervals, `events` and
    /// client `groups`.
    #[must_use]
    pub fn new(
        regions: usize,
        classes: usize,
        buckets: usize,
        events: usize,
        groups: usize,
    ) -> Self {
        Stats {
            by_group: vec![(0, 0); groups],
            regions: vec![RegionStats::default(); regions],
            classes: vec![ClassStats::default(); classes],
            series: (0..buckets)
                .map(|_| SeriesBucket {
                    regions: vec![0; regions],
                    ..SeriesBucket::default()
                })
                .collect(),
            events: (0..events)
                .map(|_| EventStats {
                    went_to: vec![0; regions],
                    ..EventStats::default()
                })
                .collect(),
            inter_region_bytes: vec![0; regions],
            ..Stats::default()
        }
    }

    /// Adds `o` into `self`.
    pub fn merge(&mut self, o: &Stats) {
        self.requests += o.requests;
        for (a, b) in self.actions.iter_mut().zip(o.actions) {
            *a += b;
        }
        self.failures.merge(&o.failures);
        self.retries += o.retries;
        self.forwarded += o.forwarded;
        self.latency.merge(&o.latency);
        for (a, b) in self.by_continent.iter_mut().zip(&o.by_continent) {
            a.merge(b);
        }
        for (a, b) in self
            .network_by_continent
            .iter_mut()
            .zip(&o.network_by_continent)
        {
            a.merge(b);
        }
        self.edge_hits.merge(&o.edge_hits);
        if self.regions.len() < o.regions.len() {
            self.regions.resize(o.regions.len(), RegionStats::default());
        }
        for (a, b) in self.regions.iter_mut().zip(&o.regions) {
            a.routed += b.routed;
            a.origin_requests += b.origin_requests;
            a.origin_bytes += b.origin_bytes;
            a.overloaded += b.overloaded;
            a.errors += b.errors;
            a.busy_us += b.busy_us;
            a.peak_busy = a.peak_busy.max(b.peak_busy);
            a.websocket_s += b.websocket_s;
            a.latency.merge(&b.latency);
        }
        if self.classes.len() < o.classes.len() {
            self.classes.resize(o.classes.len(), ClassStats::default());
        }
        for (a, b) in self.classes.iter_mut().zip(&o.classes) {
            a.requests += b.requests;
            a.edge.merge(&b.edge);
            a.origin += b.origin;
            a.latency.merge(&b.latency);
        }
        for (a, b) in self.tiers.iter_mut().zip(&o.tiers) {
            a.merge(b);
        }
        self.origin_requests += o.origin_requests;
        self.bytes_out += o.bytes_out;
        if self.series.len() < o.series.len() {
            self.series.resize(o.series.len(), SeriesBucket::default());
        }
        for (a, b) in self.series.iter_mut().zip(&o.series) {
            a.merge(b);
        }
        if self.events.len() < o.events.len() {
            self.events.resize(o.events.len(), EventStats::default());
        }
        for (a, b) in self.events.iter_mut().zip(&o.events) {
            a.merge(b);
        }
        self.sessions += o.sessions;
        self.session_s += o.session_s;
        self.sessions_dropped += o.sessions_dropped;
        if self.by_group.len() < o.by_group.len() {
            self.by_group.resize(o.by_group.len(), (0, 0));
        }
        for (a, b) in self.by_group.iter_mut().zip(&o.by_group) {
            a.0 += b.0;
            a.1 += b.1;
        }
        merge_counts(&mut self.inter_region_bytes, &o.inter_region_bytes);
        self.dns_queries += o.dns_queries;
    }
}

#[cfg(test)]
mod tests {
    use super::ACTION_NAMES;
    use edgeroute::Action;

    /// The report's action names are the engine's actions in `Action::index` order (statistics
    /// are indexed by it).
    #[test]
    fn action_names_follow_the_engine_index() {
        for a in Action::ALL {
            assert_eq!(ACTION_NAMES.get(a.index()), Some(&a.as_str()));
        }
        assert_eq!(ACTION_NAMES.len(), Action::COUNT);
    }
}
