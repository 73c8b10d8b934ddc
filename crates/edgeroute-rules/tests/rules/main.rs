//! Integration tests of edgeroute-rules: the conformance corpus, properties, allocation,
//! hostile input and the fuzz seeds. One binary for the crate.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

mod alloc;
mod bad_input;
mod corpus;
mod errors;
mod fuzz_seeds;
mod props;

use edgeroute_rules::{List, Scheme};

/// The scheme every test uses: the Cloudflare fields plus three lists.
pub(crate) fn scheme() -> Scheme {
    let mut s = Scheme::cloudflare();
    s.add_list(
        "blocked",
        List::Ip(vec![
            "10.0.0.0/8".parse().unwrap(),
            "2001:db8::/32".parse().unwrap(),
        ]),
    )
    .unwrap();
    s.add_list(
        "hosts",
        List::Bytes(vec![b"example.com".to_vec(), b"example.net".to_vec()]),
    )
    .unwrap();
    s.add_list("asns", List::Int(vec![13335, 16509])).unwrap();
    s
}

#[test]
fn compiled_filters_and_schemes_are_send_sync_static() {
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    assert_send_sync::<edgeroute_rules::Filter>();
    assert_send_sync::<Scheme>();
    assert_send_sync::<edgeroute_rules::Expr>();
    assert_send_sync::<edgeroute_rules::ParseErrors>();
}

#[test]
fn canonical_printing_normalizes_notation() {
    let s = scheme();
    let cases = [
        (
            r#"http.host == "a" && !ssl || tcp.dstport >= 8 ^^ ip.src != ::1"#,
            r#"http.host eq "a" and not ssl or tcp.dstport ge 8 xor ip.src ne ::1"#,
        ),
        (
            r#"http.request.uri.path ~ r"a\.b""#,
            r#"http.request.uri.path matches "a\\.b""#,
        ),
        (
            "tcp.dstport in { 1  2..3 0x10 }",
            "tcp.dstport in {1 2..3 16}",
        ),
        ("(rate(60s) > 1)", "(rate(1m) gt 1)"),
        (
            r#"any(lower(http.request.headers.names[*])[*] contains "x")"#,
            r#"any(lower(http.request.headers.names[*])[*] contains "x")"#,
        ),
    ];
    for (input, canonical) in cases {
        assert_eq!(s.parse(input).unwrap().to_string(), canonical);
    }
}

#[test]
fn fields_and_rate_periods_are_reported_once() {
    let s = scheme();
    let e = s.parse(r#"ssl and http.host eq "a" and (ssl or rate(1m) > 1 or rate(60s) > 2 or rate(10s) > 3)"#).unwrap();
    let names: Vec<&str> = e.fields().map(|f| s.field_name(f)).collect();
    assert_eq!(names, ["ssl", "http.host"]);
    assert_eq!(e.rate_periods().collect::<Vec<_>>(), [60, 10]);
}
