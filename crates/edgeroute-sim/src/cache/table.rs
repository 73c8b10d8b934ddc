//! The storage every policy shares: an open-addressing hash table whose slots *are* the cached
//! objects' list nodes, with up to three intrusive doubly linked lists threaded through the
//! slots by `u32` slot numbers.
//!
//! A lookup hashes the key to its home slot and probes linearly; the node found holds the key,
//! the links, the size and the policy bits, so a hit costs one cache line (two 32-byte nodes per
//! line) plus, for a policy that reorders on a hit (LRU), the two neighbours. The table is kept
//! at most half full, so a probe is short (about 1.5 slots for a hit, 2.5 for a miss).
//!
//! Deletion shifts the following nodes of the probe run back (no tombstones), so probes stay
//! short under constant churn; a node that moves has its neighbours' links (or its list's
//! head/tail, or the owner's [`Table::cursor`]) repointed. Growth doubles the table and relinks
//! every list in order. Nothing allocates per request once the table has reached the cache's
//! working size.

/// "No slot": the end of a list, or an empty list's head and tail.
pub(crate) const NIL: u32 = u32::MAX;

/// Tag of a vacant slot.
const VACANT_TAG: u8 = u8::MAX;

/// Smallest non-empty table.
const MIN_SLOTS: usize = 16;

/// Most nodes [`Table::with_capacity`] reserves room for up front (16 MiB of slots).
const MAX_RESERVE: u64 = 1 << 18;

/// One cached (or ghost) object: its key, links, size and policy bits. 32 bytes, aligned, so a
/// node never straddles a cache line.
#[derive(Debug, Clone, Copy)]
#[repr(C, align(32))]
pub(crate) struct Node {
    /// The object's key.
    pub(crate) key: u64,
    /// Previous slot in the node's list (towards the head), or [`NIL`].
    pub(crate) prev: u32,
    /// Next slot in the node's list (towards the tail), or [`NIL`].
    pub(crate) next: u32,
    /// Size charged to the cache (1 in object mode).
    pub(crate) size: u32,
    /// Policy-specific frequency or reference bits.
    pub(crate) freq: u16,
    /// Which list the node is on (`0..3`), or [`VACANT_TAG`].
    tag: u8,
}

const VACANT: Node = Node {
    key: 0,
    prev: NIL,
    next: NIL,
    size: 0,
    freq: 0,
    tag: VACANT_TAG,
};

impl Node {
    /// Which list the node is on.
    #[inline]
    pub(crate) fn tag(&self) -> u8 {
        self.tag
    }
}

/// Mixes a key into a well-spread 64-bit hash (the murmur3 finaliser). Fixed, so every run of
/// the same trace decides the same way. (W-TinyLFU's sketch uses it; the table uses the
/// cheaper [`slot_hash`].)
#[inline]
pub(crate) fn hash_key(key: u64) -> u64 {
    let mut x = key ^ 0x9e37_79b9_7f4a_7c15;
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^= x >> 33;
    x
}

/// The table's hash: one 64 x 64 -> 128-bit multiply, folded (both halves xored), so every key
/// bit reaches the low bits the table masks.
#[inline]
fn slot_hash(key: u64) -> u64 {
    let p = u128::from(key ^ 0x243f_6a88_85a3_08d3) * 0x9e37_79b9_7f4a_7c15_u128;
    (p as u64) ^ ((p >> 64) as u64)
}

/// One list's ends and totals.
#[derive(Debug, Clone, Copy)]
pub(crate) struct List {
    /// Most recently pushed node, or [`NIL`].
    pub(crate) head: u32,
    /// Oldest node, or [`NIL`].
    pub(crate) tail: u32,
    /// Number of nodes on the list.
    pub(crate) len: usize,
    /// Sum of the nodes' sizes.
    pub(crate) bytes: u64,
}

impl Default for List {
    fn default() -> Self {
        Self {
            head: NIL,
            tail: NIL,
            len: 0,
            bytes: 0,
        }
    }
}

/// The hash table of nodes and its lists.
#[derive(Debug)]
pub(crate) struct Table {
    /// A power of two of slots, or none.
    slots: Vec<Node>,
    mask: usize,
    /// Occupied slots.
    len: usize,
    lists: [List; 3],
    /// A slot the owner keeps between calls (SIEVE's hand), or [`NIL`]. Follows its node when
    /// the node moves; becomes [`NIL`] if the node is removed.
    pub(crate) cursor: u32,
}

impl Table {
    pub(crate) fn new() -> Self {
        Self {
            slots: Vec::new(),
            mask: 0,
            len: 0,
            lists: [List::default(); 3],
            cursor: NIL,
        }
    }

    /// A table sized for `entries` nodes without growing (at most [`MAX_RESERVE`] of them; a
    /// larger cache grows as it fills).
    pub(crate) fn with_capacity(entries: u64) -> Self {
        let mut t = Self::new();
        let entries = usize::try_from(entries.min(MAX_RESERVE)).unwrap_or(0);
        if entries > 0 {
            let slots = (entries * 2).next_power_of_two().max(MIN_SLOTS);
            t.slots = vec![VACANT; slots];
            t.mask = slots - 1;
        }
        t
    }

    /// Occupied slots (cached and ghost objects).
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// List `tag`'s ends and totals.
    #[inline]
    pub(crate) fn list(&self, tag: u8) -> List {
        self.lists
            .get(usize::from(tag))
            .copied()
            .unwrap_or_default()
    }

    #[inline]
    fn list_mut(&mut self, tag: u8) -> Option<&mut List> {
        self.lists.get_mut(usize::from(tag))
    }

    #[inline]
    fn home(&self, key: u64) -> usize {
        (slot_hash(key) as usize) & self.mask
    }

    /// Starts loading `key`'s home slot (a prefetch, see [`crate::hint`]).
    #[inline]
    pub(crate) fn prefetch(&self, key: u64) {
        if let Some(node) = self.slots.get(self.home(key)) {
            crate::hint::prefetch(node);
        }
    }

    /// The slot holding `key`, if any.
    #[inline]
    pub(crate) fn find(&self, key: u64) -> Option<u32> {
        let mut i = self.home(key);
        loop {
            let n = self.slots.get(i)?;
            if n.tag == VACANT_TAG {
                return None;
            }
            if n.key == key {
                return Some(i as u32);
            }
            i = (i + 1) & self.mask;
        }
    }

    /// The slot holding `key` and its node, if any.
    #[inline]
    pub(crate) fn find_mut(&mut self, key: u64) -> Option<(u32, &mut Node)> {
        let i = self.find(key)?;
        self.slots.get_mut(i as usize).map(|n| (i, n))
    }

    #[inline]
    pub(crate) fn node(&self, idx: u32) -> Option<&Node> {
        self.slots.get(idx as usize).filter(|n| n.tag != VACANT_TAG)
    }

    #[inline]
    pub(crate) fn node_mut(&mut self, idx: u32) -> Option<&mut Node> {
        self.slots
            .get_mut(idx as usize)
            .filter(|n| n.tag != VACANT_TAG)
    }

    /// Inserts `key` (which must not be present) at the head of list `tag`; returns its slot.
    /// May grow the table, which moves every node: slot numbers held across it are stale.
    pub(crate) fn insert(&mut self, key: u64, size: u32, tag: u8, freq: u16) -> u32 {
        if (self.len + 1) * 2 > self.slots.len() {
            self.grow();
        }
        let idx = self.place(Node {
            key,
            prev: NIL,
            next: NIL,
            size,
            freq,
            tag,
        });
        self.link_head(idx, tag);
        idx
    }

    /// Writes `node` into the first vacant slot of its probe run (no linking, no growth).
    fn place(&mut self, node: Node) -> u32 {
        let mut i = self.home(node.key);
        loop {
            match self.slots.get_mut(i) {
                Some(slot) if slot.tag == VACANT_TAG => {
                    *slot = node;
                    self.len += 1;
                    return i as u32;
                }
                Some(_) => i = (i + 1) & self.mask,
                // INVARIANT: the table is never full (at most half), so a vacant slot exists.
                None => return NIL,
            }
        }
    }

    /// Doubles the table and relinks every list in its order.
    #[cold]
    fn grow(&mut self) {
        let slots = (self.slots.len() * 2).max(MIN_SLOTS);
        let old = std::mem::replace(&mut self.slots, vec![VACANT; slots]);
        let lists = std::mem::take(&mut self.lists);
        let cursor = std::mem::replace(&mut self.cursor, NIL);
        self.mask = slots - 1;
        self.len = 0;
        for (tag, list) in (0u8..).zip(lists) {
            // Oldest first, each pushed at the head: the order is kept.
            let mut cur = list.tail;
            while let Some(&node) = old.get(cur as usize) {
                let idx = self.place(Node {
                    prev: NIL,
                    next: NIL,
                    ..node
                });
                self.link_head(idx, tag);
                if cur == cursor {
                    self.cursor = idx;
                }
                cur = node.prev;
            }
        }
    }

    /// Links `idx` (on no list) in at the head of list `tag`.
    #[inline]
    pub(crate) fn link_head(&mut self, idx: u32, tag: u8) {
        let Some(list) = self.lists.get(usize::from(tag)).copied() else {
            return;
        };
        let Some(node) = self.slots.get_mut(idx as usize) else {
            return;
        };
        node.prev = NIL;
        node.next = list.head;
        node.tag = tag;
        let size = node.size;
        match self.slots.get_mut(list.head as usize) {
            Some(h) => h.prev = idx,
            None => {
                if let Some(l) = self.list_mut(tag) {
                    l.tail = idx;
                }
            }
        }
        if let Some(l) = self.list_mut(tag) {
            l.head = idx;
            l.len += 1;
            l.bytes += u64::from(size);
        }
    }

    /// Unlinks `idx` from its list; it stays in the table (and keeps its tag) until it is
    /// linked again or removed.
    #[inline]
    pub(crate) fn unlink(&mut self, idx: u32) {
        let Some(node) = self.slots.get_mut(idx as usize) else {
            return;
        };
        let (prev, next, size, tag) = (node.prev, node.next, node.size, node.tag);
        node.prev = NIL;
        node.next = NIL;
        match self.slots.get_mut(prev as usize) {
            Some(p) => p.next = next,
            None => {
                if let Some(l) = self.list_mut(tag) {
                    l.head = next;
                }
            }
        }
        match self.slots.get_mut(next as usize) {
            Some(n) => n.prev = prev,
            None => {
                if let Some(l) = self.list_mut(tag) {
                    l.tail = prev;
                }
            }
        }
        if let Some(l) = self.list_mut(tag) {
            l.len = l.len.saturating_sub(1);
            l.bytes = l.bytes.saturating_sub(u64::from(size));
        }
    }

    /// Moves `idx` to the head of its own list.
    #[inline]
    pub(crate) fn move_to_head(&mut self, idx: u32) {
        let Some(tag) = self.node(idx).map(|n| n.tag) else {
            return;
        };
        if self.list(tag).head != idx {
            self.unlink(idx);
            self.link_head(idx, tag);
        }
    }

    /// Moves `idx` from its list to the head of list `tag`.
    #[inline]
    pub(crate) fn move_to_list(&mut self, idx: u32, tag: u8) {
        self.unlink(idx);
        self.link_head(idx, tag);
    }

    /// Unlinks `idx` and removes it from the table. Nodes after it in its probe run shift back
    /// into the gap (their neighbours are repointed), so slot numbers other than the list ends
    /// and [`Table::cursor`] are stale afterwards.
    pub(crate) fn remove(&mut self, idx: u32) {
        if self.node(idx).is_none() {
            return;
        }
        self.unlink(idx);
        if self.cursor == idx {
            self.cursor = NIL;
        }
        let mask = self.mask;
        let mut hole = idx as usize;
        let mut j = hole;
        loop {
            j = (j + 1) & mask;
            let Some(&node) = self.slots.get(j) else {
                break;
            };
            if node.tag == VACANT_TAG {
                break;
            }
            // The node at j may move back into the hole unless its home lies in (hole, j].
            let home = self.home(node.key);
            if j.wrapping_sub(home) & mask >= j.wrapping_sub(hole) & mask {
                if let Some(slot) = self.slots.get_mut(hole) {
                    *slot = node;
                }
                self.repoint(j as u32, hole as u32, node);
                hole = j;
            }
        }
        if let Some(slot) = self.slots.get_mut(hole) {
            *slot = VACANT;
        }
        self.len = self.len.saturating_sub(1);
    }

    /// Removes `key`'s node, if there is one ([`Table::remove`]); returns whether there was.
    pub(crate) fn remove_key(&mut self, key: u64) -> bool {
        let Some(idx) = self.find(key) else {
            return false;
        };
        self.remove(idx);
        true
    }

    /// `node` moved from slot `from` to slot `to`: repoints its neighbours (or its list's ends)
    /// and the cursor.
    #[inline]
    fn repoint(&mut self, from: u32, to: u32, node: Node) {
        match self.slots.get_mut(node.prev as usize) {
            Some(p) => p.next = to,
            None => {
                if let Some(l) = self.list_mut(node.tag)
                    && l.head == from
                {
                    l.head = to;
                }
            }
        }
        match self.slots.get_mut(node.next as usize) {
            Some(n) => n.prev = to,
            None => {
                if let Some(l) = self.list_mut(node.tag)
                    && l.tail == from
                {
                    l.tail = to;
                }
            }
        }
        if self.cursor == from {
            self.cursor = to;
        }
    }

    /// Bytes of heap the table holds.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.slots.capacity() * size_of::<Node>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(t: &Table, tag: u8) -> Vec<u64> {
        let mut out = Vec::new();
        let mut cur = t.list(tag).head;
        while let Some(n) = t.node(cur) {
            out.push(n.key);
            cur = n.next;
        }
        out
    }

    /// Walks every list both ways and checks links, totals, tags and that every key is found
    /// at its slot.
    fn check(t: &Table) {
        let mut total = 0;
        for tag in 0..3u8 {
            let list = t.list(tag);
            let (mut len, mut bytes, mut prev, mut cur) = (0, 0, NIL, list.head);
            while let Some(n) = t.node(cur) {
                assert_eq!(n.tag(), tag);
                assert_eq!(n.prev, prev);
                assert_eq!(t.find(n.key), Some(cur));
                len += 1;
                bytes += u64::from(n.size);
                prev = cur;
                cur = n.next;
            }
            assert_eq!(cur, NIL);
            assert_eq!(list.tail, prev);
            assert_eq!((list.len, list.bytes), (len, bytes));
            total += len;
        }
        assert_eq!(total, t.len());
    }

    #[test]
    fn push_unlink_move_and_remove() {
        let mut t = Table::new();
        for k in 1..=3 {
            t.insert(k, k as u32 * 10, 0, 0);
        }
        assert_eq!(keys(&t, 0), [3, 2, 1]);
        assert_eq!(t.list(0).bytes, 60);
        t.move_to_head(t.find(1).unwrap());
        assert_eq!(keys(&t, 0), [1, 3, 2]);
        t.remove(t.find(3).unwrap());
        assert_eq!(keys(&t, 0), [1, 2]);
        assert_eq!(t.find(3), None);
        t.move_to_list(t.find(2).unwrap(), 2);
        assert_eq!((keys(&t, 0), keys(&t, 2)), (vec![1], vec![2]));
        check(&t);
    }

    #[test]
    fn churn_keeps_links_and_probes_consistent() {
        // Many keys, removals from the middle of probe runs, growth, and a cursor.
        let mut t = Table::new();
        let mut live = std::collections::BTreeSet::new();
        let mut x = 12345u64;
        for step in 0..20_000u64 {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let key = (x >> 33) % 3_000;
            let tag = (key % 3) as u8;
            match t.find(key) {
                Some(idx) if step % 3 == 0 => {
                    t.remove(idx);
                    live.remove(&key);
                }
                Some(idx) => t.move_to_head(idx),
                None => {
                    t.insert(key, (key % 7) as u32, tag, 0);
                    live.insert(key);
                }
            }
            if step % 101 == 0 {
                t.cursor = t.list(1).tail;
            }
            if let Some(n) = t.node(t.cursor) {
                assert_eq!(n.tag(), 1, "cursor follows its node");
            }
            if step % 997 == 0 {
                check(&t);
            }
        }
        check(&t);
        assert_eq!(t.len(), live.len());
        for k in 0..3_000 {
            assert_eq!(t.find(k).is_some(), live.contains(&k));
        }
    }
}
