//! Integration tests of origin routing (issue 4) on the design's routing section, plus
//! properties: healthy allowed regions are always used, residency is never violated,
//! consistent hashing moves only a lost endpoint's keys, weighted choice follows the weights,
//! and routing allocates nothing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "tests"
)]

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};

use edgeroute::Policy;
use edgeroute::routing::{
    CompiledRouting, FailoverReason, HealthTable, MatchSource, ProbeStatus, RefusalReason,
    RouteInput, RouteOutcome, RoutingConfig,
};
use edgeroute_geo::great_circle_km;
use proptest::prelude::*;

const AYBIZA: &str = include_str!("../../../policies/aybiza.toml");
const SERVICES: [&str; 3] = ["api", "voice", "ws"];
const EU: [&str; 30] = [
    "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE", "IT", "LV",
    "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE", "IS", "LI", "NO",
];

/// The design's policy, loaded by the engine's loader (which compiles its `[routing]`
/// section); shared by all tests (compiling precomputes ~5,300 locations).
fn routing() -> &'static CompiledRouting {
    static POLICY: std::sync::LazyLock<Policy> = std::sync::LazyLock::new(|| {
        match Policy::from_toml_str(AYBIZA, "policies/aybiza.toml", None) {
            Ok((policy, warnings)) => {
                assert!(warnings.is_empty(), "{warnings:#?}");
                policy
            }
            Err(e) => panic!("{e}"),
        }
    });
    POLICY
        .routing()
        .expect("aybiza.toml has a [routing] section")
}

fn code(c: &str) -> [u8; 2] {
    c.as_bytes().try_into().unwrap()
}

fn route_region(
    r: &CompiledRouting,
    h: &HealthTable,
    service: &str,
    country: &str,
    sub: Option<&str>,
) -> Result<String, RefusalReason> {
    let input = RouteInput {
        country: Some(code(country)),
        subdivision: sub.map(str::as_bytes),
        client_ip: Some(IpAddr::V4(Ipv4Addr::new(81, 2, 69, 160))),
        ..RouteInput::new(r.service_id(service).unwrap())
    };
    match r.route(&input, h, 0, 11) {
        RouteOutcome::Routed(route) => Ok(route.region_name.to_owned()),
        RouteOutcome::Refused(refusal) => Err(refusal.reason),
    }
}

#[test]
fn the_design_subdivision_map_holds_for_every_service() {
    let r = routing();
    let h = HealthTable::new();
    h.register(r);
    for service in SERVICES {
        let cases = [
            ("GB", Some("ENG"), "eu-west-2"),
            ("GB", Some("GB-ENG"), "eu-west-2"),
            ("US", Some("CA"), "us-west-2"),
            ("JP", None, "ap-northeast-1"),
            ("JP", Some("13"), "ap-northeast-1"),
            ("BR", Some("SP"), "sa-east-1"),
            ("DE", Some("HE"), "eu-central-1"),
            ("US", Some("NY"), "us-east-1"),
        ];
        for (country, sub, want) in cases {
            assert_eq!(
                route_region(r, &h, service, country, sub).as_deref(),
                Ok(want),
                "{service} {country}-{sub:?}"
            );
        }
    }
    // GB-LND (a child of GB-ENG) follows its parent.
    let loc = r.locate(Some(*b"GB"), Some(b"LND"));
    assert_eq!(r.location_match(loc), Some(MatchSource::Subdivision));
}

/// The region nearest to `point` among `allowed`.
fn nearest(
    r: &CompiledRouting,
    point: edgeroute_geo::LatLon,
    allowed: impl Fn(&str) -> bool,
) -> String {
    r.region_names()
        .filter(|name| allowed(name))
        .map(|name| {
            let p = edgeroute_geo::aws_region(name).unwrap().point;
            (great_circle_km(point, p), name.to_owned())
        })
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .unwrap()
        .1
}

#[test]
fn unmapped_countries_go_to_their_nearest_allowed_region() {
    let r = routing();
    let h = HealthTable::new();
    let mapped = ["US", "CA", "GB", "DE", "JP", "BR", "SG"];
    let mut checked = 0;
    for country in edgeroute_geo::countries() {
        if mapped.contains(&country.iso2) {
            continue;
        }
        let eu = EU.contains(&country.iso2);
        let want = nearest(r, country.population_point, |name| {
            !eu || name.starts_with("eu-")
        });
        assert_eq!(
            route_region(r, &h, "api", country.iso2, None).as_deref(),
            Ok(want.as_str()),
            "{}",
            country.iso2
        );
        checked += 1;
    }
    assert!(checked > 200, "{checked}");
    // Spot checks a person can verify on a map.
    assert_eq!(
        route_region(r, &h, "api", "KR", None).as_deref(),
        Ok("ap-northeast-1")
    );
    assert_eq!(
        route_region(r, &h, "api", "AR", None).as_deref(),
        Ok("sa-east-1")
    );
    assert_eq!(
        route_region(r, &h, "api", "IN", None).as_deref(),
        Ok("ap-southeast-1")
    );
    assert_eq!(
        route_region(r, &h, "api", "FR", None).as_deref(),
        Ok("eu-west-2")
    );
}

#[test]
fn a_german_user_stays_in_the_eu_and_is_refused_rather_than_sent_abroad() {
    let r = routing();
    let subs: Vec<&str> = edgeroute_geo::subdivisions_of("DE")
        .iter()
        .map(|s| s.code)
        .collect();
    let h = HealthTable::new();
    for service in SERVICES {
        assert_eq!(
            route_region(r, &h, service, "DE", None).as_deref(),
            Ok("eu-central-1")
        );
    }
    h.set_down(r, "eu-central-1");
    for service in SERVICES {
        for sub in &subs {
            assert_eq!(
                route_region(r, &h, service, "DE", Some(sub)).as_deref(),
                Ok("eu-west-2")
            );
        }
    }
    // The last EU region fails by its monitor: refused, never another continent.
    for t in 0..3 {
        h.report_probe(r, "eu-west-2", false, t * 15_000);
    }
    for service in SERVICES {
        for sub in &subs {
            assert_eq!(
                route_region(r, &h, service, "DE", Some(sub)),
                Err(RefusalReason::Residency),
                "{service} {sub}"
            );
        }
    }
    // A Swiss user (not in the EU group) fails over to the nearest healthy region instead.
    assert_eq!(
        route_region(r, &h, "api", "CH", None).as_deref(),
        Ok("us-east-1")
    );
}

#[test]
fn with_us_east_1_down_us_users_move_to_another_us_region_and_nothing_goes_there() {
    let r = routing();
    let h = HealthTable::new();
    assert!(h.set_down(r, "us-east-1"));
    // The states and DC; outlying areas (Guam, American Samoa, ...) are nearer to Asia.
    let us_subs: Vec<_> = edgeroute_geo::subdivisions_of("US")
        .iter()
        .filter(|s| s.kind == "State" || s.kind == "District")
        .collect();
    assert_eq!(us_subs.len(), 51);
    for service in SERVICES {
        for sub in &us_subs {
            let input = RouteInput {
                country: Some(*b"US"),
                subdivision: Some(sub.code.as_bytes()),
                ..RouteInput::new(r.service_id(service).unwrap())
            };
            let out = r.route(&input, &h, 0, 3);
            let route = out
                .route()
                .unwrap_or_else(|| panic!("{service} {}: {out:?}", sub.code));
            assert_eq!(route.region_name, "us-west-2", "{service} {}", sub.code);
            if sub.code != "US-CA" {
                assert_eq!(route.failover, Some(FailoverReason::RegionDown));
                assert_eq!(route.preferred_region, r.region_id("us-east-1"));
            }
        }
        // Nothing anywhere is sent to the down region.
        for country in edgeroute_geo::countries() {
            let region = route_region(r, &h, service, country.iso2, None);
            assert_ne!(
                region.as_deref(),
                Ok("us-east-1"),
                "{service} {}",
                country.iso2
            );
        }
    }
}

#[test]
fn health_flips_after_exactly_consecutive_down_and_back_after_consecutive_up() {
    let r = routing();
    let h = HealthTable::new();
    let monitor = r
        .monitors()
        .iter()
        .find(|m| m.name() == "alb-health")
        .unwrap();
    let (down, up) = (monitor.consecutive_down(), monitor.consecutive_up());
    assert_eq!((down, up), (3, 2));
    let interval = monitor.interval_ms();
    let mut now = 0;
    for i in 1..=down {
        let effect = h.report_probe(r, "api-usw2", false, now);
        now += interval;
        let region = route_region(r, &h, "api", "US", Some("CA")).unwrap();
        if i < down {
            assert_eq!(region, "us-west-2", "after {i} failed checks");
            assert_eq!(effect.became_down, 0);
        } else {
            assert_eq!(region, "us-east-1", "after {i} failed checks");
            assert_eq!(effect.became_down, 1);
        }
    }
    // Other services in the region are untouched (their pools were not probed).
    assert_eq!(
        route_region(r, &h, "voice", "US", Some("CA")).as_deref(),
        Ok("us-west-2")
    );
    for i in 1..=up {
        let effect = h.report_probe(r, "api-usw2", true, now);
        now += interval;
        let region = route_region(r, &h, "api", "US", Some("CA")).unwrap();
        if i < up {
            assert_eq!(region, "us-east-1", "after {i} passed checks");
        } else {
            assert_eq!(region, "us-west-2", "after {i} passed checks");
            assert_eq!(effect.became_up, 1);
        }
    }
    let target = r.probe_targets().find(|t| t.pool == "api-usw2").unwrap();
    assert_eq!(h.probe_status(r, target.endpoint), Some(ProbeStatus::Up));
}

#[test]
fn every_monitored_endpoint_is_a_probe_target_with_the_design_health_path() {
    let r = routing();
    let targets: Vec<_> = r.probe_targets().collect();
    assert_eq!(targets.len(), r.endpoint_count());
    assert!(targets.iter().all(|t| t.monitor.path() == "/health"));
    assert!(
        targets
            .iter()
            .all(|t| t.address.ends_with(".alb.aybiza.internal"))
    );
}

#[test]
fn routing_allocates_nothing_once_registered() {
    let r = routing();
    let h = HealthTable::new();
    h.register(r);
    h.set_down(r, "eu-central-1");
    let inputs: Vec<RouteInput<'static>> = [
        ("api", "US", Some("CA")),
        ("voice", "DE", Some("HE")),
        ("ws", "JP", None),
        ("api", "BR", Some("SP")),
        ("voice", "ZZ", None),
    ]
    .into_iter()
    .map(|(s, c, sub)| RouteInput {
        country: Some(code(c)),
        subdivision: sub.map(str::as_bytes),
        client_ip: Some(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 9))),
        ..RouteInput::new(r.service_id(s).unwrap())
    })
    .collect();
    // Warm up (arc-swap's per-thread slot).
    for input in &inputs {
        let _ = r.route(input, &h, 0, 1);
    }
    let info = allocation_counter::measure(|| {
        for seed in 0..1_000u64 {
            for input in &inputs {
                let _ = std::hint::black_box(r.route(input, &h, seed, seed));
            }
        }
    });
    assert_eq!(info.count_total, 0, "{info:?}");
}

fn all_countries() -> Vec<&'static str> {
    edgeroute_geo::countries().iter().map(|c| c.iso2).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// With any set of regions and pools marked down, a request is routed to a healthy region
    /// whenever its residency allows one with a pool for the service, to the nearest such
    /// region in its ranked list, and never outside its residency group.
    #[test]
    fn healthy_allowed_regions_are_always_chosen_and_residency_holds(
        down_regions in proptest::collection::btree_set(0usize..7, 0..7),
        down_pools in proptest::collection::btree_set(0usize..21, 0..8),
        country in proptest::sample::select(all_countries()),
        sub_pick in any::<prop::sample::Index>(),
        use_sub in any::<bool>(),
        service in proptest::sample::select(SERVICES.to_vec()),
        seed in any::<u64>(),
    ) {
        let r = routing();
        let h = HealthTable::new();
        let regions: Vec<String> = r.region_names().map(str::to_owned).collect();
        for i in &down_regions {
            h.set_down(r, &regions[*i]);
        }
        for i in &down_pools {
            let name = r.pool_name(edgeroute::routing::PoolId::from_index(*i).unwrap()).unwrap().to_owned();
            h.set_down(r, &name);
        }
        let subs = edgeroute_geo::subdivisions_of(country);
        let sub = (use_sub && !subs.is_empty()).then(|| subs[sub_pick.index(subs.len())].code);
        let sid = r.service_id(service).unwrap();
        let input = RouteInput {
            country: Some(code(country)),
            subdivision: sub.map(str::as_bytes),
            ..RouteInput::new(sid)
        };
        let eu = EU.contains(&country);
        let location = r.locate(input.country, input.subdivision);
        let ranked = r.ranked_regions(location);
        // The first region of the ranked list that is healthy for the service.
        let healthy = ranked.iter().copied().find(|&id| h.region_healthy(r, sid, id, 0));
        let out = r.route(&input, &h, 0, seed);
        match (healthy, out) {
            (Some(want), RouteOutcome::Routed(route)) => {
                prop_assert_eq!(route.region, want);
                prop_assert!(!down_regions.contains(&route.region.index()));
                prop_assert!(h.pool_healthy(r, route.pool, 0));
                prop_assert!(h.endpoint_usable(r, route.endpoint, 0));
            }
            (None, RouteOutcome::Routed(route)) => {
                // Only the fallback pool may serve when nothing allowed is healthy.
                prop_assert_eq!(route.failover, Some(FailoverReason::FallbackPool));
                prop_assert!(!eu);
            }
            (Some(want), RouteOutcome::Refused(refusal)) => {
                prop_assert!(false, "refused {:?} although {:?} is healthy", refusal, want);
            }
            (None, RouteOutcome::Refused(refusal)) => {
                prop_assert_eq!(refusal.reason, RefusalReason::Residency);
                prop_assert!(eu);
            }
        }
        if eu && let RouteOutcome::Routed(route) = out {
            prop_assert!(route.region_name.starts_with("eu-"), "{} -> {}", country, route.region_name);
        }
        // The ranked list itself never leaves the group.
        if eu {
            let names: BTreeSet<&str> = ranked.iter().map(|&id| r.region_name(id).unwrap()).collect();
            prop_assert!(names.iter().all(|n| n.starts_with("eu-")), "{:?}", names);
        }
    }
}

proptest! {
    // Each case compiles its own routing section: fewer cases.
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// Removing one endpoint from a consistent-hash pool moves only the keys it held.
    #[test]
    fn consistent_hashing_moves_only_the_removed_endpoints_keys(
        n in 2usize..10,
        removed_pick in any::<prop::sample::Index>(),
        weights in proptest::collection::vec(1u32..5, 10),
        keys in proptest::collection::vec(any::<[u8; 4]>(), 50..200),
    ) {
        let endpoints: Vec<String> = (0..n)
            .map(|i| format!("{{ address = \"e{i}.internal\", weight = {} }}", weights[i]))
            .collect();
        let text = format!(
            "default_region = \"us-east-1\"\n[regions]\nus-east-1 = {{}}\n[services.s]\nendpoint_steering = \"hash\"\naffinity = \"header:x-user\"\n[[services.s.pools]]\nname = \"p\"\nregion = \"us-east-1\"\nendpoints = [{}]\n",
            endpoints.join(", ")
        );
        let config: RoutingConfig = toml::from_str(&text).unwrap();
        let r = &config.compile().unwrap();
        let h = HealthTable::new();
        let s = r.service_id("s").unwrap();
        let pick = |h: &HealthTable, key: &[u8]| {
            let input = RouteInput { affinity: Some(key), ..RouteInput::new(s) };
            r.route(&input, h, 0, 0).route().unwrap().endpoint_address.to_owned()
        };
        let before: Vec<String> = keys.iter().map(|k| pick(&h, k)).collect();
        let removed = format!("e{}.internal", removed_pick.index(n));
        h.set_down(r, &removed);
        for (key, old) in keys.iter().zip(&before) {
            let new = pick(&h, key);
            if *old == removed {
                prop_assert_ne!(&new, &removed);
            } else {
                prop_assert_eq!(&new, old);
            }
        }
    }


    /// Weighted random choice converges to the endpoint weights.
    #[test]
    fn weighted_selection_converges_to_the_weights(
        weights in proptest::collection::vec(1u32..100, 2..6),
    ) {
        let endpoints: Vec<String> = weights
            .iter()
            .enumerate()
            .map(|(i, w)| format!("{{ address = \"e{i}\", weight = {w} }}"))
            .collect();
        let text = format!(
            "default_region = \"us-east-1\"\n[regions]\nus-east-1 = {{}}\n[[services.s.pools]]\nname = \"p\"\nregion = \"us-east-1\"\nendpoints = [{}]\n",
            endpoints.join(", ")
        );
        let config: RoutingConfig = toml::from_str(&text).unwrap();
        let r = &config.compile().unwrap();
        let h = HealthTable::new();
        let input = RouteInput::new(r.service_id("s").unwrap());
        let n = 20_000u64;
        let mut counts = vec![0u64; weights.len()];
        for seed in 0..n {
            let e = r.route(&input, &h, 0, seed).route().unwrap().endpoint;
            counts[e.index()] += 1;
        }
        let total: u32 = weights.iter().sum();
        for (count, w) in counts.iter().zip(&weights) {
            let share = *count as f64 / n as f64;
            let want = f64::from(*w) / f64::from(total);
            // Five standard deviations of a binomial share.
            let tolerance = 5.0 * (want * (1.0 - want) / n as f64).sqrt() + 1e-3;
            prop_assert!((share - want).abs() < tolerance, "{:?} {:?}", counts, weights);
        }
    }
}
