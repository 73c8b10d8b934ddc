//! Integration tests: `policies/aybiza.toml` and the design's behaviours, one by one.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "tests"
)]

use std::net::IpAddr;

use edgeroute::{Action, Engine, Policy, RequestView, Timestamp};
// Rules fields through the re-export a gateway uses (no dependency on edgeroute-rules).
use edgeroute::{FieldId, Value};

const AYBIZA: &str = include_str!("../../../policies/aybiza.toml");
const CF_PEER: &str = "198.41.128.5";

fn policy(env: Option<&str>) -> Policy {
    match Policy::from_toml_str(AYBIZA, "policies/aybiza.toml", env) {
        Ok((p, warnings)) => {
            assert!(warnings.is_empty(), "unexpected warnings: {warnings:#?}");
            p
        }
        Err(e) => panic!("{e}"),
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

struct Req {
    peer: IpAddr,
    method: &'static str,
    host: &'static str,
    path: String,
    headers: Vec<(String, String)>,
}

impl Req {
    fn get(host: &'static str, path: &str) -> Self {
        Req {
            peer: ip(CF_PEER),
            method: "GET",
            host,
            path: path.to_owned(),
            headers: Vec::new(),
        }
    }
    fn client(mut self, client: &str) -> Self {
        self.headers
            .push(("cf-connecting-ip".into(), client.into()));
        self
    }
    fn header(mut self, n: &str, v: &str) -> Self {
        self.headers.push((n.into(), v.into()));
        self
    }
    fn peer(mut self, p: &str) -> Self {
        self.peer = ip(p);
        self
    }
    fn method(mut self, m: &'static str) -> Self {
        self.method = m;
        self
    }
    fn run(
        &self,
        engine: &Engine,
        at: f64,
        fields: &[(FieldId, Value<'_>)],
    ) -> edgeroute::Decision {
        let headers: Vec<(&[u8], &[u8])> = self
            .headers
            .iter()
            .map(|(n, v)| (n.as_bytes(), v.as_bytes()))
            .collect();
        let req = RequestView {
            method: self.method.as_bytes(),
            host: Some(self.host.as_bytes()),
            path_and_query: self.path.as_bytes(),
            headers: &headers,
            fields,
            ..RequestView::new(self.peer)
        };
        engine.decide(&req, Timestamp::from_secs_f64(at))
    }
}

#[test]
fn aybiza_loads_in_every_environment_without_warnings() {
    for env in [
        None,
        Some("production"),
        Some("staging"),
        Some("development"),
    ] {
        let p = policy(env);
        assert_eq!(p.name(), "aybiza");
    }
    let err = Policy::from_toml_str(AYBIZA, "aybiza.toml", Some("qa")).unwrap_err();
    assert!(
        err.to_string().contains("unknown environment `qa`"),
        "{err}"
    );
}

#[test]
fn spoofed_cf_connecting_ip_from_an_untrusted_peer_is_ignored() {
    let engine = Engine::new(policy(None));
    let d = Req::get("api.aybiza.com", "/")
        .peer("81.2.69.160")
        .client("1.2.3.4")
        .header("cf-ipcountry", "US")
        .run(&engine, 1.0, &[]);
    assert_eq!(d.client_ip, ip("81.2.69.160"));
    assert_eq!(
        d.country, None,
        "country header from an untrusted peer is ignored"
    );
    let d = Req::get("api.aybiza.com", "/")
        .client("1.2.3.4")
        .run(&engine, 1.0, &[]);
    assert_eq!(d.client_ip, ip("1.2.3.4"));
}

#[test]
fn ipv6_peers_from_cloudflare_ranges_are_trusted() {
    let engine = Engine::new(policy(None));
    for peer in [
        "2400:cb00::1",
        "2606:4700:10::6816:1",
        "2a06:98c0::5",
        "::ffff:104.16.0.9",
    ] {
        let d = Req::get("api.aybiza.com", "/")
            .peer(peer)
            .client("81.2.69.160")
            .header("cf-ipcountry", "DE")
            .run(&engine, 1.0, &[]);
        assert_eq!(d.client_ip, ip("81.2.69.160"), "peer {peer}");
        assert_eq!(d.country.unwrap().as_str(), "DE");
    }
}

#[test]
fn the_101st_request_in_a_minute_from_one_ip_is_refused_and_another_ip_is_not() {
    let engine = Engine::new(policy(None));
    for i in 0..100 {
        let d = Req::get("api.aybiza.com", "/api/v1/agents")
            .client("81.2.69.160")
            .run(&engine, 1.0 + f64::from(i) * 0.1, &[]);
        assert_eq!(d.action, Action::Allow, "request {}", i + 1);
    }
    let d = Req::get("api.aybiza.com", "/api/v1/agents")
        .client("81.2.69.160")
        .run(&engine, 20.0, &[]);
    assert_eq!(d.action, Action::Block);
    assert_eq!(d.status, Some(429));
    assert!(d.retry_after_s.unwrap() >= 1);
    assert!(d.matched_rules().any(|r| r == "edge-worker-rate-limit"));
    assert!(
        d.matched_rules().any(|r| r == "waf-rate-60-per-minute"),
        "the WAF rate rule logs above 60"
    );
    assert!(d.response_headers().any(|(n, _)| n == "retry-after"));
    let other = Req::get("api.aybiza.com", "/api/v1/agents")
        .client("81.2.69.161")
        .run(&engine, 20.0, &[]);
    assert_eq!(other.action, Action::Allow);
}

#[test]
fn static_assets_get_aggressive_caching_30_days_edge_1_day_browser() {
    let engine = Engine::new(policy(None));
    let d = Req::get("api.aybiza.com", "/static/app.js")
        .client("81.2.69.160")
        .run(&engine, 1.0, &[]);
    assert_eq!(d.action, Action::Allow);
    assert_eq!(d.cache.level.as_str(), "aggressive");
    assert_eq!(d.cache.edge_ttl_s, Some(30 * 86_400));
    assert_eq!(d.cache.browser_ttl_s, Some(86_400));
}

#[test]
fn api_v1_and_voice_bypass_the_cache() {
    let engine = Engine::new(policy(None));
    let d = Req::get("api.aybiza.com", "/api/v1/calls/42")
        .client("81.2.69.160")
        .run(&engine, 1.0, &[]);
    assert_eq!(d.cache.level.as_str(), "bypass");
    let d = Req::get("voice.aybiza.com", "/stream")
        .client("81.2.69.160")
        .run(&engine, 1.0, &[]);
    assert_eq!(d.cache.level.as_str(), "bypass");
    assert_eq!(d.service(), Some("voice"));
}

#[test]
fn content_classes_pick_the_tier_and_ttl() {
    let engine = Engine::new(policy(None));
    let cases = [
        ("/api/v1/sessions/7", "sessions", 86_400, "regional"),
        ("/api/v1/profiles/7", "profiles", 3_600, "regional"),
        ("/api/v1/agents", "api", 300, "regional"),
        ("/api/v1/search?q=x", "query", 60, "query"),
    ];
    for (path, class, ttl, tier) in cases {
        let d = Req::get("api.aybiza.com", path)
            .client("81.2.69.160")
            .run(&engine, 1.0, &[]);
        assert_eq!(d.cache_class().map(|c| c.name()), Some(class), "{path}");
        assert_eq!(d.cache.tier_ttl_s, Some(ttl), "{path}");
        assert_eq!(d.cache.tier.as_str(), tier, "{path}");
        assert_eq!(
            d.cache.level.as_str(),
            "bypass",
            "{path}: the edge still bypasses"
        );
    }
}

#[test]
fn threat_score_above_50_is_challenged() {
    let p = policy(None);
    let ts = p.scheme().field("cf.threat_score").unwrap();
    let engine = Engine::new(p);
    let d = Req::get("api.aybiza.com", "/").client("81.2.69.160").run(
        &engine,
        1.0,
        &[(ts, Value::Int(51))],
    );
    assert_eq!(d.action, Action::Challenge);
    assert_eq!(d.status, Some(403));
    assert_eq!(
        d.matched_rules().collect::<Vec<_>>(),
        vec!["waf-threat-score"]
    );
    let d = Req::get("api.aybiza.com", "/").client("81.2.69.160").run(
        &engine,
        1.0,
        &[(ts, Value::Int(50))],
    );
    assert_eq!(d.action, Action::Allow);
}

#[test]
fn options_gets_the_cors_answer() {
    let engine = Engine::new(policy(None));
    let d = Req::get("api.aybiza.com", "/api/v1/calls")
        .method("OPTIONS")
        .client("81.2.69.160")
        .header("Origin", "https://app.aybiza.com")
        .header("Access-Control-Request-Method", "POST")
        .run(&engine, 1.0, &[]);
    assert_eq!(d.action, Action::Preflight);
    assert_eq!(d.status, Some(204));
    let h: Vec<(String, String)> = d
        .response_headers()
        .map(|(n, v)| (n.to_owned(), v.to_string()))
        .collect();
    let get = |n: &str| h.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
    assert_eq!(
        get("access-control-allow-origin"),
        Some("https://app.aybiza.com")
    );
    assert_eq!(
        get("access-control-allow-methods"),
        Some("GET, POST, PUT, PATCH, DELETE, OPTIONS")
    );
    assert_eq!(get("access-control-max-age"), Some("86400"));
    assert_eq!(d.request_headers().count(), 0, "nothing is forwarded");
}

#[test]
fn forwarded_responses_carry_the_security_headers_and_geo_headers() {
    let engine = Engine::new(policy(None));
    let d = Req::get("api.aybiza.com", "/api/v1/agents")
        .client("81.2.69.160")
        .header("cf-ipcountry", "GB")
        .run(&engine, 1.0, &[]);
    assert_eq!(d.action, Action::Allow);
    let resp: Vec<(String, String)> = d
        .response_headers()
        .map(|(n, v)| (n.to_owned(), v.to_string()))
        .collect();
    for (n, v) in [
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        (
            "strict-transport-security",
            "max-age=31536000; includeSubDomains",
        ),
    ] {
        assert!(
            resp.contains(&(n.to_owned(), v.to_owned())),
            "{n} missing from {resp:?}"
        );
    }
    let req: Vec<(String, String)> = d
        .request_headers()
        .map(|(n, v)| (n.to_owned(), v.to_string()))
        .collect();
    assert!(
        req.contains(&("x-cf-country".to_owned(), "GB".to_owned())),
        "{req:?}"
    );
    assert!(
        req.iter().any(|(n, v)| n == "x-cf-region" && !v.is_empty()),
        "{req:?}"
    );
}

#[test]
fn scanner_paths_are_blocked_with_the_policy_body() {
    let engine = Engine::new(policy(None));
    let d = Req::get("api.aybiza.com", "/.env")
        .client("81.2.69.160")
        .run(&engine, 1.0, &[]);
    assert_eq!(d.action, Action::Block);
    assert_eq!(d.status, Some(403));
    assert_eq!(d.body(), Some(("text/plain", "forbidden")));
}

#[test]
fn staging_hosts_follow_the_page_rules() {
    let engine = Engine::new(policy(Some("staging")));
    let d = Req::get("api.staging.aybiza.com", "/static/app.js")
        .client("81.2.69.160")
        .run(&engine, 1.0, &[]);
    assert_eq!(d.cache.level.as_str(), "aggressive");
    assert_eq!(d.service(), Some("api"));
    let d = Req::get("api.aybiza.com", "/static/app.js")
        .client("81.2.69.160")
        .run(&engine, 1.0, &[]);
    assert_eq!(
        d.service(),
        None,
        "production hosts are not served by staging"
    );
}

#[test]
fn explain_lists_every_rule_considered() {
    let engine = Engine::new(policy(None));
    let headers: Vec<(&[u8], &[u8])> = vec![(b"cf-connecting-ip", b"81.2.69.160")];
    let req = RequestView {
        host: Some(b"api.aybiza.com"),
        path_and_query: b"/static/app.js",
        headers: &headers,
        ..RequestView::new(ip(CF_PEER))
    };
    let ex = engine.explain(&req, Timestamp::from_secs(1));
    assert_eq!(ex.decision.action, Action::Allow);
    let rules: Vec<&str> = ex.steps.iter().filter_map(|s| s.rule.as_deref()).collect();
    for id in [
        "waf-calls-api-bots",
        "waf-rate-60-per-minute",
        "waf-threat-score",
        "waf-scanner-paths",
        "edge-worker-rate-limit",
        "page-rule-static",
    ] {
        assert!(rules.contains(&id), "{id} not in {rules:?}");
    }
    let static_step = ex
        .steps
        .iter()
        .find(|s| s.rule.as_deref() == Some("page-rule-static"))
        .unwrap();
    assert!(static_step.matched);
}

#[test]
fn decide_does_not_allocate_on_the_common_path() {
    let p = policy(None);
    let ts = p.scheme().field("cf.threat_score").unwrap();
    let bot = p.scheme().field("cf.bot_management.verified_bot").unwrap();
    let engine = Engine::new(p);
    let h_client: Vec<(&[u8], &[u8])> = vec![
        (b"cf-connecting-ip", b"81.2.69.160"),
        (b"cf-ipcountry", b"GB"),
        (b"cf-ray", b"8a1b2c3d4e5f6789-LHR"),
        (b"user-agent", b"Mozilla/5.0"),
        (b"accept", b"*/*"),
    ];
    let h_other: Vec<(&[u8], &[u8])> = vec![
        (b"cf-connecting-ip", b"2001:db8::7"),
        (b"cf-ipcountry", b"JP"),
    ];
    let h_pre: Vec<(&[u8], &[u8])> = vec![
        (b"cf-connecting-ip", b"81.2.69.161"),
        (b"origin", b"https://app.aybiza.com"),
        (b"access-control-request-method", b"POST"),
    ];
    let f_threat = [(ts, Value::Int(80))];
    let f_bot = [(bot, Value::Bool(true)), (ts, Value::Int(3))];
    let mk = |method: &'static [u8],
              host: &'static [u8],
              path: &'static [u8],
              headers: &'static [(&'static [u8], &'static [u8])],
              fields: &'static [(FieldId, Value<'static>)]| {
        RequestView {
            method,
            host: Some(host),
            path_and_query: path,
            headers,
            fields,
            ..RequestView::new(ip(CF_PEER))
        }
    };
    let h_client: &'static [(&[u8], &[u8])] = Box::leak(h_client.into_boxed_slice());
    let h_other: &'static [(&[u8], &[u8])] = Box::leak(h_other.into_boxed_slice());
    let h_pre: &'static [(&[u8], &[u8])] = Box::leak(h_pre.into_boxed_slice());
    let f_threat: &'static [_] = Box::leak(Box::new(f_threat));
    let f_bot: &'static [_] = Box::leak(Box::new(f_bot));
    let mix = [
        mk(
            b"GET",
            b"api.aybiza.com",
            b"/static/app.js?v=3",
            h_client,
            &[],
        ),
        mk(
            b"GET",
            b"api.aybiza.com",
            b"/api/v1/sessions/42",
            h_client,
            &[],
        ),
        mk(
            b"POST",
            b"api.aybiza.com",
            b"/api/v1/calls",
            h_client,
            f_bot,
        ),
        mk(b"GET", b"voice.aybiza.com", b"/stream", h_other, &[]),
        mk(b"GET", b"api.aybiza.com", b"/", h_client, f_threat),
        mk(b"GET", b"api.aybiza.com", b"/.env", h_client, &[]),
        mk(b"OPTIONS", b"api.aybiza.com", b"/api/v1/calls", h_pre, &[]),
        mk(b"GET", b"unknown.example", b"/", &[], &[]),
    ];
    let mut buf = Vec::with_capacity(4096);
    // Warm up: lazily built tables and per-thread regex caches.
    for r in &mix {
        let _ = engine.decide(r, Timestamp::from_secs(1));
    }
    let info = allocation_counter::measure(|| {
        for round in 0..200u64 {
            for r in &mix {
                let d = engine.decide(r, Timestamp::from_millis(2_000 + round * 10));
                for (n, v) in d.request_headers().chain(d.response_headers()) {
                    buf.extend_from_slice(n.as_bytes());
                    v.write_to(&mut buf);
                }
                for id in d.matched_rules() {
                    buf.extend_from_slice(id.as_bytes());
                }
                buf.clear();
            }
        }
    });
    assert_eq!(info.count_total, 0, "decide allocated: {info:?}");
    // The counter does count: explain builds its trace on the heap.
    let info = allocation_counter::measure(|| {
        let _ = engine.explain(&mix[0], Timestamp::from_secs(5));
    });
    assert!(info.count_total > 0);
}

/// Each file under `testdata/policies/{bad,warn}` starts with comment lines naming what must be
/// reported: `# error: text`, `# warning: text`, `# key: path`, `# at: line:col`.
fn corpus(dir: &str) -> Vec<(String, String)> {
    let base = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/policies")
        .join(dir);
    let mut files: Vec<_> = std::fs::read_dir(&base)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(!files.is_empty());
    files
        .into_iter()
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect()
}

fn expectations<'a>(text: &'a str, tag: &str) -> Vec<&'a str> {
    text.lines()
        .take_while(|l| l.starts_with('#'))
        .filter_map(|l| l.strip_prefix(&format!("# {tag}: ")))
        .collect()
}

#[test]
fn bad_policies_are_refused_with_clear_located_errors() {
    for (name, text) in corpus("bad") {
        let errors = match Policy::from_toml_str(&text, &name, None) {
            Ok(_) => panic!("{name}: loaded, but should have failed"),
            Err(e) => e,
        };
        let shown = errors.to_string();
        let wanted = expectations(&text, "error");
        assert!(!wanted.is_empty(), "{name}: no `# error:` line");
        for w in &wanted {
            assert!(
                errors.errors().any(|d| d.message().contains(w)),
                "{name}: no error containing `{w}` in:\n{shown}"
            );
        }
        for k in expectations(&text, "key") {
            assert!(
                errors.errors().any(|d| d.key_path() == Some(k)),
                "{name}: no error at key `{k}` in:\n{shown}"
            );
        }
        for at in expectations(&text, "at") {
            let first = errors.first().unwrap();
            assert_eq!(
                format!("{}:{}", first.line(), first.col()),
                at,
                "{name}:\n{shown}"
            );
        }
        // Every error names the file and, when located, shows a caret.
        for d in errors.errors() {
            assert_eq!(d.origin(), name);
            if d.line() > 0 {
                assert!(d.to_string().contains('^'), "{name}: no caret in {d}");
            }
        }
    }
}

#[test]
fn several_bad_expressions_are_reported_at_once() {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata/policies/bad/bad_expressions_reported_together.toml"),
    )
    .unwrap();
    let errors = Policy::from_toml_str(&text, "p.toml", None).unwrap_err();
    assert_eq!(errors.errors().count(), 2, "{errors}");
    let keys: Vec<_> = errors.errors().filter_map(|d| d.key_path()).collect();
    assert_eq!(
        keys,
        vec![
            "firewall.rules[0].expression",
            "firewall.rules[1].expression"
        ]
    );
}

#[test]
fn warnings_for_rules_that_cannot_act() {
    for (name, text) in corpus("warn") {
        let (_, warnings) = match Policy::from_toml_str(&text, &name, None) {
            Ok(x) => x,
            Err(e) => panic!("{name}: {e}"),
        };
        for w in expectations(&text, "warning") {
            assert!(
                warnings
                    .iter()
                    .any(|d| d.message().contains(w) && !d.is_error()),
                "{name}: no warning containing `{w}` in {warnings:#?}"
            );
        }
    }
}

#[test]
fn a_reload_with_a_bad_policy_keeps_the_old_one_serving() {
    let engine = Engine::new(policy(None));
    let before = Req::get("api.aybiza.com", "/static/x.js")
        .client("81.2.69.160")
        .run(&engine, 1.0, &[]);
    let broken = AYBIZA.replace("(cf.threat_score gt 50)", "(cf.threat_score gt \"fifty\")");
    let err = engine
        .reload_from_str(&broken, "aybiza.toml", None)
        .unwrap_err();
    assert!(
        err.to_string().contains("firewall.rules[2].expression"),
        "{err}"
    );
    let after = Req::get("api.aybiza.com", "/static/x.js")
        .client("81.2.69.160")
        .run(&engine, 2.0, &[]);
    assert_eq!(before.cache, after.cache);
    assert_eq!(engine.policy().name(), "aybiza");
}

#[test]
fn counters_survive_a_reload_for_unchanged_rule_ids() {
    let engine = Engine::new(policy(None));
    for i in 0..100 {
        let d = Req::get("api.aybiza.com", "/a").client("81.2.69.160").run(
            &engine,
            1.0 + f64::from(i) * 0.01,
            &[],
        );
        assert_eq!(d.action, Action::Allow);
    }
    engine.reload(policy(None));
    let d = Req::get("api.aybiza.com", "/a")
        .client("81.2.69.160")
        .run(&engine, 3.0, &[]);
    assert_eq!(d.status, Some(429), "the counter carried over");
    // A renamed rule starts afresh.
    let renamed = AYBIZA.replace("edge-worker-rate-limit", "edge-worker-rate-limit-v2");
    let (p, _) = Policy::from_toml_str(&renamed, "aybiza.toml", None).unwrap();
    engine.reload(p);
    let d = Req::get("api.aybiza.com", "/a")
        .client("81.2.69.160")
        .run(&engine, 3.5, &[]);
    assert_eq!(d.action, Action::Allow);
}

#[test]
fn in_flight_decisions_finish_on_their_snapshot() {
    let engine = Engine::new(policy(None));
    let d = Req::get("api.aybiza.com", "/static/x.js")
        .client("81.2.69.160")
        .run(&engine, 1.0, &[]);
    let (other, _) =
        Policy::from_toml_str("[policy]\nname = \"other\"\n", "other.toml", None).unwrap();
    engine.reload(other);
    // The decision still reads names and headers from the policy it was made with.
    assert_eq!(d.policy().name(), "aybiza");
    assert!(d.matched_rules().any(|r| r == "page-rule-static"));
    assert_eq!(engine.policy().name(), "other");
}

#[test]
fn hostile_requests_get_a_defined_decision() {
    let engine = Engine::new(policy(None));
    let long_xff: String = "81.2.69.160".to_owned() + &", 198.41.128.9".repeat(1000);
    let cases: Vec<Vec<(Vec<u8>, Vec<u8>)>> = vec![
        vec![
            (b"cf-connecting-ip".to_vec(), b"\xff\xfe".to_vec()),
            (b"user-agent".to_vec(), b"\xc3\x28".to_vec()),
        ],
        vec![(b"x-forwarded-for".to_vec(), long_xff.into_bytes())],
        vec![
            (b"cf-connecting-ip".to_vec(), b"999.1.1.1".to_vec()),
            (b"cf-ipcountry".to_vec(), b"\x00\x01".to_vec()),
        ],
        vec![(b"cf-connecting-ip".to_vec(), b"::ffff:81.2.69.160".to_vec())],
        vec![
            (b"Cookie".to_vec(), b";;=;a=b=c;".to_vec()),
            (b"host".to_vec(), b"\xff:99999".to_vec()),
        ],
    ];
    for (i, hs) in cases.iter().enumerate() {
        let headers: Vec<(&[u8], &[u8])> = hs
            .iter()
            .map(|(n, v)| (n.as_slice(), v.as_slice()))
            .collect();
        for (peer, host) in [
            ("::ffff:198.41.128.5", None),
            ("198.41.128.5", Some(&b"api.aybiza.com"[..])),
            ("10.0.0.1", None),
        ] {
            let req = RequestView {
                host,
                method: b"G\xffT",
                path_and_query: b"/\xff/%zz?\x00=1&&=",
                headers: &headers,
                ..RequestView::new(ip(peer))
            };
            let d = engine.decide(&req, Timestamp::from_secs(1));
            let _ = engine.explain(&req, Timestamp::from_secs(1));
            assert!(
                matches!(d.action, Action::Allow | Action::Block),
                "case {i}: {d:?}"
            );
        }
    }
    // A 1,000-entry x-forwarded-for of Cloudflare addresses resolves within the hop limit.
    let headers = [(&b"x-forwarded-for"[..], cases[1][0].1.as_slice())];
    let req = RequestView {
        headers: &headers,
        ..RequestView::new(ip(CF_PEER))
    };
    let d = engine.decide(&req, Timestamp::from_secs(1));
    assert_eq!(
        d.client_ip,
        ip("198.41.128.9"),
        "hop limit: the last examined trusted entry"
    );
    // IPv4-mapped peers are canonicalised.
    let headers = [(&b"cf-connecting-ip"[..], &b"::ffff:81.2.69.160"[..])];
    let req = RequestView {
        headers: &headers,
        ..RequestView::new(ip("::ffff:198.41.128.5"))
    };
    assert_eq!(
        engine.decide(&req, Timestamp::from_secs(1)).client_ip,
        ip("81.2.69.160")
    );
    // Missing Host: no service, still a decision with the security headers.
    let req = RequestView::new(ip(CF_PEER));
    let d = engine.decide(&req, Timestamp::from_secs(1));
    assert_eq!(d.service(), None);
    assert!(d.response_headers().any(|(n, _)| n == "x-frame-options"));
}

mod properties {
    use super::*;
    use edgeroute::ratelimit::{CounterKey, CounterStore, MemoryCounterStore, RateCheck};
    use proptest::prelude::*;

    fn arb_ip() -> impl Strategy<Value = IpAddr> {
        prop_oneof![
            any::<[u8; 4]>().prop_map(IpAddr::from),
            any::<[u8; 16]>().prop_map(IpAddr::from),
            Just(ip(CF_PEER)),
            Just(ip("2400:cb00::1")),
            Just(ip("::ffff:198.41.128.5")),
        ]
    }

    fn arb_bytes() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..40),
            Just(b"api.aybiza.com".to_vec()),
            Just(b"81.2.69.160".to_vec()),
            Just(b"/static/app.js".to_vec()),
            Just(b"OPTIONS".to_vec()),
            Just(b"https://app.aybiza.com".to_vec()),
        ]
    }

    fn arb_header() -> impl Strategy<Value = (Vec<u8>, Vec<u8>)> {
        let names = prop_oneof![
            Just(b"cf-connecting-ip".to_vec()),
            Just(b"x-forwarded-for".to_vec()),
            Just(b"cf-ipcountry".to_vec()),
            Just(b"cf-region-code".to_vec()),
            Just(b"origin".to_vec()),
            Just(b"access-control-request-method".to_vec()),
            Just(b"cookie".to_vec()),
            Just(b"host".to_vec()),
            arb_bytes(),
        ];
        (names, arb_bytes())
    }

    #[derive(Debug, Clone)]
    struct ArbReq {
        peer: IpAddr,
        method: Vec<u8>,
        host: Option<Vec<u8>>,
        path: Vec<u8>,
        headers: Vec<(Vec<u8>, Vec<u8>)>,
        threat: Option<i64>,
        at_ms: u64,
    }

    fn arb_req() -> impl Strategy<Value = ArbReq> {
        (
            arb_ip(),
            prop_oneof![
                Just(b"GET".to_vec()),
                Just(b"OPTIONS".to_vec()),
                arb_bytes()
            ],
            proptest::option::of(prop_oneof![
                Just(b"api.aybiza.com".to_vec()),
                Just(b"voice.aybiza.com".to_vec()),
                arb_bytes()
            ]),
            prop_oneof![
                Just(b"/static/app.js".to_vec()),
                Just(b"/api/v1/calls".to_vec()),
                Just(b"/api/v1/sessions/1?x=1".to_vec()),
                arb_bytes()
            ],
            proptest::collection::vec(arb_header(), 0..6),
            proptest::option::of(any::<i64>()),
            0u64..600_000,
        )
            .prop_map(
                |(peer, method, host, path, headers, threat, at_ms)| ArbReq {
                    peer,
                    method,
                    host,
                    path,
                    headers,
                    threat,
                    at_ms,
                },
            )
    }

    /// Everything observable about a decision, as owned data.
    fn summary(d: &edgeroute::Decision) -> String {
        let rq: Vec<String> = d
            .request_headers()
            .map(|(n, v)| format!("{n}={v}"))
            .collect();
        let rs: Vec<String> = d
            .response_headers()
            .map(|(n, v)| format!("{n}={v}"))
            .collect();
        format!(
            "{:?} {:?} {:?} {} {:?} {:?} {:?} {:?} {:?} {:?} {:?}",
            d.action,
            d.status,
            d.retry_after_s,
            d.client_ip,
            d.country,
            d.region(),
            d.cache,
            d.matched_rules().collect::<Vec<_>>(),
            rq,
            rs,
            d.body()
        )
    }

    fn run(engine: &Engine, r: &ArbReq, ts: FieldId) -> edgeroute::Decision {
        let headers: Vec<(&[u8], &[u8])> = r
            .headers
            .iter()
            .map(|(n, v)| (n.as_slice(), v.as_slice()))
            .collect();
        let fields: Vec<(FieldId, Value<'_>)> =
            r.threat.map(|t| (ts, Value::Int(t))).into_iter().collect();
        let req = RequestView {
            method: &r.method,
            host: r.host.as_deref(),
            path_and_query: &r.path,
            headers: &headers,
            fields: &fields,
            ..RequestView::new(r.peer)
        };
        engine.decide(&req, Timestamp::from_millis(r.at_ms))
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: 64,
            failure_persistence: Some(Box::new(proptest::test_runner::FileFailurePersistence::Direct(
                "tests/engine.proptest-regressions",
            ))),
            ..ProptestConfig::default()
        })]

        #[test]
        fn decide_never_panics(reqs in proptest::collection::vec(arb_req(), 1..20)) {
            let p = policy(None);
            let ts = p.scheme().field("cf.threat_score").unwrap();
            let engine = Engine::new(p);
            for r in &reqs {
                let d = run(&engine, r, ts);
                let _ = summary(&d);
            }
        }

        #[test]
        fn reloading_the_same_policy_changes_no_decision(mut reqs in proptest::collection::vec(arb_req(), 1..8)) {
            reqs.sort_by_key(|r| r.at_ms);
            let p = policy(None);
            let ts = p.scheme().field("cf.threat_score").unwrap();
            let steady = Engine::new(p);
            let reloaded = Engine::new(policy(None));
            for r in &reqs {
                reloaded.reload(policy(None));
                prop_assert_eq!(summary(&run(&steady, r, ts)), summary(&run(&reloaded, r, ts)));
            }
        }

        /// In every aligned window at most `limit` requests pass; in any interval of one period,
        /// at most `2 × limit` (the documented bound of the sliding-window estimate).
        #[test]
        fn counters_never_let_through_more_than_the_limit_plus_the_estimate_error(
            mut times in proptest::collection::vec(0u64..300_000, 1..400),
            limit in 1u32..40,
            period in prop_oneof![Just(10u32), Just(60u32)],
            timeout in prop_oneof![Just(0u32), Just(30u32)],
        ) {
            times.sort_unstable();
            let store = MemoryCounterStore::new(1024);
            let mut passed = Vec::new();
            for &t in &times {
                let out = store.check(&RateCheck {
                    key: CounterKey(42),
                    period_secs: period,
                    now: Timestamp::from_millis(t),
                    count: true,
                    limit: Some(limit),
                    mitigation_timeout_secs: timeout,
                });
                if !out.limited {
                    passed.push(t);
                } else {
                    prop_assert!(out.retry_after_secs >= 1);
                }
            }
            let p_ms = u64::from(period) * 1000;
            // Aligned windows.
            let mut w = 0usize;
            while w < passed.len() {
                let win = passed[w] / p_ms;
                let n = passed[w..].iter().take_while(|&&t| t / p_ms == win).count();
                prop_assert!(n <= limit as usize, "{n} passed in window {win}");
                w += n;
            }
            // Sliding intervals [t, t + P).
            for (i, &t) in passed.iter().enumerate() {
                let n = passed[i..].iter().take_while(|&&u| u < t + p_ms).count();
                prop_assert!(n <= 2 * limit as usize, "{n} passed in [{t}, {t}+{p_ms})");
            }
        }

        /// A client that waits `retry_after` is let through.
        #[test]
        fn retry_after_is_enough(burst in 1u32..50, limit in 1u32..20, at in 0u64..120_000) {
            let store = MemoryCounterStore::new(1024);
            let q = |t: u64| RateCheck {
                key: CounterKey(7),
                period_secs: 60,
                now: Timestamp::from_millis(t),
                count: true,
                limit: Some(limit),
                mitigation_timeout_secs: 0,
            };
            let mut last = None;
            for _ in 0..burst {
                last = Some(store.check(&q(at)));
            }
            if let Some(out) = last.filter(|o| o.limited) {
                let later = at + u64::from(out.retry_after_secs) * 1000;
                prop_assert!(!store.check(&q(later)).limited, "still limited after {}s", out.retry_after_secs);
            }
        }
    }
}

/// The accuracy figure of the key budget: one million distinct keys (clients rotating
/// addresses) into the default budget of 1,048,576 keys, each counted once in the same window,
/// then read back.
#[test]
fn one_million_distinct_keys_stay_within_budget_and_mostly_keep_their_counts() {
    use edgeroute::ratelimit::{CounterKey, CounterStore, MemoryCounterStore, RateCheck};
    let store = MemoryCounterStore::default();
    let n = 1_000_000u64;
    let key = |i: u64| {
        let mut b = CounterKey::builder("edge-worker-rate-limit", 60);
        b.add(&i.to_le_bytes());
        b.finish()
    };
    let q = |i: u64, count: bool| RateCheck {
        key: key(i),
        period_secs: 60,
        now: Timestamp::from_secs(30),
        count,
        limit: None,
        mitigation_timeout_secs: 0,
    };
    for i in 0..n {
        store.check(&q(i, true));
    }
    let held = store.key_count().unwrap();
    assert!(held <= store.capacity(), "{held} keys held");
    let kept = (0..n)
        .filter(|&i| store.check(&q(i, false)).estimate == 1)
        .count();
    let lost = n as usize - kept;
    let lost_pct = lost as f64 * 100.0 / n as f64;
    println!(
        "1M keys, budget {}: held {held}, {lost} lost their count ({lost_pct:.2}%), table {} bytes = {:.1} bytes/key",
        store.capacity(),
        store.table_bytes(),
        store.table_bytes() as f64 / n as f64
    );
    assert!(store.table_bytes() as f64 / n as f64 <= 48.0);
    assert!(lost_pct < 0.5, "{lost_pct}% lost");
}

/// The same budget filled by 500,000 clients with two per-IP counters each (a `rate(..)` count
/// and a rule keyed by `ip.src`): the keys of one client share their place in the table, so
/// buckets fill in pairs; still no count may be lost, for consecutive IPv4 addresses, for
/// addresses 4,096 apart (a single multiplicative placing hash lost 17 keys here), and for
/// consecutive IPv6 addresses.
#[test]
fn half_a_million_clients_with_two_ip_keys_each_keep_their_counts() {
    use edgeroute::ratelimit::{CounterKey, CounterStore, MemoryCounterStore, RateCheck};
    use std::net::IpAddr;
    let clients = 500_000u32;
    let prefixes = [
        CounterKey::builder("rate", 60),
        CounterKey::builder("edge-worker-rate-limit", 60),
    ];
    type Pattern = (&'static str, fn(u32) -> IpAddr);
    let patterns: [Pattern; 3] = [
        ("consecutive IPv4", |c| {
            IpAddr::from((0x5100_0000 + c).to_be_bytes())
        }),
        ("IPv4 4,096 apart", |c| {
            IpAddr::from((0x0a00_0000 + (c << 12)).to_be_bytes())
        }),
        ("consecutive IPv6", |c| {
            IpAddr::from((0x2001_0db8_u128 << 96 | u128::from(c)).to_be_bytes())
        }),
    ];
    for (name, ip) in patterns {
        let store = MemoryCounterStore::default();
        let q = |c: u32, p: usize, count: bool| RateCheck {
            key: prefixes[p].finish_with_ip(ip(c)),
            period_secs: 60,
            now: Timestamp::from_secs(30),
            count,
            limit: None,
            mitigation_timeout_secs: 0,
        };
        for c in 0..clients {
            for p in 0..2 {
                // The first key counted once, the second twice: counts are told apart.
                for _ in 0..=p {
                    store.check(&q(c, p, true));
                }
            }
        }
        let held = store.key_count().unwrap();
        let lost = (0..clients)
            .flat_map(|c| (0..2).map(move |p| (c, p)))
            .filter(|&(c, p)| store.check(&q(c, p, false)).estimate != p as u32 + 1)
            .count();
        println!("500k clients x 2 per-IP keys, {name}: held {held}, {lost} lost or mixed");
        assert_eq!(held, 2 * clients as usize, "{name}");
        assert_eq!(lost, 0, "{name}");
    }
}

fn full_summary(d: &edgeroute::Decision) -> String {
    let rq: Vec<String> = d
        .request_headers()
        .map(|(n, v)| format!("{n}={v}"))
        .collect();
    let rs: Vec<String> = d
        .response_headers()
        .map(|(n, v)| format!("{n}={v}"))
        .collect();
    format!(
        "{:?} {:?} {:?} {} {:?} {:?} {:?} {:?} {:?} {:?} {:?}",
        d.action,
        d.status,
        d.retry_after_s,
        d.client_ip,
        d.country,
        d.region(),
        d.cache,
        d.matched_rules().collect::<Vec<_>>(),
        rq,
        rs,
        d.body()
    )
}

#[test]
fn cloudflare_export_then_import_keeps_every_decision() {
    use edgeroute::interop::cloudflare;
    let original = policy(None);
    let exported = cloudflare::export(&original);
    let json_text = serde_json::to_string_pretty(&exported.rulesets).unwrap();
    let back: serde_json::Value = serde_json::from_str(&json_text).unwrap();
    let imported = cloudflare::import(&back, Some(original.config().clone())).unwrap();
    let toml_text = cloudflare::to_toml(&imported.policy).unwrap();
    let (round_tripped, _) = match Policy::from_toml_str(&toml_text, "round-trip.toml", None) {
        Ok(x) => x,
        Err(e) => panic!("{e}\n{toml_text}"),
    };
    assert_eq!(original.rules().len(), round_tripped.rules().len());
    let ts = original.scheme().field("cf.threat_score").unwrap();
    let bot = original
        .scheme()
        .field("cf.bot_management.verified_bot")
        .unwrap();
    let a = Engine::new(original);
    let b = Engine::new(round_tripped);
    let paths = [
        "/static/app.js",
        "/static/a/b.css?v=2",
        "/api/v1/calls",
        "/api/v1/sessions/1",
        "/api/v1/profiles/9",
        "/api/v1/search?q=x",
        "/api/v1/reports/daily",
        "/api/v1/agents",
        "/.env",
        "/wp-admin/x",
        "/",
        "/STATIC/x",
    ];
    let hosts = [
        "api.aybiza.com",
        "API.aybiza.com:443",
        "voice.aybiza.com",
        "ws.aybiza.com",
        "other.example",
    ];
    let mut n = 0;
    for round in 0..3u64 {
        for host in hosts {
            for path in paths {
                for (method, threat, verified) in [
                    ("GET", 10, false),
                    ("POST", 80, false),
                    ("GET", 0, true),
                    ("OPTIONS", 0, false),
                ] {
                    let fields = [(ts, Value::Int(threat)), (bot, Value::Bool(verified))];
                    let headers: Vec<(&[u8], &[u8])> = vec![
                        (b"cf-connecting-ip", b"81.2.69.160"),
                        (b"cf-ipcountry", b"DE"),
                        (b"origin", b"https://app.aybiza.com"),
                        (b"access-control-request-method", b"POST"),
                    ];
                    let req = RequestView {
                        method: method.as_bytes(),
                        host: Some(host.as_bytes()),
                        path_and_query: path.as_bytes(),
                        headers: &headers,
                        fields: &fields,
                        ..RequestView::new(ip(CF_PEER))
                    };
                    let now = Timestamp::from_millis(1_000 + round * 20_000 + n * 7);
                    n += 1;
                    assert_eq!(
                        full_summary(&a.decide(&req, now)),
                        full_summary(&b.decide(&req, now)),
                        "{method} {host}{path}"
                    );
                }
            }
        }
    }
    // The exported JSON has the three phases and the design's rules verbatim.
    assert!(json_text.contains(cloudflare::PHASE_FIREWALL));
    assert!(json_text.contains(cloudflare::PHASE_RATE_LIMIT));
    assert!(json_text.contains(cloudflare::PHASE_CACHE));
    assert!(json_text.contains("(cf.threat_score gt 50)"));
    assert!(json_text.contains("\"cf.colo.id\""));
}

/// The fuzz property over the seed corpus, the policy corpora and the design's policy, plus
/// every prefix of the design's policy (truncated files).
#[test]
fn fuzz_property_holds_on_the_seed_corpus() {
    let base = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
    let mut n = 0;
    for dir in ["fuzz-seeds/policy", "policies/bad", "policies/warn"] {
        for entry in std::fs::read_dir(base.join(dir)).unwrap() {
            let bytes = std::fs::read(entry.unwrap().path()).unwrap();
            edgeroute::fuzz::check(&bytes);
            n += 1;
        }
    }
    edgeroute::fuzz::check(AYBIZA.as_bytes());
    for cut in (0..AYBIZA.len()).step_by(211) {
        if AYBIZA.is_char_boundary(cut) {
            edgeroute::fuzz::check(&AYBIZA.as_bytes()[..cut]);
        }
    }
    assert!(n >= 30, "{n} seeds");
}
