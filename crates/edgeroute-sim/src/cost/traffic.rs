//! What the simulator counted, in the units prices need.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// A CloudFront price zone: edge traffic is priced by where it is served.
///
/// The zones are those of the CloudFront pricing page; [`PriceZone::for_country`] places a
/// client country in one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PriceZone {
    /// United States, Mexico and Canada (and the rest of North America here).
    Us,
    /// Europe, Israel and Türkiye.
    Eu,
    /// South Africa, Kenya, Nigeria and the Middle East (and the rest of Africa here).
    MeAf,
    /// South America.
    Sa,
    /// Japan.
    Jp,
    /// Australia and New Zealand (and the rest of Oceania here).
    Au,
    /// Hong Kong, Indonesia, Philippines, Singapore, South Korea, Taiwan, Thailand, Malaysia,
    /// Vietnam (and the rest of Asia here).
    Ap,
    /// India.
    In,
}

impl PriceZone {
    /// Every zone, in table order.
    pub const ALL: [PriceZone; 8] = [
        PriceZone::Us,
        PriceZone::Eu,
        PriceZone::MeAf,
        PriceZone::Sa,
        PriceZone::Jp,
        PriceZone::Au,
        PriceZone::Ap,
        PriceZone::In,
    ];

    /// The key used in price tables and JSON, such as `"me_af"`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            PriceZone::Us => "us",
            PriceZone::Eu => "eu",
            PriceZone::MeAf => "me_af",
            PriceZone::Sa => "sa",
            PriceZone::Jp => "jp",
            PriceZone::Au => "au",
            PriceZone::Ap => "ap",
            PriceZone::In => "in",
        }
    }

    /// The zone of a key such as `"eu"`.
    #[must_use]
    pub fn from_key(key: &str) -> Option<Self> {
        PriceZone::ALL.into_iter().find(|z| z.as_str() == key)
    }

    /// The zone that serves clients in country `iso2` (ISO 3166-1 alpha-2, any case), on
    /// continent `continent` (GeoNames code: AF, AN, AS, EU, NA, OC, SA) for countries the
    /// pricing page does not name.
    #[must_use]
    pub fn for_country(iso2: &str, continent: &str) -> Self {
        let upper = |s: &str| {
            let mut b = [0u8; 2];
            for (d, c) in b.iter_mut().zip(s.bytes()) {
                *d = c.to_ascii_uppercase();
            }
            b
        };
        match &upper(iso2) {
            b"US" | b"CA" | b"MX" => PriceZone::Us,
            b"IL" | b"TR" | b"CY" => PriceZone::Eu,
            b"ZA" | b"KE" | b"NG" | b"AE" | b"SA" | b"QA" | b"BH" | b"KW" | b"OM" | b"JO"
            | b"LB" | b"IQ" | b"IR" | b"SY" | b"YE" | b"PS" => PriceZone::MeAf,
            b"JP" => PriceZone::Jp,
            b"AU" | b"NZ" => PriceZone::Au,
            b"IN" => PriceZone::In,
            b"HK" | b"ID" | b"PH" | b"SG" | b"KR" | b"TW" | b"TH" | b"MY" | b"VN" => PriceZone::Ap,
            _ => match &upper(continent) {
                b"EU" => PriceZone::Eu,
                b"AF" => PriceZone::MeAf,
                b"SA" => PriceZone::Sa,
                b"OC" => PriceZone::Au,
                b"AS" => PriceZone::Ap,
                _ => PriceZone::Us,
            },
        }
    }
}

impl fmt::Display for PriceZone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Requests and bytes served from the edge in one price zone.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZoneTraffic {
    /// Requests answered at the edge (hits, misses and blocked alike).
    pub requests: u64,
    /// Bytes sent from the edge to clients.
    pub bytes: u64,
}

/// What one origin region did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionTraffic {
    /// Requests that reached this region's load balancer (edge misses, bypasses, websockets).
    pub requests: u64,
    /// Bytes sent from the region to the edge (responses to edge misses).
    pub bytes_out: u64,
    /// Bytes received from the edge (request bodies).
    pub bytes_in: u64,
    /// Busy compute time, in microseconds of one vCPU (sum of service times).
    pub busy_us: u64,
    /// Websocket (voice session) connection time held open at the load balancer, in seconds.
    pub websocket_seconds: u64,
    /// New connections from the edge, when the simulator counts them; otherwise the cost model
    /// uses `requests / assumptions.requests_per_connection`.
    pub new_connections: Option<u64>,
}

/// Totals over one simulated run: the input of [`cost_report`](super::cost_report).
///
/// The simulator fills it; every counter is an integer so that shards merge (with
/// [`TrafficTotals::merge`]) into exactly what one thread counts. The model extrapolates linearly
/// from `duration_s` to a 30-day month.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrafficTotals {
    /// Simulated duration in seconds (virtual time).
    pub duration_s: f64,
    /// Every request that reached the edge, blocked ones included.
    pub requests: u64,
    /// Requests and bytes per CloudFront price zone (where the client was served).
    pub edge: BTreeMap<PriceZone, ZoneTraffic>,
    /// Requests per continent code (`NA`, `EU`, ...), for the report only.
    pub requests_by_continent: BTreeMap<String, u64>,
    /// Authoritative DNS queries the clients made (after resolver caching).
    pub dns_queries: u64,
    /// Requests the firewall evaluated.
    pub waf_evaluated_requests: u64,
    /// Requests blocked or challenged at the edge (never reached an origin).
    pub blocked_requests: u64,
    /// Requests that ran edge code, when the simulator knows; otherwise the cost model uses
    /// `requests * assumptions.edge_worker_request_share`.
    pub edge_worker_requests: Option<u64>,
    /// Per origin region (AWS region code): what reached it. List every deployed region, even
    /// with zero traffic: each pays for its load balancer and minimum compute.
    pub origins: BTreeMap<String, RegionTraffic>,
    /// Bytes sent between regions, by source region (replication, failover to a remote origin).
    pub inter_region_bytes: BTreeMap<String, u64>,
    /// Firewall and rate-limit rules in the policy (0: use `assumptions.waf_rules`).
    pub waf_rules: u32,
    /// Health checks (monitor x endpoint) in the policy (0: use `assumptions.health_checks`).
    pub health_checks: u32,
}

impl TrafficTotals {
    /// Bytes served from the edge, over all zones.
    #[must_use]
    pub fn bytes_served(&self) -> u64 {
        self.edge.values().map(|z| z.bytes).sum()
    }

    /// Counts one request served from the edge in `zone`.
    pub fn record_edge(&mut self, zone: PriceZone, bytes: u64) {
        let z = self.edge.entry(zone).or_default();
        z.requests += 1;
        z.bytes += bytes;
        self.requests += 1;
    }

    /// The totals of `region`, created empty if absent.
    pub fn origin_mut(&mut self, region: &str) -> &mut RegionTraffic {
        self.origins.entry(region.to_owned()).or_default()
    }

    /// Adds another shard's counts into this one. Durations are not added (shards run over the
    /// same virtual time); the longer one is kept. Counters add, so merging shards in any order
    /// gives the same totals as one thread.
    pub fn merge(&mut self, other: &TrafficTotals) {
        self.duration_s = self.duration_s.max(other.duration_s);
        self.requests += other.requests;
        for (zone, t) in &other.edge {
            let z = self.edge.entry(*zone).or_default();
            z.requests += t.requests;
            z.bytes += t.bytes;
        }
        for (c, n) in &other.requests_by_continent {
            *self.requests_by_continent.entry(c.clone()).or_default() += n;
        }
        self.dns_queries += other.dns_queries;
        self.waf_evaluated_requests += other.waf_evaluated_requests;
        self.blocked_requests += other.blocked_requests;
        self.edge_worker_requests = match (self.edge_worker_requests, other.edge_worker_requests) {
            (None, None) => None,
            (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
        };
        for (region, t) in &other.origins {
            let r = self.origin_mut(region);
            r.requests += t.requests;
            r.bytes_out += t.bytes_out;
            r.bytes_in += t.bytes_in;
            r.busy_us += t.busy_us;
            r.websocket_seconds += t.websocket_seconds;
            r.new_connections = match (r.new_connections, t.new_connections) {
                (None, None) => None,
                (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
            };
        }
        for (region, b) in &other.inter_region_bytes {
            *self.inter_region_bytes.entry(region.clone()).or_default() += b;
        }
        self.waf_rules = self.waf_rules.max(other.waf_rules);
        self.health_checks = self.health_checks.max(other.health_checks);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zones_for_countries() {
        assert_eq!(PriceZone::for_country("us", "NA"), PriceZone::Us);
        assert_eq!(PriceZone::for_country("GT", "NA"), PriceZone::Us);
        assert_eq!(PriceZone::for_country("DE", "EU"), PriceZone::Eu);
        assert_eq!(PriceZone::for_country("TR", "AS"), PriceZone::Eu);
        assert_eq!(PriceZone::for_country("AE", "AS"), PriceZone::MeAf);
        assert_eq!(PriceZone::for_country("EG", "AF"), PriceZone::MeAf);
        assert_eq!(PriceZone::for_country("BR", "SA"), PriceZone::Sa);
        assert_eq!(PriceZone::for_country("JP", "AS"), PriceZone::Jp);
        assert_eq!(PriceZone::for_country("NZ", "OC"), PriceZone::Au);
        assert_eq!(PriceZone::for_country("FJ", "OC"), PriceZone::Au);
        assert_eq!(PriceZone::for_country("SG", "AS"), PriceZone::Ap);
        assert_eq!(PriceZone::for_country("CN", "AS"), PriceZone::Ap);
        assert_eq!(PriceZone::for_country("IN", "AS"), PriceZone::In);
        assert_eq!(PriceZone::for_country("", ""), PriceZone::Us);
        for z in PriceZone::ALL {
            assert_eq!(PriceZone::from_key(z.as_str()), Some(z));
        }
    }

    #[test]
    fn merge_adds_counters() {
        let mut a = TrafficTotals {
            duration_s: 60.0,
            ..TrafficTotals::default()
        };
        a.record_edge(PriceZone::Eu, 100);
        a.origin_mut("eu-west-1").busy_us = 5;
        let mut b = a.clone();
        b.origin_mut("us-east-1").requests = 3;
        b.edge_worker_requests = Some(2);
        a.merge(&b);
        assert_eq!(a.requests, 2);
        assert_eq!(a.bytes_served(), 200);
        assert_eq!(a.origins["eu-west-1"].busy_us, 10);
        assert_eq!(a.origins["us-east-1"].requests, 3);
        assert_eq!(a.edge_worker_requests, Some(2));
        assert!((a.duration_s - 60.0).abs() < 1e-12);
    }
}
