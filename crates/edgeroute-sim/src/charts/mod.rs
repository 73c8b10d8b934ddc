//! Report charts: a self-contained HTML page, or the same charts as separate SVG files.
//!
//! The simulator fills a [`ChartData`]; [`render_html`] returns one page with inline SVG and a
//! little CSS (no scripts, fonts or other external assets, so it opens offline), and
//! [`render_svgs`] returns the charts as standalone SVG documents:
//!
//! | file | chart |
//! |---|---|
//! | `latency.svg` | latency over time per continent (p50 solid, p95 dashed, targets dotted) |
//! | `hit_ratio.svg` | hit ratio per cache tier |
//! | `failover.svg` | failover timeline: start, detection, reroute, recovery per event |
//! | `cost.svg` | monthly cost per item, hybrid against cloud-only |
//!
//! All text is escaped; non-finite numbers are skipped, never drawn. The output is a pure
//! function of the data, so the same run gives byte-identical files.
//!
//! ```
//! use edgeroute_sim::charts::{render_html, ChartData, LatencyPoint, LatencySeries};
//!
//! let data = ChartData {
//!     title: "aybiza-global".into(),
//!     duration_s: 3600.0,
//!     latency: vec![LatencySeries {
//!         name: "EU".into(),
//!         target_ms: Some(100.0),
//!         points: vec![
//!             LatencyPoint { t_s: 0.0, p50_ms: 31.0, p95_ms: 70.0 },
//!             LatencyPoint { t_s: 3600.0, p50_ms: 35.0, p95_ms: 82.0 },
//!         ],
//!     }],
//!     ..ChartData::default()
//! };
//! let page = render_html(&data);
//! assert!(page.starts_with("<!DOCTYPE html>"));
//! assert!(!page.contains("<script"));
//! ```

mod svg;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::cost::{CostReport, format_usd};
pub use svg::escape;
use svg::{Frame, Scale, Svg, color, legend, nice_max, nice_ticks, num};

/// One latency sample of a series: percentiles over a time bucket starting at `t_s`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LatencyPoint {
    /// Bucket start, seconds of simulated time.
    pub t_s: f64,
    /// Median latency in the bucket, ms.
    pub p50_ms: f64,
    /// 95th percentile, ms.
    pub p95_ms: f64,
}

/// Latency over time for one continent (or region).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LatencySeries {
    /// The series name, such as `NA` or `Europe`.
    pub name: String,
    /// The design's target for it, ms.
    pub target_ms: Option<f64>,
    /// Samples in time order.
    pub points: Vec<LatencyPoint>,
}

/// The hit ratio of one cache tier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierHitRatio {
    /// The tier: `edge`, `upper`, `regional`, `database`, or any label.
    pub tier: String,
    /// Hits / lookups, between 0 and 1.
    pub hit_ratio: f64,
}

/// One event on the failover timeline; times are seconds of simulated time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventTimeline {
    /// `region_outage`, `origin_degradation`, `deploy`, `attack`, `surge`.
    pub kind: String,
    /// What it hit (a region, a pool, a service).
    pub target: String,
    /// When it started.
    pub start_s: f64,
    /// When the monitors noticed, if they did.
    pub detected_s: Option<f64>,
    /// When traffic was rerouted, if it was.
    pub rerouted_s: Option<f64>,
    /// When the target was healthy again, if it was.
    pub recovered_s: Option<f64>,
}

/// Monthly cost per item for both architectures.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CostChart {
    /// Hybrid: item -> USD per month.
    pub hybrid: BTreeMap<String, f64>,
    /// Cloud-only: item -> USD per month.
    pub cloud_only: BTreeMap<String, f64>,
}

impl From<&CostReport> for CostChart {
    fn from(report: &CostReport) -> Self {
        CostChart {
            hybrid: report.hybrid.items.clone(),
            cloud_only: report.cloud_only.items.clone(),
        }
    }
}

/// Everything the charts show. The simulator fills it from a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChartData {
    /// The page title (a scenario name).
    pub title: String,
    /// A line under the title (seed, duration, requests).
    #[serde(default)]
    pub subtitle: String,
    /// Simulated duration, seconds (the time axes' extent).
    pub duration_s: f64,
    /// Latency over time per continent.
    #[serde(default)]
    pub latency: Vec<LatencySeries>,
    /// Hit ratio per tier.
    #[serde(default)]
    pub hit_ratio: Vec<TierHitRatio>,
    /// Failover timeline.
    #[serde(default)]
    pub events: Vec<EventTimeline>,
    /// Cost breakdown, when costs were computed.
    #[serde(default)]
    pub cost: Option<CostChart>,
}

/// A chart as a standalone SVG document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SvgFile {
    /// The file name, such as `latency.svg`.
    pub name: &'static str,
    /// The document.
    pub svg: String,
}

const WIDTH: u32 = 900;

/// Time-axis ticks and their unit label for a run of `duration_s`.
fn time_axis(duration_s: f64) -> (f64, &'static str, Vec<f64>) {
    let duration = if duration_s.is_finite() && duration_s > 0.0 {
        duration_s
    } else {
        1.0
    };
    let (unit, name) = if duration >= 3.0 * 3600.0 {
        (3600.0, "hours")
    } else if duration >= 180.0 {
        (60.0, "minutes")
    } else {
        (1.0, "seconds")
    };
    let span = duration / unit;
    let step = [
        0.25, 0.5, 1.0, 2.0, 3.0, 4.0, 6.0, 12.0, 24.0, 48.0, 72.0, 168.0, 336.0, 720.0,
    ]
    .into_iter()
    .chain((1..=10).map(|k| f64::from(k) * 1000.0))
    .find(|s| span / s <= 10.0)
    .unwrap_or(span / 10.0);
    let mut ticks = Vec::new();
    let mut t = 0.0;
    while t <= span + 1e-9 && ticks.len() <= 40 {
        ticks.push(t * unit);
        t += step;
    }
    (unit, name, ticks)
}

fn no_data(svg: &mut Svg, frame: Frame, what: &str) {
    svg.text(
        f64::midpoint(frame.left, frame.right),
        f64::midpoint(frame.top, frame.bottom),
        "middle",
        "fill=\"#777777\" font-size=\"14\"",
        &format!("no {what} in this run"),
    );
}

/// Latency over time per continent.
#[must_use]
pub fn latency_svg(data: &ChartData) -> String {
    let height = 380;
    let mut svg = Svg::new(
        WIDTH,
        height,
        "Latency over time per continent",
        "p50 (solid) and p95 (dashed) latency per time bucket; dotted lines are targets",
    );
    let frame = Frame {
        left: 70.0,
        top: 20.0,
        right: 720.0,
        bottom: f64::from(height) - 50.0,
    };
    let finite = |v: f64| v.is_finite() && v >= 0.0;
    let max_y = data
        .latency
        .iter()
        .flat_map(|s| {
            s.points
                .iter()
                .flat_map(|p| [p.p50_ms, p.p95_ms])
                .chain(s.target_ms)
        })
        .filter(|v| finite(*v))
        .fold(0.0_f64, f64::max);
    let (unit, unit_name, ticks) = time_axis(data.duration_s);
    let x_end = ticks.last().copied().unwrap_or(1.0).max(data.duration_s);
    let xs = Scale::new(0.0, x_end, frame.left, frame.right);
    let y_top = nice_max(max_y * 1.05);
    let ys = Scale::new(0.0, y_top, frame.bottom, frame.top);
    frame.y_axis(
        &mut svg,
        ys,
        &nice_ticks(0.0, y_top, 6),
        &|v| num(v),
        "latency (ms)",
    );
    frame.x_axis(
        &mut svg,
        xs,
        &ticks,
        &|t| num(t / unit),
        &format!("simulated time ({unit_name})"),
    );
    if data.latency.iter().all(|s| s.points.is_empty()) {
        no_data(&mut svg, frame, "latency samples");
    }
    let mut entries = Vec::new();
    for (i, series) in data.latency.iter().enumerate() {
        let c = color(i);
        let pts = |f: &dyn Fn(&LatencyPoint) -> f64| -> Vec<(f64, f64)> {
            series
                .points
                .iter()
                .filter(|p| p.t_s.is_finite() && finite(f(p)))
                .map(|p| (xs.at(p.t_s), ys.at(f(p))))
                .collect()
        };
        svg.polyline(
            &pts(&|p| p.p95_ms),
            c,
            "stroke-dasharray=\"5 3\" opacity=\"0.7\"",
        );
        svg.polyline(&pts(&|p| p.p50_ms), c, "");
        if let Some(target) = series.target_ms.filter(|t| finite(*t)) {
            let y = ys.at(target);
            svg.line(
                frame.left,
                y,
                frame.right,
                y,
                c,
                "stroke-dasharray=\"1 3\" stroke-width=\"1.5\"",
            );
        }
        let label = match series.target_ms.filter(|t| finite(*t)) {
            Some(t) => format!("{} (target {} ms)", series.name, num(t)),
            None => series.name.clone(),
        };
        entries.push((label, c, false));
    }
    entries.push(("p95 (dashed)".to_owned(), "#555555", true));
    legend(&mut svg, frame.right + 20.0, frame.top + 10.0, &entries);
    svg.finish()
}

/// Hit ratio per cache tier, as horizontal bars.
#[must_use]
pub fn hit_ratio_svg(data: &ChartData) -> String {
    let rows = data.hit_ratio.len().max(1);
    #[expect(clippy::cast_possible_truncation, reason = "a handful of tiers")]
    let height = 90 + 34 * rows as u32;
    let mut svg = Svg::new(
        WIDTH,
        height,
        "Hit ratio per cache tier",
        "share of lookups answered by each tier",
    );
    let frame = Frame {
        left: 120.0,
        top: 20.0,
        right: 820.0,
        bottom: f64::from(height) - 50.0,
    };
    let xs = Scale::new(0.0, 1.0, frame.left, frame.right);
    frame.x_axis(
        &mut svg,
        xs,
        &nice_ticks(0.0, 1.0, 5),
        &|v| format!("{}%", num(v * 100.0)),
        "hit ratio",
    );
    if data.hit_ratio.is_empty() {
        no_data(&mut svg, frame, "cache tiers");
    }
    for (i, tier) in data.hit_ratio.iter().enumerate() {
        #[expect(clippy::cast_precision_loss, reason = "a handful of tiers")]
        let y = frame.top + 8.0 + i as f64 * 34.0;
        let ratio = if tier.hit_ratio.is_finite() {
            tier.hit_ratio.clamp(0.0, 1.0)
        } else {
            0.0
        };
        let label = format!("{}%", num(ratio * 100.0));
        svg.text(
            frame.left - 8.0,
            y + 16.0,
            "end",
            "fill=\"#222222\"",
            &tier.tier,
        );
        svg.rect(
            frame.left,
            y,
            xs.at(ratio) - frame.left,
            22.0,
            color(i),
            "",
            Some(&format!("{}: {label}", tier.tier)),
        );
        svg.text(
            xs.at(ratio) + 6.0,
            y + 16.0,
            "start",
            "fill=\"#222222\"",
            &label,
        );
    }
    svg.finish()
}

/// A duration for people: `45 s`, `12.5 min`, `3.2 h`.
fn human_duration(seconds: f64) -> String {
    let s = if seconds.is_finite() {
        seconds.max(0.0)
    } else {
        0.0
    };
    if s < 120.0 {
        format!("{} s", num(s))
    } else if s < 2.0 * 3600.0 {
        format!("{} min", num(s / 60.0))
    } else {
        format!("{} h", num(s / 3600.0))
    }
}

/// A time of day in the run, `hh:mm:ss` from the start (hours go past 24 for long runs).
fn clock(seconds: f64) -> String {
    let s = if seconds.is_finite() {
        seconds.max(0.0)
    } else {
        0.0
    };
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "clamped, small"
    )]
    let total = s.round() as u64;
    format!(
        "{:02}:{:02}:{:02}",
        total / 3600,
        total / 60 % 60,
        total % 60
    )
}

/// The failover timeline: one row per event, each on its own axis from the event's start, so
/// that seconds of detection delay are as visible as an hour of outage.
#[must_use]
pub fn failover_svg(data: &ChartData) -> String {
    let row_h = 78.0;
    let rows = data.events.len().max(1);
    #[expect(clippy::cast_possible_truncation, reason = "a handful of events")]
    let height = 60 + 78 * rows as u32;
    let mut svg = Svg::new(
        WIDTH,
        height,
        "Failover timeline",
        "per event, from its start: undetected (start to detection), rerouting (detection to \
         reroute), rerouted (reroute to recovery)",
    );
    let left = 240.0;
    let right = 870.0;
    let phases = [
        ("undetected", "#D55E00"),
        ("rerouting", "#E69F00"),
        ("rerouted", "#56B4E9"),
    ];
    for (i, (name, c)) in phases.iter().enumerate() {
        #[expect(clippy::cast_precision_loss, reason = "three entries")]
        let x = left + i as f64 * 130.0;
        svg.rect(x, 12.0, 14.0, 14.0, c, "", None);
        svg.text(x + 20.0, 24.0, "start", "fill=\"#222222\"", name);
    }
    if data.events.is_empty() {
        let frame = Frame {
            left,
            top: 40.0,
            right,
            bottom: f64::from(height) - 10.0,
        };
        no_data(&mut svg, frame, "events");
    }
    let run_end = if data.duration_s.is_finite() {
        data.duration_s.max(0.0)
    } else {
        0.0
    };
    for (i, event) in data.events.iter().enumerate() {
        #[expect(clippy::cast_precision_loss, reason = "a handful of events")]
        let top = 44.0 + i as f64 * row_h;
        let bar_y = top + 8.0;
        let ok = |v: Option<f64>| v.filter(|t| t.is_finite());
        let start = if event.start_s.is_finite() {
            event.start_s
        } else {
            0.0
        };
        let detected = ok(event.detected_s);
        let rerouted = ok(event.rerouted_s);
        let recovered = ok(event.recovered_s);
        let last = recovered.or(rerouted).or(detected).unwrap_or(start);
        // The row's axis: from the start to past the last known moment (or the end of the run).
        let end = if recovered.is_some() {
            last
        } else {
            run_end.max(last)
        };
        let span = ((end - start) * 1.08).max(10.0);
        let xs = Scale::new(0.0, span, left, right);
        let at = |t: f64| xs.at(t - start);

        svg.text(
            left - 10.0,
            bar_y + 11.0,
            "end",
            "fill=\"#222222\" font-weight=\"600\"",
            &format!("{} · {}", event.kind, event.target),
        );
        svg.text(
            left - 10.0,
            bar_y + 27.0,
            "end",
            "fill=\"#555555\" font-size=\"11\"",
            &format!("starts at {}", clock(start)),
        );
        let segments = [
            (
                Some(start),
                detected.or(rerouted).or(recovered).unwrap_or(end),
                phases[0],
            ),
            (detected, rerouted.or(recovered).unwrap_or(end), phases[1]),
            (rerouted, recovered.unwrap_or(end), phases[2]),
        ];
        for (from, to, (name, c)) in segments {
            let Some(from) = from else { continue };
            if to > from {
                let tip = format!(
                    "{name}: {} ({} to {})",
                    human_duration(to - from),
                    clock(from),
                    clock(to)
                );
                svg.rect(at(from), bar_y, at(to) - at(from), 16.0, c, "", Some(&tip));
            }
        }
        let marks = [
            ("start", Some(start)),
            ("detected", detected),
            ("rerouted", rerouted),
            ("recovered", recovered),
        ];
        let mut notes = Vec::new();
        for (name, t) in marks {
            if let Some(t) = t {
                svg.circle(
                    at(t),
                    bar_y + 8.0,
                    4.0,
                    "#222222",
                    &format!("{name} at {}", clock(t)),
                );
                if name != "start" {
                    notes.push(format!("{name} +{}", human_duration(t - start)));
                }
            }
        }
        if recovered.is_none() {
            notes.push("not recovered by the end of the run".to_owned());
        }
        // A small axis under the bar, in time since the event started.
        let axis_y = bar_y + 22.0;
        svg.line(left, axis_y, right, axis_y, "#999999", "");
        let (unit, suffix) = if span < 180.0 {
            (1.0, "s")
        } else if span < 3.0 * 3600.0 {
            (60.0, "min")
        } else {
            (3600.0, "h")
        };
        for t in nice_ticks(0.0, span / unit, 6) {
            let x = xs.at(t * unit);
            svg.line(x, axis_y, x, axis_y + 4.0, "#999999", "");
            svg.text(
                x,
                axis_y + 15.0,
                "middle",
                "fill=\"#555555\" font-size=\"10\"",
                &format!("+{} {suffix}", num(t)),
            );
        }
        svg.text(
            left,
            axis_y + 32.0,
            "start",
            "fill=\"#222222\" font-size=\"11\"",
            &notes.join(" · "),
        );
    }
    svg.finish()
}

/// Monthly cost per item, hybrid against cloud-only, as grouped horizontal bars.
#[must_use]
pub fn cost_svg(data: &ChartData) -> String {
    let empty = CostChart::default();
    let cost = data.cost.as_ref().unwrap_or(&empty);
    let mut items: Vec<(&String, f64, f64)> = cost
        .cloud_only
        .keys()
        .chain(cost.hybrid.keys())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .map(|k| {
            let get = |m: &BTreeMap<String, f64>| {
                m.get(k).copied().filter(|v| v.is_finite()).unwrap_or(0.0)
            };
            (k, get(&cost.hybrid), get(&cost.cloud_only))
        })
        .filter(|(_, h, c)| h.abs() >= 0.5 || c.abs() >= 0.5)
        .collect();
    items.sort_by(|a, b| {
        b.2.max(b.1)
            .total_cmp(&a.2.max(a.1))
            .then_with(|| a.0.cmp(b.0))
    });
    let rows = items.len().max(1);
    #[expect(clippy::cast_possible_truncation, reason = "a handful of items")]
    let height = 110 + 40 * rows as u32;
    let total = |m: &BTreeMap<String, f64>| m.values().filter(|v| v.is_finite()).sum::<f64>();
    let (th, tc) = (total(&cost.hybrid), total(&cost.cloud_only));
    let mut svg = Svg::new(
        WIDTH,
        height,
        "Monthly cost per item",
        &format!(
            "hybrid {} against cloud-only {} per month",
            format_usd(th),
            format_usd(tc)
        ),
    );
    let frame = Frame {
        left: 170.0,
        top: 40.0,
        right: 800.0,
        bottom: f64::from(height) - 50.0,
    };
    let max = items
        .iter()
        .map(|(_, h, c)| h.max(*c))
        .fold(0.0_f64, f64::max);
    let x_top = nice_max(max);
    let xs = Scale::new(0.0, x_top, frame.left, frame.right);
    frame.x_axis(
        &mut svg,
        xs,
        &nice_ticks(0.0, x_top, 5),
        &format_usd,
        "USD per month",
    );
    let series = [("hybrid", color(0)), ("cloud-only", color(1))];
    for (i, (name, c)) in series.iter().enumerate() {
        #[expect(clippy::cast_precision_loss, reason = "two entries")]
        let x = frame.left + i as f64 * 130.0;
        svg.rect(x, 12.0, 14.0, 14.0, c, "", None);
        let total = if i == 0 { th } else { tc };
        svg.text(
            x + 20.0,
            24.0,
            "start",
            "fill=\"#222222\"",
            &format!("{name} {}", format_usd(total)),
        );
    }
    if items.is_empty() {
        no_data(&mut svg, frame, "costs");
    }
    for (i, (item, hybrid, cloud)) in items.iter().enumerate() {
        #[expect(clippy::cast_precision_loss, reason = "a handful of items")]
        let y = frame.top + 6.0 + i as f64 * 40.0;
        svg.text(frame.left - 8.0, y + 18.0, "end", "fill=\"#222222\"", item);
        for (j, (value, (name, c))) in [*hybrid, *cloud].into_iter().zip(series).enumerate() {
            #[expect(clippy::cast_precision_loss, reason = "two bars")]
            let by = y + j as f64 * 16.0;
            let w = xs.at(value.max(0.0)) - frame.left;
            svg.rect(
                frame.left,
                by,
                w,
                14.0,
                c,
                "",
                Some(&format!("{item}, {name}: {}", format_usd(value))),
            );
            svg.text(
                frame.left + w + 5.0,
                by + 11.0,
                "start",
                "fill=\"#222222\" font-size=\"11\"",
                &format_usd(value),
            );
        }
    }
    svg.finish()
}

/// The four charts as standalone SVG documents, in page order.
#[must_use]
pub fn render_svgs(data: &ChartData) -> Vec<SvgFile> {
    vec![
        SvgFile {
            name: "latency.svg",
            svg: latency_svg(data),
        },
        SvgFile {
            name: "hit_ratio.svg",
            svg: hit_ratio_svg(data),
        },
        SvgFile {
            name: "failover.svg",
            svg: failover_svg(data),
        },
        SvgFile {
            name: "cost.svg",
            svg: cost_svg(data),
        },
    ]
}

const CSS: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;\
color:#222;background:#fff;margin:2rem auto;max-width:960px;padding:0 1rem;line-height:1.45}\
h1{font-size:1.6rem;margin:0 0 .2rem}h2{font-size:1.2rem;margin:2rem 0 .5rem;border-bottom:1px solid #ddd}\
.sub{color:#555;margin:0 0 1rem}figure{margin:0}svg{max-width:100%;height:auto}\
table{border-collapse:collapse;margin:.8rem 0;font-size:.9rem}\
th,td{padding:.2rem .7rem;border-bottom:1px solid #e5e5e5;text-align:right}\
th:first-child,td:first-child{text-align:left}caption{text-align:left;color:#555;padding:.3rem 0}";

fn opt_s(v: Option<f64>) -> String {
    v.filter(|t| t.is_finite())
        .map_or_else(|| "-".to_owned(), num)
}

/// The report page: title, the four charts inline, and tables that carry the same numbers.
#[must_use]
pub fn render_html(data: &ChartData) -> String {
    let mut h = String::new();
    let title = if data.title.is_empty() {
        "edgeroute simulation"
    } else {
        &data.title
    };
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{} - edgeroute report</title>\n<style>{CSS}</style>\n</head>\n<body>\n\
         <h1>{}</h1>\n<p class=\"sub\">{}</p>\n",
        escape(title),
        escape(title),
        escape(&data.subtitle)
    );
    let section = |h: &mut String, id: &str, heading: &str, svg: &str| {
        let _ = write!(
            h,
            "<section id=\"{id}\">\n<h2>{}</h2>\n<figure>\n{svg}</figure>\n",
            escape(heading)
        );
    };
    section(
        &mut h,
        "latency",
        "Latency over time per continent",
        &latency_svg(data),
    );
    h.push_str("</section>\n");
    section(
        &mut h,
        "hit-ratio",
        "Hit ratio per cache tier",
        &hit_ratio_svg(data),
    );
    h.push_str("</section>\n");
    section(&mut h, "failover", "Failover timeline", &failover_svg(data));
    if !data.events.is_empty() {
        h.push_str(
            "<table>\n<caption>Seconds of simulated time</caption>\n<thead><tr><th>event</th>\
             <th>target</th><th>start</th><th>detected</th><th>rerouted</th><th>recovered</th>\
             </tr></thead>\n<tbody>\n",
        );
        for e in &data.events {
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&e.kind),
                escape(&e.target),
                opt_s(Some(e.start_s)),
                opt_s(e.detected_s),
                opt_s(e.rerouted_s),
                opt_s(e.recovered_s)
            );
        }
        h.push_str("</tbody>\n</table>\n");
    }
    h.push_str("</section>\n");
    section(&mut h, "cost", "Monthly cost", &cost_svg(data));
    if let Some(cost) = &data.cost {
        h.push_str(
            "<table>\n<caption>USD per month (30-day month)</caption>\n<thead><tr><th>item</th>\
             <th>hybrid</th><th>cloud-only</th><th>difference</th></tr></thead>\n<tbody>\n",
        );
        let keys: std::collections::BTreeSet<&String> =
            cost.hybrid.keys().chain(cost.cloud_only.keys()).collect();
        for k in keys {
            let hy = cost.hybrid.get(k).copied().unwrap_or(0.0);
            let cl = cost.cloud_only.get(k).copied().unwrap_or(0.0);
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(k),
                format_usd(hy),
                format_usd(cl),
                format_usd(cl - hy)
            );
        }
        h.push_str("</tbody>\n</table>\n");
    }
    h.push_str("</section>\n</body>\n</html>\n");
    h
}

/// Writes [`render_html`] to `path`.
///
/// # Errors
/// Any I/O error creating or writing the file.
pub fn write_html(path: &Path, data: &ChartData) -> io::Result<()> {
    std::fs::write(path, render_html(data))
}

/// Writes [`render_svgs`] into `dir` (created if needed) and returns the paths written.
///
/// # Errors
/// Any I/O error creating the directory or writing a file.
pub fn write_svg_dir(dir: &Path, data: &ChartData) -> io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut paths = Vec::new();
    for file in render_svgs(data) {
        let path = dir.join(file.name);
        std::fs::write(&path, file.svg)?;
        paths.push(path);
    }
    Ok(paths)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ChartData {
        ChartData {
            title: "t <&> \"q\"".into(),
            subtitle: "seed 1".into(),
            duration_s: 86_400.0,
            latency: vec![LatencySeries {
                name: "NA".into(),
                target_ms: Some(80.0),
                points: vec![
                    LatencyPoint {
                        t_s: 0.0,
                        p50_ms: 30.0,
                        p95_ms: 70.0,
                    },
                    LatencyPoint {
                        t_s: 3600.0,
                        p50_ms: f64::NAN,
                        p95_ms: 75.0,
                    },
                ],
            }],
            hit_ratio: vec![TierHitRatio {
                tier: "edge".into(),
                hit_ratio: 0.9,
            }],
            events: vec![EventTimeline {
                kind: "region_outage".into(),
                target: "us-east-1".into(),
                start_s: 1000.0,
                detected_s: Some(1090.0),
                rerouted_s: Some(1091.0),
                recovered_s: None,
            }],
            cost: Some(CostChart {
                hybrid: [("cdn_bandwidth".to_owned(), 0.0)].into(),
                cloud_only: [("cdn_bandwidth".to_owned(), 1234.0)].into(),
            }),
        }
    }

    #[test]
    fn html_is_self_contained_and_escaped() {
        let page = render_html(&sample());
        assert!(page.contains("t &lt;&amp;&gt; &quot;q&quot;"));
        assert!(!page.contains("<script"));
        assert!(
            !page.contains("http://")
                || page.matches("http://").count()
                    == page.matches("http://www.w3.org/2000/svg").count()
        );
        assert!(!page.contains("https://"));
        assert_eq!(page.matches("<svg ").count(), 4);
        assert!(!page.contains("NaN"));
        assert!(page.contains("not recovered by the end of the run"));
    }

    #[test]
    fn rendering_is_deterministic_and_handles_empty_data() {
        assert_eq!(render_html(&sample()), render_html(&sample()));
        let empty = ChartData::default();
        for file in render_svgs(&empty) {
            assert!(file.svg.starts_with("<svg "), "{}", file.name);
            assert!(file.svg.contains("no "), "{}", file.name);
            assert!(!file.svg.contains("NaN"), "{}", file.name);
        }
    }

    #[test]
    fn time_axis_units() {
        let (unit, name, ticks) = time_axis(86_400.0);
        assert!((unit - 3600.0).abs() < 1e-9);
        assert_eq!(name, "hours");
        assert_eq!(ticks.len(), 9); // every 3 hours, 0..=24
        let (_, name, _) = time_axis(600.0);
        assert_eq!(name, "minutes");
        let (_, name, ticks) = time_axis(f64::NAN);
        assert_eq!(name, "seconds");
        assert!(!ticks.is_empty());
    }

    #[test]
    fn durations_and_clock() {
        assert_eq!(human_duration(90.0), "90 s");
        assert_eq!(human_duration(750.0), "12.5 min");
        assert_eq!(human_duration(3.0 * 3600.0), "3 h");
        assert_eq!(clock(36_090.0), "10:01:30");
        assert_eq!(clock(f64::NAN), "00:00:00");
    }
}
