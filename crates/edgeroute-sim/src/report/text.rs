//! The report as terminal tables.

use std::fmt::Write as _;

use super::{Percentiles, Report};

fn ms(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_owned(), |x| format!("{x:.1}"))
}

fn verdict(p: &Percentiles) -> &'static str {
    match p.pass {
        Some(true) => "pass",
        Some(false) => "FAIL",
        None => "",
    }
}

fn pct(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

fn secs(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_owned(), format_clock)
}

/// `HH:MM:SS` from seconds.
fn format_clock(s: f64) -> String {
    let t = s.max(0.0).round() as u64;
    format!("{:02}:{:02}:{:02}", t / 3600, (t / 60) % 60, t % 60)
}

impl Report {
    /// The report as plain-text tables, for a terminal.
    #[must_use]
    pub fn to_text(&self) -> String {
        let mut o = String::new();
        let _ = writeln!(
            o,
            "scenario {}  seed {}  {:.1} h simulated  {} requests ({:.0}/s)",
            self.scenario,
            self.seed,
            self.duration_s / 3600.0,
            self.requests,
            self.mean_rps
        );
        let q = self.latency_ms.target_quantile;
        let _ = writeln!(
            o,
            "\nlatency (ms)             p50     p95     p99  target(p{:.0})",
            q * 100.0
        );
        let row = |o: &mut String, name: &str, p: &Percentiles| {
            let target = p
                .target_ms
                .map_or_else(String::new, |t| format!("< {t:.0}"));
            let _ = writeln!(
                o,
                "  {name:<20} {:>7} {:>7} {:>7}  {target:<7} {}",
                ms(p.p50),
                ms(p.p95),
                ms(p.p99),
                verdict(p)
            );
        };
        row(&mut o, "global", &self.latency_ms.global);
        for (c, p) in &self.latency_ms.by_continent {
            if p.requests > 0 {
                row(&mut o, c, p);
            }
        }
        for (r, p) in &self.latency_ms.by_region {
            if p.requests > 0 {
                row(&mut o, r, p);
            }
        }
        let _ = writeln!(
            o,
            "\nnetwork part (ms): round trips client-edge-region, no server time"
        );
        row(&mut o, "global", &self.latency_ms.network_global);
        for (c, p) in &self.latency_ms.network_by_continent {
            if p.requests > 0 {
                row(&mut o, c, p);
            }
        }
        row(&mut o, "edge cache hits", &self.latency_ms.edge_hits);
        let _ = writeln!(
            o,
            "\npopulation within 50 ms of an edge data centre: {} (design claims {}) {}",
            pct(self.population_within_50ms_share),
            pct(self.population_within_50ms_target),
            if self.population_within_50ms_pass {
                "pass"
            } else {
                "FAIL"
            }
        );
        let _ = writeln!(o, "\ncache tier      lookups       hits  hit ratio");
        for name in ["edge", "upper", "regional", "database"] {
            if let Some(t) = self.cache.tiers.get(name)
                && t.lookups > 0
            {
                let _ = writeln!(
                    o,
                    "  {name:<10} {:>10} {:>10}  {:>9}",
                    t.lookups,
                    t.hits,
                    pct(t.hit_ratio)
                );
            }
        }
        let _ = writeln!(o, "  origin offload: {}", pct(self.cache.origin_offload));
        let _ = writeln!(
            o,
            "\nclass            requests  edge hit  to origin    p50    p95"
        );
        for (name, c) in &self.cache.by_class {
            let _ = writeln!(
                o,
                "  {name:<14} {:>9} {:>9} {:>10} {:>6} {:>6}",
                c.requests,
                pct(c.edge_hit_ratio),
                pct(c.origin_share),
                ms(c.latency_ms.p50),
                ms(c.latency_ms.p95)
            );
        }
        let _ = write!(o, "\nactions:");
        for (a, n) in &self.actions {
            if *n > 0 {
                let _ = write!(o, "  {a} {n}");
            }
        }
        let f = &self.failures;
        let _ = writeln!(
            o,
            "\nfailed: {} (connect {}, origin 5xx {}, overload {}, unavailable {}; {} retries)",
            f.total, f.connect, f.origin_error, f.overload, f.unavailable, f.retries
        );
        if self.sessions.opened > 0 {
            let _ = writeln!(
                o,
                "websocket sessions (voice and events): {} opened, {:.0} minutes, {} dropped",
                self.sessions.opened, self.sessions.minutes, self.sessions.dropped
            );
        }
        let _ = writeln!(
            o,
            "\norigin region      routed   served  overload  errors  busy(mean/peak)"
        );
        for (r, x) in &self.origins {
            let _ = writeln!(
                o,
                "  {r:<15} {:>8} {:>8} {:>9} {:>7}  {:.1}/{}",
                x.routed, x.requests, x.overloaded, x.errors, x.mean_busy_slots, x.peak_busy_slots
            );
        }
        if !self.events.is_empty() {
            let _ = writeln!(
                o,
                "\nevents (virtual time)        start  detected  rerouted  recovered   failed  rerouted  p95 before/during/after"
            );
            for e in &self.events {
                let l = &e.latency_ms;
                let _ = writeln!(
                    o,
                    "  {:<24} {} {:>9} {:>9} {:>10} {:>8} {:>9}  {}/{}/{}",
                    truncate(&e.name, 24),
                    format_clock(e.start_s),
                    secs(e.detected_s),
                    secs(e.rerouted_s),
                    secs(e.recovered_s),
                    e.failed_requests,
                    e.rerouted_requests,
                    ms(l.before.p95),
                    ms(l.during.p95),
                    ms(l.after.p95)
                );
                if !e.traffic_went_to.is_empty() {
                    let went: Vec<String> = e
                        .traffic_went_to
                        .iter()
                        .map(|(r, n)| format!("{r} {n}"))
                        .collect();
                    let _ = writeln!(o, "      traffic went to: {}", went.join(", "));
                }
                if let Some(actions) = &e.actions {
                    let acts: Vec<String> = actions
                        .iter()
                        .filter(|(_, n)| **n > 0)
                        .map(|(a, n)| format!("{a} {n}"))
                        .collect();
                    let _ = writeln!(o, "      attack requests: {}", acts.join(", "));
                }
            }
        }
        if let Some(cost) = &self.cost_monthly_usd {
            let _ = writeln!(o, "\nmonthly cost (30 days at this traffic)");
            let _ = write!(o, "{}", cost.to_text());
            if !cost.to_text().ends_with('\n') {
                let _ = writeln!(o);
            }
        }
        if !self.cost_by_volume.is_empty() {
            let _ = writeln!(
                o,
                "\ncost at other volumes    requests/month    hybrid   cloud-only    savings"
            );
            for v in &self.cost_by_volume {
                let _ = writeln!(
                    o,
                    "  x{:<8} {:>17.1}M {:>9} {:>12} {:>10}",
                    v.volume,
                    v.requests_per_month_million,
                    crate::cost::format_usd(v.hybrid_total),
                    crate::cost::format_usd(v.cloud_only_total),
                    crate::cost::format_usd(v.savings)
                );
            }
        }
        if let Some(n) = self.skipped_rows {
            let _ = writeln!(o, "\ntrace rows skipped as malformed: {n}");
        }
        if self.routed_after_detection > 0 {
            let _ = writeln!(
                o,
                "\nwarning: {} requests were routed to a region its monitors had marked down",
                self.routed_after_detection
            );
        }
        o
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        s.chars()
            .take(n.saturating_sub(1))
            .chain(std::iter::once('~'))
            .collect()
    }
}
