//! Unit prices: flat or tiered by monthly usage.

use std::fmt;

use serde::Serialize;

/// Usage tiers: `prices[0]` applies up to `breaks[0]`, `prices[i]` between `breaks[i-1]` and
/// `breaks[i]`, and the last price above the last break. Breaks are cumulative monthly usage in
/// the item's unit (GB, million requests).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Tiers {
    breaks: Vec<f64>,
    prices: Vec<f64>,
}

impl Tiers {
    /// Tiers from breaks and prices, or `None` when the shape is wrong (`prices` must be one
    /// longer than `breaks`, breaks strictly increasing and positive, all values finite and
    /// prices not negative).
    #[must_use]
    pub fn new(breaks: Vec<f64>, prices: Vec<f64>) -> Option<Self> {
        let shape_ok = prices.len() == breaks.len() + 1;
        let finite = breaks.iter().chain(&prices).all(|v| v.is_finite());
        let increasing = breaks.windows(2).all(|w| matches!(w, [a, b] if a < b));
        let positive = breaks.first().is_none_or(|b| *b > 0.0);
        let priced = prices.iter().all(|p| *p >= 0.0);
        (shape_ok && finite && increasing && positive && priced).then_some(Tiers { breaks, prices })
    }

    /// The cumulative usage bounds.
    #[must_use]
    pub fn breaks(&self) -> &[f64] {
        &self.breaks
    }

    /// The price per unit in each tier.
    #[must_use]
    pub fn prices(&self) -> &[f64] {
        &self.prices
    }

    /// The cost of `usage` units in one month.
    #[must_use]
    pub fn cost(&self, usage: f64) -> f64 {
        let usage = usage.max(0.0);
        let mut lower = 0.0_f64;
        let mut total = 0.0;
        for (i, price) in self.prices.iter().enumerate() {
            let upper = self.breaks.get(i).copied().unwrap_or(f64::INFINITY);
            if usage <= lower {
                break;
            }
            total += (usage.min(upper) - lower) * price;
            lower = upper;
        }
        total
    }
}

/// A unit price: flat, or tiered by monthly usage.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Rate {
    /// The same price for every unit.
    Flat(f64),
    /// A price per usage tier.
    Tiered(Tiers),
}

impl Rate {
    /// The cost of `usage` units in one month.
    #[must_use]
    pub fn cost(&self, usage: f64) -> f64 {
        match self {
            Rate::Flat(price) => usage.max(0.0) * price,
            Rate::Tiered(tiers) => tiers.cost(usage),
        }
    }

    /// Whether the cost is proportional to usage (a flat price, or tiers with one price).
    #[must_use]
    pub fn is_linear(&self) -> bool {
        match self {
            Rate::Flat(_) => true,
            Rate::Tiered(t) => t.prices.windows(2).all(|w| matches!(w, [a, b] if a == b)),
        }
    }

    /// The price of the first unit (the first tier's price).
    #[must_use]
    pub fn first_price(&self) -> f64 {
        match self {
            Rate::Flat(price) => *price,
            Rate::Tiered(t) => t.prices.first().copied().unwrap_or(0.0),
        }
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rate::Flat(p) => write!(f, "{p}"),
            Rate::Tiered(t) => write!(f, "tiers {:?} at {:?}", t.breaks, t.prices),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiers(breaks: &[f64], prices: &[f64]) -> Tiers {
        Tiers::new(breaks.to_vec(), prices.to_vec()).unwrap()
    }

    #[test]
    fn tiered_cost_by_hand() {
        // 100 free, then 0.09 to 10,240, then 0.085.
        let t = tiers(&[100.0, 10_240.0], &[0.0, 0.09, 0.085]);
        assert!((t.cost(50.0) - 0.0).abs() < 1e-9);
        assert!((t.cost(1_100.0) - 90.0).abs() < 1e-9);
        let expected = (10_240.0 - 100.0) * 0.09 + 760.0 * 0.085;
        assert!((t.cost(11_000.0) - expected).abs() < 1e-9);
        assert!((t.cost(-5.0)).abs() < 1e-12);
    }

    #[test]
    fn bad_tiers_are_refused() {
        assert!(Tiers::new(vec![10.0], vec![1.0]).is_none());
        assert!(Tiers::new(vec![10.0, 5.0], vec![1.0, 1.0, 1.0]).is_none());
        assert!(Tiers::new(vec![0.0], vec![1.0, 1.0]).is_none());
        assert!(Tiers::new(vec![10.0], vec![1.0, -1.0]).is_none());
        assert!(Tiers::new(vec![], vec![1.0]).is_some());
    }

    #[test]
    fn linearity_of_rates() {
        assert!(Rate::Flat(0.3).is_linear());
        assert!(Rate::Tiered(tiers(&[5.0], &[0.2, 0.2])).is_linear());
        assert!(!Rate::Tiered(tiers(&[5.0], &[0.0, 0.2])).is_linear());
    }
}
