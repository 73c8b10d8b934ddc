//! Named points (`name,lat,lon`), the input of `edgeroute latency-matrix --points`.

use edgeroute_geo::{LatLon, countries};

use super::input::{self, InputError};

const HEADER: &[&str] = &["name", "lat", "lon"];

/// A named location.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedPoint {
    /// The name, as written in the file.
    pub name: String,
    /// The location.
    pub point: LatLon,
}

/// Parses a points file:
///
/// ```text
/// name,lat,lon
/// berlin,52.52,13.405
/// sydney,-33.87,151.21
/// ```
///
/// The header is required; blank lines and `#` comments are allowed; fields are not quoted (a
/// name may not hold a comma). `origin` names the file in errors.
///
/// # Errors
/// A wrong header or field count, an empty or repeated name, a latitude outside ±90 or a
/// longitude outside ±180: an [`InputError`] with line and column.
pub fn parse_points(origin: &str, text: &str) -> Result<Vec<NamedPoint>, InputError> {
    let mut out: Vec<NamedPoint> = Vec::new();
    for row in input::rows(origin, text, HEADER)? {
        let name = input::text(&row, 0);
        if name.is_empty() {
            return Err(row.error_at(0, "empty name"));
        }
        if out.iter().any(|p| p.name == name) {
            return Err(row.error_at(0, format!("name `{name}` is used twice")));
        }
        let lat = input::number(&row, 1, "latitude")?;
        if !(-90.0..=90.0).contains(&lat) {
            return Err(row.error_at(1, format!("latitude `{lat}` is outside -90..90")));
        }
        let lon = input::number(&row, 2, "longitude")?;
        if !(-180.0..=180.0).contains(&lon) {
            return Err(row.error_at(2, format!("longitude `{lon}` is outside -180..180")));
        }
        out.push(NamedPoint {
            name: name.to_owned(),
            point: LatLon::new(lat, lon),
        });
    }
    Ok(out)
}

/// Every country's population-weighted centre, named by ISO alpha-2 code, in code order (the
/// default points of `edgeroute latency-matrix`). Territories without one use their centroid or
/// the supplement point (see [`edgeroute_geo::Country::population_point`]).
#[must_use]
pub fn country_points() -> Vec<NamedPoint> {
    countries()
        .iter()
        .map(|c| NamedPoint {
            name: c.iso2.to_owned(),
            point: c.population_point,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_points() {
        let p = parse_points("p.csv", "name,lat,lon\nberlin, 52.52 ,13.405\n\n").unwrap();
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].name, "berlin");
        assert_eq!(p[0].point, LatLon::new(52.52, 13.405));
    }

    #[test]
    fn errors_name_line_and_column() {
        let cases = [
            ("name,lat,lon\nx,91,0\n", 2, 3, "latitude"),
            ("name,lat,lon\nx,0,-181\n", 2, 5, "longitude"),
            ("name,lat,lon\nx,north,0\n", 2, 3, "not a finite number"),
            ("name,lat,lon\nx,1,2\nx,3,4\n", 3, 1, "twice"),
            ("name,lat,lon\n,1,2\n", 2, 1, "empty name"),
            ("name,lat,lon\nx,1\n", 2, 4, "expected 3 fields"),
            ("lat,lon\n", 1, 1, "header"),
        ];
        for (text, line, column, message) in cases {
            let err = parse_points("p.csv", text).unwrap_err();
            assert_eq!((err.line(), err.column()), (line, column), "{err}");
            assert!(err.message().contains(message), "{err}");
        }
    }

    #[test]
    fn default_points_cover_every_country() {
        let p = country_points();
        assert_eq!(p.len(), 250);
        assert!(p.iter().all(|p| p.point.is_valid()));
    }
}
