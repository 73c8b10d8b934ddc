//! Metrics through the [`metrics`] facade: install any recorder (the example gateway installs a
//! Prometheus one) and these appear; without one they cost next to nothing.
//!
//! A [`PolicyLayer`](crate::PolicyLayer) keeps the handles it registered (one per action,
//! region and cache level seen, one per rule), so a request costs a few atomic increments, not
//! a registry lookup with freshly built labels. Install the recorder before the layer serves
//! its first request: handles taken earlier stay bound to the recorder of that moment.
//!
//! | name | kind | labels |
//! |---|---|---|
//! | `edgeroute_decisions_total` | counter | `action`, `region`, `cache` |
//! | `edgeroute_rule_matches_total` | counter | `rule`, `phase` |
//! | `edgeroute_decide_seconds` | histogram | |
//! | `edgeroute_redis_sync_seconds` | histogram | |
//! | `edgeroute_redis_sync_failures_total` | counter | |
//! | `edgeroute_redis_available` | gauge | |

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use arc_swap::ArcSwap;
use edgeroute::Decision;
use hashbrown::{Equivalent, HashMap};
use metrics::{Counter, Histogram};

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

type Map<K> = HashMap<K, Counter, foldhash::fast::FixedState>;

/// Most cached handles per kind; past it, handles are looked up per request.
const MAX_HANDLES: usize = 4096;

#[derive(Debug, Clone, Hash, PartialEq, Eq)]
struct DecisionKey {
    action: &'static str,
    cache: &'static str,
    region: Box<str>,
}

// INVARIANT: hashes exactly like `DecisionKey` (same field order and hashed types).
#[derive(Hash)]
struct DecisionKeyRef<'a> {
    action: &'static str,
    cache: &'static str,
    region: &'a str,
}

impl Equivalent<DecisionKey> for DecisionKeyRef<'_> {
    fn equivalent(&self, k: &DecisionKey) -> bool {
        self.action == k.action && self.cache == k.cache && self.region == &*k.region
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq)]
struct RuleKey {
    phase: &'static str,
    rule: Box<str>,
}

// INVARIANT: hashes exactly like `RuleKey`.
#[derive(Hash)]
struct RuleKeyRef<'a> {
    phase: &'static str,
    rule: &'a str,
}

impl Equivalent<RuleKey> for RuleKeyRef<'_> {
    fn equivalent(&self, k: &RuleKey) -> bool {
        self.phase == k.phase && self.rule == &*k.rule
    }
}

/// Cached metric handles of one layer (see the module docs).
#[derive(Default)]
pub(crate) struct DecisionMetrics {
    decisions: ArcSwap<Map<DecisionKey>>,
    rules: ArcSwap<Map<RuleKey>>,
    histogram: OnceLock<Histogram>,
}

impl std::fmt::Debug for DecisionMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecisionMetrics").finish_non_exhaustive()
    }
}

impl DecisionMetrics {
    /// What [`record_decision`] records, through cached handles.
    pub(crate) fn record(&self, decision: &Decision, took: Duration) {
        self.histogram
            .get_or_init(|| metrics::histogram!(DECIDE_SECONDS))
            .record(took.as_secs_f64());
        let key = DecisionKeyRef {
            action: decision.action.as_str(),
            cache: decision.cache.level.as_str(),
            region: decision.region().unwrap_or("none"),
        };
        let counter = self.decisions.load().get(&key).cloned();
        let counter = counter.unwrap_or_else(|| {
            let c = metrics::counter!(
                DECISIONS,
                "action" => key.action,
                "region" => key.region.to_owned(),
                "cache" => key.cache,
            );
            insert(
                &self.decisions,
                DecisionKey {
                    action: key.action,
                    cache: key.cache,
                    region: key.region.into(),
                },
                &c,
            );
            c
        });
        counter.increment(1);
        for (phase, rule) in decision.matched_rules_with_phase() {
            let key = RuleKeyRef {
                phase: phase.as_str(),
                rule,
            };
            let counter = self.rules.load().get(&key).cloned();
            let counter = counter.unwrap_or_else(|| {
                let c = metrics::counter!(RULE_MATCHES, "rule" => rule.to_owned(), "phase" => key.phase);
                insert(&self.rules, RuleKey {
                    phase: key.phase,
                    rule: rule.into(),
                }, &c);
                c
            });
            counter.increment(1);
        }
    }
}

fn insert<K: std::hash::Hash + Eq + Clone>(map: &ArcSwap<Map<K>>, key: K, counter: &Counter) {
    let current = map.load_full();
    if current.len() < MAX_HANDLES {
        // Copy on write; a concurrent insert may be lost, and is redone next time.
        let mut m = Map::clone(&current);
        m.insert(key, counter.clone());
        map.store(Arc::new(m));
    }
}
