//! edgeroute-tower: run the edgeroute engine inside an `http`/`tower` gateway.
//!
//! (Work in progress: the Redis-backed shared counters land first; the tower layer follows the
//! engine API.)
#![deny(missing_docs)]

mod clock;
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
