//! Metrics through the [`metrics`] facade: install any recorder (the example gateway installs a
//! Prometheus one) and these appear; without one they cost next to nothing.
//!
//! A [`PolicyLayer`](crate::PolicyLayer) keeps the handles it registered (one per action,
//! region and cache level seen, one per rule of the policy snapshot in force, by index),
//! so a request costs a few atomic increments, not a registry lookup with freshly built labels. Install the recorder before the layer serves
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

use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use arc_swap::ArcSwap;
use edgeroute::config::CacheLevel;
use edgeroute::{Action, Decision, Policy, RouteChoice};
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

/// Actions, in [`Action::index`] order.
const ACTIONS: usize = Action::COUNT;
/// Cache levels, in [`level_index`] order.
const LEVELS: usize = 3;

const fn level_index(l: CacheLevel) -> usize {
    match l {
        CacheLevel::Bypass => 0,
        CacheLevel::Standard => 1,
        CacheLevel::Aggressive => 2,
    }
}

/// The handles of one layer for one policy snapshot: decision counters by (action, cache
/// level, region slot) and rule counters by rule index, both plain indices into the snapshot
/// (a reload gets a fresh table; the registry hands back the same counters for the same labels).
struct Handles {
    /// The snapshot the tables belong to. A `Weak` keeps its allocation, so no later snapshot
    /// can have the same address while this table is in use.
    snapshot: Weak<Policy>,
    rules: Box<[OnceLock<Counter>]>,
    /// Region slot 0: not routed (the policy's default region); slot `1 + i`: routed to region
    /// `i`. Every decision of one slot has the same `region()`, so a slot's labels are those of
    /// the first decision counted in it.
    decisions: Box<[OnceLock<Counter>]>,
    regions: usize,
}

impl Default for Handles {
    fn default() -> Self {
        Handles {
            snapshot: Weak::new(),
            rules: Box::default(),
            decisions: Box::default(),
            regions: 0,
        }
    }
}

impl Handles {
    fn new(policy: &Arc<Policy>) -> Self {
        let regions = policy.routing().map_or(0, |rt| rt.region_names().len());
        Handles {
            snapshot: Arc::downgrade(policy),
            rules: policy.rules().iter().map(|_| OnceLock::new()).collect(),
            decisions: (0..ACTIONS * LEVELS * (regions + 1))
                .map(|_| OnceLock::new())
                .collect(),
            regions,
        }
    }

    /// The decision counter slot of `decision` (made with this table's snapshot).
    fn decision_slot(&self, decision: &Decision) -> Option<&OnceLock<Counter>> {
        let region = match decision.route {
            Some(RouteChoice::Routed { region, .. }) if decision.policy().routing().is_some() => {
                let i = region.index();
                if i >= self.regions {
                    return None;
                }
                1 + i
            }
            _ => 0,
        };
        let i = (region * ACTIONS + decision.action.index()) * LEVELS
            + level_index(decision.cache.level);
        self.decisions.get(i)
    }
}

/// Cached metric handles of one layer (see the module docs): per request, one `ArcSwap` load
/// and one index per counter, no hashing, no label formatting, no registry lookup, no handle
/// clone.
#[derive(Default)]
pub(crate) struct DecisionMetrics {
    handles: ArcSwap<Handles>,
    histogram: OnceLock<Histogram>,
}

impl std::fmt::Debug for DecisionMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecisionMetrics").finish_non_exhaustive()
    }
}

fn decision_counter(decision: &Decision) -> Counter {
    metrics::counter!(
        DECISIONS,
        "action" => decision.action.as_str(),
        "region" => decision.region().unwrap_or("none").to_owned(),
        "cache" => decision.cache.level.as_str(),
    )
}

impl DecisionMetrics {
    /// What [`record_decision`] records, through cached handles.
    pub(crate) fn record(&self, decision: &Decision, took: Duration) {
        self.histogram
            .get_or_init(|| metrics::histogram!(DECIDE_SECONDS))
            .record(took.as_secs_f64());
        let policy = decision.policy();
        let mut handles = self.handles.load();
        if !std::ptr::eq(handles.snapshot.as_ptr(), Arc::as_ptr(policy)) {
            // A new snapshot (or the first request): fresh tables. Concurrent rebinds may each
            // store one; the loser's handles are taken again, from the same registry.
            self.handles.store(Arc::new(Handles::new(policy)));
            handles = self.handles.load();
        }
        match handles.decision_slot(decision) {
            Some(slot) => slot.get_or_init(|| decision_counter(decision)).increment(1),
            None => decision_counter(decision).increment(1),
        }
        let rules = policy.rules();
        for &i in decision.matched().indices() {
            let i = usize::from(i);
            let (Some(slot), Some(rule)) = (handles.rules.get(i), rules.get(i)) else {
                continue;
            };
            slot.get_or_init(|| {
                metrics::counter!(
                    RULE_MATCHES,
                    "rule" => rule.id().to_owned(),
                    "phase" => rule.phase().as_str(),
                )
            })
            .increment(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::net::IpAddr;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicU64, Ordering};

    use edgeroute::{Engine, RequestView, Timestamp};
    use metrics::{
        CounterFn, Gauge, Key, KeyName, Metadata, Recorder, SharedString, Unit, with_local_recorder,
    };

    use super::*;

    /// Counts increments by name and sorted labels.
    #[derive(Default)]
    struct Counts(Mutex<BTreeMap<String, Arc<Cell>>>);

    #[derive(Default)]
    struct Cell(AtomicU64);

    impl CounterFn for Cell {
        fn increment(&self, value: u64) {
            self.0.fetch_add(value, Ordering::Relaxed);
        }
        fn absolute(&self, value: u64) {
            self.0.fetch_max(value, Ordering::Relaxed);
        }
    }

    impl Recorder for Counts {
        fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
            let mut labels: Vec<String> = key
                .labels()
                .map(|l| format!("{}={}", l.key(), l.value()))
                .collect();
            labels.sort();
            let name = format!("{}{{{}}}", key.name(), labels.join(","));
            let mut map = self.0.lock().unwrap();
            Counter::from_arc(Arc::clone(map.entry(name).or_default()))
        }
        fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
            Gauge::noop()
        }
        fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
            Histogram::noop()
        }
    }

    impl Counts {
        fn snapshot(&self) -> BTreeMap<String, u64> {
            let map = self.0.lock().unwrap();
            map.iter()
                .map(|(k, v)| (k.clone(), v.0.load(Ordering::Relaxed)))
                .filter(|(_, v)| *v > 0)
                .collect()
        }
    }

    fn aybiza_text() -> String {
        std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../policies/aybiza.toml"
        ))
        .unwrap()
    }

    fn decisions(engine: &Engine, from: u64) -> Vec<Decision> {
        let peer: IpAddr = "173.245.48.1".parse().unwrap();
        let shapes: [(&[u8], &[u8]); 5] = [
            (b"api.aybiza.com", b"/static/app.js"),
            (b"api.aybiza.com", b"/api/v1/agents?page=2"),
            (b"api.aybiza.com", b"/.env"),
            (b"voice.aybiza.com", b"/stream/abc"),
            (b"ws.aybiza.com", b"/events"),
        ];
        let mut out = Vec::new();
        for (i, (host, path)) in shapes.iter().enumerate() {
            let client = format!("81.2.69.{}", 10 + i);
            let headers: [(&[u8], &[u8]); 3] = [
                (b"host", host),
                (b"cf-connecting-ip", client.as_bytes()),
                (b"cf-ipcountry", b"DE"),
            ];
            let v = RequestView {
                method: b"GET",
                host: Some(host),
                path_and_query: path,
                headers: &headers,
                ..RequestView::new(peer)
            };
            out.push(engine.decide(&v, Timestamp::from_micros(from + i as u64 * 1000)));
        }
        out
    }

    #[test]
    fn cached_handles_count_what_the_uncached_path_counts_across_a_reload() {
        let text = aybiza_text();
        let (policy, _) = edgeroute::Policy::from_toml_str(&text, "aybiza.toml", None).unwrap();
        let engine = Engine::new(policy);
        // The same policy without its first firewall rule: every later rule index shifts.
        let start = text
            .find("[[firewall.rules]]\nid = \"waf-calls-api-bots\"")
            .unwrap();
        let end = start + 1 + text[start + 1..].find("[[firewall.rules]]").unwrap();
        let shifted = format!("{}{}", &text[..start], &text[end..]);
        let (shifted, _) = edgeroute::Policy::from_toml_str(&shifted, "b.toml", None).unwrap();

        let cached = Counts::default();
        let plain = Counts::default();
        let m = DecisionMetrics::default();
        let mut all = decisions(&engine, 1_700_000_000_000_000);
        engine.reload(shifted);
        all.extend(decisions(&engine, 1_700_000_100_000_000));
        // Interleave the snapshots, so the table is rebound back and forth.
        all.swap(1, 6);
        for d in &all {
            with_local_recorder(&cached, || m.record(d, Duration::from_micros(1)));
            with_local_recorder(&plain, || record_decision(d, Duration::from_micros(1)));
        }
        let (c, p) = (cached.snapshot(), plain.snapshot());
        assert_eq!(c, p);
        assert!(
            c.keys().any(|k| k.starts_with(RULE_MATCHES)),
            "the requests match rules: {c:?}"
        );
        assert_eq!(
            c.iter()
                .filter(|(k, _)| k.starts_with(DECISIONS))
                .map(|(_, v)| v)
                .sum::<u64>(),
            all.len() as u64
        );
    }
}
