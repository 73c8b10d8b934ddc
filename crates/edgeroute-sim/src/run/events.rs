//! Events on the virtual clock: what is true when (the "ground truth" the origins obey), the
//! health checks monitors would see, and the alarm that rolls a bad deploy back.

use crate::rng::{SimRng, label_hash, mix64};
use crate::scenario::model::{EventConfig, EventKind};

/// One event, compiled.
#[derive(Debug, Clone, PartialEq)]
pub struct EventPlan {
    /// Its kind.
    pub kind: EventKind,
    /// Its label in the report.
    pub name: String,
    /// Target as written (region code), if any.
    pub target: Option<String>,
    /// Target region index (into the policy's regions), if the target is a region there.
    pub region: Option<u16>,
    /// Service restriction (name), if any.
    pub service: Option<String>,
    /// Start (µs).
    pub start_us: u64,
    /// Planned end (µs); `None` for a deploy that ends only by rolling back.
    pub end_us: Option<u64>,
    /// Added latency (µs).
    pub added_us: u64,
    /// Error rate of affected requests.
    pub error_rate: f64,
    /// Deploy: canary share.
    pub canary_weight: f64,
    /// Deploy: alarm threshold on the canary's error rate.
    pub threshold: Option<f64>,
    /// Deploy: alarm window (µs).
    pub window_us: u64,
    /// Deploy: fewest canary requests in the window for the alarm to fire.
    pub min_requests: u64,
    /// Deploy: rollback time from the alarm (µs).
    pub rollback_us: u64,
    /// Length of the "before" and "after" comparison windows (µs).
    pub compare_us: u64,
}

impl EventPlan {
    /// Compiles an event; `region_index` maps a region code to the policy's region index.
    #[must_use]
    pub fn new(e: &EventConfig, region_index: impl Fn(&str) -> Option<u16>) -> Self {
        let start_us = e.start.as_micros();
        let end_us = e
            .end
            .map(|x| x.as_micros())
            .or(e.duration.map(|d| start_us.saturating_add(d.as_micros())));
        let planned = end_us.map_or(1_800_000_000, |end| end.saturating_sub(start_us));
        let name = e.name.clone().unwrap_or_else(|| match &e.target {
            Some(t) => format!("{} {t}", e.kind.as_str()),
            None => e.kind.as_str().to_owned(),
        });
        let added_us = (e.added_latency_ms.unwrap_or(0.0).clamp(0.0, 3.6e6) * 1000.0) as u64;
        EventPlan {
            kind: e.kind,
            name,
            region: e.target.as_deref().and_then(&region_index),
            target: e.target.clone(),
            service: e.service.clone(),
            start_us,
            end_us,
            added_us,
            error_rate: e.error_rate.unwrap_or(0.0),
            canary_weight: e.canary_weight.unwrap_or(0.0),
            threshold: e.rollback_threshold,
            window_us: e.window.map_or(60_000_000, |w| w.as_micros()).max(1),
            min_requests: e.min_requests.unwrap_or(20),
            rollback_us: e.rollback.map_or(180_000_000, |r| r.as_micros()),
            compare_us: planned.clamp(300_000_000, 3_600_000_000),
        }
    }

    /// Whether the event is in force at `t` by its plan (deploys: see [`DeployState`]).
    #[inline]
    #[must_use]
    pub fn active(&self, t: u64) -> bool {
        t >= self.start_us && self.end_us.is_none_or(|e| t < e)
    }

    /// Whether it affects `service` (no restriction affects every service).
    #[inline]
    #[must_use]
    pub fn applies_to_service(&self, service: Option<&str>) -> bool {
        match (&self.service, service) {
            (None, _) => true,
            (Some(s), Some(t)) => s == t,
            (Some(_), None) => false,
        }
    }
}

/// A deploy's rollback, decided by the coordinator at epoch boundaries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeployState {
    /// When the alarm fired (µs).
    pub alarm_us: Option<u64>,
    /// When the old version serves everything again (µs).
    pub rolled_back_us: Option<u64>,
}

impl DeployState {
    /// The canary's share at `t`: the plan's weight while the deploy is out and not rolled
    /// back; during the rollback the share falls linearly to zero.
    #[must_use]
    pub fn canary_share(&self, plan: &EventPlan, t: u64) -> f64 {
        if !plan.active(t) {
            return 0.0;
        }
        match (self.alarm_us, self.rolled_back_us) {
            (Some(alarm), Some(done)) if t >= alarm => {
                if t >= done {
                    0.0
                } else {
                    let left = (done - t) as f64 / (done - alarm).max(1) as f64;
                    plan.canary_weight * left
                }
            }
            _ => plan.canary_weight,
        }
    }
}

/// A sliding alarm over a deploy's canary: error counts per epoch, evaluated over `window`.
#[derive(Debug, Clone, Default)]
pub struct CanaryAlarm {
    /// `(epoch end µs, requests, errors)` for recent epochs.
    recent: std::collections::VecDeque<(u64, u64, u64)>,
}

impl CanaryAlarm {
    /// Adds one epoch's counts and says whether the alarm fires at `epoch_end`.
    pub fn observe(
        &mut self,
        plan: &EventPlan,
        epoch_end: u64,
        requests: u64,
        errors: u64,
    ) -> bool {
        self.recent.push_back((epoch_end, requests, errors));
        while let Some(&(t, _, _)) = self.recent.front() {
            if t + plan.window_us <= epoch_end {
                self.recent.pop_front();
            } else {
                break;
            }
        }
        let (req, err) = self
            .recent
            .iter()
            .fold((0u64, 0u64), |(r, e), &(_, a, b)| (r + a, e + b));
        let Some(threshold) = plan.threshold else {
            return false;
        };
        req >= plan.min_requests && req > 0 && err as f64 / req as f64 > threshold
    }
}

/// One health-check result, to be applied to every shard's health table at `t_us`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ProbeReport {
    /// When the result is known (µs).
    pub t_us: u64,
    /// The endpoint (index into the policy's endpoints).
    pub endpoint: u32,
    /// Passed?
    pub ok: bool,
}

/// What a probe target looks like to the prober.
#[derive(Debug, Clone)]
pub(crate) struct ProbeSpec {
    /// Endpoint index.
    pub endpoint: u32,
    /// Its region index.
    pub region: Option<u16>,
    /// Its stable key (for seeding its phase).
    pub key: String,
    /// Interval, timeout (µs), retries.
    pub interval_us: u64,
    /// Timeout per attempt (µs).
    pub timeout_us: u64,
    /// Extra attempts.
    pub retries: u32,
}

/// Every health check result of the run, in time order. A check starts at
/// `phase + k × interval` (the phase is fixed per endpoint by a hash of its key, so monitors
/// are not all aligned); each attempt that fails costs a full timeout, so a failed check is
/// known `(retries + 1) × timeout` after it starts, a passed one right away.
#[must_use]
pub(crate) fn probe_timeline(
    specs: &[ProbeSpec],
    events: &[EventPlan],
    duration_us: u64,
    seed: u64,
) -> Vec<ProbeReport> {
    let mut out = Vec::new();
    for spec in specs {
        let interval = spec.interval_us.max(1);
        let phase = mix64(label_hash(&spec.key) ^ seed) % interval;
        let mut rng = SimRng::stream(seed, "probe", u64::from(spec.endpoint));
        let mut t = phase;
        while t < duration_us {
            let mut elapsed = 0u64;
            let mut ok = false;
            for _ in 0..=spec.retries {
                let (down, slow_us, error_rate) = endpoint_truth(spec.region, events, t + elapsed);
                let attempt_ok = !down && slow_us < spec.timeout_us && !rng.chance(error_rate);
                if attempt_ok {
                    ok = true;
                    break;
                }
                elapsed += spec.timeout_us;
            }
            out.push(ProbeReport {
                t_us: t + elapsed,
                endpoint: spec.endpoint,
                ok,
            });
            t += interval;
        }
    }
    out.sort_unstable();
    out
}

/// The probes a shard must apply to see the same health as with all of them.
///
/// A monitor's state machine (the engine's: a result extends its own run and resets the
/// other; the status changes when a run reaches `consecutive_down` / `consecutive_up`) only
/// ever changes status at the last probe of a run of equal results, and that run started
/// from a reset counter. So keeping, per endpoint, just the runs that end in a status change
/// (found by replaying the timeline through a real health table) makes every status change
/// happen at the same probe and time, and leaves the status unchanged in between. Only the
/// table's count of checks differs, which the simulator never reads. In a healthy day this
/// keeps a handful of the ~130,000 probes each shard's engine would otherwise apply.
pub(crate) fn status_changing_probes(
    routing: &edgeroute::routing::CompiledRouting,
    probes: &[ProbeReport],
    endpoints: &[edgeroute::routing::EndpointId],
) -> Vec<ProbeReport> {
    let table = edgeroute::routing::HealthTable::new();
    table.register(routing);
    // Per endpoint: indices (into `probes`) of the current run of equal results.
    let mut runs: Vec<Vec<usize>> = vec![Vec::new(); endpoints.len()];
    let mut keep = vec![false; probes.len()];
    for (i, p) in probes.iter().enumerate() {
        let Some(&ep) = endpoints.get(p.endpoint as usize) else {
            continue;
        };
        let Some(run) = runs.get_mut(p.endpoint as usize) else {
            continue;
        };
        let same = run
            .last()
            .and_then(|&j| probes.get(j))
            .is_some_and(|q| q.ok == p.ok);
        if !same {
            run.clear();
        }
        run.push(i);
        let effect = table.report_probe_endpoint(routing, ep, p.ok, p.t_us / 1000);
        if effect.became_up + effect.became_down > 0 {
            for &j in run.iter() {
                if let Some(k) = keep.get_mut(j) {
                    *k = true;
                }
            }
            run.clear();
        }
    }
    probes
        .iter()
        .zip(keep)
        .filter_map(|(p, k)| k.then_some(*p))
        .collect()
}

/// Whether a region is down at `t`, the latency added there and the error rate seen by
/// requests for every service (probes see service-wide degradations only).
fn endpoint_truth(region: Option<u16>, events: &[EventPlan], t: u64) -> (bool, u64, f64) {
    let mut down = false;
    let mut added = 0u64;
    let mut ok_share = 1.0;
    for e in events {
        if region.is_none() || e.region != region || !e.active(t) {
            continue;
        }
        match e.kind {
            EventKind::RegionOutage => down = true,
            EventKind::OriginDegradation if e.service.is_none() => {
                added += e.added_us;
                ok_share *= 1.0 - e.error_rate;
            }
            _ => {}
        }
    }
    (down, added, 1.0 - ok_share)
}

/// Whether region `r` is down (an outage is in force) at `t`.
#[inline]
#[must_use]
pub(crate) fn region_down(events: &[EventPlan], r: u16, t: u64) -> bool {
    events
        .iter()
        .any(|e| e.kind == EventKind::RegionOutage && e.region == Some(r) && e.active(t))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(toml_text: &str) -> EventPlan {
        let e: EventConfig = toml::from_str(toml_text).unwrap();
        EventPlan::new(&e, |code| (code == "us-east-1").then_some(0))
    }

    #[test]
    fn outage_probes_fail_after_timeouts() {
        let outage =
            plan("kind = \"region_outage\"\ntarget = \"us-east-1\"\nstart = 100\nend = 200\n");
        let spec = ProbeSpec {
            endpoint: 0,
            region: Some(0),
            key: "p/a".into(),
            interval_us: 10_000_000,
            timeout_us: 2_000_000,
            retries: 1,
        };
        let tl = probe_timeline(&[spec], &[outage], 300_000_000, 1);
        assert_eq!(tl.len(), 30);
        for r in &tl {
            let start = if r.ok { r.t_us } else { r.t_us - 4_000_000 };
            let in_outage = (100_000_000..200_000_000).contains(&start);
            assert_eq!(!r.ok, in_outage, "{r:?}");
        }
    }

    #[test]
    fn status_changing_probes_give_the_same_health() {
        let (policy, _) = edgeroute::Policy::from_toml_str(
            include_str!("../../../../policies/aybiza.toml"),
            "aybiza.toml",
            Some("production"),
        )
        .unwrap();
        let rt = policy.routing().unwrap();
        let endpoints: Vec<_> = rt.probe_targets().map(|p| p.endpoint).collect();
        assert!(endpoints.len() >= 4);
        // Flaky endpoints (runs of every length) and a long outage of the first two.
        let mut rng = SimRng::seed_from(7);
        let mut full = Vec::new();
        for (e, _) in endpoints.iter().enumerate() {
            let flaky = 0.05 * (e % 4) as f64;
            for k in 0..2_000u64 {
                let out = e < 2 && (500..800).contains(&k);
                full.push(ProbeReport {
                    t_us: k * 10_000_000 + e as u64,
                    endpoint: u32::try_from(e).unwrap(),
                    ok: !out && !rng.chance(flaky),
                });
            }
        }
        full.sort_unstable();
        let kept = status_changing_probes(rt, &full, &endpoints);
        assert!(
            kept.len() < full.len() / 4,
            "{} of {}",
            kept.len(),
            full.len()
        );
        assert!(!kept.is_empty());
        let (a, b) = (
            edgeroute::routing::HealthTable::new(),
            edgeroute::routing::HealthTable::new(),
        );
        a.register(rt);
        b.register(rt);
        let mut next = kept.iter().peekable();
        for p in &full {
            let ep = endpoints[p.endpoint as usize];
            let _ = a.report_probe_endpoint(rt, ep, p.ok, p.t_us / 1000);
            if next.peek() == Some(&p) {
                let _ = b.report_probe_endpoint(rt, ep, p.ok, p.t_us / 1000);
                next.next();
            }
            for &e in &endpoints {
                assert_eq!(a.probe_status(rt, e), b.probe_status(rt, e), "at {p:?}");
            }
        }
        assert!(next.next().is_none());
    }

    #[test]
    fn canary_alarm_fires_on_window() {
        let p = plan(
            "kind = \"deploy\"\ntarget = \"us-east-1\"\nstart = 10\ncanary_weight = 0.1\nerror_rate = 0.5\nrollback_threshold = 0.05\nwindow = \"10s\"\nmin_requests = 10\n",
        );
        let mut a = CanaryAlarm::default();
        // Too few requests: no alarm.
        assert!(!a.observe(&p, 11_000_000, 4, 2));
        assert!(!a.observe(&p, 12_000_000, 4, 0));
        // Window now holds 12 requests, 6 errors (> 5%).
        assert!(a.observe(&p, 13_000_000, 4, 4));
        let st = DeployState {
            alarm_us: Some(20_000_000),
            rolled_back_us: Some(30_000_000),
        };
        assert_eq!(st.canary_share(&p, 15_000_000), 0.1);
        assert!((st.canary_share(&p, 25_000_000) - 0.05).abs() < 1e-12);
        assert_eq!(st.canary_share(&p, 30_000_000), 0.0);
        assert_eq!(st.canary_share(&p, 5_000_000), 0.0);
    }
}
