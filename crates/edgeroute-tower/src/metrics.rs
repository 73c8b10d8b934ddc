//! Metrics through the [`metrics`] facade: install any recorder (the example gateway installs a
//! Prometheus one) and these appear; without one they cost next to nothing.
//!
//! | name | kind | labels |
//! |---|---|---|
//! | `edgeroute_decisions_total` | counter | `action`, `region`, `cache` |
//! | `edgeroute_rule_matches_total` | counter | `rule`, `phase` |
//! | `edgeroute_decide_seconds` | histogram | |
//! | `edgeroute_redis_sync_seconds` | histogram | |
//! | `edgeroute_redis_sync_failures_total` | counter | |
//! | `edgeroute_redis_available` | gauge | |

use std::time::Duration;

use edgeroute::Decision;

/// Counter of decisions.
pub const DECISIONS: &str = "edgeroute_decisions_total";
/// Counter of rule matches.
pub const RULE_MATCHES: &str = "edgeroute_rule_matches_total";
/// Histogram of `decide()` latency in seconds.
pub const DECIDE_SECONDS: &str = "edgeroute_decide_seconds";

/// Records one decision and how long `decide()` took.
pub fn record_decision(decision: &Decision, took: Duration) {
    metrics::histogram!(DECIDE_SECONDS).record(took.as_secs_f64());
    let region = decision.region().unwrap_or("none").to_owned();
    metrics::counter!(
        DECISIONS,
        "action" => decision.action.as_str(),
        "region" => region,
        "cache" => decision.cache.level.as_str(),
    )
    .increment(1);
    for (phase, rule) in decision.matched_rules_with_phase() {
        metrics::counter!(RULE_MATCHES, "rule" => rule.to_owned(), "phase" => phase.as_str())
            .increment(1);
    }
}
