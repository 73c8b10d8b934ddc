//! edgeroute-rules side by side with wirefilter-engine 0.6.1: parse, compile, execute.
//!
//! Run: `cargo bench -p edgeroute-benches --bench rules -- --warm-up-time 1 --measurement-time 3`
//!
//! wirefilter 0.6.1 has no functions, so `rate(1m)` is given to it as a plain Integer field
//! `rate_1m` (the closest thing it supports); every other expression is the same text.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "bench"
)]

use std::hint::black_box;
use std::net::IpAddr;

use criterion::{Criterion, criterion_group, criterion_main};
use edgeroute_rules::{Context, OwnedValue, Scheme};

const CF_RANGES: &str = "173.245.48.0/20 103.21.244.0/22 103.22.200.0/22 103.31.4.0/22 141.101.64.0/18 \
108.162.192.0/18 190.93.240.0/20 188.114.96.0/20 197.234.240.0/22 198.41.128.0/17 162.158.0.0/15 \
104.16.0.0/13 104.24.0.0/14 172.64.0.0/13 131.0.72.0/22 2400:cb00::/32 2606:4700::/32 2803:f800::/32 \
2405:b500::/32 2405:8100::/32 2a06:98c0::/29";

const UA: &str = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";

struct Case {
    name: &'static str,
    ours: String,
    theirs: String,
}

fn cases() -> Vec<Case> {
    let same = |name, text: String| Case {
        name,
        ours: text.clone(),
        theirs: text,
    };
    vec![
        same("ip_eq", "ip.src == 172.68.1.1".to_owned()),
        same("ip_in_21_cidrs", format!("ip.src in {{{CF_RANGES}}}")),
        same("contains", r#"http.user_agent contains "Googlebot""#.to_owned()),
        same(
            "waf_api_calls",
            r#"(http.request.uri.path contains "/api/v1/calls" and not cf.bot_management.verified_bot)"#.to_owned(),
        ),
        Case { name: "waf_rate", ours: "(rate(1m) > 60)".to_owned(), theirs: "(rate_1m > 60)".to_owned() },
        same("waf_threat_score", "(cf.threat_score gt 50)".to_owned()),
        same("regex_case_insensitive", r#"http.user_agent matches "(?i)googlebot""#.to_owned()),
    ]
}

fn our_context(scheme: &Scheme) -> Context {
    let mut ctx = Context::new(scheme);
    ctx.set_by_name("ip.src", OwnedValue::Ip("172.68.1.1".parse().unwrap()))
        .unwrap();
    ctx.set_by_name("http.user_agent", OwnedValue::Bytes(UA.as_bytes().to_vec()))
        .unwrap();
    ctx.set_by_name(
        "http.request.uri.path",
        OwnedValue::Bytes(b"/api/v1/calls/8d3f/transcript".to_vec()),
    )
    .unwrap();
    ctx.set_by_name("cf.bot_management.verified_bot", OwnedValue::Bool(false))
        .unwrap();
    ctx.set_by_name("cf.threat_score", OwnedValue::Int(70))
        .unwrap();
    ctx.set_rate(60, 61);
    ctx
}

fn wf_scheme() -> wirefilter::Scheme {
    let mut s = wirefilter::Scheme::default();
    s.add_field("ip.src".to_owned(), wirefilter::Type::Ip)
        .unwrap();
    s.add_field("http.user_agent".to_owned(), wirefilter::Type::Bytes)
        .unwrap();
    s.add_field("http.request.uri.path".to_owned(), wirefilter::Type::Bytes)
        .unwrap();
    s.add_field(
        "cf.bot_management.verified_bot".to_owned(),
        wirefilter::Type::Bool,
    )
    .unwrap();
    s.add_field("cf.threat_score".to_owned(), wirefilter::Type::Int)
        .unwrap();
    s.add_field("rate_1m".to_owned(), wirefilter::Type::Int)
        .unwrap();
    s
}

fn wf_context(scheme: &wirefilter::Scheme) -> wirefilter::ExecutionContext<'_> {
    let mut ctx = wirefilter::ExecutionContext::new(scheme);
    ctx.set_field_value("ip.src", "172.68.1.1".parse::<IpAddr>().unwrap())
        .unwrap();
    ctx.set_field_value("http.user_agent", UA).unwrap();
    ctx.set_field_value("http.request.uri.path", "/api/v1/calls/8d3f/transcript")
        .unwrap();
    ctx.set_field_value("cf.bot_management.verified_bot", false)
        .unwrap();
    ctx.set_field_value("cf.threat_score", 70i32).unwrap();
    ctx.set_field_value("rate_1m", 61i32).unwrap();
    ctx
}

/// A 4 KB expression of realistic terms, to bound compile time on the longest input allowed.
fn four_kb() -> String {
    let mut text = String::new();
    let mut i = 0;
    loop {
        let term = format!(
            "(http.request.uri.path contains \"/p{i}/\" and ip.src in {{10.{}.0.0/16 192.0.2.{}}} and not cf.bot_management.verified_bot)",
            i % 256,
            i % 256
        );
        if text.len() + term.len() + 4 > 4096 {
            break;
        }
        if !text.is_empty() {
            text.push_str(" or ");
        }
        text.push_str(&term);
        i += 1;
    }
    text
}

fn parse(c: &mut Criterion) {
    let ours = Scheme::cloudflare();
    let theirs = wf_scheme();
    let mut g = c.benchmark_group("parse");
    for case in cases() {
        g.bench_function(format!("edgeroute/{}", case.name), |b| {
            b.iter(|| ours.parse(black_box(&case.ours)).unwrap())
        });
        g.bench_function(format!("wirefilter-0.6.1/{}", case.name), |b| {
            b.iter(|| theirs.parse(black_box(&case.theirs)).unwrap())
        });
    }
    let big = four_kb();
    g.bench_function("edgeroute/4kb", |b| {
        b.iter(|| ours.parse(black_box(&big)).unwrap())
    });
    g.finish();
}

fn compile(c: &mut Criterion) {
    let ours = Scheme::cloudflare();
    let theirs = wf_scheme();
    let mut g = c.benchmark_group("compile");
    for case in cases() {
        let expr = ours.parse(&case.ours).unwrap();
        g.bench_function(format!("edgeroute/{}", case.name), |b| {
            b.iter(|| black_box(&expr).compile())
        });
        g.bench_function(format!("wirefilter-0.6.1/{}", case.name), |b| {
            // 0.6.1's compile consumes the AST, so parsing is included; the parse group
            // gives its share.
            b.iter(|| theirs.parse(black_box(&case.theirs)).unwrap().compile())
        });
    }
    let big = four_kb();
    g.bench_function("edgeroute/4kb_parse_and_compile", |b| {
        b.iter(|| ours.compile(black_box(&big)).unwrap())
    });
    g.finish();
}

fn execute(c: &mut Criterion) {
    let ours = Scheme::cloudflare();
    let our_ctx = our_context(&ours);
    let theirs = wf_scheme();
    let their_ctx = wf_context(&theirs);
    let mut g = c.benchmark_group("execute");
    for case in cases() {
        let filter = ours.compile(&case.ours).unwrap();
        let their_filter = theirs.parse(&case.theirs).unwrap().compile();
        assert_eq!(
            filter.execute(&our_ctx),
            their_filter.execute(&their_ctx).unwrap(),
            "{}",
            case.name
        );
        assert!(
            filter.execute(&our_ctx),
            "{} should match the bench request",
            case.name
        );
        g.bench_function(format!("edgeroute/{}", case.name), |b| {
            b.iter(|| filter.execute(black_box(&our_ctx)))
        });
        g.bench_function(format!("wirefilter-0.6.1/{}", case.name), |b| {
            b.iter(|| their_filter.execute(black_box(&their_ctx)).unwrap())
        });
    }
    g.finish();
}

criterion_group!(benches, parse, compile, execute);
criterion_main!(benches);
