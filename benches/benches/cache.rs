//! Cache models: requests per second for each eviction policy on a Zipf(1.0) trace over 1M
//! objects, beside a naive floor (one hash-map lookup per request, no eviction at all).
//!
//! Groups: `cache/objects-1pct` and `cache/objects-10pct` (capacity 10k and 100k objects);
//! `cache/bytes-10pct` (sizes 64 B..4 KiB, capacity 10% of the bytes). Miss ratios are printed
//! once per policy, so speed is never read without quality.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation,
    clippy::cast_precision_loss,
    reason = "bench setup"
)]

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use edgeroute_sim::cache::{Cache, CachePolicy, CacheStats, Capacity, new_cache, replay};
use edgeroute_sim::trace::{TraceOptions, TraceReader};
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};

const OBJECTS: usize = 1_000_000;
const REQUESTS: usize = 2_000_000;

/// Zipf(alpha) over `OBJECTS` ranks by inverse CDF; keys scattered so rank is not key order;
/// per-object sizes 64 B..4 KiB.
fn zipf_trace(alpha: f64, seed: u64) -> Vec<(u64, u32)> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut cdf = Vec::with_capacity(OBJECTS);
    let mut total = 0.0;
    for rank in 1..=OBJECTS {
        total += 1.0 / (rank as f64).powf(alpha);
        cdf.push(total);
    }
    let sizes: Vec<u32> = (0..OBJECTS)
        .map(|_| rng.random_range(1..=64u32) * 64)
        .collect();
    (0..REQUESTS)
        .map(|_| {
            let u = rng.random::<f64>() * total;
            let rank = cdf.partition_point(|&c| c < u).min(OBJECTS - 1);
            let key = (rank as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
            (key, sizes[rank])
        })
        .collect()
}

fn bench_group(c: &mut Criterion, name: &str, trace: &[(u64, u32)], capacity: Capacity) {
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Elements(trace.len() as u64));
    g.sample_size(10);
    for policy in CachePolicy::NAMES {
        let policy: CachePolicy = policy.parse().unwrap();
        let mut once = new_cache(&policy, capacity);
        let stats = replay(&mut once, trace.iter().copied());
        eprintln!(
            "{name}/{}: miss ratio {:.4}",
            policy.name(),
            stats.miss_ratio()
        );
        g.bench_with_input(
            BenchmarkId::from_parameter(policy.name()),
            trace,
            |b, trace| {
                b.iter(|| {
                    let mut cache = new_cache(&policy, capacity);
                    let mut misses = 0u64;
                    for &(key, size) in trace {
                        misses += u64::from(!cache.access(key, size));
                    }
                    black_box(misses)
                });
            },
        );
        g.bench_with_input(
            BenchmarkId::new("replay", policy.name()),
            trace,
            |b, trace| {
                b.iter(|| {
                    let mut cache = new_cache(&policy, capacity);
                    let mut stats = CacheStats::default();
                    cache.replay(trace, &mut stats);
                    black_box(stats.misses)
                });
            },
        );
    }
    g.finish();
}

fn baseline(c: &mut Criterion, trace: &[(u64, u32)]) {
    let mut g = c.benchmark_group("cache/baseline");
    g.throughput(Throughput::Elements(trace.len() as u64));
    g.sample_size(10);
    // The floor: one lookup per request in a table already holding the 100k hottest-seen keys.
    let mut map: hashbrown::HashMap<u64, u32, foldhash::fast::FixedState> =
        hashbrown::HashMap::default();
    for &(key, size) in trace {
        if map.len() < 100_000 {
            map.insert(key, size);
        }
    }
    g.bench_function("hashmap-lookup-only", |b| {
        b.iter(|| trace.iter().filter(|(k, _)| map.contains_key(k)).count());
    });
    g.finish();
}

/// The CSV side of `cache replay`: the same trace as `timestamp,key,size` text, parsed by the
/// trace reader (no cache), so parsing and the replay loop are measured apart.
fn parse(c: &mut Criterion, trace: &[(u64, u32)]) {
    let mut csv = Vec::with_capacity(trace.len() * 32);
    csv.extend_from_slice(b"timestamp,key,size\n");
    for (t, &(key, size)) in trace.iter().enumerate() {
        csv.extend_from_slice(format!("{t},{key},{size}\n").as_bytes());
    }
    let mut g = c.benchmark_group("cache/csv");
    g.throughput(Throughput::Elements(trace.len() as u64));
    g.sample_size(10);
    g.bench_function("parse-only", |b| {
        b.iter(|| {
            let mut reader =
                TraceReader::from_reader(csv.as_slice(), TraceOptions::default()).unwrap();
            let mut sum = 0u64;
            while let Some(r) = reader.next_request().unwrap() {
                sum = sum.wrapping_add(r.key ^ u64::from(r.size));
            }
            black_box(sum)
        });
    });
    g.finish();
}

fn cache(c: &mut Criterion) {
    let trace = zipf_trace(1.0, 42);
    baseline(c, &trace);
    parse(c, &trace);
    bench_group(
        c,
        "cache/objects-1pct",
        &trace,
        Capacity::objects(OBJECTS as u64 / 100),
    );
    bench_group(
        c,
        "cache/objects-10pct",
        &trace,
        Capacity::objects(OBJECTS as u64 / 10),
    );
    let mut seen: hashbrown::HashMap<u64, u32, foldhash::fast::FixedState> =
        hashbrown::HashMap::default();
    seen.extend(trace.iter().copied());
    let working_set: u64 = seen.values().map(|&s| u64::from(s)).sum();
    bench_group(
        c,
        "cache/bytes-10pct",
        &trace,
        Capacity::bytes(working_set / 10),
    );
}

criterion_group!(benches, cache);
criterion_main!(benches);
