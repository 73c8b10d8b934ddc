//! Origin routing: region map, data residency, pools, health, steering and failover.
//!
//! The routing phase decides where an allowed request goes: which region, which origin pool,
//! which endpoint. It is configured by the policy's `[routing]` section ([`RoutingConfig`]),
//! compiled once per policy load into an immutable [`CompiledRouting`], and run per request
//! with [`CompiledRouting::route`] against a [`HealthTable`] that lives outside the policy
//! (so a reload keeps health).
//!
//! # The pipeline
//! 1. **Location**: the client's country and ISO 3166-2 subdivision select a precomputed
//!    location (every country and subdivision edgeroute-geo knows). Each location carries its
//!    preferred region (most specific map entry: subdivision, parent subdivision, country;
//!    unmapped: the nearest region by great-circle distance from its population-weighted
//!    point, or the default region with `fallback = "default"`) and a ranked list of
//!    alternatives by distance. Residency groups are applied here: a group member's list holds
//!    only its allowed regions, so routing cannot cross a residency boundary.
//! 2. **Pool**: `geo` steering walks the ranked regions and takes the first with a healthy
//!    pool for the service (pool weights split a region's traffic, for blue/green and canary);
//!    `failover` takes the first healthy pool of an ordered list; `random` spreads by pool
//!    weight. When nothing allowed is healthy the service's fallback pool serves (for a
//!    residency group only if the group allows it and the pool is inside), else 503.
//! 3. **Endpoint**: weighted random, rendezvous (consistent) hashing of an affinity key
//!    (client IP, header or cookie), or least outstanding requests.
//!
//! A pool is healthy when it and its region are not forced down and at least
//! `minimum_origins` endpoints are usable: not forced down, not ejected by outlier detection,
//! and (if monitored) up by their monitor, or unknown with `unknown_health = "healthy"`.
//!
//! # Example
//! ```
//! use edgeroute::routing::{HealthTable, RouteInput, RoutingConfig};
//!
//! let config: RoutingConfig = toml::from_str(r#"
//!     default_region = "us-east-1"
//!     [regions]
//!     us-east-1 = {}
//!     eu-west-2 = {}
//!     [map]
//!     GB = "eu-west-2"
//!     [[services.api.pools]]
//!     name = "api-use1"
//!     region = "us-east-1"
//!     endpoints = [{ address = "api-use1.alb.example.internal" }]
//!     [[services.api.pools]]
//!     name = "api-euw2"
//!     region = "eu-west-2"
//!     endpoints = [{ address = "api-euw2.alb.example.internal" }]
//! "#)?;
//! let routing = config.compile().map_err(|e| format!("{e:?}"))?;
//! let health = HealthTable::new();
//! health.register(&routing);
//! let api = routing.service_id("api").ok_or("no api")?;
//! let input = RouteInput { country: Some(*b"GB"), ..RouteInput::new(api) };
//! assert_eq!(routing.route(&input, &health, 0, 1).region_name(), Some("eu-west-2"));
//! // eu-west-2 goes down: the nearest healthy region takes over.
//! health.set_down(&routing, "eu-west-2");
//! assert_eq!(routing.route(&input, &health, 0, 1).region_name(), Some("us-east-1"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod cache;
mod compile;
mod config;
mod error;
mod health;
mod location;
mod model;
mod route;
mod select;

pub use config::{
    ConfigDuration, EndpointConfig, EndpointSteering, FallbackMode, MonitorConfig, MonitorKind,
    OutlierConfig, PoolConfig, RegionConfig, RegionRole, ResidencyConfig, RoutingConfig,
    ServiceConfig, Steering, UnknownHealth, WhenUnavailable,
};
pub use error::{KeyPath, PathSegment, RoutingError};
pub use health::{
    EndpointHealth, Forced, HealthBinding, HealthSnapshot, HealthTable, PassiveEffect,
    PassiveResult, PoolHealth, ProbeEffect, ProbeStatus, RegionHealth,
};
pub use location::{LocationId, MatchSource};
pub use model::{
    Affinity, CompiledRouting, EndpointId, GroupId, MAX_POOL_ENDPOINTS, MAX_REGIONS, Monitor,
    PoolId, ProbeTarget, RegionId, ServiceId,
};
pub use route::{
    FailoverReason, Refusal, RefusalReason, Route, RouteInput, RouteOutcome, cookie_value,
};

#[cfg(test)]
mod tests;
