//! ISO 3166-1 countries with continent, population and two reference points.

use std::fmt;
use std::str::FromStr;
use std::sync::LazyLock;

use crate::csv::{self, Record};
use crate::error::{DataError, DataErrorKind};
use crate::point::LatLon;

const FILE: &str = "countries.csv";
const TEXT: &str = include_str!("../data/countries.csv");
const HEADER: &[&str] = &[
    "iso2",
    "iso3",
    "isonum",
    "name",
    "continent",
    "population",
    "area_km2",
    "centroid_lat",
    "centroid_lon",
    "popw_lat",
    "popw_lon",
    "popw_places",
    "popw_places_pop",
];

const SUPPLEMENT_FILE: &str = "country_points_supplement.csv";
const SUPPLEMENT_TEXT: &str = include_str!("../data/country_points_supplement.csv");
const SUPPLEMENT_HEADER: &[&str] = &["iso2", "lat", "lon", "source"];

/// A continent, by its two-letter code as used in `countries.csv` (GeoNames).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Continent {
    /// Africa.
    AF,
    /// Antarctica.
    AN,
    /// Asia.
    AS,
    /// Europe.
    EU,
    /// North America (with Central America and the Caribbean).
    NA,
    /// Oceania.
    OC,
    /// South America.
    SA,
}

impl Continent {
    /// Every continent, in code order.
    pub const ALL: [Continent; 7] = [
        Continent::AF,
        Continent::AN,
        Continent::AS,
        Continent::EU,
        Continent::NA,
        Continent::OC,
        Continent::SA,
    ];

    /// The two-letter code, such as `"EU"`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Continent::AF => "AF",
            Continent::AN => "AN",
            Continent::AS => "AS",
            Continent::EU => "EU",
            Continent::NA => "NA",
            Continent::OC => "OC",
            Continent::SA => "SA",
        }
    }

    /// The English name, such as `"Europe"`.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Continent::AF => "Africa",
            Continent::AN => "Antarctica",
            Continent::AS => "Asia",
            Continent::EU => "Europe",
            Continent::NA => "North America",
            Continent::OC => "Oceania",
            Continent::SA => "South America",
        }
    }
}

impl fmt::Display for Continent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error for a string that is not a continent code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown continent `{0}`, expected one of AF, AN, AS, EU, NA, OC, SA")]
pub struct UnknownContinent(String);

impl FromStr for Continent {
    type Err = UnknownContinent;

    /// Parses a two-letter code (`"EU"`), case-sensitively.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Continent::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| UnknownContinent(s.to_owned()))
    }
}

/// A country or territory from ISO 3166-1.
#[derive(Debug, Clone, PartialEq)]
pub struct Country {
    /// ISO 3166-1 alpha-2 code, such as `"DE"`.
    pub iso2: &'static str,
    /// ISO 3166-1 alpha-3 code, such as `"DEU"`.
    pub iso3: &'static str,
    /// ISO 3166-1 numeric code, such as `276`.
    pub isonum: u16,
    /// English short name.
    pub name: &'static str,
    /// Continent.
    pub continent: Continent,
    /// Population (about 2019; 0 for uninhabited territories).
    pub population: u64,
    /// Area in km².
    pub area_km2: f64,
    /// Geographic centroid. When the data has none (51 small territories), the population
    /// point stands in, then the supplement table; see [`Country::centroid_published`].
    pub centroid: LatLon,
    /// Population-weighted centre (from GeoNames places of 1,000+ people). When the data has
    /// none, the centroid stands in, then the supplement table; see
    /// [`Country::population_point_published`]. This is the point to route a country from.
    pub population_point: LatLon,
    /// Whether [`Country::centroid`] comes from the data rather than a fallback.
    pub centroid_published: bool,
    /// Whether [`Country::population_point`] comes from the data rather than a fallback.
    pub population_point_published: bool,
}

static COUNTRIES: LazyLock<Result<Vec<Country>, DataError>> = LazyLock::new(parse);

/// Every country, sorted by ISO alpha-2 code (250 rows).
#[must_use]
pub fn countries() -> &'static [Country] {
    COUNTRIES.as_deref().unwrap_or(&[])
}

/// The country with ISO 3166-1 alpha-2 code `iso2` (upper case, such as `"GB"`).
#[must_use]
pub fn country(iso2: &str) -> Option<&'static Country> {
    let all = countries();
    all.binary_search_by(|c| c.iso2.cmp(iso2))
        .ok()
        .and_then(|i| all.get(i))
}

pub(crate) fn check() -> Result<(), DataError> {
    COUNTRIES.as_ref().map(|_| ()).map_err(Clone::clone)
}

fn parse() -> Result<Vec<Country>, DataError> {
    let supplement = csv::records(SUPPLEMENT_FILE, SUPPLEMENT_TEXT, SUPPLEMENT_HEADER)?;
    let mut used = vec![false; supplement.len()];
    let mut out: Vec<Country> = Vec::new();
    for row in csv::records(FILE, TEXT, HEADER)? {
        let iso2 = code(&row, 0, 2)?;
        if let Some(prev) = out.last()
            && prev.iso2 >= iso2
        {
            return Err(order_error(&row, prev.iso2, iso2));
        }
        let continent_text = row.required(4)?;
        let continent = continent_text.parse().map_err(|_| {
            row.error(DataErrorKind::Invalid {
                column: "continent",
                value: continent_text.to_owned(),
                reason: "not a continent code",
            })
        })?;
        let isonum = u16::try_from(row.u64(2)?).map_err(|_| {
            row.error(DataErrorKind::Invalid {
                column: "isonum",
                value: row.text(2).unwrap_or_default().to_owned(),
                reason: "out of range",
            })
        })?;
        let centroid = point(&row, 7, 8)?;
        let popw = point(&row, 9, 10)?;
        // The places counts only document how the population point was made; check them.
        row.opt_u64(11)?;
        row.opt_u64(12)?;
        let fallback = match (centroid, popw) {
            (Some(_), _) | (_, Some(_)) => None,
            (None, None) => {
                let found = supplement
                    .iter()
                    .position(|s| s.text(0).is_ok_and(|c| c == iso2));
                let index = found.ok_or_else(|| {
                    row.error(DataErrorKind::Missing {
                        column: "centroid_lat",
                    })
                })?;
                if let Some(flag) = used.get_mut(index) {
                    *flag = true;
                }
                let s = supplement.get(index).ok_or_else(|| {
                    row.error(DataErrorKind::Missing {
                        column: "centroid_lat",
                    })
                })?;
                let p = LatLon::new(s.f64(1)?, s.f64(2)?);
                check_point(s, p)?;
                Some(p)
            }
        };
        let centroid_or = centroid.or(popw).or(fallback);
        let popw_or = popw.or(centroid).or(fallback);
        let (Some(centroid_pt), Some(popw_pt)) = (centroid_or, popw_or) else {
            return Err(row.error(DataErrorKind::Missing {
                column: "centroid_lat",
            }));
        };
        out.push(Country {
            iso2,
            iso3: code(&row, 1, 3)?,
            isonum,
            name: row.required(3)?.trim(),
            continent,
            population: row.u64(5)?,
            area_km2: row.f64(6)?,
            centroid: centroid_pt,
            population_point: popw_pt,
            centroid_published: centroid.is_some(),
            population_point_published: popw.is_some(),
        });
    }
    // A supplement row for a country that does not need it is a data mistake too.
    if let Some((index, _)) = used.iter().enumerate().find(|(_, u)| !**u)
        && let Some(row) = supplement.get(index)
    {
        return Err(row.error(DataErrorKind::Invalid {
            column: "iso2",
            value: row.text(0)?.to_owned(),
            reason: "country has a published point or does not exist",
        }));
    }
    Ok(out)
}

/// An upper-case ASCII code of exactly `len` letters.
pub(crate) fn code(row: &Record, index: usize, len: usize) -> Result<&'static str, DataError> {
    let value = row.required(index)?;
    if value.len() == len && value.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(value)
    } else {
        Err(row.error(DataErrorKind::Invalid {
            column: row.column(index),
            value: value.to_owned(),
            reason: "expected upper-case letters of the code's length",
        }))
    }
}

/// An optional point from two columns, both present or both empty.
pub(crate) fn point(row: &Record, lat: usize, lon: usize) -> Result<Option<LatLon>, DataError> {
    match (row.opt_f64(lat)?, row.opt_f64(lon)?) {
        (Some(la), Some(lo)) => {
            let p = LatLon::new(la, lo);
            check_point(row, p)?;
            Ok(Some(p))
        }
        (None, None) => Ok(None),
        _ => Err(row.error(DataErrorKind::Invalid {
            column: "lat/lon",
            value: String::new(),
            reason: "only one of latitude and longitude is given",
        })),
    }
}

/// A required point from two columns.
pub(crate) fn required_point(row: &Record, lat: usize, lon: usize) -> Result<LatLon, DataError> {
    let p = LatLon::new(row.f64(lat)?, row.f64(lon)?);
    check_point(row, p)?;
    Ok(p)
}

fn check_point(row: &Record, p: LatLon) -> Result<(), DataError> {
    if p.is_valid() {
        Ok(())
    } else {
        Err(row.error(DataErrorKind::Invalid {
            column: "lat/lon",
            value: format!("{},{}", p.lat, p.lon),
            reason: "out of range",
        }))
    }
}

pub(crate) fn order_error(row: &Record, prev: &str, key: &str) -> DataError {
    if prev == key {
        row.error(DataErrorKind::Duplicate {
            key: key.to_owned(),
        })
    } else {
        row.error(DataErrorKind::Unsorted {
            key: key.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_row() {
        assert_eq!(parse().unwrap().len(), 250);
        assert_eq!(countries().len(), 250);
    }

    #[test]
    fn lookup() {
        let de = country("DE").unwrap();
        assert_eq!(de.iso3, "DEU");
        assert_eq!(de.isonum, 276);
        assert_eq!(de.continent, Continent::EU);
        assert!(de.population > 80_000_000);
        assert!(de.centroid_published && de.population_point_published);
        assert!(country("XX").is_none());
        assert!(country("de").is_none());
    }

    #[test]
    fn fallbacks_are_marked() {
        let ai = country("AI").unwrap();
        assert!(!ai.centroid_published && ai.population_point_published);
        assert_eq!(ai.centroid, ai.population_point);
        let aq = country("AQ").unwrap();
        assert!(aq.centroid_published && !aq.population_point_published);
        let bv = country("BV").unwrap();
        assert!(!bv.centroid_published && !bv.population_point_published);
        assert!(bv.population_point.lat < -50.0);
    }

    #[test]
    fn names_are_trimmed() {
        assert_eq!(
            country("BQ").unwrap().name,
            "Bonaire, Saint Eustatius and Saba"
        );
    }

    #[test]
    fn continent_round_trip() {
        for c in Continent::ALL {
            assert_eq!(c.as_str().parse::<Continent>().unwrap(), c);
        }
        assert!("eu".parse::<Continent>().is_err());
        assert!("XX".parse::<Continent>().is_err());
    }
}
