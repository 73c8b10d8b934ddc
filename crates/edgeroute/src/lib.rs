//! edgeroute: an embeddable edge routing policy engine (work in progress).
#![deny(missing_docs)]

mod analysis;
mod compile;
pub mod config;
mod decision;
pub mod diag;
mod engine;
mod fields;
pub mod identity;
pub mod pattern;
mod policy;
pub mod ratelimit;
mod request;
pub mod routing;
pub mod time;
pub mod transform;

pub use compile::{
    MAX_CACHE_RULES, MAX_FIREWALL_RULES, MAX_RATE_LIMIT_RULES, MAX_RATE_PERIODS,
    MAX_TRANSFORM_RULES, MAX_TTL_S,
};
pub use decision::{
    Action, CacheDirective, Decision, Explanation, MAX_MATCHED, MatchedRules, RouteChoice, Step,
};
pub use diag::{Diagnostic, KeyPath, PolicyErrors, Severity};
pub use engine::{Engine, GeoLookup};
pub use identity::{CountryCode, SubdivisionCode, TrustedProxies};
pub use policy::{ContentClass, Phase, Policy, RuleInfo, Service};
pub use ratelimit::{CounterStore, MemoryCounterStore};
pub use request::{HttpScheme, RequestView};
pub use time::Timestamp;
pub use transform::HeaderValue;
