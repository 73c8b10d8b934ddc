//! W-TinyLFU: a window LRU in front of a segmented LRU, with TinyLFU admission.
//!
//! Every new object enters the window. Objects pushed out of the window enter the main cache's
//! probation segment if there is room; otherwise the candidate's sketch estimate is compared with
//! the main cache's victim (the probation tail, or the protected tail if probation is empty):
//! the candidate is admitted only if strictly more frequent, victims being evicted one by one
//! until it fits. A hit in probation promotes to protected; protected overflow demotes its tail
//! back to probation.

use super::params::WTinyLfuParams;
use super::sketch::FrequencySketch;
use super::slab::{List, Slab, hash_key};
use super::{Cache, CachePolicy, Capacity, SizeUnit};

const WINDOW: u8 = 0;
const PROBATION: u8 = 1;
const PROTECTED: u8 = 2;

/// Byte-mode caches size their sketch for this mean object size at first, then grow it.
const ASSUMED_MEAN_SIZE: u64 = 4096;

#[derive(Debug)]
pub(crate) struct WTinyLfu {
    slab: Slab,
    window: List,
    probation: List,
    protected: List,
    capacity: Capacity,
    window_cap: u64,
    main_cap: u64,
    protected_cap: u64,
    sketch: FrequencySketch,
    params: WTinyLfuParams,
}

#[expect(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_precision_loss,
    reason = "a ratio in [0, 1] of a capacity: the product is non-negative and at most the capacity"
)]
fn share(amount: u64, ratio: f64) -> u64 {
    (amount as f64 * ratio) as u64
}

impl WTinyLfu {
    pub(crate) fn new(capacity: Capacity, params: WTinyLfuParams) -> Self {
        let window_cap = share(capacity.amount, params.window_size);
        let main_cap = capacity.amount.saturating_sub(window_cap);
        let entries = match capacity.unit {
            SizeUnit::Objects => capacity.amount,
            SizeUnit::Bytes => capacity.amount / ASSUMED_MEAN_SIZE,
        };
        // Grown on demand; a huge first guess would only waste memory.
        let entries = usize::try_from(entries.min(1 << 20)).unwrap_or(1 << 20);
        Self {
            slab: Slab::new(),
            window: List::default(),
            probation: List::default(),
            protected: List::default(),
            capacity,
            window_cap,
            main_cap,
            protected_cap: share(main_cap, params.protected_ratio),
            sketch: FrequencySketch::new(entries),
            params,
        }
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.slab.heap_bytes() + self.sketch.heap_bytes()
    }

    fn main_bytes(&self) -> u64 {
        self.probation.bytes + self.protected.bytes
    }

    fn on_hit(&mut self, key: u64) {
        let Some(entry) = self.slab.entry_mut(key) else {
            return;
        };
        let idx = entry.idx();
        match entry.tag {
            WINDOW => self.window.move_to_head(&mut self.slab, idx),
            PROBATION => {
                entry.tag = PROTECTED;
                self.probation.unlink(&mut self.slab, idx);
                self.protected.push_head(&mut self.slab, idx);
                while self.protected.bytes > self.protected_cap {
                    let demoted = self.protected.tail;
                    let Some(d) = self.slab.meta_mut(demoted) else {
                        break;
                    };
                    d.tag = PROBATION;
                    self.protected.unlink(&mut self.slab, demoted);
                    self.probation.push_head(&mut self.slab, demoted);
                }
            }
            _ => self.protected.move_to_head(&mut self.slab, idx),
        }
    }

    /// Offers `idx`, just unlinked from the window, to the main cache.
    fn admit(&mut self, idx: u32) {
        let Some(node) = self.slab.get(idx) else {
            return;
        };
        let size = u64::from(node.size);
        let freq = self.sketch.estimate(hash_key(node.key));
        if size > self.main_cap {
            self.slab.release(idx);
            return;
        }
        while self.main_bytes() + size > self.main_cap {
            let (victim, list) = if self.probation.is_empty() {
                (self.protected.tail, &mut self.protected)
            } else {
                (self.probation.tail, &mut self.probation)
            };
            let Some(v) = self.slab.get(victim) else {
                break;
            };
            if freq > self.sketch.estimate(hash_key(v.key)) {
                list.unlink(&mut self.slab, victim);
                self.slab.release(victim);
            } else {
                self.slab.release(idx);
                return;
            }
        }
        if let Some(entry) = self.slab.meta_mut(idx) {
            entry.tag = PROBATION;
        }
        self.probation.push_head(&mut self.slab, idx);
    }
}

impl Cache for WTinyLfu {
    fn access(&mut self, key: u64, size: u32) -> bool {
        self.sketch.increment(hash_key(key));
        if self.slab.find(key).is_some() {
            self.on_hit(key);
            return true;
        }
        let size = self.capacity.charge(size);
        if u64::from(size) > self.capacity.amount {
            return false;
        }
        let idx = self.slab.alloc(key, size, WINDOW);
        self.window.push_head(&mut self.slab, idx);
        while self.window.bytes > self.window_cap {
            let candidate = self.window.tail;
            if self.slab.get(candidate).is_none() {
                break;
            }
            self.window.unlink(&mut self.slab, candidate);
            self.admit(candidate);
        }
        if self.slab.live() as u64 > self.sketch.width() {
            self.sketch = FrequencySketch::new(self.slab.live().saturating_mul(2));
        }
        false
    }

    fn contains(&self, key: u64) -> bool {
        self.slab.find(key).is_some()
    }

    fn remove(&mut self, key: u64) -> bool {
        let Some(&entry) = self.slab.entry(key) else {
            return false;
        };
        let idx = entry.idx();
        match entry.tag {
            WINDOW => self.window.unlink(&mut self.slab, idx),
            PROBATION => self.probation.unlink(&mut self.slab, idx),
            _ => self.protected.unlink(&mut self.slab, idx),
        }
        self.slab.release(idx);
        true
    }

    fn len(&self) -> usize {
        self.window.len + self.probation.len + self.protected.len
    }

    fn used(&self) -> u64 {
        self.window.bytes + self.main_bytes()
    }

    fn capacity(&self) -> Capacity {
        self.capacity
    }

    fn policy(&self) -> CachePolicy {
        CachePolicy::WTinyLfu(self.params)
    }
}
