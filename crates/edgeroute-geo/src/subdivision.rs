//! ISO 3166-2 subdivisions, joined with population shares where the data has them.

use std::sync::LazyLock;

use crate::country::{order_error, point, required_point};
use crate::csv;
use crate::error::{DataError, DataErrorKind};
use crate::point::LatLon;

const FILE: &str = "subdivisions_iso3166_2.csv";
const TEXT: &str = include_str!("../data/subdivisions_iso3166_2.csv");
const HEADER: &[&str] = &["code", "country", "name", "type", "parent", "lat", "lon"];

const POP_FILE: &str = "subdivision_population_geonames.csv";
const POP_TEXT: &str = include_str!("../data/subdivision_population_geonames.csv");
const POP_HEADER: &[&str] = &[
    "iso_code",
    "country",
    "iso_name",
    "geonames_admin1",
    "places",
    "places_pop",
    "popw_lat",
    "popw_lon",
    "method",
    "dist_to_iso_point_km",
    "share_of_country",
    "est_population",
];

/// An ISO 3166-2 subdivision (state, province, region, ...).
#[derive(Debug, Clone, PartialEq)]
pub struct Subdivision {
    /// ISO 3166-2 code, such as `"US-CA"` or `"GB-ENG"`; always `"<country>-<part>"`.
    pub code: &'static str,
    /// ISO 3166-1 alpha-2 code of the country.
    pub country: &'static str,
    /// Name as ISO lists it (for example `"Bruxelles-Capitale, Région de"`).
    pub name: &'static str,
    /// The subdivision's category as ISO names it, such as `"State"` or `"Prefecture"`.
    pub kind: &'static str,
    /// Code of the parent subdivision for second-level subdivisions (for example `"GB-ENG"` for
    /// `"GB-LND"`).
    pub parent: Option<&'static str>,
    /// A representative point (from the iso3166-2 package).
    pub point: LatLon,
    /// Estimated share of the country's population, for the top-level subdivisions of the 23
    /// countries the population table covers (rough, about ±20%; the shares of a country sum
    /// to 1 within rounding).
    pub population_share: Option<f64>,
    /// Population-weighted centre, where [`Subdivision::population_share`] is known.
    pub population_point: Option<LatLon>,
    /// Estimated population, where [`Subdivision::population_share`] is known.
    pub population: Option<u64>,
}

impl Subdivision {
    /// The best point to route this subdivision from: the population-weighted centre if known,
    /// else [`Subdivision::point`].
    #[must_use]
    pub fn routing_point(&self) -> LatLon {
        self.population_point.unwrap_or(self.point)
    }
}

static SUBDIVISIONS: LazyLock<Result<Vec<Subdivision>, DataError>> = LazyLock::new(parse);

/// Every subdivision, sorted by code (5,046 rows).
#[must_use]
pub fn subdivisions() -> &'static [Subdivision] {
    SUBDIVISIONS.as_deref().unwrap_or(&[])
}

/// The subdivision with ISO 3166-2 code `code` (upper case, such as `"JP-13"`).
#[must_use]
pub fn subdivision(code: &str) -> Option<&'static Subdivision> {
    let all = subdivisions();
    all.binary_search_by(|s| s.code.cmp(code))
        .ok()
        .and_then(|i| all.get(i))
}

/// The subdivisions of country `iso2`, sorted by code (empty for an unknown country or one
/// without subdivisions).
#[must_use]
pub fn subdivisions_of(iso2: &str) -> &'static [Subdivision] {
    let all = subdivisions();
    // Codes are "<country>-..." and sorted, so a country's rows are contiguous.
    let start = all.partition_point(|s| s.country < iso2);
    let len = all
        .get(start..)
        .map_or(0, |rest| rest.partition_point(|s| s.country == iso2));
    all.get(start..start + len).unwrap_or(&[])
}

pub(crate) fn check() -> Result<(), DataError> {
    SUBDIVISIONS.as_ref().map(|_| ()).map_err(Clone::clone)
}

fn parse() -> Result<Vec<Subdivision>, DataError> {
    let mut out: Vec<Subdivision> = Vec::new();
    for row in csv::records(FILE, TEXT, HEADER)? {
        let code = row.required(0)?;
        let country = row.required(1)?;
        if code
            .split_once('-')
            .is_none_or(|(c, rest)| c != country || rest.is_empty())
        {
            return Err(row.error(DataErrorKind::Invalid {
                column: "code",
                value: code.to_owned(),
                reason: "code must be `<country>-<part>`",
            }));
        }
        if let Some(prev) = out.last()
            && prev.code >= code
        {
            return Err(order_error(&row, prev.code, code));
        }
        out.push(Subdivision {
            code,
            country,
            name: row.required(2)?,
            kind: row.required(3)?,
            parent: row.optional(4)?,
            point: required_point(&row, 5, 6)?,
            population_share: None,
            population_point: None,
            population: None,
        });
    }
    // Parents must exist and belong to the same country.
    for sub in &out {
        if let Some(parent) = sub.parent {
            let found = out.binary_search_by(|s| s.code.cmp(parent)).is_ok();
            if !found || !parent.starts_with(sub.country) {
                let line = line_of(&out, sub.code);
                return Err(DataError::new(
                    FILE,
                    line,
                    DataErrorKind::UnknownReference {
                        column: "parent",
                        table: "subdivision",
                        value: parent.to_owned(),
                    },
                ));
            }
        }
    }
    join_population(&mut out)?;
    Ok(out)
}

/// The line of the subdivision `code` in the file (rows are sorted, header is line 1).
fn line_of(all: &[Subdivision], code: &str) -> usize {
    all.binary_search_by(|s| s.code.cmp(code))
        .map_or(0, |index| index + 2)
}

fn join_population(out: &mut [Subdivision]) -> Result<(), DataError> {
    for row in csv::records(POP_FILE, POP_TEXT, POP_HEADER)? {
        let code = row.required(0)?;
        let country = row.required(1)?;
        let share = row.f64(10)?;
        if !(0.0..=1.0).contains(&share) {
            return Err(row.error(DataErrorKind::Invalid {
                column: "share_of_country",
                value: share.to_string(),
                reason: "a share must be between 0 and 1",
            }));
        }
        let popw = point(&row, 6, 7)?;
        let population = row.u64(11)?;
        // Columns that only document the estimate; check that they parse.
        row.u64(4)?;
        row.u64(5)?;
        row.opt_f64(9)?;
        row.required(8)?;
        let index = out.binary_search_by(|s| s.code.cmp(code)).map_err(|_| {
            row.error(DataErrorKind::UnknownReference {
                column: "iso_code",
                table: "subdivision",
                value: code.to_owned(),
            })
        })?;
        let Some(sub) = out.get_mut(index) else {
            continue;
        };
        if sub.country != country {
            return Err(row.error(DataErrorKind::Invalid {
                column: "country",
                value: country.to_owned(),
                reason: "does not match the subdivision's country",
            }));
        }
        if sub.population_share.is_some() {
            return Err(row.error(DataErrorKind::Duplicate {
                key: code.to_owned(),
            }));
        }
        sub.population_share = Some(share);
        sub.population_point = popw;
        sub.population = Some(population);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_row() {
        let all = parse().unwrap();
        assert_eq!(all.len(), 5046);
        assert_eq!(
            all.iter().filter(|s| s.population_share.is_some()).count(),
            519
        );
        assert_eq!(all.iter().filter(|s| s.parent.is_some()).count(), 1456);
    }

    #[test]
    fn lookup_and_quoted_names() {
        let ca = subdivision("US-CA").unwrap();
        assert_eq!(ca.name, "California");
        assert_eq!(ca.country, "US");
        assert!(ca.population_share.unwrap() > 0.1);
        assert_eq!(
            subdivision("BE-BRU").unwrap().name,
            "Bruxelles-Capitale, Région de"
        );
        assert_eq!(subdivision("GB-LND").unwrap().parent, Some("GB-ENG"));
        assert!(subdivision("US-XX").is_none());
    }

    #[test]
    fn subdivisions_of_a_country_are_contiguous() {
        let us = subdivisions_of("US");
        assert!(us.len() >= 50);
        assert!(us.iter().all(|s| s.country == "US"));
        assert!(subdivisions_of("XX").is_empty());
        assert!(subdivisions_of("").is_empty());
        let total: usize = crate::countries()
            .iter()
            .map(|c| subdivisions_of(c.iso2).len())
            .sum();
        assert_eq!(total, subdivisions().len());
    }

    #[test]
    fn population_shares_sum_to_one_per_country() {
        let mut sums = std::collections::BTreeMap::<&str, f64>::new();
        for s in subdivisions() {
            if let Some(share) = s.population_share {
                *sums.entry(s.country).or_default() += share;
            }
        }
        assert_eq!(sums.len(), 23);
        for (country, sum) in sums {
            assert!((sum - 1.0).abs() < 1e-3, "{country}: {sum}");
        }
    }
}
