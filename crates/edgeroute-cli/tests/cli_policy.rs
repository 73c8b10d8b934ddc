//! `edgeroute check`, `eval`, `import cloudflare` and `export cloudflare` on the design's policy.
//!
//! Golden files live in `tests/golden/`; after an intended change, regenerate them with
//! `UPDATE_GOLDEN=1 cargo test -p edgeroute-cli --test cli_policy`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "tests"
)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn aybiza() -> String {
    root().join("policies/aybiza.toml").display().to_string()
}

fn edgeroute(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_edgeroute"))
        .args(args)
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run edgeroute");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn golden_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name)
}

fn check_golden(name: &str, actual: &str) {
    let path = golden_path(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        expected == actual,
        "golden `{name}` differs (UPDATE_GOLDEN=1 regenerates it)\n--- expected\n{expected}\n--- actual\n{actual}"
    );
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("edgeroute-cli-policy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

#[test]
fn check_accepts_the_design_policy_in_every_environment() {
    let out = edgeroute(&["check", &aybiza()], "");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    for env in ["production", "staging", "development"] {
        assert!(stdout.contains(&format!("environment `{env}`")), "{stdout}");
    }
}

#[test]
fn check_reports_errors_with_file_line_col_and_a_caret() {
    let bad = tmp("bad.toml");
    std::fs::write(
        &bad,
        "[policy]\nname = \"x\"\n\n[[firewall.rules]]\nid = \"a\"\nexpression = 'http.hots eq \"a\"'\naction = \"block\"\n\n[[cache.rules]]\nid = \"b\"\nurl = \"example.com/*\"\nedge_ttl = \"400d\"\n",
    )
    .unwrap();
    let out = edgeroute(&["check", bad.to_str().unwrap()], "");
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!("{}:6:15", bad.display())),
        "{stderr}"
    );
    assert!(stderr.contains("^^^^^^^^^"), "{stderr}");
    assert!(stderr.contains("unknown field `http.hots`"), "{stderr}");
    assert!(stderr.contains("edge_ttl `400d` is impossible"), "{stderr}");
    assert!(stderr.contains("2 error(s)"), "{stderr}");
    assert!(
        !stderr.contains('\u{1b}'),
        "no colour codes when not a terminal: {stderr:?}"
    );
}

#[test]
fn check_warnings_do_not_fail_unless_denied() {
    let p = tmp("warn.toml");
    std::fs::write(
        &p,
        "[policy]\nname = \"x\"\n[lists.office]\nips = [\"10.0.0.0/8\"]\n",
    )
    .unwrap();
    let out = edgeroute(&["check", p.to_str().unwrap()], "");
    assert!(out.status.success());
    assert!(text(&out.stderr).contains("list `office` is never used"));
    let out = edgeroute(&["check", "--deny-warnings", p.to_str().unwrap()], "");
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn eval_replays_the_design_requests() {
    let requests = golden_path("aybiza_requests.jsonl");
    let out = edgeroute(
        &["eval", &aybiza(), "--requests", requests.to_str().unwrap()],
        "",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    check_golden("aybiza_requests.jsonl.out", &stdout);
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 10);
    let action = |i: usize| lines[i]["action"].as_str().unwrap().to_owned();
    assert_eq!(action(0), "allow");
    assert_eq!(lines[0]["cache"]["edge_ttl_s"], 2_592_000);
    assert_eq!(
        lines[1]["client_ip"], "81.2.69.160",
        "spoofed header from an untrusted peer ignored"
    );
    assert_eq!(action(4), "challenge");
    assert_eq!(action(5), "block");
    assert_eq!(action(6), "preflight");
    assert_eq!(lines[6]["status"], 204);
    assert_eq!(lines[9]["client_ip"], "203.0.113.9");
    for l in &lines {
        for key in [
            "action",
            "status",
            "retry_after_s",
            "client_ip",
            "country",
            "region",
            "cache",
            "request_headers",
            "response_headers",
            "matched_rules",
        ] {
            assert!(l.get(key).is_some(), "{key} missing in {l}");
        }
    }
}

#[test]
fn eval_refuses_the_101st_request_in_a_minute_from_one_ip() {
    let mut input = String::new();
    for i in 0..101 {
        input.push_str(&format!(
            "{{\"at\": {}, \"peer\": \"198.41.128.5\", \"url\": \"https://api.aybiza.com/api/v1/agents\", \"headers\": {{\"cf-connecting-ip\": \"81.2.69.160\"}}}}\n",
            1.0 + f64::from(i) * 0.1
        ));
    }
    input.push_str("{\"at\": 12, \"peer\": \"198.41.128.5\", \"url\": \"https://api.aybiza.com/api/v1/agents\", \"headers\": {\"cf-connecting-ip\": \"81.2.69.99\"}}\n");
    let out = edgeroute(&["eval", &aybiza(), "--requests", "-"], &input);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lines: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 102);
    assert!(lines[..100].iter().all(|l| l["action"] == "allow"));
    assert_eq!(lines[100]["action"], "block");
    assert_eq!(lines[100]["status"], 429);
    assert!(lines[100]["retry_after_s"].as_u64().unwrap() >= 1);
    assert_eq!(
        lines[100]["response_headers"]["retry-after"],
        lines[100]["retry_after_s"].to_string()
    );
    assert_eq!(lines[101]["action"], "allow", "another IP is not limited");
}

#[test]
fn eval_explain_and_text_format() {
    let requests = golden_path("aybiza_requests.jsonl");
    let out = edgeroute(
        &[
            "eval",
            &aybiza(),
            "--requests",
            requests.to_str().unwrap(),
            "--explain",
        ],
        "",
    );
    let first: serde_json::Value =
        serde_json::from_str(text(&out.stdout).lines().next().unwrap()).unwrap();
    let steps = first["explain"].as_array().unwrap();
    assert!(
        steps
            .iter()
            .any(|s| s["rule"] == "page-rule-static" && s["matched"] == true)
    );
    assert!(
        steps
            .iter()
            .any(|s| s["rule"] == "waf-threat-score" && s["matched"] == false)
    );
    let out = edgeroute(
        &[
            "eval",
            &aybiza(),
            "--requests",
            requests.to_str().unwrap(),
            "--format",
            "text",
        ],
        "",
    );
    let stdout = text(&out.stdout);
    assert!(
        stdout.lines().next().unwrap().contains("-> allow"),
        "{stdout}"
    );
}

#[test]
fn eval_reports_bad_lines_and_unknown_down_targets() {
    let input = "{\"at\": 1, \"peer\": \"nope\", \"url\": \"/\"}\n{\"at\": 1, \"peer\": \"1.1.1.1\", \"url\": \"/\", \"fields\": {\"cf.nothing\": 1}}\nnot json\n";
    let out = edgeroute(&["eval", &aybiza(), "--requests", "-"], input);
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert_eq!(stdout.lines().count(), 3);
    assert!(
        stdout.contains("line 1: `peer` `nope` is not an IP address"),
        "{stdout}"
    );
    assert!(stdout.contains("unknown field `cf.nothing`"), "{stdout}");
    let out = edgeroute(
        &["eval", &aybiza(), "--requests", "-", "--down", "atlantis-1"],
        "",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("unknown --down target `atlantis-1`"));
}

#[test]
fn export_then_import_into_the_policy_decides_the_same() {
    let json = tmp("aybiza.rulesets.json");
    let out = edgeroute(
        &[
            "export",
            "cloudflare",
            &aybiza(),
            "-o",
            json.to_str().unwrap(),
        ],
        "",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let rulesets: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let phases: Vec<&str> = rulesets
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["phase"].as_str().unwrap())
        .collect();
    assert_eq!(
        phases,
        [
            "http_request_firewall_custom",
            "http_ratelimit",
            "http_request_cache_settings"
        ]
    );
    let round = tmp("round-trip.toml");
    let out = edgeroute(
        &[
            "import",
            "cloudflare",
            json.to_str().unwrap(),
            "--into",
            &aybiza(),
            "-o",
            round.to_str().unwrap(),
        ],
        "",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let requests = golden_path("aybiza_requests.jsonl");
    let a = edgeroute(
        &["eval", &aybiza(), "--requests", requests.to_str().unwrap()],
        "",
    );
    let b = edgeroute(
        &[
            "eval",
            round.to_str().unwrap(),
            "--requests",
            requests.to_str().unwrap(),
        ],
        "",
    );
    assert_eq!(text(&a.stdout), text(&b.stdout));
    // A bare import (no --into) loads too.
    let out = edgeroute(&["import", "cloudflare", json.to_str().unwrap()], "");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("[[firewall.rules]]"));
}

#[test]
fn import_rejects_what_is_not_a_rulesets_export() {
    let p = tmp("not-rulesets.json");
    std::fs::write(&p, "{\"hello\": 1}").unwrap();
    let out = edgeroute(&["import", "cloudflare", p.to_str().unwrap()], "");
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("not a Cloudflare rulesets export"));
}
