//! `edgeroute routes`: where every country and mapped subdivision goes, now and with `--down`.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "tests"
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const POLICY: &str = r#"
[policy]
name = "routes-test"

[services.api]
hosts = ["api.example.com"]

[services.voice]
hosts = ["voice.example.com"]
websocket = true

[routing]
default_region = "us-east-1"

[routing.regions]
us-east-1 = {}
us-west-2 = {}
eu-west-2 = {}
eu-central-1 = {}

[routing.map]
US = "us-east-1"
"US-CA" = "us-west-2"
DE = "eu-central-1"

[routing.residency.eu]
countries = ["DE", "FR", "AT"]
regions = ["eu-*"]

[[routing.services.api.pools]]
name = "api-use1"
region = "us-east-1"
endpoints = [{ address = "api-use1.alb.internal" }]

[[routing.services.api.pools]]
name = "api-usw2"
region = "us-west-2"
endpoints = [{ address = "api-usw2.alb.internal" }]

[[routing.services.api.pools]]
name = "api-euw2"
region = "eu-west-2"
endpoints = [{ address = "api-euw2.alb.internal" }]

[[routing.services.api.pools]]
name = "api-euc1"
region = "eu-central-1"
endpoints = [{ address = "api-euc1.alb.internal" }]

[[routing.services.voice.pools]]
name = "voice-use1"
region = "us-east-1"
endpoints = [{ address = "voice-use1.alb.internal" }]
"#;

fn edgeroute(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_edgeroute"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("run edgeroute")
}

/// A scratch file unique to this test process.
fn scratch(name: &str, content: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("edgeroute-cli-routes-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

fn row<'a>(text: &'a str, location: &str) -> &'a str {
    text.lines()
        .find(|l| l.split_whitespace().next() == Some(location))
        .unwrap_or_else(|| panic!("no row {location} in\n{text}"))
}

#[test]
fn table_lists_every_country_and_mapped_subdivision() {
    let policy = scratch("table.toml", POLICY);
    let out = edgeroute(&["routes", policy.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let header = text.lines().next().unwrap();
    assert!(header.starts_with("location") && header.contains("api") && header.contains("voice"));
    // 250 countries and one mapped subdivision.
    assert_eq!(text.lines().count(), 1 + 250 + 1);
    let us_ca = row(&text, "US-CA");
    assert!(
        us_ca.contains("subdivision") && us_ca.contains("us-west-2"),
        "{us_ca}"
    );
    let de = row(&text, "DE");
    assert!(
        de.contains("country") && de.contains(" eu ") && de.contains("eu-central-1"),
        "{de}"
    );
    // Voice only runs in us-east-1: the EU group has nowhere to go.
    assert!(de.contains("503:residency"), "{de}");
    let fr = row(&text, "FR");
    assert!(fr.contains("nearest") && fr.contains("eu-west-2"), "{fr}");
}

#[test]
fn down_shows_the_failover_and_counts_changes() {
    let policy = scratch("down.toml", POLICY);
    let out = edgeroute(&[
        "routes",
        policy.to_str().unwrap(),
        "--down",
        "us-east-1",
        "--down",
        "eu-central-1",
        "--service",
        "api",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(row(&text, "US").contains("us-east-1 -> us-west-2"));
    assert!(row(&text, "US-CA").contains("us-west-2") && !row(&text, "US-CA").contains("->"));
    assert!(row(&text, "DE").contains("eu-central-1 -> eu-west-2"));
    assert!(
        text.lines()
            .last()
            .unwrap()
            .ends_with("locations change region for at least one service")
    );
}

#[test]
fn csv_of_changed_locations_matches_the_golden_file() {
    let policy = scratch("golden.toml", POLICY);
    let out = edgeroute(&[
        "routes",
        policy.to_str().unwrap(),
        "--down",
        "eu-west-2",
        "--down",
        "api-euc1",
        "--changed",
        "--format",
        "csv",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/routes_changed.csv");
    let text = stdout(&out);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&golden, &text).unwrap();
    }
    assert_eq!(text, std::fs::read_to_string(&golden).unwrap());
    // The EU group refuses rather than leaving Europe.
    assert!(text.contains("DE,Germany,api,eu-central-1,503:residency"));
}

#[test]
fn json_lines_carry_match_group_and_both_regions() {
    let policy = scratch("json.toml", POLICY);
    let out = edgeroute(&[
        "routes",
        policy.to_str().unwrap(),
        "--format",
        "json",
        "--down",
        "us-west-2",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let line = stdout(&out)
        .lines()
        .find(|l| l.contains("\"US-CA\""))
        .unwrap()
        .to_owned();
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["match"], "subdivision");
    assert_eq!(v["group"], serde_json::Value::Null);
    assert_eq!(v["routes"]["api"]["now"], "us-west-2");
    assert_eq!(v["routes"]["api"]["after"], "us-east-1");
}

#[test]
fn unknown_names_and_bad_policies_are_errors() {
    let policy = scratch("names.toml", POLICY);
    let out = edgeroute(&["routes", policy.to_str().unwrap(), "--down", "us-middle-1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("unknown --down target `us-middle-1`"),
        "{}",
        stderr(&out)
    );
    let out = edgeroute(&["routes", policy.to_str().unwrap(), "--service", "nope"]);
    assert_eq!(out.status.code(), Some(2));

    // A routing error is reported with the file, line and column of the offending value.
    let bad = scratch(
        "bad.toml",
        &POLICY.replace("DE = \"eu-central-1\"", "DE = \"us-west-2\""),
    );
    let out = edgeroute(&["routes", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("`DE` is in residency group `eu`, which does not allow region `us-west-2`"),
        "{err}"
    );
    let line = POLICY.lines().position(|l| l.starts_with("DE = ")).unwrap() + 1;
    assert!(err.contains(&format!("bad.toml:{line}:")), "{err}");
}
