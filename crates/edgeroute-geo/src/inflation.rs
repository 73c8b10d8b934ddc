//! Route inflation: how much slower than the fibre floor real Internet paths are, by distance.

use std::sync::LazyLock;

use crate::csv;
use crate::error::{DataError, DataErrorKind};

const FILE: &str = "route_inflation_wonderproxy_2020.csv";
const TEXT: &str = include_str!("../data/route_inflation_wonderproxy_2020.csv");
const HEADER: &[&str] = &[
    "dist_km",
    "n",
    "minrtt_over_fibre_p50",
    "minrtt_over_fibre_p10",
    "minrtt_over_fibre_p90",
    "avgrtt_over_fibre_p50",
    "minrtt_over_c_p50",
];

/// The label of the summary row over every distance band.
const SUMMARY_LABEL: &str = "all>=500km";

/// Inflation used only if the embedded table were empty (this crate's tests rule that out).
const FALLBACK_INFLATION: f64 = 2.0;

/// Measured route inflation for city pairs in one distance band: ratios of measured RTT to the
/// fibre RTT (`2 × great-circle / 200 km/ms`) over the pairs in the band.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InflationBand {
    /// Lower bound of the band's great-circle distance, km.
    pub min_km: f64,
    /// Upper bound of the band's great-circle distance, km.
    pub max_km: f64,
    /// City pairs measured.
    pub pairs: u32,
    /// Median of minimum-RTT / fibre-RTT: the value [`route_inflation`] interpolates.
    pub min_rtt_p50: f64,
    /// 10th percentile of minimum-RTT / fibre-RTT.
    pub min_rtt_p10: f64,
    /// 90th percentile of minimum-RTT / fibre-RTT.
    pub min_rtt_p90: f64,
    /// Median of average-RTT / fibre-RTT.
    pub avg_rtt_p50: f64,
}

impl InflationBand {
    /// Geometric mid-point of the band, km: where its median is anchored for interpolation.
    #[must_use]
    pub fn anchor_km(&self) -> f64 {
        (self.min_km * self.max_km).sqrt()
    }
}

struct Table {
    bands: Vec<InflationBand>,
    overall: f64,
}

static TABLE: LazyLock<Result<Table, DataError>> = LazyLock::new(parse);

/// The measured distance bands, in increasing distance (5 bands from 500 km to 20,100 km).
#[must_use]
pub fn route_inflation_bands() -> &'static [InflationBand] {
    TABLE.as_ref().map_or(&[], |t| t.bands.as_slice())
}

/// Median minimum-RTT / fibre-RTT over all measured pairs of 500 km or more (1.97).
#[must_use]
pub fn route_inflation_overall() -> f64 {
    TABLE.as_ref().map_or(FALLBACK_INFLATION, |t| t.overall)
}

/// The median route-inflation factor for a great-circle distance in km: measured minimum RTT
/// divided by the fibre RTT ([`crate::fibre_rtt_ms`]).
///
/// Each band's median is anchored at the band's geometric mid-point (707, 1,581, 3,536,
/// 7,071 and 14,177 km) and the factor is interpolated linearly in `ln(distance)` between
/// anchors. Below the first anchor it stays at the first band's value (3.19: short paths are
/// the most roundabout, and the data has nothing under 500 km); past the last anchor it stays at
/// the last band's (1.80). The result is always at least 1, and a negative or non-finite
/// distance gives the short-distance value.
#[must_use]
pub fn route_inflation(distance_km: f64) -> f64 {
    let bands = route_inflation_bands();
    let (Some(first), Some(last)) = (bands.first(), bands.last()) else {
        return FALLBACK_INFLATION;
    };
    if distance_km.is_nan() || distance_km <= first.anchor_km() {
        return first.min_rtt_p50;
    }
    if distance_km >= last.anchor_km() {
        return last.min_rtt_p50;
    }
    let x = distance_km.ln();
    for pair in bands.windows(2) {
        if let [lo, hi] = pair
            && distance_km <= hi.anchor_km()
        {
            let (x0, x1) = (lo.anchor_km().ln(), hi.anchor_km().ln());
            let t = (x - x0) / (x1 - x0);
            return lo.min_rtt_p50 + t * (hi.min_rtt_p50 - lo.min_rtt_p50);
        }
    }
    last.min_rtt_p50
}

pub(crate) fn check() -> Result<(), DataError> {
    TABLE.as_ref().map(|_| ()).map_err(Clone::clone)
}

fn parse() -> Result<Table, DataError> {
    let mut bands: Vec<InflationBand> = Vec::new();
    let mut overall = None;
    for row in csv::records(FILE, TEXT, HEADER)? {
        let label = row.required(0)?;
        let ratio = |index| {
            let v = row.f64(index)?;
            if v < 1.0 {
                return Err(row.error(DataErrorKind::Invalid {
                    column: row.column(index),
                    value: v.to_string(),
                    reason: "nothing beats the fibre floor: a ratio is at least 1",
                }));
            }
            Ok(v)
        };
        let min_rtt_p50 = ratio(2)?;
        let pairs = u32::try_from(row.u64(1)?).unwrap_or(u32::MAX);
        // The speed-of-light ratio documents the source; check it parses.
        ratio(6)?;
        if label == SUMMARY_LABEL {
            if overall.replace(min_rtt_p50).is_some() {
                return Err(row.error(DataErrorKind::Duplicate {
                    key: label.to_owned(),
                }));
            }
            continue;
        }
        let bad_label = || {
            row.error(DataErrorKind::Invalid {
                column: "dist_km",
                value: label.to_owned(),
                reason: "expected `<min>-<max>` km with min < max, after the previous band",
            })
        };
        let (lo, hi) = label.split_once('-').ok_or_else(bad_label)?;
        let (min_km, max_km) = match (lo.parse::<f64>(), hi.parse::<f64>()) {
            (Ok(a), Ok(b)) if a > 0.0 && a < b => (a, b),
            _ => return Err(bad_label()),
        };
        if bands.last().is_some_and(|prev| prev.max_km > min_km) {
            return Err(bad_label());
        }
        bands.push(InflationBand {
            min_km,
            max_km,
            pairs,
            min_rtt_p50,
            min_rtt_p10: ratio(3)?,
            min_rtt_p90: ratio(4)?,
            avg_rtt_p50: ratio(5)?,
        });
    }
    let overall = overall.ok_or_else(|| {
        DataError::new(
            FILE,
            1,
            DataErrorKind::Missing {
                column: SUMMARY_LABEL,
            },
        )
    })?;
    Ok(Table { bands, overall })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_row() {
        let t = parse().unwrap();
        assert_eq!(t.bands.len(), 5);
        assert_eq!(t.overall, 1.97);
    }

    #[test]
    fn anchors_reproduce_band_medians() {
        for band in route_inflation_bands() {
            let got = route_inflation(band.anchor_km());
            assert!((got - band.min_rtt_p50).abs() < 1e-9, "{band:?}: {got}");
        }
    }

    #[test]
    fn clamped_outside_the_data() {
        assert_eq!(route_inflation(0.0), 3.19);
        assert_eq!(route_inflation(100.0), 3.19);
        assert_eq!(route_inflation(-5.0), 3.19);
        assert_eq!(route_inflation(f64::NAN), 3.19);
        assert_eq!(route_inflation(20_000.0), 1.8);
        assert_eq!(route_inflation(f64::INFINITY), 1.8);
    }

    #[test]
    fn interpolates_monotonically_between_anchors() {
        let mut prev = route_inflation(500.0);
        let mut km = 500.0;
        while km < 20_000.0 {
            let now = route_inflation(km);
            assert!(now <= prev + 1e-12, "inflation rises at {km} km");
            assert!(now >= 1.0);
            prev = now;
            km *= 1.05;
        }
        // Between 1,581 km (2.62) and 3,536 km (2.25).
        let mid = route_inflation(2500.0);
        assert!(mid > 2.25 && mid < 2.62, "{mid}");
    }
}
