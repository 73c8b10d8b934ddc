//! The cost model: price tables as data, and both architectures costed on the same traffic.
//!
//! The simulator counts what a run did in a [`TrafficTotals`]; [`cost_report`] prices it twice,
//! extrapolated to a 30-day month:
//!
//! - **hybrid**: an edge network (Cloudflare plan and add-ons) in front, AWS origins behind that
//!   pay only for what misses the edge: compute, load balancers, and internet egress from the
//!   origins to the edge;
//! - **cloud-only**: CloudFront (bandwidth and requests by price zone), Route 53 (queries, zones,
//!   health checks), AWS WAF (web ACLs, rules, requests), Shield Advanced, and the same origins
//!   (CloudFront's origin fetches are free).
//!
//! The result, a [`CostReport`], serializes under the report's `cost_monthly_usd` key with a
//! total and an item per service for each architecture, the savings, which items drive them, and
//! how they compare with the original design's claim of $8,000-15,000 a month.
//!
//! # Price tables
//!
//! Prices are TOML. The built-in table ([`DEFAULT_PRICES_TOML`], from
//! `data/prices/default.toml`) names the source and date of every unit price. A scenario
//! overrides it with a `[prices]` table, optionally naming a price file (`file = "..."`): the
//! default, then the file, then the table's own keys, merged key by key. `inherit = false` starts
//! from nothing instead, and then every item must be present. Unknown keys, wrong types,
//! negative prices, badly shaped tiers and missing items are [`PriceError`]s with the file, line
//! and column.
//!
//! ```
//! use edgeroute_sim::cost::{cost_report, PriceTable, PriceZone, TrafficTotals};
//!
//! let prices = PriceTable::builtin()?;
//! let mut traffic = TrafficTotals { duration_s: 3600.0, ..TrafficTotals::default() };
//! for _ in 0..1000 {
//!     traffic.record_edge(PriceZone::Eu, 50_000);
//! }
//! traffic.origin_mut("eu-west-1").requests = 100;
//! let report = cost_report(&prices, &traffic)?;
//! assert!(report.cloud_only.items["ddos_protection"] >= 3000.0);
//! let json = serde_json::to_value(&report).unwrap();
//! assert!(json["savings"].is_number());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod error;
mod model;
mod rate;
mod report;
mod table;
mod traffic;

pub use error::{CostError, Location, PriceError, PriceErrorKind};
pub use model::{BYTES_PER_GB, MONTH_HOURS, MONTH_SECONDS, cost_report, cost_report_at, items};
pub use rate::{Rate, Tiers};
pub use report::{
    ArchitectureCost, CostLine, CostReport, DESIGN_CLAIM_USD, DesignClaim, Driver, MonthlyVolume,
    Verdict, format_usd,
};
pub use table::{
    Assumptions, CdnZonePrices, CloudOnlyPrices, DEFAULT_PRICES_NAME, DEFAULT_PRICES_TOML,
    DnsPrices, EdgePrices, OriginPrices, PriceFileRef, PriceTable, PriceTableBuilder, RegionPrices,
    ShieldPrices, WafPrices,
};
pub use traffic::{PriceZone, RegionTraffic, TrafficTotals, ZoneTraffic};
