//! Latency tables for one run, precomputed from the network model: per client group the median
//! path RTT to its data centre, per data centre the RTT to every policy region, and the access
//! delay distribution. Per request this is two table reads and one lognormal draw.

use edgeroute_geo::{fibre_rtt_ms, great_circle_km};

use crate::dist::LogNormal;
use crate::network::NetworkModel;
use crate::rng::SimRng;
use crate::traffic::Population;

/// Precomputed latencies.
#[derive(Debug, Clone)]
pub struct LatencyTables {
    /// Per group: median path RTT to its data centre without access delay (ms).
    pub group_path_ms: Vec<f64>,
    /// Per data centre in use × region: median RTT (ms); row-major by colo.
    colo_region_ms: Vec<f64>,
    regions: usize,
    /// Access delay (ms), `None` when off.
    access: Option<LogNormal>,
    /// Median access delay (ms).
    pub access_median_ms: f64,
    /// Region × region backbone RTT (ms).
    region_region_ms: Vec<f64>,
}

impl LatencyTables {
    /// Builds the tables for `population` (its groups and data centres) and the policy's
    /// `regions` (AWS codes; unknown codes get the farthest-possible RTT so nothing routes
    /// there silently fast).
    #[must_use]
    pub fn new(model: &NetworkModel, population: &Population, regions: &[String]) -> Self {
        let inflation = model.config().route_inflation;
        let group_path_ms = population
            .groups
            .iter()
            .map(|g| {
                let colo = population.colos.get(g.colo as usize);
                let km = colo.map_or(0.0, |c| great_circle_km(g.point, c.point));
                fibre_rtt_ms(km) * inflation.factor(km)
            })
            .collect();
        let region_ids: Vec<_> = regions.iter().map(|r| model.region_id(r)).collect();
        let mut colo_region_ms = Vec::with_capacity(population.colos.len() * regions.len());
        for c in &population.colos {
            let colo = model.colo_id(c.iata);
            for r in &region_ids {
                let ms = match (colo, r) {
                    (Some(c), Some(r)) => model.colo_to_region_rtt_ms(c, *r),
                    _ => 400.0,
                };
                colo_region_ms.push(if ms.is_finite() { ms } else { 400.0 });
            }
        }
        let mut region_region_ms = Vec::with_capacity(regions.len() * regions.len());
        for a in &region_ids {
            for b in &region_ids {
                let ms = match (a, b) {
                    (Some(a), Some(b)) => model.region_to_region_rtt_ms(*a, *b),
                    _ => 400.0,
                };
                region_region_ms.push(if ms.is_finite() { ms } else { 400.0 });
            }
        }
        let params = model.config().access_delay.lognormal_params();
        LatencyTables {
            group_path_ms,
            colo_region_ms,
            regions: regions.len(),
            access: params.map(|(mu, sigma)| LogNormal::from_mu_sigma(mu, sigma)),
            access_median_ms: model.config().access_delay.median_ms(),
            region_region_ms,
        }
    }

    /// Median RTT from data centre `colo` to region `region` (ms).
    #[inline]
    #[must_use]
    pub fn colo_region_ms(&self, colo: u32, region: u16) -> f64 {
        self.colo_region_ms
            .get(colo as usize * self.regions + usize::from(region))
            .copied()
            .unwrap_or(400.0)
    }

    /// Backbone RTT between two regions (ms).
    #[must_use]
    pub fn region_region_ms(&self, a: u16, b: u16) -> f64 {
        self.region_region_ms
            .get(usize::from(a) * self.regions + usize::from(b))
            .copied()
            .unwrap_or(400.0)
    }

    /// One draw of the client's RTT to its data centre (ms): path plus access delay.
    #[inline]
    pub fn sample_client_rtt_ms(&self, group: u32, rng: &mut SimRng) -> f64 {
        let path = self
            .group_path_ms
            .get(group as usize)
            .copied()
            .unwrap_or(0.0);
        path + self.access.as_ref().map_or(0.0, |a| a.sample(rng))
    }

    /// Median client RTT to its data centre (ms), access delay included.
    #[must_use]
    pub fn median_client_rtt_ms(&self, group: u32) -> f64 {
        self.group_path_ms
            .get(group as usize)
            .copied()
            .unwrap_or(0.0)
            + self.access_median_ms
    }
}
