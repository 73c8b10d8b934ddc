//! `edgeroute cache replay`: output formats, counting, bad traces.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "tests"
)]

use std::path::PathBuf;
use std::process::{Command, Output};

fn edgeroute(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_edgeroute"))
        .args(args)
        .output()
        .expect("run edgeroute")
}

/// A scratch file unique to this test process.
fn scratch(name: &str, content: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("edgeroute-cli-cache-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path
}

/// `edgeroute cache replay --trace TRACE --policy POLICY --capacity CAPACITY EXTRA...`.
fn replay(trace: &str, policy: &str, capacity: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "cache",
        "replay",
        "--trace",
        trace,
        "--policy",
        policy,
        "--capacity",
        capacity,
    ];
    args.extend_from_slice(extra);
    edgeroute(&args)
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

/// Keys 1 2 3 1 2 3 ... with sizes 100: a 2-object LRU or FIFO misses every time.
fn cyclic(n: usize) -> String {
    let mut s = String::from("timestamp,key,size\n");
    for i in 0..n {
        s.push_str(&format!("{i},{},100\n", i % 3 + 1));
    }
    s
}

#[test]
fn json_has_the_documented_keys() {
    let trace = scratch("cyclic.csv", &cyclic(30));
    let out = replay(
        trace.to_str().unwrap(),
        "lru",
        "2",
        &["--objects", "--format", "json"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["requests"], 30);
    assert_eq!(v["misses"], 30);
    assert_eq!(v["miss_ratio"], 1.0);
    assert_eq!(v["byte_misses"], 3000);
    assert_eq!(v["byte_miss_ratio"], 1.0);
    assert_eq!(v["skipped_rows"], 0);
    assert_eq!(v["unit"], "objects");
}

#[test]
fn byte_mode_and_text_table() {
    let trace = scratch("cyclic3.csv", &cyclic(30));
    // 300 bytes hold all three objects: only the 3 first-time misses. (Not S3-FIFO: as in
    // libCacheSim, it admits only objects smaller than its small queue, 30 bytes here.)
    let out = replay(trace.to_str().unwrap(), "clock", "300", &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("requests         30\n"), "{text}");
    assert!(text.contains("misses           3\n"), "{text}");
    assert!(text.contains("miss_ratio       0.100000\n"), "{text}");
    assert!(text.contains("capacity         300 bytes\n"), "{text}");
}

#[test]
fn every_policy_runs() {
    let trace = scratch("cyclic4.csv", &cyclic(100));
    for policy in [
        "lru",
        "fifo",
        "clock",
        "sieve",
        "s3fifo",
        "wtinylfu",
        "s3fifo:move-to-main-threshold=1",
    ] {
        let out = replay(
            trace.to_str().unwrap(),
            policy,
            "1KiB",
            &["--format", "json"],
        );
        assert!(out.status.success(), "{policy}: {}", stderr(&out));
        let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
        assert_eq!(v["requests"], 100, "{policy}");
        assert_eq!(v["misses"], 3, "{policy}: everything fits in 1 KiB");
    }
}

#[test]
fn bad_row_names_file_line_and_column() {
    let trace = scratch("bad.csv", "timestamp,key,size\n0,1,10\n1,2,ten\n2,3,30\n");
    let out = replay(trace.to_str().unwrap(), "lru", "100", &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty(), "nothing printed on error");
    let err = stderr(&out);
    assert!(err.contains("bad.csv:3:5: bad size `ten`"), "{err}");
    assert!(err.contains("1,2,ten"), "shows the line: {err}");
}

#[test]
fn bad_row_column_counts_characters_and_the_caret_sits_under_the_field() {
    let trace = scratch("wide.csv", "timestamp,key,size\r\n1,\u{fc}\u{fc},x1\r\n");
    let out = replay(trace.to_str().unwrap(), "lru", "100", &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("wide.csv:2:6: bad size `x1`"), "{err}");
    assert!(
        err.contains("2 | 1,\u{fc}\u{fc},x1\n  |      ^^\n"),
        "line without its CR, caret under `x1`: {err}"
    );
}

#[test]
fn skip_bad_rows_counts_them() {
    let trace = scratch(
        "bad2.csv",
        "timestamp,key,size\n0,1,10\n1,2,ten\n2,3\n3,1,10\n",
    );
    let out = replay(
        trace.to_str().unwrap(),
        "lru",
        "100",
        &["--skip-bad-rows", "--format", "json"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["requests"], 2);
    assert_eq!(v["misses"], 1);
    assert_eq!(v["skipped_rows"], 2);
}

#[test]
fn bad_arguments_are_errors() {
    let trace = scratch("ok.csv", &cyclic(3));
    let t = trace.to_str().unwrap();
    let out = replay(t, "lrux", "1", &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("unknown cache policy `lrux`"),
        "{}",
        stderr(&out)
    );
    let out = replay(t, "lru", "1TB", &[]);
    assert_eq!(out.status.code(), Some(2));
    let out = replay("/nonexistent/trace.csv", "lru", "1", &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("cannot open trace"),
        "{}",
        stderr(&out)
    );
}

/// A Zipf-like trace of `n` rows (an LCG over a skewed key space, sizes 1 to 4,096), sizes in
/// the third column, long enough to span several parsing batches.
fn skewed(n: usize) -> String {
    let mut s = String::from("timestamp,key,size\n");
    let mut x = 0x2545_f491_4f6c_dd1d_u64;
    for i in 0..n {
        x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        let r = (x >> 33) % 1_000_000;
        // Squaring a uniform draw skews it towards small keys.
        let key = r * r / 1_000_000;
        s.push_str(&format!("{i},{key},{}\n", 1 + (x >> 20) % 4096));
    }
    s
}

#[test]
fn parsing_on_a_second_thread_gives_the_same_counts() {
    // 30,000 rows: seven full batches and a partial one.
    let trace = scratch("skewed.csv", &skewed(30_000));
    let t = trace.to_str().unwrap();
    for (policy, capacity, objects) in [
        ("lru", "500", true),
        ("s3fifo", "500", true),
        ("sieve", "1MiB", false),
        ("wtinylfu", "200KiB", false),
    ] {
        let run = |threads: &str| {
            let mut extra = vec!["--format", "json", "--threads", threads];
            if objects {
                extra.push("--objects");
            }
            let out = replay(t, policy, capacity, &extra);
            assert!(out.status.success(), "{policy}: {}", stderr(&out));
            stdout(&out)
        };
        let one = run("1");
        let v: serde_json::Value = serde_json::from_str(&one).unwrap();
        assert_eq!(v["requests"], 30_000, "{policy}");
        assert!(v["misses"].as_u64().unwrap() > 1_000, "{policy}: {one}");
        assert_eq!(run("2"), one, "{policy}: two threads");
        assert_eq!(run("0"), one, "{policy}: the default");
    }
}

#[test]
fn a_bad_row_deep_in_the_trace_is_the_same_error_on_two_threads() {
    // The bad row sits in the fifth batch: four were handed over before the parser stopped.
    let mut text = skewed(20_000);
    text.push_str("20000,7,-3\n");
    text.push_str(&skewed(100)["timestamp,key,size\n".len()..]);
    let trace = scratch("deep-bad.csv", &text);
    let t = trace.to_str().unwrap();
    let run = |threads: &str| replay(t, "lru", "100", &["--threads", threads]);
    let one = run("1");
    assert_eq!(one.status.code(), Some(2));
    assert!(
        stderr(&one).contains("deep-bad.csv:20002:9: bad size `-3`"),
        "{}",
        stderr(&one)
    );
    let two = run("2");
    assert_eq!(two.status.code(), Some(2));
    assert!(two.stdout.is_empty(), "nothing printed on error");
    assert_eq!(stderr(&two), stderr(&one));
    let out = run("3");
    assert_eq!(out.status.code(), Some(2), "at most two threads");
}
