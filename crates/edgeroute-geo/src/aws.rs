//! AWS regions with metro coordinates, and the measured inter-region RTT matrix.

use std::borrow::Cow;
use std::sync::LazyLock;

use crate::country::{code, order_error, required_point};
use crate::csv;
use crate::error::{DataError, DataErrorKind};
use crate::point::LatLon;

const FILE: &str = "aws_regions.csv";
const TEXT: &str = include_str!("../data/aws_regions.csv");
const HEADER: &[&str] = &[
    "region",
    "partition",
    "name",
    "city",
    "country_code",
    "subdivision",
    "lat",
    "lon",
    "note",
];

const RTT_FILE: &str = "aws_interregion_rtt_p50_1y.csv";
const RTT_TEXT: &str = include_str!("../data/aws_interregion_rtt_p50_1y.csv");
const RTT_HEADER: &[&str] = &["src_region", "dst_region", "rtt_p50_ms"];

/// An AWS region. AWS publishes no data-centre locations: [`AwsRegion::point`] is the metro
/// the region is named after (see [`AwsRegion::note`] where that is a guess).
#[derive(Debug, Clone, PartialEq)]
pub struct AwsRegion {
    /// Region code, such as `"eu-west-2"`.
    pub code: &'static str,
    /// Partition: `"aws"` (commercial), `"aws-cn"`, `"aws-us-gov"` or `"aws-eusc"`.
    pub partition: &'static str,
    /// Display name, such as `"Europe (London)"`.
    pub name: &'static str,
    /// Metro city.
    pub city: &'static str,
    /// ISO 3166-1 alpha-2 code of the country.
    pub country: &'static str,
    /// ISO 3166-2 code of the subdivision, when known.
    pub subdivision: Option<&'static str>,
    /// Metro coordinates.
    pub point: LatLon,
    /// How the location was chosen, where it is an approximation.
    pub note: Option<Cow<'static, str>>,
}

static REGIONS: LazyLock<Result<Vec<AwsRegion>, DataError>> = LazyLock::new(parse_regions);

/// Every AWS region in the data's order: the commercial partition sorted by code, then
/// `aws-cn`, `aws-us-gov` and `aws-eusc` (39 rows).
#[must_use]
pub fn aws_regions() -> &'static [AwsRegion] {
    REGIONS.as_deref().unwrap_or(&[])
}

/// The AWS region with code `code` (such as `"us-east-1"`).
#[must_use]
pub fn aws_region(code: &str) -> Option<&'static AwsRegion> {
    aws_regions().iter().find(|r| r.code == code)
}

fn parse_regions() -> Result<Vec<AwsRegion>, DataError> {
    let mut out: Vec<AwsRegion> = Vec::new();
    for row in csv::records(FILE, TEXT, HEADER)? {
        let region = row.required(0)?;
        if !region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(row.error(DataErrorKind::Invalid {
                column: "region",
                value: region.to_owned(),
                reason: "region codes are lower-case letters, digits and dashes",
            }));
        }
        if out.iter().any(|r| r.code == region) {
            return Err(row.error(DataErrorKind::Duplicate {
                key: region.to_owned(),
            }));
        }
        let note = row.text_cow(8)?;
        out.push(AwsRegion {
            code: region,
            partition: row.required(1)?,
            name: row.required(2)?,
            city: row.required(3)?,
            country: code(&row, 4, 2)?,
            subdivision: row.optional(5)?,
            point: required_point(&row, 6, 7)?,
            note: (!note.is_empty()).then_some(note),
        });
    }
    Ok(out)
}

struct RttTable {
    /// Region codes, sorted.
    regions: Vec<&'static str>,
    /// `rtt[src * n + dst]`, in ms.
    rtt: Vec<f64>,
}

static RTT: LazyLock<Result<RttTable, DataError>> = LazyLock::new(parse_rtt);

/// Measured median round-trip time in ms from AWS region `src` to region `dst` (one year of
/// TCP-connect probes, cloudping.co). `src == dst` gives the intra-region RTT. `None` when
/// either region is not among the 32 commercial regions the data covers.
#[must_use]
pub fn aws_rtt_p50_ms(src: &str, dst: &str) -> Option<f64> {
    let table = RTT.as_ref().ok()?;
    let n = table.regions.len();
    let s = table.regions.binary_search(&src).ok()?;
    let d = table.regions.binary_search(&dst).ok()?;
    table.rtt.get(s * n + d).copied()
}

/// The regions [`aws_rtt_p50_ms`] covers, sorted by code (32 regions).
#[must_use]
pub fn aws_rtt_regions() -> &'static [&'static str] {
    RTT.as_ref().map_or(&[], |t| t.regions.as_slice())
}

pub(crate) fn check() -> Result<(), DataError> {
    REGIONS.as_ref().map(|_| ()).map_err(Clone::clone)?;
    RTT.as_ref().map(|_| ()).map_err(Clone::clone)
}

fn parse_rtt() -> Result<RttTable, DataError> {
    let rows = csv::records(RTT_FILE, RTT_TEXT, RTT_HEADER)?;
    let mut regions: Vec<&'static str> = Vec::new();
    for row in &rows {
        let src = row.required(0)?;
        if regions.last() != Some(&src) {
            if let Some(&prev) = regions.last()
                && prev >= src
            {
                return Err(order_error(row, prev, src));
            }
            regions.push(src);
        }
    }
    let n = regions.len();
    if rows.len() != n * n {
        let line = rows.last().map_or(1, |r| r.line());
        return Err(DataError::new(
            RTT_FILE,
            line,
            DataErrorKind::FieldCount {
                expected: n * n,
                found: rows.len(),
            },
        ));
    }
    let mut rtt = vec![f64::NAN; n * n];
    for row in &rows {
        let src = row.required(0)?;
        let dst = row.required(1)?;
        let unknown = |value: &str| {
            row.error(DataErrorKind::UnknownReference {
                column: "dst_region",
                table: "src_region",
                value: value.to_owned(),
            })
        };
        let s = regions.binary_search(&src).map_err(|_| unknown(src))?;
        let d = regions.binary_search(&dst).map_err(|_| unknown(dst))?;
        let ms = row.f64(2)?;
        if ms <= 0.0 {
            return Err(row.error(DataErrorKind::Invalid {
                column: "rtt_p50_ms",
                value: ms.to_string(),
                reason: "an RTT must be positive",
            }));
        }
        let Some(slot) = rtt.get_mut(s * n + d) else {
            continue;
        };
        if !slot.is_nan() {
            return Err(row.error(DataErrorKind::Duplicate {
                key: format!("{src} -> {dst}"),
            }));
        }
        *slot = ms;
    }
    Ok(RttTable { regions, rtt })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_row() {
        assert_eq!(parse_regions().unwrap().len(), 39);
        let rtt = parse_rtt().unwrap();
        assert_eq!(rtt.regions.len(), 32);
        assert!(rtt.rtt.iter().all(|v| v.is_finite() && *v > 0.0));
    }

    #[test]
    fn region_lookup() {
        let r = aws_region("eu-west-2").unwrap();
        assert_eq!(r.city, "London");
        assert_eq!(r.country, "GB");
        assert_eq!(r.subdivision, Some("GB-LND"));
        assert!(r.note.is_none());
        let my = aws_region("ap-southeast-5").unwrap();
        assert!(my.note.as_deref().unwrap().contains("\"Malaysia\""));
        assert!(aws_region("us-east-9").is_none());
    }

    #[test]
    fn rtt_lookup() {
        let a = aws_rtt_p50_ms("us-east-1", "eu-west-2").unwrap();
        assert!((60.0..100.0).contains(&a), "{a}");
        assert!(aws_rtt_p50_ms("us-east-1", "us-east-1").unwrap() < 10.0);
        assert!(aws_rtt_p50_ms("cn-north-1", "us-east-1").is_none());
        assert!(aws_rtt_p50_ms("us-east-1", "nowhere").is_none());
    }

    #[test]
    fn rtt_regions_are_known_regions() {
        for code in aws_rtt_regions() {
            assert!(aws_region(code).is_some(), "{code}");
        }
    }
}
