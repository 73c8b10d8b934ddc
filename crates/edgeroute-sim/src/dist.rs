//! Distributions the simulator samples from, written out so their output is fixed forever.
//!
//! The normal quantile uses Acklam's rational approximation (relative error below 1.2e-9), which
//! needs one uniform and, for 95% of draws, no logarithm; Zipf uses rejection-inversion
//! (Hörmann and Derflinger, 1996), O(1) per draw for any number of objects; discrete choices use
//! Vose's alias method.

use crate::rng::SimRng;

/// The 99th percentile of the standard normal distribution.
pub const Z99: f64 = 2.326_347_874_040_840_8;

/// The standard normal quantile function (inverse CDF) at `p` in `(0, 1)`; clamped outside.
#[must_use]
pub fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    const LOW: f64 = 0.024_25;
    let p = p.clamp(1e-300, 1.0 - 1e-16);
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < LOW {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - LOW {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

/// A standard normal draw.
#[inline]
pub fn standard_normal(rng: &mut SimRng) -> f64 {
    normal_quantile(rng.next_f64_open0() - f64::EPSILON * 0.5)
}

/// An exponential draw with the given mean.
#[inline]
pub fn exponential(rng: &mut SimRng, mean: f64) -> f64 {
    -rng.next_f64_open0().ln() * mean
}

/// A lognormal distribution given by its median and 99th percentile.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LogNormal {
    mu: f64,
    sigma: f64,
}

impl LogNormal {
    /// From the median and the 99th percentile (`p99 >= p50 > 0`; equal means constant).
    #[must_use]
    pub fn from_p50_p99(p50: f64, p99: f64) -> Self {
        let p50 = p50.max(f64::MIN_POSITIVE);
        let p99 = p99.max(p50);
        LogNormal {
            mu: p50.ln(),
            sigma: (p99.ln() - p50.ln()) / Z99,
        }
    }

    /// From the parameters of the underlying normal (`sigma` below 0 is taken as 0).
    #[must_use]
    pub fn from_mu_sigma(mu: f64, sigma: f64) -> Self {
        LogNormal {
            mu,
            sigma: sigma.max(0.0),
        }
    }

    /// The median.
    #[must_use]
    pub fn median(&self) -> f64 {
        self.mu.exp()
    }

    /// The mean, `exp(mu + sigma^2 / 2)`.
    #[must_use]
    pub fn mean(&self) -> f64 {
        (self.mu + self.sigma * self.sigma / 2.0).exp()
    }

    /// The value at quantile `p`.
    #[must_use]
    pub fn quantile(&self, p: f64) -> f64 {
        (self.mu + self.sigma * normal_quantile(p)).exp()
    }

    /// One draw.
    #[inline]
    pub fn sample(&self, rng: &mut SimRng) -> f64 {
        if self.sigma == 0.0 {
            return self.mu.exp();
        }
        (self.mu + self.sigma * standard_normal(rng)).exp()
    }

    /// A value fixed by a 64-bit hash (for per-object facts such as sizes).
    #[must_use]
    pub fn from_hash(&self, h: u64) -> f64 {
        let u = ((h >> 11) as f64 + 0.5) * (1.0 / (1u64 << 53) as f64);
        self.quantile(u)
    }
}

/// Zipf(alpha) popularity over ranks `1..=n` by rejection-inversion.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Zipf {
    n: u64,
    s: f64,
    h_x1: f64,
    h_n: f64,
    threshold: f64,
}

impl Zipf {
    /// Over `n >= 1` objects with exponent `alpha >= 0` (0 is uniform).
    #[must_use]
    pub fn new(n: u64, alpha: f64) -> Self {
        let n = n.max(1);
        let s = alpha.max(0.0);
        let mut z = Zipf {
            n,
            s,
            h_x1: 0.0,
            h_n: 0.0,
            threshold: 0.0,
        };
        z.h_x1 = z.h_integral(1.5) - 1.0;
        z.h_n = z.h_integral(n as f64 + 0.5);
        z.threshold = 2.0 - z.h_integral_inverse(z.h_integral(2.5) - z.h(2.0));
        z
    }

    /// The number of objects.
    #[must_use]
    pub fn objects(&self) -> u64 {
        self.n
    }

    fn h(&self, x: f64) -> f64 {
        (-self.s * x.ln()).exp()
    }

    fn h_integral(&self, x: f64) -> f64 {
        let log_x = x.ln();
        helper2((1.0 - self.s) * log_x) * log_x
    }

    fn h_integral_inverse(&self, x: f64) -> f64 {
        let t = (x * (1.0 - self.s)).max(-1.0);
        (helper1(t) * x).exp()
    }

    /// A rank in `1..=n`; rank 1 is the most popular.
    #[inline]
    pub fn sample(&self, rng: &mut SimRng) -> u64 {
        if self.s == 0.0 {
            return rng.below(self.n) + 1;
        }
        // Rejection rarely loops more than once; the bound keeps a degenerate float case finite.
        for _ in 0..64 {
            let u = self.h_n + rng.next_f64() * (self.h_x1 - self.h_n);
            let x = self.h_integral_inverse(u);
            let k_f = (x + 0.5).floor();
            let k = (k_f.max(1.0) as u64).clamp(1, self.n);
            let kf = k as f64;
            if kf - x <= self.threshold || u >= self.h_integral(kf + 0.5) - self.h(kf) {
                return k;
            }
        }
        1
    }
}

/// `ln(1 + x) / x`, accurate near 0.
fn helper1(x: f64) -> f64 {
    if x.abs() > 1e-8 {
        x.ln_1p() / x
    } else {
        1.0 - x * (0.5 - x * (1.0 / 3.0 - 0.25 * x))
    }
}

/// `(exp(x) - 1) / x`, accurate near 0.
fn helper2(x: f64) -> f64 {
    if x.abs() > 1e-8 {
        x.exp_m1() / x
    } else {
        1.0 + x * 0.5 * (1.0 + x * (1.0 / 3.0) * (1.0 + 0.25 * x))
    }
}

/// A weighted choice among `n` items in O(1) per draw (Vose's alias method).
#[derive(Debug, Clone, PartialEq)]
pub struct Alias {
    prob: Vec<f64>,
    alias: Vec<u32>,
}

impl Alias {
    /// From non-negative weights; `None` when there are none or they sum to zero.
    #[must_use]
    pub fn new(weights: &[f64]) -> Option<Self> {
        let n = weights.len();
        let total: f64 = weights.iter().map(|w| w.max(0.0)).sum();
        if n == 0 || total.is_nan() || total <= 0.0 || !total.is_finite() || n > u32::MAX as usize {
            return None;
        }
        let scale = n as f64 / total;
        let mut prob: Vec<f64> = weights.iter().map(|w| w.max(0.0) * scale).collect();
        let mut alias: Vec<u32> = (0..n).map(|i| u32::try_from(i).unwrap_or(0)).collect();
        let mut small: Vec<usize> = Vec::new();
        let mut large: Vec<usize> = Vec::new();
        for (i, p) in prob.iter().enumerate() {
            if *p < 1.0 {
                small.push(i);
            } else {
                large.push(i);
            }
        }
        while let (Some(s), Some(l)) = (small.pop(), large.last().copied()) {
            let ps = prob.get(s).copied().unwrap_or(1.0);
            if let Some(a) = alias.get_mut(s) {
                *a = u32::try_from(l).unwrap_or(0);
            }
            if let Some(pl) = prob.get_mut(l) {
                *pl = (*pl + ps) - 1.0;
                if *pl < 1.0 {
                    large.pop();
                    small.push(l);
                }
            }
        }
        // Leftovers are 1 up to rounding.
        for i in large.into_iter().chain(small) {
            if let Some(p) = prob.get_mut(i) {
                *p = 1.0;
            }
        }
        Some(Alias { prob, alias })
    }

    /// The number of items.
    #[must_use]
    pub fn len(&self) -> usize {
        self.prob.len()
    }

    /// Whether there are no items (never true for a constructed table).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.prob.is_empty()
    }

    /// One index in `0..len`.
    #[inline]
    pub fn sample(&self, rng: &mut SimRng) -> usize {
        let r = rng.next_u64();
        let n = self.prob.len() as u64;
        let i = ((u128::from(r) * u128::from(n)) >> 64) as usize;
        let u = (r & 0x1F_FFFF) as f64 * (1.0 / (1u64 << 21) as f64);
        match self.prob.get(i) {
            Some(&p) if u < p => i,
            Some(_) => self.alias.get(i).map_or(i, |&a| a as usize),
            None => 0,
        }
    }
}

/// A weighted choice among items that carries the items with the alias table, so a draw
/// touches one table entry (two when it takes the alias) and nothing else.
#[derive(Debug, Clone, PartialEq)]
pub struct WeightedTable<T> {
    entries: Vec<Entry<T>>,
}

#[derive(Debug, Clone, PartialEq)]
struct Entry<T> {
    prob: f64,
    alias: u32,
    item: T,
}

impl<T: Copy> WeightedTable<T> {
    /// From `(item, weight)` pairs; `None` when the weights are empty or sum to zero.
    #[must_use]
    pub fn new(items: &[(T, f64)]) -> Option<Self> {
        let weights: Vec<f64> = items.iter().map(|(_, w)| *w).collect();
        let alias = Alias::new(&weights)?;
        let entries = items
            .iter()
            .zip(alias.prob.iter().zip(&alias.alias))
            .map(|(&(item, _), (&prob, &alias))| Entry { prob, alias, item })
            .collect();
        Some(WeightedTable { entries })
    }

    /// One item, drawn with probability proportional to its weight.
    #[inline]
    pub fn sample(&self, rng: &mut SimRng) -> Option<T> {
        let r = rng.next_u64();
        let n = self.entries.len() as u64;
        let i = ((u128::from(r) * u128::from(n)) >> 64) as usize;
        let u = (r & 0x1F_FFFF) as f64 * (1.0 / (1u64 << 21) as f64);
        let e = self.entries.get(i)?;
        if u < e.prob {
            Some(e.item)
        } else {
            self.entries.get(e.alias as usize).map(|a| a.item)
        }
    }

    /// The number of items.
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none (never for a constructed table).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantile_known_values() {
        assert!(normal_quantile(0.5).abs() < 1e-9);
        assert!((normal_quantile(0.99) - Z99).abs() < 1e-7);
        assert!((normal_quantile(0.01) + Z99).abs() < 1e-7);
        assert!((normal_quantile(0.975) - 1.959_963_984_540_054).abs() < 1e-7);
    }

    #[test]
    fn lognormal_percentiles_match_inputs() {
        let d = LogNormal::from_p50_p99(20.0, 200.0);
        assert!((d.quantile(0.5) - 20.0).abs() < 1e-6);
        assert!((d.quantile(0.99) - 200.0).abs() < 1e-4);
        let mut rng = SimRng::seed_from(9);
        let mut v: Vec<f64> = (0..200_000).map(|_| d.sample(&mut rng)).collect();
        v.sort_by(f64::total_cmp);
        let p50 = v[100_000];
        let p99 = v[198_000];
        assert!((p50 / 20.0 - 1.0).abs() < 0.02, "{p50}");
        assert!((p99 / 200.0 - 1.0).abs() < 0.05, "{p99}");
    }

    #[test]
    fn zipf_matches_frequencies() {
        for alpha in [0.0, 0.7, 1.0, 1.3] {
            let n = 1000u64;
            let z = Zipf::new(n, alpha);
            let mut rng = SimRng::seed_from(5);
            let draws = 400_000;
            let mut counts = vec![0u64; n as usize + 1];
            for _ in 0..draws {
                let k = z.sample(&mut rng);
                assert!((1..=n).contains(&k));
                counts[k as usize] += 1;
            }
            let norm: f64 = (1..=n).map(|k| (k as f64).powf(-alpha)).sum();
            for k in [1u64, 2, 10] {
                let expect = draws as f64 * (k as f64).powf(-alpha) / norm;
                let got = counts[k as usize] as f64;
                assert!(
                    (got - expect).abs() < 5.0 * expect.sqrt() + 0.01 * expect,
                    "alpha {alpha} k {k}: {got} vs {expect}"
                );
            }
        }
    }

    #[test]
    fn alias_matches_weights() {
        let a = Alias::new(&[1.0, 0.0, 3.0, 6.0]).unwrap();
        let mut rng = SimRng::seed_from(11);
        let mut counts = [0u32; 4];
        for _ in 0..100_000 {
            counts[a.sample(&mut rng)] += 1;
        }
        assert_eq!(counts[1], 0);
        assert!((9_300..10_700).contains(&counts[0]), "{counts:?}");
        assert!((28_800..31_200).contains(&counts[2]), "{counts:?}");
        assert!(Alias::new(&[]).is_none());
        assert!(Alias::new(&[0.0]).is_none());
    }

    #[test]
    fn weighted_table_matches_the_alias_table() {
        let items = [('a', 1.0), ('b', 0.0), ('c', 3.0), ('d', 6.0)];
        let t = WeightedTable::new(&items).unwrap();
        let a = Alias::new(&[1.0, 0.0, 3.0, 6.0]).unwrap();
        let (mut r1, mut r2) = (SimRng::seed_from(3), SimRng::seed_from(3));
        for _ in 0..10_000 {
            let x = t.sample(&mut r1).unwrap();
            let y = items[a.sample(&mut r2)].0;
            assert_eq!(x, y);
        }
    }
}
