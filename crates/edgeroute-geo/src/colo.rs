//! Cloudflare data centres ("colos"), by IATA airport code.

use std::sync::LazyLock;

use crate::country::{code, order_error, required_point};
use crate::csv;
use crate::error::DataError;
use crate::point::LatLon;

const FILE: &str = "cloudflare_colos.csv";
const TEXT: &str = include_str!("../data/cloudflare_colos.csv");
const HEADER: &[&str] = &[
    "iata",
    "city",
    "country",
    "cca2",
    "status_region",
    "lat",
    "lon",
    "coord_source",
];

/// A Cloudflare data centre.
#[derive(Debug, Clone, PartialEq)]
pub struct Colo {
    /// IATA code of the nearest airport, as Cloudflare names the data centre (`"FRA"`).
    pub iata: &'static str,
    /// City; `None` for the one data centre whose source row names none (`AGR`, Agra).
    pub city: Option<&'static str>,
    /// Country name as Cloudflare's status page writes it; `None` where the source leaves it
    /// blank (HKG, KHH, MFM, TPE). [`crate::country`] of [`Colo::country`] always has a name.
    pub country_name: Option<&'static str>,
    /// ISO 3166-1 alpha-2 code of the country.
    pub country: &'static str,
    /// Region as Cloudflare's status page groups it (`"Europe"`, `"Asia Pacific"`, ...).
    pub region: &'static str,
    /// Location.
    pub point: LatLon,
    /// Where the coordinates come from.
    pub coord_source: &'static str,
}

struct Table {
    colos: Vec<Colo>,
    /// `unit[i]` is `colos[i].point` as a unit vector, for nearest-point scans.
    unit: Vec<[f64; 3]>,
}

static COLOS: LazyLock<Result<Table, DataError>> = LazyLock::new(parse);

/// Every data centre, sorted by IATA code (339 rows).
#[must_use]
pub fn colos() -> &'static [Colo] {
    COLOS.as_ref().map_or(&[], |t| t.colos.as_slice())
}

/// The data centre with IATA code `iata` (upper case, such as `"LHR"`).
#[must_use]
pub fn colo(iata: &str) -> Option<&'static Colo> {
    let all = colos();
    all.binary_search_by(|c| c.iata.cmp(iata))
        .ok()
        .and_then(|i| all.get(i))
}

/// The data centre nearest to `p` by great-circle distance (ties go to the lower IATA code).
/// This is how the simulator approximates anycast; `None` only if the table were empty, which
/// this crate's tests rule out.
///
/// Cost: one dot product per data centre (about 340); cache the answer per client location on
/// hot paths.
#[must_use]
pub fn nearest_colo(p: LatLon) -> Option<&'static Colo> {
    let table = COLOS.as_ref().ok()?;
    nearest_index(&table.unit, p.unit_vector()).and_then(|i| table.colos.get(i))
}

/// The index in `units` of the unit vector nearest to `target` (largest dot product; the
/// first wins ties).
pub(crate) fn nearest_index(units: &[[f64; 3]], target: [f64; 3]) -> Option<usize> {
    let [tx, ty, tz] = target;
    let mut best: Option<(usize, f64)> = None;
    for (i, [x, y, z]) in units.iter().enumerate() {
        let dot = x * tx + y * ty + z * tz;
        if best.is_none_or(|(_, b)| dot > b) {
            best = Some((i, dot));
        }
    }
    best.map(|(i, _)| i)
}

pub(crate) fn check() -> Result<(), DataError> {
    COLOS.as_ref().map(|_| ()).map_err(Clone::clone)
}

fn parse() -> Result<Table, DataError> {
    let mut colos: Vec<Colo> = Vec::new();
    for row in csv::records(FILE, TEXT, HEADER)? {
        let iata = code(&row, 0, 3)?;
        if let Some(prev) = colos.last()
            && prev.iata >= iata
        {
            return Err(order_error(&row, prev.iata, iata));
        }
        colos.push(Colo {
            iata,
            city: row.optional(1)?,
            country_name: row.optional(2)?,
            country: code(&row, 3, 2)?,
            region: row.required(4)?,
            point: required_point(&row, 5, 6)?,
            coord_source: row.required(7)?,
        });
    }
    let unit = colos.iter().map(|c| c.point.unit_vector()).collect();
    Ok(Table { colos, unit })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::point::great_circle_km;

    #[test]
    fn parses_every_row() {
        assert_eq!(parse().unwrap().colos.len(), 339);
        assert_eq!(colos().len(), 339);
    }

    #[test]
    fn lookup() {
        let fra = colo("FRA").unwrap();
        assert_eq!(fra.country, "DE");
        assert_eq!(fra.region, "Europe");
        assert!(colo("ZZZ").is_none());
    }

    #[test]
    fn nearest_is_the_minimum_distance() {
        let points = [
            LatLon::new(51.5, -0.12),
            LatLon::new(-33.9, 151.2),
            LatLon::new(0.0, 0.0),
            LatLon::new(64.1, -21.9),
            LatLon::new(-89.0, 170.0),
            LatLon::new(35.0, 179.9),
        ];
        for p in points {
            let got = nearest_colo(p).unwrap();
            let want = colos()
                .iter()
                .min_by(|a, b| great_circle_km(p, a.point).total_cmp(&great_circle_km(p, b.point)))
                .unwrap();
            let (dg, dw) = (
                great_circle_km(p, got.point),
                great_circle_km(p, want.point),
            );
            assert!(
                (dg - dw).abs() < 1e-6,
                "{p:?}: {} vs {}",
                got.iata,
                want.iata
            );
        }
        assert_eq!(nearest_colo(LatLon::new(50.05, 8.6)).unwrap().iata, "FRA");
    }
}
