//! Cost model and charts: loading the built-in price table (TOML with spans, schema check,
//! layering), costing a day of traffic, and rendering the HTML report. These run once per
//! simulation, so the question is only whether they are negligible next to the run.
#![allow(clippy::unwrap_used, reason = "bench setup")]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use edgeroute_sim::charts::{
    ChartData, CostChart, EventTimeline, LatencyPoint, LatencySeries, TierHitRatio, render_html,
};
use edgeroute_sim::cost::{
    PriceTable, PriceZone, RegionTraffic, TrafficTotals, ZoneTraffic, cost_report,
};

fn day_of_traffic() -> TrafficTotals {
    let mut t = TrafficTotals {
        duration_s: 86_400.0,
        dns_queries: 2_000_000,
        ..TrafficTotals::default()
    };
    for (i, zone) in PriceZone::ALL.into_iter().enumerate() {
        let requests = 10_000_000 / (i as u64 + 1);
        t.edge.insert(
            zone,
            ZoneTraffic {
                requests,
                bytes: requests * 40_000,
            },
        );
        t.requests += requests;
    }
    t.waf_evaluated_requests = t.requests;
    for region in [
        "us-east-1",
        "us-west-2",
        "eu-west-1",
        "eu-central-1",
        "ap-southeast-1",
        "sa-east-1",
    ] {
        t.origins.insert(
            region.to_owned(),
            RegionTraffic {
                requests: 1_000_000,
                bytes_out: 20_000_000_000,
                bytes_in: 1_000_000_000,
                busy_us: 30_000_000_000,
                websocket_seconds: 50_000_000,
                new_connections: None,
            },
        );
        t.inter_region_bytes
            .insert(region.to_owned(), 5_000_000_000);
    }
    t
}

fn chart_data(prices: &PriceTable) -> ChartData {
    let report = cost_report(prices, &day_of_traffic()).unwrap();
    ChartData {
        title: "bench".into(),
        subtitle: String::new(),
        duration_s: 86_400.0,
        latency: ["NA", "EU", "AS", "SA", "OC", "AF"]
            .iter()
            .map(|name| LatencySeries {
                name: (*name).to_owned(),
                target_ms: Some(100.0),
                points: (0..288)
                    .map(|i| LatencyPoint {
                        t_s: f64::from(i) * 300.0,
                        p50_ms: 40.0 + f64::from(i % 17),
                        p95_ms: 90.0 + f64::from(i % 23),
                    })
                    .collect(),
            })
            .collect(),
        hit_ratio: ["edge", "upper", "regional", "database"]
            .iter()
            .map(|t| TierHitRatio {
                tier: (*t).to_owned(),
                hit_ratio: 0.7,
            })
            .collect(),
        events: vec![EventTimeline {
            kind: "region_outage".into(),
            target: "us-east-1".into(),
            start_s: 36_000.0,
            detected_s: Some(36_090.0),
            rerouted_s: Some(36_100.0),
            recovered_s: Some(37_800.0),
        }],
        cost: Some(CostChart::from(&report)),
    }
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("cost");
    group.bench_function("load_builtin_prices", |b| {
        b.iter(|| PriceTable::builtin().unwrap());
    });
    let prices = PriceTable::builtin().unwrap();
    let traffic = day_of_traffic();
    group.bench_function("cost_report_day", |b| {
        b.iter(|| cost_report(black_box(&prices), black_box(&traffic)).unwrap());
    });
    group.finish();

    let data = chart_data(&prices);
    let mut group = c.benchmark_group("charts");
    group.bench_function("render_html", |b| b.iter(|| render_html(black_box(&data))));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
