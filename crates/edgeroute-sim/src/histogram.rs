//! Streaming latency histograms: fixed log-linear buckets, constant memory, mergeable,
//! deterministic.
//!
//! Values are microseconds. Below `2^(B+1)` every value has its own bucket; above, each power of
//! two is split into `2^B` equal sub-buckets (the HdrHistogram layout), so a reported percentile
//! is within `2^-(B+1)` of the true value (1.6% for the fine histogram, 6.3% for the coarse one used
//! in time series). Values above `2^40` µs (about 12.7 days) land in the last bucket. Percentiles
//! are read as the midpoint of the bucket holding the `ceil(p * n)`-th smallest value, so two runs
//! that record the same multiset of values report the same numbers whatever the order.

/// The largest power of two tracked (values at or above `2^MAX_EXP` share the last bucket).
const MAX_EXP: u32 = 40;

/// A log-linear histogram with `2^B` sub-buckets per power of two.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Histogram<const B: u32> {
    counts: Option<Box<[u64]>>,
    total: u64,
    sum: u128,
    max: u64,
}

/// The histogram used for reported percentiles (32 sub-buckets per octave, error <= 1.6%).
pub type LatencyHistogram = Histogram<5>;
/// The histogram used per time-series interval (8 sub-buckets per octave, error <= 6.3%).
pub type CoarseHistogram = Histogram<3>;

impl<const B: u32> Default for Histogram<B> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const B: u32> Histogram<B> {
    /// The number of buckets: `2^(B+1)` exact ones, then `2^B` per octave up to `2^MAX_EXP`.
    pub const BUCKETS: usize = ((MAX_EXP - B + 1) as usize) << B;

    /// An empty histogram (allocates nothing until the first value).
    #[must_use]
    pub const fn new() -> Self {
        Histogram {
            counts: None,
            total: 0,
            sum: 0,
            max: 0,
        }
    }

    #[inline]
    fn index(v: u64) -> usize {
        let v = v.min((1u64 << MAX_EXP) - 1);
        if v < (2u64 << B) {
            return v as usize;
        }
        let k = 63 - v.leading_zeros();
        let shift = k - B;

        ((shift as usize) << B) + (v >> shift) as usize
    }

    /// The lowest value and width of bucket `i`.
    fn bucket_range(i: usize) -> (u64, u64) {
        if i < (2usize << B) {
            return (i as u64, 1);
        }
        let j = (i >> B) as u32; // >= 2
        let sub = (i & ((1usize << B) - 1)) as u64;
        let shift = j - 1;
        (((1u64 << B) + sub) << shift, 1u64 << shift)
    }

    /// Records one value (microseconds).
    #[inline]
    pub fn record(&mut self, micros: u64) {
        self.record_n(micros, 1);
    }

    /// Records `n` copies of one value.
    #[inline]
    pub fn record_n(&mut self, micros: u64, n: u64) {
        let counts = self
            .counts
            .get_or_insert_with(|| vec![0u64; Self::BUCKETS].into_boxed_slice());
        if let Some(c) = counts.get_mut(Self::index(micros)) {
            *c += n;
        }
        self.total += n;
        self.sum += u128::from(micros) * u128::from(n);
        self.max = self.max.max(micros);
    }

    /// Adds every value of `other` into `self`.
    pub fn merge(&mut self, other: &Self) {
        let Some(theirs) = &other.counts else { return };
        let mine = self
            .counts
            .get_or_insert_with(|| vec![0u64; Self::BUCKETS].into_boxed_slice());
        for (m, t) in mine.iter_mut().zip(theirs.iter()) {
            *m += *t;
        }
        self.total += other.total;
        self.sum += other.sum;
        self.max = self.max.max(other.max);
    }

    /// The number of values recorded.
    #[must_use]
    pub fn count(&self) -> u64 {
        self.total
    }

    /// The mean in microseconds (0 when empty).
    #[must_use]
    pub fn mean(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            self.sum as f64 / self.total as f64
        }
    }

    /// The largest value recorded, exactly.
    #[must_use]
    pub fn max(&self) -> u64 {
        self.max
    }

    /// The value at quantile `q` in `[0, 1]`, in microseconds (the bucket midpoint); `None`
    /// when empty.
    #[must_use]
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let counts = self.counts.as_ref()?;
        if self.total == 0 {
            return None;
        }
        let q = q.clamp(0.0, 1.0);
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0u64;
        for (i, c) in counts.iter().enumerate() {
            seen += *c;
            if seen >= rank {
                let (low, width) = Self::bucket_range(i);
                let mid = low as f64 + (width - 1) as f64 / 2.0;
                return Some(mid.min(self.max as f64));
            }
        }
        Some(self.max as f64)
    }

    /// The value at quantile `q` in milliseconds, rounded to 0.01 ms; `None` when empty.
    #[must_use]
    pub fn quantile_ms(&self, q: f64) -> Option<f64> {
        self.quantile(q).map(|us| (us / 10.0).round() / 100.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_cover() {
        let mut prev_end = 0u64;
        for i in 0..LatencyHistogram::BUCKETS {
            let (low, width) = LatencyHistogram::bucket_range(i);
            assert_eq!(low, prev_end, "bucket {i}");
            assert_eq!(LatencyHistogram::index(low), i);
            assert_eq!(LatencyHistogram::index(low + width - 1), i);
            prev_end = low + width;
        }
        assert_eq!(prev_end, 1u64 << MAX_EXP);
        assert_eq!(
            LatencyHistogram::index(u64::MAX),
            LatencyHistogram::BUCKETS - 1
        );
        assert_eq!(
            CoarseHistogram::index(u64::MAX),
            CoarseHistogram::BUCKETS - 1
        );
    }

    #[test]
    fn quantiles_within_relative_error() {
        let mut h = LatencyHistogram::new();
        let mut values: Vec<u64> = (0..10_000u64).map(|i| 1 + i * i % 997_331).collect();
        for v in &values {
            h.record(*v);
        }
        values.sort_unstable();
        for q in [0.5, 0.95, 0.99] {
            let exact = values[((q * values.len() as f64).ceil() as usize) - 1] as f64;
            let got = h.quantile(q).unwrap();
            assert!(
                (got - exact).abs() <= exact / 64.0 + 1.0,
                "q {q}: {got} vs {exact}"
            );
        }
        assert_eq!(h.count(), 10_000);
    }

    #[test]
    fn merge_equals_recording_together() {
        let mut a = LatencyHistogram::new();
        let mut b = LatencyHistogram::new();
        let mut both = LatencyHistogram::new();
        for v in 0..5000u64 {
            let x = v * 37 % 100_003;
            if v % 3 == 0 {
                a.record(x)
            } else {
                b.record(x)
            }
            both.record(x);
        }
        a.merge(&b);
        assert_eq!(a, both);
        let empty = LatencyHistogram::new();
        a.merge(&empty);
        assert_eq!(a, both);
    }

    #[test]
    fn empty_has_no_quantile() {
        let h = CoarseHistogram::new();
        assert_eq!(h.quantile(0.5), None);
        assert_eq!(h.mean(), 0.0);
    }
}
