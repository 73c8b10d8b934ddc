//! Geographic and network facts for edgeroute, embedded in the binary.
//!
//! This crate holds the public data the routing engine and the simulator need, parsed once on
//! first use into `&'static` tables: AWS regions with metro coordinates, Cloudflare data
//! centres, ISO 3166-1 countries (continent, population, centroid and population-weighted
//! centre), ISO 3166-2 subdivisions (with population shares for 23 countries), Cloudflare's
//! published IP ranges, the measured AWS inter-region round-trip times and measured route
//! inflation by distance. The data and its sources are listed in `data/README.md`.
//!
//! It does no I/O, reads no clock and has no global state other than the lazily parsed
//! tables.
//!
//! # Should I use this?
//! Use it when you need "where is this region, country or data centre" and "how far, how fast"
//! without a network call or a database. It is not a GeoIP database: it maps codes to places,
//! not IP addresses to countries.
//!
//! # Example
//! ```
//! use edgeroute_geo::{aws_region, country, fibre_rtt_ms, great_circle_km, route_inflation};
//!
//! let london = aws_region("eu-west-2").ok_or("no eu-west-2")?;
//! let germany = country("DE").ok_or("no DE")?;
//! let km = great_circle_km(germany.population_point, london.point);
//! assert!((500.0..1000.0).contains(&km));
//! // The physical floor, and a typical measured path over that distance.
//! let floor = fibre_rtt_ms(km);
//! let typical = floor * route_inflation(km);
//! assert!(typical > floor);
//! # Ok::<(), &'static str>(())
//! ```
//!
//! # Main items
//! - Points: [`LatLon`], [`great_circle_km`], [`fibre_rtt_ms`], [`FIBRE_KM_PER_MS`].
//! - Tables: [`aws_regions`], [`countries`], [`subdivisions`], [`colos`], with lookups
//!   [`aws_region`], [`country`], [`subdivision`], [`subdivisions_of`], [`colo`],
//!   [`nearest_colo`].
//! - Network facts: [`cloudflare_ip_ranges`], [`cloudflare_design_ranges`], [`aws_rtt_p50_ms`],
//!   [`route_inflation`].
//!
//! # Errors
//! The embedded files are checked by this crate's tests (every row parses, row counts match,
//! cross references resolve), so the accessors return plain slices. Should an edited data file
//! ever fail to parse, its table reads as empty and [`check_embedded_data`] names the file and
//! line; nothing is skipped silently and nothing panics.
// The workspace denies `unsafe`; only edgeroute-sim holds an exception (a cache prefetch).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod aws;
mod colo;
mod country;
mod csv;
mod error;
mod inflation;
mod ip;
mod point;
mod subdivision;

pub use aws::{AwsRegion, aws_region, aws_regions, aws_rtt_p50_ms, aws_rtt_regions};
pub use colo::{Colo, colo, colos, nearest_colo};
pub use country::{Continent, Country, UnknownContinent, countries, country};
pub use error::{DataError, DataErrorKind};
pub use inflation::{
    InflationBand, route_inflation, route_inflation_bands, route_inflation_overall,
};
pub use ip::{cloudflare_design_ranges, cloudflare_ip_ranges};
pub use point::{
    EARTH_RADIUS_KM, FIBRE_KM_PER_MS, LatLon, fibre_rtt_ms, great_circle_km,
    unit_vector_distance_km,
};
pub use subdivision::{Subdivision, subdivision, subdivisions, subdivisions_of};

/// Parses every embedded table and checks the references between them (every country code
/// names a country, every subdivision code a subdivision, every measured RTT region a region).
///
/// # Errors
/// Every problem found, each naming the file and line. The crate's tests assert this is empty.
pub fn check_embedded_data() -> Result<(), Vec<DataError>> {
    let mut errors: Vec<DataError> = [
        aws::check(),
        colo::check(),
        country::check(),
        inflation::check(),
        ip::check(),
        subdivision::check(),
    ]
    .into_iter()
    .filter_map(Result::err)
    .collect();
    let unknown = |file, line, column, table, value: &str| {
        DataError::new(
            file,
            line,
            DataErrorKind::UnknownReference {
                column,
                table,
                value: value.to_owned(),
            },
        )
    };
    // Row i of a file is on line i + 2 (the header is line 1).
    for (i, c) in colos().iter().enumerate() {
        if country(c.country).is_none() {
            errors.push(unknown(
                "cloudflare_colos.csv",
                i + 2,
                "cca2",
                "country",
                c.country,
            ));
        }
    }
    for (i, s) in subdivisions().iter().enumerate() {
        if country(s.country).is_none() {
            let file = "subdivisions_iso3166_2.csv";
            errors.push(unknown(file, i + 2, "country", "country", s.country));
        }
    }
    for (i, r) in aws_regions().iter().enumerate() {
        let file = "aws_regions.csv";
        if country(r.country).is_none() {
            errors.push(unknown(file, i + 2, "country_code", "country", r.country));
        }
        if let Some(sub) = r.subdivision
            && subdivision(sub).is_none_or(|s| s.country != r.country)
        {
            errors.push(unknown(file, i + 2, "subdivision", "subdivision", sub));
        }
    }
    for code in aws_rtt_regions() {
        if aws_region(code).is_none() {
            let file = "aws_interregion_rtt_p50_1y.csv";
            errors.push(unknown(file, 1, "src_region", "AWS region", code));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_data_is_complete_and_consistent() {
        check_embedded_data().unwrap();
        assert_eq!(aws_regions().len(), 39);
        assert_eq!(aws_rtt_regions().len(), 32);
        assert_eq!(colos().len(), 339);
        assert_eq!(countries().len(), 250);
        assert_eq!(subdivisions().len(), 5046);
        assert_eq!(cloudflare_ip_ranges().len(), 22);
        assert_eq!(cloudflare_design_ranges().len(), 10);
        assert_eq!(route_inflation_bands().len(), 5);
    }
}
