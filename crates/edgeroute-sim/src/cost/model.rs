//! Costing both architectures on the same traffic.

use std::collections::BTreeMap;

use super::error::CostError;
use super::rate::Rate;
use super::report::{ArchitectureCost, CostLine, CostReport};
use super::table::PriceTable;
use super::traffic::{PriceZone, TrafficTotals};

/// Seconds in the month costs are extrapolated to (30 days).
pub const MONTH_SECONDS: f64 = 30.0 * 86_400.0;

/// Hours in that month.
pub const MONTH_HOURS: f64 = 30.0 * 24.0;

/// Bytes in a billed GB (AWS bills binary gigabytes).
pub const BYTES_PER_GB: f64 = 1024.0 * 1024.0 * 1024.0;

/// Item names, shared by both architectures so that they compare line by line.
pub mod items {
    /// The edge plan's monthly fee (hybrid).
    pub const EDGE_PLAN: &str = "edge_plan";
    /// Fixed monthly edge add-ons (hybrid).
    pub const EDGE_ADDONS: &str = "edge_addons";
    /// Bandwidth served from the edge to clients.
    pub const CDN_BANDWIDTH: &str = "cdn_bandwidth";
    /// Requests served at the edge.
    pub const CDN_REQUESTS: &str = "cdn_requests";
    /// Authoritative DNS: queries, zones, health checks.
    pub const DNS: &str = "dns";
    /// Web application firewall.
    pub const WAF: &str = "waf";
    /// DDoS protection.
    pub const DDOS_PROTECTION: &str = "ddos_protection";
    /// TLS certificates.
    pub const CERTIFICATES: &str = "certificates";
    /// Edge code (Workers) per request (hybrid).
    pub const EDGE_COMPUTE: &str = "edge_compute";
    /// Origin to edge transfer (the hybrid pays internet egress; CloudFront fetches are free).
    pub const ORIGIN_EGRESS: &str = "origin_egress";
    /// Compute in the origin regions.
    pub const COMPUTE: &str = "compute";
    /// Application load balancers.
    pub const LOAD_BALANCER: &str = "load_balancer";
    /// Transfer between AWS regions.
    pub const INTER_REGION_TRANSFER: &str = "inter_region_transfer";

    /// Every item, in report order.
    pub const ALL: [&str; 13] = [
        EDGE_PLAN,
        EDGE_ADDONS,
        CDN_BANDWIDTH,
        CDN_REQUESTS,
        DNS,
        WAF,
        DDOS_PROTECTION,
        CERTIFICATES,
        EDGE_COMPUTE,
        ORIGIN_EGRESS,
        COMPUTE,
        LOAD_BALANCER,
        INTER_REGION_TRANSFER,
    ];
}

/// Collects line items for one architecture.
#[derive(Debug, Default)]
struct Bill {
    lines: Vec<CostLine>,
}

impl Bill {
    fn add(&mut self, item: &str, detail: impl Into<String>, quantity: f64, unit: &str, usd: f64) {
        self.lines.push(CostLine {
            item: item.to_owned(),
            detail: detail.into(),
            quantity,
            unit: unit.to_owned(),
            usd,
        });
    }

    /// Adds `quantity` billed at `rate` (tiers apply to the month's quantity).
    fn add_rated(
        &mut self,
        item: &str,
        detail: impl Into<String>,
        quantity: f64,
        unit: &str,
        rate: &Rate,
    ) {
        self.add(item, detail, quantity, unit, rate.cost(quantity));
    }

    /// Adds a fixed monthly fee: one month at `usd`.
    fn add_monthly(&mut self, item: &str, detail: impl Into<String>, usd: f64) {
        self.add(item, detail, 1.0, "month", usd);
    }

    fn finish(self) -> ArchitectureCost {
        let mut items: BTreeMap<String, f64> = items::ALL
            .iter()
            .map(|name| ((*name).to_owned(), 0.0))
            .collect();
        for line in &self.lines {
            *items.entry(line.item.clone()).or_default() += line.usd;
        }
        let total = items.values().sum();
        ArchitectureCost {
            total,
            items,
            details: self.lines,
        }
    }
}

/// Monthly usage derived from the totals, shared by both bills.
struct Usage<'a> {
    traffic: &'a TrafficTotals,
    scale: f64,
}

impl Usage<'_> {
    #[expect(
        clippy::cast_precision_loss,
        reason = "counts far below 2^53 are exact"
    )]
    fn monthly(&self, count: u64) -> f64 {
        count as f64 * self.scale
    }

    fn monthly_gb(&self, bytes: u64) -> f64 {
        self.monthly(bytes) / BYTES_PER_GB
    }
}

/// Costs `traffic` under both architectures with `prices`, extrapolated to a 30-day month.
///
/// Usage extrapolates linearly (`MONTH_SECONDS / traffic.duration_s`); fixed monthly fees are
/// not scaled; tiered prices apply to the month's usage. The origin side (compute, load
/// balancers, inter-region transfer) is the same for both architectures: both serve the same
/// edge misses. See the crate README's "Cost model" section for every assumption.
///
/// # Errors
/// [`CostError::BadDuration`] for a duration that is not a positive finite number;
/// [`CostError::Prices`] for a region with no compute, egress or transfer price.
pub fn cost_report(prices: &PriceTable, traffic: &TrafficTotals) -> Result<CostReport, CostError> {
    cost_report_at(prices, traffic, 1.0)
}

/// As [`cost_report`], with every traffic-driven quantity multiplied by `volume`: costs the
/// same traffic mix at another volume (a scenario's "cost at 0.1x, 1x, 10x"), or counts each
/// simulated request as `volume` real ones. Fixed fees, deployment counts and the per-region
/// compute floor do not scale.
///
/// # Errors
/// As [`cost_report`], and [`CostError::BadVolume`] for a volume that is not a positive finite
/// number.
pub fn cost_report_at(
    prices: &PriceTable,
    traffic: &TrafficTotals,
    volume: f64,
) -> Result<CostReport, CostError> {
    if !(traffic.duration_s.is_finite() && traffic.duration_s > 0.0) {
        return Err(CostError::BadDuration(traffic.duration_s));
    }
    if !(volume.is_finite() && volume > 0.0) {
        return Err(CostError::BadVolume(volume));
    }
    let usage = Usage {
        traffic,
        scale: MONTH_SECONDS / traffic.duration_s * volume,
    };
    let mut hybrid = Bill::default();
    let mut cloud = Bill::default();

    edge_side(prices, &usage, &mut hybrid);
    cloud_only_side(prices, &usage, &mut cloud);
    // The origins behind either edge cost the same; each bill lists them.
    for bill in [&mut hybrid, &mut cloud] {
        origin_side(prices, &usage, bill)?;
    }
    hybrid_egress(prices, &usage, &mut hybrid)?;
    cloud.add(
        items::ORIGIN_EGRESS,
        "CloudFront origin fetches from AWS",
        0.0,
        "GB",
        0.0,
    );

    Ok(CostReport::new(
        hybrid.finish(),
        cloud.finish(),
        usage.scale,
        traffic,
    ))
}

fn edge_side(prices: &PriceTable, usage: &Usage<'_>, bill: &mut Bill) {
    let edge = &prices.edge;
    let t = usage.traffic;
    bill.add_monthly(items::EDGE_PLAN, edge.plan.clone(), edge.plan_monthly);
    for (name, fee) in &edge.addons {
        bill.add_monthly(items::EDGE_ADDONS, name.clone(), *fee);
    }
    let gb = usage.monthly_gb(t.bytes_served());
    bill.add_rated(
        items::CDN_BANDWIDTH,
        "all zones",
        gb,
        "GB",
        &edge.bandwidth_per_gb,
    );
    let m_req = usage.monthly(t.requests) / 1e6;
    bill.add_rated(
        items::CDN_REQUESTS,
        "all zones",
        m_req,
        "million requests",
        &edge.requests_per_million,
    );
    let m_dns = usage.monthly(t.dns_queries) / 1e6;
    bill.add_rated(
        items::DNS,
        "queries",
        m_dns,
        "million queries",
        &edge.dns_queries_per_million,
    );
    let m_waf = usage.monthly(t.waf_evaluated_requests) / 1e6;
    bill.add_rated(
        items::WAF,
        "evaluated requests",
        m_waf,
        "million requests",
        &edge.waf_requests_per_million,
    );
    bill.add_monthly(
        items::DDOS_PROTECTION,
        "included in plan",
        edge.ddos_monthly,
    );
    bill.add_monthly(
        items::CERTIFICATES,
        "edge certificates",
        edge.certificates_monthly,
    );
    #[expect(
        clippy::cast_precision_loss,
        reason = "counts far below 2^53 are exact"
    )]
    let worker_requests = t.edge_worker_requests.map_or_else(
        || t.requests as f64 * prices.assumptions.edge_worker_request_share,
        |n| n as f64,
    );
    let m_workers = worker_requests * usage.scale / 1e6;
    bill.add_rated(
        items::EDGE_COMPUTE,
        "edge code requests",
        m_workers,
        "million requests",
        &edge.worker_requests_per_million,
    );
}

fn cloud_only_side(prices: &PriceTable, usage: &Usage<'_>, bill: &mut Bill) {
    let cloud = &prices.cloud_only;
    let t = usage.traffic;
    for (zone, zone_prices) in &cloud.cdn {
        let traffic = t.edge.get(zone).copied().unwrap_or_default();
        let gb = usage.monthly_gb(traffic.bytes);
        bill.add_rated(
            items::CDN_BANDWIDTH,
            zone.as_str(),
            gb,
            "GB",
            &zone_prices.bandwidth_per_gb,
        );
        let tens_of_k = usage.monthly(traffic.requests) / 1e4;
        bill.add_rated(
            items::CDN_REQUESTS,
            zone.as_str(),
            tens_of_k,
            "10k requests",
            &zone_prices.https_requests_per_10k,
        );
    }
    // Edge traffic outside every zone cannot happen (every zone is priced), but requests counted
    // without a zone are billed at the US rate rather than dropped.
    let zoned: u64 = t.edge.values().map(|z| z.requests).sum();
    if let (Some(stray), Some(us)) = (t.requests.checked_sub(zoned), cloud.cdn.get(&PriceZone::Us))
        && stray > 0
    {
        let tens_of_k = usage.monthly(stray) / 1e4;
        bill.add_rated(
            items::CDN_REQUESTS,
            "requests without a zone (US rate)",
            tens_of_k,
            "10k requests",
            &us.https_requests_per_10k,
        );
    }

    let a = &prices.assumptions;
    let m_dns = usage.monthly(t.dns_queries) / 1e6;
    bill.add_rated(
        items::DNS,
        "queries",
        m_dns,
        "million queries",
        &cloud.dns.queries_per_million,
    );
    let zones = f64::from(a.hosted_zones);
    bill.add(
        items::DNS,
        "hosted zones",
        zones,
        "zone-months",
        zones * cloud.dns.hosted_zone_monthly,
    );
    let checks = f64::from(if t.health_checks > 0 {
        t.health_checks
    } else {
        a.health_checks
    });
    bill.add(
        items::DNS,
        "health checks",
        checks,
        "check-months",
        checks * (cloud.dns.health_check_monthly + cloud.dns.health_check_options_monthly),
    );

    let waf_free = cloud.shield.enabled && cloud.waf.included_with_shield_advanced;
    let acls = f64::from(a.web_acls);
    let rules = f64::from(if t.waf_rules > 0 {
        t.waf_rules
    } else {
        a.waf_rules
    });
    // AWS WAF on CloudFront inspects every request the distribution receives.
    let m_waf = usage.monthly(t.requests) / 1e6;
    let waf_cost = |usd: f64| if waf_free { 0.0 } else { usd };
    let note = if waf_free {
        " (included with Shield Advanced)"
    } else {
        ""
    };
    bill.add(
        items::WAF,
        format!("web ACLs{note}"),
        acls,
        "ACL-months",
        waf_cost(acls * cloud.waf.web_acl_monthly),
    );
    bill.add(
        items::WAF,
        format!("rules{note}"),
        rules,
        "rule-months",
        waf_cost(rules * cloud.waf.rule_monthly),
    );
    bill.add(
        items::WAF,
        format!("inspected requests{note}"),
        m_waf,
        "million requests",
        waf_cost(cloud.waf.requests_per_million.cost(m_waf)),
    );

    if cloud.shield.enabled {
        bill.add_monthly(
            items::DDOS_PROTECTION,
            "Shield Advanced subscription",
            cloud.shield.monthly,
        );
        let gb = usage.monthly_gb(t.bytes_served());
        bill.add_rated(
            items::DDOS_PROTECTION,
            "Shield Advanced data transfer",
            gb,
            "GB",
            &cloud.shield.data_transfer_per_gb,
        );
    } else {
        bill.add_monthly(items::DDOS_PROTECTION, "Shield Standard (no charge)", 0.0);
    }
    bill.add_monthly(
        items::CERTIFICATES,
        "ACM certificates",
        cloud.certificates_monthly,
    );
}

fn origin_side(prices: &PriceTable, usage: &Usage<'_>, bill: &mut Bill) -> Result<(), CostError> {
    let aws = &prices.aws;
    let a = &prices.assumptions;
    for (region, r) in &usage.traffic.origins {
        let price = *aws.compute_vcpu_hour.for_region(region, "aws.compute")?;
        #[expect(
            clippy::cast_precision_loss,
            reason = "microsecond totals far below 2^53"
        )]
        let busy_vcpu_hours = r.busy_us as f64 * 1e-6 * usage.scale / 3600.0;
        let needed = busy_vcpu_hours / a.target_cpu_utilization;
        let floor = f64::from(a.min_vcpus_per_region) * MONTH_HOURS;
        let vcpu_hours = needed.max(floor);
        bill.add(
            items::COMPUTE,
            region.clone(),
            vcpu_hours,
            "vCPU-hours",
            vcpu_hours * price,
        );

        bill.add(
            items::LOAD_BALANCER,
            format!("{region} ALB-hours"),
            MONTH_HOURS,
            "ALB-hours",
            MONTH_HOURS * aws.alb_hour,
        );
        let lcu = average_lcus(r, a.requests_per_connection, usage);
        let lcu_hours = lcu * MONTH_HOURS;
        bill.add(
            items::LOAD_BALANCER,
            format!("{region} LCU-hours"),
            lcu_hours,
            "LCU-hours",
            lcu_hours * aws.alb_lcu_hour,
        );
    }
    for (region, bytes) in &usage.traffic.inter_region_bytes {
        let rate: &Rate = aws
            .inter_region_per_gb
            .for_region(region, "aws.inter_region")?;
        let gb = usage.monthly_gb(*bytes);
        bill.add_rated(
            items::INTER_REGION_TRANSFER,
            format!("from {region}"),
            gb,
            "GB",
            rate,
        );
    }
    Ok(())
}

/// The average LCUs an ALB uses over the month: the largest of its billed dimensions (new
/// connections, active connections, processed bytes; rule evaluations are assumed within the
/// free 10 rules). AWS bills the hourly maximum; the monthly average understates bursty hours.
fn average_lcus(
    r: &super::traffic::RegionTraffic,
    requests_per_connection: f64,
    usage: &Usage<'_>,
) -> f64 {
    let month_s = MONTH_SECONDS;
    #[expect(
        clippy::cast_precision_loss,
        reason = "counts far below 2^53 are exact"
    )]
    let new_connections = r
        .new_connections
        .map_or_else(|| r.requests as f64 / requests_per_connection, |n| n as f64);
    let new_per_s = new_connections * usage.scale / month_s;
    #[expect(clippy::cast_precision_loss, reason = "second totals far below 2^53")]
    let active = r.websocket_seconds as f64 * usage.scale / month_s;
    let gb_per_hour = usage.monthly_gb(r.bytes_out.saturating_add(r.bytes_in)) / MONTH_HOURS;
    (new_per_s / 25.0).max(active / 3000.0).max(gb_per_hour)
}

fn hybrid_egress(prices: &PriceTable, usage: &Usage<'_>, bill: &mut Bill) -> Result<(), CostError> {
    for (region, r) in &usage.traffic.origins {
        let rate = prices
            .aws
            .internet_egress_per_gb
            .for_region(region, "aws.egress")?;
        let gb = usage.monthly_gb(r.bytes_out);
        bill.add_rated(
            items::ORIGIN_EGRESS,
            format!("{region} to the edge"),
            gb,
            "GB",
            rate,
        );
    }
    Ok(())
}
