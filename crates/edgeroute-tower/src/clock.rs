//! Time for the gateway side. The engine never reads a clock; the layer asks a [`Clock`] and
//! passes the reading in, so tests drive time by hand.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A source of "now" as time since the clock's epoch.
pub trait Clock: Send + Sync + 'static {
    /// Time since the epoch. Must never go backwards.
    fn now(&self) -> Duration;

    /// Time since the epoch at `instant`, a reading the caller just took (the layer reads one
    /// [`Instant`] per request for both this and the `decide()` latency metric). The default
    /// ignores it and calls [`now`](Self::now); clocks built on [`Instant`] use it instead of
    /// reading the clock again.
    fn now_at(&self, instant: Instant) -> Duration {
        let _ = instant;
        self.now()
    }
}

/// The default clock: monotonic, with the Unix epoch.
///
/// It reads the wall clock once, when created, then adds a monotonic [`Instant`]'s elapsed time,
/// so it never jumps when the system clock is stepped, and gateway instances started on
/// NTP-synchronised machines agree on rate-limit window boundaries (to within their clock offset
/// at start), which shared counters need.
#[derive(Debug, Clone, Copy)]
pub struct MonotonicClock {
    anchor: Duration,
    start: Instant,
}

impl MonotonicClock {
    /// A clock anchored at the current wall-clock time.
    #[must_use]
    pub fn new() -> Self {
        MonotonicClock {
            anchor: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or(Duration::ZERO),
            start: Instant::now(),
        }
    }
}

impl Default for MonotonicClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for MonotonicClock {
    fn now(&self) -> Duration {
        self.now_at(Instant::now())
    }

    fn now_at(&self, instant: Instant) -> Duration {
        self.anchor
            .saturating_add(instant.saturating_duration_since(self.start))
    }
}

/// A clock moved by hand, for tests. Clones share one reading.
#[derive(Debug, Clone, Default)]
pub struct ManualClock(std::sync::Arc<AtomicU64>);

impl ManualClock {
    /// A clock reading `now`.
    #[must_use]
    pub fn new(now: Duration) -> Self {
        let c = ManualClock::default();
        c.set(now);
        c
    }

    /// Sets the reading (microsecond precision; may go backwards, unlike a real clock).
    pub fn set(&self, now: Duration) {
        self.0.store(
            u64::try_from(now.as_micros()).unwrap_or(u64::MAX),
            Ordering::SeqCst,
        );
    }

    /// Moves the reading forward by `d`.
    pub fn advance(&self, d: Duration) {
        let micros = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        let _ = self
            .0
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |v| {
                Some(v.saturating_add(micros))
            });
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Duration {
        Duration::from_micros(self.0.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monotonic_clock_starts_near_unix_time_and_does_not_go_back() {
        let c = MonotonicClock::new();
        let a = c.now();
        let b = c.now();
        assert!(b >= a);
        let later = Instant::now();
        let at = c.now_at(later);
        assert!(at >= b && at <= c.now());
        assert_eq!(c.now_at(c.start), c.anchor);
        // An instant from before the clock was made reads as its start, not earlier.
        assert_eq!(c.now_at(c.start - Duration::from_millis(1)), c.anchor);
        let manual = ManualClock::new(Duration::from_secs(3));
        assert_eq!(manual.now_at(later), Duration::from_secs(3));
        // 2020-01-01 and later.
        assert!(a > Duration::from_secs(1_577_836_800));
    }

    #[test]
    fn manual_clock_moves_only_when_told() {
        let c = ManualClock::new(Duration::from_secs(5));
        let shared = c.clone();
        assert_eq!(c.now(), Duration::from_secs(5));
        shared.advance(Duration::from_millis(1500));
        assert_eq!(c.now(), Duration::from_micros(6_500_000));
    }
}
