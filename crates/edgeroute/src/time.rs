//! Time as data: the engine never reads a clock, callers pass a [`Timestamp`].

use std::fmt;
use std::time::Duration;

/// A point in time, in microseconds since an arbitrary epoch chosen by the caller.
///
/// A gateway passes a monotonic clock reading (for example microseconds since process start);
/// the simulator passes virtual time. Only differences between timestamps matter to the engine,
/// except that sliding windows are aligned to multiples of their period since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(u64);

impl Timestamp {
    /// The epoch itself.
    pub const ZERO: Timestamp = Timestamp(0);

    /// A timestamp from microseconds since the epoch.
    #[must_use]
    pub const fn from_micros(micros: u64) -> Self {
        Timestamp(micros)
    }

    /// A timestamp from milliseconds since the epoch (saturating).
    #[must_use]
    pub const fn from_millis(millis: u64) -> Self {
        Timestamp(millis.saturating_mul(1_000))
    }

    /// A timestamp from whole seconds since the epoch (saturating).
    #[must_use]
    pub const fn from_secs(secs: u64) -> Self {
        Timestamp(secs.saturating_mul(1_000_000))
    }

    /// A timestamp from fractional seconds since the epoch. Negative and NaN values map to the
    /// epoch, values beyond the range saturate.
    #[must_use]
    pub fn from_secs_f64(secs: f64) -> Self {
        if secs.is_nan() || secs <= 0.0 {
            return Timestamp(0);
        }
        let micros = (secs * 1_000_000.0).round();
        if micros >= u64::MAX as f64 {
            Timestamp(u64::MAX)
        } else {
            #[expect(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                reason = "range checked above"
            )]
            Timestamp(micros as u64)
        }
    }

    /// Microseconds since the epoch.
    #[must_use]
    pub const fn as_micros(self) -> u64 {
        self.0
    }

    /// Fractional seconds since the epoch.
    #[must_use]
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1_000_000.0
    }

    /// This timestamp moved forward by `d` (saturating).
    #[must_use]
    pub fn saturating_add(self, d: Duration) -> Self {
        let micros = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        Timestamp(self.0.saturating_add(micros))
    }

    /// The time from `earlier` to `self`, zero if `earlier` is later.
    #[must_use]
    pub fn saturating_since(self, earlier: Timestamp) -> Duration {
        Duration::from_micros(self.0.saturating_sub(earlier.0))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:06}s", self.0 / 1_000_000, self.0 % 1_000_000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_round_trip() {
        assert_eq!(Timestamp::from_secs_f64(12.5).as_micros(), 12_500_000);
        assert_eq!(Timestamp::from_millis(1500).as_secs_f64(), 1.5);
        assert_eq!(Timestamp::from_secs(3), Timestamp::from_millis(3000));
        assert_eq!(Timestamp::from_secs_f64(-1.0), Timestamp::ZERO);
        assert_eq!(Timestamp::from_secs_f64(f64::NAN), Timestamp::ZERO);
        assert_eq!(Timestamp::from_secs_f64(1e300).as_micros(), u64::MAX);
        assert_eq!(Timestamp::from_secs(2).to_string(), "2.000000s");
    }

    #[test]
    fn arithmetic_saturates() {
        let t = Timestamp::from_secs(1);
        assert_eq!(Timestamp::ZERO.saturating_since(t), Duration::ZERO);
        assert_eq!(t.saturating_since(Timestamp::ZERO), Duration::from_secs(1));
        assert_eq!(
            Timestamp(u64::MAX).saturating_add(Duration::from_secs(1)).0,
            u64::MAX
        );
    }
}
