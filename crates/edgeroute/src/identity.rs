//! Client identity: which peers are trusted proxies, and the real client address, country,
//! subdivision and trace id they vouch for.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

/// A set of trusted proxy networks (IPv4 and IPv6).
///
/// Built once from CIDRs; membership is a binary search over merged, sorted address ranges,
/// which answers the same question as a longest-prefix trie in `O(log n)` with two small arrays.
/// For IPv4 a table by first octet narrows the search to the one or two ranges that can hold
/// the address (every peer is checked, so this is on each decision's path).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    // INVARIANT: sorted by start, non-overlapping and non-adjacent (merged).
    v4: Vec<(u32, u32)>,
    v6: Vec<(u128, u128)>,
    // INVARIANT: empty, or 257 entries: entry `o` is the index of the first range of `v4` that
    // ends at or after `o.0.0.0`, entry 256 is `v4.len()`.
    v4_by_octet: Box<[u32]>,
}

impl TrustedProxies {
    /// An empty set: nobody is trusted.
    #[must_use]
    pub fn none() -> Self {
        TrustedProxies::default()
    }

    /// The complete published Cloudflare IPv4 and IPv6 ranges.
    #[must_use]
    pub fn cloudflare() -> Self {
        Self::from_nets(edgeroute_geo::cloudflare_ip_ranges().iter().copied())
    }

    /// A set built from networks (IPv4-mapped IPv6 networks count as IPv4).
    pub fn from_nets(nets: impl IntoIterator<Item = IpNet>) -> Self {
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        for net in nets {
            match net.trunc() {
                IpNet::V4(n) => v4.push((u32::from(n.network()), u32::from(n.broadcast()))),
                IpNet::V6(n) => {
                    let start = u128::from(n.network());
                    let end = u128::from(n.broadcast());
                    match (n.network().to_ipv4_mapped(), n.prefix_len()) {
                        (Some(a), p) if p >= 96 => {
                            let start4 = u32::from(a);
                            let end4 = u32::from(n.broadcast().to_ipv4_mapped().unwrap_or(a));
                            v4.push((start4, end4));
                        }
                        _ => v6.push((start, end)),
                    }
                }
            }
        }
        TrustedProxies::build(merge(v4), merge(v6))
    }

    fn build(v4: Vec<(u32, u32)>, v6: Vec<(u128, u128)>) -> Self {
        let v4_by_octet = if v4.is_empty() {
            Box::default()
        } else {
            (0u32..=256)
                .map(|o| {
                    let first = o.checked_shl(24).filter(|_| o < 256);
                    let at = first.map_or(v4.len(), |lo| v4.partition_point(|&(_, e)| e < lo));
                    u32::try_from(at).unwrap_or(u32::MAX)
                })
                .collect()
        };
        TrustedProxies {
            v4,
            v6,
            v4_by_octet,
        }
    }

    /// Adds more networks.
    #[must_use]
    pub fn union(self, other: &TrustedProxies) -> Self {
        let mut v4 = self.v4;
        v4.extend_from_slice(&other.v4);
        let mut v6 = self.v6;
        v6.extend_from_slice(&other.v6);
        TrustedProxies::build(merge(v4), merge(v6))
    }

    /// Whether `ip` (canonicalised: IPv4-mapped IPv6 is IPv4) is inside the set.
    #[must_use]
    pub fn contains(&self, ip: IpAddr) -> bool {
        match ip.to_canonical() {
            IpAddr::V4(a) => self.contains_v4(u32::from(a)),
            IpAddr::V6(a) => contains(&self.v6, u128::from(a)),
        }
    }

    fn contains_v4(&self, x: u32) -> bool {
        // The ranges that can hold `x` end at or after its octet's first address and start
        // before the next octet's: from the octet's entry to the next octet's, inclusive.
        let octet = (x >> 24) as usize;
        let (Some(&lo), Some(&hi)) = (self.v4_by_octet.get(octet), self.v4_by_octet.get(octet + 1))
        else {
            return false;
        };
        let end = (hi as usize).saturating_add(1).min(self.v4.len());
        self.v4
            .get(lo as usize..end)
            .is_some_and(|ranges| contains(ranges, x))
    }

    /// True when nothing is trusted.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }
}

fn merge<T: Copy + Ord + num_like::Succ>(mut ranges: Vec<(T, T)>) -> Vec<(T, T)> {
    ranges.sort_unstable();
    let mut out: Vec<(T, T)> = Vec::with_capacity(ranges.len());
    for (s, e) in ranges {
        if let Some(last) = out.last_mut()
            && s <= last.1.succ_saturating()
        {
            if e > last.1 {
                last.1 = e;
            }
            continue;
        }
        out.push((s, e));
    }
    out
}

fn contains<T: Copy + Ord>(ranges: &[(T, T)], x: T) -> bool {
    let i = ranges.partition_point(|&(s, _)| s <= x);
    i > 0 && ranges.get(i - 1).is_some_and(|&(_, e)| x <= e)
}

mod num_like {
    pub(super) trait Succ {
        fn succ_saturating(self) -> Self;
    }
    impl Succ for u32 {
        fn succ_saturating(self) -> Self {
            self.saturating_add(1)
        }
    }
    impl Succ for u128 {
        fn succ_saturating(self) -> Self {
            self.saturating_add(1)
        }
    }
}

/// An ISO 3166-1 alpha-2 country code (or Cloudflare's `XX` unknown / `T1` Tor), uppercase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CountryCode([u8; 2]);

impl CountryCode {
    /// Parses two ASCII letters or digits, case-insensitively (`de` -> `DE`).
    #[must_use]
    pub fn parse(bytes: &[u8]) -> Option<Self> {
        let bytes = trim_ascii(bytes);
        match bytes {
            [a, b] if a.is_ascii_alphabetic() && b.is_ascii_alphanumeric() => Some(CountryCode([
                a.to_ascii_uppercase(),
                b.to_ascii_uppercase(),
            ])),
            _ => None,
        }
    }

    /// The two bytes.
    #[must_use]
    pub const fn bytes(self) -> [u8; 2] {
        self.0
    }

    /// As bytes (two ASCII alphanumerics).
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// As text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        // INVARIANT: both bytes are ASCII alphanumerics, so this is always valid UTF-8.
        std::str::from_utf8(&self.0).unwrap_or("XX")
    }
}

impl std::fmt::Display for CountryCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The subdivision part of an ISO 3166-2 code (`CA` in `US-CA`): 1 to 3 ASCII alphanumerics,
/// uppercase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SubdivisionCode {
    bytes: [u8; 3],
    len: u8,
}

impl SubdivisionCode {
    /// Parses `CA`, `ENG`, `13`, or a full `US-CA` (the country prefix is dropped).
    #[must_use]
    pub fn parse(bytes: &[u8]) -> Option<Self> {
        // The usual header value is the bare code: one to three alphanumerics, no padding.
        let mut b = bytes;
        if b.len() > 3 || !b.iter().all(u8::is_ascii_alphanumeric) {
            b = trim_ascii(b);
            // Short input: a plain loop beats a vectorised search.
            if let Some(pos) = b.iter().position(|&c| c == b'-') {
                b = b.get(pos + 1..)?;
            }
            if b.len() > 3 || !b.iter().all(u8::is_ascii_alphanumeric) {
                return None;
            }
        }
        let len = u8::try_from(b.len()).ok().filter(|&n| n > 0)?;
        let mut out = [0u8; 3];
        for (o, c) in out.iter_mut().zip(b) {
            *o = c.to_ascii_uppercase();
        }
        Some(SubdivisionCode { bytes: out, len })
    }

    /// As bytes (1 to 3 ASCII alphanumerics).
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or(&[])
    }

    /// As text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        let b = self.bytes.get(..usize::from(self.len)).unwrap_or(&[]);
        // INVARIANT: ASCII alphanumerics only.
        std::str::from_utf8(b).unwrap_or("")
    }
}

impl std::fmt::Display for SubdivisionCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

fn trim_ascii(b: &[u8]) -> &[u8] {
    b.trim_ascii()
}

/// Parses an IP address from header bytes: surrounding whitespace, IPv6 in brackets and a
/// `:port` suffix on IPv4 are tolerated; IPv4-mapped IPv6 becomes IPv4.
#[must_use]
pub fn parse_ip(bytes: &[u8]) -> Option<IpAddr> {
    let b = trim_ascii(bytes);
    if b.is_empty() || b.len() > 64 {
        return None;
    }
    if let Some(v4) = parse_ipv4_fast(b) {
        return Some(IpAddr::V4(v4));
    }
    if let Some(v6) = parse_ipv6_fast(b) {
        return Some(IpAddr::V6(v6).to_canonical());
    }
    let s = std::str::from_utf8(b).ok()?;
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    if let Some(rest) = s.strip_prefix('[') {
        let end = rest.find(']')?;
        return rest
            .get(..end)?
            .parse::<Ipv6Addr>()
            .ok()
            .map(|a| IpAddr::V6(a).to_canonical());
    }
    let (host, port) = s.rsplit_once(':')?;
    if port.is_empty() || !port.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    host.parse::<Ipv4Addr>().ok().map(IpAddr::V4)
}

/// Dotted-quad IPv4 without leading zeros (as `Ipv4Addr::from_str` accepts), parsed from bytes
/// in one pass: each octet is one to three digits read without a loop.
fn parse_ipv4_fast(b: &[u8]) -> Option<Ipv4Addr> {
    let digit = |i: usize| b.get(i).map(|c| c.wrapping_sub(b'0')).filter(|d| *d <= 9);
    let mut addr = 0u32;
    let mut i = 0usize;
    for octet in 0..4 {
        let first = digit(i)?;
        let mut value = u32::from(first);
        i += 1;
        // A leading zero stands alone ("0" but not "01").
        if first != 0
            && let Some(d) = digit(i)
        {
            value = value * 10 + u32::from(d);
            i += 1;
            if let Some(d) = digit(i) {
                value = value * 10 + u32::from(d);
                i += 1;
            }
        }
        if value > 255 {
            return None;
        }
        addr = (addr << 8) | value;
        if octet < 3 {
            if b.get(i) != Some(&b'.') {
                return None;
            }
            i += 1;
        }
    }
    (i == b.len()).then(|| Ipv4Addr::from(addr))
}

/// IPv6 in hex groups (1 to 4 digits, at most one `::` standing for one or more zero groups),
/// parsed from bytes in one pass. `None` for anything else, including forms `Ipv6Addr::from_str`
/// accepts but this does not (an embedded IPv4 tail): the caller falls back to it. Whenever this
/// returns an address, `Ipv6Addr::from_str` returns the same one (a property test checks it).
fn parse_ipv6_fast(b: &[u8]) -> Option<Ipv6Addr> {
    // The groups read so far (since the start, or since the `::`), packed as they would sit
    // at the low end of the address, and how many there are.
    let mut acc = 0u128;
    let mut n = 0u32;
    // The groups before `::` and their count, once a `::` was seen.
    let mut head: Option<(u128, u32)> = None;
    let mut i = 0usize;
    if b.starts_with(b"::") {
        head = Some((0, 0));
        i = 2;
    }
    while i < b.len() {
        // One group of 1 to 4 hex digits.
        let mut value = 0u32;
        let mut digits = 0u32;
        while let Some(&c) = b.get(i) {
            let d = HEX_DIGIT.get(usize::from(c)).copied().unwrap_or(NOT_HEX);
            if d == NOT_HEX {
                break;
            }
            if digits == 4 {
                return None;
            }
            value = (value << 4) | u32::from(d);
            digits += 1;
            i += 1;
        }
        if digits == 0 {
            return None;
        }
        acc = (acc << 16) | u128::from(value);
        n += 1;
        if n + head.map_or(0, |(_, h)| h) > 8 {
            return None;
        }
        match (b.get(i), b.get(i + 1)) {
            (None, _) => break,
            (Some(b':'), Some(b':')) => {
                if head.is_some() {
                    return None;
                }
                head = Some((acc, n));
                acc = 0;
                n = 0;
                i += 2;
            }
            (Some(b':'), Some(_)) => i += 1,
            // A trailing single colon, a dot (IPv4 tail) or any other byte.
            _ => return None,
        }
    }
    match head {
        None if n == 8 => Some(Ipv6Addr::from(acc)),
        // `::` stands for at least one zero group: the head moves up past the zeros.
        Some((h, hn)) if hn + n <= 7 => {
            let high = h.checked_shl(16 * (8 - hn)).unwrap_or(0);
            Some(Ipv6Addr::from(high | acc))
        }
        _ => None,
    }
}

/// [`HEX_DIGIT`]'s entry for a byte that is not a hex digit.
const NOT_HEX: u8 = 0xff;

/// The value of each byte as a hex digit, or [`NOT_HEX`].
static HEX_DIGIT: [u8; 256] = {
    let mut table = [NOT_HEX; 256];
    let mut c = 0u8;
    loop {
        let value = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            b'A'..=b'F' => c - b'A' + 10,
            _ => NOT_HEX,
        };
        #[expect(
            clippy::indexing_slicing,
            reason = "a u8 always indexes a 256-entry table"
        )]
        {
            table[c as usize] = value;
        }
        if c == u8::MAX {
            break;
        }
        c += 1;
    }
    table
};

/// Finds the client in an `X-Forwarded-For` value: entries are read from the right, entries
/// inside `trusted` are skipped, at most `max_hops` entries are examined. Returns the first
/// untrusted valid entry; if the examined entries are all trusted, the leftmost examined one;
/// `None` when the first examined entry is not an IP address.
#[must_use]
pub fn client_from_forwarded_for(
    value: &[u8],
    trusted: &TrustedProxies,
    max_hops: u32,
) -> Option<IpAddr> {
    let mut rest = value;
    let mut last_trusted = None;
    for _ in 0..max_hops {
        let (entry, before) = match memchr::memrchr(b',', rest) {
            Some(pos) => (rest.get(pos + 1..)?, rest.get(..pos)),
            None => (rest, None),
        };
        let Some(ip) = parse_ip(entry) else {
            return last_trusted;
        };
        if !trusted.contains(ip) {
            return Some(ip);
        }
        last_trusted = Some(ip);
        match before {
            Some(b) => rest = b,
            None => break,
        }
    }
    last_trusted
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn fast_ipv6_agrees_with_std_on_examples() {
        for s in [
            "2001:db8::7",
            "::",
            "::1",
            "1::",
            "1:2:3:4:5:6:7:8",
            "1:2:3:4:5:6:7::",
            "::2:3:4:5:6:7:8",
            "1:2:3:4:5:6:7::8",
            "1:2:3:4:5:6:7:8:9",
            "1::2::3",
            ":1::",
            "1:::2",
            "12345::",
            "fe80::1:2",
            "FE80::ABCD",
            "::ffff:1.2.3.4",
            "1:2:",
            ":",
            "",
            "::1:",
            "0:0:0:0:0:0:0:0",
            "0000:0000::ffff",
            "g::",
        ] {
            let fast = parse_ipv6_fast(s.as_bytes());
            let std = s.parse::<Ipv6Addr>().ok();
            assert!(fast.is_none() || fast == std, "{s}: {fast:?} vs {std:?}");
            if !s.contains('.') {
                assert_eq!(fast, std, "{s}");
            }
        }
    }

    proptest! {
        /// The fast IPv4 parser agrees with std on dotted strings, octets and junk alike.
        #[test]
        fn fast_ipv4_is_std_ipv4(s in "[0-9.]{0,17}", octets in proptest::array::uniform4(0u8..=255)) {
            prop_assert_eq!(parse_ipv4_fast(s.as_bytes()), s.parse::<Ipv4Addr>().ok(), "{}", s);
            let a = Ipv4Addr::from(octets);
            prop_assert_eq!(parse_ipv4_fast(a.to_string().as_bytes()), Some(a));
        }

        /// Dotted forms with empty, long and zero-led parts, as std reads them.
        #[test]
        fn fast_ipv4_is_std_ipv4_on_dotted_forms(parts in proptest::collection::vec("[0-9]{0,4}", 3..=5)) {
            let s = parts.join(".");
            prop_assert_eq!(parse_ipv4_fast(s.as_bytes()), s.parse::<Ipv4Addr>().ok(), "{}", s);
        }

        /// Colon forms with empty (`::`), long and too many groups: without an IPv4 tail the
        /// fast parser answers exactly as std.
        #[test]
        fn fast_ipv6_is_std_ipv6_on_colon_forms(parts in proptest::collection::vec("[0-9a-fA-F]{0,5}", 1..=10)) {
            let s = parts.join(":");
            prop_assert_eq!(parse_ipv6_fast(s.as_bytes()), s.parse::<Ipv6Addr>().ok(), "{}", s);
        }

        /// The first-octet table answers exactly as a search over every range would, and
        /// as the networks themselves say: random networks (short prefixes span octets, long
        /// ones crowd into one) and addresses near their edges.
        #[test]
        fn octet_table_agrees_with_the_networks(
            nets in proptest::collection::vec((any::<u32>(), 0u8..=32), 0..24),
            probes in proptest::collection::vec((any::<u32>(), 0usize..24, -2i64..=2), 1..64),
        ) {
            let nets: Vec<ipnet::Ipv4Net> = nets
                .iter()
                .map(|&(a, len)| ipnet::Ipv4Net::new(Ipv4Addr::from(a), len).unwrap().trunc())
                .collect();
            let t = TrustedProxies::from_nets(nets.iter().map(|&n| IpNet::V4(n)));
            for &(raw, which, delta) in &probes {
                // Half the probes sit at a network's first or last address, or next to them.
                let x = match nets.get(which) {
                    Some(n) if raw % 2 == 0 => {
                        let edge = if raw % 4 == 0 { u32::from(n.network()) } else { u32::from(n.broadcast()) };
                        u32::try_from(i64::from(edge) + delta).unwrap_or(edge)
                    }
                    _ => raw,
                };
                let a = Ipv4Addr::from(x);
                let expected = nets.iter().any(|n| n.contains(&a));
                prop_assert_eq!(t.contains(IpAddr::V4(a)), expected, "{}", a);
                prop_assert_eq!(contains(&t.v4, x), expected, "{}", a);
            }
        }

        /// The fast IPv6 parser never accepts what std rejects, never disagrees with it, and
        /// accepts every address std prints.
        #[test]
        fn fast_ipv6_is_std_ipv6(s in "[0-9a-fA-F:.]{0,45}", groups in proptest::array::uniform8(0u16..4)) {
            let fast = parse_ipv6_fast(s.as_bytes());
            prop_assert!(fast.is_none() || fast == s.parse::<Ipv6Addr>().ok(), "{}", s);
            // Addresses with runs of zero groups, as std prints them (with `::`).
            let a = Ipv6Addr::from(groups.map(|g| if g == 3 { 0xabc } else { g }));
            let text = a.to_string();
            if !text.contains('.') {
                prop_assert_eq!(parse_ipv6_fast(text.as_bytes()), Some(a));
            }
        }
    }

    fn nets(list: &[&str]) -> TrustedProxies {
        TrustedProxies::from_nets(list.iter().map(|s| s.parse::<IpNet>().unwrap()))
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn membership_v4_v6_and_mapped() {
        let t = nets(&["198.41.128.0/17", "2400:cb00::/32", "10.0.0.1/32"]);
        assert!(t.contains(ip("198.41.128.5")));
        assert!(t.contains(ip("198.41.255.255")));
        assert!(!t.contains(ip("198.42.0.0")));
        assert!(!t.contains(ip("198.41.127.255")));
        assert!(t.contains(ip("::ffff:198.41.128.5")));
        assert!(t.contains(ip("2400:cb00::1")));
        assert!(!t.contains(ip("2400:cb01::1")));
        assert!(t.contains(ip("10.0.0.1")));
        assert!(!t.contains(ip("10.0.0.2")));
        assert!(!TrustedProxies::none().contains(ip("10.0.0.1")));
    }

    #[test]
    fn overlapping_and_adjacent_ranges_merge() {
        let t = nets(&["10.0.0.0/25", "10.0.0.128/25", "10.0.0.0/24", "0.0.0.0/0"]);
        assert_eq!(t.v4, vec![(0, u32::MAX)]);
        let t = nets(&["::ffff:192.0.2.0/120"]);
        assert!(t.contains(ip("192.0.2.7")));
        assert!(t.v6.is_empty());
    }

    #[test]
    fn cloudflare_list_is_complete() {
        let t = TrustedProxies::cloudflare();
        for s in [
            "173.245.48.1",
            "104.16.0.1",
            "172.64.0.1",
            "131.0.72.1",
            "2606:4700::1",
            "2a06:98c0::1",
            "2c0f:f248::1",
        ] {
            assert!(t.contains(ip(s)), "{s}");
        }
        assert!(!t.contains(ip("81.2.69.160")));
    }

    #[test]
    fn parse_ip_tolerates_decoration_and_rejects_junk() {
        assert_eq!(parse_ip(b" 81.2.69.160 "), Some(ip("81.2.69.160")));
        assert_eq!(parse_ip(b"81.2.69.160:443"), Some(ip("81.2.69.160")));
        assert_eq!(parse_ip(b"[2001:db8::1]:443"), Some(ip("2001:db8::1")));
        assert_eq!(parse_ip(b"::ffff:1.2.3.4"), Some(ip("1.2.3.4")));
        assert_eq!(parse_ip(b"unknown"), None);
        assert_eq!(parse_ip(b"\xff\xfe"), None);
        assert_eq!(parse_ip(b""), None);
        assert_eq!(parse_ip(b"1.2.3.4:"), None);
        assert_eq!(parse_ip(b"01.2.3.4"), None);
        assert_eq!(parse_ip(b"1.2.3.256"), None);
        assert_eq!(parse_ip(b"1.2.3"), None);
        assert_eq!(parse_ip(b"1.2.3.4.5"), None);
        assert_eq!(parse_ip(b"0.0.0.0"), Some(ip("0.0.0.0")));
        assert_eq!(parse_ip(b"255.255.255.255"), Some(ip("255.255.255.255")));
    }

    #[test]
    fn forwarded_for_trusted_hops() {
        let t = nets(&["10.0.0.0/8"]);
        assert_eq!(
            client_from_forwarded_for(b"1.1.1.1, 2.2.2.2, 10.0.0.1", &t, 5),
            Some(ip("2.2.2.2"))
        );
        assert_eq!(
            client_from_forwarded_for(b"1.1.1.1, 10.0.0.2, 10.0.0.1", &t, 2),
            Some(ip("10.0.0.2"))
        );
        assert_eq!(client_from_forwarded_for(b"garbage", &t, 5), None);
        assert_eq!(
            client_from_forwarded_for(b"garbage, 10.0.0.1", &t, 5),
            Some(ip("10.0.0.1"))
        );
        let long: Vec<u8> = std::iter::repeat_n(&b"10.1.1.1, "[..], 1000)
            .flatten()
            .copied()
            .chain(b"10.9.9.9".iter().copied())
            .collect();
        assert_eq!(
            client_from_forwarded_for(&long, &t, 5),
            Some(ip("10.1.1.1"))
        );
        assert_eq!(client_from_forwarded_for(b"", &t, 5), None);
    }

    #[test]
    fn country_and_subdivision_codes() {
        assert_eq!(CountryCode::parse(b"de").unwrap().as_str(), "DE");
        assert_eq!(CountryCode::parse(b"T1").unwrap().as_str(), "T1");
        assert!(CountryCode::parse(b"DEU").is_none());
        assert!(CountryCode::parse(b"1A").is_none());
        assert!(CountryCode::parse(b"\xc3\xa9").is_none());
        assert_eq!(SubdivisionCode::parse(b"ca").unwrap().as_str(), "CA");
        assert_eq!(SubdivisionCode::parse(b"GB-ENG").unwrap().as_str(), "ENG");
        assert!(SubdivisionCode::parse(b"ABCD").is_none());
        assert!(SubdivisionCode::parse(b"").is_none());
        assert_eq!(SubdivisionCode::parse(b" 13 ").unwrap().as_str(), "13");
        assert_eq!(SubdivisionCode::parse(b"us-ca").unwrap().as_str(), "CA");
        assert!(SubdivisionCode::parse(b"US-").is_none());
        assert!(SubdivisionCode::parse(b"   ").is_none());
        assert!(SubdivisionCode::parse(b"C A").is_none());
        assert!(SubdivisionCode::parse(b"\xc3\xa9").is_none());
    }
}
