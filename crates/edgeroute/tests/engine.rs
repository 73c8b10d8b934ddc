//! Integration tests: `policies/aybiza.toml` and the design's behaviours, one by one.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "tests"
)]

use std::net::IpAddr;

use edgeroute::{Action, Engine, Policy, RequestView, Timestamp};
use edgeroute_rules::Value;

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
        fields: &[(edgeroute_rules::FieldId, Value<'_>)],
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
