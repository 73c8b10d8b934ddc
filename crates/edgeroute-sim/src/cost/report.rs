//! The cost report: both architectures' monthly bills, the savings and what drives them.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Serialize, Serializer};

use super::model::BYTES_PER_GB;
use super::traffic::TrafficTotals;

/// The savings range the original design claims, USD per month.
pub const DESIGN_CLAIM_USD: (f64, f64) = (8_000.0, 15_000.0);

fn cents<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(round_to(*v, 100.0))
}

fn cents_map<S: Serializer>(m: &BTreeMap<String, f64>, s: S) -> Result<S::Ok, S::Error> {
    s.collect_map(m.iter().map(|(k, v)| (k, round_to(*v, 100.0))))
}

fn four_places<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(round_to(*v, 10_000.0))
}

/// Rounds to `1/per` (and turns `-0.0` into `0.0`, so reports print the same every time).
fn round_to(v: f64, per: f64) -> f64 {
    let r = (v * per).round() / per;
    if r == 0.0 { 0.0 } else { r }
}

/// One priced quantity.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CostLine {
    /// The item it adds to (a key of [`ArchitectureCost::items`]).
    pub item: String,
    /// What exactly: a zone, a region, an add-on.
    pub detail: String,
    /// Monthly quantity, in `unit`.
    #[serde(serialize_with = "four_places")]
    pub quantity: f64,
    /// The unit of `quantity`.
    pub unit: String,
    /// Monthly cost.
    #[serde(serialize_with = "cents")]
    pub usd: f64,
}

/// One architecture's monthly bill.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ArchitectureCost {
    /// The monthly total, USD.
    #[serde(serialize_with = "cents")]
    pub total: f64,
    /// USD per month per item; both architectures list every item (0 where it does not apply).
    #[serde(serialize_with = "cents_map")]
    pub items: BTreeMap<String, f64>,
    /// The lines that make up each item.
    pub details: Vec<CostLine>,
}

/// How much one item saves (positive) or costs (negative) the hybrid against cloud-only.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Driver {
    /// The item.
    pub item: String,
    /// Cloud-only minus hybrid, USD per month.
    #[serde(serialize_with = "cents")]
    pub usd: f64,
}

/// Where the simulated savings fall against the design's claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Less than the claimed range.
    Below,
    /// Inside it.
    Within,
    /// More than it.
    Above,
}

/// The design's claim and how this traffic compares.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DesignClaim {
    /// Low end of the claimed monthly savings.
    pub low_usd: f64,
    /// High end.
    pub high_usd: f64,
    /// Where this run's savings fall.
    pub verdict: Verdict,
}

/// The monthly volumes the bills were computed from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MonthlyVolume {
    /// Days in the month.
    pub days: u32,
    /// Month length / simulated duration, times the volume factor.
    #[serde(serialize_with = "four_places")]
    pub scale: f64,
    /// Edge requests per month, millions.
    #[serde(serialize_with = "four_places")]
    pub requests_million: f64,
    /// Bytes served from the edge per month, GB.
    #[serde(serialize_with = "four_places")]
    pub edge_gb: f64,
    /// Bytes from the origins to the edge per month, GB.
    #[serde(serialize_with = "four_places")]
    pub origin_gb: f64,
}

/// Both architectures costed on the same traffic. Serialize it under the key
/// `cost_monthly_usd`: `cost_monthly_usd.hybrid.total`, `cost_monthly_usd.cloud_only.total`,
/// `cost_monthly_usd.savings`, `cost_monthly_usd.{hybrid,cloud_only}.items.<item>`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CostReport {
    /// The hybrid: edge network in front, AWS origins behind.
    pub hybrid: ArchitectureCost,
    /// Cloud-only: CloudFront, Route 53, AWS WAF, Shield Advanced, the same origins.
    pub cloud_only: ArchitectureCost,
    /// Cloud-only total minus hybrid total, USD per month (negative: the hybrid costs more).
    #[serde(serialize_with = "cents")]
    pub savings: f64,
    /// Savings as a share of the cloud-only total.
    #[serde(serialize_with = "four_places")]
    pub savings_share: f64,
    /// Items by how much they save, largest saving first; items that cost the hybrid more last.
    pub drivers: Vec<Driver>,
    /// The design's claim and the verdict.
    pub design_claim: DesignClaim,
    /// The monthly volumes priced.
    pub month: MonthlyVolume,
    /// Which items drive the savings and how they compare with the claim, in a few sentences.
    pub summary: String,
}

/// `$12,345` (whole dollars, thousands separated; negative amounts as `-$12`).
#[must_use]
pub fn format_usd(v: f64) -> String {
    #[expect(clippy::cast_possible_truncation, reason = "monthly bills fit in i64")]
    let whole = v.round() as i64;
    let digits = whole.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if whole < 0 {
        format!("-${out}")
    } else {
        format!("${out}")
    }
}

impl CostReport {
    pub(crate) fn new(
        hybrid: ArchitectureCost,
        cloud_only: ArchitectureCost,
        scale: f64,
        traffic: &TrafficTotals,
    ) -> Self {
        let savings = cloud_only.total - hybrid.total;
        let savings_share = if cloud_only.total > 0.0 {
            savings / cloud_only.total
        } else {
            0.0
        };
        let mut drivers: Vec<Driver> = cloud_only
            .items
            .iter()
            .map(|(item, usd)| Driver {
                item: item.clone(),
                usd: usd - hybrid.items.get(item).copied().unwrap_or(0.0),
            })
            .filter(|d| d.usd.abs() >= 0.005)
            .collect();
        drivers.sort_by(|a, b| b.usd.total_cmp(&a.usd).then_with(|| a.item.cmp(&b.item)));
        let (low_usd, high_usd) = DESIGN_CLAIM_USD;
        let verdict = if savings < low_usd {
            Verdict::Below
        } else if savings > high_usd {
            Verdict::Above
        } else {
            Verdict::Within
        };
        #[expect(
            clippy::cast_precision_loss,
            reason = "counts far below 2^53 are exact"
        )]
        let month = MonthlyVolume {
            days: 30,
            scale,
            requests_million: traffic.requests as f64 * scale / 1e6,
            edge_gb: traffic.bytes_served() as f64 * scale / BYTES_PER_GB,
            origin_gb: traffic
                .origins
                .values()
                .map(|r| r.bytes_out as f64)
                .sum::<f64>()
                * scale
                / BYTES_PER_GB,
        };
        let mut report = CostReport {
            hybrid,
            cloud_only,
            savings,
            savings_share,
            drivers,
            design_claim: DesignClaim {
                low_usd,
                high_usd,
                verdict,
            },
            month,
            summary: String::new(),
        };
        report.summary = report.summarize(traffic.duration_s);
        report
    }

    fn summarize(&self, simulated_s: f64) -> String {
        let mut s = String::new();
        let _ = write!(
            s,
            "Extrapolated from {} of simulated traffic to a 30-day month ({:.1} M requests, {:.0} GB \
             from the edge), the hybrid costs {} and cloud-only {} a month: ",
            describe_duration(simulated_s),
            self.month.requests_million,
            self.month.edge_gb,
            format_usd(self.hybrid.total),
            format_usd(self.cloud_only.total),
        );
        if self.savings >= 0.0 {
            let _ = write!(
                s,
                "the hybrid saves {} ({:.0}%).",
                format_usd(self.savings),
                self.savings_share * 100.0
            );
        } else {
            let _ = write!(s, "the hybrid costs {} more.", format_usd(-self.savings));
        }
        let pros: Vec<String> = self
            .drivers
            .iter()
            .filter(|d| d.usd >= 0.5)
            .take(3)
            .map(|d| format!("{} {}", d.item, format_usd(d.usd)))
            .collect();
        if !pros.is_empty() {
            let _ = write!(s, " Savings come mostly from {}.", pros.join(", "));
        }
        let cons: Vec<String> = self
            .drivers
            .iter()
            .rev()
            .filter(|d| d.usd <= -0.5)
            .take(3)
            .map(|d| format!("{} {}", d.item, format_usd(-d.usd)))
            .collect();
        if !cons.is_empty() {
            let _ = write!(s, " The hybrid pays more for {}.", cons.join(", "));
        }
        let (low, high) = (self.design_claim.low_usd, self.design_claim.high_usd);
        let _ = write!(
            s,
            " The design claims {}-{} a month in savings; this traffic gives {}, {} that range.",
            format_usd(low),
            format_usd(high),
            format_usd(self.savings),
            match self.design_claim.verdict {
                Verdict::Below => "below",
                Verdict::Within => "within",
                Verdict::Above => "above",
            }
        );
        s
    }

    /// The report as a terminal table: one row per item, both architectures and the difference.
    #[must_use]
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{:<24} {:>14} {:>14} {:>14}",
            "cost per month (USD)", "hybrid", "cloud-only", "difference"
        );
        for (item, cloud) in &self.cloud_only.items {
            let hybrid = self.hybrid.items.get(item).copied().unwrap_or(0.0);
            if hybrid.abs() < 0.005 && cloud.abs() < 0.005 {
                continue;
            }
            let _ = writeln!(
                s,
                "{:<24} {:>14} {:>14} {:>14}",
                item,
                format_usd(hybrid),
                format_usd(*cloud),
                format_usd(cloud - hybrid)
            );
        }
        let _ = writeln!(
            s,
            "{:<24} {:>14} {:>14} {:>14}",
            "total",
            format_usd(self.hybrid.total),
            format_usd(self.cloud_only.total),
            format_usd(self.savings)
        );
        s.push('\n');
        s.push_str(&self.summary);
        s.push('\n');
        s
    }
}

fn describe_duration(seconds: f64) -> String {
    if seconds >= 2.0 * 86_400.0 {
        format!("{:.1} days", seconds / 86_400.0)
    } else if seconds >= 2.0 * 3600.0 {
        format!("{:.1} h", seconds / 3600.0)
    } else if seconds >= 120.0 {
        format!("{:.1} min", seconds / 60.0)
    } else {
        format!("{seconds:.1} s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usd_formatting() {
        assert_eq!(format_usd(0.0), "$0");
        assert_eq!(format_usd(999.4), "$999");
        assert_eq!(format_usd(1234.5), "$1,235");
        assert_eq!(format_usd(-12_345_678.0), "-$12,345,678");
        assert_eq!(round_to(-0.001, 100.0).to_string(), "0");
    }

    #[test]
    fn durations() {
        assert_eq!(describe_duration(86_400.0), "24.0 h");
        assert_eq!(describe_duration(3.0 * 86_400.0), "3.0 days");
        assert_eq!(describe_duration(600.0), "10.0 min");
        assert_eq!(describe_duration(5.0), "5.0 s");
    }
}
