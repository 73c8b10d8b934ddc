//! `edgeroute expr`: the JSON lines interface (golden) and the terminal interface.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "tests"
)]

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

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

fn golden(name: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/golden")
            .join(name),
    )
    .unwrap()
}

#[test]
fn jsonl_answers_one_line_per_input_in_order() {
    let out = edgeroute(&["expr", "--jsonl"], &golden("expr.jsonl"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout, golden("expr.jsonl.out"));
}

#[test]
fn jsonl_with_empty_input_prints_nothing() {
    let out = edgeroute(&["expr", "--jsonl"], "");
    assert!(out.status.success());
    assert!(out.stdout.is_empty());
}

#[test]
fn terminal_prints_matched_and_exits_0() {
    let out = edgeroute(
        &[
            "expr",
            r#"http.host eq "example.com" and ssl and tcp.dstport in {443}"#,
            "--field",
            "http.host=example.com",
            "--field",
            "ssl=true",
            "-f",
            "tcp.dstport=443",
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "matched\n");
}

#[test]
fn terminal_prints_not_matched_and_exits_1() {
    let out = edgeroute(
        &[
            "expr",
            r#"ip.src in {10.0.0.0/8}"#,
            "--field",
            "ip.src=192.0.2.1",
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "not matched\n");
}

#[test]
fn terminal_accepts_json_for_maps_and_rates() {
    let out = edgeroute(
        &[
            "expr",
            r#"http.request.headers["x-key"][0] eq "k" and rate(1m) > 60"#,
            "--field",
            r#"http.request.headers={"x-key": ["k"]}"#,
            "--rate",
            "1m=61",
        ],
        "",
    );
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "matched\n");
}

#[test]
fn terminal_renders_every_error_with_line_col_and_caret() {
    let out = edgeroute(
        &[
            "expr",
            "ssl and\n ip.src contains \"1\" and http.hots eq \"a\"",
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    let expected = "\
error: operator `contains` is not defined on IP address
 --> <expr>:2:9
  |
2 |  ip.src contains \"1\" and http.hots eq \"a\"
  |         ^^^^^^^^

error: unknown field `http.hots`
 --> <expr>:2:26
  |
2 |  ip.src contains \"1\" and http.hots eq \"a\"
  |                          ^^^^^^^^^
  = help: did you mean `http.host`?
";
    assert_eq!(stderr, expected);
}

#[test]
fn terminal_rejects_bad_field_values() {
    let out = edgeroute(&["expr", "ssl", "--field", "ssl=yes"], "");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8(out.stderr)
            .unwrap()
            .contains("`yes` is not a Boolean")
    );
    let out = edgeroute(&["expr", "ssl", "--field", "nope=1"], "");
    assert!(
        String::from_utf8(out.stderr)
            .unwrap()
            .contains("unknown field `nope`")
    );
}
