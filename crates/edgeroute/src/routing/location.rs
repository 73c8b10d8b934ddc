//! The region map, precomputed per location: every ISO country and ISO 3166-2 subdivision
//! (about 5,300 places) gets its preferred region and a ranked list of alternatives (already
//! filtered by data residency), so routing does one table lookup and walks a short list.
//!
//! Lookup: a country code indexes a 26×26 table directly; a subdivision (country and a suffix
//! of at most 3 characters) packs into a 26-bit key found in an open-addressing hash table
//! (load factor at most 0.35: 1.2 probes on average).

use std::collections::BTreeMap;

use edgeroute_geo::{EARTH_RADIUS_KM, LatLon, Subdivision};
use serde::Serialize;

use super::config::FallbackMode;
use super::model::{GroupId, RegionId};

/// How a location's preferred region was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchSource {
    /// The subdivision (or a parent subdivision) is in the map.
    Subdivision,
    /// The country is in the map.
    Country,
    /// Unmapped: the policy's default region.
    Default,
    /// Unmapped: the nearest allowed region by great-circle distance.
    Nearest,
    /// The client's country is unknown: the default region.
    Unknown,
}

impl MatchSource {
    /// `"subdivision"`, `"country"`, `"default"`, `"nearest"` or `"unknown"`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            MatchSource::Subdivision => "subdivision",
            MatchSource::Country => "country",
            MatchSource::Default => "default",
            MatchSource::Nearest => "nearest",
            MatchSource::Unknown => "unknown",
        }
    }
}

/// A place routing knows: a country, a subdivision, or "unknown".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LocationId(pub(crate) u32);

#[derive(Debug, Clone, Copy)]
pub(crate) struct Location {
    pub(crate) ranked_start: u32,
    pub(crate) ranked_len: u32,
    pub(crate) group: Option<GroupId>,
    pub(crate) matched: MatchSource,
    /// The location's class: locations with the same ranked regions and residency group
    /// share one (routing chooses the same pool for them), numbered from 0.
    pub(crate) class: u32,
}

#[derive(Debug)]
pub(crate) struct Locations {
    /// 26×26 slots indexed by the two letters of a country code: the country's location.
    country_slots: Box<[u32]>,
    /// Subdivisions: `(key, location)` with `key` from [`subdivision_key`] (0: empty slot),
    /// open addressing with linear probing; the length is a power of two.
    subdivisions: Box<[(u32, u32)]>,
    /// `64 - log2(subdivisions.len())`, for the multiplicative hash.
    shift: u32,
    pub(crate) locations: Box<[Location]>,
    pub(crate) ranked: Box<[RegionId]>,
    unknown: u32,
    /// How many location classes there are.
    pub(crate) classes: u32,
}

const NO_LOCATION: u32 = u32::MAX;

/// The index of a country code in the 26×26 table (upper or lower case letters).
#[inline]
fn country_slot(code: [u8; 2]) -> Option<usize> {
    let [a, b] = code;
    let (a, b) = (a.to_ascii_uppercase(), b.to_ascii_uppercase());
    if a.is_ascii_uppercase() && b.is_ascii_uppercase() {
        Some(usize::from(a - b'A') * 26 + usize::from(b - b'A'))
    } else {
        None
    }
}

/// Packs a subdivision suffix (`CA`, `ENG`, `13`) into a number below 37³; accepts the full
/// code (`US-CA`) when its prefix is `country`. `None` for anything that is not 1 to 3 ASCII
/// letters or digits. Distinct suffixes give distinct numbers (base 37, 0 for "no character").
#[inline]
pub(crate) fn pack_suffix(country: [u8; 2], code: &[u8]) -> Option<u32> {
    let suffix = match code {
        [a, b, b'-', rest @ ..]
            if a.eq_ignore_ascii_case(&country[0]) && b.eq_ignore_ascii_case(&country[1]) =>
        {
            rest
        }
        _ => code,
    };
    let digit = |c: &u8| match SUFFIX_DIGITS.get(usize::from(*c)) {
        Some(&d) if d != 0 => Some(u32::from(d)),
        _ => None,
    };
    match suffix {
        [a] => digit(a),
        [a, b] => Some(digit(a)? * 37 + digit(b)?),
        [a, b, c] => Some((digit(a)? * 37 + digit(b)?) * 37 + digit(c)?),
        _ => None,
    }
}

/// The base-37 digit of each byte in a subdivision suffix: `0`-`9` are 1 to 10, letters of
/// either case 11 to 36, anything else 0 (not allowed).
#[allow(
    clippy::indexing_slicing,
    reason = "constant evaluation: c < 256 indexes a 256-entry table"
)]
const SUFFIX_DIGITS: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut c = 0u8;
    loop {
        table[c as usize] = match c {
            b'0'..=b'9' => c - b'0' + 1,
            b'A'..=b'Z' => c - b'A' + 11,
            b'a'..=b'z' => c - b'a' + 11,
            _ => 0,
        };
        if c == u8::MAX {
            break;
        }
        c += 1;
    }
    table
};

/// The hash-table key of a subdivision: country slot (< 676) and packed suffix (< 37³ < 2¹⁶);
/// never 0 (the suffix is not empty).
#[inline]
fn subdivision_key(slot: usize, packed: u32) -> u32 {
    // slot < 676 fits in the upper 16 bits.
    (u32::try_from(slot).unwrap_or(0) << 16) | packed
}

/// Fibonacci hashing: the top bits of the key times 2⁶⁴/φ.
#[inline]
fn probe_start(key: u32, shift: u32) -> usize {
    usize::try_from(u64::from(key).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> shift).unwrap_or(0)
}

impl Locations {
    /// The location of a client: its subdivision if known, else its country, else "unknown".
    #[inline]
    pub(crate) fn locate(
        &self,
        country: Option<[u8; 2]>,
        subdivision: Option<&[u8]>,
    ) -> LocationId {
        let unknown = LocationId(self.unknown);
        let Some(code) = country else {
            return unknown;
        };
        let Some(slot) = country_slot(code) else {
            return unknown;
        };
        let location = match self.country_slots.get(slot) {
            Some(&l) if l != NO_LOCATION => l,
            _ => return unknown,
        };
        if let Some(packed) = subdivision.and_then(|s| pack_suffix(code, s)) {
            let key = subdivision_key(slot, packed);
            let mask = self.subdivisions.len().wrapping_sub(1);
            let mut i = probe_start(key, self.shift);
            // INVARIANT: the table has empty slots (load factor <= 0.35), so probing ends.
            while let Some(&(k, l)) = self.subdivisions.get(i) {
                if k == key {
                    return LocationId(l);
                }
                if k == 0 {
                    break;
                }
                i = (i + 1) & mask;
            }
        }
        LocationId(location)
    }

    #[inline]
    pub(crate) fn get(&self, id: LocationId) -> Option<&Location> {
        self.locations.get(id.0 as usize)
    }

    #[inline]
    pub(crate) fn ranked(&self, location: &Location) -> &[RegionId] {
        let start = location.ranked_start as usize;
        self.ranked
            .get(start..start.saturating_add(location.ranked_len as usize))
            .unwrap_or_default()
    }
}

/// What the builder needs to know about regions and the map, already validated.
pub(crate) struct MapInput<'a> {
    /// Region points, by region id.
    pub(crate) region_points: &'a [LatLon],
    pub(crate) default_region: RegionId,
    pub(crate) fallback: FallbackMode,
    /// Country code -> region.
    pub(crate) countries: &'a BTreeMap<String, RegionId>,
    /// Subdivision code -> region.
    pub(crate) subdivisions: &'a BTreeMap<String, RegionId>,
    /// Country code -> residency group and its allowed regions.
    pub(crate) groups: &'a BTreeMap<String, (GroupId, u64)>,
}

/// A point prepared for [`Prepared::distance_km`]: latitude in radians, its cosine and the
/// longitude in degrees.
#[derive(Debug, Clone, Copy)]
struct Prepared {
    phi: f64,
    cos_phi: f64,
    lon: f64,
}

impl Prepared {
    fn new(p: LatLon) -> Self {
        let phi = p.lat.to_radians();
        Self {
            phi,
            cos_phi: phi.cos(),
            lon: p.lon,
        }
    }

    /// [`edgeroute_geo::great_circle_km`]`(self, to)`, operation for operation (so the same
    /// bits), with the latitudes' radians and cosines computed once per point instead of once
    /// per pair.
    fn distance_km(self, to: Prepared) -> f64 {
        let half_dphi = (to.phi - self.phi) / 2.0;
        let half_dlambda = (to.lon - self.lon).to_radians() / 2.0;
        let h = half_dphi.sin().powi(2) + self.cos_phi * to.cos_phi * half_dlambda.sin().powi(2);
        2.0 * EARTH_RADIUS_KM * h.clamp(0.0, 1.0).sqrt().asin()
    }
}

struct Builder<'a> {
    input: &'a MapInput<'a>,
    all: u64,
    /// The regions' points, prepared.
    regions: Vec<Prepared>,
    locations: Vec<Location>,
    ranked: Vec<RegionId>,
    lists: BTreeMap<Vec<RegionId>, u32>,
    /// Scratch buffers reused by every [`Builder::push`].
    by_distance: Vec<(f64, RegionId)>,
    list: Vec<RegionId>,
    classes: BTreeMap<(u32, u32, Option<GroupId>), u32>,
}

impl Builder<'_> {
    /// Adds a location preferring `preferred` (if allowed) ranked from `point`.
    fn push(
        &mut self,
        point: LatLon,
        mapped: Option<(RegionId, MatchSource)>,
        group: Option<(GroupId, u64)>,
        unknown: bool,
    ) -> u32 {
        let allowed = group.map_or(self.all, |(_, mask)| mask);
        let is_allowed = |r: RegionId| allowed & (1u64 << (r.0 & 63)) != 0;
        let from = Prepared::new(point);
        let mut by_distance = std::mem::take(&mut self.by_distance);
        by_distance.clear();
        by_distance.extend(
            self.regions
                .iter()
                .zip(0u8..)
                .map(|(p, i)| (from.distance_km(*p), RegionId(i)))
                .filter(|(_, r)| is_allowed(*r)),
        );
        by_distance.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let nearest = by_distance.first().map(|(_, r)| *r);
        let default = self.input.default_region;
        let (preferred, matched) = match mapped {
            Some((r, source)) if is_allowed(r) => (Some(r), source),
            _ if unknown => (Some(default), MatchSource::Unknown),
            _ if self.input.fallback == FallbackMode::Default && is_allowed(default) => {
                (Some(default), MatchSource::Default)
            }
            _ => (nearest, MatchSource::Nearest),
        };
        let mut list = std::mem::take(&mut self.list);
        list.clear();
        list.extend(preferred);
        if self.input.fallback == FallbackMode::Default
            && is_allowed(default)
            && !list.contains(&default)
        {
            list.push(default);
        }
        for &(_, r) in &by_distance {
            if !list.contains(&r) {
                list.push(r);
            }
        }
        let len = u32::try_from(list.len()).unwrap_or(0);
        let start = match self.lists.get(&list) {
            Some(&start) => start,
            None => {
                let start = u32::try_from(self.ranked.len()).unwrap_or(0);
                self.ranked.extend_from_slice(&list);
                self.lists.insert(list.clone(), start);
                start
            }
        };
        self.by_distance = by_distance;
        self.list = list;
        let id = u32::try_from(self.locations.len()).unwrap_or(u32::MAX);
        let group = group.map(|(g, _)| g);
        let next = u32::try_from(self.classes.len()).unwrap_or(u32::MAX);
        let class = *self.classes.entry((start, len, group)).or_insert(next);
        self.locations.push(Location {
            ranked_start: start,
            ranked_len: len,
            group,
            matched,
            class,
        });
        id
    }
}

/// Builds the location table for every country and subdivision edgeroute-geo knows.
pub(crate) fn build(input: &MapInput<'_>) -> Locations {
    let region_count = input.region_points.len().min(64);
    let all = if region_count == 64 {
        u64::MAX
    } else {
        (1u64 << region_count) - 1
    };
    let mut b = Builder {
        input,
        all,
        regions: input
            .region_points
            .iter()
            .map(|&p| Prepared::new(p))
            .collect(),
        locations: Vec::new(),
        ranked: Vec::new(),
        lists: BTreeMap::new(),
        by_distance: Vec::new(),
        list: Vec::new(),
        classes: BTreeMap::new(),
    };
    let default_point = input
        .region_points
        .get(input.default_region.index())
        .copied()
        .unwrap_or_default();
    let unknown = b.push(default_point, None, None, true);

    let mut country_slots = vec![NO_LOCATION; 26 * 26].into_boxed_slice();
    let mut keyed: Vec<(u32, u32)> = Vec::new();
    for country in edgeroute_geo::countries() {
        let Ok(code) = <[u8; 2]>::try_from(country.iso2.as_bytes()) else {
            continue;
        };
        let Some(slot) = country_slot(code) else {
            continue;
        };
        let group = input.groups.get(country.iso2).copied();
        let country_map = input
            .countries
            .get(country.iso2)
            .map(|&r| (r, MatchSource::Country));
        let location = b.push(country.population_point, country_map, group, false);
        if let Some(dst) = country_slots.get_mut(slot) {
            *dst = location;
        }
        for sub in edgeroute_geo::subdivisions_of(country.iso2) {
            let Some(packed) = pack_suffix(code, sub.code.as_bytes()) else {
                continue;
            };
            let mapped = subdivision_region(input, sub)
                .map(|r| (r, MatchSource::Subdivision))
                .or(country_map);
            let loc = b.push(sub.routing_point(), mapped, group, false);
            keyed.push((subdivision_key(slot, packed), loc));
        }
    }
    // A power of two at least 1/0.35 times the entries: for the 5,046 ISO subdivisions,
    // 16,384 slots (128 KiB), 1.2 probes on average and at most 7.
    let size = (keyed.len() * 100 / 35 + 1).next_power_of_two().max(16);
    let shift = 64 - size.trailing_zeros();
    let mut subdivisions = vec![(0u32, 0u32); size].into_boxed_slice();
    let mask = size - 1;
    for (key, loc) in keyed {
        let mut i = probe_start(key, shift);
        loop {
            match subdivisions.get_mut(i) {
                Some(slot) if slot.0 == 0 || slot.0 == key => {
                    *slot = (key, loc);
                    break;
                }
                Some(_) => i = (i + 1) & mask,
                None => break,
            }
        }
    }
    Locations {
        country_slots,
        subdivisions,
        shift,
        locations: b.locations.into_boxed_slice(),
        ranked: b.ranked.into_boxed_slice(),
        unknown,
        classes: u32::try_from(b.classes.len()).unwrap_or(u32::MAX),
    }
}

/// The mapped region of a subdivision, or of its nearest mapped parent.
fn subdivision_region(input: &MapInput<'_>, sub: &Subdivision) -> Option<RegionId> {
    if let Some(&r) = input.subdivisions.get(sub.code) {
        return Some(r);
    }
    let mut code = sub.parent?;
    // Parent chains are short (at most 2 levels in ISO 3166-2); the bound guards a cycle.
    for _ in 1..8 {
        if let Some(&r) = input.subdivisions.get(code) {
            return Some(r);
        }
        code = edgeroute_geo::subdivision(code)?.parent?;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffixes_pack_from_short_and_full_codes() {
        let us = *b"US";
        assert_eq!(pack_suffix(us, b"CA"), pack_suffix(us, b"US-CA"));
        assert_eq!(pack_suffix(us, b"ca"), pack_suffix(us, b"us-CA"));
        assert_ne!(pack_suffix(us, b"CA"), pack_suffix(us, b"C"));
        assert_ne!(pack_suffix(us, b"1"), pack_suffix(us, b"01"));
        assert!(pack_suffix(us, b"ZZZ").unwrap() < 37 * 37 * 37);
        assert_eq!(pack_suffix(us, b""), None);
        assert_eq!(pack_suffix(us, b"ABCD"), None);
        assert_eq!(pack_suffix(us, b"C A"), None);
        // A full code of another country is not this country's suffix.
        assert_eq!(pack_suffix(us, b"GB-ENG"), None);
        assert!(pack_suffix(*b"GB", b"GB-ENG").is_some());
    }

    #[test]
    fn the_suffix_table_packs_like_the_rule() {
        let rule = |c: u8| match c {
            b'0'..=b'9' => Some(u32::from(c - b'0' + 1)),
            b'A'..=b'Z' => Some(u32::from(c - b'A' + 11)),
            b'a'..=b'z' => Some(u32::from(c - b'a' + 11)),
            _ => None,
        };
        let us = *b"US";
        for a in 0..=255u8 {
            assert_eq!(pack_suffix(us, &[a]), rule(a));
            for b in [
                b'0', b'9', b'A', b'z', b'-', 0, 0xff, b'@', b'[', b'`', b'{', b'/', b':',
            ] {
                let two = rule(a).zip(rule(b)).map(|(x, y)| x * 37 + y);
                assert_eq!(pack_suffix(us, &[a, b]), two);
                assert_eq!(
                    pack_suffix(us, &[b, a]),
                    rule(b).zip(rule(a)).map(|(x, y)| x * 37 + y)
                );
                let three = two.zip(rule(b'Q')).map(|(x, y)| x * 37 + y);
                assert_eq!(pack_suffix(us, &[a, b, b'Q']), three);
            }
        }
    }

    #[test]
    fn prepared_distances_are_great_circle_distances_to_the_bit() {
        let mut points: Vec<LatLon> = edgeroute_geo::countries()
            .iter()
            .map(|c| c.population_point)
            .collect();
        points.extend(
            edgeroute_geo::subdivisions()
                .iter()
                .map(Subdivision::routing_point),
        );
        let mut regions: Vec<LatLon> = edgeroute_geo::aws_regions()
            .iter()
            .map(|r| r.point)
            .collect();
        regions.extend(points.iter().step_by(97).copied());
        for r in &regions {
            let to = Prepared::new(*r);
            for p in &points {
                let want = edgeroute_geo::great_circle_km(*p, *r);
                assert_eq!(Prepared::new(*p).distance_km(to).to_bits(), want.to_bits());
            }
        }
    }

    #[test]
    fn country_slots_cover_letters_only() {
        assert_eq!(country_slot(*b"AA"), Some(0));
        assert_eq!(country_slot(*b"zz"), Some(26 * 26 - 1));
        assert_eq!(country_slot(*b"A1"), None);
        assert_eq!(country_slot(*b"\xff\xff"), None);
    }
}
