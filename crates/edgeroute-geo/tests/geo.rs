//! Properties of the geometry and lookups over the embedded tables.
#![allow(clippy::unwrap_used, reason = "tests")]

use edgeroute_geo::{
    EARTH_RADIUS_KM, LatLon, colo, colos, countries, country, fibre_rtt_ms, great_circle_km,
    nearest_colo, route_inflation, route_inflation_bands, subdivision, subdivisions,
    subdivisions_of,
};
use proptest::prelude::*;

fn point() -> impl Strategy<Value = LatLon> {
    (-90.0f64..=90.0, -180.0f64..=180.0).prop_map(|(lat, lon)| LatLon::new(lat, lon))
}

proptest! {
    #[test]
    fn distance_is_a_metric(a in point(), b in point(), c in point()) {
        let ab = great_circle_km(a, b);
        prop_assert!(ab >= 0.0);
        prop_assert!(ab <= std::f64::consts::PI * EARTH_RADIUS_KM + 1e-6);
        prop_assert!((ab - great_circle_km(b, a)).abs() < 1e-6);
        prop_assert!(great_circle_km(a, c) <= ab + great_circle_km(b, c) + 1e-6);
    }

    #[test]
    fn inflation_stays_within_the_measured_range(km in prop::num::f64::ANY) {
        let f = route_inflation(km);
        let bands = route_inflation_bands();
        let lo = bands.iter().map(|b| b.min_rtt_p50).fold(f64::INFINITY, f64::min);
        let hi = bands.iter().map(|b| b.min_rtt_p50).fold(0.0, f64::max);
        prop_assert!(f >= 1.0);
        prop_assert!(f >= lo && f <= hi, "{km} km -> {f}");
        if km.is_finite() && km >= 0.0 {
            prop_assert!(fibre_rtt_ms(km) * f >= fibre_rtt_ms(km));
        }
    }

    #[test]
    fn nearest_colo_is_a_closest_colo(p in point()) {
        let got = nearest_colo(p).unwrap();
        let best = colos()
            .iter()
            .map(|c| great_circle_km(p, c.point))
            .fold(f64::INFINITY, f64::min);
        prop_assert!((great_circle_km(p, got.point) - best).abs() < 1e-6);
    }
}

#[test]
fn every_row_can_be_looked_up_by_its_key() {
    for c in countries() {
        assert_eq!(country(c.iso2).unwrap().iso3, c.iso3);
    }
    for s in subdivisions() {
        assert_eq!(subdivision(s.code).unwrap().name, s.name);
        assert!(subdivisions_of(s.country).iter().any(|t| t.code == s.code));
    }
    for c in colos() {
        assert_eq!(colo(c.iata).unwrap().point, c.point);
    }
}

#[test]
fn every_colo_is_its_own_nearest() {
    for c in colos() {
        let n = nearest_colo(c.point).unwrap();
        assert!(
            great_circle_km(c.point, n.point) < 1e-6,
            "{} -> {}",
            c.iata,
            n.iata
        );
    }
}
