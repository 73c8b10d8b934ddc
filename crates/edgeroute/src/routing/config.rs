//! The routing section of a policy file, as written: serde types with `deny_unknown_fields`
//! and documented defaults. [`RoutingConfig::compile`](super::RoutingConfig::compile) checks it
//! and builds the [`CompiledRouting`](super::CompiledRouting).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// The routing section (`[routing]` in a policy file).
///
/// ```toml
/// [routing]
/// default_region = "us-east-1"
/// fallback = "nearest"
///
/// [routing.regions]
/// us-east-1 = { role = "primary" }
/// eu-west-2 = { role = "primary" }
///
/// [routing.map]
/// GB = "eu-west-2"
/// "US-CA" = "us-east-1"
///
/// [[routing.services.api.pools]]
/// name = "api-use1"
/// region = "us-east-1"
/// endpoints = [{ address = "api-use1.alb.example.internal" }]
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingConfig {
    /// The region for a client whose country and subdivision are not in [`map`](Self::map),
    /// when [`fallback`](Self::fallback) is `"default"`, and for clients of unknown location.
    pub default_region: String,
    /// What unmapped locations get and where traffic goes when its region is unhealthy.
    /// Default `"nearest"`.
    #[serde(default)]
    pub fallback: FallbackMode,
    /// How an endpoint whose monitor has not reported yet is treated. Default `"healthy"`.
    #[serde(default)]
    pub unknown_health: UnknownHealth,
    /// The regions in use, by AWS region code (`us-east-1`).
    pub regions: BTreeMap<String, RegionConfig>,
    /// Location to region: keys are ISO 3166-1 country codes (`DE`) or ISO 3166-2 subdivision
    /// codes (`US-CA`, `GB-ENG`); the most specific match wins (a subdivision, then its parent
    /// subdivisions, then its country).
    #[serde(default)]
    pub map: BTreeMap<String, String>,
    /// Data-residency groups by name (`eu`).
    #[serde(default)]
    pub residency: BTreeMap<String, ResidencyConfig>,
    /// Health monitors by name, referenced from services and pools.
    #[serde(default)]
    pub monitors: BTreeMap<String, MonitorConfig>,
    /// Origin configuration per service; names match the policy's services.
    #[serde(default)]
    pub services: BTreeMap<String, ServiceConfig>,
}

/// Where traffic goes when its location is unmapped or its region cannot serve.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FallbackMode {
    /// Unmapped locations go to the nearest region (great-circle distance from the location's
    /// population-weighted point); when a region is unhealthy, the nearest healthy allowed
    /// region takes over.
    #[default]
    Nearest,
    /// Unmapped locations go to `default_region`; when a region is unhealthy, the default
    /// region takes over if it can, then the nearest healthy allowed region.
    Default,
}

/// How an endpoint with a monitor but no probe result yet counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UnknownHealth {
    /// As healthy (traffic flows as soon as the policy loads).
    #[default]
    Healthy,
    /// As unhealthy (traffic waits for `consecutive_up` good probes).
    Unhealthy,
}

/// One region.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RegionConfig {
    /// The region's role in the architecture. Default `"primary"`.
    #[serde(default)]
    pub role: RegionRole,
}

/// What a region is for; informational for routing, used by the simulator and reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RegionRole {
    /// A full region: databases and all services.
    #[default]
    Primary,
    /// An edge compute region: latency-sensitive services close to users.
    EdgeCompute,
}

/// A data-residency group: clients in these countries are only served by these regions.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ResidencyConfig {
    /// ISO 3166-1 country codes in the group.
    pub countries: Vec<String>,
    /// Allowed regions: region codes or prefix patterns ending in `*` (`eu-*`), matched
    /// against the declared regions.
    pub regions: Vec<String>,
    /// What happens when no allowed region can serve. Default `"refuse"`.
    #[serde(default)]
    pub when_unavailable: WhenUnavailable,
}

/// Residency behaviour when every allowed region is down.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WhenUnavailable {
    /// Answer 503 with the reason.
    #[default]
    Refuse,
    /// Use the service's fallback pool if its region is allowed by the group, else 503.
    FallbackPool,
}

/// A health monitor.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MonitorConfig {
    /// `"http"`, `"https"` or `"tcp"`.
    #[serde(rename = "type")]
    pub kind: MonitorKind,
    /// Request path for http and https monitors. Default `"/"`.
    #[serde(default)]
    pub path: Option<String>,
    /// HTTP method for http and https monitors. Default `"GET"`.
    #[serde(default)]
    pub method: Option<String>,
    /// Port to probe. Default 443 for https, 80 for http; required for tcp.
    #[serde(default)]
    pub port: Option<u16>,
    /// Status codes that count as healthy, comma separated: `"200"`, `"2xx"`, `"200-299,304"`.
    /// Default `"2xx"`.
    #[serde(default)]
    pub expected_codes: Option<String>,
    /// Time between checks. Default 60 s.
    #[serde(default = "defaults::interval")]
    pub interval: ConfigDuration,
    /// Time one attempt may take. Default 5 s; must not exceed `interval`.
    #[serde(default = "defaults::timeout")]
    pub timeout: ConfigDuration,
    /// Extra attempts after a failed or timed-out attempt before a check counts as failed.
    /// Default 2.
    #[serde(default = "defaults::retries")]
    pub retries: u32,
    /// Failed checks in a row that mark a healthy endpoint down. Default 1.
    #[serde(default = "defaults::one")]
    pub consecutive_down: u32,
    /// Passed checks in a row that mark a down endpoint up. Default 1.
    #[serde(default = "defaults::one")]
    pub consecutive_up: u32,
}

/// The protocol a monitor speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MonitorKind {
    /// An HTTP request; healthy when the status is expected.
    Http,
    /// An HTTPS request; healthy when the status is expected.
    Https,
    /// A TCP connect; healthy when it succeeds.
    Tcp,
}

/// Origin configuration of one service.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    /// How a pool is chosen. Default `"geo"`.
    #[serde(default)]
    pub steering: Steering,
    /// How an endpoint is chosen inside a pool; pools may override. Default `"random"`.
    #[serde(default)]
    pub endpoint_steering: EndpointSteering,
    /// The affinity key for `"hash"` endpoint steering: `"ip"` (the client IP),
    /// `"header:NAME"` or `"cookie:NAME"`.
    #[serde(default)]
    pub affinity: Option<String>,
    /// Monitor for the service's pools, by name; pools may override. Default: none (endpoints
    /// are healthy unless marked down or ejected).
    #[serde(default)]
    pub monitor: Option<String>,
    /// Healthy endpoints a pool needs to count as healthy; pools may override. Default 1.
    #[serde(default)]
    pub minimum_origins: Option<u32>,
    /// Overrides the section's `unknown_health` for this service.
    #[serde(default)]
    pub unknown_health: Option<UnknownHealth>,
    /// Outlier detection for the service's pools; pools may override. Default: off.
    #[serde(default)]
    pub outlier_detection: Option<OutlierConfig>,
    /// The pool of last resort, by name: used when no pool is healthy (if residency allows).
    #[serde(default)]
    pub fallback_pool: Option<String>,
    /// Pool order for `"failover"` steering. Default: the order of `pools`.
    #[serde(default)]
    pub failover_order: Option<Vec<String>>,
    /// The service's pools.
    #[serde(default)]
    pub pools: Vec<PoolConfig>,
}

/// How a service picks a pool.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Steering {
    /// The region map picks the region (with the fallback rule on failure); among the region's
    /// healthy pools, pool weights split the traffic (blue/green and canary).
    #[default]
    Geo,
    /// The first healthy pool of `failover_order` serves (Envoy-style priorities).
    Failover,
    /// Weighted random over every healthy allowed pool, by pool weight.
    Random,
}

/// How a pool picks an endpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EndpointSteering {
    /// Weighted random by endpoint weight.
    #[default]
    Random,
    /// Consistent (rendezvous) hashing of the service's affinity key, by endpoint weight:
    /// losing an endpoint moves only the keys it held.
    Hash,
    /// The healthy endpoint with the fewest outstanding requests per unit of weight.
    LeastOutstanding,
}

/// A pool of endpoints in one region.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PoolConfig {
    /// Name, unique across the routing section (health reports and `--down` use it).
    pub name: String,
    /// The region the pool runs in.
    pub region: String,
    /// Share of the region's traffic (`geo`) or the service's (`random`). Default 1; 0 drains.
    #[serde(default = "defaults::one")]
    pub weight: u32,
    /// Only serve as a fallback pool, never in normal steering. Default false.
    #[serde(default)]
    pub standby: bool,
    /// Overrides the service's `minimum_origins`.
    #[serde(default)]
    pub minimum_origins: Option<u32>,
    /// Overrides the service's monitor; `"none"` turns monitoring off for this pool.
    #[serde(default)]
    pub monitor: Option<String>,
    /// Overrides the service's `endpoint_steering`.
    #[serde(default)]
    pub endpoint_steering: Option<EndpointSteering>,
    /// Overrides the service's `outlier_detection`.
    #[serde(default)]
    pub outlier_detection: Option<OutlierConfig>,
    /// The endpoints (at least one).
    pub endpoints: Vec<EndpointConfig>,
}

/// One origin endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointConfig {
    /// Host name or IP address, unique within its pool.
    pub address: String,
    /// Share of the pool's traffic. Default 1; 0 drains.
    #[serde(default = "defaults::one")]
    pub weight: u32,
}

/// Envoy-style outlier detection: an endpoint answering `consecutive_5xx` 5xx responses (or
/// connect failures) in a row is ejected for `base_ejection_time` × the number of times it has
/// been ejected (capped at `max_ejection_time`), unless that would eject more than
/// `max_ejection_percent` of its pool (one endpoint may always be ejected).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OutlierConfig {
    /// 5xx answers or connect failures in a row that eject an endpoint. Default 5.
    #[serde(default = "defaults::consecutive_5xx")]
    pub consecutive_5xx: u32,
    /// The first ejection's length. Default 30 s.
    #[serde(default = "defaults::base_ejection_time")]
    pub base_ejection_time: ConfigDuration,
    /// The longest ejection. Default 300 s.
    #[serde(default = "defaults::max_ejection_time")]
    pub max_ejection_time: ConfigDuration,
    /// At most this share of a pool is ejected at once, in percent. Default 10.
    #[serde(default = "defaults::max_ejection_percent")]
    pub max_ejection_percent: u32,
}

/// A duration in a config file: an integer number of seconds (`30`) or a string with a unit
/// (`"500ms"`, `"15s"`, `"2m"`, `"1h"`). Stored in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConfigDuration(u64);

impl ConfigDuration {
    /// A duration of `ms` milliseconds.
    #[must_use]
    pub const fn from_millis(ms: u64) -> Self {
        Self(ms)
    }

    /// A duration of `s` seconds (saturating).
    #[must_use]
    pub const fn from_secs(s: u64) -> Self {
        Self(s.saturating_mul(1_000))
    }

    /// The duration in milliseconds.
    #[must_use]
    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// Parses `"500ms"`, `"15s"`, `"2m"`, `"1h"` or a bare number of seconds.
    ///
    /// # Errors
    /// A message naming the text when it is not a duration.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let split = text
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len());
        let (digits, unit) = text.split_at(split);
        let bad = || format!("invalid duration `{text}`, expected a number with ms, s, m or h");
        let value: u64 = digits.parse().map_err(|_| bad())?;
        let factor = match unit.trim() {
            "ms" => 1,
            "" | "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            _ => return Err(bad()),
        };
        value.checked_mul(factor).map(Self).ok_or_else(bad)
    }
}

impl fmt::Display for ConfigDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0;
        if ms.is_multiple_of(3_600_000) && ms > 0 {
            write!(f, "{}h", ms / 3_600_000)
        } else if ms.is_multiple_of(60_000) && ms > 0 {
            write!(f, "{}m", ms / 60_000)
        } else if ms.is_multiple_of(1_000) {
            write!(f, "{}s", ms / 1_000)
        } else {
            write!(f, "{ms}ms")
        }
    }
}

impl Serialize for ConfigDuration {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ConfigDuration {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = ConfigDuration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number of seconds or a string such as \"15s\" or \"500ms\"")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(ConfigDuration::from_secs(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
                u64::try_from(v)
                    .map(ConfigDuration::from_secs)
                    .map_err(|_| E::custom(format!("negative duration `{v}`")))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                ConfigDuration::parse(v).map_err(E::custom)
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

mod defaults {
    use super::ConfigDuration;

    pub(super) fn interval() -> ConfigDuration {
        ConfigDuration::from_secs(60)
    }
    pub(super) fn timeout() -> ConfigDuration {
        ConfigDuration::from_secs(5)
    }
    pub(super) fn retries() -> u32 {
        2
    }
    pub(super) fn one() -> u32 {
        1
    }
    pub(super) fn consecutive_5xx() -> u32 {
        5
    }
    pub(super) fn base_ejection_time() -> ConfigDuration {
        ConfigDuration::from_secs(30)
    }
    pub(super) fn max_ejection_time() -> ConfigDuration {
        ConfigDuration::from_secs(300)
    }
    pub(super) fn max_ejection_percent() -> u32 {
        10
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units_and_bare_seconds() {
        assert_eq!(ConfigDuration::parse("15s").unwrap().as_millis(), 15_000);
        assert_eq!(ConfigDuration::parse("500ms").unwrap().as_millis(), 500);
        assert_eq!(ConfigDuration::parse("2m").unwrap().as_millis(), 120_000);
        assert_eq!(ConfigDuration::parse("1h").unwrap().as_millis(), 3_600_000);
        assert_eq!(ConfigDuration::parse("7").unwrap().as_millis(), 7_000);
        assert!(ConfigDuration::parse("s").is_err());
        assert!(ConfigDuration::parse("5 days").is_err());
        assert!(ConfigDuration::parse("-5s").is_err());
        assert_eq!(ConfigDuration::from_millis(1500).to_string(), "1500ms");
        assert_eq!(ConfigDuration::from_secs(120).to_string(), "2m");
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let text = "default_region = \"us-east-1\"\nregions = {}\nbogus = 1\n";
        let err = toml::from_str::<RoutingConfig>(text).unwrap_err();
        assert!(err.to_string().contains("bogus"), "{err}");
    }

    #[test]
    fn monitor_defaults_are_documented_values() {
        let m: MonitorConfig = toml::from_str("type = \"https\"").unwrap();
        assert_eq!(m.interval.as_millis(), 60_000);
        assert_eq!(m.timeout.as_millis(), 5_000);
        assert_eq!((m.retries, m.consecutive_down, m.consecutive_up), (2, 1, 1));
        let m: MonitorConfig =
            toml::from_str("type = \"tcp\"\ninterval = \"10s\"\ntimeout = 2\nport = 5432").unwrap();
        assert_eq!(
            (m.interval.as_millis(), m.timeout.as_millis()),
            (10_000, 2_000)
        );
    }
}
