//! Where clients are: groups (a country, or a subdivision of one) weighted by population, each
//! served by its nearest data centre, and the clients placed in them.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use edgeroute_geo::{Continent, LatLon};

use crate::rng::mix64;
use crate::scenario::model::{BotConfig, PopulationConfig};

/// A place clients live in: a country, or one of its subdivisions.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    /// ISO 3166-1 alpha-2 country code.
    pub country: &'static str,
    /// ISO 3166-2 subdivision code (`US-CA`), when placed in one.
    pub subdivision: Option<&'static str>,
    /// The country's continent.
    pub continent: Continent,
    /// The population-weighted point.
    pub point: LatLon,
    /// Share of all (normal) traffic, before the daily shape; sums to 1 over groups.
    pub weight: f64,
    /// Offset of local time from UTC in hours (longitude / 15).
    pub utc_offset_h: f64,
    /// Index of the data centre serving it, in [`Population::colos`].
    pub colo: u32,
}

/// A client address.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Client {
    /// Its group.
    pub group: u32,
    /// Its IPv4 address.
    pub ip: Ipv4Addr,
    /// A bot?
    pub bot: bool,
    /// A verified bot (`cf.bot_management.verified_bot`)?
    pub verified: bool,
    /// `cf.bot_management.score` (1 = bot, 99 = person).
    pub bot_score: u8,
    /// `cf.threat_score` (0 = clean, 100 = malicious).
    pub threat_score: u8,
    /// Relative number of requests it sends.
    pub activity: f32,
}

/// Groups, clients and the data centres serving them.
#[derive(Debug, Clone)]
pub struct Population {
    /// Data centres in use (IATA codes and points).
    pub colos: Vec<&'static edgeroute_geo::Colo>,
    /// Groups, in a fixed order (countries by code, then subdivisions by code).
    pub groups: Vec<Group>,
    /// Clients, by group.
    pub clients: Vec<Client>,
}

/// Where client addresses are drawn from (11.0.0.0/8 for normal clients; documentation only,
/// never routed anywhere).
pub const CLIENT_BASE: u32 = 0x0B00_0000;

fn pick_range(h: u64, r: [i64; 2]) -> u8 {
    let [lo, hi] = r;
    let width = u64::try_from(hi - lo + 1).unwrap_or(1).max(1);
    let v = lo + i64::try_from(h % width).unwrap_or(0);
    u8::try_from(v.clamp(0, 255)).unwrap_or(0)
}

impl Population {
    /// Builds groups by population and places `clients` clients in them (largest remainder:
    /// every group gets its share rounded, and groups too small for one client get none).
    /// `colos` are the data centres in use (default every built-in one).
    #[must_use]
    pub fn build(
        pop: &PopulationConfig,
        bots: &BotConfig,
        clients: u64,
        colos: Vec<&'static edgeroute_geo::Colo>,
        seed: u64,
    ) -> Population {
        let mut raw: Vec<Group> = Vec::new();
        for c in edgeroute_geo::countries() {
            if let Some(only) = &pop.only
                && !only.iter().any(|o| o == c.iso2)
            {
                continue;
            }
            if pop.exclude.iter().any(|e| e == c.iso2) {
                continue;
            }
            let boost = pop.boost.get(c.iso2).copied().unwrap_or(1.0);
            let weight = c.population as f64 * boost;
            if weight <= 0.0 {
                continue;
            }
            let mut placed = 0.0;
            if pop.subdivisions {
                for s in edgeroute_geo::subdivisions_of(c.iso2) {
                    let Some(share) = s.population_share else {
                        continue;
                    };
                    if share <= 0.0 {
                        continue;
                    }
                    placed += share;
                    let point = s.population_point.unwrap_or(s.point);
                    raw.push(Group {
                        country: c.iso2,
                        subdivision: Some(s.code),
                        continent: c.continent,
                        point,
                        weight: weight * share,
                        utc_offset_h: point.lon / 15.0,
                        colo: 0,
                    });
                }
            }
            let rest = (1.0 - placed).max(0.0);
            if rest > 1e-9 {
                raw.push(Group {
                    country: c.iso2,
                    subdivision: None,
                    continent: c.continent,
                    point: c.population_point,
                    weight: weight * rest,
                    utc_offset_h: c.population_point.lon / 15.0,
                    colo: 0,
                });
            }
        }
        let total: f64 = raw.iter().map(|g| g.weight).sum();
        // Largest remainder allocation of clients to groups.
        let n = clients.max(1) as f64;
        let mut alloc: Vec<(usize, u64, f64)> = raw
            .iter()
            .enumerate()
            .map(|(i, g)| {
                let exact = if total > 0.0 {
                    g.weight / total * n
                } else {
                    0.0
                };
                let floor = exact.floor() as u64;
                (i, floor, exact - floor as f64)
            })
            .collect();
        let given: u64 = alloc.iter().map(|a| a.1).sum();
        let mut left = clients.max(1).saturating_sub(given);
        let mut order: Vec<usize> = (0..alloc.len()).collect();
        order.sort_by(|&a, &b| {
            let (ra, rb) = (
                alloc.get(a).map_or(0.0, |x| x.2),
                alloc.get(b).map_or(0.0, |x| x.2),
            );
            rb.total_cmp(&ra).then(a.cmp(&b))
        });
        for i in order {
            if left == 0 {
                break;
            }
            if let Some(a) = alloc.get_mut(i) {
                a.1 += 1;
                left -= 1;
            }
        }
        // Keep groups with clients; their weights are renormalised to sum to 1.
        let mut groups = Vec::new();
        let mut counts = Vec::new();
        for (i, count, _) in alloc {
            if count == 0 {
                continue;
            }
            if let Some(g) = raw.get(i) {
                groups.push(g.clone());
                counts.push(count);
            }
        }
        let kept: f64 = groups.iter().map(|g| g.weight).sum();
        for g in &mut groups {
            g.weight /= kept.max(f64::MIN_POSITIVE);
        }
        let mut population = Population {
            colos,
            groups,
            clients: Vec::new(),
        };
        population.assign_colos();
        let mut next_ip = CLIENT_BASE;
        for (gi, count) in counts.iter().enumerate() {
            let group = u32::try_from(gi).unwrap_or(u32::MAX);
            for _ in 0..*count {
                let h = mix64(seed ^ u64::from(next_ip));
                let bot = ((h >> 11) as f64 / (1u64 << 53) as f64) < bots.share;
                let h2 = mix64(h);
                let verified =
                    bot && ((h2 >> 11) as f64 / (1u64 << 53) as f64) < bots.verified_share;
                let h3 = mix64(h2);
                let (score_range, threat_range) = if bot {
                    (bots.bot_score, bots.threat_score)
                } else {
                    (bots.human_bot_score, bots.human_threat_score)
                };
                population.clients.push(Client {
                    group,
                    ip: Ipv4Addr::from(next_ip),
                    bot,
                    verified,
                    bot_score: pick_range(h3, score_range),
                    threat_score: pick_range(h3 >> 32, threat_range),
                    activity: if bot { bots.activity as f32 } else { 1.0 },
                });
                next_ip = next_ip.wrapping_add(1);
            }
        }
        population
    }

    /// Points every group at its nearest data centre in use.
    fn assign_colos(&mut self) {
        for g in &mut self.groups {
            g.colo = nearest_index(&self.colos, g.point);
        }
    }

    /// The country-level group for `iso2`, adding one with zero weight if needed (for attack
    /// sources outside the normal population). `None` for an unknown country.
    pub fn country_group(&mut self, iso2: &str) -> Option<u32> {
        if let Some(i) = self
            .groups
            .iter()
            .position(|g| g.country == iso2 && g.subdivision.is_none())
        {
            return u32::try_from(i).ok();
        }
        let c = edgeroute_geo::country(iso2)?;
        let colo = nearest_index(&self.colos, c.population_point);
        self.groups.push(Group {
            country: c.iso2,
            subdivision: None,
            continent: c.continent,
            point: c.population_point,
            weight: 0.0,
            utc_offset_h: c.population_point.lon / 15.0,
            colo,
        });
        u32::try_from(self.groups.len() - 1).ok()
    }

    /// Assigns data centres to `shards` shards, balancing traffic weight greedily (heaviest
    /// data centre first to the lightest shard; ties by index). Returns the shard of each colo.
    #[must_use]
    pub fn shard_colos(&self, shards: u32) -> Vec<u32> {
        let shards = shards.max(1) as usize;
        let mut weight = vec![0.0f64; self.colos.len()];
        for g in &self.groups {
            if let Some(w) = weight.get_mut(g.colo as usize) {
                *w += g.weight;
            }
        }
        let mut order: Vec<usize> = (0..self.colos.len()).collect();
        order.sort_by(|&a, &b| {
            let (wa, wb) = (
                weight.get(a).copied().unwrap_or(0.0),
                weight.get(b).copied().unwrap_or(0.0),
            );
            wb.total_cmp(&wa).then(a.cmp(&b))
        });
        let mut load = vec![0.0f64; shards];
        let mut out = vec![0u32; self.colos.len()];
        for (k, colo) in order.into_iter().enumerate() {
            // Data centres without traffic are spread round-robin.
            let w = weight.get(colo).copied().unwrap_or(0.0);
            let target = if w > 0.0 {
                load.iter()
                    .enumerate()
                    .min_by(|a, b| a.1.total_cmp(b.1).then(a.0.cmp(&b.0)))
                    .map_or(0, |(i, _)| i)
            } else {
                k % shards
            };
            if let Some(l) = load.get_mut(target) {
                *l += w;
            }
            if let Some(o) = out.get_mut(colo) {
                *o = u32::try_from(target).unwrap_or(0);
            }
        }
        out
    }

    /// Share of the population whose point is within `ms` median RTT of its data centre, given
    /// a function computing that RTT.
    #[must_use]
    pub fn share_within(&self, ms: f64, rtt: impl Fn(&Group) -> f64) -> f64 {
        let mut within = 0.0;
        let mut total = 0.0;
        for g in &self.groups {
            total += g.weight;
            if rtt(g) <= ms {
                within += g.weight;
            }
        }
        if total > 0.0 { within / total } else { 0.0 }
    }

    /// Groups per country code, for lookups by trace rows.
    #[must_use]
    pub fn groups_by_country(&self) -> BTreeMap<&'static str, Vec<u32>> {
        let mut map: BTreeMap<&'static str, Vec<u32>> = BTreeMap::new();
        for (i, g) in self.groups.iter().enumerate() {
            map.entry(g.country)
                .or_default()
                .push(u32::try_from(i).unwrap_or(0));
        }
        map
    }
}

/// The index of the nearest point in `colos` (0 when empty).
#[must_use]
pub fn nearest_index(colos: &[&'static edgeroute_geo::Colo], p: LatLon) -> u32 {
    let mut best = (f64::INFINITY, 0usize);
    for (i, c) in colos.iter().enumerate() {
        let d = edgeroute_geo::great_circle_km(p, c.point);
        if d < best.0 {
            best = (d, i);
        }
    }
    u32::try_from(best.1).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_colos() -> Vec<&'static edgeroute_geo::Colo> {
        edgeroute_geo::colos().iter().collect()
    }

    #[test]
    fn clients_follow_population() {
        let p = Population::build(
            &PopulationConfig::default(),
            &BotConfig::default(),
            100_000,
            all_colos(),
            1,
        );
        assert_eq!(p.clients.len(), 100_000);
        let sum: f64 = p.groups.iter().map(|g| g.weight).sum();
        assert!((sum - 1.0).abs() < 1e-9);
        let in_country = |cc: &str| {
            p.clients
                .iter()
                .filter(|c| p.groups[c.group as usize].country == cc)
                .count()
        };
        let india = in_country("IN");
        assert!((15_000..20_000).contains(&india), "{india}");
        // US clients are spread over subdivisions.
        assert!(p.groups.iter().any(|g| g.subdivision == Some("US-CA")));
        let bots = p.clients.iter().filter(|c| c.bot).count();
        assert!((1_500..2_500).contains(&bots), "{bots}");
        assert!(
            p.clients
                .iter()
                .filter(|c| c.bot)
                .all(|c| c.bot_score <= 29)
        );
        assert!(
            p.clients
                .iter()
                .filter(|c| !c.bot)
                .all(|c| c.bot_score >= 30 && c.threat_score <= 10)
        );
    }

    #[test]
    fn only_restricts_and_shards_balance() {
        let cfg = PopulationConfig {
            only: Some(vec!["DE".into(), "FR".into()]),
            ..PopulationConfig::default()
        };
        let p = Population::build(&cfg, &BotConfig::default(), 1000, all_colos(), 1);
        assert!(
            p.groups
                .iter()
                .all(|g| g.country == "DE" || g.country == "FR")
        );
        let shards = p.shard_colos(4);
        assert_eq!(shards.len(), p.colos.len());
        assert!(shards.iter().all(|s| *s < 4));
        // Deterministic.
        assert_eq!(shards, p.shard_colos(4));
    }

    #[test]
    fn country_group_adds_once() {
        let cfg = PopulationConfig {
            only: Some(vec!["DE".into()]),
            ..PopulationConfig::default()
        };
        let mut p = Population::build(&cfg, &BotConfig::default(), 100, all_colos(), 1);
        let a = p.country_group("CN").unwrap();
        let b = p.country_group("CN").unwrap();
        assert_eq!(a, b);
        assert_eq!(p.groups[a as usize].weight, 0.0);
        assert!(p.country_group("XX").is_none());
    }
}
