//! A count-min sketch of 4-bit counters with a doorkeeper, for TinyLFU admission.
//!
//! Four rows; each `u64` word packs 16 counters. The doorkeeper (a bloom filter with two bits
//! per key) absorbs first occurrences, so one-hit wonders never reach the counters. After
//! `10 x width` additions every counter is halved and the doorkeeper cleared (aging), so the
//! sketch follows a changing popularity.

/// Frequency estimates for hashed keys.
#[derive(Debug)]
pub(crate) struct FrequencySketch {
    table: Vec<u64>,
    /// Counters per row minus one (a power of two minus one).
    row_mask: u64,
    doorkeeper: Vec<u64>,
    door_mask: u64,
    additions: u64,
    sample_size: u64,
}

const ROW_SEEDS: [u64; 4] = [
    0xc3a5_c85c_97cb_3127,
    0xb492_b66f_be98_f273,
    0x9ae1_6a3b_2f90_404f,
    0xcbf2_9ce4_8422_2325,
];

#[inline]
fn rehash(hash: u64, seed: u64) -> u64 {
    let x = (hash ^ seed).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    x ^ (x >> 32)
}

impl FrequencySketch {
    /// A sketch sized for about `entries` distinct hot keys.
    pub(crate) fn new(entries: usize) -> Self {
        let counters = entries.max(16).next_power_of_two() as u64;
        // Each row has `counters` 4-bit counters: counters / 16 words per row, 4 rows.
        let words = (counters / 16).max(1) * 4;
        let door_bits = (counters * 8).max(64);
        Self {
            table: vec![0; usize::try_from(words).unwrap_or(usize::MAX)],
            row_mask: counters - 1,
            doorkeeper: vec![0; usize::try_from(door_bits / 64).unwrap_or(usize::MAX)],
            door_mask: door_bits - 1,
            additions: 0,
            sample_size: counters * 10,
        }
    }

    /// Counters per row: the number of keys the sketch is sized for.
    pub(crate) fn width(&self) -> u64 {
        self.row_mask + 1
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        (self.table.len() + self.doorkeeper.len()) * size_of::<u64>()
    }

    /// (word, shift) of `hash`'s counter in `row`.
    #[inline]
    fn slot(&self, hash: u64, row: usize) -> (usize, u32) {
        let seed = ROW_SEEDS.get(row).copied().unwrap_or(0);
        let counter = rehash(hash, seed) & self.row_mask;
        let words_per_row = (self.row_mask + 1).div_ceil(16);
        let word = row as u64 * words_per_row + counter / 16;
        (
            usize::try_from(word).unwrap_or(usize::MAX),
            ((counter % 16) * 4) as u32,
        )
    }

    #[inline]
    fn door_bits(&self, hash: u64) -> [u64; 2] {
        let h = rehash(hash, 0x2545_f491_4f6c_dd1d);
        [h & self.door_mask, (h >> 32) & self.door_mask]
    }

    fn door_contains(&self, hash: u64) -> bool {
        self.door_bits(hash).iter().all(|&b| {
            self.doorkeeper
                .get((b / 64) as usize)
                .is_some_and(|w| w & (1 << (b % 64)) != 0)
        })
    }

    /// Records one occurrence of `hash`.
    pub(crate) fn increment(&mut self, hash: u64) {
        if self.door_contains(hash) {
            for row in 0..4 {
                let (word, shift) = self.slot(hash, row);
                if let Some(w) = self.table.get_mut(word)
                    && (*w >> shift) & 0xf < 15
                {
                    *w += 1 << shift;
                }
            }
        } else {
            for b in self.door_bits(hash) {
                if let Some(w) = self.doorkeeper.get_mut((b / 64) as usize) {
                    *w |= 1 << (b % 64);
                }
            }
        }
        self.additions += 1;
        if self.additions >= self.sample_size {
            self.age();
        }
    }

    /// Estimated occurrences of `hash` (saturating at 16).
    pub(crate) fn estimate(&self, hash: u64) -> u8 {
        let mut min = 15u64;
        for row in 0..4 {
            let (word, shift) = self.slot(hash, row);
            let c = self.table.get(word).map_or(0, |w| (w >> shift) & 0xf);
            min = min.min(c);
        }
        u8::try_from(min).unwrap_or(15) + u8::from(self.door_contains(hash))
    }

    /// Halves every counter and clears the doorkeeper.
    fn age(&mut self) {
        for w in &mut self.table {
            *w = (*w >> 1) & 0x7777_7777_7777_7777;
        }
        self.doorkeeper.fill(0);
        self.additions /= 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_saturates() {
        let mut s = FrequencySketch::new(1024);
        assert_eq!(s.estimate(42), 0);
        s.increment(42);
        assert_eq!(s.estimate(42), 1, "doorkeeper only");
        for _ in 0..5 {
            s.increment(42);
        }
        assert_eq!(s.estimate(42), 6);
        for _ in 0..100 {
            s.increment(42);
        }
        assert_eq!(s.estimate(42), 16);
        assert!(s.estimate(43) <= 1);
    }

    #[test]
    fn ages_by_halving() {
        let mut s = FrequencySketch::new(1024);
        for _ in 0..8 {
            s.increment(7);
        }
        assert_eq!(s.estimate(7), 8);
        s.age();
        assert_eq!(s.estimate(7), 3, "7 counted >> 1, doorkeeper cleared");
    }

    #[test]
    fn ages_after_sample_size_additions() {
        let mut s = FrequencySketch::new(16);
        for k in 0..s.sample_size - 1 {
            s.increment(k);
        }
        assert_eq!(s.additions, s.sample_size - 1);
        s.increment(0);
        assert_eq!(s.additions, s.sample_size / 2);
    }
}
