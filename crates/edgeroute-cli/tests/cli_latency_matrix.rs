//! `edgeroute latency-matrix`: output format, golden output, bad points files.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "tests"
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use edgeroute_geo::{aws_region, aws_regions, colo, countries, fibre_rtt_ms, great_circle_km};

fn edgeroute(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_edgeroute"))
        .args(args)
        .output()
        .expect("run edgeroute")
}

/// A scratch file unique to this test process.
fn scratch(name: &str, content: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("edgeroute-latency-matrix-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path
}

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

/// One output row: name, region or edge, rtt_ms.
type Row = (String, String, f64);

/// The two sections, each as rows after checking its header.
fn sections(stdout: &str) -> (Vec<Row>, Vec<Row>) {
    let (first, second) = stdout.split_once("\n\n").expect("two sections");
    let parse = |text: &str, header: &str| {
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some(header));
        lines
            .map(|l| {
                let f: Vec<&str> = l.split(',').collect();
                assert_eq!(f.len(), 3, "{l}");
                (
                    f[0].to_owned(),
                    f[1].to_owned(),
                    f[2].parse::<f64>().unwrap(),
                )
            })
            .collect::<Vec<_>>()
    };
    (
        parse(first, "name,region,rtt_ms"),
        parse(second, "name,edge,rtt_ms"),
    )
}

#[test]
fn default_points_are_every_country() {
    let out = edgeroute(&["latency-matrix"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let (regions, edges) = sections(&stdout);
    assert_eq!(regions.len(), countries().len() * aws_regions().len());
    assert_eq!(edges.len(), countries().len());
    for ((name, region, rtt), i) in regions.iter().zip(0..) {
        let country = &countries()[i / aws_regions().len()];
        assert_eq!(name, country.iso2);
        assert_eq!(region, aws_regions()[i % aws_regions().len()].code);
        // Never below the fibre floor (allow for rounding to one decimal).
        let km = great_circle_km(country.population_point, aws_region(region).unwrap().point);
        assert!(*rtt + 0.05 >= fibre_rtt_ms(km), "{name} -> {region}: {rtt}");
    }
    for (name, edge, rtt) in &edges {
        assert!(colo(edge).is_some(), "{name}: unknown edge {edge}");
        assert!(
            *rtt >= 10.0,
            "{name}: includes the 10 ms access median: {rtt}"
        );
    }
    let de = edges.iter().find(|(n, _, _)| n == "DE").unwrap();
    assert_eq!(de.1, "FRA");
}

#[test]
fn golden_output_for_a_points_file() {
    let points = golden_dir().join("latency_matrix_points.csv");
    let out = edgeroute(&["latency-matrix", "--points", points.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let golden = golden_dir().join("latency_matrix.csv");
    if std::env::var_os("EDGEROUTE_BLESS").is_some() {
        std::fs::write(&golden, &stdout).unwrap();
    }
    let want = std::fs::read_to_string(&golden).unwrap();
    assert_eq!(
        stdout, want,
        "output changed; rerun with EDGEROUTE_BLESS=1 if intended"
    );
}

#[test]
fn points_from_standard_input() {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_edgeroute"))
        .args(["latency-matrix", "--points", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"name,lat,lon\ntokyo,35.68,139.69\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let (regions, edges) = sections(&String::from_utf8(out.stdout).unwrap());
    assert_eq!(regions.len(), aws_regions().len());
    assert_eq!(edges.len(), 1);
    assert_eq!(edges[0].1, "NRT");
    let tokyo = regions.iter().find(|r| r.1 == "ap-northeast-1").unwrap();
    assert!(tokyo.2 < 20.0, "{tokyo:?}");
}

#[test]
fn bad_points_caret_counts_characters() {
    let path = scratch("wide.csv", "name,lat,lon\r\n\u{fc}\u{df},91,0\r\n");
    let out = edgeroute(&["latency-matrix", "--points", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("wide.csv:2:4: latitude `91`"),
        "column in characters: {stderr}"
    );
    assert!(
        stderr.contains("2 | \u{fc}\u{df},91,0\n  |    ^^\n"),
        "line without its CR, caret under `91`: {stderr}"
    );
}

#[test]
fn bad_points_file_names_the_line_and_prints_nothing() {
    let cases = [
        (
            "name,lat,lon\nberlin,52.52,13.405\nbad,95,0\n",
            ":3:5",
            "latitude `95`",
        ),
        ("name,lat,lon\nx,1\n", ":2:4", "expected 3 fields"),
        ("lat,lon\n1,2\n", ":1:1", "expected the header"),
        ("name,lat,lon\nx,1,2\nx,3,4\n", ":3:1", "used twice"),
    ];
    for (i, (text, position, message)) in cases.into_iter().enumerate() {
        let path = scratch(&format!("bad{i}.csv"), text);
        let out = edgeroute(&["latency-matrix", "--points", path.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{text}");
        assert!(out.stdout.is_empty(), "{text}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let want = format!("bad{i}.csv{position}");
        assert!(stderr.contains(&want), "{text}: want {want} in {stderr}");
        assert!(
            stderr.contains(message),
            "{text}: want {message} in {stderr}"
        );
    }
}

#[test]
fn missing_points_file_is_an_error() {
    let out = edgeroute(&["latency-matrix", "--points", "/nonexistent/points.csv"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("/nonexistent/points.csv"), "{stderr}");
}

#[test]
fn help_documents_the_format() {
    let out = edgeroute(&["latency-matrix", "--help"]);
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for needle in [
        "name,region,rtt_ms",
        "name,edge,rtt_ms",
        "name,lat,lon",
        "--points",
    ] {
        assert!(help.contains(needle), "--help lacks {needle}");
    }
}
