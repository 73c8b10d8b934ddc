//! `edgeroute simulate`: the JSON report's keys, determinism, CSV and chart output, bad input.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "tests"
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn edgeroute(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_edgeroute"))
        .args(args)
        .output()
        .expect("run edgeroute")
}

fn testdata(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../edgeroute-sim/testdata")
        .join(name)
        .display()
        .to_string()
}

fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("edgeroute-cli-sim-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

fn json_run(extra: &[&str]) -> (String, Value) {
    let small = testdata("small.toml");
    let mut args = vec![
        "simulate",
        small.as_str(),
        "--format",
        "json",
        "--quiet",
        "--scale",
        "0.02",
    ];
    args.extend_from_slice(extra);
    let o = edgeroute(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    let v: Value = serde_json::from_str(&text).unwrap();
    (text, v)
}

#[test]
fn json_report_has_the_issue_keys() {
    let dir = scratch_dir("keys");
    let csv = dir.join("csv");
    let html = dir.join("report.html");
    let svg = dir.join("svg");
    let (_, v) = json_run(&[
        "--csv-dir",
        csv.to_str().unwrap(),
        "--html",
        html.to_str().unwrap(),
        "--svg-dir",
        svg.to_str().unwrap(),
    ]);
    assert!(v["requests"].as_u64().unwrap() > 1000);
    for q in ["p50", "p95", "p99", "target_ms", "pass"] {
        assert!(!v["latency_ms"]["global"][q].is_null(), "global.{q}");
    }
    for c in ["NA", "EU", "AS", "SA", "OC", "AF"] {
        assert!(v["latency_ms"]["by_continent"][c].is_object(), "{c}");
    }
    assert_eq!(v["latency_ms"]["by_continent"]["NA"]["target_ms"], 80.0);
    assert_eq!(v["latency_ms"]["by_continent"]["EU"]["target_ms"], 100.0);
    assert!(v["latency_ms"]["by_region"]["us-east-1"]["p95"].is_number());
    for t in ["edge", "upper", "regional", "database"] {
        let r = v["cache"]["tiers"][t]["hit_ratio"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&r), "{t}: {r}");
    }
    assert!(v["cache"]["origin_offload"].is_number());
    assert!(v["actions"]["allow"].as_u64().unwrap() > 0);
    assert!(v["actions"]["managed_challenge"].as_u64().unwrap() > 0);
    assert!(v["population_within_50ms_share"].as_f64().unwrap() > 0.5);
    let events = v["events"].as_array().unwrap();
    assert_eq!(events.len(), 3);
    let kinds: Vec<&str> = events.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["region_outage", "deploy", "attack"]);
    for e in events {
        for k in [
            "target",
            "start_s",
            "detected_s",
            "rerouted_s",
            "recovered_s",
            "failed_requests",
            "rerouted_requests",
        ] {
            assert!(e.get(k).is_some(), "{k}");
        }
        for w in ["before", "during", "after"] {
            assert!(e["latency_ms"][w].is_object(), "{w}");
        }
    }
    assert_eq!(events[0]["target"], "us-east-1");
    let cost = &v["cost_monthly_usd"];
    assert!(cost["hybrid"]["total"].as_f64().unwrap() > 0.0);
    assert!(cost["cloud_only"]["total"].as_f64().unwrap() > 0.0);
    assert!(cost["savings"].is_number());
    assert!(cost["hybrid"]["items"].as_object().unwrap().len() >= 3);
    // The side outputs.
    let series = std::fs::read_to_string(csv.join("timeseries.csv")).unwrap();
    assert!(series.starts_with("t_s,requests,failed,"), "{series}");
    assert_eq!(
        series.lines().count(),
        1 + 12,
        "two hours in 10-minute intervals"
    );
    assert!(
        std::fs::read_to_string(csv.join("events.csv"))
            .unwrap()
            .lines()
            .count()
            == 4
    );
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("<svg") && page.contains("small"), "html");
    assert!(std::fs::read_dir(&svg).unwrap().count() >= 3);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn same_scenario_same_bytes_on_any_thread_count() {
    let (a, _) = json_run(&["--threads", "1"]);
    let (b, _) = json_run(&["--threads", "2"]);
    assert_eq!(a, b);
    let (c, _) = json_run(&["--seed", "8"]);
    assert_ne!(a, c);
}

#[test]
fn text_report_and_list() {
    let small = testdata("small.toml");
    let o = edgeroute(&["simulate", &small, "--quiet", "--scale", "0.01"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    for needle in [
        "latency (ms)",
        "cache tier",
        "origin offload",
        "events (virtual time)",
        "monthly cost",
    ] {
        assert!(text.contains(needle), "{needle}\n{text}");
    }
    let o = edgeroute(&["simulate", "--list"]);
    let list = stdout(&o);
    for name in [
        "aybiza-global",
        "eu-residency",
        "ddos-burst",
        "black-friday",
        "cost-volumes",
    ] {
        assert!(list.contains(name), "{list}");
    }
}

#[test]
fn bad_scenario_exits_1_with_line_and_column() {
    let dir = scratch_dir("bad");
    let path = dir.join("bad.toml");
    std::fs::write(
        &path,
        "policy = \"policy.toml\"\n[traffic]\nrate = 10.0\n[[traffic.classes]]\nname = \"a\"\nshare = 1.0\nhost = \"h\"\npath = \"/\"\nsize = { median = \"1 parsec\" }\n",
    )
    .unwrap();
    let o = edgeroute(&["simulate", path.to_str().unwrap(), "--quiet"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains("bad.toml:9:"), "{err}");
    assert!(err.contains("unknown unit"), "{err}");
    assert!(err.contains('^'), "{err}");
    let o = edgeroute(&["simulate", "no/such/scenario.toml", "--quiet"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("cannot read scenario file"),
        "{}",
        stderr(&o)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
