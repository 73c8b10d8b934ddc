//! Deterministic hashing and the selection rules used inside a pool: weighted random,
//! rendezvous (highest random weight) hashing and least outstanding requests.
//!
//! Everything here is a pure function of its arguments: the same seed, key and candidates give
//! the same choice on every run. The hash is our own small mixer (not `std`'s randomly seeded
//! `RandomState`, not a crate whose output may change between versions), so consistent-hash
//! assignments are stable across releases and processes.

/// The SplitMix64 finaliser: a bijective mix of all 64 bits.
#[must_use]
pub(crate) const fn mix64(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// A 64-bit hash of `bytes` under `seed`, stable across platforms and releases.
#[must_use]
pub(crate) fn hash_bytes(seed: u64, bytes: &[u8]) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut h = mix64(seed ^ (bytes.len() as u64).wrapping_mul(K));
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        h = mix64(h ^ u64::from_le_bytes(word)).wrapping_add(K);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut word = [0u8; 8];
        for (dst, src) in word.iter_mut().zip(rest) {
            *dst = *src;
        }
        h = mix64(h ^ u64::from_le_bytes(word) ^ 0xff);
    }
    mix64(h)
}

/// A uniform value in `0..n` from 64 random bits (Lemire's multiply-shift; `n > 0`).
#[must_use]
pub(crate) fn below(random: u64, n: u64) -> u64 {
    let wide = u128::from(random) * u128::from(n);
    // The high half of a 64x64 product always fits in 64 bits.
    u64::try_from(wide >> 64).unwrap_or(0)
}

/// The set bits of `mask`, lowest first.
#[inline]
pub(crate) fn bits(mut mask: u64) -> impl Iterator<Item = u32> {
    std::iter::from_fn(move || {
        if mask == 0 {
            return None;
        }
        let bit = mask.trailing_zeros();
        mask &= mask - 1;
        Some(bit)
    })
}

/// Picks a set bit of `mask` with probability proportional to `weight(bit)`; `None` when the
/// weights of the set bits sum to zero.
#[inline]
pub(crate) fn pick_weighted(mask: u64, weight: impl Fn(u32) -> u32, random: u64) -> Option<u32> {
    let total: u64 = bits(mask).map(|b| u64::from(weight(b))).sum();
    if total == 0 {
        return None;
    }
    let mut target = below(random, total);
    for b in bits(mask) {
        let w = u64::from(weight(b));
        if target < w {
            return Some(b);
        }
        target -= w;
    }
    None
}

/// The rendezvous-hashing score of one candidate for one key: `weight / -ln(u)` with `u` a
/// uniform value in (0, 1) drawn from the key and the candidate's own stable hash. The
/// candidate with the highest score wins; a candidate's score does not depend on the others,
/// so removing one moves only the keys it held, and each wins a share of keys proportional to
/// its weight.
#[must_use]
pub(crate) fn rendezvous_score(key_hash: u64, candidate_hash: u64, weight: u32) -> f64 {
    let bits = mix64(key_hash ^ candidate_hash) >> 11;
    // (bits + 0.5) / 2^53 lies strictly inside (0, 1), so the logarithm is finite and negative.
    let unit = (bits as f64 + 0.5) / 9_007_199_254_740_992.0;
    f64::from(weight) / -unit.ln()
}

/// The set bit of `mask` with the highest rendezvous score; `candidate(bit)` gives its stable
/// hash and weight (weight 0 never wins). Ties (practically impossible) go to the lowest bit.
/// With `uniform` weights the score is monotonic in the hash, so hashes are compared directly
/// (same winner, no logarithm).
#[inline]
pub(crate) fn pick_rendezvous(
    mask: u64,
    candidate: impl Fn(u32) -> (u64, u32),
    key_hash: u64,
    uniform: bool,
) -> Option<u32> {
    if uniform {
        let mut best: Option<(u32, u64)> = None;
        for b in bits(mask) {
            let (hash, weight) = candidate(b);
            if weight == 0 {
                continue;
            }
            let draw = mix64(key_hash ^ hash) >> 11;
            if best.is_none_or(|(_, d)| draw > d) {
                best = Some((b, draw));
            }
        }
        return best.map(|(b, _)| b);
    }
    let mut best: Option<(u32, f64)> = None;
    for b in bits(mask) {
        let (hash, weight) = candidate(b);
        if weight == 0 {
            continue;
        }
        let score = rendezvous_score(key_hash, hash, weight);
        if best.is_none_or(|(_, s)| score > s) {
            best = Some((b, score));
        }
    }
    best.map(|(b, _)| b)
}

/// The set bit of `mask` with the fewest outstanding requests per unit of weight
/// (`(outstanding + 1) / weight`, compared exactly by cross-multiplying); ties are broken by a
/// seeded hash of the candidate so equal endpoints share the load deterministically.
/// `candidate(bit)` gives `(outstanding, weight, stable hash)`.
#[inline]
pub(crate) fn pick_least_outstanding(
    mask: u64,
    candidate: impl Fn(u32) -> (u32, u32, u64),
    random: u64,
) -> Option<u32> {
    let mut best: Option<(u32, u64, u64, u64)> = None; // (bit, load+1, weight, tie)
    for b in bits(mask) {
        let (outstanding, weight, hash) = candidate(b);
        if weight == 0 {
            continue;
        }
        let load = u64::from(outstanding) + 1;
        let weight = u64::from(weight);
        let tie = mix64(random ^ hash);
        let better = match best {
            None => true,
            Some((_, b_load, b_weight, b_tie)) => {
                let lhs = u128::from(load) * u128::from(b_weight);
                let rhs = u128::from(b_load) * u128::from(weight);
                lhs < rhs || (lhs == rhs && tie > b_tie)
            }
        };
        if better {
            best = Some((b, load, weight, tie));
        }
    }
    best.map(|(b, ..)| b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_stable_and_length_sensitive() {
        // Pinned values: changing the hash moves every consistent-hash key, so it is a
        // deliberate, visible change.
        assert_eq!(hash_bytes(0, b""), hash_bytes(0, b""));
        assert_ne!(hash_bytes(0, b"a"), hash_bytes(0, b"a\0"));
        assert_ne!(hash_bytes(0, b"abcdefgh"), hash_bytes(1, b"abcdefgh"));
        assert_ne!(hash_bytes(7, b"abcdefghi"), hash_bytes(7, b"abcdefghj"));
        assert_eq!(mix64(0), 0);
        assert_eq!(mix64(1), 0x5692_161d_100b_05e5);
    }

    #[test]
    fn below_stays_in_range() {
        for r in [0, 1, u64::MAX / 2, u64::MAX] {
            assert!(below(r, 7) < 7);
        }
        assert_eq!(below(u64::MAX, 10), 9);
        assert_eq!(below(0, 10), 0);
    }

    #[test]
    fn bits_iterates_set_bits_in_order() {
        assert_eq!(
            bits(0b1011_0000_0001).collect::<Vec<_>>(),
            vec![0, 8, 9, 11]
        );
        assert_eq!(bits(0).count(), 0);
        assert_eq!(bits(u64::MAX).count(), 64);
    }

    #[test]
    fn weighted_pick_skips_unset_bits_and_zero_weights() {
        let weights = [0u32, 5, 3, 1];
        for r in [0, u64::MAX / 3, u64::MAX] {
            let b = pick_weighted(0b1101, |b| weights[b as usize], r).unwrap();
            assert!(b == 2 || b == 3);
        }
        assert_eq!(pick_weighted(0b0001, |b| weights[b as usize], 5), None);
        assert_eq!(pick_weighted(0, |_| 1, 5), None);
    }

    #[test]
    fn weighted_pick_follows_the_weights() {
        let weights = [1u32, 3, 6];
        let mut counts = [0u32; 3];
        for seed in 0..100_000u64 {
            let b = pick_weighted(0b111, |b| weights[b as usize], mix64(seed)).unwrap();
            counts[b as usize] += 1;
        }
        for (count, w) in counts.iter().zip(weights) {
            let share = f64::from(*count) / 100_000.0;
            assert!((share - f64::from(w) / 10.0).abs() < 0.01, "{counts:?}");
        }
    }

    #[test]
    fn rendezvous_moves_only_the_removed_candidates_keys() {
        let hashes: Vec<u64> = (0..5u64).map(|i| hash_bytes(9, &i.to_le_bytes())).collect();
        for key in 0..2_000u64 {
            let k = hash_bytes(1, &key.to_le_bytes());
            let all = pick_rendezvous(0b11111, |b| (hashes[b as usize], 1), k, false).unwrap();
            let without_two =
                pick_rendezvous(0b11011, |b| (hashes[b as usize], 1), k, false).unwrap();
            // Equal weights: comparing hashes picks the same winner as the scores.
            assert_eq!(
                pick_rendezvous(0b11111, |b| (hashes[b as usize], 1), k, true),
                Some(all)
            );
            if all != 2 {
                assert_eq!(all, without_two, "key {key} moved");
            } else {
                assert_ne!(without_two, 2);
            }
        }
    }

    #[test]
    fn rendezvous_respects_weights() {
        let cands = [(hash_bytes(0, b"a"), 1u32), (hash_bytes(0, b"b"), 3)];
        let mut wins = [0u32; 2];
        for key in 0..40_000u64 {
            let b = pick_rendezvous(0b11, |b| cands[b as usize], mix64(key), false).unwrap();
            wins[b as usize] += 1;
        }
        let share = f64::from(wins[1]) / 40_000.0;
        assert!((share - 0.75).abs() < 0.015, "{wins:?}");
    }

    #[test]
    fn least_outstanding_prefers_the_idle_and_heavy() {
        // (outstanding, weight, hash)
        let cands = [(4u32, 1u32, 1u64), (1, 1, 2), (3, 4, 3), (0, 0, 4)];
        let b = pick_least_outstanding(0b1111, |b| cands[b as usize], 0).unwrap();
        assert_eq!(b, 2, "(3+1)/4 = 1 beats (1+1)/1 = 2");
        let ties = [(0u32, 1u32, 10u64), (0, 1, 11)];
        let mut seen = [false; 2];
        for seed in 0..64 {
            seen[pick_least_outstanding(0b11, |b| ties[b as usize], mix64(seed)).unwrap()
                as usize] = true;
        }
        assert_eq!(seen, [true, true], "ties are shared");
    }
}
