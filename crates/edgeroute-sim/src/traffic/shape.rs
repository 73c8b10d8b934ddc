//! The daily shape of traffic by a client's local time.

/// Relative traffic by local hour, normalised to a mean of 1 over the day and interpolated
/// linearly between hour midpoints so there are no steps at the top of each hour.
#[derive(Debug, Clone, PartialEq)]
pub struct DailyShape {
    hours: [f64; 24],
    max: f64,
}

/// The default: a business-day curve for a voice platform (people call during working hours),
/// lowest at 03:00-05:00 local, highest 10:00-16:00, about three to one.
pub const DEFAULT_SHAPE: [f64; 24] = [
    0.45, 0.38, 0.34, 0.32, 0.32, 0.36, 0.50, 0.72, 0.95, 1.15, 1.28, 1.32, //
    1.30, 1.30, 1.32, 1.30, 1.24, 1.14, 1.02, 0.92, 0.84, 0.76, 0.66, 0.54,
];

impl DailyShape {
    /// From 24 non-negative hourly weights with a positive sum (others give a flat shape).
    #[must_use]
    pub fn new(weights: &[f64]) -> Self {
        let mut hours = [1.0; 24];
        let sum: f64 = weights.iter().sum();
        if weights.len() == 24 && sum > 0.0 && weights.iter().all(|w| w.is_finite() && *w >= 0.0) {
            let mean = sum / 24.0;
            for (h, w) in hours.iter_mut().zip(weights) {
                *h = w / mean;
            }
        }
        let max = hours.iter().copied().fold(0.0, f64::max);
        DailyShape { hours, max }
    }

    /// A flat shape (every hour 1).
    #[must_use]
    pub fn flat() -> Self {
        DailyShape::new(&[1.0; 24])
    }

    /// The factor at a local time of day in hours (any real number; wrapped into `[0, 24)`).
    #[inline]
    #[must_use]
    pub fn factor(&self, local_hour: f64) -> f64 {
        // Value h applies at h + 0.5; interpolate between neighbouring midpoints.
        let x = (local_hour - 0.5).rem_euclid(24.0);
        let i = (x as usize).min(23);
        let frac = x - i as f64;
        let a = self.hours.get(i).copied().unwrap_or(1.0);
        let b = self.hours.get((i + 1) % 24).copied().unwrap_or(1.0);
        a + (b - a) * frac
    }

    /// The largest factor (the thinning bound).
    #[must_use]
    pub fn max(&self) -> f64 {
        self.max
    }

    /// A bound of the factor over the hour `[local_hour, local_hour + 1]`, never above
    /// [`DailyShape::max`]: the thinning bound for that hour. The factor is linear between
    /// hour midpoints, so its largest value is at an end of the hour or at the midpoint inside
    /// it; the bound is that value, raised by one part in 10^9 against rounding at the kinks.
    #[must_use]
    pub fn bound_within_hour(&self, local_hour: f64) -> f64 {
        let a = local_hour;
        let mid = (a - 0.5).floor() + 1.5;
        let inside = if mid < a + 1.0 { self.factor(mid) } else { 0.0 };
        let m = self.factor(a).max(self.factor(a + 1.0)).max(inside);
        (m * (1.0 + 1e-9)).min(self.max)
    }
}

impl Default for DailyShape {
    fn default() -> Self {
        DailyShape::new(&DEFAULT_SHAPE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_is_one_and_max_bounds() {
        let s = DailyShape::default();
        let n = 24 * 60;
        let mean: f64 = (0..n).map(|m| s.factor(m as f64 / 60.0)).sum::<f64>() / n as f64;
        assert!((mean - 1.0).abs() < 1e-3, "{mean}");
        for m in 0..n {
            assert!(s.factor(m as f64 / 60.0) <= s.max() + 1e-12);
        }
        assert!(s.factor(12.5) > 2.0 * s.factor(3.5));
        assert!((s.factor(-1.0) - s.factor(23.0)).abs() < 1e-12);
    }

    #[test]
    fn the_hour_bound_bounds_every_minute_of_the_hour() {
        let s = DailyShape::default();
        for start in (0..24 * 8).map(|q| f64::from(q) / 8.0 - 3.3) {
            let bound = s.bound_within_hour(start);
            assert!(bound <= s.max());
            for m in 0..=60 {
                let f = s.factor(start + f64::from(m) / 60.0);
                assert!(f <= bound, "hour from {start}: {f} > {bound} at minute {m}");
            }
        }
    }

    #[test]
    fn bad_weights_are_flat() {
        let s = DailyShape::new(&[1.0, 2.0]);
        assert_eq!(s, DailyShape::flat());
        assert!((s.factor(7.3) - 1.0).abs() < 1e-12);
    }
}
