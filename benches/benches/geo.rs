//! Geography and the network model: per-request costs the simulator pays.
//!
//! Groups: `geo` (distance, nearest data centre vs a naive haversine scan, lookups) and
//! `network` (locating a client once, then per-request median and sampled RTT).
#![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "bench setup")]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use edgeroute_geo::{LatLon, colos, country, great_circle_km, nearest_colo, subdivision};
use edgeroute_sim::network::{NetworkConfig, NetworkModel};
use rand::SeedableRng;
use rand::rngs::Xoshiro256PlusPlus;

fn points() -> Vec<LatLon> {
    edgeroute_geo::countries()
        .iter()
        .map(|c| c.population_point)
        .collect()
}

fn naive_nearest(p: LatLon) -> &'static str {
    colos()
        .iter()
        .min_by(|a, b| great_circle_km(p, a.point).total_cmp(&great_circle_km(p, b.point)))
        .unwrap()
        .iata
}

fn geo(c: &mut Criterion) {
    let pts = points();
    let mut g = c.benchmark_group("geo");
    g.bench_function("great_circle_km", |b| {
        let (x, y) = (pts[10], pts[200]);
        b.iter(|| great_circle_km(black_box(x), black_box(y)));
    });
    g.throughput(Throughput::Elements(pts.len() as u64));
    g.bench_function("nearest_colo/unit_vectors", |b| {
        b.iter(|| {
            for p in &pts {
                black_box(nearest_colo(black_box(*p)));
            }
        });
    });
    g.bench_function("nearest_colo/naive_haversine", |b| {
        b.iter(|| {
            for p in &pts {
                black_box(naive_nearest(black_box(*p)));
            }
        });
    });
    g.throughput(Throughput::Elements(1));
    g.bench_function("country_lookup", |b| b.iter(|| country(black_box("DE"))));
    g.bench_function("subdivision_lookup", |b| {
        b.iter(|| subdivision(black_box("US-CA")))
    });
    g.finish();
}

fn network(c: &mut Criterion) {
    let mut g = c.benchmark_group("network");
    g.bench_function("model_new", |b| {
        b.iter(|| NetworkModel::new(black_box(&NetworkConfig::default())).unwrap());
    });
    let model = NetworkModel::new(&NetworkConfig::default()).unwrap();
    let pts = points();
    g.throughput(Throughput::Elements(pts.len() as u64));
    g.bench_function("locate", |b| {
        b.iter(|| {
            for p in &pts {
                black_box(model.locate(black_box(*p)));
            }
        });
    });
    let sites: Vec<_> = pts.iter().map(|p| model.locate(*p)).collect();
    let regions: Vec<_> = (0..model.regions().len())
        .map(|i| model.region_id(model.regions()[i].code).unwrap())
        .collect();
    let n = 1024u64;
    g.throughput(Throughput::Elements(n));
    g.bench_function("median_rtt_ms", |b| {
        b.iter(|| {
            let mut sum = 0.0;
            for i in 0..n as usize {
                sum += model.median_rtt_ms(&sites[i % sites.len()], regions[i % regions.len()]);
            }
            sum
        });
    });
    g.bench_function("sample_rtt_ms", |b| {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(1);
        b.iter(|| {
            let mut sum = 0.0;
            for i in 0..n as usize {
                sum += model.sample_rtt_ms(
                    &sites[i % sites.len()],
                    regions[i % regions.len()],
                    &mut rng,
                );
            }
            sum
        });
    });
    g.finish();
}

criterion_group!(benches, geo, network);
criterion_main!(benches);
