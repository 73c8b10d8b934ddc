//! Traffic: who sends which requests when.
//!
//! Synthetic traffic is a non-homogeneous Poisson process per client, at the model's rate times
//! the client's weight (its activity), its daily shape at its local hour, and the surges. A
//! shard draws it by thinning, which is exact for any rate curve below the bound: its clients are
//! grouped into zones by UTC offset; hour by hour, candidate arrivals come at each zone's
//! largest shape factor of the hour, a candidate's zone is drawn by weight times that bound, and
//! it is kept with probability `shape(local hour) / bound`; a kept candidate then draws its
//! client (by weight, within the zone), is thinned again by `surge / surge bound` when the
//! scenario has surges, and draws its class (by share). Every shard draws from its own random
//! stream, so the traffic of a shard does not depend on how many threads run the shards.
//!
//! Objects within a class follow Zipf(alpha) popularity; an object's size is fixed by a hash of
//! its key, drawn from the class's lognormal size distribution, so the same object always has
//! the same size.

pub mod population;
mod shape;
mod template;

use edgeroute_geo::Continent;

pub use population::{Client, Group, Population};
pub use shape::{DEFAULT_SHAPE, DailyShape};
pub use template::{Template, push_u64};

use crate::dist::{Alias, LogNormal, WeightedTable, Zipf, exponential};
use crate::rng::{SimRng, label_hash, mix64};
use crate::scenario::model::{ClassConfig, EventConfig, EventKind};

/// One synthetic request class, compiled.
#[derive(Debug, Clone)]
pub struct ClassModel {
    /// Its name.
    pub name: String,
    /// Share of requests.
    pub share: f64,
    /// Host header.
    pub host: Vec<u8>,
    /// Method.
    pub method: Vec<u8>,
    /// Path template.
    pub path: Template,
    /// Object popularity.
    pub zipf: Zipf,
    /// Object sizes.
    pub size: LogNormal,
    /// Salt mixed into object keys, so classes never share keys.
    pub salt: u64,
    /// Session length in seconds, for websocket classes.
    pub session: Option<LogNormal>,
    /// Extra request headers.
    pub headers: Vec<(Vec<u8>, Vec<u8>)>,
    /// Regional cache content class and TTL in microseconds.
    pub regional: Option<(String, u64)>,
    /// Database queries per origin request.
    pub db_queries: u32,
    /// Popularity of the class's database queries.
    pub db_zipf: Zipf,
    /// Origin service time override.
    pub compute: Option<LogNormal>,
    /// Whether the path names the client (so objects are per client).
    pub per_client: bool,
    /// Object sizes by rank (index `rank - 1`), precomputed for classes of at most
    /// [`SIZE_TABLE_MAX`] shared objects.
    sizes: Vec<u32>,
}

/// Classes with at most this many (shared) objects get a precomputed size table.
pub const SIZE_TABLE_MAX: u64 = 1 << 21;

impl ClassModel {
    /// Compiles a class (the scenario checks have already validated it).
    #[must_use]
    pub fn new(c: &ClassConfig) -> Self {
        let median = c.size.median.0 as f64;
        let p99 = c.size.p99.map_or(median, |p| p.0 as f64);
        let mut class = ClassModel {
            name: c.name.clone(),
            share: c.share,
            host: c.host.as_bytes().to_vec(),
            method: c.method.as_bytes().to_vec(),
            path: Template::parse(&c.path).unwrap_or_else(|_| Template::literal(&c.path)),
            per_client: Template::parse(&c.path).is_ok_and(|t| t.uses_client()),
            zipf: Zipf::new(c.objects, c.zipf),
            size: LogNormal::from_p50_p99(median.max(1.0), p99.max(1.0)),
            salt: label_hash(&c.name),
            session: c
                .session
                .map(|s| LogNormal::from_p50_p99(s.median.0.max(0.001), s.p99.0.max(s.median.0))),
            headers: c
                .headers
                .iter()
                .map(|(k, v)| (k.to_ascii_lowercase().into_bytes(), v.as_bytes().to_vec()))
                .collect(),
            regional: c
                .regional_cache
                .as_ref()
                .map(|r| (r.class.clone(), r.ttl.as_micros())),
            db_queries: c.database_queries,
            db_zipf: Zipf::new(c.database_keys.unwrap_or(c.objects), c.zipf),
            compute: c
                .compute
                .map(|l| LogNormal::from_p50_p99(l.p50_ms, l.p99_ms)),
            sizes: Vec::new(),
        };
        if !class.per_client && c.objects <= SIZE_TABLE_MAX {
            class.sizes = (1..=c.objects)
                .map(|rank| class.object_size(class.object_key(rank, 0)))
                .collect();
        }
        class
    }

    /// The cache key of the object at popularity `rank` (requested by `client`: paths with a
    /// `{client}` placeholder name a different object per client).
    #[inline]
    #[must_use]
    pub fn object_key(&self, rank: u64, client: u32) -> u64 {
        let per_client = if self.per_client {
            mix64(u64::from(client) ^ 0xC11E)
        } else {
            0
        };
        mix64(self.salt ^ rank.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ per_client)
    }

    /// The size of the object at `rank` whose key is `key` (the table when there is one).
    #[inline]
    #[must_use]
    pub fn size_of(&self, rank: u64, key: u64) -> u32 {
        match usize::try_from(rank.wrapping_sub(1))
            .ok()
            .and_then(|i| self.sizes.get(i))
        {
            Some(&s) => s,
            None => self.object_size(key),
        }
    }

    /// The size in bytes of the object with key `key` (fixed by the key).
    #[inline]
    #[must_use]
    pub fn object_size(&self, key: u64) -> u32 {
        let s = self.size.from_hash(mix64(key ^ 0x5151));

        s.clamp(1.0, f64::from(u32::MAX)) as u32
    }
}

/// Where an arrival comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Source {
    /// Normal traffic.
    Normal,
    /// The attack event with this index in the scenario's events.
    Attack(u16),
}

/// One synthetic arrival.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arrival {
    /// Virtual time in microseconds.
    pub t_us: u64,
    /// Index into the client table.
    pub client: u32,
    /// Index among the generating shard's clients (normal clients first, then each attack's
    /// in turn), below [`ShardTraffic::local_clients`]: for per-client state a shard keeps.
    pub local: u32,
    /// The client's group (copied from the client, as are the scores below, so handling an
    /// arrival need not look the client up).
    pub group: u32,
    /// The client's `cf.bot_management.score`.
    pub bot_score: u8,
    /// The client's `cf.threat_score`.
    pub threat_score: u8,
    /// Whether the client is a verified bot.
    pub verified: bool,
    /// Class index (normal traffic), or 0 for attacks.
    pub class: u16,
    /// Where it comes from.
    pub source: Source,
    /// Object popularity rank (1 = most popular).
    pub rank: u64,
}

/// A surge: a multiplier on traffic, ramping linearly up from `start` and down to `end`.
#[derive(Debug, Clone, PartialEq)]
pub struct Surge {
    start_us: u64,
    end_us: u64,
    ramp_us: u64,
    multiplier: f64,
    countries: Option<Vec<String>>,
    classes: Option<Vec<u16>>,
}

impl Surge {
    /// From a `surge` event (other kinds give `None`).
    #[must_use]
    pub fn from_event(e: &EventConfig, classes: &[ClassModel]) -> Option<Self> {
        if e.kind != EventKind::Surge {
            return None;
        }
        let start_us = e.start.as_micros();
        let end_us = e
            .end
            .map(|x| x.as_micros())
            .or(e.duration.map(|d| start_us.saturating_add(d.as_micros())))
            .unwrap_or(start_us);
        let ramp_us = e
            .ramp
            .map_or(600_000_000, |r| r.as_micros())
            .min((end_us.saturating_sub(start_us)) / 2);
        Some(Surge {
            start_us,
            end_us,
            ramp_us,
            multiplier: e.multiplier.unwrap_or(1.0),
            countries: e.countries.clone(),
            classes: e.classes.as_ref().map(|names| {
                names
                    .iter()
                    .filter_map(|n| classes.iter().position(|c| &c.name == n))
                    .filter_map(|i| u16::try_from(i).ok())
                    .collect()
            }),
        })
    }

    /// The factor at time `t` for a request of `class` from `country`.
    #[inline]
    #[must_use]
    pub fn factor(&self, t_us: u64, country: &str, class: u16) -> f64 {
        if t_us < self.start_us || t_us >= self.end_us {
            return 1.0;
        }
        if let Some(cs) = &self.countries
            && !cs.iter().any(|c| c == country)
        {
            return 1.0;
        }
        if let Some(ks) = &self.classes
            && !ks.contains(&class)
        {
            return 1.0;
        }
        let up = t_us - self.start_us;
        let down = self.end_us - t_us;
        let ramp = self.ramp_us.max(1) as f64;
        let x = (up.min(down) as f64 / ramp).min(1.0);
        1.0 + (self.multiplier - 1.0) * x
    }

    /// Whether it applies to some classes only.
    #[must_use]
    pub fn by_class(&self) -> bool {
        self.classes.is_some()
    }

    /// The largest factor it reaches within `[from, to)`.
    #[must_use]
    pub fn bound(&self, from_us: u64, to_us: u64) -> f64 {
        if to_us <= self.start_us || from_us >= self.end_us {
            1.0
        } else {
            self.multiplier.max(1.0)
        }
    }
}

/// An attack burst, compiled: its clients and requests.
#[derive(Debug, Clone)]
pub struct AttackModel {
    /// Index of the event in the scenario.
    pub event: u16,
    /// Start and end in microseconds.
    pub start_us: u64,
    /// End in microseconds.
    pub end_us: u64,
    /// Requests per second.
    pub rate: f64,
    /// Host, path and method.
    pub host: Vec<u8>,
    /// Path.
    pub path: Vec<u8>,
    /// Method.
    pub method: Vec<u8>,
    /// Range of client indices (in the population's client table) it uses.
    pub clients: std::ops::Range<u32>,
}

/// Traffic common to every shard.
#[derive(Debug, Clone)]
pub struct TrafficModel {
    /// Classes.
    pub classes: Vec<ClassModel>,
    class_alias: Option<Alias>,
    /// The daily shape.
    pub shape: DailyShape,
    /// Mean requests per second over a day.
    pub rate: f64,
    /// UTC hour at virtual time zero.
    pub start_utc_h: f64,
    /// Surges.
    pub surges: Vec<Surge>,
    /// Attacks.
    pub attacks: Vec<AttackModel>,
}

impl TrafficModel {
    /// Compiles classes and surges.
    #[must_use]
    pub fn new(
        classes: Vec<ClassModel>,
        shape: DailyShape,
        rate: f64,
        start_utc_h: f64,
        events: &[EventConfig],
    ) -> Self {
        let shares: Vec<f64> = classes.iter().map(|c| c.share).collect();
        let surges = events
            .iter()
            .filter_map(|e| Surge::from_event(e, &classes))
            .collect();
        TrafficModel {
            class_alias: Alias::new(&shares),
            classes,
            shape,
            rate,
            start_utc_h,
            surges,
            attacks: Vec::new(),
        }
    }

    /// The UTC hour of day at virtual time `t`.
    #[inline]
    #[must_use]
    pub fn utc_hour(&self, t_us: u64) -> f64 {
        self.start_utc_h + t_us as f64 / 3.6e9
    }

    /// The product of the surges at `t`; with `class_known` false, class-specific surges are
    /// left out (there are none when the class is drawn after thinning).
    fn surge_factor(&self, t_us: u64, country: &str, class: u16, class_known: bool) -> f64 {
        let mut f = 1.0;
        for s in &self.surges {
            if class_known || !s.by_class() {
                f *= s.factor(t_us, country, class);
            }
        }
        f
    }

    fn surge_bound(&self, from: u64, to: u64) -> f64 {
        self.surges.iter().map(|s| s.bound(from, to)).product()
    }
}

/// A client as the generator needs it (kept in its zone's weighted table, so a draw is one
/// lookup).
#[derive(Debug, Clone, Copy, PartialEq)]
struct ShardClient {
    client: u32,
    local: u32,
    group: u32,
    bot_score: u8,
    threat_score: u8,
    verified: bool,
}

/// The shard's clients of one UTC offset. Every client of a zone has the same daily shape at
/// any instant, so the generator thins by the shape per zone, before it draws (and reads) a
/// client.
#[derive(Debug, Clone)]
struct Zone {
    offset_h: f64,
    /// The sum of its clients' weights.
    weight: f64,
    clients: WeightedTable<ShardClient>,
}

/// Per UTC hour: each zone's largest shape factor during the hour, and the zones weighted by
/// weight times that bound (the candidate mix of the hour).
#[derive(Debug, Clone)]
struct HourZones {
    hour: u64,
    bounds: Vec<f64>,
    pick: Option<WeightedTable<u32>>,
    /// The sum over zones of weight times bound: the hour's candidate rate per unit of model
    /// rate.
    rate_weight: f64,
}

/// A shard's traffic generator: its clients and random stream.
#[derive(Debug, Clone)]
pub struct ShardTraffic {
    /// The shard's clients by UTC offset, each weighted by activity (a zone whose clients all
    /// weigh nothing is left out).
    zones: Vec<Zone>,
    /// How many normal clients the shard has (local indices `0..normal_clients`, in the order
    /// given, whether or not their zone is kept).
    normal_clients: usize,
    /// Share of all normal traffic this shard carries.
    pub weight: f64,
    /// Per attack (same order as [`TrafficModel::attacks`]): this shard's attack clients.
    attack_clients: Vec<Vec<u32>>,
    /// Per attack: the local index of its first client here.
    attack_base: Vec<u32>,
    attack_total: Vec<u32>,
    rng: SimRng,
    hour_zones: Option<HourZones>,
}

impl ShardTraffic {
    /// The generator for the clients in `clients` (normal) and `attack_clients` (per attack).
    #[must_use]
    pub fn new(
        population: &Population,
        clients: Vec<u32>,
        attack_clients: Vec<Vec<u32>>,
        attacks: &[AttackModel],
        seed: u64,
        shard: u32,
    ) -> Self {
        // Client weight: its group's weight shared among the group's clients, times activity.
        let mut per_group = vec![0.0f64; population.groups.len()];
        for c in &population.clients {
            if let Some(w) = per_group.get_mut(c.group as usize) {
                *w += f64::from(c.activity);
            }
        }
        // One weight per entry of `clients`, in its order (an index the population does not
        // have weighs nothing), so the zip with `clients` below stays aligned.
        let weights: Vec<f64> = clients
            .iter()
            .map(|&i| {
                population.clients.get(i as usize).map_or(0.0, |c| {
                    let g = c.group as usize;
                    let gw = population.groups.get(g).map_or(0.0, |g| g.weight);
                    let denom = per_group
                        .get(g)
                        .copied()
                        .unwrap_or(1.0)
                        .max(f64::MIN_POSITIVE);
                    gw * f64::from(c.activity) / denom
                })
            })
            .collect();
        let weight = weights.iter().sum();
        let attack_total = attacks
            .iter()
            .map(|a| a.clients.end.saturating_sub(a.clients.start))
            .collect();
        let mut next = u32::try_from(clients.len()).unwrap_or(u32::MAX);
        let attack_base = attack_clients
            .iter()
            .map(|a| {
                let base = next;
                next = next.saturating_add(u32::try_from(a.len()).unwrap_or(u32::MAX));
                base
            })
            .collect();
        // The clients by UTC offset (local indices stay in the order of `clients`).
        let mut by_offset: Vec<(f64, ShardClient, f64)> = clients
            .iter()
            .zip(&weights)
            .zip(0u32..)
            .filter_map(|((&i, &w), local)| {
                let c = population.clients.get(i as usize)?;
                let g = population.groups.get(c.group as usize)?;
                Some((
                    g.utc_offset_h,
                    ShardClient {
                        client: i,
                        local,
                        group: c.group,
                        bot_score: c.bot_score,
                        threat_score: c.threat_score,
                        verified: c.verified,
                    },
                    w,
                ))
            })
            .collect();
        by_offset.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.local.cmp(&b.1.local)));
        let zones = by_offset
            .chunk_by(|a, b| a.0.total_cmp(&b.0).is_eq())
            .filter_map(|run| {
                let items: Vec<(ShardClient, f64)> = run.iter().map(|&(_, c, w)| (c, w)).collect();
                Some(Zone {
                    offset_h: run.first()?.0,
                    weight: items.iter().map(|(_, w)| w).sum(),
                    clients: WeightedTable::new(&items)?,
                })
            })
            .collect();
        ShardTraffic {
            attack_base,
            zones,
            normal_clients: clients.len(),
            hour_zones: None,
            weight,
            attack_clients,
            attack_total,
            rng: SimRng::stream(seed, "traffic", u64::from(shard)),
        }
    }

    /// How many clients (normal and attack) this shard has: the bound of [`Arrival::local`].
    #[must_use]
    pub fn local_clients(&self) -> usize {
        self.normal_clients + self.attack_clients.iter().map(Vec::len).sum::<usize>()
    }

    /// Appends this shard's arrivals in `[from, to)` microseconds to `out`, in time order.
    pub fn generate(
        &mut self,
        model: &TrafficModel,
        population: &Population,
        from: u64,
        to: u64,
        out: &mut Vec<Arrival>,
    ) {
        let start_len = out.len();
        self.generate_normal(model, population, from, to, out);
        let normal_end = out.len();
        self.generate_attacks(model, population, from, to, out);
        if out.len() > normal_end && normal_end > start_len {
            // Two or more sorted runs: the stable sort merges runs in linear time.
            if let Some(slice) = out.get_mut(start_len..) {
                slice.sort_by_key(|a| a.t_us);
            }
        }
    }

    /// Each zone's largest daily-shape factor during UTC hour `hour` (hours since virtual time
    /// zero) and the hour's zone table, built once per hour. The shape is piecewise linear
    /// between hour midpoints, so the maximum over an hour is at its ends or its one midpoint.
    fn refresh_hour_zones(&mut self, model: &TrafficModel, hour: u64) {
        if self.hour_zones.as_ref().is_none_or(|h| h.hour != hour) {
            let start = model.start_utc_h + hour as f64;
            let bounds: Vec<f64> = self
                .zones
                .iter()
                .map(|z| model.shape.bound_within_hour(start + z.offset_h))
                .collect();
            let weighted: Vec<(u32, f64)> = (0u32..)
                .zip(self.zones.iter().zip(&bounds))
                .map(|(i, (z, b))| (i, z.weight * b))
                .collect();
            self.hour_zones = Some(HourZones {
                hour,
                rate_weight: weighted.iter().map(|(_, w)| w).sum(),
                pick: WeightedTable::new(&weighted),
                bounds,
            });
        }
    }

    /// Normal traffic in `[from, to)`: a Poisson process per client at the model's rate times
    /// the client's weight, its local daily shape and the surges. Drawn hour piece by hour
    /// piece as candidates at each zone's bound for the hour (a zone picked by weight times
    /// bound), thinned by the zone's shape at the candidate's instant, then by the surges; only
    /// a candidate the shape keeps draws a client.
    fn generate_normal(
        &mut self,
        model: &TrafficModel,
        population: &Population,
        from: u64,
        to: u64,
        out: &mut Vec<Arrival>,
    ) {
        let Some(class_alias) = &model.class_alias else {
            return;
        };
        if self.zones.is_empty() {
            return;
        }
        let surge_bound = model.surge_bound(from, to);
        let has_surges = !model.surges.is_empty();
        // A class-specific surge changes the mix, so the class must be known before the surge
        // thinning; otherwise it is drawn only for kept candidates.
        let class_first = model.surges.iter().any(Surge::by_class);
        const HOUR_US: u64 = 3_600_000_000;
        let mut piece = from;
        while piece < to {
            let hour = piece / HOUR_US;
            let piece_end = to.min(hour.saturating_add(1).saturating_mul(HOUR_US));
            let start = piece;
            piece = piece_end;
            self.refresh_hour_zones(model, hour);
            let ShardTraffic {
                zones,
                hour_zones: Some(hz),
                rng,
                ..
            } = self
            else {
                continue;
            };
            let Some(pick) = &hz.pick else {
                continue;
            };
            let rate = model.rate * hz.rate_weight * surge_bound; // candidates per second
            if rate.is_nan() || rate <= 0.0 {
                continue;
            }
            let mean_gap_us = 1e6 / rate;
            let mut t = start as f64;
            let end = piece_end as f64;
            loop {
                t += exponential(rng, mean_gap_us);
                if t >= end {
                    break;
                }
                let t_us = t as u64;
                let Some(z) = pick.sample(rng) else {
                    continue;
                };
                let (Some(zone), Some(&bound)) = (zones.get(z as usize), hz.bounds.get(z as usize))
                else {
                    continue;
                };
                let keep = model.shape.factor(model.utc_hour(t_us) + zone.offset_h);
                if rng.next_f64() * bound >= keep {
                    continue;
                }
                let Some(client) = zone.clients.sample(rng) else {
                    continue;
                };
                let mut class = if class_first {
                    class_alias.sample(rng)
                } else {
                    0
                };
                if has_surges {
                    let k16 = u16::try_from(class).unwrap_or(0);
                    let country = population
                        .groups
                        .get(client.group as usize)
                        .map_or("", |g| g.country);
                    let f = model.surge_factor(t_us, country, k16, class_first);
                    if rng.next_f64() * surge_bound >= f {
                        continue;
                    }
                }
                if !class_first {
                    class = class_alias.sample(rng);
                }
                let rank = model.classes.get(class).map_or(1, |k| k.zipf.sample(rng));
                out.push(Arrival {
                    t_us,
                    client: client.client,
                    local: client.local,
                    group: client.group,
                    bot_score: client.bot_score,
                    threat_score: client.threat_score,
                    verified: client.verified,
                    class: u16::try_from(class).unwrap_or(0),
                    source: Source::Normal,
                    rank,
                });
            }
        }
    }

    fn generate_attacks(
        &mut self,
        model: &TrafficModel,
        population: &Population,
        from: u64,
        to: u64,
        out: &mut Vec<Arrival>,
    ) {
        for (k, a) in model.attacks.iter().enumerate() {
            let lo = from.max(a.start_us);
            let hi = to.min(a.end_us);
            if lo >= hi {
                continue;
            }
            let Some(mine) = self.attack_clients.get(k) else {
                continue;
            };
            let total = self.attack_total.get(k).copied().unwrap_or(0);
            if mine.is_empty() || total == 0 {
                continue;
            }
            let rate = a.rate * mine.len() as f64 / f64::from(total);
            let mean_gap_us = 1e6 / rate;
            let mut t = lo as f64;
            loop {
                t += exponential(&mut self.rng, mean_gap_us);
                if t >= hi as f64 {
                    break;
                }
                let t_us = t as u64;
                let i = self.rng.below(mine.len() as u64);
                let Some(&client) = usize::try_from(i).ok().and_then(|i| mine.get(i)) else {
                    continue;
                };
                let base = self.attack_base.get(k).copied().unwrap_or(0);
                let Some(c) = population.clients.get(client as usize) else {
                    continue;
                };
                out.push(Arrival {
                    t_us,
                    client,
                    local: base.saturating_add(u32::try_from(i).unwrap_or(0)),
                    group: c.group,
                    bot_score: c.bot_score,
                    threat_score: c.threat_score,
                    verified: c.verified,
                    class: 0,
                    source: Source::Attack(a.event),
                    rank: 1,
                });
            }
        }
    }
}

/// The continent key used in reports (`NA`, `EU`, ...).
#[must_use]
pub fn continent_key(c: Continent) -> &'static str {
    c.as_str()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::model::{BotConfig, PopulationConfig, SizeConfig};
    use crate::scenario::units::ByteSize;

    fn class(name: &str, share: f64) -> ClassModel {
        ClassModel::new(&ClassConfig {
            name: name.into(),
            share,
            host: "api.example.com".into(),
            path: "/x/{object}".into(),
            method: "GET".into(),
            objects: 1000,
            zipf: 0.9,
            size: SizeConfig {
                median: ByteSize(1000),
                p99: Some(ByteSize(100_000)),
            },
            compute: None,
            headers: Default::default(),
            regional_cache: None,
            database_queries: 0,
            database_keys: None,
            session: None,
        })
    }

    #[test]
    fn object_sizes_are_fixed_per_key() {
        let c = class("a", 1.0);
        let k = c.object_key(5, 0);
        assert_eq!(c.object_size(k), c.object_size(k));
        assert_ne!(c.object_key(5, 0), class("b", 1.0).object_key(5, 0));
        // Without `{client}` in the path, every client asks for the same object.
        assert_eq!(c.object_key(5, 1), c.object_key(5, 2));
        assert_eq!(c.size_of(5, k), c.object_size(k));
    }

    /// 5,000 clients placed by the default population over every data centre.
    fn population() -> Population {
        let colos: Vec<_> = edgeroute_geo::colos().iter().collect();
        Population::build(
            &PopulationConfig::default(),
            &BotConfig::default(),
            5000,
            colos,
            3,
        )
    }

    /// One generator for every client of `pop`, driven over a day in `step`-long calls.
    fn one_day(pop: &Population, model: &TrafficModel, seed: u64, step: u64) -> Vec<Arrival> {
        let all: Vec<u32> = (0..pop.clients.len() as u32).collect();
        let mut shard = ShardTraffic::new(pop, all, vec![], &[], seed, 0);
        assert!(shard.zones.len() > 10, "{} zones", shard.zones.len());
        assert!((shard.weight - 1.0).abs() < 1e-9);
        let mut out = Vec::new();
        let day = 86_400_000_000u64;
        let mut t = 0;
        while t < day {
            shard.generate(model, pop, t, t + step, &mut out);
            t += step;
        }
        out
    }

    /// An index the population does not have weighs nothing and shifts no other client's
    /// weight: each zone weighs what it weighs without it.
    #[test]
    fn an_unknown_client_index_leaves_the_other_weights_in_place() {
        let pop = population();
        let all: Vec<u32> = (0..pop.clients.len() as u32).collect();
        let mut with_unknown = vec![u32::MAX];
        with_unknown.extend(&all);
        let plain = ShardTraffic::new(&pop, all, vec![], &[], 1, 0);
        let odd = ShardTraffic::new(&pop, with_unknown, vec![], &[], 1, 0);
        assert_eq!(odd.local_clients(), plain.local_clients() + 1);
        assert_eq!(plain.zones.len(), odd.zones.len());
        for (a, b) in plain.zones.iter().zip(&odd.zones) {
            assert_eq!(a.offset_h, b.offset_h);
            assert!(
                (a.weight - b.weight).abs() < 1e-12,
                "{} vs {}",
                a.weight,
                b.weight
            );
        }
        assert!((plain.weight - odd.weight).abs() < 1e-12);
    }

    #[test]
    fn rate_matches_over_a_day() {
        let pop = population();
        let model = TrafficModel::new(
            vec![class("a", 0.5), class("b", 0.5)],
            DailyShape::default(),
            20.0,
            0.0,
            &[],
        );
        let out = one_day(&pop, &model, 1, 3_600_000_000);
        let n = out.len() as f64;
        let expect = 20.0 * 86_400.0;
        assert!((n / expect - 1.0).abs() < 0.02, "{n} vs {expect}");
        assert!(out.windows(2).all(|w| w[0].t_us <= w[1].t_us));
    }

    /// Thinning per zone follows each client's own local time: over a day, arrivals by the
    /// client's local hour follow the daily shape, whatever the zones' weights.
    #[test]
    fn arrivals_follow_the_shape_in_local_time() {
        let pop = population();
        let shape = DailyShape::default();
        let model = TrafficModel::new(vec![class("a", 1.0)], shape.clone(), 5.0, 0.0, &[]);
        let out = one_day(&pop, &model, 7, 900_000_000);
        let mut by_local = [0f64; 24];
        for a in &out {
            let offset = pop.groups[a.group as usize].utc_offset_h;
            let local = (model.utc_hour(a.t_us) + offset).rem_euclid(24.0);
            by_local[(local as usize).min(23)] += 1.0;
        }
        let n = out.len() as f64;
        for (h, count) in by_local.iter().enumerate() {
            // The shape's mean over local hour h, on a fine grid.
            let mean = (0..60)
                .map(|m| shape.factor(h as f64 + (f64::from(m) + 0.5) / 60.0))
                .sum::<f64>()
                / 60.0;
            let expect = n * mean / 24.0;
            assert!(
                (count / expect - 1.0).abs() < 0.05,
                "local hour {h}: {count} arrivals, expected {expect:.0}"
            );
        }
    }

    #[test]
    fn surge_ramps() {
        let e: EventConfig = toml::from_str(
            "kind = \"surge\"\nstart = 100\nend = 200\nmultiplier = 3.0\nramp = 10\n",
        )
        .unwrap();
        let s = Surge::from_event(&e, &[]).unwrap();
        assert_eq!(s.factor(50_000_000, "US", 0), 1.0);
        assert!((s.factor(105_000_000, "US", 0) - 2.0).abs() < 1e-9);
        assert!((s.factor(150_000_000, "US", 0) - 3.0).abs() < 1e-9);
        assert_eq!(s.factor(200_000_000, "US", 0), 1.0);
        assert_eq!(s.bound(0, 99_000_000), 1.0);
        assert_eq!(s.bound(0, 101_000_000), 3.0);
    }
}
