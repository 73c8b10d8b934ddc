//! The network and latency model: how long a round trip takes from a client to a Cloudflare
//! data centre and on to an AWS region.
//!
//! # The model
//! - A client reaches the **nearest data centre** by great-circle distance (anycast,
//!   approximately).
//! - Every path's median RTT is the **fibre floor** (great-circle km at 200 km/ms one way, so
//!   1 ms per 100 km of round trip) times a **route-inflation** factor. By default the factor is
//!   the measured median for the distance ([`edgeroute_geo::route_inflation`]: 3.19 up to about
//!   700 km, log-linear between the survey's band mid-points, 1.80 past about 14,000 km); a
//!   scenario may fix it instead.
//! - The client leg adds an **access delay** (the last mile): lognormal with a configured median
//!   and 90th percentile, sampled with the caller's RNG.
//! - **Data centre → region** legs use the geographic estimate, or a user-supplied matrix of
//!   measured values ([`RttMatrix`]).
//! - **Region ↔ region** hops use the measured one-year AWS inter-region medians, or the fibre
//!   floor times a backbone factor (default: the data's median ratio, about 1.75) for pairs the
//!   data lacks.
//!
//! No prediction is below the fibre floor of the direct path: each leg is at least its own
//! floor (inflation ≥ 1, matrix values are checked), the legs' distances add up to at least the
//! direct distance, and access delay is never negative.
//!
//! # Cost
//! [`NetworkModel::new`] precomputes every data centre → region RTT (339 × 39). Locating a
//! client ([`NetworkModel::locate`]) scans the data centres once; keep the [`ClientSite`] per
//! client location. After that, [`NetworkModel::sample_rtt_ms`] is two table reads and one
//! lognormal draw.
//!
//! # Example
//! ```
//! use edgeroute_geo::LatLon;
//! use edgeroute_sim::network::{NetworkConfig, NetworkModel};
//!
//! let model = NetworkModel::new(&NetworkConfig::default())?;
//! let paris = LatLon::new(48.85, 2.35);
//! let site = model.locate(paris);
//! assert_eq!(model.colo(site.colo()).map(|c| c.iata), Some("CDG"));
//! let region = model.region_id("eu-west-3").ok_or("no region")?;
//! let median = model.median_rtt_ms(&site, region);
//! assert!(median > 10.0 && median < 20.0, "{median}");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod config;
mod input;
mod matrix;
mod points;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

use edgeroute_geo::{
    AwsRegion, Colo, LatLon, aws_regions, aws_rtt_p50_ms, colos, fibre_rtt_ms, great_circle_km,
    unit_vector_distance_km,
};
use rand::Rng;
use rand_distr::{Distribution, StandardNormal};

pub use config::{AccessDelayConfig, Backbone, Factor, NetworkConfig, RouteInflation};
pub use input::InputError;
pub use matrix::{MatrixEntry, RttMatrix};
pub use points::{NamedPoint, country_points, parse_points};

/// Why a [`NetworkModel`] could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetworkError {
    /// The RTT matrix file could not be read.
    #[error("cannot read the RTT matrix `{}`", path.display())]
    ReadMatrix {
        /// The path as resolved.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The RTT matrix file is malformed.
    #[error(transparent)]
    Matrix(#[from] InputError),
    /// The embedded geographic tables are empty (ruled out by `edgeroute-geo`'s tests).
    #[error("the embedded data has no {0}")]
    NoData(&'static str),
}

/// An AWS region's index in a [`NetworkModel`] (the order of [`edgeroute_geo::aws_regions`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RegionId(u16);

impl RegionId {
    /// The index, `0..model.regions().len()`.
    #[must_use]
    pub fn index(self) -> usize {
        usize::from(self.0)
    }
}

/// A data centre's index in a [`NetworkModel`] (the order of [`edgeroute_geo::colos`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ColoId(u16);

impl ColoId {
    /// The index, `0..model.colos().len()`.
    #[must_use]
    pub fn index(self) -> usize {
        usize::from(self.0)
    }
}

/// A client location resolved once: its nearest data centre and the fixed part of the RTT to
/// it. Cheap to copy; keep one per client location.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClientSite {
    point: LatLon,
    colo: ColoId,
    distance_km: f64,
    path_ms: f64,
}

impl ClientSite {
    /// The client's location.
    #[must_use]
    pub fn point(&self) -> LatLon {
        self.point
    }

    /// The nearest data centre.
    #[must_use]
    pub fn colo(&self) -> ColoId {
        self.colo
    }

    /// Great-circle distance to the data centre, km.
    #[must_use]
    pub fn colo_distance_km(&self) -> f64 {
        self.distance_km
    }

    /// Median RTT to the data centre without access delay: fibre floor × route inflation, ms.
    #[must_use]
    pub fn path_to_colo_ms(&self) -> f64 {
        self.path_ms
    }
}

/// The latency model, built once from a [`NetworkConfig`]. `Send + Sync`; share it between
/// shards.
#[derive(Debug, Clone)]
pub struct NetworkModel {
    config: NetworkConfig,
    regions: Vec<&'static AwsRegion>,
    colos: Vec<&'static Colo>,
    /// `colos[0]`, kept so lookups by a valid id need no `Option`.
    first_colo: &'static Colo,
    /// `colo_units[c]`: data centre `c` as a unit vector.
    colo_units: Vec<[f64; 3]>,
    /// `colo_region[c * regions + r]`: median RTT data centre → region, ms.
    colo_region: Vec<f64>,
    /// `region_region[a * regions + b]`: median RTT region → region, ms.
    region_region: Vec<f64>,
    /// `region_region_measured[a * regions + b]`: whether that value is measured.
    region_region_measured: Vec<bool>,
    backbone_inflation: f64,
    /// Lognormal `(mu, sigma)` of the access delay; `None` when it is off.
    access: Option<(f64, f64)>,
    /// Pairs overridden by the RTT matrix.
    matrix_pairs: usize,
}

impl NetworkModel {
    /// Builds the model. A relative `rtt_matrix` path is read relative to the current
    /// directory; scenario loaders use [`NetworkModel::with_base_dir`].
    ///
    /// # Errors
    /// The RTT matrix cannot be read or is malformed.
    pub fn new(config: &NetworkConfig) -> Result<Self, NetworkError> {
        Self::with_base_dir(config, None)
    }

    /// Builds the model, resolving a relative `rtt_matrix` path against `base_dir` (the
    /// scenario file's directory).
    ///
    /// # Errors
    /// The RTT matrix cannot be read or is malformed.
    pub fn with_base_dir(
        config: &NetworkConfig,
        base_dir: Option<&Path>,
    ) -> Result<Self, NetworkError> {
        let matrix = match &config.rtt_matrix {
            None => None,
            Some(path) => {
                let path = match base_dir {
                    Some(base) if path.is_relative() => base.join(path),
                    _ => path.clone(),
                };
                let text =
                    std::fs::read_to_string(&path).map_err(|source| NetworkError::ReadMatrix {
                        path: path.clone(),
                        source,
                    })?;
                Some(RttMatrix::parse(&path.display().to_string(), &text)?)
            }
        };
        Self::with_matrix(config, matrix.as_ref())
    }

    /// Builds the model with an already parsed matrix (`config.rtt_matrix` is not read).
    ///
    /// # Errors
    /// Only if the embedded tables were empty, which `edgeroute-geo`'s tests rule out.
    pub fn with_matrix(
        config: &NetworkConfig,
        matrix: Option<&RttMatrix>,
    ) -> Result<Self, NetworkError> {
        let regions: Vec<&'static AwsRegion> = aws_regions().iter().collect();
        let colos: Vec<&'static Colo> = colos().iter().collect();
        if regions.is_empty() {
            return Err(NetworkError::NoData("AWS regions"));
        }
        let Some(&first_colo) = colos.first() else {
            return Err(NetworkError::NoData("Cloudflare data centres"));
        };
        // INVARIANT: ids fit in u16 (39 regions, 339 data centres).
        if u16::try_from(regions.len()).is_err() || u16::try_from(colos.len()).is_err() {
            return Err(NetworkError::NoData("table small enough for 16-bit ids"));
        }
        let inflation = config.route_inflation;
        let n = regions.len();
        let mut colo_region = Vec::with_capacity(colos.len() * n);
        for c in &colos {
            for r in &regions {
                colo_region.push(path_ms(inflation, great_circle_km(c.point, r.point)));
            }
        }
        let mut matrix_pairs = 0;
        for e in matrix.map_or(&[][..], RttMatrix::entries) {
            let ci = colos.iter().position(|c| c.iata == e.edge);
            let ri = regions.iter().position(|r| r.code == e.region);
            if let (Some(ci), Some(ri)) = (ci, ri)
                && let Some(slot) = colo_region.get_mut(ci * n + ri)
            {
                *slot = e.rtt_ms;
                matrix_pairs += 1;
            }
        }
        let backbone_inflation = config
            .backbone_inflation
            .map_or_else(measured_backbone_inflation, Factor::get);
        let mut region_region = Vec::with_capacity(n * n);
        let mut region_region_measured = Vec::with_capacity(n * n);
        for a in &regions {
            for b in &regions {
                let geo = fibre_rtt_ms(great_circle_km(a.point, b.point)) * backbone_inflation;
                let measured = match config.backbone {
                    Backbone::Measured => aws_rtt_p50_ms(a.code, b.code),
                    Backbone::Geographic => None,
                };
                region_region.push(measured.unwrap_or(geo));
                region_region_measured.push(measured.is_some());
            }
        }
        Ok(Self {
            config: config.clone(),
            colo_units: colos.iter().map(|c| c.point.unit_vector()).collect(),
            regions,
            colos,
            first_colo,
            colo_region,
            region_region,
            region_region_measured,
            backbone_inflation,
            access: config.access_delay.lognormal_params(),
            matrix_pairs,
        })
    }

    /// The configuration the model was built from.
    #[must_use]
    pub fn config(&self) -> &NetworkConfig {
        &self.config
    }

    /// The regions, indexed by [`RegionId::index`].
    #[must_use]
    pub fn regions(&self) -> &[&'static AwsRegion] {
        &self.regions
    }

    /// The data centres, indexed by [`ColoId::index`].
    #[must_use]
    pub fn colos(&self) -> &[&'static Colo] {
        &self.colos
    }

    /// The id of AWS region `code`.
    #[must_use]
    pub fn region_id(&self, code: &str) -> Option<RegionId> {
        let i = self.regions.iter().position(|r| r.code == code)?;
        u16::try_from(i).ok().map(RegionId)
    }

    /// The region with id `id`.
    #[must_use]
    pub fn region(&self, id: RegionId) -> Option<&'static AwsRegion> {
        self.regions.get(id.index()).copied()
    }

    /// The id of data centre `iata`.
    #[must_use]
    pub fn colo_id(&self, iata: &str) -> Option<ColoId> {
        let i = self.colos.binary_search_by(|c| c.iata.cmp(iata)).ok()?;
        u16::try_from(i).ok().map(ColoId)
    }

    /// The data centre with id `id`.
    #[must_use]
    pub fn colo(&self, id: ColoId) -> Option<&'static Colo> {
        self.colos.get(id.index()).copied()
    }

    /// The backbone inflation used for region pairs without a measurement.
    #[must_use]
    pub fn backbone_inflation(&self) -> f64 {
        self.backbone_inflation
    }

    /// How many data centre → region pairs the RTT matrix replaced.
    #[must_use]
    pub fn matrix_pairs(&self) -> usize {
        self.matrix_pairs
    }

    /// Resolves a client location: nearest data centre and the path RTT to it. One scan over
    /// the data centres (about 340 dot products); cache the result per location.
    #[must_use]
    pub fn locate(&self, point: LatLon) -> ClientSite {
        let target = point.unit_vector();
        let [tx, ty, tz] = target;
        let mut best = (0usize, f64::NEG_INFINITY);
        for (i, [x, y, z]) in self.colo_units.iter().enumerate() {
            let dot = x * tx + y * ty + z * tz;
            if dot > best.1 {
                best = (i, dot);
            }
        }
        let unit = self.colo_units.get(best.0).copied().unwrap_or(target);
        let distance_km = unit_vector_distance_km(unit, target);
        ClientSite {
            point,
            // INVARIANT: best.0 < colos.len() <= u16::MAX, checked in the constructor.
            colo: ColoId(u16::try_from(best.0).unwrap_or(0)),
            distance_km,
            path_ms: path_ms(self.config.route_inflation, distance_km),
        }
    }

    /// The data centre nearest to `point`.
    #[must_use]
    pub fn nearest_colo(&self, point: LatLon) -> &'static Colo {
        let site = self.locate(point);
        // INVARIANT: locate returns an id of this model, so the fallback is never used.
        self.colo(site.colo).unwrap_or(self.first_colo)
    }

    /// Median RTT from a client to its nearest data centre, including the median access delay,
    /// ms.
    #[must_use]
    pub fn client_to_colo_rtt_ms(&self, site: &ClientSite) -> f64 {
        site.path_ms + self.config.access_delay.median_ms()
    }

    /// Median RTT from data centre `colo` to region `region`, ms (the matrix value if given,
    /// else the geographic estimate). An id from another model gives infinity.
    #[must_use]
    pub fn colo_to_region_rtt_ms(&self, colo: ColoId, region: RegionId) -> f64 {
        self.colo_region
            .get(colo.index() * self.regions.len() + region.index())
            .copied()
            .unwrap_or(f64::INFINITY)
    }

    /// Median RTT between two regions over the AWS backbone, ms: the measured median when the
    /// data has it (and `backbone = "measured"`), else fibre floor × backbone inflation. Equal
    /// ids give the measured intra-region RTT, or 0 without a measurement. An id from another
    /// model gives infinity.
    #[must_use]
    pub fn region_to_region_rtt_ms(&self, from: RegionId, to: RegionId) -> f64 {
        self.region_region
            .get(from.index() * self.regions.len() + to.index())
            .copied()
            .unwrap_or(f64::INFINITY)
    }

    /// Whether [`NetworkModel::region_to_region_rtt_ms`] for this pair is a measurement.
    #[must_use]
    pub fn region_to_region_is_measured(&self, from: RegionId, to: RegionId) -> bool {
        self.region_region_measured
            .get(from.index() * self.regions.len() + to.index())
            .copied()
            .unwrap_or(false)
    }

    /// Median RTT from a client through its nearest data centre to `region`, access delay
    /// included, ms.
    #[must_use]
    pub fn median_rtt_ms(&self, site: &ClientSite, region: RegionId) -> f64 {
        self.client_to_colo_rtt_ms(site) + self.colo_to_region_rtt_ms(site.colo, region)
    }

    /// [`NetworkModel::median_rtt_ms`] from a point to a region by code; `None` for an unknown
    /// region. Locates the client on every call: for repeated use keep the [`ClientSite`].
    #[must_use]
    pub fn median_rtt_to_region_ms(&self, from: LatLon, to_region: &str) -> Option<f64> {
        let region = self.region_id(to_region)?;
        Some(self.median_rtt_ms(&self.locate(from), region))
    }

    /// One draw of the access delay, ms (0 when access delay is off).
    pub fn sample_access_delay_ms<R: Rng + ?Sized>(&self, rng: &mut R) -> f64 {
        match self.access {
            Some((mu, sigma)) => {
                let z: f64 = StandardNormal.sample(rng);
                (mu + sigma * z).exp()
            }
            None => 0.0,
        }
    }

    /// One draw of the RTT from a client to its data centre: path + sampled access delay, ms.
    pub fn sample_client_to_colo_rtt_ms<R: Rng + ?Sized>(
        &self,
        site: &ClientSite,
        rng: &mut R,
    ) -> f64 {
        site.path_ms + self.sample_access_delay_ms(rng)
    }

    /// One draw of the RTT from a client through its data centre to `region`, ms: the
    /// client's path, the data centre → region median and one access-delay draw.
    pub fn sample_rtt_ms<R: Rng + ?Sized>(
        &self,
        site: &ClientSite,
        region: RegionId,
        rng: &mut R,
    ) -> f64 {
        self.sample_client_to_colo_rtt_ms(site, rng) + self.colo_to_region_rtt_ms(site.colo, region)
    }

    /// The fibre floor from a point to a region (the direct great-circle path), ms. Every
    /// prediction of the model is at least this.
    #[must_use]
    pub fn fibre_floor_ms(&self, from: LatLon, region: RegionId) -> f64 {
        self.region(region)
            .map_or(0.0, |r| fibre_rtt_ms(great_circle_km(from, r.point)))
    }

    /// The model's geographic estimate between two points over the public Internet: fibre
    /// floor × route inflation, ms (no access delay).
    #[must_use]
    pub fn geographic_rtt_ms(&self, a: LatLon, b: LatLon) -> f64 {
        path_ms(self.config.route_inflation, great_circle_km(a, b))
    }
}

/// Fibre floor × inflation for a path of `km`.
fn path_ms(inflation: RouteInflation, km: f64) -> f64 {
    fibre_rtt_ms(km) * inflation.factor(km)
}

/// The median of measured / fibre-floor RTT over AWS region pairs at least 500 km apart.
fn measured_backbone_inflation() -> f64 {
    let regions = edgeroute_geo::aws_rtt_regions();
    let mut ratios: Vec<f64> = Vec::new();
    for a in regions {
        for b in regions {
            let (Some(ra), Some(rb)) = (edgeroute_geo::aws_region(a), edgeroute_geo::aws_region(b))
            else {
                continue;
            };
            let km = great_circle_km(ra.point, rb.point);
            if km >= 500.0
                && let Some(ms) = aws_rtt_p50_ms(a, b)
            {
                ratios.push(ms / fibre_rtt_ms(km));
            }
        }
    }
    ratios.sort_by(f64::total_cmp);
    median(&ratios).unwrap_or(edgeroute_geo::route_inflation_overall())
}

/// The median of sorted values.
fn median(sorted: &[f64]) -> Option<f64> {
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    if n % 2 == 1 {
        sorted.get(n / 2).copied()
    } else {
        Some((sorted.get(n / 2 - 1)? + sorted.get(n / 2)?) / 2.0)
    }
}
