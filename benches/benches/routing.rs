//! Origin routing (issue 4): the region-map lookup for every ISO subdivision (target: at most
//! 30 ns each), side by side with a naive string-keyed map, and `route()` on the design's
//! routing section: the healthy common path, failover with a region down, consistent hashing
//! and least outstanding.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "bench setup")]

use std::collections::BTreeMap;
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use edgeroute::Policy;
use edgeroute::routing::{CompiledRouting, HealthTable, RegionId, RouteInput, RoutingConfig};

const AYBIZA: &str = include_str!("../../policies/aybiza.toml");

fn policy() -> Policy {
    Policy::from_toml_str(AYBIZA, "policies/aybiza.toml", None)
        .unwrap()
        .0
}

fn config() -> RoutingConfig {
    policy().config().routing.clone().unwrap()
}

/// Every ISO 3166-2 subdivision as (country, suffix) — what `cf-ipcountry` and
/// `cf-region-code` carry.
fn subdivisions() -> Vec<([u8; 2], &'static [u8])> {
    edgeroute_geo::subdivisions()
        .iter()
        .map(|s| {
            let country: [u8; 2] = s.country.as_bytes().try_into().unwrap();
            (country, &s.code.as_bytes()[3..])
        })
        .collect()
}

fn region_map(c: &mut Criterion) {
    let policy = policy();
    let routing = policy.routing().unwrap();
    let subs = subdivisions();
    // The naive baseline: full codes in an ordered string map, built from the same answers.
    let naive: BTreeMap<String, RegionId> = edgeroute_geo::subdivisions()
        .iter()
        .zip(&subs)
        .map(|(s, (country, suffix))| {
            (
                s.code.to_owned(),
                routing.region_for(Some(*country), Some(suffix)).unwrap(),
            )
        })
        .collect();
    let mut g = c.benchmark_group("routing/region_map");
    g.throughput(Throughput::Elements(subs.len() as u64));
    g.bench_function("all_subdivisions", |b| {
        b.iter(|| {
            for (country, suffix) in &subs {
                black_box(routing.region_for(Some(black_box(*country)), Some(black_box(suffix))));
            }
        });
    });
    g.bench_function("all_subdivisions/naive_btreemap_format", |b| {
        let mut key = String::with_capacity(8);
        b.iter(|| {
            for (country, suffix) in &subs {
                key.clear();
                key.push_str(std::str::from_utf8(country).unwrap());
                key.push('-');
                key.push_str(std::str::from_utf8(suffix).unwrap());
                black_box(naive.get(black_box(key.as_str())));
            }
        });
    });
    let countries: Vec<[u8; 2]> = edgeroute_geo::countries()
        .iter()
        .map(|c| c.iso2.as_bytes().try_into().unwrap())
        .collect();
    g.throughput(Throughput::Elements(countries.len() as u64));
    g.bench_function("all_countries", |b| {
        b.iter(|| {
            for country in &countries {
                black_box(routing.region_for(Some(black_box(*country)), None));
            }
        });
    });
    g.finish();
}

fn input<'a>(
    r: &CompiledRouting,
    service: &str,
    country: &str,
    sub: Option<&'a str>,
    ip: u32,
) -> RouteInput<'a> {
    RouteInput {
        country: Some(country.as_bytes().try_into().unwrap()),
        subdivision: sub.map(str::as_bytes),
        client_ip: Some(IpAddr::V4(Ipv4Addr::from(ip))),
        ..RouteInput::new(r.service_id(service).unwrap())
    }
}

fn route(c: &mut Criterion) {
    let policy = policy();
    let routing = policy.routing().unwrap();
    let health = HealthTable::new();
    health.register(routing);
    // A realistic mix over the three services and the design's locations.
    let mix: Vec<RouteInput<'static>> = vec![
        input(routing, "api", "US", Some("CA"), 1),
        input(routing, "api", "US", Some("NY"), 2),
        input(routing, "api", "GB", Some("ENG"), 3),
        input(routing, "api", "DE", Some("HE"), 4),
        input(routing, "voice", "JP", Some("13"), 5),
        input(routing, "voice", "BR", Some("SP"), 6),
        input(routing, "ws", "IN", Some("MH"), 7),
        input(routing, "ws", "FR", None, 8),
    ];
    let mut g = c.benchmark_group("routing/route");
    g.throughput(Throughput::Elements(mix.len() as u64));
    g.bench_function("mix/healthy", |b| {
        let mut seed = 0u64;
        b.iter(|| {
            for i in &mix {
                seed = seed.wrapping_add(1);
                let _ = black_box(routing.route(black_box(i), &health, 0, seed));
            }
        });
    });
    let bound = health.bind(routing);
    g.bench_function("mix/healthy/kept_binding", |b| {
        let mut seed = 0u64;
        b.iter(|| {
            for i in &mix {
                seed = seed.wrapping_add(1);
                let _ = black_box(routing.route_bound(black_box(i), &health, &bound, 0, seed));
            }
        });
    });
    let down = HealthTable::new();
    down.register(routing);
    down.set_down(routing, "us-east-1");
    down.set_down(routing, "eu-central-1");
    g.bench_function("mix/us-east-1_and_eu-central-1_down", |b| {
        let mut seed = 0u64;
        b.iter(|| {
            for i in &mix {
                seed = seed.wrapping_add(1);
                let _ = black_box(routing.route(black_box(i), &down, 0, seed));
            }
        });
    });
    g.throughput(Throughput::Elements(1));
    let api = input(routing, "api", "US", Some("CA"), 1);
    g.bench_function("api/weighted_random", |b| {
        b.iter(|| black_box(routing.route(black_box(&api), &health, 0, 1)));
    });
    let voice = input(routing, "voice", "US", Some("NY"), 9);
    g.bench_function("voice/hash_affinity", |b| {
        b.iter(|| black_box(routing.route(black_box(&voice), &health, 0, 1)));
    });
    let ws = input(routing, "ws", "GB", Some("ENG"), 9);
    g.bench_function("ws/least_outstanding", |b| {
        b.iter(|| black_box(routing.route(black_box(&ws), &health, 0, 1)));
    });
    g.finish();
}

fn compile(c: &mut Criterion) {
    let config = config();
    let mut g = c.benchmark_group("routing/compile");
    g.sample_size(10);
    g.bench_function("aybiza", |b| {
        b.iter(|| black_box(config.compile().unwrap()))
    });
    g.finish();
}

/// One request of the decide() mix, with owned header values.
struct MixRequest {
    host: &'static str,
    path: &'static str,
    country: &'static str,
    region_code: &'static str,
    client: String,
}

fn decide_mix() -> Vec<MixRequest> {
    let shapes = [
        ("api.aybiza.com", "/api/v1/agents", "US", "CA"),
        ("api.aybiza.com", "/api/v1/sessions/7", "US", "NY"),
        ("api.aybiza.com", "/static/app.js", "GB", "ENG"),
        ("voice.aybiza.com", "/stream", "DE", "HE"),
        ("voice.aybiza.com", "/stream", "JP", "13"),
        ("ws.aybiza.com", "/events", "BR", "SP"),
        ("api.aybiza.com", "/api/v1/profiles/9", "IN", "MH"),
        ("api.aybiza.com", "/api/v1/calls", "FR", "IDF"),
    ];
    // Many client addresses, so the rate limits (100 a minute per IP) never trip.
    (0..4096u32)
        .map(|i| {
            let (host, path, country, region_code) = shapes[i as usize % shapes.len()];
            let ip = Ipv4Addr::from(0x5102_0000 + i.wrapping_mul(2_654_435_761) % 0x00ff_ffff);
            MixRequest {
                host,
                path,
                country,
                region_code,
                client: ip.to_string(),
            }
        })
        .collect()
}

fn decide(c: &mut Criterion) {
    use edgeroute::{Engine, RequestView, Timestamp};
    let with = policy();
    let mut config = with.config().clone();
    config.routing = None;
    let text = edgeroute::interop::cloudflare::to_toml(&config).unwrap();
    let (without, _) = Policy::from_toml_str(&text, "aybiza-without-routing.toml", None).unwrap();
    assert!(without.routing().is_none());
    let mix = decide_mix();
    let peer: IpAddr = "198.41.128.5".parse().unwrap();
    let mut g = c.benchmark_group("routing/decide");
    g.throughput(Throughput::Elements(1));
    for (name, policy) in [
        ("aybiza/with_routing", with),
        ("aybiza/without_routing", without),
    ] {
        let engine = Engine::new(policy);
        let mut i = 0usize;
        let mut now_us = 0u64;
        g.bench_function(name, |b| {
            b.iter(|| {
                let r = &mix[i % mix.len()];
                i = i.wrapping_add(1);
                // 10 ms of virtual time per request: each address is seen every ~41 s.
                now_us += 10_000;
                let headers: [(&[u8], &[u8]); 3] = [
                    (b"cf-connecting-ip", r.client.as_bytes()),
                    (b"cf-ipcountry", r.country.as_bytes()),
                    (b"cf-region-code", r.region_code.as_bytes()),
                ];
                let req = RequestView {
                    host: Some(r.host.as_bytes()),
                    path_and_query: r.path.as_bytes(),
                    headers: &headers,
                    seed: i as u64,
                    ..RequestView::new(peer)
                };
                black_box(engine.decide(black_box(&req), Timestamp::from_micros(now_us)))
            });
        });
    }
    g.finish();
}

criterion_group!(benches, region_map, route, decide, compile);
criterion_main!(benches);
