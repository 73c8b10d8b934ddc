//! W-TinyLFU: a window LRU in front of a segmented LRU, with TinyLFU admission.
//!
//! Every new object enters the window. Objects pushed out of the window enter the main cache's
//! probation segment if there is room; otherwise the candidate's sketch estimate is compared with
//! the main cache's victim (the probation tail, or the protected tail if probation is empty):
//! the candidate is admitted only if strictly more frequent, victims being evicted one by one
//! until it fits. A hit in probation promotes to protected; protected overflow demotes its tail
//! back to probation.

use super::params::{WTinyLfuParams, share};
use super::sketch::FrequencySketch;
use super::table::{Table, hash_key};
use super::{Cache, CachePolicy, Capacity, SizeUnit};

const WINDOW: u8 = 0;
const PROBATION: u8 = 1;
const PROTECTED: u8 = 2;

/// Byte-mode caches size their sketch for this mean object size at first, then grow it.
const ASSUMED_MEAN_SIZE: u64 = 4096;

#[derive(Debug)]
pub(crate) struct WTinyLfu {
    /// Lists `WINDOW`, `PROBATION` and `PROTECTED`.
    table: Table,
    capacity: Capacity,
    window_cap: u64,
    main_cap: u64,
    protected_cap: u64,
    sketch: FrequencySketch,
    params: WTinyLfuParams,
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
            table: Table::with_capacity(capacity.objects_hint()),
            capacity,
            window_cap,
            main_cap,
            protected_cap: share(main_cap, params.protected_ratio),
            sketch: FrequencySketch::new(entries),
            params,
        }
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.table.heap_bytes() + self.sketch.heap_bytes()
    }

    fn main_bytes(&self) -> u64 {
        self.table.list(PROBATION).bytes + self.table.list(PROTECTED).bytes
    }

    fn on_hit(&mut self, idx: u32, tag: u8) {
        match tag {
            PROBATION => {
                self.table.move_to_list(idx, PROTECTED);
                while self.table.list(PROTECTED).bytes > self.protected_cap {
                    let demoted = self.table.list(PROTECTED).tail;
                    if self.table.node(demoted).is_none() {
                        break;
                    }
                    self.table.move_to_list(demoted, PROBATION);
                }
            }
            _ => self.table.move_to_head(idx),
        }
    }

    /// Offers the window's tail `idx` to the main cache: moves it to probation or removes it.
    fn admit(&mut self, idx: u32) {
        let Some(&node) = self.table.node(idx) else {
            return;
        };
        let size = u64::from(node.size);
        if size > self.main_cap {
            self.table.remove(idx);
            return;
        }
        let freq = self.sketch.estimate(hash_key(node.key));
        let mut admitted = true;
        while self.main_bytes() + size > self.main_cap {
            let probation = self.table.list(PROBATION);
            let victim = if probation.len == 0 {
                self.table.list(PROTECTED).tail
            } else {
                probation.tail
            };
            let Some(v) = self.table.node(victim) else {
                break;
            };
            if freq > self.sketch.estimate(hash_key(v.key)) {
                self.table.remove(victim);
            } else {
                admitted = false;
                break;
            }
        }
        // Removals may have moved the candidate: find it again.
        let Some(idx) = self.table.find(node.key) else {
            return;
        };
        if admitted {
            self.table.move_to_list(idx, PROBATION);
        } else {
            self.table.remove(idx);
        }
    }
}

impl Cache for WTinyLfu {
    #[inline]
    fn prefetch(&self, key: u64) {
        self.table.prefetch(key);
    }

    fn access(&mut self, key: u64, size: u32) -> bool {
        self.sketch.increment(hash_key(key));
        if let Some((idx, node)) = self.table.find_mut(key) {
            let tag = node.tag();
            self.on_hit(idx, tag);
            return true;
        }
        let size = self.capacity.charge(size);
        if u64::from(size) > self.capacity.amount {
            return false;
        }
        self.table.insert(key, size, WINDOW, 0);
        while self.table.list(WINDOW).bytes > self.window_cap {
            let candidate = self.table.list(WINDOW).tail;
            if self.table.node(candidate).is_none() {
                break;
            }
            self.admit(candidate);
        }
        if self.table.len() as u64 > self.sketch.width() {
            self.sketch = FrequencySketch::new(self.table.len().saturating_mul(2));
        }
        false
    }

    fn contains(&self, key: u64) -> bool {
        self.table.find(key).is_some()
    }

    fn remove(&mut self, key: u64) -> bool {
        self.table.remove_key(key)
    }

    fn len(&self) -> usize {
        self.table.len()
    }

    fn used(&self) -> u64 {
        self.table.list(WINDOW).bytes + self.main_bytes()
    }

    fn capacity(&self) -> Capacity {
        self.capacity
    }

    fn policy(&self) -> CachePolicy {
        CachePolicy::WTinyLfu(self.params)
    }
}
