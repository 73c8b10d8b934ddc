//! Storage for the queue-ordered policies (LRU, S3-FIFO): an open-addressing hash table of
//! small nodes with an occupancy bitmap, and FIFO rings of keys that give the order.
//!
//! Unlike [`super::table::Table`], nodes carry no list links. A queue is a [`Ring`] of keys in
//! push order; each node remembers which ring holds its current entry and that entry's
//! position ([`Ring::push`] numbers entries in order). An entry whose node has since been
//! pushed again, moved to another ring or removed is *stale*: the owner skips it when it
//! pops it, by comparing positions. So moving an object to the back of a queue is one push
//! (no neighbours to rewrite), and removing a node from the table never has to repoint
//! anything: deletion shifts the rest of its probe run back (no tombstones).
//!
//! The bitmap (one bit per slot, 32 KiB for 262,144 slots) stays in the fast caches, so a
//! lookup that ends on an empty home slot touches no node at all.

use std::collections::VecDeque;

/// Smallest non-empty table.
const MIN_SLOTS: usize = 16;

/// Most nodes [`Slots::with_capacity`] reserves room for up front (a larger cache grows).
const MAX_RESERVE: u64 = 1 << 18;

/// A node of a [`Slots`] table.
pub(crate) trait SlotNode: Copy {
    /// An unused node (its contents mean nothing).
    const EMPTY: Self;
    /// The node's key.
    fn key(&self) -> u64;
}

/// The table's hash: one 64 x 64 -> 128-bit multiply, folded, so every key bit reaches the
/// low bits the table masks. Fixed: every run of the same trace decides the same way.
#[inline]
fn slot_hash(key: u64) -> u64 {
    let p = u128::from(key ^ 0x243f_6a88_85a3_08d3) * 0x9e37_79b9_7f4a_7c15_u128;
    (p as u64) ^ ((p >> 64) as u64)
}

/// An open-addressing (linear probing, at most half full) hash table of nodes, keyed by
/// [`SlotNode::key`], with an occupancy bitmap.
#[derive(Debug)]
pub(crate) struct Slots<N> {
    /// A power of two of nodes, or none.
    nodes: Vec<N>,
    /// Bit `i` set: node `i` is occupied.
    occupied: Vec<u64>,
    mask: usize,
    len: usize,
}

impl<N: SlotNode> Slots<N> {
    /// A table sized for `entries` nodes without growing (at most [`MAX_RESERVE`] of them).
    pub(crate) fn with_capacity(entries: u64) -> Self {
        let entries = usize::try_from(entries.min(MAX_RESERVE)).unwrap_or(0);
        let mut t = Self {
            nodes: Vec::new(),
            occupied: Vec::new(),
            mask: 0,
            len: 0,
        };
        if entries > 0 {
            t.reset((entries * 2).next_power_of_two().max(MIN_SLOTS));
        }
        t
    }

    /// Empties the table and gives it `slots` slots (a power of two).
    fn reset(&mut self, slots: usize) {
        self.nodes = vec![N::EMPTY; slots];
        self.occupied = vec![0; slots.div_ceil(64)];
        self.mask = slots - 1;
        self.len = 0;
    }

    /// Occupied slots.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    #[inline]
    fn home(&self, key: u64) -> usize {
        (slot_hash(key) as usize) & self.mask
    }

    #[inline]
    fn is_occupied(&self, i: usize) -> bool {
        self.occupied
            .get(i >> 6)
            .is_some_and(|w| (w >> (i & 63)) & 1 != 0)
    }

    #[inline]
    fn set_occupied(&mut self, i: usize, on: bool) {
        if let Some(w) = self.occupied.get_mut(i >> 6) {
            if on {
                *w |= 1 << (i & 63);
            } else {
                *w &= !(1 << (i & 63));
            }
        }
    }

    /// Starts loading `key`'s home slot (a prefetch, see [`crate::hint`]), so that the
    /// line is there, or on its way, when `key` is looked up a little later.
    #[inline]
    pub(crate) fn prefetch(&self, key: u64) {
        if let Some(node) = self.nodes.get(self.home(key)) {
            crate::hint::prefetch(node);
        }
    }

    /// The slot holding `key`, if any.
    #[inline]
    pub(crate) fn find(&self, key: u64) -> Option<usize> {
        let mut i = self.home(key);
        loop {
            if !self.is_occupied(i) {
                return None;
            }
            if self.nodes.get(i)?.key() == key {
                return Some(i);
            }
            i = (i + 1) & self.mask;
        }
    }

    /// The node at slot `i` (occupied or not).
    #[inline]
    pub(crate) fn get(&self, i: usize) -> Option<&N> {
        self.nodes.get(i)
    }

    /// The node at slot `i` (occupied or not).
    #[inline]
    pub(crate) fn get_mut(&mut self, i: usize) -> Option<&mut N> {
        self.nodes.get_mut(i)
    }

    /// The node holding `key`, if any.
    #[inline]
    pub(crate) fn find_mut(&mut self, key: u64) -> Option<(usize, &mut N)> {
        let i = self.find(key)?;
        self.nodes.get_mut(i).map(|n| (i, n))
    }

    /// Inserts `node` (whose key must not be present). May grow the table, which moves every
    /// node.
    pub(crate) fn insert(&mut self, node: N) {
        if (self.len + 1) * 2 > self.nodes.len() {
            self.grow();
        }
        self.place(node);
    }

    /// Writes `node` into the first vacant slot of its probe run (no growth).
    fn place(&mut self, node: N) {
        let mut i = self.home(node.key());
        // INVARIANT: the table is at most half full, so a vacant slot exists.
        for _ in 0..=self.mask {
            if !self.is_occupied(i) {
                if let Some(slot) = self.nodes.get_mut(i) {
                    *slot = node;
                }
                self.set_occupied(i, true);
                self.len += 1;
                return;
            }
            i = (i + 1) & self.mask;
        }
    }

    /// Doubles the table.
    #[cold]
    fn grow(&mut self) {
        let slots = (self.nodes.len() * 2).max(MIN_SLOTS);
        let old_nodes = std::mem::take(&mut self.nodes);
        let old_occupied = std::mem::take(&mut self.occupied);
        self.reset(slots);
        for (i, node) in old_nodes.into_iter().enumerate() {
            if old_occupied
                .get(i >> 6)
                .is_some_and(|w| (w >> (i & 63)) & 1 != 0)
            {
                self.place(node);
            }
        }
    }

    /// Removes the node at slot `i`. Nodes after it in its probe run shift back into the gap,
    /// so slot numbers held across it are stale.
    pub(crate) fn remove(&mut self, i: usize) {
        if !self.is_occupied(i) {
            return;
        }
        let mask = self.mask;
        let mut hole = i;
        let mut j = i;
        loop {
            j = (j + 1) & mask;
            if !self.is_occupied(j) {
                break;
            }
            let Some(&node) = self.nodes.get(j) else {
                break;
            };
            // The node at j may move back into the hole unless its home lies in (hole, j].
            let home = self.home(node.key());
            if j.wrapping_sub(home) & mask >= j.wrapping_sub(hole) & mask {
                if let Some(slot) = self.nodes.get_mut(hole) {
                    *slot = node;
                }
                hole = j;
            }
        }
        self.set_occupied(hole, false);
        self.len = self.len.saturating_sub(1);
    }

    /// Bytes of heap the table holds.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.nodes.capacity() * size_of::<N>() + self.occupied.capacity() * 8
    }
}

/// A FIFO of keys whose entries are numbered in push order (the number wraps at 2^32; an
/// owner keeps a ring shorter than that by compacting it, so numbers of entries present at
/// the same time never collide).
#[derive(Debug, Default)]
pub(crate) struct Ring {
    keys: VecDeque<u64>,
    /// Entries ever pushed.
    pushed: u64,
}

impl Ring {
    /// Appends `key`; returns its entry's number.
    #[inline]
    pub(crate) fn push(&mut self, key: u64) -> u32 {
        let pos = self.pushed as u32;
        self.keys.push_back(key);
        self.pushed += 1;
        pos
    }

    /// Removes the oldest entry: its key and number.
    #[inline]
    pub(crate) fn pop(&mut self) -> Option<(u64, u32)> {
        let pos = self.pushed.wrapping_sub(self.keys.len() as u64) as u32;
        let key = self.keys.pop_front()?;
        Some((key, pos))
    }

    /// The oldest entry's key (stale or not), without removing it.
    #[inline]
    pub(crate) fn front(&self) -> Option<u64> {
        self.keys.front().copied()
    }

    /// Entries, stale ones included.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }

    /// Takes every entry out, oldest first, with its number (for compaction: the owner pushes
    /// the live ones back, which renumbers them).
    pub(crate) fn drain(&mut self) -> Vec<(u64, u32)> {
        let mut out = Vec::with_capacity(self.keys.len());
        while let Some(e) = self.pop() {
            out.push(e);
        }
        self.keys.shrink_to(out.len() / 2);
        out
    }

    /// Bytes of heap the ring holds.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.keys.capacity() * 8
    }
}

/// Whether a ring of `entries` entries of which `live` are live should be compacted: when
/// stale entries outnumber live ones several times over (or the ring nears the numbering's
/// range). Compaction costs one lookup per entry, so this keeps it rare.
#[inline]
pub(crate) fn needs_compaction(entries: usize, live: usize) -> bool {
    entries > 8 * live + 4096 || entries >= (1 << 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq)]
    struct N(u64);
    impl SlotNode for N {
        const EMPTY: Self = N(0);
        fn key(&self) -> u64 {
            self.0
        }
    }

    #[test]
    fn insert_find_remove_under_churn_and_growth() {
        let mut t: Slots<N> = Slots::with_capacity(0);
        let mut live = std::collections::BTreeSet::new();
        let mut x = 99u64;
        for _ in 0..30_000 {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let key = (x >> 33) % 4_000;
            match t.find(key) {
                Some(i) => {
                    assert_eq!(t.get(i), Some(&N(key)));
                    t.remove(i);
                    live.remove(&key);
                }
                None => {
                    t.insert(N(key));
                    live.insert(key);
                }
            }
        }
        assert_eq!(t.len(), live.len());
        for k in 0..4_000 {
            assert_eq!(t.find(k).is_some(), live.contains(&k), "key {k}");
        }
    }

    #[test]
    fn ring_numbers_entries_in_order() {
        let mut r = Ring::default();
        assert_eq!((r.push(7), r.push(8), r.push(9)), (0, 1, 2));
        assert_eq!(r.pop(), Some((7, 0)));
        assert_eq!(r.push(10), 3);
        assert_eq!(r.drain(), [(8, 1), (9, 2), (10, 3)]);
        assert_eq!(r.len(), 0);
        assert_eq!(r.push(11), 4);
    }
}
