//! The cost model through its public API: hand-computed bills, the JSON shape, linearity and
//! monthly extrapolation as properties, and bad price tables.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::float_cmp,
    reason = "tests"
)]

use std::collections::BTreeMap;
use std::fmt::Write as _;

use edgeroute_sim::cost::{
    BYTES_PER_GB, CostError, PriceErrorKind, PriceTable, PriceZone, RegionTraffic, TrafficTotals,
    Verdict, ZoneTraffic, cost_report, cost_report_at, items,
};
use proptest::prelude::*;

const GIB: u64 = 1 << 30;

/// A complete table with flat, round prices (no tiers, no compute floor): every variable cost
/// is linear in traffic.
fn flat_table_toml() -> String {
    let mut s = String::from(
        "inherit = false\n\
         [edge]\nplan = \"test plan\"\nplan_monthly = 200\nbandwidth_per_gb = 0\n\
         requests_per_million = 0\ndns_queries_per_million = 0\nwaf_requests_per_million = 0\n\
         ddos_monthly = 0\ncertificates_monthly = 10\nworker_requests_per_million = 0.5\n\
         [edge.addons]\nlb = 20\n\
         [cloud_only]\ncertificates_monthly = 0\n",
    );
    for zone in PriceZone::ALL {
        let _ = write!(
            s,
            "[cloud_only.cdn.{zone}]\nbandwidth_per_gb = 0.1\nhttps_requests_per_10k = 0.01\n"
        );
    }
    s.push_str(
        "[cloud_only.dns]\nqueries_per_million = 0.7\nhosted_zone_monthly = 0.5\n\
         health_check_monthly = 0.5\nhealth_check_options_monthly = 1\n\
         [cloud_only.waf]\nweb_acl_monthly = 5\nrule_monthly = 1\nrequests_per_million = 0.6\n\
         included_with_shield_advanced = false\n\
         [cloud_only.shield]\nenabled = true\nmonthly = 3000\ndata_transfer_per_gb = 0.025\n\
         [aws.compute]\ndefault = 0.05\n[aws.alb]\nhour = 0.02\nlcu_hour = 0.01\n\
         [aws.egress]\ndefault = 0.09\n[aws.inter_region]\ndefault = 0.02\n\
         [assumptions]\ntarget_cpu_utilization = 0.5\nmin_vcpus_per_region = 0\n\
         requests_per_connection = 10\nedge_worker_request_share = 1.0\nhosted_zones = 1\n\
         web_acls = 1\nwaf_rules = 10\nhealth_checks = 2\n",
    );
    s
}

fn flat_table() -> PriceTable {
    PriceTable::from_file_text("flat.toml", &flat_table_toml()).unwrap()
}

/// One simulated day: 1 M requests and 10 GiB served in the US zone, one origin region.
fn one_day() -> TrafficTotals {
    let mut t = TrafficTotals {
        duration_s: 86_400.0,
        requests: 1_000_000,
        dns_queries: 100_000,
        waf_evaluated_requests: 1_000_000,
        ..TrafficTotals::default()
    };
    t.edge.insert(
        PriceZone::Us,
        ZoneTraffic {
            requests: 1_000_000,
            bytes: 10 * GIB,
        },
    );
    t.origins.insert(
        "us-east-1".into(),
        RegionTraffic {
            requests: 100_000,
            bytes_out: 2 * GIB,
            // 7,200 vCPU-seconds: 2 vCPU-hours a day.
            busy_us: 7_200 * 1_000_000,
            ..RegionTraffic::default()
        },
    );
    t.inter_region_bytes.insert("us-east-1".into(), GIB);
    t
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

#[test]
fn hand_computed_bills() {
    let r = cost_report(&flat_table(), &one_day()).unwrap();
    let h = &r.hybrid.items;
    // A 30-day month is 30 of these days: 30 M requests, 300 GB, 3 M DNS queries.
    assert!(close(h[items::EDGE_PLAN], 200.0));
    assert!(close(h[items::EDGE_ADDONS], 20.0));
    assert!(close(h[items::CERTIFICATES], 10.0));
    assert!(close(h[items::EDGE_COMPUTE], 30.0 * 0.5));
    assert!(close(h[items::ORIGIN_EGRESS], 60.0 * 0.09));
    // 60 busy vCPU-hours at 50% utilisation.
    assert!(close(h[items::COMPUTE], 120.0 * 0.05));
    // 720 ALB-hours, and 60 GB / 720 h = 1/12 LCU (bytes dominate new connections).
    assert!(close(h[items::LOAD_BALANCER], 720.0 * 0.02 + 60.0 * 0.01));
    assert!(close(h[items::INTER_REGION_TRANSFER], 30.0 * 0.02));
    for free in [
        items::CDN_BANDWIDTH,
        items::CDN_REQUESTS,
        items::DNS,
        items::WAF,
        items::DDOS_PROTECTION,
    ] {
        assert_eq!(h[free], 0.0, "{free}");
    }
    assert!(close(r.hybrid.total, 272.0), "{}", r.hybrid.total);

    let c = &r.cloud_only.items;
    assert!(close(c[items::CDN_BANDWIDTH], 300.0 * 0.1));
    assert!(close(c[items::CDN_REQUESTS], 3_000.0 * 0.01));
    assert!(close(c[items::DNS], 3.0 * 0.7 + 0.5 + 2.0 * 1.5));
    assert!(close(c[items::WAF], 5.0 + 10.0 + 30.0 * 0.6));
    assert!(close(c[items::DDOS_PROTECTION], 3000.0 + 300.0 * 0.025));
    assert_eq!(c[items::ORIGIN_EGRESS], 0.0);
    assert_eq!(c[items::EDGE_PLAN], 0.0);
    // The origins cost the same on both sides.
    for same in [
        items::COMPUTE,
        items::LOAD_BALANCER,
        items::INTER_REGION_TRANSFER,
    ] {
        assert_eq!(c[same], h[same], "{same}");
    }
    assert!(close(r.cloud_only.total, 3127.7), "{}", r.cloud_only.total);
    assert!(close(r.savings, 3127.7 - 272.0));
    assert_eq!(r.design_claim.verdict, Verdict::Below);
    assert_eq!(r.drivers[0].item, items::DDOS_PROTECTION);
    assert!(
        r.drivers.last().unwrap().usd < 0.0,
        "edge_plan costs the hybrid more"
    );
    assert!(r.summary.contains("ddos_protection"), "{}", r.summary);
    assert!(r.summary.contains("below"), "{}", r.summary);
}

#[test]
fn json_has_the_documented_keys() {
    let r = cost_report(&flat_table(), &one_day()).unwrap();
    let v = serde_json::json!({ "cost_monthly_usd": r });
    let c = &v["cost_monthly_usd"];
    assert_eq!(c["hybrid"]["total"], 272.0);
    assert_eq!(c["cloud_only"]["total"], 3127.7);
    assert_eq!(c["savings"], 2855.7);
    for arch in ["hybrid", "cloud_only"] {
        let items_json = c[arch]["items"].as_object().unwrap();
        let names: Vec<&str> = items_json.keys().map(String::as_str).collect();
        let mut expected = items::ALL.to_vec();
        expected.sort_unstable();
        assert_eq!(names, expected, "{arch}");
        assert!(items_json.values().all(serde_json::Value::is_number));
    }
    assert_eq!(c["hybrid"]["items"]["load_balancer"], 15.0);
    assert!(c["summary"].is_string());
    assert_eq!(c["design_claim"]["verdict"], "below");
    assert_eq!(c["month"]["days"], 30);
}

#[test]
fn builtin_tiers_and_shield_bundle() {
    let prices = PriceTable::builtin().unwrap();
    // 20 TB a month from European edges over one 30-day simulated month.
    let mut t = TrafficTotals {
        duration_s: 30.0 * 86_400.0,
        ..TrafficTotals::default()
    };
    t.edge.insert(
        PriceZone::Eu,
        ZoneTraffic {
            requests: 0,
            bytes: 20 * 1024 * GIB,
        },
    );
    t.requests = 0;
    let r = cost_report(&prices, &t).unwrap();
    let eu = r
        .cloud_only
        .details
        .iter()
        .find(|l| l.item == items::CDN_BANDWIDTH && l.detail == "eu")
        .unwrap();
    assert!(
        close(eu.usd, 10_240.0 * 0.085 + 10_240.0 * 0.080),
        "{}",
        eu.usd
    );
    // Shield Advanced is on and includes AWS WAF in the built-in table.
    assert_eq!(r.cloud_only.items[items::WAF], 0.0);
    assert!(r.cloud_only.items[items::DDOS_PROTECTION] >= 3000.0);
    // Cloudflare does not meter bandwidth.
    assert_eq!(r.hybrid.items[items::CDN_BANDWIDTH], 0.0);
}

#[test]
fn a_busy_scenario_lands_where_the_design_says() {
    // 3 billion requests and ~300 TB a month, mostly cached: savings dominated by CDN bandwidth.
    let prices = PriceTable::builtin().unwrap();
    let mut t = TrafficTotals {
        duration_s: 86_400.0,
        ..TrafficTotals::default()
    };
    for (zone, share) in [
        (PriceZone::Us, 0.5),
        (PriceZone::Eu, 0.3),
        (PriceZone::Ap, 0.2),
    ] {
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "test data"
        )]
        let z = ZoneTraffic {
            requests: (100e6 * share) as u64,
            bytes: (10.0 * 1024.0 * share) as u64 * GIB,
        };
        t.edge.insert(zone, z);
        t.requests += z.requests;
    }
    t.dns_queries = 5_000_000;
    t.origins.insert(
        "us-east-1".into(),
        RegionTraffic {
            requests: 10_000_000,
            bytes_out: 1024 * GIB,
            busy_us: 40_000 * 1_000_000,
            ..RegionTraffic::default()
        },
    );
    let r = cost_report(&prices, &t).unwrap();
    assert!(r.savings > 0.0, "{}", r.summary);
    assert_eq!(r.drivers[0].item, items::CDN_BANDWIDTH, "{:?}", r.drivers);
    assert!(r.hybrid.items[items::ORIGIN_EGRESS] > 0.0);
    let text = r.to_text();
    assert!(text.contains("total"));
    assert!(text.contains(&r.summary));
}

#[test]
fn bad_durations_are_errors() {
    for d in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        let t = TrafficTotals {
            duration_s: d,
            ..one_day()
        };
        assert!(
            matches!(
                cost_report(&flat_table(), &t),
                Err(CostError::BadDuration(_))
            ),
            "{d}"
        );
    }
}

#[test]
fn a_region_without_a_price_is_an_error_with_a_location() {
    let src = flat_table_toml().replace(
        "[aws.compute]\ndefault = 0.05\n",
        "[aws.compute.regions]\n\"us-east-1\" = 0.05\n",
    );
    let prices = PriceTable::from_file_text("flat.toml", &src).unwrap();
    let mut t = one_day();
    t.origins
        .insert("ap-south-2".into(), RegionTraffic::default());
    let err = cost_report(&prices, &t).unwrap_err();
    let CostError::Prices(err) = err else {
        panic!("{err}")
    };
    assert!(matches!(err.kind(), PriceErrorKind::Missing { .. }));
    assert!(err.to_string().starts_with("flat.toml:"), "{err}");
    assert!(err.to_string().contains("ap-south-2"), "{err}");
    assert!(prices.check_regions(["ap-south-2"]).is_err());
}

#[test]
fn scenario_price_errors_have_file_line_and_column() {
    let scenario = "name = \"s\"\nseed = 1\n\n[prices.cloud_only.shield]\nmonthly = -3000\n";
    let err =
        PriceTable::from_scenario("scenarios/x.toml", scenario, |_| unreachable!()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "scenarios/x.toml:5:11: negative price `-3000` for `cloud_only.shield.monthly`"
    );
    assert_eq!(err.location().span().map(|s| &scenario[s]), Some("-3000"));

    let missing = "[prices]\ninherit = false\n[prices.edge]\nplan = \"p\"\nplan_monthly = 1\n";
    let err = PriceTable::from_scenario("s.toml", missing, |_| unreachable!()).unwrap_err();
    assert!(
        matches!(err.kind(), PriceErrorKind::Missing { .. }),
        "{err}"
    );
    assert_eq!(
        (err.location().line(), err.location().column()),
        (3, 9),
        "{err}"
    );

    let unknown = "[prices.edge]\nbandwith_per_gb = 0\n";
    let err = PriceTable::from_scenario("s.toml", unknown, |_| unreachable!()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "s.toml:2:1: invalid price table: unknown key `edge.bandwith_per_gb`"
    );
    assert!(!err.help().is_empty());
}

fn scaled(t: &TrafficTotals, k: u64) -> TrafficTotals {
    let mut s = t.clone();
    s.requests *= k;
    s.dns_queries *= k;
    s.waf_evaluated_requests *= k;
    s.blocked_requests *= k;
    s.edge_worker_requests = s.edge_worker_requests.map(|n| n * k);
    for z in s.edge.values_mut() {
        z.requests *= k;
        z.bytes *= k;
    }
    for r in s.origins.values_mut() {
        r.requests *= k;
        r.bytes_out *= k;
        r.bytes_in *= k;
        r.busy_us *= k;
        r.websocket_seconds *= k;
        r.new_connections = r.new_connections.map(|n| n * k);
    }
    for b in s.inter_region_bytes.values_mut() {
        *b *= k;
    }
    s
}

fn arb_traffic() -> impl Strategy<Value = TrafficTotals> {
    let zone = (0u64..2_000_000, 0u64..(50 * GIB));
    let region = (
        0u64..500_000,
        0u64..(5 * GIB),
        0u64..(3_600 * 1_000_000),
        0u64..100_000,
        proptest::option::of(0u64..100_000),
    );
    (
        60.0f64..(7.0 * 86_400.0),
        proptest::collection::btree_map(prop::sample::select(PriceZone::ALL.to_vec()), zone, 0..8),
        0u64..1_000_000,
        proptest::collection::btree_map(
            prop::sample::select(vec![
                "us-east-1",
                "eu-west-1",
                "ap-southeast-2",
                "sa-east-1",
            ]),
            region,
            1..4,
        ),
        0u64..GIB,
        0u32..30,
    )
        .prop_map(|(duration_s, zones, dns, regions, inter, rules)| {
            let mut t = TrafficTotals {
                duration_s,
                dns_queries: dns,
                waf_rules: rules,
                ..TrafficTotals::default()
            };
            for (zone, (requests, bytes)) in zones {
                t.edge.insert(zone, ZoneTraffic { requests, bytes });
                t.requests += requests;
            }
            t.waf_evaluated_requests = t.requests;
            for (name, (requests, bytes_out, busy_us, ws, conns)) in regions {
                t.origins.insert(
                    name.to_owned(),
                    RegionTraffic {
                        requests,
                        bytes_out,
                        bytes_in: bytes_out / 10,
                        busy_us,
                        websocket_seconds: ws,
                        new_connections: conns,
                    },
                );
                t.inter_region_bytes.insert(name.to_owned(), inter);
            }
            t
        })
}

fn all_items(r: &edgeroute_sim::cost::CostReport) -> BTreeMap<String, f64> {
    let mut m = BTreeMap::new();
    for (k, v) in &r.hybrid.items {
        m.insert(format!("hybrid.{k}"), *v);
    }
    for (k, v) in &r.cloud_only.items {
        m.insert(format!("cloud_only.{k}"), *v);
    }
    m
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// With flat prices every item is fixed + linear: C(kT) - C(0) = k (C(T) - C(0)).
    #[test]
    fn costs_scale_linearly_where_prices_are_linear(t in arb_traffic(), k in 1u64..50) {
        let prices = flat_table();
        let c0 = all_items(&cost_report(&prices, &scaled(&t, 0)).unwrap());
        let c1 = all_items(&cost_report(&prices, &t).unwrap());
        let ck = all_items(&cost_report(&prices, &scaled(&t, k)).unwrap());
        #[allow(clippy::cast_precision_loss, reason = "small k")]
        let kf = k as f64;
        for (name, v0) in &c0 {
            let expected = kf * (c1[name] - v0);
            let got = ck[name] - v0;
            prop_assert!((got - expected).abs() <= 1e-7 * expected.abs().max(1.0),
                "{name}: C(kT)-C(0) = {got}, k(C(T)-C(0)) = {expected}");
        }
    }

    /// Fixed monthly fees do not move with traffic, and no item falls when traffic grows, with
    /// the built-in (tiered) prices.
    #[test]
    fn fixed_fees_stay_and_costs_never_fall(t in arb_traffic(), k in 1u64..50) {
        let prices = PriceTable::builtin().unwrap();
        let c1 = all_items(&cost_report(&prices, &t).unwrap());
        let ck = all_items(&cost_report(&prices, &scaled(&t, k)).unwrap());
        for fixed in ["hybrid.edge_plan", "hybrid.edge_addons", "hybrid.certificates", "cloud_only.certificates"] {
            prop_assert_eq!(c1[fixed], ck[fixed], "{}", fixed);
        }
        for (name, v1) in &c1 {
            prop_assert!(ck[name] >= v1 - 1e-9, "{name}: {} < {v1}", ck[name]);
        }
    }

    /// Twice the counts over twice the time is the same month, for any prices.
    #[test]
    fn extrapolation_depends_only_on_the_rate(t in arb_traffic()) {
        let prices = PriceTable::builtin().unwrap();
        let mut doubled = scaled(&t, 2);
        doubled.duration_s = t.duration_s * 2.0;
        let a = cost_report(&prices, &t).unwrap();
        let b = cost_report(&prices, &doubled).unwrap();
        prop_assert_eq!(all_items(&a), all_items(&b));
    }
}

#[test]
fn volume_factor_equals_scaled_counts() {
    let prices = PriceTable::builtin().unwrap();
    let t = one_day();
    for k in [2u64, 10, 1000] {
        #[allow(clippy::cast_precision_loss, reason = "small k")]
        let a = all_items(&cost_report_at(&prices, &t, k as f64).unwrap());
        let b = all_items(&cost_report(&prices, &scaled(&t, k)).unwrap());
        for (name, v) in &a {
            assert!(close(*v, b[name]), "{name} at {k}x: {v} vs {}", b[name]);
        }
    }
    for bad in [0.0, -1.0, f64::NAN] {
        assert!(matches!(
            cost_report_at(&prices, &t, bad),
            Err(CostError::BadVolume(_))
        ));
    }
}

#[test]
fn monthly_volume_is_reported() {
    let r = cost_report(&flat_table(), &one_day()).unwrap();
    assert!(close(r.month.requests_million, 30.0));
    assert!(close(r.month.edge_gb, 300.0));
    assert!(close(r.month.origin_gb, 60.0));
    assert!(close(r.month.scale, 30.0));
    assert!(close(BYTES_PER_GB, f64::from(1u32 << 30)));
}
