//! edgeroute-tower: run the edgeroute engine inside an `http`/`tower` gateway.
//!
//! (Work in progress: the Redis-backed shared counters land first; the tower layer follows the
//! engine API.)
#![deny(missing_docs)]

mod clock;
pub mod redis_store;

pub use clock::{Clock, ManualClock, MonotonicClock};

pub use redis_store::{
    FailMode, RedisCounterConfig, RedisCounterError, RedisWindows, SharedCounters, WindowCounts,
};
