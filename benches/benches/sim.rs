//! The simulator end to end: simulated requests per second with the real engine in the loop.
//!
//! The bench scenario is the built-in default (`aybiza-global`: a day of global traffic with a
//! us-east-1 outage and a bad canary). Setting a run up (compiling the policy once per shard,
//! placing clients, building the network tables) is not timed; the run and the report are.
//!
//! Groups:
//! - `sim/default-1h`: the default's first hour at its full rate (~200,000 requests; its
//!   events come later in the day), one thread (requests/s/core) and one thread per core;
//! - `sim/events`: the whole day with traffic scaled to 2% (the CLI's `--short`: every epoch,
//!   probe and event still happens), with and without the scenario's events (issue 6: events
//!   and cost add at most 10%; the cost model runs in both, see the `cost` bench for its own
//!   time).
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "bench setup")]

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use edgeroute_sim::run::{RunOptions, Simulation};
use edgeroute_sim::scenario::{Scenario, builtin};

const SCALE: f64 = 0.02;
const HOUR_S: f64 = 3_600.0;
const ONE_THREAD: RunOptions = RunOptions {
    threads: 1,
    log_attacks: false,
};

fn scenario(events: bool) -> Scenario {
    let mut s = builtin::load(builtin::DEFAULT_NAME).expect("built-in scenario");
    s.scale_traffic(SCALE);
    if !events {
        s.file.events.clear();
    }
    s
}

fn requests(s: &Scenario) -> u64 {
    let sim = Simulation::new(s).unwrap();
    sim.run(ONE_THREAD, &mut |_| {}).unwrap().requests
}

fn bench_default(c: &mut Criterion) {
    let mut s = builtin::load(builtin::DEFAULT_NAME).expect("built-in scenario");
    s.file.duration = edgeroute_sim::scenario::units::Secs(HOUR_S);
    s.file.events.clear();
    let n = requests(&s);
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let mut g = c.benchmark_group("sim/default-1h");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(10));
    g.throughput(Throughput::Elements(n));
    for threads in [1, cores] {
        g.bench_function(format!("threads-{threads}"), |b| {
            b.iter_batched(
                || Simulation::new(&s).unwrap(),
                |sim| {
                    let opts = RunOptions {
                        threads,
                        ..RunOptions::default()
                    };
                    black_box(sim.run(opts, &mut |_| {}).unwrap().requests)
                },
                BatchSize::PerIteration,
            );
        });
    }
    g.finish();
}

fn bench_events(c: &mut Criterion) {
    let with = scenario(true);
    let without = scenario(false);
    let n = requests(&with);
    assert_eq!(n, requests(&without), "events must not change the traffic");
    let mut g = c.benchmark_group("sim/events");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(10));
    g.throughput(Throughput::Elements(n));
    for (name, s) in [("with-events", &with), ("without-events", &without)] {
        g.bench_function(name, |b| {
            b.iter_batched(
                || Simulation::new(s).unwrap(),
                |sim| black_box(sim.run(ONE_THREAD, &mut |_| {}).unwrap().requests),
                BatchSize::PerIteration,
            );
        });
    }
    g.finish();
}

criterion_group!(benches, bench_default, bench_events);
criterion_main!(benches);
