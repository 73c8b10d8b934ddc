//! The local half of the shared counters: per-counter window counts, what is pending, what is in
//! flight, and what Redis last said. Synchronous and sharded; the hot path takes one short lock.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use super::WindowCounts;
use super::remote::{WindowOp, WindowTotals};

/// Identity of one counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct SlotId {
    pub(crate) key: u64,
    pub(crate) period_ms: u64,
}

/// One window of one counter.
#[derive(Debug, Clone, Copy, Default)]
struct Window {
    index: u64,
    /// Every instance's total as Redis last reported it (includes our flushed increments).
    remote: u64,
    /// Our increments not yet sent.
    pending: u64,
    /// Our increments sent in the sync that is under way.
    inflight: u64,
}

impl Window {
    fn new(index: u64) -> Self {
        Window {
            index,
            ..Window::default()
        }
    }

    fn count(&self) -> u64 {
        self.remote
            .saturating_add(self.pending)
            .saturating_add(self.inflight)
    }
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    current: Window,
    previous: Window,
    /// Counted or read since the last sync.
    touched: bool,
    /// End of a mitigation this instance started, whole seconds since the epoch (0: none).
    mitigated_until_s: u32,
}

impl Slot {
    fn new(window: u64) -> Self {
        Slot {
            current: Window::new(window),
            previous: Window::new(window.saturating_sub(1)),
            touched: false,
            mitigated_until_s: 0,
        }
    }

    /// Moves the slot to `window` (no-op when it is there; a clock running backwards counts into
    /// the newest window the slot knows).
    fn roll(&mut self, window: u64) {
        if window <= self.current.index {
            return;
        }
        if window == self.current.index.saturating_add(1) {
            self.previous = self.current;
        } else {
            self.previous = Window::new(window.saturating_sub(1));
        }
        self.current = Window::new(window);
    }

    fn counts(&self) -> WindowCounts {
        WindowCounts {
            previous: self.previous.count(),
            current: self.current.count(),
        }
    }
}

type Shard = HashMap<SlotId, Slot, foldhash::fast::FixedState>;

/// Sharded counter table.
#[derive(Debug)]
pub(crate) struct Table {
    shards: Box<[Mutex<Shard>]>,
    max_per_shard: usize,
}

const SHARDS: usize = 16;

fn lock(m: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    // A panic while holding the lock cannot leave a slot half-written in a way that matters for
    // counting (every field is a plain integer), so keep going with the data.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Table {
    pub(crate) fn new(max_keys: usize) -> Self {
        let shards = (0..SHARDS)
            .map(|_| Mutex::new(Shard::default()))
            .collect::<Vec<_>>()
            .into_boxed_slice();
        Table {
            shards,
            max_per_shard: (max_keys / SHARDS).max(1),
        }
    }

    fn shard(&self, id: &SlotId) -> Option<&Mutex<Shard>> {
        let h = id.key ^ id.period_ms.rotate_left(41);
        // INVARIANT: SHARDS is a power of two and `shards.len() == SHARDS`.
        let i = usize::try_from(h.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 60).unwrap_or(0);
        self.shards.get(i % SHARDS)
    }

    /// Adds `by` to the counter's window `window` and returns its counts after that.
    #[cfg(test)]
    pub(crate) fn add(&self, id: SlotId, window: u64, by: u64) -> WindowCounts {
        self.update(id, window, |c, _| (by, c.plus(by)))
    }

    /// Runs `f` on the counter's counts in window `window` (ours and others', as known, before
    /// this request) and its mitigation end, under the counter's lock; `f` returns how many
    /// requests to add and a result.
    pub(crate) fn update<R>(
        &self,
        id: SlotId,
        window: u64,
        f: impl FnOnce(WindowCounts, &mut u32) -> (u64, R),
    ) -> R
    where
        R: Default,
    {
        let Some(shard) = self.shard(&id) else {
            return R::default();
        };
        let mut map = lock(shard);
        if !map.contains_key(&id) && map.len() >= self.max_per_shard {
            evict_one(&mut map);
        }
        let slot = map.entry(id).or_insert_with(|| Slot::new(window));
        slot.roll(window);
        let before = slot.counts();
        let (by, out) = f(before, &mut slot.mitigated_until_s);
        slot.current.pending = slot.current.pending.saturating_add(by);
        slot.touched = true;
        out
    }

    /// Number of counters held.
    pub(crate) fn len(&self) -> usize {
        self.shards.iter().map(|s| lock(s).len()).sum()
    }

    /// Collects the ops of the next sync, moving pending increments in flight. Counters whose
    /// newest window is older than the previous window at `now_ms` are dropped. With `refresh`,
    /// every live counter is included (to read others' totals); otherwise only touched ones.
    pub(crate) fn take_ops(&self, now_ms: u64, refresh: bool, out: &mut Vec<WindowOp>) {
        for shard in &self.shards {
            let mut map = lock(shard);
            map.retain(|id, slot| {
                let period = id.period_ms.max(1);
                let now_window = now_ms / period;
                if slot.current.index.saturating_add(1) < now_window {
                    return false;
                }
                let has_pending = slot.current.pending > 0 || slot.previous.pending > 0;
                if !(refresh || slot.touched || has_pending) {
                    return true;
                }
                out.push(WindowOp {
                    key: id.key,
                    period_ms: period,
                    window: slot.current.index,
                    delta_current: slot.current.pending,
                    delta_previous: slot.previous.pending,
                    now_ms,
                });
                slot.current.inflight = slot.current.inflight.saturating_add(slot.current.pending);
                slot.current.pending = 0;
                slot.previous.inflight =
                    slot.previous.inflight.saturating_add(slot.previous.pending);
                slot.previous.pending = 0;
                slot.touched = false;
                true
            });
        }
    }

    /// Applies what Redis answered for `ops` (same order).
    pub(crate) fn complete(&self, ops: &[WindowOp], totals: &[WindowTotals]) {
        for (op, t) in ops.iter().zip(totals) {
            self.with_slot(op, |slot| {
                settle(slot, op.window, op.delta_current, Some(t.current));
                settle(
                    slot,
                    op.window.saturating_sub(1),
                    op.delta_previous,
                    Some(t.previous),
                );
            });
        }
    }

    /// Puts the in-flight increments of a failed sync back to pending, to be sent again.
    pub(crate) fn fail(&self, ops: &[WindowOp]) {
        for op in ops {
            self.with_slot(op, |slot| {
                settle(slot, op.window, op.delta_current, None);
                settle(slot, op.window.saturating_sub(1), op.delta_previous, None);
            });
        }
    }

    fn with_slot(&self, op: &WindowOp, f: impl FnOnce(&mut Slot)) {
        let id = SlotId {
            key: op.key,
            period_ms: op.period_ms,
        };
        if let Some(shard) = self.shard(&id)
            && let Some(slot) = lock(shard).get_mut(&id)
        {
            f(slot);
        }
    }
}

/// Settles `delta` in-flight increments of window `index`: with Redis's total on success, back to
/// pending on failure. A window the slot no longer holds is forgotten.
fn settle(slot: &mut Slot, index: u64, delta: u64, total: Option<u64>) {
    for w in [&mut slot.current, &mut slot.previous] {
        if w.index != index {
            continue;
        }
        w.inflight = w.inflight.saturating_sub(delta);
        match total {
            // Never go below what we already knew (the old total plus what we just sent): a
            // restarted, empty Redis must not erase counts this instance has seen.
            Some(t) => w.remote = t.max(w.remote.saturating_add(delta)),
            None => w.pending = w.pending.saturating_add(delta),
        }
        return;
    }
}

fn evict_one(map: &mut Shard) {
    let victim = map
        .iter()
        .take(8)
        .min_by_key(|(_, s)| s.current.index)
        .map(|(id, _)| *id);
    if let Some(id) = victim {
        map.remove(&id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(key: u64) -> SlotId {
        SlotId {
            key,
            period_ms: 1000,
        }
    }

    #[test]
    fn counts_roll_from_current_to_previous_window() {
        let t = Table::new(100);
        assert_eq!(t.add(id(1), 5, 1).current, 1);
        assert_eq!(t.add(id(1), 5, 1).current, 2);
        let c = t.add(id(1), 6, 1);
        assert_eq!((c.previous, c.current), (2, 1));
        let c = t.add(id(1), 8, 1);
        assert_eq!(
            (c.previous, c.current),
            (0, 1),
            "a skipped window resets both"
        );
        let c = t.add(id(1), 7, 1);
        assert_eq!(
            (c.previous, c.current),
            (0, 2),
            "late arrivals count in the newest window"
        );
    }

    #[test]
    fn sync_replaces_own_increments_with_the_shared_total() {
        let t = Table::new(100);
        t.add(id(1), 5, 3);
        let mut ops = Vec::new();
        t.take_ops(5_500, false, &mut ops);
        assert_eq!(ops.len(), 1);
        assert_eq!(ops[0].delta_current, 3);
        // Counted while the sync is in flight.
        assert_eq!(t.add(id(1), 5, 1).current, 4);
        // Redis says 10 in total (ours 3 + another instance's 7) and 4 in the previous window.
        t.complete(
            &ops,
            &[WindowTotals {
                current: 10,
                previous: 4,
            }],
        );
        let c = t.add(id(1), 5, 0);
        assert_eq!((c.previous, c.current), (4, 11));
    }

    #[test]
    fn failed_sync_keeps_increments_pending() {
        let t = Table::new(100);
        t.add(id(1), 5, 3);
        let mut ops = Vec::new();
        t.take_ops(5_500, false, &mut ops);
        t.fail(&ops);
        let mut again = Vec::new();
        t.take_ops(5_600, false, &mut again);
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].delta_current, 3);
    }

    #[test]
    fn untouched_counters_sync_only_on_refresh_and_expire() {
        let t = Table::new(100);
        t.add(id(1), 5, 1);
        let mut ops = Vec::new();
        t.take_ops(5_100, false, &mut ops);
        t.complete(&ops, &[WindowTotals::default()]);
        ops.clear();
        t.take_ops(5_200, false, &mut ops);
        assert!(ops.is_empty());
        t.take_ops(5_300, true, &mut ops);
        assert_eq!(ops.len(), 1);
        assert_eq!(ops[0].delta_current, 0);
        ops.clear();
        // Window 7 at 7.0 s: window 5 is neither current nor previous any more.
        t.take_ops(7_000, true, &mut ops);
        assert!(ops.is_empty());
        assert_eq!(t.len(), 0);
    }

    #[test]
    fn a_sync_never_lowers_a_count() {
        let t = Table::new(100);
        t.add(id(1), 5, 3);
        let mut ops = Vec::new();
        t.take_ops(5_100, false, &mut ops);
        t.complete(
            &ops,
            &[WindowTotals {
                current: 3,
                previous: 0,
            }],
        );
        t.add(id(1), 5, 2);
        ops.clear();
        t.take_ops(5_200, false, &mut ops);
        // Redis restarted empty: it only has the 2 just sent.
        t.complete(
            &ops,
            &[WindowTotals {
                current: 2,
                previous: 0,
            }],
        );
        assert_eq!(t.add(id(1), 5, 0).current, 5);
    }

    #[test]
    fn key_budget_is_kept() {
        let t = Table::new(SHARDS * 2);
        for k in 0..1000 {
            t.add(id(k), 5, 1);
        }
        assert!(t.len() <= SHARDS * 2);
    }

    #[test]
    fn a_result_for_a_window_that_rolled_settles_the_previous_window() {
        let t = Table::new(100);
        t.add(id(1), 5, 2);
        let mut ops = Vec::new();
        t.take_ops(5_900, false, &mut ops);
        t.add(id(1), 6, 1);
        t.complete(
            &ops,
            &[WindowTotals {
                current: 9,
                previous: 0,
            }],
        );
        let c = t.add(id(1), 6, 0);
        assert_eq!((c.previous, c.current), (9, 1));
    }
}
