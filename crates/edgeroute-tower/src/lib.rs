//! Run the [`edgeroute`] decision engine inside an `http` / `tower` gateway.
//!
//! - [`PolicyLayer`]: a tower middleware. Every request is decided by the [`Engine`](edgeroute::Engine)
//!   (client identity, firewall, rate limits, cache rules, origin routing, transforms); the
//!   service answers blocks, challenges, rate limits (`429` + `Retry-After`), CORS preflights and
//!   "no origin" (`503`) itself, and forwards the rest with the policy's request headers set,
//!   the [`Decision`](edgeroute::Decision) in the request extensions, and the policy's response
//!   headers applied to the inner service's response.
//! - [`with_request_view`]: an engine [`RequestView`](edgeroute::RequestView) of an
//!   [`http::Request`], borrowed, without touching the body; the peer address comes from a
//!   [`ConnectInfo`] extension the server inserts.
//! - [`SharedCounters`]: rate-limit counters shared by several gateway instances through Redis,
//!   usable as the engine's [`CounterStore`](edgeroute::CounterStore), with a documented error
//!   bound and a fail-open / fail-closed / local choice when Redis is down ([`redis_store`]).
//! - [`metrics`]: decision counts by action, rule, region and cache status, and `decide()`
//!   latency, through the `metrics` facade.
//! - [`Clock`]: time is injected; [`MonotonicClock`] is the default, [`ManualClock`] drives tests.
//!
//! The crate also ships `edgeroute-gateway`, an example HTTP/1 gateway on hyper (proxying,
//! reloads on SIGHUP and file change, active health probes, passive failure reports, an admin
//! port with Prometheus metrics); see the crate README.
//!
//! # Should I use this?
//! If your gateway is built on `tower` services (hyper, axum, tonic), yes: add the layer. If
//! it is not (pingora, a custom proxy), call [`Engine::decide`](edgeroute::Engine::decide) yourself; [`answer`] still turns
//! a non-forwarding decision into a response, and the README shows a pingora `request_filter`.
//!
//! # Example
//! ```
//! use std::net::SocketAddr;
//!
//! use bytes::Bytes;
//! use edgeroute::{Engine, Policy};
//! use edgeroute_tower::{ConnectInfo, ManualClock, PolicyLayer};
//! use http::{Request, Response, StatusCode};
//! use http_body_util::Full;
//! use tower::{Layer, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let policy = r#"
//! [policy]
//! name = "example"
//!
//! [services.api]
//! hosts = ["api.example.com"]
//!
//! [[firewall.rules]]
//! id = "no-admin"
//! expression = 'starts_with(http.request.uri.path, "/admin")'
//! action = "block"
//! status = 403
//! body = "no"
//!
//! [transforms.response_headers]
//! "X-Frame-Options" = "DENY"
//! "#;
//! let (policy, _warnings) = Policy::from_toml_str(policy, "inline.toml", None)?;
//! let origin = tower::service_fn(|_req: Request<Full<Bytes>>| async {
//!     Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from("hello"))))
//! });
//! let svc = PolicyLayer::new(Engine::new(policy))
//!     .with_clock(ManualClock::default())
//!     .layer(origin);
//!
//! let request = |path: &str| -> Result<Request<Full<Bytes>>, http::Error> {
//!     let mut r = Request::get(path).header("host", "api.example.com").body(Full::default())?;
//!     r.extensions_mut().insert(ConnectInfo::new(SocketAddr::from(([192, 0, 2, 1], 4000))));
//!     Ok(r)
//! };
//! let blocked = svc.clone().oneshot(request("/admin/users")?).await?;
//! assert_eq!(blocked.status(), StatusCode::FORBIDDEN);
//! let allowed = svc.oneshot(request("/hello")?).await?;
//! assert_eq!(allowed.status(), StatusCode::OK);
//! assert_eq!(allowed.headers()["x-frame-options"], "DENY");
//! # Ok(())
//! # }
//! ```
//!
//! # Cost
//! The layer adds the engine's `decide()` plus building the view (no allocation for up to
//! [`INLINE_HEADERS`] headers) and setting the header edits; the crate README has the measured
//! overhead over a bare inner service.
// The workspace denies `unsafe`; only edgeroute-sim holds an exception (a cache prefetch).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod clock;
mod headers;
mod layer;
pub mod metrics;
pub mod redis_store;
mod request;

pub use clock::{Clock, ManualClock, MonotonicClock};
pub use layer::{CHALLENGE_HEADER, PolicyBody, PolicyFuture, PolicyLayer, PolicyService, answer};
pub use redis_store::{
    FailMode, RedisCounterConfig, RedisCounterError, RedisWindows, SharedCounters, WindowCounts,
};
pub use request::{ConnectInfo, INLINE_HEADERS, with_request_view};
