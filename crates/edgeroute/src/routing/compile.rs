//! Checking a [`RoutingConfig`] and building the [`CompiledRouting`]. Every problem is
//! collected (not only the first), each with the key path of the offending value.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use edgeroute_geo::LatLon;

use super::cache::RouteCache;
use super::config::{
    EndpointSteering, MonitorConfig, MonitorKind, OutlierConfig, RoutingConfig, ServiceConfig,
    Steering, UnknownHealth,
};
use super::error::{KeyPath, RoutingError};
use super::location::{self, MapInput};
use super::model::{
    Affinity, CompiledRouting, Endpoint, EndpointId, Group, GroupId, MAX_POOL_ENDPOINTS,
    MAX_REGIONS, Monitor, Outlier, Pool, PoolId, Region, RegionId, Service, ServiceId, Target,
};
use super::select::{hash_bytes, mix64};

impl RoutingConfig {
    /// Checks the section and compiles it.
    ///
    /// # Errors
    /// Every problem found, each with its key path relative to the routing section: unknown
    /// region codes, countries or subdivisions; pools without endpoints; weights that sum to
    /// zero; residency groups without regions (or whose map sends a member elsewhere);
    /// monitor intervals below their timeout; unknown monitor or pool names; and so on.
    pub fn compile(&self) -> Result<CompiledRouting, Vec<RoutingError>> {
        let mut cx = Cx::default();
        let root = KeyPath::root();

        // Regions.
        let mut regions: Vec<Region> = Vec::new();
        let mut region_ids: BTreeMap<&str, RegionId> = BTreeMap::new();
        if self.regions.is_empty() {
            cx.err(root.key("regions"), "no regions declared");
        }
        if self.regions.len() > MAX_REGIONS {
            cx.err(
                root.key("regions"),
                format!(
                    "{} regions declared, at most {MAX_REGIONS} are supported",
                    self.regions.len()
                ),
            );
        }
        for (code, cfg) in self.regions.iter().take(MAX_REGIONS) {
            match edgeroute_geo::aws_region(code) {
                Some(aws) => {
                    let id = RegionId(u8::try_from(regions.len()).unwrap_or(u8::MAX));
                    region_ids.insert(code, id);
                    regions.push(Region {
                        name: Arc::from(code.as_str()),
                        role: cfg.role,
                        point: aws.point,
                    });
                }
                None => cx.err_help(
                    root.key("regions").key(code),
                    format!("unknown region `{code}`"),
                    "regions are AWS region codes such as `us-east-1`",
                ),
            }
        }
        let region_ref = |cx: &mut Cx, path: KeyPath, code: &str| -> Option<RegionId> {
            if let Some(&id) = region_ids.get(code) {
                return Some(id);
            }
            if edgeroute_geo::aws_region(code).is_some() {
                cx.err_help(
                    path,
                    format!("region `{code}` is not declared"),
                    format!("add `{code} = {{}}` to the `regions` table"),
                );
            } else {
                cx.err_help(
                    path,
                    format!("unknown region `{code}`"),
                    "regions are AWS region codes such as `us-east-1`",
                );
            }
            None
        };
        let default_region = region_ref(&mut cx, root.key("default_region"), &self.default_region);

        // Residency groups.
        let mut groups: Vec<Group> = Vec::new();
        let mut country_groups: BTreeMap<String, (GroupId, u64)> = BTreeMap::new();
        if self.residency.len() > usize::from(u8::MAX) {
            cx.err(
                root.key("residency"),
                "too many residency groups (at most 255)",
            );
        }
        for (name, cfg) in self.residency.iter().take(usize::from(u8::MAX)) {
            let path = root.key("residency").key(name);
            let id = GroupId(u8::try_from(groups.len()).unwrap_or(u8::MAX));
            let mut allowed = 0u64;
            if cfg.regions.is_empty() {
                cx.err(
                    path.key("regions"),
                    format!("residency group `{name}` allows no region"),
                );
            }
            for (i, pattern) in cfg.regions.iter().enumerate() {
                let matched = match pattern.strip_suffix('*') {
                    Some(prefix) => region_ids
                        .iter()
                        .filter(|(code, _)| code.starts_with(prefix))
                        .fold(0u64, |m, (_, id)| m | id.bit()),
                    None => region_ref(&mut cx, path.key("regions").index(i), pattern)
                        .map_or(0, RegionId::bit),
                };
                if matched == 0 && pattern.ends_with('*') {
                    cx.err(
                        path.key("regions").index(i),
                        format!("`{pattern}` matches no declared region"),
                    );
                }
                allowed |= matched;
            }
            if cfg.countries.is_empty() {
                cx.err(
                    path.key("countries"),
                    format!("residency group `{name}` lists no countries"),
                );
            }
            for (i, code) in cfg.countries.iter().enumerate() {
                let cpath = path.key("countries").index(i);
                if edgeroute_geo::country(code).is_none() {
                    cx.err_help(
                        cpath,
                        format!("unknown country `{code}`"),
                        "countries are upper-case ISO 3166-1 alpha-2 codes such as `DE`",
                    );
                    continue;
                }
                if let Some((other, _)) = country_groups.get(code.as_str()) {
                    let other = groups.get(other.index()).map_or("", |g| &*g.name);
                    cx.err(
                        cpath,
                        format!("country `{code}` is already in residency group `{other}`"),
                    );
                    continue;
                }
                country_groups.insert(code.clone(), (id, allowed));
            }
            groups.push(Group {
                name: Arc::from(name.as_str()),
                allowed,
                when_unavailable: cfg.when_unavailable,
            });
        }

        // The region map.
        let mut map_countries: BTreeMap<String, RegionId> = BTreeMap::new();
        let mut map_subdivisions: BTreeMap<String, RegionId> = BTreeMap::new();
        for (key, value) in &self.map {
            let path = root.key("map").key(key);
            let country = if key.len() == 2 {
                if edgeroute_geo::country(key).is_none() {
                    cx.err_help(
                        path,
                        format!("unknown country `{key}`"),
                        "map keys are ISO 3166-1 codes (`DE`) or ISO 3166-2 codes (`US-CA`)",
                    );
                    continue;
                }
                key.as_str()
            } else {
                match edgeroute_geo::subdivision(key) {
                    Some(sub) => sub.country,
                    None => {
                        cx.err_help(
                            path,
                            format!("unknown subdivision `{key}`"),
                            "map keys are ISO 3166-1 codes (`DE`) or ISO 3166-2 codes (`US-CA`)",
                        );
                        continue;
                    }
                }
            };
            let Some(region) = region_ref(&mut cx, path.clone(), value) else {
                continue;
            };
            if let Some((group, allowed)) = country_groups.get(country)
                && allowed & region.bit() == 0
            {
                let group = groups.get(group.index()).map_or("", |g| &*g.name);
                cx.err(
                    path,
                    format!(
                        "`{key}` is in residency group `{group}`, which does not allow region `{value}`"
                    ),
                );
                continue;
            }
            if key.len() == 2 {
                map_countries.insert(key.clone(), region);
            } else {
                map_subdivisions.insert(key.clone(), region);
            }
        }

        // Monitors.
        let mut monitors: Vec<Monitor> = Vec::new();
        let mut monitor_ids: BTreeMap<&str, u16> = BTreeMap::new();
        for (name, cfg) in &self.monitors {
            if let Some(m) = compile_monitor(&mut cx, &root.key("monitors").key(name), name, cfg) {
                monitor_ids.insert(name, u16::try_from(monitors.len()).unwrap_or(u16::MAX));
                monitors.push(m);
            }
        }

        // Services and pools.
        let mut services: Vec<Service> = Vec::new();
        let mut pools: Vec<Pool> = Vec::new();
        let mut endpoints: Vec<Endpoint> = Vec::new();
        let mut pool_names: BTreeMap<&str, KeyPath> = BTreeMap::new();
        let mut endpoint_count = 0usize;
        for (service_index, (name, cfg)) in self.services.iter().enumerate() {
            let spath = root.key("services").key(name);
            let Ok(service_id) = u16::try_from(service_index).map(ServiceId) else {
                cx.err(spath, "too many services");
                break;
            };
            let affinity = cfg
                .affinity
                .as_deref()
                .and_then(|a| parse_affinity(&mut cx, spath.key("affinity"), a));
            let first_pool = pools.len();
            for (i, pcfg) in cfg.pools.iter().enumerate() {
                let ppath = spath.key("pools").index(i);
                if pcfg.name.is_empty()
                    || pcfg.name.contains('/')
                    || pcfg.name.contains(char::is_whitespace)
                {
                    cx.err(
                        ppath.key("name"),
                        format!(
                            "invalid pool name `{}`: it must be non-empty, without `/` or spaces",
                            pcfg.name
                        ),
                    );
                } else if region_ids.contains_key(pcfg.name.as_str()) {
                    cx.err(
                        ppath.key("name"),
                        format!("pool name `{}` is also a region code", pcfg.name),
                    );
                } else if let Some(first) = pool_names.get(pcfg.name.as_str()) {
                    cx.err(
                        ppath.key("name"),
                        format!("pool `{}` is already defined at `{first}`", pcfg.name),
                    );
                } else {
                    pool_names.insert(&pcfg.name, ppath.clone());
                }
                let region = region_ref(&mut cx, ppath.key("region"), &pcfg.region);
                let monitor = match pcfg.monitor.as_deref().or(cfg.monitor.as_deref()) {
                    None | Some("none") => None,
                    Some(m) => {
                        let mpath = if pcfg.monitor.is_some() {
                            ppath.key("monitor")
                        } else {
                            spath.key("monitor")
                        };
                        let id = monitor_ids.get(m).copied();
                        if id.is_none() && !self.monitors.contains_key(m) {
                            cx.err(mpath, format!("unknown monitor `{m}`"));
                        }
                        id
                    }
                };
                let steering = pcfg.endpoint_steering.unwrap_or(cfg.endpoint_steering);
                if steering == EndpointSteering::Hash
                    && affinity.is_none()
                    && cfg.affinity.is_none()
                {
                    cx.err_help(
                        if pcfg.endpoint_steering.is_some() {
                            ppath.key("endpoint_steering")
                        } else {
                            spath.key("endpoint_steering")
                        },
                        format!("hash steering in pool `{}` needs an affinity key", pcfg.name),
                        "set the service's `affinity` to `\"ip\"`, `\"header:NAME\"` or `\"cookie:NAME\"`",
                    );
                }
                let outlier = pcfg
                    .outlier_detection
                    .as_ref()
                    .map(|o| (o, ppath.key("outlier_detection")))
                    .or_else(|| {
                        cfg.outlier_detection
                            .as_ref()
                            .map(|o| (o, spath.key("outlier_detection")))
                    })
                    .and_then(|(o, path)| compile_outlier(&mut cx, &path, o));

                // Endpoints.
                let epath = ppath.key("endpoints");
                if pcfg.endpoints.is_empty() {
                    cx.err(
                        epath.clone(),
                        format!("pool `{}` has no endpoints", pcfg.name),
                    );
                } else if pcfg.endpoints.len() > MAX_POOL_ENDPOINTS {
                    cx.err(
                        epath.clone(),
                        format!(
                            "pool `{}` has {} endpoints, at most {MAX_POOL_ENDPOINTS} are supported",
                            pcfg.name,
                            pcfg.endpoints.len()
                        ),
                    );
                }
                let mut seen: BTreeSet<&str> = BTreeSet::new();
                let first_endpoint = endpoints.len();
                for (j, ecfg) in pcfg.endpoints.iter().enumerate() {
                    let apath = epath.index(j).key("address");
                    if !valid_address(&ecfg.address) {
                        cx.err(
                            apath,
                            format!("invalid endpoint address `{}`", ecfg.address),
                        );
                    } else if !seen.insert(&ecfg.address) {
                        cx.err(
                            apath,
                            format!(
                                "endpoint `{}` is listed twice in pool `{}`",
                                ecfg.address, pcfg.name
                            ),
                        );
                    }
                    endpoints.push(Endpoint {
                        key: Arc::from(format!("{}/{}", pcfg.name, ecfg.address)),
                        address: Arc::from(ecfg.address.as_str()),
                        weight: ecfg.weight,
                        pool: PoolId(u16::try_from(pools.len()).unwrap_or(u16::MAX)),
                        hash: hash_bytes(ENDPOINT_SEED, ecfg.address.as_bytes()),
                    });
                }
                endpoint_count += pcfg.endpoints.len();
                let weighted = pcfg.endpoints.iter().filter(|e| e.weight > 0).count();
                if !pcfg.endpoints.is_empty() && weighted == 0 {
                    cx.err(
                        epath,
                        format!("endpoint weights of pool `{}` sum to zero", pcfg.name),
                    );
                }
                let minimum_origins = pcfg.minimum_origins.or(cfg.minimum_origins).unwrap_or(1);
                let min_path = if pcfg.minimum_origins.is_some() {
                    ppath.key("minimum_origins")
                } else {
                    spath.key("minimum_origins")
                };
                if minimum_origins == 0 {
                    cx.err(min_path, "`minimum_origins` must be at least 1");
                } else if weighted > 0 && minimum_origins as usize > weighted {
                    cx.err(
                        min_path,
                        format!(
                            "pool `{}` needs {minimum_origins} healthy origins but has {weighted} with weight",
                            pcfg.name
                        ),
                    );
                }
                pools.push(Pool {
                    name: Arc::from(pcfg.name.as_str()),
                    service: service_id,
                    region: region.unwrap_or(RegionId(0)),
                    weight: pcfg.weight,
                    standby: pcfg.standby,
                    minimum_origins: minimum_origins.max(1),
                    monitor,
                    steering,
                    outlier,
                    first_endpoint: u32::try_from(first_endpoint).unwrap_or(u32::MAX),
                    endpoint_count: u32::try_from(pcfg.endpoints.len()).unwrap_or(0),
                    uniform_weights: {
                        let mut weights =
                            pcfg.endpoints.iter().map(|e| e.weight).filter(|&w| w > 0);
                        let first = weights.next();
                        weights.all(|w| Some(w) == first)
                    },
                    hash: hash_bytes(POOL_SEED, pcfg.name.as_bytes()),
                });
            }
            if pools.len() > usize::from(u16::MAX) || endpoint_count > u32::MAX as usize / 2 {
                cx.err(spath.clone(), "too many pools or endpoints");
            }
            let service = compile_service(
                &mut cx,
                &spath,
                name,
                cfg,
                self.unknown_health,
                affinity,
                pools.get(first_pool..).unwrap_or_default(),
                first_pool,
                &regions,
            );
            services.push(service);
        }

        // Names for health reports and `--down`.
        let targets = build_targets(&mut cx, &regions, &pools, &endpoints);

        let errors = cx.errors;
        let Some(default_region) = default_region.filter(|_| errors.is_empty()) else {
            return Err(errors);
        };
        let region_points: Vec<LatLon> = regions.iter().map(|r| r.point).collect();
        let locations = location::build(&MapInput {
            region_points: &region_points,
            default_region,
            fallback: self.fallback,
            countries: &map_countries,
            subdivisions: &map_subdivisions,
            groups: &country_groups,
        });
        let layout_id = layout_id(&regions, &pools, &endpoints);
        let (locations_classes, services_len) = (locations.classes as usize, services.len());
        let mapped_subdivisions = map_subdivisions
            .keys()
            .map(|k| Box::from(k.as_str()))
            .collect();
        Ok(CompiledRouting {
            regions: regions.into_boxed_slice(),
            services: services.into_boxed_slice(),
            pools: pools.into_boxed_slice(),
            endpoints: endpoints.into_boxed_slice(),
            monitors: monitors.into_boxed_slice(),
            groups: groups.into_boxed_slice(),
            locations,
            targets: targets.0,
            address_endpoints: targets.1,
            mapped_subdivisions,
            default_region,
            fallback: self.fallback,
            layout_id,
            route_cache: RouteCache::new(locations_classes, services_len),
        })
    }
}

const ENDPOINT_SEED: u64 = 0x6564_6765_7270_7431;
const POOL_SEED: u64 = 0x6564_6765_706f_6f6c;

#[derive(Default)]
struct Cx {
    errors: Vec<RoutingError>,
}

impl Cx {
    fn err(&mut self, path: KeyPath, message: impl Into<String>) {
        self.errors.push(RoutingError::new(path, message));
    }
    fn err_help(&mut self, path: KeyPath, message: impl Into<String>, help: impl Into<String>) {
        self.errors
            .push(RoutingError::new(path, message).with_help(help));
    }
}

fn valid_address(address: &str) -> bool {
    !address.is_empty()
        && address.len() <= 253
        && address.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':' | b'[' | b']')
        })
}

fn parse_affinity(cx: &mut Cx, path: KeyPath, text: &str) -> Option<Affinity> {
    let affinity = match text.split_once(':') {
        None if text == "ip" => Some(Affinity::ClientIp),
        Some(("header", name)) if !name.is_empty() => {
            Some(Affinity::Header(name.to_ascii_lowercase().into_boxed_str()))
        }
        Some(("cookie", name)) if !name.is_empty() => Some(Affinity::Cookie(Box::from(name))),
        _ => None,
    };
    if affinity.is_none() {
        cx.err_help(
            path,
            format!("invalid affinity `{text}`"),
            "use `\"ip\"`, `\"header:NAME\"` or `\"cookie:NAME\"`",
        );
    }
    affinity
}

fn compile_monitor(
    cx: &mut Cx,
    path: &KeyPath,
    name: &str,
    cfg: &MonitorConfig,
) -> Option<Monitor> {
    let before = cx.errors.len();
    let (interval, timeout) = (cfg.interval.as_millis(), cfg.timeout.as_millis());
    if timeout == 0 {
        cx.err(path.key("timeout"), "monitor timeout must be positive");
    }
    if interval < timeout {
        cx.err(
            path.key("interval"),
            format!(
                "monitor `{name}` interval {} is shorter than its timeout {}",
                cfg.interval, cfg.timeout
            ),
        );
    }
    if cfg.consecutive_down == 0 {
        cx.err(
            path.key("consecutive_down"),
            "`consecutive_down` must be at least 1",
        );
    }
    if cfg.consecutive_up == 0 {
        cx.err(
            path.key("consecutive_up"),
            "`consecutive_up` must be at least 1",
        );
    }
    let http = cfg.kind != MonitorKind::Tcp;
    if !http {
        for (key, set) in [
            ("path", cfg.path.is_some()),
            ("method", cfg.method.is_some()),
            ("expected_codes", cfg.expected_codes.is_some()),
        ] {
            if set {
                cx.err(
                    path.key(key),
                    format!("`{key}` is only for http and https monitors"),
                );
            }
        }
        if cfg.port.is_none() {
            cx.err(
                path.key("type"),
                format!("tcp monitor `{name}` needs a `port`"),
            );
        }
    }
    let probe_path = cfg.path.as_deref().unwrap_or("/");
    if http && !probe_path.starts_with('/') {
        cx.err(
            path.key("path"),
            format!("monitor path `{probe_path}` must start with `/`"),
        );
    }
    let method = cfg.method.as_deref().unwrap_or("GET");
    if http && (method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase())) {
        cx.err(
            path.key("method"),
            format!("invalid http method `{method}`"),
        );
    }
    let expected = if http {
        let text = cfg.expected_codes.as_deref().unwrap_or("2xx");
        match parse_expected_codes(text) {
            Ok(ranges) => ranges,
            Err(message) => {
                cx.err(path.key("expected_codes"), message);
                Vec::new()
            }
        }
    } else {
        Vec::new()
    };
    let port = cfg.port.unwrap_or(match cfg.kind {
        MonitorKind::Https => 443,
        MonitorKind::Http | MonitorKind::Tcp => 80,
    });
    (cx.errors.len() == before).then(|| Monitor {
        name: Arc::from(name),
        kind: cfg.kind,
        path: Box::from(probe_path),
        method: Box::from(method),
        port,
        expected: expected.into_boxed_slice(),
        interval_ms: interval,
        timeout_ms: timeout,
        retries: cfg.retries,
        consecutive_down: cfg.consecutive_down,
        consecutive_up: cfg.consecutive_up,
    })
}

/// Parses `"200"`, `"2xx"`, `"200-299"` and comma-separated lists of them.
pub(crate) fn parse_expected_codes(text: &str) -> Result<Vec<(u16, u16)>, String> {
    let bad = |item: &str| {
        format!("invalid expected code `{item}`, expected a status like `200`, `2xx` or `200-299`")
    };
    let status = |s: &str| s.parse::<u16>().ok().filter(|c| (100..=599).contains(c));
    let mut ranges = Vec::new();
    for item in text.split(',').map(str::trim) {
        let range = if let Some(class) = item.strip_suffix("xx").or_else(|| item.strip_suffix("XX"))
        {
            match class.parse::<u16>() {
                Ok(c @ 1..=5) if class.len() == 1 => (c * 100, c * 100 + 99),
                _ => return Err(bad(item)),
            }
        } else if let Some((lo, hi)) = item.split_once('-') {
            match (status(lo.trim()), status(hi.trim())) {
                (Some(lo), Some(hi)) if lo <= hi => (lo, hi),
                _ => return Err(bad(item)),
            }
        } else {
            let code = status(item).ok_or_else(|| bad(item))?;
            (code, code)
        };
        ranges.push(range);
    }
    Ok(ranges)
}

fn compile_outlier(cx: &mut Cx, path: &KeyPath, cfg: &OutlierConfig) -> Option<Outlier> {
    let before = cx.errors.len();
    if cfg.consecutive_5xx == 0 {
        cx.err(
            path.key("consecutive_5xx"),
            "`consecutive_5xx` must be at least 1",
        );
    }
    if cfg.base_ejection_time.as_millis() == 0 {
        cx.err(
            path.key("base_ejection_time"),
            "`base_ejection_time` must be positive",
        );
    }
    if cfg.max_ejection_time < cfg.base_ejection_time {
        cx.err(
            path.key("max_ejection_time"),
            format!(
                "`max_ejection_time` {} is shorter than `base_ejection_time` {}",
                cfg.max_ejection_time, cfg.base_ejection_time
            ),
        );
    }
    if cfg.max_ejection_percent > 100 {
        cx.err(
            path.key("max_ejection_percent"),
            format!(
                "`max_ejection_percent` {} is above 100",
                cfg.max_ejection_percent
            ),
        );
    }
    (cx.errors.len() == before).then_some(Outlier {
        consecutive_5xx: cfg.consecutive_5xx,
        base_ejection_ms: cfg.base_ejection_time.as_millis(),
        max_ejection_ms: cfg.max_ejection_time.as_millis(),
        max_ejection_percent: cfg.max_ejection_percent,
    })
}

#[expect(
    clippy::too_many_arguments,
    reason = "one call site, all inputs are distinct"
)]
fn compile_service(
    cx: &mut Cx,
    path: &KeyPath,
    name: &str,
    cfg: &ServiceConfig,
    unknown_default: UnknownHealth,
    affinity: Option<Affinity>,
    own_pools: &[Pool],
    first_pool: usize,
    regions: &[Region],
) -> Service {
    let pool_id = |i: usize| PoolId(u16::try_from(first_pool + i).unwrap_or(u16::MAX));
    let find = |pool: &str| own_pools.iter().position(|p| &*p.name == pool).map(pool_id);
    if cfg.pools.is_empty() {
        cx.err(path.key("pools"), format!("service `{name}` has no pools"));
    }
    let fallback_pool = cfg.fallback_pool.as_deref().and_then(|f| {
        let found = find(f);
        if found.is_none() {
            cx.err(
                path.key("fallback_pool"),
                format!("fallback pool `{f}` is not a pool of service `{name}`"),
            );
        }
        found
    });
    for (i, p) in own_pools.iter().enumerate() {
        if p.standby && fallback_pool != Some(pool_id(i)) {
            cx.err(
                path.key("pools").index(i).key("standby"),
                format!(
                    "standby pool `{}` is not the service's fallback pool, so it is never used",
                    p.name
                ),
            );
        }
    }
    let active: Vec<usize> = own_pools
        .iter()
        .enumerate()
        .filter(|(_, p)| !p.standby)
        .map(|(i, _)| i)
        .collect();
    if !cfg.pools.is_empty() && active.is_empty() {
        cx.err(
            path.key("pools"),
            format!("service `{name}` has only standby pools"),
        );
    }

    // Pools per region, by region id.
    let mut pools_by_region = vec![(0u32, 0u32); regions.len()];
    let mut region_pools: Vec<PoolId> = Vec::new();
    let mut region_mask = 0u64;
    for (r, slot) in pools_by_region.iter_mut().enumerate() {
        let start = u32::try_from(region_pools.len()).unwrap_or(0);
        let here: Vec<usize> = active
            .iter()
            .copied()
            .filter(|&i| own_pools.get(i).is_some_and(|p| p.region.index() == r))
            .collect();
        if here.is_empty() {
            continue;
        }
        let weight: u64 = here
            .iter()
            .filter_map(|&i| own_pools.get(i))
            .map(|p| u64::from(p.weight))
            .sum();
        if weight == 0 && cfg.steering == Steering::Geo {
            cx.err(
                path.key("pools"),
                format!(
                    "pool weights of service `{name}` in region `{}` sum to zero",
                    regions.get(r).map_or("", |region| &*region.name)
                ),
            );
        }
        region_mask |= 1u64 << (r & 63);
        region_pools.extend(here.iter().map(|&i| pool_id(i)));
        *slot = (start, u32::try_from(here.len()).unwrap_or(0));
    }
    if cfg.steering == Steering::Random
        && !active.is_empty()
        && active
            .iter()
            .filter_map(|&i| own_pools.get(i))
            .all(|p| p.weight == 0)
    {
        cx.err(
            path.key("pools"),
            format!("pool weights of service `{name}` sum to zero"),
        );
    }

    let ordered_pools: Vec<PoolId> = match &cfg.failover_order {
        Some(order) => {
            if cfg.steering != Steering::Failover {
                cx.err(
                    path.key("failover_order"),
                    "`failover_order` is only used with `steering = \"failover\"`",
                );
            }
            let mut ids = Vec::new();
            for (i, pool) in order.iter().enumerate() {
                match find(pool) {
                    Some(id) if ids.contains(&id) => cx.err(
                        path.key("failover_order").index(i),
                        format!("pool `{pool}` is listed twice"),
                    ),
                    Some(id) => ids.push(id),
                    None => cx.err(
                        path.key("failover_order").index(i),
                        format!("`{pool}` is not a pool of service `{name}`"),
                    ),
                }
            }
            ids
        }
        None => active.iter().map(|&i| pool_id(i)).collect(),
    };
    Service {
        name: Arc::from(name),
        steering: cfg.steering,
        affinity,
        unknown_healthy: cfg.unknown_health.unwrap_or(unknown_default) == UnknownHealth::Healthy,
        fallback_pool,
        pools_by_region: pools_by_region.into_boxed_slice(),
        region_pools: region_pools.into_boxed_slice(),
        region_mask,
        ordered_pools: ordered_pools.into_boxed_slice(),
    }
}

type Targets = (Box<[(Box<str>, Target)]>, Box<[EndpointId]>);

fn build_targets(
    cx: &mut Cx,
    regions: &[Region],
    pools: &[Pool],
    endpoints: &[Endpoint],
) -> Targets {
    let mut names: BTreeMap<Box<str>, Target> = BTreeMap::new();
    for (i, r) in regions.iter().enumerate() {
        names.insert(
            Box::from(&*r.name),
            Target::Region(RegionId(u8::try_from(i).unwrap_or(0))),
        );
    }
    for (i, p) in pools.iter().enumerate() {
        names.insert(
            Box::from(&*p.name),
            Target::Pool(PoolId(u16::try_from(i).unwrap_or(0))),
        );
    }
    let mut by_address: BTreeMap<&str, Vec<EndpointId>> = BTreeMap::new();
    for (i, e) in endpoints.iter().enumerate() {
        let id = EndpointId(u32::try_from(i).unwrap_or(0));
        names.insert(Box::from(&*e.key), Target::Endpoint(id));
        by_address.entry(&e.address).or_default().push(id);
    }
    let mut address_endpoints = Vec::new();
    for (address, ids) in by_address {
        if names.contains_key(address) {
            cx.err(
                KeyPath::root().key("services"),
                format!("endpoint address `{address}` is also a region or pool name"),
            );
            continue;
        }
        let start = u32::try_from(address_endpoints.len()).unwrap_or(0);
        let len = u32::try_from(ids.len()).unwrap_or(0);
        address_endpoints.extend(ids);
        names.insert(Box::from(address), Target::Address(start, len));
    }
    (
        names.into_iter().collect::<Vec<_>>().into_boxed_slice(),
        address_endpoints.into_boxed_slice(),
    )
}

fn layout_id(regions: &[Region], pools: &[Pool], endpoints: &[Endpoint]) -> u64 {
    let names = regions
        .iter()
        .map(|r| &*r.name)
        .chain(std::iter::once("\u{0}pools"))
        .chain(pools.iter().map(|p| &*p.name))
        .chain(std::iter::once("\u{0}endpoints"))
        .chain(endpoints.iter().map(|e| &*e.key));
    let mut h = 0x6c61_796f_7574u64;
    for name in names {
        h = mix64(h ^ hash_bytes(h, name.as_bytes()));
    }
    // 0 is the empty binding's id.
    h | 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expected_codes_parse() {
        assert_eq!(parse_expected_codes("2xx").unwrap(), vec![(200, 299)]);
        assert_eq!(
            parse_expected_codes("200, 301-302,4XX").unwrap(),
            vec![(200, 200), (301, 302), (400, 499)]
        );
        for bad in ["", "6xx", "abc", "302-301", "99", "20x", "2xxx"] {
            assert!(parse_expected_codes(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn addresses_are_host_names_or_ips() {
        assert!(valid_address("api-use1.alb.aybiza.internal"));
        assert!(valid_address("10.0.0.1:8443"));
        assert!(valid_address("[2001:db8::1]:443"));
        assert!(!valid_address(""));
        assert!(!valid_address("a b"));
        assert!(!valid_address("x/y"));
    }
}
