//! User-supplied RTT matrices: measured median RTT from Cloudflare data centres to AWS regions.

use edgeroute_geo::{aws_region, colo, fibre_rtt_ms, great_circle_km};

use super::input::{self, InputError};

const HEADER: &[&str] = &["edge", "region", "rtt_ms"];

/// One measured pair of an [`RttMatrix`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MatrixEntry {
    /// IATA code of the Cloudflare data centre.
    pub edge: &'static str,
    /// AWS region code.
    pub region: &'static str,
    /// Median round-trip time, ms.
    pub rtt_ms: f64,
}

/// Measured median RTT from data centres to regions, from a CSV file:
///
/// ```text
/// edge,region,rtt_ms
/// FRA,eu-central-1,2.1
/// LHR,us-east-1,76.0
/// ```
///
/// The header is required; blank lines and `#` comments are allowed. Edges are Cloudflare IATA
/// codes and regions AWS region codes, both as [`edgeroute_geo`] knows them (case-insensitive).
/// A pair may appear once. No value may be below the fibre floor between the data centre and
/// the region ([`edgeroute_geo::fibre_rtt_ms`] of their great-circle distance).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RttMatrix {
    entries: Vec<MatrixEntry>,
}

impl RttMatrix {
    /// Parses a matrix; `origin` names the file in errors.
    ///
    /// # Errors
    /// A wrong header, an unknown edge or region, a value that is not a positive number or is
    /// below the fibre floor, or a repeated pair: an [`InputError`] with line and column.
    pub fn parse(origin: &str, text: &str) -> Result<Self, InputError> {
        let mut entries: Vec<MatrixEntry> = Vec::new();
        for row in input::rows(origin, text, HEADER)? {
            let edge_text = input::text(&row, 0);
            let edge = colo(&edge_text.to_ascii_uppercase()).ok_or_else(|| {
                row.error_at(0, format!("unknown Cloudflare data centre `{edge_text}`"))
            })?;
            let region_text = input::text(&row, 1);
            let region = aws_region(&region_text.to_ascii_lowercase())
                .ok_or_else(|| row.error_at(1, format!("unknown AWS region `{region_text}`")))?;
            let rtt_ms = input::number(&row, 2, "rtt_ms")?;
            if rtt_ms <= 0.0 {
                return Err(row.error_at(2, format!("rtt_ms `{rtt_ms}` must be positive")));
            }
            let floor = fibre_rtt_ms(great_circle_km(edge.point, region.point));
            if rtt_ms < floor {
                return Err(row.error_at(
                    2,
                    format!(
                        "rtt_ms `{rtt_ms}` from `{}` to `{}` is below the fibre floor of {floor:.1} ms",
                        edge.iata, region.code
                    ),
                ));
            }
            if entries
                .iter()
                .any(|e| e.edge == edge.iata && e.region == region.code)
            {
                return Err(row.error_at(
                    0,
                    format!("pair `{},{}` is listed twice", edge.iata, region.code),
                ));
            }
            entries.push(MatrixEntry {
                edge: edge.iata,
                region: region.code,
                rtt_ms,
            });
        }
        Ok(Self { entries })
    }

    /// The pairs, in file order.
    #[must_use]
    pub fn entries(&self) -> &[MatrixEntry] {
        &self.entries
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_pairs() {
        let m = RttMatrix::parse(
            "m.csv",
            "edge,region,rtt_ms\n# measured\nfra,eu-central-1,2.5\nLHR,US-EAST-1,80\n",
        )
        .unwrap();
        assert_eq!(m.entries().len(), 2);
        assert_eq!(m.entries()[0].edge, "FRA");
        assert_eq!(m.entries()[1].region, "us-east-1");
    }

    #[test]
    fn errors_name_line_and_column() {
        let cases = [
            (
                "edge,region,rtt_ms\nXXX,us-east-1,80\n",
                2,
                1,
                "unknown Cloudflare",
            ),
            (
                "edge,region,rtt_ms\nLHR,mars-1,80\n",
                2,
                5,
                "unknown AWS region",
            ),
            (
                "edge,region,rtt_ms\nLHR,us-east-1,fast\n",
                2,
                15,
                "not a finite number",
            ),
            (
                "edge,region,rtt_ms\nLHR,us-east-1,-1\n",
                2,
                15,
                "must be positive",
            ),
            (
                "edge,region,rtt_ms\nLHR,us-east-1,20\n",
                2,
                15,
                "below the fibre floor",
            ),
            (
                "edge,region,rtt_ms\nLHR,us-east-1,80\nLHR,us-east-1,81\n",
                3,
                1,
                "twice",
            ),
            ("edge,rtt_ms\n", 1, 1, "header"),
        ];
        for (text, line, column, message) in cases {
            let err = RttMatrix::parse("m.csv", text).unwrap_err();
            assert_eq!((err.line(), err.column()), (line, column), "{err}");
            assert!(err.message().contains(message), "{err}");
        }
    }
}
