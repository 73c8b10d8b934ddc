//! edgeroute: an embeddable edge routing policy engine.
//!
//! A gateway loads a policy file once and calls [`Engine::decide`] on every request. The call
//! is synchronous, does no I/O, reads no clock (the time is an argument) and does not allocate
//! on the common path. It returns a [`Decision`]: what to do (forward, block, challenge, answer
//! a CORS preflight), the resolved client address and country, the cache directive, the header
//! edits, the origin route and the ids of the rules that produced it.
//!
//! ```
//! use edgeroute::{Action, Engine, Policy, RequestView, Timestamp};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let (policy, warnings) = Policy::from_toml_str(r#"
//!     [policy]
//!     name = "example"
//!
//!     [services.api]
//!     hosts = ["api.example.com"]
//!
//!     [[firewall.rules]]
//!     id = "threats"
//!     expression = "cf.threat_score gt 50"
//!     action = "challenge"
//!
//!     [[rate_limiting.rules]]
//!     id = "per-ip"
//!     period = "1m"
//!     requests_per_period = 100
//!
//!     [[cache.rules]]
//!     id = "static"
//!     url = "api.example.com/static/*"
//!     level = "aggressive"
//!     edge_ttl = "30d"
//!
//!     [transforms.response_headers]
//!     "X-Frame-Options" = "DENY"
//! "#, "example.toml", None)?;
//! assert!(warnings.is_empty());
//!
//! let engine = Engine::new(policy);
//! // A request arriving through a Cloudflare edge, which says who the client is.
//! let headers: &[(&[u8], &[u8])] = &[(b"cf-connecting-ip", b"81.2.69.160"), (b"cf-ipcountry", b"GB")];
//! let request = RequestView {
//!     host: Some(b"api.example.com"),
//!     path_and_query: b"/static/app.js",
//!     headers,
//!     ..RequestView::new("198.41.128.5".parse()?)
//! };
//! let decision = engine.decide(&request, Timestamp::from_secs(12));
//! assert_eq!(decision.action, Action::Allow);
//! assert_eq!(decision.client_ip.to_string(), "81.2.69.160");
//! assert_eq!(decision.cache.edge_ttl_s, Some(30 * 86_400));
//! assert_eq!(decision.matched_rules().collect::<Vec<_>>(), ["static"]);
//! assert!(decision.response_headers().any(|(name, value)| name == "x-frame-options" && value == "DENY"));
//! # Ok(())
//! # }
//! ```
//!
//! # Should I use this?
//! Use it when a Rust gateway (or a simulator) must apply edge policy the way Cloudflare does
//! (custom firewall rules in the Rules language, rate limiting rules, cache rules, transforms)
//! from one reviewed file, and when you want to replay traffic through the very same code. It
//! is not a proxy: it decides, the gateway acts.
//!
//! # The pipeline
//! One pass, in Cloudflare's order: client identity (trusted proxies, `cf-connecting-ip`,
//! `x-forwarded-for`, `cf-ipcountry`, `cf-ray`) -> firewall ([`config::FirewallRuleConfig`]:
//! block, challenge, managed_challenge, js_challenge, log, skip) -> rate limiting
//! ([`ratelimit`]: sliding windows with Cloudflare's estimate) -> cache rules (merged into a
//! [`CacheDirective`]) -> origin [`routing`] -> transforms (header edits with `{region}` and
//! `{country}`, CORS).
//!
//! # Main types
//! - [`Policy`]: a compiled policy file ([`config::PolicyFile`] is its syntax). Errors are
//!   [`PolicyErrors`], a list of [`Diagnostic`]s with file, line:col, key path and a caret.
//! - [`Engine`]: runs a policy; [`Engine::reload`] swaps policies with one `ArcSwap` store;
//!   counters ([`CounterStore`]) and origin health live outside the policy and survive.
//! - [`RequestView`]: the request, borrowed from the gateway's own types.
//! - [`Decision`] and [`Explanation`] ([`Engine::explain`]): the answer, as data.
//! - [`Timestamp`]: time as an argument.
// The workspace denies `unsafe`; only edgeroute-sim holds an exception (a cache prefetch).
#![forbid(unsafe_code)]

mod analysis;
mod ascii;
mod compile;
pub mod config;
mod decision;
pub mod diag;
mod engine;
mod fields;
#[doc(hidden)]
pub mod fuzz;
pub mod identity;
pub mod interop;
pub mod pattern;
mod policy;
pub mod ratelimit;
mod request;
pub mod routing;
pub mod time;
pub mod transform;

pub use compile::{
    MAX_CACHE_RULES, MAX_FIREWALL_RULES, MAX_KEY_BUDGET, MAX_RATE_LIMIT_RULES, MAX_RATE_PERIODS,
    MAX_TRANSFORM_RULES, MAX_TTL_S,
};
pub use decision::{
    Action, CacheDirective, Decision, Explanation, MAX_MATCHED, MatchedRules, RouteChoice, Step,
};
pub use diag::{Diagnostic, KeyPath, PolicyErrors, Severity};
/// Rules-language field ids and values, for the extra fields a gateway supplies in
/// [`RequestView::fields`] (such as `cf.threat_score`) without depending on `edgeroute-rules`.
pub use edgeroute_rules::{FieldId, Value};
pub use engine::{Engine, GeoLookup};
pub use identity::{CountryCode, SubdivisionCode, TrustedProxies};
pub use policy::{ContentClass, Phase, Policy, RuleInfo, Service};
pub use ratelimit::{CounterStore, MemoryCounterStore};
pub use request::{HttpScheme, RequestView};
pub use time::Timestamp;
pub use transform::{EditKey, HeaderValue};
