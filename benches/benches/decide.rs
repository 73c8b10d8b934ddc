//! `Engine::decide` on `policies/aybiza.toml` over a realistic request mix, with and without
//! the routing section, and with 1,000 firewall rules (indexed literals, and the same rules
//! written so the index cannot use them, as the naive baseline).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "bench"
)]

use std::fmt::Write as _;
use std::hint::black_box;
use std::net::IpAddr;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use edgeroute::{Engine, Policy, RequestView, Timestamp};
use edgeroute::{FieldId, Value};

const AYBIZA: &str = include_str!("../../policies/aybiza.toml");
/// The design's policy text (for helpers that reuse this file).
pub const AYBIZA_TEXT: &str = AYBIZA;
const CF: &str = "198.41.128.5";

type Headers = Vec<(&'static [u8], &'static [u8])>;

/// One request of the mix: method, host, path and query, headers, extra Rules fields.
type MixRequest = (
    &'static [u8],
    &'static [u8],
    &'static [u8],
    Headers,
    Vec<(FieldId, Value<'static>)>,
);

/// A request mix.
pub struct Mix {
    reqs: Vec<MixRequest>,
}

/// A realistic mix: static assets, API reads of each content class, API writes, websockets,
/// a preflight, a threat-score challenge and a scanner probe; clients from several countries,
/// IPv4 and IPv6, so no single client hits the rate limit.
fn mix(policy: &Policy) -> Mix {
    let ts = policy.scheme().field("cf.threat_score").unwrap();
    let bot = policy
        .scheme()
        .field("cf.bot_management.verified_bot")
        .unwrap();
    let h = |ip: &'static str, cc: &'static str, region: &'static str| -> Headers {
        vec![
            (b"cf-connecting-ip", ip.as_bytes()),
            (b"cf-ipcountry", cc.as_bytes()),
            (b"cf-region-code", region.as_bytes()),
            (b"cf-ray", b"8a1b2c3d4e5f6789-FRA"),
            (b"user-agent", b"Mozilla/5.0 (X11; Linux x86_64)"),
            (b"accept", b"*/*"),
        ]
    };
    let mut pre = h("81.2.69.170", "US", "NY");
    pre.push((b"origin", b"https://app.aybiza.com"));
    pre.push((b"access-control-request-method", b"POST"));
    let reqs = vec![
        (
            &b"GET"[..],
            &b"api.aybiza.com"[..],
            &b"/static/app.js?v=42"[..],
            h("81.2.69.160", "DE", "HE"),
            vec![],
        ),
        (
            b"GET",
            b"api.aybiza.com",
            b"/static/css/site.css",
            h("2001:db8::7", "US", "CA"),
            vec![],
        ),
        (
            b"GET",
            b"api.aybiza.com",
            b"/api/v1/sessions/91c2",
            h("81.2.69.161", "GB", "ENG"),
            vec![(ts, Value::Int(5))],
        ),
        (
            b"GET",
            b"api.aybiza.com",
            b"/api/v1/profiles/7",
            h("81.2.69.162", "JP", "13"),
            vec![(ts, Value::Int(1))],
        ),
        (
            b"POST",
            b"api.aybiza.com",
            b"/api/v1/calls",
            h("81.2.69.163", "US", "TX"),
            vec![(bot, Value::Bool(false)), (ts, Value::Int(3))],
        ),
        (
            b"GET",
            b"api.aybiza.com",
            b"/api/v1/agents?page=2",
            h("81.2.69.164", "BR", "SP"),
            vec![],
        ),
        (
            b"GET",
            b"voice.aybiza.com",
            b"/stream/abc",
            h("81.2.69.165", "FR", "IDF"),
            vec![],
        ),
        (
            b"GET",
            b"ws.aybiza.com",
            b"/events",
            h("2001:db8::9", "IN", "MH"),
            vec![],
        ),
        (
            b"GET",
            b"api.aybiza.com",
            b"/api/v1/search?q=x",
            h("81.2.69.166", "AU", "NSW"),
            vec![],
        ),
        (b"OPTIONS", b"api.aybiza.com", b"/api/v1/calls", pre, vec![]),
        (
            b"GET",
            b"api.aybiza.com",
            b"/",
            h("81.2.69.167", "CN", "BJ"),
            vec![(ts, Value::Int(80))],
        ),
        (
            b"GET",
            b"api.aybiza.com",
            b"/.env",
            h("81.2.69.168", "RU", "MOW"),
            vec![],
        ),
    ];
    Mix { reqs }
}

/// The mix as request views.
pub fn views(mix: &Mix) -> Vec<RequestView<'_>> {
    let peer: IpAddr = CF.parse().unwrap();
    mix.reqs
        .iter()
        .map(|(m, host, path, headers, fields)| RequestView {
            method: m,
            host: Some(host),
            path_and_query: path,
            headers,
            fields,
            ..RequestView::new(peer)
        })
        .collect()
}

/// The mix for a policy.
pub fn mix_for(policy: &Policy) -> Mix {
    mix(policy)
}

fn run_mix(c: &mut Criterion, name: &str, engine: &Engine, mix: &Mix) {
    let views = views(mix);
    let mut group = c.benchmark_group("decide");
    group.throughput(Throughput::Elements(views.len() as u64));
    let mut t = 0u64;
    group.bench_function(name, |b| {
        b.iter(|| {
            // 1.1 s of virtual time per pass: each client sends about 55 requests a minute, under
            // both the `rate(1m) > 60` challenge and the 100-a-minute limit, so every request
            // runs the whole pipeline (as most real traffic does) instead of stopping at a
            // rate-limit or challenge answer.
            t += 1;
            for v in &views {
                let _ = black_box(engine.decide(black_box(v), Timestamp::from_millis(t * 1100)));
            }
        });
    });
    group.finish();
}

fn aybiza(c: &mut Criterion) {
    let (policy, _) = Policy::from_toml_str(AYBIZA, "aybiza.toml", None).unwrap();
    let m = mix(&policy);
    let engine = Engine::new(policy);
    run_mix(c, "aybiza_mix", &engine, &m);

    // The same policy without its [routing] section (it is the file's last part).
    let cut = AYBIZA.find("\n[routing]").unwrap_or(AYBIZA.len());
    let (plain, _) = Policy::from_toml_str(&AYBIZA[..cut], "aybiza-no-routing.toml", None).unwrap();
    assert!(plain.routing().is_none());
    let m = mix(&plain);
    let engine = Engine::new(plain);
    run_mix(c, "aybiza_mix_without_routing", &engine, &m);
}

/// 1,000 firewall rules: a third compare the host, a third the path, a third the client IP,
/// each against a literal (the index serves them); plus a few unindexable ones.
fn thousand_rules(indexable: bool) -> String {
    let mut s = String::from(
        "[policy]\nname = \"thousand\"\n[services.api]\nhosts = [\"api.example.com\"]\n",
    );
    for i in 0..1000u32 {
        let cond = match i % 3 {
            0 => format!(
                "http.host eq \"h{i}.example.com\" and http.request.uri.path contains \"/admin\""
            ),
            1 => format!("http.request.uri.path eq \"/p/{i}\" and http.request.method eq \"POST\""),
            _ => format!(
                "ip.src eq 10.{}.{}.{} and not ssl",
                i / 65536,
                (i / 256) % 256,
                i % 256
            ),
        };
        let expr = if indexable {
            cond
        } else {
            format!("({cond}) or ({cond})")
        };
        let _ = write!(
            s,
            "[[firewall.rules]]\nid = \"r{i}\"\nexpression = '{expr}'\naction = \"block\"\n"
        );
    }
    for i in 0..5 {
        let _ = write!(
            s,
            "[[firewall.rules]]\nid = \"score{i}\"\nexpression = 'cf.threat_score gt {}'\naction = \"log\"\n",
            90 + i
        );
    }
    s
}

fn firewall_1000(c: &mut Criterion) {
    let peer: IpAddr = CF.parse().unwrap();
    let headers: Vec<(&[u8], &[u8])> = vec![
        (b"cf-connecting-ip", b"81.2.69.160"),
        (b"user-agent", b"curl/8"),
    ];
    let hit_headers: Vec<(&[u8], &[u8])> = vec![(b"cf-connecting-ip", b"10.0.3.20")];
    for (indexable, name) in [
        (true, "firewall_1000_rules_indexed"),
        (false, "firewall_1000_rules_unindexed"),
    ] {
        let text = thousand_rules(indexable);
        let (policy, _) = Policy::from_toml_str(&text, "thousand.toml", None).unwrap();
        let engine = Engine::new(policy);
        let miss = RequestView {
            host: Some(b"api.example.com"),
            path_and_query: b"/p/7",
            headers: &headers,
            ..RequestView::new(peer)
        };
        let hit = RequestView {
            host: Some(b"api.example.com"),
            path_and_query: b"/anything",
            scheme: edgeroute::HttpScheme::Http,
            headers: &hit_headers,
            ..RequestView::new(peer)
        };
        assert_eq!(
            engine.decide(&hit, Timestamp::ZERO).action,
            edgeroute::Action::Block
        );
        assert_eq!(
            engine.decide(&miss, Timestamp::ZERO).action,
            edgeroute::Action::Allow
        );
        let mut group = c.benchmark_group("decide");
        group.throughput(Throughput::Elements(2));
        group.bench_function(name, |b| {
            b.iter(|| {
                let _ = black_box(engine.decide(black_box(&miss), Timestamp::ZERO));
                let _ = black_box(engine.decide(black_box(&hit), Timestamp::ZERO));
            });
        });
        group.finish();
    }
}

criterion_group!(benches, aybiza, firewall_1000);
criterion_main!(benches);
