//! Rate limiting: sliding-window counters and the [`CounterStore`] they live in.
//!
//! # Counting rule
//! Windows of `period` seconds are aligned to multiples of the period since the [`Timestamp`]
//! epoch. A key keeps the count of its current window `c` and of the previous one `p`; at
//! `elapsed` seconds into the current window its estimate is Cloudflare's
//! `p × (period − elapsed) / period + c`, computed exactly in integers.
//!
//! A request is **acted on** when the estimate plus itself would exceed `limit` (so with a limit
//! of 100 the 101st request in a window is the first one refused), or when its key is under
//! mitigation. Only requests that are not acted on increment the counter, so with
//! `mitigation_timeout = 0` a client sending faster than the limit gets about `limit` requests
//! through per period and only the excess is refused.
//!
//! # Estimate error (documented bound)
//! In every aligned window at most `limit` requests of one key are let through. In an arbitrary
//! (unaligned) interval of one period, at most `2 × limit` can be let through, and only when a
//! client times its requests adversarially around a window boundary; for steady traffic the
//! estimate tracks the exact sliding count closely. The property tests check both bounds.
//!
//! # Mitigation
//! With `mitigation_timeout > 0`, the first request acted on starts a mitigation: every request
//! of that key is acted on until it ends, without being counted; `Retry-After` is the time left.

mod memory;

pub use memory::MemoryCounterStore;

use std::hash::{BuildHasher, Hasher};

use crate::time::Timestamp;

/// Identifies one counter: a hash of the rule's stable id, the period and the characteristic
/// values, so counters of unchanged rules survive a policy reload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CounterKey(pub u64);

impl CounterKey {
    /// Starts a key for a rule id and period; add characteristics with [`CounterKeyBuilder::add`].
    #[must_use]
    pub fn builder(rule_id: &str, period_secs: u32) -> CounterKeyBuilder {
        let mut h = HASHER.build_hasher();
        h.write(rule_id.as_bytes());
        h.write_u8(0xff);
        h.write_u32(period_secs);
        CounterKeyBuilder::from_hasher(h)
    }
}

static HASHER: foldhash::quality::FixedState =
    foldhash::quality::FixedState::with_seed(0x6564_6765_726f_7574);

/// Multipliers of [`CounterKeyBuilder::finish_with_ip`] (odd, so multiplying is a bijection),
/// one per address family.
const IPV4_MUL: u64 = 0x9e6c_63d0_676a_9a99;
const IPV6_MUL: u64 = 0xd6e8_feb8_6659_fd93;

/// One multiply-xorshift round: a bijection of `x` (`mul` is odd).
#[inline]
const fn mul_xorshift(x: u64, mul: u64) -> u64 {
    let x = x.wrapping_mul(mul);
    x ^ (x >> 29)
}

/// Builds a [`CounterKey`] from characteristic values. Cloning one copies the hash state, so
/// a rule's prefix (id and period) can be hashed once and reused for every request.
#[derive(Clone)]
pub struct CounterKeyBuilder {
    hasher: foldhash::quality::FoldHasher<'static>,
    /// The key so far (`hasher` finished), kept so [`CounterKeyBuilder::finish_with_ip`] and
    /// [`CounterKeyBuilder::finish`] need not compute it.
    key: u64,
}

impl std::fmt::Debug for CounterKeyBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("CounterKeyBuilder")
            .field(&self.peek())
            .finish()
    }
}

impl CounterKeyBuilder {
    fn from_hasher(hasher: foldhash::quality::FoldHasher<'static>) -> Self {
        let key = hasher.finish();
        CounterKeyBuilder { hasher, key }
    }

    /// Adds one characteristic value (length-prefixed, so `("ab","c")` differs from `("a","bc")`).
    pub fn add(&mut self, value: &[u8]) {
        self.hasher.write_usize(value.len());
        self.hasher.write(value);
        self.key = self.hasher.finish();
    }

    /// Adds a marker for a missing characteristic.
    pub fn add_missing(&mut self) {
        self.hasher.write_u64(u64::MAX);
        self.key = self.hasher.finish();
    }

    /// The finished key.
    #[must_use]
    pub fn finish(self) -> CounterKey {
        CounterKey(self.key)
    }

    /// A prefix hash: the key so far, without consuming the builder.
    #[must_use]
    pub fn peek(&self) -> CounterKey {
        CounterKey(self.key)
    }

    /// The key of this prefix with one client address as its only characteristic (a per-IP
    /// counter: the `rate(..)` counts, a rule keyed by `ip.src`), in a few instructions and
    /// without copying the hash state. IPv4-mapped IPv6 addresses count as their IPv4 address.
    /// For one prefix, distinct IPv4 addresses always get distinct keys.
    ///
    /// The key's low 32 bits are a hash of the address alone and its high 32 bits a hash of
    /// the prefix and the address: every per-IP key of one client shares its low half, which
    /// is what places a key in [`MemoryCounterStore`] (one cache line for all of a client's
    /// per-IP counters).
    ///
    /// This is its own key derivation: it differs from adding the address's bytes with
    /// [`CounterKeyBuilder::add`], so a counter must always be keyed the same way.
    #[must_use]
    #[inline]
    pub fn finish_with_ip(&self, ip: std::net::IpAddr) -> CounterKey {
        const HIGH: u64 = !0xffff_ffff;
        match ip.to_canonical() {
            std::net::IpAddr::V4(a) => {
                let bits = a.to_bits();
                // A bijection of the address (an odd multiplier; stores mix it further).
                let place = bits.wrapping_mul(0x9e37_79b1);
                let id = mul_xorshift(self.key ^ u64::from(bits), IPV4_MUL);
                CounterKey((id & HIGH) | u64::from(place))
            }
            std::net::IpAddr::V6(a) => {
                let bits = a.to_bits();
                #[expect(clippy::cast_possible_truncation, reason = "halves of the address")]
                let (high, low) = ((bits >> 64) as u64, bits as u64);
                // The address hashed once: its high half places the key, and the prefix is
                // mixed into it for the identity (a bijection for each address hash).
                let address = mul_xorshift(mul_xorshift(high, IPV6_MUL) ^ low, IPV6_MUL);
                let id = mul_xorshift(self.key ^ address, IPV6_MUL);
                CounterKey((id & HIGH) | (address >> 32))
            }
        }
    }
}

/// One rate check: count (maybe) and decide (maybe), atomically.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateCheck {
    /// The counter.
    pub key: CounterKey,
    /// Window length in seconds (at least 1).
    pub period_secs: u32,
    /// The request time.
    pub now: Timestamp,
    /// Whether this request counts (its counting expression matched).
    pub count: bool,
    /// Requests allowed per period; `None` only counts and reports (for `rate(..)`).
    pub limit: Option<u32>,
    /// Mitigation timeout in seconds; 0 acts only on the excess.
    pub mitigation_timeout_secs: u32,
}

/// The answer to a [`RateCheck`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RateOutcome {
    /// The sliding-window estimate after this request, rounded up.
    pub estimate: u32,
    /// Whether the request is acted on.
    pub limited: bool,
    /// Whole seconds (at least 1) until a request of this key would not be acted on; 0 when
    /// not limited.
    pub retry_after_secs: u32,
}

/// Where sliding-window counters live: in process ([`MemoryCounterStore`]) or shared between
/// gateway instances (for example on Redis, in `edgeroute-tower`).
///
/// Implementations apply the rules in the [module docs](self) atomically per key and must not
/// allocate on the common path.
pub trait CounterStore: Send + Sync {
    /// Counts and decides one request.
    fn check(&self, query: &RateCheck) -> RateOutcome;

    /// Number of keys currently held (for metrics and tests); `None` if unknown.
    fn key_count(&self) -> Option<usize> {
        None
    }
}

/// The state of one counter, as a shared store would persist it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WindowState {
    /// Index of the current window (`now / period`).
    pub window: u32,
    /// Requests counted in the current window.
    pub current: u32,
    /// Requests counted in the previous window.
    pub previous: u32,
    /// End of the mitigation, in whole seconds since the epoch (0: none).
    pub mitigated_until_s: u32,
}

impl WindowState {
    /// Applies `query` to this state (the reference implementation of the counting rule, used
    /// by [`MemoryCounterStore`] and usable by other stores).
    #[inline]
    pub fn apply(&mut self, query: &RateCheck) -> RateOutcome {
        let period = u64::from(query.period_secs.max(1));
        let period_us = period * 1_000_000;
        let now_us = query.now.as_micros();
        let window = u32::try_from(now_us / period_us).unwrap_or(u32::MAX);
        let elapsed_us = now_us % period_us;
        self.roll(window);

        if self.mitigated_until_s != 0 {
            let until_us = u64::from(self.mitigated_until_s) * 1_000_000;
            if now_us < until_us {
                return RateOutcome {
                    estimate: self.estimate(elapsed_us, period_us),
                    limited: true,
                    retry_after_secs: ceil_secs(until_us - now_us),
                };
            }
            self.mitigated_until_s = 0;
        }

        let limited = query
            .limit
            .is_some_and(|l| !fits(self.previous, self.current, 1, l, elapsed_us, period_us));
        if limited {
            let limit = query.limit.unwrap_or(0);
            let retry = if query.mitigation_timeout_secs > 0 {
                let until =
                    now_us.saturating_add(u64::from(query.mitigation_timeout_secs) * 1_000_000);
                let until_s = until.div_ceil(1_000_000);
                self.mitigated_until_s = u32::try_from(until_s).unwrap_or(u32::MAX);
                query.mitigation_timeout_secs
            } else {
                self.retry_after(limit, elapsed_us, period_us)
            };
            return RateOutcome {
                estimate: self
                    .estimate(elapsed_us, period_us)
                    .saturating_add(u32::from(query.count)),
                limited: true,
                retry_after_secs: retry.max(1),
            };
        }
        if query.count {
            self.current = self.current.saturating_add(1);
        }
        RateOutcome {
            estimate: self.estimate(elapsed_us, period_us),
            limited: false,
            retry_after_secs: 0,
        }
    }

    fn roll(&mut self, window: u32) {
        if self.window == window {
            return;
        }
        if self.window.checked_add(1) == Some(window) {
            self.previous = self.current;
        } else {
            self.previous = 0;
        }
        self.current = 0;
        self.window = window;
    }

    /// The estimate, rounded up.
    fn estimate(&self, elapsed_us: u64, period_us: u64) -> u32 {
        // u64 arithmetic when it cannot overflow (the common case), u128 otherwise.
        let remaining = period_us - elapsed_us;
        let fast = u64::from(self.previous)
            .checked_mul(remaining)
            .and_then(|a| {
                u64::from(self.current)
                    .checked_mul(period_us)
                    .and_then(|b| a.checked_add(b))
            });
        let est = match fast {
            Some(scaled) => u128::from(scaled.div_ceil(period_us)),
            None => (u128::from(self.previous) * u128::from(remaining)
                + u128::from(self.current) * u128::from(period_us))
            .div_ceil(u128::from(period_us)),
        };
        u32::try_from(est).unwrap_or(u32::MAX)
    }

    /// Seconds until the estimate leaves room for one more request.
    fn retry_after(&self, limit: u32, elapsed_us: u64, period_us: u64) -> u32 {
        let l = u128::from(limit);
        let p = u128::from(self.previous);
        let c = u128::from(self.current);
        let big_p = u128::from(period_us);
        let e = u128::from(elapsed_us);
        let wait_us = if c < l {
            // Within this window: need p × (P − e') ≤ (l − 1 − c) × P.
            // e' ≥ P − (l − 1 − c) × P / p.
            let room = (l - 1 - c) * big_p;
            let need = (room.checked_div(p)).map_or(0, |r| big_p.saturating_sub(r));
            need.saturating_sub(e)
        } else {
            // Next window: the current count becomes the previous one.
            // c × (P − e'') ≤ (l − 1) × P  =>  e'' ≥ P − (l − 1) × P / c.
            let room = (l.saturating_sub(1)) * big_p;
            let need = (room.checked_div(c)).map_or(0, |r| big_p.saturating_sub(r));
            (big_p - e) + need
        };
        u32::try_from(wait_us.div_ceil(1_000_000))
            .unwrap_or(u32::MAX)
            .max(1)
    }
}

/// Whether `extra` more requests fit under `limit`.
fn fits(
    previous: u32,
    current: u32,
    extra: u32,
    limit: u32,
    elapsed_us: u64,
    period_us: u64,
) -> bool {
    let remaining = period_us - elapsed_us;
    let lhs = u64::from(previous).checked_mul(remaining).and_then(|a| {
        (u64::from(current) + u64::from(extra))
            .checked_mul(period_us)
            .and_then(|b| a.checked_add(b))
    });
    let rhs = u64::from(limit).checked_mul(period_us);
    match (lhs, rhs) {
        (Some(l), Some(r)) => l <= r,
        _ => {
            let lhs = u128::from(previous) * u128::from(remaining)
                + (u128::from(current) + u128::from(extra)) * u128::from(period_us);
            lhs <= u128::from(limit) * u128::from(period_us)
        }
    }
}

fn ceil_secs(us: u64) -> u32 {
    u32::try_from(us.div_ceil(1_000_000))
        .unwrap_or(u32::MAX)
        .max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(key: u64, t: f64, limit: u32, timeout: u32) -> RateCheck {
        RateCheck {
            key: CounterKey(key),
            period_secs: 60,
            now: Timestamp::from_secs_f64(t),
            count: true,
            limit: Some(limit),
            mitigation_timeout_secs: timeout,
        }
    }

    #[test]
    fn a_cloned_prefix_builds_the_same_key() {
        let prefix = CounterKey::builder("edge-worker-rate-limit", 60);
        let mut a = prefix.clone();
        a.add(&[81, 2, 69, 170]);
        let mut b = CounterKey::builder("edge-worker-rate-limit", 60);
        b.add(&[81, 2, 69, 170]);
        assert_eq!(a.finish(), b.finish());
        assert_eq!(
            prefix.peek(),
            CounterKey::builder("edge-worker-rate-limit", 60).finish()
        );
    }

    #[test]
    fn the_request_crossing_the_limit_is_acted_on() {
        let mut s = WindowState::default();
        for i in 0..100 {
            let o = s.apply(&check(1, 1.0 + f64::from(i) * 0.1, 100, 0));
            assert!(!o.limited, "request {} limited", i + 1);
        }
        let o = s.apply(&check(1, 12.0, 100, 0));
        assert!(o.limited);
        assert_eq!(o.retry_after_secs, 49, "{o:?}");
        // Refused requests are not counted.
        assert_eq!(s.current, 100);
    }

    #[test]
    fn estimate_uses_the_previous_window() {
        let mut s = WindowState::default();
        for _ in 0..60 {
            s.apply(&check(1, 59.0, 100, 0));
        }
        // At 30 s into the next window: 60 × 0.5 = 30 estimated, so 70 more fit.
        let mut allowed = 0;
        for _ in 0..100 {
            if !s.apply(&check(1, 90.0, 100, 0)).limited {
                allowed += 1;
            }
        }
        assert_eq!(allowed, 70);
        let o = s.apply(&check(1, 90.0, 100, 0));
        assert!(o.limited);
        // c = 70 < 100: wait until 60 × (60 − e)/60 ≤ 29, e ≥ 31 s: 1 s from now.
        assert_eq!(o.retry_after_secs, 1);
    }

    #[test]
    fn windows_older_than_one_period_are_forgotten() {
        let mut s = WindowState::default();
        for _ in 0..100 {
            s.apply(&check(1, 10.0, 100, 0));
        }
        assert!(s.apply(&check(1, 11.0, 100, 0)).limited);
        assert!(!s.apply(&check(1, 180.0, 100, 0)).limited);
        assert_eq!((s.previous, s.current), (0, 1));
    }

    #[test]
    fn mitigation_timeout_blocks_every_request_for_that_long() {
        let mut s = WindowState::default();
        for _ in 0..10 {
            assert!(!s.apply(&check(1, 1.0, 10, 600)).limited);
        }
        let o = s.apply(&check(1, 2.0, 10, 600));
        assert!(o.limited);
        assert_eq!(o.retry_after_secs, 600);
        // Far into later windows, still mitigated.
        let o = s.apply(&check(1, 301.5, 10, 600));
        assert!(o.limited);
        assert_eq!(o.retry_after_secs, 301);
        assert!(!s.apply(&check(1, 602.0, 10, 600)).limited);
    }

    #[test]
    fn counting_only_never_limits() {
        let mut s = WindowState::default();
        let mut q = check(1, 5.0, 1, 0);
        q.limit = None;
        for i in 1..=500 {
            let o = s.apply(&q);
            assert!(!o.limited);
            assert_eq!(o.estimate, i);
        }
    }

    #[test]
    fn non_counting_requests_are_limited_when_the_counter_is_full() {
        let mut s = WindowState::default();
        for _ in 0..5 {
            s.apply(&check(1, 1.0, 5, 0));
        }
        let mut q = check(1, 2.0, 5, 0);
        q.count = false;
        assert!(s.apply(&q).limited);
        assert_eq!(s.current, 5);
    }

    #[test]
    fn a_clients_ip_keys_share_their_low_half_and_differ_above_it() {
        use std::net::IpAddr;
        let rules = [
            CounterKey::builder("rate", 60),
            CounterKey::builder("edge-worker", 60),
            CounterKey::builder("edge-worker", 10),
        ];
        for ip in [
            IpAddr::from([81, 2, 69, 160]),
            IpAddr::from([0, 0, 0, 0]),
            "2001:db8::7".parse().unwrap(),
        ] {
            let keys: Vec<u64> = rules.iter().map(|r| r.finish_with_ip(ip).0).collect();
            for k in &keys {
                assert_eq!(k & 0xffff_ffff, keys[0] & 0xffff_ffff, "{ip}");
            }
            let mut high: Vec<u64> = keys.iter().map(|k| k >> 32).collect();
            high.sort_unstable();
            high.dedup();
            assert_eq!(high.len(), rules.len(), "{ip}");
        }
        // Neighbouring addresses get unrelated low halves (they place keys).
        let p = &rules[0];
        let a = p.finish_with_ip(IpAddr::from([10, 0, 0, 1])).0 as u32;
        let b = p.finish_with_ip(IpAddr::from([10, 0, 0, 2])).0 as u32;
        assert!((a ^ b).count_ones() > 4, "{a:08x} {b:08x}");
    }

    #[test]
    fn ip_keys_separate_addresses_families_and_prefixes() {
        use std::net::IpAddr;
        let p = CounterKey::builder("edge-worker-rate-limit", 60);
        let q = CounterKey::builder("other", 60);
        let v4: IpAddr = "81.2.69.170".parse().unwrap();
        let mapped: IpAddr = "::ffff:81.2.69.170".parse().unwrap();
        let compat: IpAddr = "::81.2.69.170".parse().unwrap();
        assert_eq!(p.finish_with_ip(v4), p.finish_with_ip(mapped));
        assert_ne!(p.finish_with_ip(v4), p.finish_with_ip(compat));
        assert_ne!(p.finish_with_ip(v4), q.finish_with_ip(v4));
        assert_ne!(p.finish_with_ip(v4), p.peek());
        // Every address of a /16 gets its own key.
        let mut keys: Vec<u64> = (0..=u16::MAX)
            .map(|i| {
                let [a, b] = i.to_be_bytes();
                p.finish_with_ip(IpAddr::from([10, 1, a, b])).0
            })
            .collect();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), 65_536);
        // The finished key of a builder is its prefix hash after the values added.
        let mut b = p.clone();
        b.add(&[81, 2, 69, 170]);
        assert_eq!(b.peek(), b.clone().finish());
        assert_ne!(b.peek(), p.peek());
    }

    #[test]
    fn key_builder_separates_values() {
        let mut a = CounterKey::builder("r", 60);
        a.add(b"ab");
        a.add(b"c");
        let mut b = CounterKey::builder("r", 60);
        b.add(b"a");
        b.add(b"bc");
        assert_ne!(a.finish(), b.finish());
        let c = CounterKey::builder("r", 60).finish();
        let d = CounterKey::builder("r", 10).finish();
        assert_ne!(c, d);
        assert_eq!(CounterKey::builder("r", 60).finish(), c);
    }
}
