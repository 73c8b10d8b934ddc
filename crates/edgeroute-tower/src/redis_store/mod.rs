//! Rate-limit counters shared by several gateway instances through one Redis server.
//!
//! Two layers:
//! - [`RedisWindows`]: exact and asynchronous. One atomic Lua script per batch increments the
//!   current window's key, sets its expiry, and reads the current and previous windows back.
//! - [`SharedCounters`]: synchronous, for the engine's hot path, which must not wait on a network.
//!   It counts locally and returns at once; a background task sends the local increments to
//!   Redis in batches and reads back every instance's totals.
//!
//! # Error bound of `SharedCounters`
//! An instance sees another instance's requests once both have synced: a request admitted by
//! instance B becomes visible to instance A after at most `flush_interval + RTT` (B's flush) plus
//! `refresh_interval + RTT` (A's refresh of that key, or less when A itself counts that key,
//! since every local increment triggers a flush and that flush reads the totals back). With N
//! instances each admitting at most `r` requests per second on one key, the shared count
//! under-reads by at most `(N − 1) × r × (flush_interval + refresh_interval + 2 × RTT)`, so at
//! most that many requests (plus one, for the request that crosses the limit) pass beyond it;
//! [`RedisCounterConfig::overshoot_bound`] computes it. RTT here is a sync's round trip, at most
//! `timeout`. Add the sliding-window estimate's own error (it assumes the previous window's
//! requests were spread evenly). With the defaults (2 ms flush, 100 ms refresh) and loopback
//! RTT, that is about `0.1 × (N − 1) × r`; a single instance is exact (its own increments count
//! at once).
//!
//! # When Redis is slow or down
//! A sync that fails or takes longer than `timeout` marks the store unavailable until a later
//! sync succeeds (it retries every `flush_interval`, reconnecting as needed). While unavailable
//! the [`FailMode`] decides what counters read: nothing (`Open`), the limit exceeded (`Closed`),
//! or this instance's own counts (`Local`). Local increments made meanwhile are kept and sent when
//! Redis is back, as long as their window is still current or previous.

mod engine_store;
mod remote;
mod shared;
mod table;

use std::time::Duration;

pub use remote::{RedisWindows, WindowOp, WindowTotals};
pub use shared::{EXHAUSTED, SharedCounters, SyncStats};

/// What shared counters read while Redis is unreachable or slower than the timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FailMode {
    /// Counters read zero: no shared rate limit fires (availability first).
    #[default]
    Open,
    /// Counters read as exhausted: every request a rate-limit rule counts is refused.
    Closed,
    /// Counters read this instance's own counts: each instance enforces the limit alone, so N
    /// instances admit up to N times the limit.
    Local,
}

impl FailMode {
    /// Parses `open`, `closed` or `local`.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "open" => Some(FailMode::Open),
            "closed" => Some(FailMode::Closed),
            "local" => Some(FailMode::Local),
            _ => None,
        }
    }
}

/// Settings of the shared counters. [`RedisCounterConfig::new`] gives the documented defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisCounterConfig {
    /// `redis://host:port/db`.
    pub url: String,
    /// Prefix of every key (default `edgeroute`); instances that share a limit share the prefix.
    pub key_prefix: String,
    /// A Redis round trip slower than this is a failure (default 50 ms).
    pub timeout: Duration,
    /// Least time between two syncs; also the retry period while Redis is down (default 2 ms).
    pub flush_interval: Duration,
    /// Every live counter is re-read at least this often, even if this instance does not count
    /// it (default 100 ms).
    pub refresh_interval: Duration,
    /// What counters read while Redis is unavailable (default [`FailMode::Open`]).
    pub fail_mode: FailMode,
    /// Most counters per Lua script call (default 512).
    pub max_batch: usize,
    /// Most counters held locally (default 1,000,000); past it, the counter with the oldest
    /// window among a few sampled is dropped (its pending increments are lost).
    pub max_keys: usize,
}

impl RedisCounterConfig {
    /// The defaults for the server at `url`.
    #[must_use]
    pub fn new(url: impl Into<String>) -> Self {
        RedisCounterConfig {
            url: url.into(),
            key_prefix: "edgeroute".to_owned(),
            timeout: Duration::from_millis(50),
            flush_interval: Duration::from_millis(2),
            refresh_interval: Duration::from_millis(100),
            fail_mode: FailMode::Open,
            max_batch: 512,
            max_keys: 1_000_000,
        }
    }
}

impl RedisCounterConfig {
    /// The documented bound on requests admitted beyond a limit by `instances` gateways sharing
    /// it, each admitting at most `rate_per_instance` requests per second on the counter, with
    /// sync round trips of at most `rtt`: `(N − 1) × r × (flush + refresh + 2 × rtt) + 1`.
    #[must_use]
    pub fn overshoot_bound(&self, instances: u32, rate_per_instance: f64, rtt: Duration) -> f64 {
        let stale = self.flush_interval + self.refresh_interval + rtt + rtt;
        f64::from(instances.saturating_sub(1)) * rate_per_instance * stale.as_secs_f64() + 1.0
    }
}

/// Why a Redis operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RedisCounterError {
    /// The URL could not be used.
    #[error("invalid redis url `{url}`: {message}")]
    Config {
        /// The URL as given.
        url: String,
        /// What was wrong with it.
        message: String,
    },
    /// The server did not answer in time.
    #[error("redis did not answer within {0:?}")]
    Timeout(Duration),
    /// The server was unreachable or answered with an error.
    #[error("redis error: {0}")]
    Redis(String),
    /// The server answered something the script cannot have returned.
    #[error("unexpected redis reply: {0}")]
    Protocol(String),
}

impl RedisCounterError {
    fn from_redis(e: &redis::RedisError) -> Self {
        if e.is_timeout() {
            // The connection manager's own response timeout fired.
            RedisCounterError::Redis(format!("timed out: {e}"))
        } else {
            RedisCounterError::Redis(e.to_string())
        }
    }
}

/// The two window counts of a sliding-window counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WindowCounts {
    /// Requests counted in the previous window.
    pub previous: u64,
    /// Requests counted in the current window, including the one just counted.
    pub current: u64,
}

impl WindowCounts {
    /// These counts with `n` more requests in the current window.
    #[must_use]
    pub fn plus(self, n: u64) -> Self {
        WindowCounts {
            previous: self.previous,
            current: self.current.saturating_add(n),
        }
    }

    /// Cloudflare's sliding-window estimate `previous × (period − elapsed) / period + current`,
    /// where `elapsed` is the time since the current window began (clamped to the period).
    #[must_use]
    pub fn estimate(self, period: Duration, elapsed: Duration) -> f64 {
        let p = period.as_secs_f64();
        if p <= 0.0 {
            return self.current as f64;
        }
        let e = elapsed.as_secs_f64().clamp(0.0, p);
        self.previous as f64 * (p - e) / p + self.current as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimate_weights_previous_window_by_remaining_fraction() {
        let c = WindowCounts {
            previous: 100,
            current: 10,
        };
        let p = Duration::from_secs(60);
        assert!((c.estimate(p, Duration::ZERO) - 110.0).abs() < 1e-9);
        assert!((c.estimate(p, Duration::from_secs(15)) - 85.0).abs() < 1e-9);
        assert!((c.estimate(p, Duration::from_secs(60)) - 10.0).abs() < 1e-9);
        assert!((c.estimate(p, Duration::from_secs(600)) - 10.0).abs() < 1e-9);
        assert!((c.estimate(Duration::ZERO, Duration::ZERO) - 10.0).abs() < 1e-9);
    }

    #[test]
    fn overshoot_bound_is_exact_for_one_instance_and_grows_with_staleness() {
        let c = RedisCounterConfig::new("redis://127.0.0.1/");
        assert!((c.overshoot_bound(1, 1000.0, Duration::from_millis(1)) - 1.0).abs() < 1e-9);
        let two = c.overshoot_bound(2, 100.0, Duration::from_millis(1));
        assert!((two - (100.0 * 0.104 + 1.0)).abs() < 1e-9, "{two}");
    }

    #[test]
    fn fail_mode_parses_its_three_names() {
        assert_eq!(FailMode::parse("open"), Some(FailMode::Open));
        assert_eq!(FailMode::parse("closed"), Some(FailMode::Closed));
        assert_eq!(FailMode::parse("local"), Some(FailMode::Local));
        assert_eq!(FailMode::parse("Open"), None);
    }
}
