//! The simulator's random numbers: a small, seedable, version-stable generator.
//!
//! `rand`'s `SmallRng` documents that its algorithm may change between releases, which would
//! break the promise that a scenario and a seed give a byte-identical report. So the simulator
//! carries its own generator: xoshiro256++ (Blackman and Vigna), seeded through SplitMix64. Both
//! algorithms are fixed here, so the stream for a seed never changes. [`SimRng`] implements
//! `rand_core`'s `TryRng` (hence `rand::Rng`), so it plugs into code written for `rand` 0.10.
//!
//! Every independent part of a run (a shard, an origin, a monitor) gets its own stream from
//! [`SimRng::stream`], derived from the run seed and a stable label, so adding randomness in one
//! place never shifts the numbers drawn in another.

use std::convert::Infallible;

/// SplitMix64: used to expand seeds and to hash labels into stream seeds.
#[inline]
#[must_use]
pub fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A stable 64-bit mix of one value (the SplitMix64 finaliser); used for per-object facts such
/// as sizes that must not depend on the order of requests.
#[inline]
#[must_use]
pub fn mix64(x: u64) -> u64 {
    let mut s = x;
    splitmix64(&mut s)
}

/// A stable hash of a label (FNV-1a, then mixed); used to name random streams.
#[must_use]
pub fn label_hash(label: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in label.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    mix64(h)
}

/// xoshiro256++: fast, small state, good statistical quality, and fixed forever here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimRng {
    s: [u64; 4],
}

impl SimRng {
    /// A generator seeded from one `u64` through SplitMix64 (never the all-zero state).
    #[must_use]
    pub fn seed_from(seed: u64) -> Self {
        let mut sm = seed;
        let s = [
            splitmix64(&mut sm),
            splitmix64(&mut sm),
            splitmix64(&mut sm),
            splitmix64(&mut sm),
        ];
        if s == [0; 4] {
            return SimRng {
                s: [0x9E37_79B9_7F4A_7C15, 1, 2, 3],
            };
        }
        SimRng { s }
    }

    /// An independent stream for the part of the run named `label` (and an index within it).
    #[must_use]
    pub fn stream(seed: u64, label: &str, index: u64) -> Self {
        let mut sm = seed ^ label_hash(label);
        let a = splitmix64(&mut sm);
        SimRng::seed_from(a ^ mix64(index.wrapping_add(0x5851_F42D_4C95_7F2D)))
    }

    /// The next 64 random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        let [s0, s1, s2, s3] = self.s;
        let result = s0.wrapping_add(s3).rotate_left(23).wrapping_add(s0);
        let t = s1 << 17;
        let mut n2 = s2 ^ s0;
        let mut n3 = s3 ^ s1;
        let n1 = s1 ^ n2;
        let n0 = s0 ^ n3;
        n2 ^= t;
        n3 = n3.rotate_left(45);
        self.s = [n0, n1, n2, n3];
        result
    }

    /// A uniform `f64` in `[0, 1)` with 53 random bits.
    #[inline]
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// A uniform `f64` in `(0, 1]`: safe to take the logarithm of.
    #[inline]
    pub fn next_f64_open0(&mut self) -> f64 {
        ((self.next_u64() >> 11) + 1) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// A uniform integer in `[0, n)` (Lemire's multiply-shift; `n == 0` gives 0).
    #[inline]
    pub fn below(&mut self, n: u64) -> u64 {
        let wide = u128::from(self.next_u64()) * u128::from(n);

        (wide >> 64) as u64
    }

    /// `true` with probability `p` (clamped to `[0, 1]`).
    #[inline]
    pub fn chance(&mut self, p: f64) -> bool {
        self.next_f64() < p
    }
}

impl rand::TryRng for SimRng {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        let v = (SimRng::next_u64(self) >> 32) as u32;
        Ok(v)
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        Ok(SimRng::next_u64(self))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        for chunk in dst.chunks_mut(8) {
            let bytes = SimRng::next_u64(self).to_le_bytes();
            for (d, s) in chunk.iter_mut().zip(bytes) {
                *d = s;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_is_fixed_forever() {
        // These values pin the algorithm: if they change, every report changes.
        let mut r = SimRng::seed_from(42);
        let got: Vec<u64> = (0..3).map(|_| r.next_u64()).collect();
        let mut again = SimRng::seed_from(42);
        let twice: Vec<u64> = (0..3).map(|_| again.next_u64()).collect();
        assert_eq!(got, twice);
        assert_eq!(got, PINNED.to_vec());
    }

    // xoshiro256++ seeded by SplitMix64(42): recorded from this implementation, whose step is
    // checked against the reference recurrence below and whose seeding against SplitMix64's
    // published first output.
    const PINNED: [u64; 3] = [
        15_021_278_609_987_233_951,
        5_881_210_131_331_364_753,
        18_149_643_915_985_481_100,
    ];

    #[test]
    fn matches_reference_recurrence() {
        // Reference: the published xoshiro256++ step, written out plainly.
        fn reference(s: &mut [u64; 4]) -> u64 {
            let result = (s[0].wrapping_add(s[3])).rotate_left(23).wrapping_add(s[0]);
            let t = s[1] << 17;
            s[2] ^= s[0];
            s[3] ^= s[1];
            s[1] ^= s[2];
            s[0] ^= s[3];
            s[2] ^= t;
            s[3] = s[3].rotate_left(45);
            result
        }
        let mut r = SimRng::seed_from(7);
        let mut s = r.s;
        for _ in 0..1000 {
            assert_eq!(r.next_u64(), reference(&mut s));
        }
    }

    #[test]
    fn splitmix_reference_value() {
        // First output of SplitMix64 from state 0 (published test vector).
        let mut st = 0u64;
        assert_eq!(splitmix64(&mut st), 0xE220_A839_7B1D_CDAF);
    }

    #[test]
    fn below_is_in_range_and_uniformish() {
        let mut r = SimRng::seed_from(1);
        let mut counts = [0u32; 10];
        for _ in 0..100_000 {
            let v = r.below(10);
            counts[v as usize] += 1;
        }
        for c in counts {
            assert!((9_000..11_000).contains(&c), "{c}");
        }
        assert_eq!(r.below(0), 0);
    }

    #[test]
    fn streams_differ() {
        let mut a = SimRng::stream(1, "shard", 0);
        let mut b = SimRng::stream(1, "shard", 1);
        let mut c = SimRng::stream(1, "origin", 0);
        let (x, y, z) = (a.next_u64(), b.next_u64(), c.next_u64());
        assert_ne!(x, y);
        assert_ne!(x, z);
    }

    #[test]
    fn open_interval() {
        let mut r = SimRng::seed_from(3);
        for _ in 0..10_000 {
            let u = r.next_f64_open0();
            assert!(u > 0.0 && u <= 1.0);
            let v = r.next_f64();
            assert!((0.0..1.0).contains(&v));
        }
    }
}
