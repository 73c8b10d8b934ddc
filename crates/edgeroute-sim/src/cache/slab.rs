//! The storage every policy shares: a slab of nodes in one `Vec`, an index from key to slot, and
//! intrusive doubly linked lists threaded through the slab by `u32` slot numbers.
//!
//! Nothing here allocates per request once the slab and the index have grown to the cache's
//! working size: freed slots are reused through a free list, and the index stores only slot
//! numbers (the key lives in the node, which a lookup touches anyway).

use hashbrown::HashTable;

/// "No slot": the end of a list, or an empty list's head and tail.
pub(crate) const NIL: u32 = u32::MAX;

/// One cached (or ghost) object's links and size.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Node {
    /// The object's key.
    pub(crate) key: u64,
    /// Previous slot in the node's list (towards the head), or [`NIL`].
    pub(crate) prev: u32,
    /// Next slot in the node's list (towards the tail), or [`NIL`]; links the free list too.
    pub(crate) next: u32,
    /// Size charged to the cache (1 in object mode).
    pub(crate) size: u32,
    /// The index bucket holding this slot's entry when last seen: a hint that saves a probe
    /// (checked, since a rehash moves entries).
    bucket: u32,
}

/// A key's index entry, holding the policy state a hit touches, so a hit on CLOCK, SIEVE or
/// S3-FIFO touches the index alone and not the node.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Entry {
    key: u64,
    idx: u32,
    /// Policy-specific frequency or reference bits.
    pub(crate) freq: u16,
    /// Policy-specific tag: which list the node is on.
    pub(crate) tag: u8,
}

impl Entry {
    /// The entry's slot.
    #[inline]
    pub(crate) fn idx(&self) -> u32 {
        self.idx
    }
}

/// Mixes a key into a well-spread 64-bit hash (the murmur3 finaliser). Fixed, so every run of
/// the same trace probes the same way.
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

/// Nodes plus the key index.
#[derive(Debug, Default)]
pub(crate) struct Slab {
    nodes: Vec<Node>,
    /// Head of the free list (threaded through `next`), or [`NIL`].
    free: u32,
    /// Live slots (cached and ghost).
    live: usize,
    index: HashTable<Entry>,
}

impl Slab {
    pub(crate) fn new() -> Self {
        Self {
            nodes: Vec::new(),
            free: NIL,
            live: 0,
            index: HashTable::new(),
        }
    }

    /// Number of live slots.
    #[inline]
    pub(crate) fn live(&self) -> usize {
        self.live
    }

    /// The slot holding `key`, if any.
    #[inline]
    pub(crate) fn find(&self, key: u64) -> Option<u32> {
        self.index
            .find(hash_key(key), |e| e.key == key)
            .map(|e| e.idx)
    }

    /// The index entry of `key`, if any.
    #[inline]
    pub(crate) fn entry(&self, key: u64) -> Option<&Entry> {
        self.index.find(hash_key(key), |e| e.key == key)
    }

    /// The index entry of `key`, mutably, if any.
    #[inline]
    pub(crate) fn entry_mut(&mut self, key: u64) -> Option<&mut Entry> {
        self.index.find_mut(hash_key(key), |e| e.key == key)
    }

    /// The index entry of slot `idx` (through the bucket hint, refreshed if stale).
    #[inline]
    pub(crate) fn meta_mut(&mut self, idx: u32) -> Option<&mut Entry> {
        let node = self.nodes.get_mut(idx as usize)?;
        let hinted = self
            .index
            .get_bucket(node.bucket as usize)
            .is_some_and(|e| e.idx == idx);
        if !hinted {
            let bucket = self
                .index
                .find_bucket_index(hash_key(node.key), |e| e.idx == idx)?;
            node.bucket = u32::try_from(bucket).unwrap_or(NIL);
        }
        self.index.get_bucket_mut(node.bucket as usize)
    }

    #[inline]
    pub(crate) fn get(&self, idx: u32) -> Option<&Node> {
        self.nodes.get(idx as usize)
    }

    #[inline]
    pub(crate) fn get_mut(&mut self, idx: u32) -> Option<&mut Node> {
        self.nodes.get_mut(idx as usize)
    }

    /// Allocates a slot for `key` (which must not be present) and indexes it. The node is not on
    /// any list yet.
    pub(crate) fn alloc(&mut self, key: u64, size: u32, tag: u8) -> u32 {
        let node = Node {
            key,
            prev: NIL,
            next: NIL,
            size,
            bucket: NIL,
        };
        let idx = if let Some(slot) = self.nodes.get_mut(self.free as usize) {
            let idx = self.free;
            self.free = slot.next;
            *slot = node;
            idx
        } else {
            // INVARIANT: fewer than u32::MAX live objects; a cache that large would need hundreds
            // of GiB of memory for its nodes alone.
            let idx = u32::try_from(self.nodes.len()).unwrap_or(NIL - 1);
            self.nodes.push(node);
            idx
        };
        let entry = Entry {
            key,
            idx,
            freq: 0,
            tag,
        };
        let bucket = self
            .index
            .insert_unique(hash_key(key), entry, |e| hash_key(e.key))
            .bucket_index();
        if let Some(node) = self.nodes.get_mut(idx as usize) {
            node.bucket = u32::try_from(bucket).unwrap_or(NIL);
        }
        self.live += 1;
        idx
    }

    /// Unindexes slot `idx` and puts it on the free list. The caller has unlinked it already.
    pub(crate) fn release(&mut self, idx: u32) {
        let Some(node) = self.nodes.get_mut(idx as usize) else {
            return;
        };
        let (key, bucket) = (node.key, node.bucket as usize);
        node.next = self.free;
        node.prev = NIL;
        self.free = idx;
        // A bucket holding this slot number is this node's: each slot is indexed once.
        match self.index.get_bucket_entry(bucket) {
            Ok(entry) if entry.get().idx == idx => {
                entry.remove();
            }
            _ => {
                if let Ok(entry) = self.index.find_entry(hash_key(key), |e| e.idx == idx) {
                    entry.remove();
                }
            }
        }
        self.live = self.live.saturating_sub(1);
    }

    /// Bytes of heap this slab holds (nodes and index), for memory accounting.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.nodes.capacity() * size_of::<Node>() + self.index.capacity() * (size_of::<Entry>() + 1)
    }
}

/// An intrusive doubly linked list over a [`Slab`]: head is the most recently inserted end.
#[derive(Debug, Clone, Copy)]
pub(crate) struct List {
    pub(crate) head: u32,
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

impl List {
    /// Links `idx` in at the head.
    #[inline]
    pub(crate) fn push_head(&mut self, slab: &mut Slab, idx: u32) {
        let old_head = self.head;
        let Some(node) = slab.get_mut(idx) else {
            return;
        };
        node.prev = NIL;
        node.next = old_head;
        let size = node.size;
        match slab.get_mut(old_head) {
            Some(h) => h.prev = idx,
            None => self.tail = idx,
        }
        self.head = idx;
        self.len += 1;
        self.bytes += u64::from(size);
    }

    /// Unlinks `idx`, which must be on this list.
    #[inline]
    pub(crate) fn unlink(&mut self, slab: &mut Slab, idx: u32) {
        let Some(node) = slab.get_mut(idx) else {
            return;
        };
        let (prev, next, size) = (node.prev, node.next, node.size);
        node.prev = NIL;
        node.next = NIL;
        match slab.get_mut(prev) {
            Some(p) => p.next = next,
            None => self.head = next,
        }
        match slab.get_mut(next) {
            Some(n) => n.prev = prev,
            None => self.tail = prev,
        }
        self.len = self.len.saturating_sub(1);
        self.bytes = self.bytes.saturating_sub(u64::from(size));
    }

    /// Moves `idx`, which must be on this list, to the head.
    #[inline]
    pub(crate) fn move_to_head(&mut self, slab: &mut Slab, idx: u32) {
        if self.head != idx {
            self.unlink(slab, idx);
            self.push_head(slab, idx);
        }
    }

    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.head == NIL
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(list: &List, slab: &Slab) -> Vec<u64> {
        let mut out = Vec::new();
        let mut cur = list.head;
        while let Some(n) = slab.get(cur) {
            out.push(n.key);
            cur = n.next;
        }
        out
    }

    #[test]
    fn push_unlink_move_and_reuse_slots() {
        let mut slab = Slab::new();
        let mut list = List::default();
        let a = slab.alloc(1, 10, 0);
        let b = slab.alloc(2, 20, 0);
        let c = slab.alloc(3, 30, 0);
        for i in [a, b, c] {
            list.push_head(&mut slab, i);
        }
        assert_eq!(keys(&list, &slab), [3, 2, 1]);
        assert_eq!(list.bytes, 60);
        list.move_to_head(&mut slab, a);
        assert_eq!(keys(&list, &slab), [1, 3, 2]);
        list.unlink(&mut slab, c);
        slab.release(c);
        assert_eq!(keys(&list, &slab), [1, 2]);
        assert_eq!((list.len, list.bytes), (2, 30));
        assert_eq!(slab.find(3), None);
        assert_eq!(slab.find(2), Some(b));
        let d = slab.alloc(4, 1, 0);
        assert_eq!(d, c, "freed slot is reused");
        assert_eq!(slab.find(4), Some(d));
        assert_eq!(slab.live(), 3);
        list.unlink(&mut slab, a);
        list.unlink(&mut slab, b);
        assert!(list.is_empty());
        assert_eq!(
            (list.head, list.tail, list.len, list.bytes),
            (NIL, NIL, 0, 0)
        );
    }

    #[test]
    fn index_survives_growth() {
        let mut slab = Slab::new();
        for k in 0..10_000u64 {
            slab.alloc(k * 7919, 1, 0);
        }
        for k in 0..10_000u64 {
            assert_eq!(slab.find(k * 7919), Some(u32::try_from(k).unwrap()));
        }
        assert_eq!(slab.find(1), None);
    }
}
