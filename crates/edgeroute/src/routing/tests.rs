//! Unit tests of the routing module: compile checks, every steering method, monitor rules,
//! outlier detection, residency and failover.

use super::*;

const BASE: &str = r#"
default_region = "us-east-1"
fallback = "nearest"

[regions]
us-east-1 = {}
us-west-2 = { role = "edge_compute" }
eu-west-2 = {}
eu-central-1 = { role = "edge_compute" }
ap-northeast-1 = { role = "edge_compute" }

[map]
US = "us-east-1"
"US-CA" = "us-west-2"
GB = "eu-west-2"
"GB-ENG" = "eu-west-2"
DE = "eu-central-1"
JP = "ap-northeast-1"

[residency.eu]
countries = ["DE", "FR", "IE", "GB"]
regions = ["eu-*"]
when_unavailable = "refuse"

[monitors.health]
type = "https"
path = "/health"
interval = "10s"
timeout = "5s"
retries = 1
consecutive_down = 3
consecutive_up = 2

[services.api]
monitor = "health"

[[services.api.pools]]
name = "api-use1"
region = "us-east-1"
endpoints = [{ address = "api-use1-a.alb.internal" }, { address = "api-use1-b.alb.internal" }]

[[services.api.pools]]
name = "api-usw2"
region = "us-west-2"
endpoints = [{ address = "api-usw2.alb.internal" }]

[[services.api.pools]]
name = "api-euw2"
region = "eu-west-2"
endpoints = [{ address = "api-euw2.alb.internal" }]

[[services.api.pools]]
name = "api-euc1"
region = "eu-central-1"
endpoints = [{ address = "api-euc1.alb.internal" }]

[[services.api.pools]]
name = "api-apne1"
region = "ap-northeast-1"
endpoints = [{ address = "api-apne1.alb.internal" }]
"#;

fn compile(text: &str) -> CompiledRouting {
    let config: RoutingConfig = toml::from_str(text).unwrap();
    config.compile().unwrap_or_else(|e| panic!("{e:#?}"))
}

fn errors(text: &str) -> Vec<(String, String)> {
    let config: RoutingConfig = toml::from_str(text).unwrap();
    config
        .compile()
        .expect_err("expected errors")
        .into_iter()
        .map(|e| (e.path().to_string(), e.message().to_owned()))
        .collect()
}

fn input<'a>(
    r: &CompiledRouting,
    service: &str,
    country: &str,
    sub: Option<&'a str>,
) -> RouteInput<'a> {
    let c = country.as_bytes();
    RouteInput {
        country: Some([c[0], c[1]]),
        subdivision: sub.map(str::as_bytes),
        ..RouteInput::new(r.service_id(service).unwrap())
    }
}

fn region_of(
    r: &CompiledRouting,
    h: &HealthTable,
    country: &str,
    sub: Option<&str>,
) -> Option<String> {
    r.route(&input(r, "api", country, sub), h, 0, 7)
        .region_name()
        .map(str::to_owned)
}

#[test]
fn region_map_prefers_subdivision_then_parent_then_country() {
    let r = compile(BASE);
    let h = HealthTable::new();
    assert_eq!(
        region_of(&r, &h, "US", Some("CA")).as_deref(),
        Some("us-west-2")
    );
    assert_eq!(
        region_of(&r, &h, "US", Some("US-CA")).as_deref(),
        Some("us-west-2")
    );
    assert_eq!(
        region_of(&r, &h, "US", Some("TX")).as_deref(),
        Some("us-east-1")
    );
    assert_eq!(region_of(&r, &h, "US", None).as_deref(), Some("us-east-1"));
    // GB-LND's parent is GB-ENG.
    let loc = r.locate(Some(*b"GB"), Some(b"LND"));
    assert_eq!(r.location_match(loc), Some(MatchSource::Subdivision));
    assert_eq!(
        region_of(&r, &h, "JP", Some("13")).as_deref(),
        Some("ap-northeast-1")
    );
    // Lower case and an unknown subdivision fall back to the country.
    assert_eq!(
        region_of(&r, &h, "us", Some("zz")).as_deref(),
        Some("us-east-1")
    );
}

#[test]
fn unmapped_countries_go_to_the_nearest_region_and_unknown_ones_to_the_default() {
    let r = compile(BASE);
    let h = HealthTable::new();
    // Korea is nearest to Tokyo; Mexico to us-east-1 or us-west-2 (both North America).
    assert_eq!(
        region_of(&r, &h, "KR", None).as_deref(),
        Some("ap-northeast-1")
    );
    let loc = r.locate(Some(*b"KR"), None);
    assert_eq!(r.location_match(loc), Some(MatchSource::Nearest));
    let mx = region_of(&r, &h, "MX", None).unwrap();
    assert!(mx.starts_with("us-"), "{mx}");
    // Unknown and missing countries use the default region.
    assert_eq!(region_of(&r, &h, "XX", None).as_deref(), Some("us-east-1"));
    let none = r.route(&RouteInput::new(r.service_id("api").unwrap()), &h, 0, 0);
    assert_eq!(none.region_name(), Some("us-east-1"));
    assert_eq!(none.route().unwrap().matched, MatchSource::Unknown);
}

#[test]
fn fallback_default_sends_unmapped_countries_to_the_default_region() {
    let r = compile(&BASE.replace("fallback = \"nearest\"", "fallback = \"default\""));
    let h = HealthTable::new();
    assert_eq!(region_of(&r, &h, "KR", None).as_deref(), Some("us-east-1"));
    // With the mapped region down, the default region takes over before nearer ones.
    h.set_down(&r, "ap-northeast-1");
    assert_eq!(region_of(&r, &h, "JP", None).as_deref(), Some("us-east-1"));
}

#[test]
fn a_down_region_fails_over_to_the_nearest_healthy_one() {
    let r = compile(BASE);
    let h = HealthTable::new();
    assert!(h.set_down(&r, "us-east-1"));
    let out = r.route(&input(&r, "api", "US", Some("NY")), &h, 0, 1);
    let route = out.route().unwrap();
    assert_eq!(route.region_name, "us-west-2");
    assert_eq!(route.failover, Some(FailoverReason::RegionDown));
    assert_eq!(route.preferred_region, r.region_id("us-east-1"));
    assert!(h.set_forced(&r, "us-east-1", Forced::Auto));
    let back = r.route(&input(&r, "api", "US", Some("NY")), &h, 0, 1);
    assert_eq!(back.region_name(), Some("us-east-1"));
    assert_eq!(back.route().unwrap().failover, None);
}

#[test]
fn residency_keeps_eu_clients_in_eu_regions_or_refuses() {
    let r = compile(BASE);
    let h = HealthTable::new();
    assert_eq!(
        region_of(&r, &h, "DE", None).as_deref(),
        Some("eu-central-1")
    );
    h.set_down(&r, "eu-central-1");
    assert_eq!(region_of(&r, &h, "DE", None).as_deref(), Some("eu-west-2"));
    h.set_down(&r, "api-euw2");
    let out = r.route(&input(&r, "api", "DE", None), &h, 0, 1);
    let RouteOutcome::Refused(refusal) = out else {
        panic!("expected a refusal, got {out:?}")
    };
    assert_eq!(refusal.reason, RefusalReason::Residency);
    assert_eq!(refusal.group, Some("eu"));
    assert_eq!(Refusal::STATUS, 503);
    // A non-member is still served by the US.
    assert_eq!(region_of(&r, &h, "NO", None).as_deref(), Some("us-east-1"));
}

#[test]
fn residency_fallback_pool_only_inside_the_group() {
    let text = BASE.replace(
        "when_unavailable = \"refuse\"",
        "when_unavailable = \"fallback_pool\"",
    );
    let inside = format!(
        "{}\n{}",
        text.replace(
            "monitor = \"health\"",
            "monitor = \"health\"\nfallback_pool = \"api-eu-static\""
        ),
        "[[services.api.pools]]\nname = \"api-eu-static\"\nregion = \"eu-west-2\"\nstandby = true\nendpoints = [{ address = \"static-euw2.internal\" }]\n"
    );
    let r = compile(&inside);
    let h = HealthTable::new();
    h.set_down(&r, "api-euw2");
    h.set_down(&r, "api-euc1");
    let out = r.route(&input(&r, "api", "FR", None), &h, 0, 1);
    let route = out.route().unwrap();
    assert_eq!(route.pool_name, "api-eu-static");
    assert_eq!(route.failover, Some(FailoverReason::FallbackPool));

    let outside = text.replace(
        "monitor = \"health\"",
        "monitor = \"health\"\nfallback_pool = \"api-use1\"",
    );
    let r = compile(&outside);
    let h = HealthTable::new();
    h.set_down(&r, "eu-west-2");
    h.set_down(&r, "eu-central-1");
    let out = r.route(&input(&r, "api", "FR", None), &h, 0, 1);
    assert!(matches!(
        out,
        RouteOutcome::Refused(Refusal {
            reason: RefusalReason::Residency,
            ..
        })
    ));
    // Without residency, the fallback pool serves even when itself unhealthy.
    h.set_down(&r, "us-east-1");
    h.set_down(&r, "us-west-2");
    h.set_down(&r, "ap-northeast-1");
    let out = r.route(&input(&r, "api", "BR", None), &h, 0, 1);
    let route = out.route().unwrap();
    assert_eq!(
        (route.pool_name, route.failover),
        ("api-use1", Some(FailoverReason::FallbackPool))
    );
}

#[test]
fn no_healthy_origin_without_fallback_pool_is_a_503() {
    let r = compile(BASE);
    let h = HealthTable::new();
    for region in r.region_names().collect::<Vec<_>>() {
        h.set_down(&r, region);
    }
    let out = r.route(&input(&r, "api", "BR", None), &h, 0, 1);
    assert!(matches!(
        out,
        RouteOutcome::Refused(Refusal {
            reason: RefusalReason::NoHealthyOrigin,
            ..
        })
    ));
}

const FAILOVER: &str = r#"
default_region = "us-east-1"
[regions]
us-east-1 = {}
us-east-2 = {}
[services.db]
steering = "failover"
failover_order = ["db-primary", "db-secondary", "db-east2"]
minimum_origins = 2
[[services.db.pools]]
name = "db-east2"
region = "us-east-2"
endpoints = [{ address = "c1" }, { address = "c2" }]
[[services.db.pools]]
name = "db-secondary"
region = "us-east-1"
endpoints = [{ address = "b1" }, { address = "b2" }]
[[services.db.pools]]
name = "db-primary"
region = "us-east-1"
endpoints = [{ address = "a1" }, { address = "a2" }, { address = "a3" }]
"#;

#[test]
fn failover_steering_takes_the_first_healthy_pool_in_order() {
    let r = compile(FAILOVER);
    let h = HealthTable::new();
    let db = RouteInput::new(r.service_id("db").unwrap());
    assert_eq!(
        r.route(&db, &h, 0, 1).route().unwrap().pool_name,
        "db-primary"
    );
    // One endpoint down: 2 of 3 still meet minimum_origins.
    h.set_down(&r, "a1");
    let route = *r.route(&db, &h, 0, 1).route().unwrap();
    assert_eq!(route.pool_name, "db-primary");
    assert_ne!(route.endpoint_address, "a1");
    // Two down: the pool is unhealthy.
    h.set_down(&r, "db-primary/a2");
    let route = *r.route(&db, &h, 0, 1).route().unwrap();
    assert_eq!(route.pool_name, "db-secondary");
    assert_eq!(route.failover, Some(FailoverReason::PoolUnhealthy));
    h.set_down(&r, "db-secondary");
    let route = *r.route(&db, &h, 0, 1).route().unwrap();
    assert_eq!(route.pool_name, "db-east2");
    assert_eq!(
        route.failover,
        Some(FailoverReason::PoolUnhealthy),
        "the first choice's reason"
    );
    // Forcing a pool up makes it count as healthy whatever its endpoints say.
    h.set_up(&r, "db-primary");
    assert_eq!(
        r.route(&db, &h, 0, 1).route().unwrap().pool_name,
        "db-primary"
    );
}

const CANARY: &str = r#"
default_region = "us-east-1"
[regions]
us-east-1 = {}
[services.api]
[[services.api.pools]]
name = "blue"
region = "us-east-1"
weight = 95
endpoints = [{ address = "blue-1" }, { address = "blue-2", weight = 3 }]
[[services.api.pools]]
name = "canary"
region = "us-east-1"
weight = 5
endpoints = [{ address = "canary-1" }]
"#;

#[test]
fn canary_pool_weights_and_endpoint_weights_converge() {
    let r = compile(CANARY);
    let h = HealthTable::new();
    let api = RouteInput::new(r.service_id("api").unwrap());
    let (mut canary, mut blue2, n) = (0u32, 0u32, 100_000u32);
    for seed in 0..u64::from(n) {
        let route = *r.route(&api, &h, 0, seed).route().unwrap();
        match route.endpoint_address {
            "canary-1" => canary += 1,
            "blue-2" => blue2 += 1,
            _ => {}
        }
    }
    let canary_share = f64::from(canary) / f64::from(n);
    assert!((canary_share - 0.05).abs() < 0.005, "{canary_share}");
    let blue2_share = f64::from(blue2) / f64::from(n - canary);
    assert!((blue2_share - 0.75).abs() < 0.01, "{blue2_share}");
    // Same seed, same answer.
    assert_eq!(r.route(&api, &h, 0, 42), r.route(&api, &h, 0, 42));
    // The canary is rolled back (down): everything goes to blue without a failover reason,
    // the region is still the first choice.
    h.set_down(&r, "canary");
    for seed in 0..1000 {
        let route = *r.route(&api, &h, 0, seed).route().unwrap();
        assert_eq!((route.pool_name, route.failover), ("blue", None));
    }
}

#[test]
fn random_steering_spreads_over_regions_by_pool_weight() {
    let text = r#"
default_region = "us-east-1"
[regions]
us-east-1 = {}
us-west-2 = {}
[services.batch]
steering = "random"
[[services.batch.pools]]
name = "east"
region = "us-east-1"
weight = 1
endpoints = [{ address = "e" }]
[[services.batch.pools]]
name = "west"
region = "us-west-2"
weight = 3
endpoints = [{ address = "w" }]
"#;
    let r = compile(text);
    let h = HealthTable::new();
    let input = RouteInput {
        country: Some(*b"US"),
        ..RouteInput::new(r.service_id("batch").unwrap())
    };
    let west = (0..40_000u64)
        .filter(|&s| r.route(&input, &h, 0, s).region_name() == Some("us-west-2"))
        .count();
    assert!((west as f64 / 40_000.0 - 0.75).abs() < 0.01, "{west}");
    h.set_down(&r, "west");
    assert!((0..100).all(|s| r.route(&input, &h, 0, s).region_name() == Some("us-east-1")));
}

const HASHED: &str = r#"
default_region = "us-east-1"
[regions]
us-east-1 = {}
[services.ws]
endpoint_steering = "hash"
affinity = "ip"
[[services.ws.pools]]
name = "ws"
region = "us-east-1"
endpoints = [{ address = "ws-1" }, { address = "ws-2" }, { address = "ws-3" }, { address = "ws-4" }]
[services.app]
endpoint_steering = "hash"
affinity = "cookie:session"
[[services.app.pools]]
name = "app"
region = "us-east-1"
endpoints = [{ address = "app-1" }, { address = "app-2" }]
"#;

#[test]
fn hash_affinity_is_sticky_and_moves_only_the_lost_endpoints_keys() {
    let r = compile(HASHED);
    let h = HealthTable::new();
    let ws = r.service_id("ws").unwrap();
    let pick = |h: &HealthTable, ip: u32| {
        let input = RouteInput {
            client_ip: Some(std::net::Ipv4Addr::from(ip).into()),
            ..RouteInput::new(ws)
        };
        let a = r
            .route(&input, h, 0, 1)
            .route()
            .unwrap()
            .endpoint_address
            .to_owned();
        // The seed does not matter for a hashed choice.
        let b = r
            .route(&input, h, 0, 99)
            .route()
            .unwrap()
            .endpoint_address
            .to_owned();
        assert_eq!(a, b);
        a
    };
    let before: Vec<String> = (0..2_000u32).map(|ip| pick(&h, ip)).collect();
    let on_three = before.iter().filter(|a| *a == "ws-3").count();
    assert!((400..600).contains(&on_three), "{on_three}");
    h.set_down(&r, "ws-3");
    for (ip, old) in (0..2_000u32).zip(&before) {
        let new = pick(&h, ip);
        if old == "ws-3" {
            assert_ne!(new, "ws-3");
        } else {
            assert_eq!(&new, old, "key {ip} moved");
        }
    }
    // Cookie affinity: the caller passes the cookie's value.
    let app = r.service_id("app").unwrap();
    assert_eq!(r.affinity(app), Some(&Affinity::Cookie("session".into())));
    let key = cookie_value(b"a=1; session=s-42", b"session");
    let input = RouteInput {
        affinity: key,
        ..RouteInput::new(app)
    };
    let first = r.route(&input, &h, 0, 1).route().unwrap().endpoint;
    assert!((0..50).all(|s| r.route(&input, &h, 0, s).route().unwrap().endpoint == first));
}

#[test]
fn least_outstanding_follows_the_reported_counts() {
    let text = HASHED.replace(
        "endpoint_steering = \"hash\"\naffinity = \"ip\"",
        "endpoint_steering = \"least_outstanding\"",
    );
    let r = compile(&text);
    let h = HealthTable::new();
    let ws = RouteInput::new(r.service_id("ws").unwrap());
    let mut open = Vec::new();
    // Each new request goes to an endpoint with the fewest outstanding: 8 requests spread 2/2/2/2.
    for seed in 0..8 {
        let e = r.route(&ws, &h, 0, seed).route().unwrap().endpoint;
        h.request_started(&r, e);
        open.push(e);
    }
    let snap = h.snapshot(&r, 0);
    assert!(
        snap.endpoints
            .iter()
            .filter(|e| e.pool == "ws")
            .all(|e| e.outstanding == 2),
        "{snap:#?}"
    );
    // Finish both of one endpoint's requests: it is now the least loaded.
    let freed = open[0];
    for e in open.iter().filter(|e| **e == freed) {
        h.request_finished(&r, *e);
    }
    assert_eq!(r.route(&ws, &h, 0, 5).route().unwrap().endpoint, freed);
}

#[test]
fn monitors_flip_after_exactly_the_consecutive_thresholds() {
    let r = compile(BASE);
    let h = HealthTable::new();
    let target = "api-euc1.alb.internal";
    let de = || region_of(&r, &h, "DE", None);
    // consecutive_down = 3: two failures change nothing, the third marks it down.
    for i in 0..2 {
        let effect = h.report_probe(&r, target, false, i * 10_000);
        assert_eq!((effect.endpoints, effect.became_down), (1, 0));
        assert_eq!(de().as_deref(), Some("eu-central-1"));
    }
    let effect = h.report_probe(&r, target, false, 20_000);
    assert_eq!(effect.became_down, 1);
    assert_eq!(de().as_deref(), Some("eu-west-2"));
    // consecutive_up = 2: one success (then a failure) is not enough.
    h.report_probe(&r, target, true, 30_000);
    assert_eq!(de().as_deref(), Some("eu-west-2"));
    h.report_probe(&r, target, false, 40_000);
    h.report_probe(&r, target, true, 50_000);
    assert_eq!(de().as_deref(), Some("eu-west-2"));
    let effect = h.report_probe(&r, target, true, 60_000);
    assert_eq!(effect.became_up, 1);
    assert_eq!(de().as_deref(), Some("eu-central-1"));
    let euc1 = r.probe_targets().find(|t| t.address == target).unwrap();
    assert_eq!(h.probe_status(&r, euc1.endpoint), Some(ProbeStatus::Up));
    assert_eq!(euc1.monitor.consecutive_down(), 3);
    assert!(euc1.monitor.expects(204) && !euc1.monitor.expects(301));
}

#[test]
fn region_probes_apply_to_every_endpoint_there() {
    let r = compile(BASE);
    let h = HealthTable::new();
    for t in 0..3 {
        let effect = h.report_probe(&r, "us-east-1", false, t);
        assert_eq!(effect.endpoints, 2);
    }
    let out = r.route(&input(&r, "api", "US", None), &h, 0, 1);
    assert_eq!(out.region_name(), Some("us-west-2"));
    assert_eq!(
        out.route().unwrap().failover,
        Some(FailoverReason::RegionUnhealthy)
    );
}

#[test]
fn unknown_health_unhealthy_waits_for_good_probes() {
    let text = BASE.replace(
        "fallback = \"nearest\"",
        "fallback = \"nearest\"\nunknown_health = \"unhealthy\"",
    );
    let r = compile(&text);
    let h = HealthTable::new();
    let out = r.route(&input(&r, "api", "JP", None), &h, 0, 1);
    assert!(matches!(out, RouteOutcome::Refused(_)), "{out:?}");
    h.report_probe(&r, "api-apne1", true, 0);
    h.report_probe(&r, "api-apne1", true, 10_000);
    assert_eq!(
        region_of(&r, &h, "JP", None).as_deref(),
        Some("ap-northeast-1")
    );
}

#[test]
fn outlier_detection_ejects_for_growing_times_within_the_cap() {
    let text = r#"
default_region = "us-east-1"
[regions]
us-east-1 = {}
[services.api]
outlier_detection = { consecutive_5xx = 3, base_ejection_time = "30s", max_ejection_time = "75s", max_ejection_percent = 50 }
[[services.api.pools]]
name = "p"
region = "us-east-1"
endpoints = [{ address = "a" }, { address = "b" }, { address = "c" }, { address = "d" }]
"#;
    let r = compile(text);
    let h = HealthTable::new();
    let id = |addr: &str| {
        (0..r.endpoint_count() as u32)
            .map(EndpointId)
            .find(|&e| r.endpoint_address(e) == Some(addr))
            .unwrap()
    };
    let a = id("a");
    let fail = PassiveResult::Status(502);
    assert_eq!(h.report_passive(&r, a, fail, 0), PassiveEffect::Counted);
    assert_eq!(h.report_passive(&r, a, fail, 0), PassiveEffect::Counted);
    // A success resets the run.
    assert_eq!(
        h.report_passive(&r, a, PassiveResult::Status(200), 0),
        PassiveEffect::Counted
    );
    assert_eq!(h.report_passive(&r, a, fail, 0), PassiveEffect::Counted);
    assert_eq!(
        h.report_passive(&r, a, PassiveResult::ConnectFailure, 0),
        PassiveEffect::Counted
    );
    assert_eq!(
        h.report_passive(&r, a, fail, 1_000),
        PassiveEffect::Ejected { until_ms: 31_000 }
    );
    assert!(!h.endpoint_usable(&r, a, 30_999));
    assert!(h.endpoint_usable(&r, a, 31_000));
    // Ejected again right away: twice the base.
    for _ in 0..3 {
        let _ = h.report_passive(&r, a, PassiveResult::Timeout, 31_000);
    }
    assert!(!h.endpoint_usable(&r, a, 90_999));
    assert!(h.endpoint_usable(&r, a, 91_000));
    // Third time: capped at max_ejection_time (75 s, not 90 s).
    for _ in 0..3 {
        let _ = h.report_passive(&r, a, fail, 91_000);
    }
    assert!(!h.endpoint_usable(&r, a, 165_999));
    assert!(h.endpoint_usable(&r, a, 166_000));
    // max_ejection_percent = 50 of 4: a is ejected, b may be, c may not.
    let (b, c) = (id("b"), id("c"));
    for _ in 0..3 {
        let _ = h.report_passive(&r, b, fail, 100_000);
    }
    assert!(!h.endpoint_usable(&r, b, 100_000));
    let mut last = PassiveEffect::Counted;
    for _ in 0..3 {
        last = h.report_passive(&r, c, fail, 100_000);
    }
    assert_eq!(last, PassiveEffect::EjectionCapped);
    assert!(h.endpoint_usable(&r, c, 100_000));
    // Without outlier detection nothing is ejected.
    let r2 = compile(BASE);
    let e = r2.probe_targets().next().unwrap().endpoint;
    assert_eq!(h.report_passive(&r2, e, fail, 0), PassiveEffect::Ignored);
}

#[test]
fn unknown_targets_are_ignored_and_counted() {
    let r = compile(BASE);
    let h = HealthTable::new();
    assert_eq!(
        h.report_probe(&r, "nowhere", false, 0),
        ProbeEffect::default()
    );
    assert!(!h.set_down(&r, "us-east-7"));
    assert_eq!(
        h.report_passive(&r, EndpointId(9_999), PassiveResult::Status(500), 0),
        PassiveEffect::Ignored
    );
    assert_eq!(
        h.report_passive_by_name(&r, "api-use1", PassiveResult::Status(500), 0),
        PassiveEffect::Ignored
    );
    assert_eq!(h.ignored_reports(), 4);
    assert_eq!(h.snapshot(&r, 0).ignored_reports, 4);
    assert_eq!(region_of(&r, &h, "US", None).as_deref(), Some("us-east-1"));
}

#[test]
fn health_survives_a_reload_by_name() {
    let old = compile(BASE);
    let h = HealthTable::new();
    h.register(&old);
    h.set_down(&old, "api-use1-a.alb.internal");
    for t in 0..3 {
        h.report_probe(&old, "api-use1-b.alb.internal", false, t);
    }
    // A new policy with another pool: different layout, same names for the old ones.
    let new = compile(&format!(
        "{BASE}\n[[services.api.pools]]\nname = \"api-use1-extra\"\nregion = \"us-west-2\"\nendpoints = [{{ address = \"x\" }}]\n"
    ));
    assert_ne!(old.layout_id, new.layout_id);
    h.register(&new);
    let out = new.route(&input(&new, "api", "US", Some("NY")), &h, 0, 1);
    assert_eq!(
        out.region_name(),
        Some("us-west-2"),
        "us-east-1 is still down after the reload"
    );
    // The old routing still works against the same table (in-flight requests).
    assert_eq!(
        region_of(&old, &h, "US", Some("NY")).as_deref(),
        Some("us-west-2")
    );
    // The same policy compiled twice shares a layout.
    assert_eq!(compile(BASE).layout_id, old.layout_id);
}

#[test]
fn snapshot_reports_every_target() {
    let r = compile(BASE);
    let h = HealthTable::new();
    h.set_down(&r, "eu-west-2");
    let snap = h.snapshot(&r, 0);
    assert_eq!(snap.regions.len(), 5);
    let euw2 = snap.regions.iter().find(|x| x.name == "eu-west-2").unwrap();
    assert_eq!(euw2.forced, Forced::Down);
    let pool = snap.pools.iter().find(|p| p.name == "api-euw2").unwrap();
    assert!(!pool.healthy);
    assert_eq!(snap.endpoints.len(), 6);
    let json = serde_json::to_string(&snap).unwrap();
    assert!(json.contains("\"forced\":\"down\""), "{json}");
}

#[test]
fn bad_inputs_are_load_errors_with_key_paths() {
    let cases: &[(&str, &str, &str, &str)] = &[
        (
            "us-east-1 = {}",
            "us-east-1 = {}\nus-middle-9 = {}",
            "regions.us-middle-9",
            "unknown region `us-middle-9`",
        ),
        (
            "DE = \"eu-central-1\"",
            "DE = \"eu-central-1\"\nZZ = \"us-east-1\"",
            "map.ZZ",
            "unknown country `ZZ`",
        ),
        (
            "\"US-CA\" = \"us-west-2\"",
            "\"US-CA\" = \"us-west-2\"\n\"US-QQ\" = \"us-east-1\"",
            "map.US-QQ",
            "unknown subdivision `US-QQ`",
        ),
        (
            "JP = \"ap-northeast-1\"",
            "JP = \"ap-south-1\"",
            "map.JP",
            "region `ap-south-1` is not declared",
        ),
        (
            "DE = \"eu-central-1\"",
            "DE = \"us-east-1\"",
            "map.DE",
            "`DE` is in residency group `eu`, which does not allow region `us-east-1`",
        ),
        (
            "regions = [\"eu-*\"]",
            "regions = []",
            "residency.eu.regions",
            "residency group `eu` allows no region",
        ),
        (
            "regions = [\"eu-*\"]",
            "regions = [\"sa-*\"]",
            "residency.eu.regions[0]",
            "`sa-*` matches no declared region",
        ),
        (
            "interval = \"10s\"",
            "interval = \"2s\"",
            "monitors.health.interval",
            "monitor `health` interval 2s is shorter than its timeout 5s",
        ),
        (
            "endpoints = [{ address = \"api-usw2.alb.internal\" }]",
            "endpoints = []",
            "services.api.pools[1].endpoints",
            "pool `api-usw2` has no endpoints",
        ),
        (
            "endpoints = [{ address = \"api-usw2.alb.internal\" }]",
            "endpoints = [{ address = \"x\", weight = 0 }]",
            "services.api.pools[1].endpoints",
            "endpoint weights of pool `api-usw2` sum to zero",
        ),
        (
            "monitor = \"health\"",
            "monitor = \"nope\"",
            "services.api.monitor",
            "unknown monitor `nope`",
        ),
        (
            "monitor = \"health\"",
            "monitor = \"health\"\nfallback_pool = \"nope\"",
            "services.api.fallback_pool",
            "fallback pool `nope` is not a pool of service `api`",
        ),
        (
            "name = \"api-usw2\"",
            "name = \"api-use1\"",
            "services.api.pools[1].name",
            "pool `api-use1` is already defined at `services.api.pools[0]`",
        ),
        (
            "monitor = \"health\"",
            "monitor = \"health\"\nendpoint_steering = \"hash\"",
            "services.api.endpoint_steering",
            "hash steering in pool `api-use1` needs an affinity key",
        ),
        (
            "monitor = \"health\"",
            "monitor = \"health\"\naffinity = \"body\"",
            "services.api.affinity",
            "invalid affinity `body`",
        ),
        (
            "consecutive_up = 2",
            "consecutive_up = 0",
            "monitors.health.consecutive_up",
            "`consecutive_up` must be at least 1",
        ),
        (
            "countries = [\"DE\", \"FR\", \"IE\", \"GB\"]",
            "countries = [\"DE\", \"XY\"]",
            "residency.eu.countries[1]",
            "unknown country `XY`",
        ),
        (
            "default_region = \"us-east-1\"",
            "default_region = \"mars-1\"",
            "default_region",
            "unknown region `mars-1`",
        ),
    ];
    for (from, to, path, message) in cases {
        assert!(BASE.contains(from), "{from}");
        let text = BASE.replacen(from, to, 1);
        let errs = errors(&text);
        assert!(
            errs.iter().any(|(p, m)| p == path && m == message),
            "{path}: {message}\n got {errs:#?}"
        );
    }
    // Every error is reported at once.
    let text = BASE
        .replacen("us-east-1 = {}", "us-east-1 = {}\nus-middle-9 = {}", 1)
        .replacen(
            "endpoints = [{ address = \"api-usw2.alb.internal\" }]",
            "endpoints = []",
            1,
        );
    assert_eq!(errors(&text).len(), 2);
}

#[test]
fn pool_weights_summing_to_zero_in_a_region_are_an_error() {
    let text = CANARY
        .replace("weight = 95", "weight = 0")
        .replace("weight = 5", "weight = 0");
    let errs = errors(&text);
    assert_eq!(
        errs,
        vec![(
            "services.api.pools".to_owned(),
            "pool weights of service `api` in region `us-east-1` sum to zero".to_owned()
        )]
    );
}

#[test]
fn a_kept_binding_routes_like_the_table_and_a_stale_one_is_not_used() {
    let r = compile(BASE);
    let other = compile(FAILOVER);
    let h = HealthTable::new();
    let bound = h.bind(&r);
    let stale = h.bind(&other);
    h.set_down(&r, "us-east-1");
    for (country, sub) in [("US", Some("NY")), ("DE", None), ("JP", None), ("XX", None)] {
        let i = input(&r, "api", country, sub);
        let plain = r.route(&i, &h, 0, 5);
        assert_eq!(r.route_bound(&i, &h, &bound, 0, 5), plain);
        // A binding of another routing is ignored: same answer, found through the table.
        assert_eq!(r.route_bound(&i, &h, &stale, 0, 5), plain);
    }
    assert_eq!(
        r.route_bound(&input(&r, "api", "US", Some("NY")), &h, &bound, 0, 5)
            .region_name(),
        Some("us-west-2")
    );
}

#[test]
fn every_iso_subdivision_has_its_own_location() {
    let r = compile(BASE);
    let mut seen = std::collections::BTreeSet::new();
    for sub in edgeroute_geo::subdivisions() {
        let country: [u8; 2] = sub.country.as_bytes().try_into().unwrap();
        let loc = r.locate(Some(country), Some(sub.code.as_bytes()));
        assert_ne!(loc, r.locate(Some(country), None), "{}", sub.code);
        assert!(seen.insert(loc), "{} shares a location", sub.code);
        // The short form (as in `cf-region-code`) finds the same place.
        assert_eq!(
            r.locate(Some(country), Some(&sub.code.as_bytes()[3..])),
            loc
        );
    }
    assert_eq!(seen.len(), edgeroute_geo::subdivisions().len());
    // Unknown subdivisions of a known country fall back to the country.
    assert_eq!(
        r.locate(Some(*b"US"), Some(b"QQ")),
        r.locate(Some(*b"US"), None)
    );
}

/// A section using every steering method, pool weights inside a region, standby and drained
/// pools, `minimum_origins`, outlier detection, monitors with unknown-as-unhealthy, a residency
/// group that may use the fallback pool and one that refuses.
const MIXED: &str = r#"
default_region = "us-east-1"
fallback = "default"
unknown_health = "unhealthy"

[regions]
us-east-1 = {}
us-west-2 = {}
eu-west-2 = {}
eu-central-1 = {}
ap-northeast-1 = {}

[map]
US = "us-east-1"
"US-CA" = "us-west-2"
GB = "eu-west-2"
DE = "eu-central-1"
JP = "ap-northeast-1"

[residency.eu]
countries = ["DE", "FR", "IE"]
regions = ["eu-*"]
when_unavailable = "fallback_pool"

[residency.gb]
countries = ["GB"]
regions = ["eu-west-2"]

[monitors.health]
type = "tcp"
port = 443
interval = "10s"
timeout = "5s"
consecutive_down = 2
consecutive_up = 1

[services.geo]
endpoint_steering = "least_outstanding"
monitor = "health"
minimum_origins = 2
fallback_pool = "geo-euc1"
outlier_detection = { consecutive_5xx = 2, base_ejection_time = "3s", max_ejection_percent = 50 }

[[services.geo.pools]]
name = "geo-use1-blue"
region = "us-east-1"
weight = 3
endpoints = [{ address = "b1" }, { address = "b2", weight = 2 }, { address = "b3" }]

[[services.geo.pools]]
name = "geo-use1-green"
region = "us-east-1"
endpoints = [{ address = "g1" }, { address = "g2" }]

[[services.geo.pools]]
name = "geo-usw2"
region = "us-west-2"
minimum_origins = 1
endpoints = [{ address = "w1" }, { address = "w2" }]

[[services.geo.pools]]
name = "geo-euw2"
region = "eu-west-2"
minimum_origins = 1
endpoint_steering = "random"
endpoints = [{ address = "e1" }, { address = "e2", weight = 0 }, { address = "e3", weight = 5 }]

[[services.geo.pools]]
name = "geo-euc1"
region = "eu-central-1"
minimum_origins = 1
standby = true
endpoints = [{ address = "c1" }, { address = "c2" }]

[services.fo]
steering = "failover"
endpoint_steering = "hash"
affinity = "ip"
failover_order = ["fo-apne1", "fo-euw2", "fo-use1"]
outlier_detection = { consecutive_5xx = 1, base_ejection_time = "2s", max_ejection_percent = 100 }

[[services.fo.pools]]
name = "fo-use1"
region = "us-east-1"
endpoints = [{ address = "f1" }, { address = "f2" }, { address = "f3", weight = 3 }]

[[services.fo.pools]]
name = "fo-euw2"
region = "eu-west-2"
endpoints = [{ address = "f4" }, { address = "f5" }]

[[services.fo.pools]]
name = "fo-apne1"
region = "ap-northeast-1"
endpoints = [{ address = "f6" }]

[services.rnd]
steering = "random"
endpoint_steering = "hash"
affinity = "header:x-user"
fallback_pool = "rnd-c"

[[services.rnd.pools]]
name = "rnd-a"
region = "us-east-1"
weight = 9
endpoints = [{ address = "r1" }, { address = "r2" }]

[[services.rnd.pools]]
name = "rnd-b"
region = "eu-west-2"
weight = 1
endpoints = [{ address = "r3" }]

[[services.rnd.pools]]
name = "rnd-c"
region = "us-west-2"
weight = 0
endpoints = [{ address = "r4" }]
"#;

#[test]
fn the_mixed_section_compiles() {
    let r = compile(MIXED);
    assert_eq!(r.service_names().count(), 3);
}

/// One step of a random health history.
#[derive(Debug, Clone)]
enum Step {
    Force(usize, Forced),
    Probe(usize, bool),
    Passive(usize, bool),
    Started(usize),
    Finished(usize),
    Time(i64),
    Route {
        service: usize,
        place: usize,
        seed: u64,
        ip: u32,
        key: Option<u8>,
    },
}

fn step() -> impl proptest::strategy::Strategy<Value = Step> {
    use proptest::prelude::*;
    let forced = prop_oneof![Just(Forced::Auto), Just(Forced::Down), Just(Forced::Up)];
    prop_oneof![
        2 => (0usize..64, forced).prop_map(|(t, f)| Step::Force(t, f)),
        3 => (0usize..64, any::<bool>()).prop_map(|(t, ok)| Step::Probe(t, ok)),
        3 => (0usize..64, any::<bool>()).prop_map(|(t, ok)| Step::Passive(t, ok)),
        1 => (0usize..64).prop_map(Step::Started),
        1 => (0usize..64).prop_map(Step::Finished),
        2 => (-4_000i64..8_000).prop_map(Step::Time),
        8 => (0usize..8, 0usize..64, any::<u64>(), any::<u32>(), proptest::option::of(0u8..4))
            .prop_map(|(service, place, seed, ip, key)| Step::Route { service, place, seed, ip, key }),
    ]
}

/// Replays `steps` on a fresh health table, comparing every route with the uncached
/// reference (twice: the second call is answered from the cache).
fn replay(r: &CompiledRouting, steps: &[Step]) {
    let h = HealthTable::new();
    let bound = h.bind(r);
    let mut targets: Vec<String> = r.region_names().map(str::to_owned).collect();
    targets.extend(
        (0..r.pool_count()).filter_map(|i| Some(r.pool_name(PoolId::from_index(i)?)?.to_owned())),
    );
    let endpoints: Vec<EndpointId> = (0..r.endpoint_count())
        .filter_map(EndpointId::from_index)
        .collect();
    targets.extend(
        endpoints
            .iter()
            .filter_map(|&e| r.endpoint_key(e).map(str::to_owned)),
    );
    let places: Vec<(Option<[u8; 2]>, Option<&str>)> = vec![
        (Some(*b"US"), Some("CA")),
        (Some(*b"US"), Some("NY")),
        (Some(*b"us"), Some("us-ca")),
        (Some(*b"GB"), Some("ENG")),
        (Some(*b"GB"), None),
        (Some(*b"DE"), Some("HE")),
        (Some(*b"FR"), Some("IDF")),
        (Some(*b"IE"), None),
        (Some(*b"JP"), Some("13")),
        (Some(*b"BR"), Some("SP")),
        (Some(*b"IN"), Some("MH")),
        (Some(*b"AU"), None),
        (Some(*b"ZZ"), None),
        (Some(*b"1!"), None),
        (None, None),
    ];
    let services = r.service_names().count();
    let mut now: u64 = 1_000;
    for s in steps {
        match *s {
            Step::Force(t, f) => {
                let name = &targets[t % targets.len()];
                assert!(h.set_forced(r, name, f));
            }
            Step::Probe(t, ok) => {
                let _ = h.report_probe_endpoint(r, endpoints[t % endpoints.len()], ok, now);
            }
            Step::Passive(t, ok) => {
                let result = if ok {
                    PassiveResult::Status(200)
                } else {
                    PassiveResult::Status(503)
                };
                let _ = h.report_passive(r, endpoints[t % endpoints.len()], result, now);
            }
            Step::Started(t) => h.request_started(r, endpoints[t % endpoints.len()]),
            Step::Finished(t) => h.request_finished(r, endpoints[t % endpoints.len()]),
            Step::Time(d) => now = now.saturating_add_signed(d),
            Step::Route {
                service,
                place,
                seed,
                ip,
                key,
            } => {
                let (country, sub) = places[place % places.len()];
                let key = key.map(|k| [b'u', k]);
                // One id past the last service: unknown.
                let service = ServiceId::from_index(service % (services + 1)).unwrap();
                let input = RouteInput {
                    service,
                    country,
                    subdivision: sub.map(str::as_bytes),
                    client_ip: Some(std::net::IpAddr::from(ip.to_be_bytes())),
                    affinity: key.as_ref().map(|k| &k[..]),
                };
                let expected = r.route_reference(&input, &h, now, seed);
                for _ in 0..2 {
                    assert_eq!(
                        r.route(&input, &h, now, seed),
                        expected,
                        "{input:?} at {now}"
                    );
                    assert_eq!(
                        r.route_bound_lazy(&input, &h, &bound, now, || seed),
                        expected,
                        "{input:?} at {now}"
                    );
                }
            }
        }
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

    #[test]
    fn cached_routes_match_uncached_routing_over_health_histories(
        steps in proptest::collection::vec(step(), 1..200),
    ) {
        static SECTIONS: std::sync::LazyLock<[CompiledRouting; 2]> =
            std::sync::LazyLock::new(|| [compile(BASE), compile(MIXED)]);
        for r in SECTIONS.iter() {
            replay(r, &steps);
        }
    }
}

#[test]
fn cached_routes_follow_a_scripted_failover_and_an_ejection_that_ends() {
    let r = compile(MIXED);
    let h = HealthTable::new();
    let fo = r.service_id("fo").unwrap();
    let jp = RouteInput {
        country: Some(*b"JP"),
        client_ip: Some(std::net::IpAddr::from([10, 0, 0, 1])),
        ..RouteInput::new(fo)
    };
    let pool = |now| {
        r.route(&jp, &h, now, 1)
            .route()
            .map(|x| r.pool_name(x.pool).unwrap().to_owned())
    };
    assert_eq!(pool(0).as_deref(), Some("fo-apne1"));
    let f6 = (0..r.endpoint_count())
        .filter_map(EndpointId::from_index)
        .find(|&e| r.endpoint_address(e) == Some("f6"))
        .unwrap();
    // One 5xx ejects f6 for 2 s: the next pool serves, then apne1 again when it ends.
    assert!(matches!(
        h.report_passive(&r, f6, PassiveResult::Status(500), 1_000),
        PassiveEffect::Ejected { until_ms: 3_000 }
    ));
    assert_eq!(pool(1_000).as_deref(), Some("fo-euw2"));
    assert_eq!(pool(2_999).as_deref(), Some("fo-euw2"));
    assert_eq!(pool(3_000).as_deref(), Some("fo-apne1"));
    assert_eq!(pool(3_001).as_deref(), Some("fo-apne1"));
    // Time going back into the ejection still sees it.
    assert_eq!(pool(2_000).as_deref(), Some("fo-euw2"));
    assert!(h.set_down(&r, "ap-northeast-1"));
    assert_eq!(pool(5_000).as_deref(), Some("fo-euw2"));
    assert!(h.set_forced(&r, "ap-northeast-1", Forced::Auto));
    assert_eq!(pool(5_000).as_deref(), Some("fo-apne1"));
}
