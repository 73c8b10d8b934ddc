//! `[network]` in a scenario file.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The 90th percentile of the standard normal distribution.
pub(crate) const Z90: f64 = 1.281_551_565_544_600_4;

/// The network model's settings, embedded in a scenario file under `[network]`.
///
/// Every field has a default, so `[network]` may be empty or absent:
///
/// ```toml
/// [network]
/// route_inflation = "measured"    # or a fixed factor >= 1, such as 2.0
/// backbone = "measured"           # or "geographic"
/// # backbone_inflation = 1.75     # default: median measured/fibre ratio of AWS pairs >= 500 km
/// # rtt_matrix = "edge-rtt.csv"   # optional `edge,region,rtt_ms` overrides
///
/// [network.access_delay]
/// median_ms = 10.0
/// p90_ms = 30.0
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NetworkConfig {
    /// How much longer than the fibre floor a path over the public Internet is (client to data
    /// centre, data centre to region). Default `"measured"`: the median ratio for the
    /// distance, from the embedded city-to-city survey (see
    /// [`edgeroute_geo::route_inflation`]).
    pub route_inflation: RouteInflation,
    /// The last-mile delay added to every client round trip. Default: median 10 ms, p90 30 ms.
    pub access_delay: AccessDelayConfig,
    /// Region-to-region round trips. Default `"measured"`: the embedded one-year AWS
    /// inter-region medians, with the geographic estimate for pairs the data lacks.
    pub backbone: Backbone,
    /// Inflation over the fibre floor for geographic region-to-region estimates. Default
    /// (absent): the median measured/fibre ratio over AWS region pairs at least 500 km apart
    /// (about 1.75).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backbone_inflation: Option<Factor>,
    /// A CSV file `edge,region,rtt_ms` of measured median RTT from Cloudflare data centres (IATA
    /// code) to AWS regions; listed pairs replace the geographic estimate. A relative path is
    /// resolved against the scenario file's directory. Default: none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rtt_matrix: Option<PathBuf>,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        Self {
            route_inflation: RouteInflation::Measured,
            access_delay: AccessDelayConfig::default(),
            backbone: Backbone::Measured,
            backbone_inflation: None,
            rtt_matrix: None,
        }
    }
}

/// A multiplicative factor over the fibre floor: finite and at least 1 (nothing beats light in
/// fibre).
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize, Deserialize)]
#[serde(try_from = "f64", into = "f64")]
pub struct Factor(f64);

impl Factor {
    /// A factor, if `value` is finite and at least 1.
    #[must_use]
    pub fn new(value: f64) -> Option<Self> {
        (value.is_finite() && value >= 1.0).then_some(Self(value))
    }

    /// The factor's value.
    #[must_use]
    pub fn get(self) -> f64 {
        self.0
    }
}

impl TryFrom<f64> for Factor {
    type Error = String;

    fn try_from(value: f64) -> Result<Self, Self::Error> {
        Self::new(value).ok_or_else(|| {
            format!(
                "factor `{value}` must be a finite number of at least 1 (nothing beats light in fibre)"
            )
        })
    }
}

impl From<Factor> for f64 {
    fn from(f: Factor) -> Self {
        f.0
    }
}

/// Route inflation over the fibre floor for paths over the public Internet.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(try_from = "InflationRepr", into = "InflationRepr")]
pub enum RouteInflation {
    /// The measured median for the path's distance ([`edgeroute_geo::route_inflation`]):
    /// 3.19 up to about 700 km, falling to 1.80 past about 14,000 km.
    #[default]
    Measured,
    /// One factor for every distance.
    Fixed(Factor),
}

impl RouteInflation {
    /// The factor for a path of `km`.
    #[must_use]
    pub fn factor(self, km: f64) -> f64 {
        match self {
            RouteInflation::Measured => edgeroute_geo::route_inflation(km),
            RouteInflation::Fixed(f) => f.get(),
        }
    }
}

/// How [`RouteInflation`] is written: `"measured"` or a number.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
enum InflationRepr {
    Name(String),
    Factor(f64),
}

impl TryFrom<InflationRepr> for RouteInflation {
    type Error = String;

    fn try_from(repr: InflationRepr) -> Result<Self, Self::Error> {
        match repr {
            InflationRepr::Name(name) if name == "measured" => Ok(RouteInflation::Measured),
            InflationRepr::Name(name) => Err(format!(
                "unknown route inflation `{name}`, expected \"measured\" or a factor of at least 1"
            )),
            InflationRepr::Factor(value) => Factor::try_from(value).map(RouteInflation::Fixed),
        }
    }
}

impl From<RouteInflation> for InflationRepr {
    fn from(r: RouteInflation) -> Self {
        match r {
            RouteInflation::Measured => InflationRepr::Name("measured".to_owned()),
            RouteInflation::Fixed(f) => InflationRepr::Factor(f.get()),
        }
    }
}

/// Where region-to-region round trips come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backbone {
    /// Measured AWS inter-region medians where the data has the pair, else geographic.
    #[default]
    Measured,
    /// Always the geographic estimate: fibre floor × backbone inflation.
    Geographic,
}

/// The last-mile access delay: a lognormal distribution given by its median and 90th
/// percentile, in ms. A median of 0 (with p90 0) turns access delay off.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "AccessDelayRepr", into = "AccessDelayRepr")]
pub struct AccessDelayConfig {
    median_ms: f64,
    p90_ms: f64,
}

impl AccessDelayConfig {
    /// Default median: a typical fixed-broadband last mile.
    pub const DEFAULT_MEDIAN_MS: f64 = 10.0;
    /// Default 90th percentile: the slow tail (mobile and congested links).
    pub const DEFAULT_P90_MS: f64 = 30.0;

    /// A distribution with this median and 90th percentile.
    ///
    /// # Errors
    /// When a value is negative or not finite, the p90 is below the median, or the median is 0
    /// and the p90 is not.
    pub fn new(median_ms: f64, p90_ms: f64) -> Result<Self, String> {
        if !(median_ms.is_finite() && median_ms >= 0.0) {
            return Err(format!(
                "access delay median_ms `{median_ms}` must be a finite number of at least 0"
            ));
        }
        if !(p90_ms.is_finite() && p90_ms >= median_ms) {
            return Err(format!(
                "access delay p90_ms `{p90_ms}` must be finite and at least median_ms ({median_ms})"
            ));
        }
        if median_ms == 0.0 && p90_ms > 0.0 {
            return Err("access delay p90_ms must be 0 when median_ms is 0".to_owned());
        }
        Ok(Self { median_ms, p90_ms })
    }

    /// No access delay at all.
    #[must_use]
    pub const fn none() -> Self {
        Self {
            median_ms: 0.0,
            p90_ms: 0.0,
        }
    }

    /// The median, ms.
    #[must_use]
    pub fn median_ms(self) -> f64 {
        self.median_ms
    }

    /// The 90th percentile, ms.
    #[must_use]
    pub fn p90_ms(self) -> f64 {
        self.p90_ms
    }

    /// The lognormal's `(mu, sigma)`: `mu = ln(median)`, `sigma = ln(p90 / median) / z90`.
    /// `None` when access delay is off.
    #[must_use]
    pub fn lognormal_params(self) -> Option<(f64, f64)> {
        (self.median_ms > 0.0).then(|| {
            (
                self.median_ms.ln(),
                (self.p90_ms / self.median_ms).ln() / Z90,
            )
        })
    }
}

impl Default for AccessDelayConfig {
    fn default() -> Self {
        Self {
            median_ms: Self::DEFAULT_MEDIAN_MS,
            p90_ms: Self::DEFAULT_P90_MS,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct AccessDelayRepr {
    #[serde(default = "default_median")]
    median_ms: f64,
    #[serde(default = "default_p90")]
    p90_ms: f64,
}

fn default_median() -> f64 {
    AccessDelayConfig::DEFAULT_MEDIAN_MS
}

fn default_p90() -> f64 {
    AccessDelayConfig::DEFAULT_P90_MS
}

impl TryFrom<AccessDelayRepr> for AccessDelayConfig {
    type Error = String;

    fn try_from(r: AccessDelayRepr) -> Result<Self, Self::Error> {
        AccessDelayConfig::new(r.median_ms, r.p90_ms)
    }
}

impl From<AccessDelayConfig> for AccessDelayRepr {
    fn from(c: AccessDelayConfig) -> Self {
        Self {
            median_ms: c.median_ms,
            p90_ms: c.p90_ms,
        }
    }
}
