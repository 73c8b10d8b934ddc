//! What a run did, in the cost model's terms.

use crate::cost::{PriceZone, TrafficTotals};

use super::Ctx;
use super::stats::Stats;

/// Request headers and small bodies sent from the edge to an origin, per request (bytes): the
/// simulator does not model request bodies, so origin ingress is this times origin requests.
pub(crate) const REQUEST_BYTES: u64 = 800;

/// The run's totals for [`crate::cost::cost_report_at`].
pub(crate) fn traffic_totals(ctx: &Ctx, s: &Stats) -> TrafficTotals {
    let mut t = TrafficTotals {
        duration_s: ctx.duration_us as f64 / 1e6,
        ..TrafficTotals::default()
    };
    for (g, &(requests, bytes)) in ctx.population.groups.iter().zip(&s.by_group) {
        if requests == 0 && bytes == 0 {
            continue;
        }
        let zone = PriceZone::for_country(g.country, g.continent.as_str());
        let z = t.edge.entry(zone).or_default();
        z.requests += requests;
        z.bytes += bytes;
        *t.requests_by_continent
            .entry(g.continent.as_str().to_owned())
            .or_default() += requests;
    }
    t.requests = s.requests;
    t.dns_queries = s.dns_queries;
    t.waf_evaluated_requests = s.requests;
    // block, challenge, managed_challenge, js_challenge
    t.blocked_requests = s.actions.iter().skip(1).take(4).sum();
    for (name, r) in ctx.regions.iter().zip(&s.regions) {
        let o = t.origin_mut(name);
        o.requests = r.origin_requests;
        o.bytes_out = r.origin_bytes;
        o.bytes_in = r.origin_requests * REQUEST_BYTES;
        o.busy_us = u64::try_from(r.busy_us).unwrap_or(u64::MAX);
        o.websocket_seconds = r.websocket_s.round().max(0.0) as u64;
    }
    for (name, &b) in ctx.regions.iter().zip(&s.inter_region_bytes) {
        if b > 0 {
            t.inter_region_bytes.insert(name.clone(), b);
        }
    }
    t.waf_rules = ctx.policy_rules;
    t.health_checks = ctx.health_checks;
    t
}
