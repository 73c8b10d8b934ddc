//! Integration tests of the simulator: scenarios load (or fail with line and column), runs are
//! deterministic and independent of the thread count, events show up in the timeline.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "tests"
)]

use std::path::Path;

use edgeroute_sim::report::Report;
use edgeroute_sim::run::{RunOptions, Simulation};
use edgeroute_sim::scenario::Scenario;

fn testdata(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(name)
}

fn run(s: &Scenario, threads: usize) -> Report {
    let sim = Simulation::new(s).unwrap_or_else(|e| panic!("{e}"));
    sim.run(
        RunOptions {
            threads,
            ..RunOptions::default()
        },
        &mut |_| {},
    )
    .unwrap()
}

fn small(scale: f64) -> Scenario {
    let mut s = Scenario::load(&testdata("small.toml")).unwrap_or_else(|e| panic!("{e}"));
    s.scale_traffic(scale);
    s
}

#[test]
fn small_scenario_runs_and_reports_its_events() {
    let r = run(&small(0.05), 1);
    assert!(r.requests > 50_000, "{}", r.requests);
    assert_eq!(r.events.len(), 3);
    let outage = &r.events[0];
    assert_eq!(outage.kind, "region_outage");
    assert!(outage.detected_s.unwrap() > outage.start_s);
    assert!(outage.recovered_s.unwrap() > 3000.0);
    assert_eq!(r.routed_after_detection, 0);
}

#[test]
fn same_seed_same_json_on_any_thread_count() {
    let s = small(0.02);
    let one = run(&s, 1).to_json();
    let two = run(&s, 2).to_json();
    let three = run(&s, 3).to_json();
    assert_eq!(one, two);
    assert_eq!(one, three);
    let mut other = s.clone();
    other.file.seed += 1;
    assert_ne!(one, run(&other, 2).to_json());
}

#[test]
fn every_shipped_scenario_runs_in_short_mode() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let mut s = Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
        s.scale_traffic(0.002);
        // Coarser epochs keep a debug build quick; the timeline is unchanged.
        s.file.epoch = edgeroute_sim::scenario::units::Secs(10.0);
        let r = run(&s, 1);
        assert!(r.requests > 0, "{}", path.display());
        assert_eq!(r.routed_after_detection, 0, "{}", path.display());
        seen += 1;
    }
    assert!(seen >= 5, "{seen} scenarios");
    // The built-in copies are the shipped files.
    for name in edgeroute_sim::scenario::builtin::names() {
        let s = edgeroute_sim::scenario::builtin::load(name).unwrap_or_else(|e| panic!("{e}"));
        let on_disk = std::fs::read_to_string(dir.join(format!("{name}.toml"))).unwrap();
        assert_eq!(s.text, on_disk, "{name}");
    }
}
