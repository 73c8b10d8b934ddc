//! Bad scenarios: every error names the file, line and column, and nothing panics.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "tests"
)]

use edgeroute_sim::scenario::{Scenario, ScenarioErrors};

const BASE: &str = r#"policy = "policy.toml"
duration = "1h"

[traffic]
rate = 10.0

[[traffic.classes]]
name = "api"
share = 1.0
host = "api.example.com"
path = "/v1/{object}"
"#;

fn load(text: &str) -> Result<Scenario, ScenarioErrors> {
    Scenario::from_toml_str(text, "bad.toml", |_| Ok(String::new()))
}

/// The first error's (line, col, message).
fn first_error(text: &str) -> (usize, usize, String) {
    let errs = load(text).expect_err("should be rejected");
    let e = &errs.errors()[0];
    (e.line(), e.col(), e.to_string())
}

fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .expect("needle")
        + 1
}

#[test]
fn the_base_is_fine() {
    load(BASE).unwrap();
}

#[test]
fn unknown_key_points_at_it() {
    let text = BASE.replace("rate = 10.0", "rate = 10.0\nrat = 3");
    let (line, col, msg) = first_error(&text);
    assert_eq!(line, line_of(&text, "rat = 3"), "{msg}");
    assert_eq!(col, 1);
    assert!(msg.starts_with("bad.toml:"), "{msg}");
    assert!(msg.contains("unknown field `rat`"), "{msg}");
}

#[test]
fn negative_rate() {
    let text = BASE.replace("rate = 10.0", "rate = -5.0");
    let (line, col, msg) = first_error(&text);
    assert_eq!((line, col), (line_of(&text, "rate = -5.0"), 8), "{msg}");
    assert!(msg.contains("negative rate `-5`"), "{msg}");
    assert!(msg.contains("^^^^"), "{msg}");
}

#[test]
fn shares_must_sum_to_one() {
    let text = BASE.replace("share = 1.0", "share = 0.7");
    let (line, _, msg) = first_error(&text);
    assert!(msg.contains("class shares sum to 0.7, not 1"), "{msg}");
    assert_eq!(line, line_of(&text, "[[traffic.classes]]"), "{msg}");
}

#[test]
fn unknown_country_and_region() {
    let text = format!("{BASE}\n[traffic.population]\nonly = [\"DE\", \"XX\"]\n");
    let (line, col, msg) = first_error(&text);
    assert_eq!(line, line_of(&text, "only ="), "{msg}");
    assert_eq!(col, 15);
    assert!(msg.contains("unknown country `XX`"), "{msg}");

    let text = format!(
        "{BASE}\n[[events]]\nkind = \"region_outage\"\ntarget = \"mars-north-1\"\nstart = \"10m\"\nduration = \"5m\"\n"
    );
    let (line, _, msg) = first_error(&text);
    assert_eq!(line, line_of(&text, "mars-north-1"), "{msg}");
    assert!(msg.contains("unknown region `mars-north-1`"), "{msg}");
}

#[test]
fn events_outside_the_duration() {
    let text = format!(
        "{BASE}\n[[events]]\nkind = \"surge\"\nstart = \"2h\"\nduration = \"5m\"\nmultiplier = 2.0\n"
    );
    let (line, _, msg) = first_error(&text);
    assert_eq!(line, line_of(&text, "start = \"2h\""), "{msg}");
    assert!(msg.contains("after the scenario ends"), "{msg}");

    let text = format!(
        "{BASE}\n[[events]]\nkind = \"surge\"\nstart = \"50m\"\nduration = \"20m\"\nmultiplier = 2.0\n"
    );
    let (line, _, msg) = first_error(&text);
    assert_eq!(line, line_of(&text, "duration = \"20m\""), "{msg}");
}

#[test]
fn keys_that_do_not_apply_to_the_event_kind() {
    let text = format!(
        "{BASE}\n[[events]]\nkind = \"attack\"\nstart = \"1m\"\nduration = \"5m\"\nrate = 10.0\ncanary_weight = 0.5\n"
    );
    let (line, _, msg) = first_error(&text);
    assert_eq!(line, line_of(&text, "canary_weight"), "{msg}");
    assert!(
        msg.contains("`canary_weight` does not apply to `attack` events"),
        "{msg}"
    );
}

#[test]
fn missing_policy_file() {
    let errs = Scenario::from_toml_str(BASE, "s.toml", |p| Err(format!("no such file `{p}`")))
        .unwrap_err();
    let e = &errs.errors()[0];
    assert_eq!((e.line(), e.col()), (1, 10));
    assert!(
        e.message()
            .contains("cannot read policy file `policy.toml`"),
        "{e}"
    );
    // Through the file system, too.
    let dir = std::env::temp_dir().join(format!("edgeroute-sim-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("s.toml");
    std::fs::write(&path, BASE).unwrap();
    let errs = Scenario::load(&path).unwrap_err();
    assert!(
        errs.to_string()
            .contains("s.toml:1:10: error: cannot read policy file"),
        "{errs}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn malformed_toml_and_bad_units() {
    let (line, _, msg) = first_error("policy = \"p.toml\"\nduration = \n");
    assert_eq!(line, 2, "{msg}");
    let text = BASE.replace("duration = \"1h\"", "duration = \"1 fortnight\"");
    let (line, _, msg) = first_error(&text);
    assert_eq!(line, 2, "{msg}");
    assert!(msg.contains("unknown unit"), "{msg}");
}

#[test]
fn several_errors_at_once() {
    let text = BASE
        .replace("rate = 10.0", "rate = -1.0")
        .replace("share = 1.0", "share = 2.0");
    let errs = load(&text).unwrap_err();
    assert!(errs.errors().len() >= 2, "{errs}");
}

#[test]
fn never_panics_on_garbage() {
    for text in [
        "",
        "[[[",
        "policy = 3",
        "\u{0}\u{1}",
        "events = 5\npolicy = \"x\"",
        "[traffic]\nclasses = [1, 2]",
    ] {
        let _ = load(text);
    }
}
