//! SIEVE: a FIFO with a visited bit and a hand.
//!
//! New objects enter at the head unvisited; a hit marks the object visited. To evict, the hand
//! starts where it stopped last time (the tail at first) and walks towards the head, clearing
//! visited bits, until it finds an unvisited object; that object is evicted and the hand rests
//! on its neighbour towards the head, wrapping to the tail past the head. Objects never move.

use super::CachePolicy;
use super::one_list::OneListPolicy;
use super::table::{NIL, Table};

/// SIEVE (a [`super::one_list::OneList`] policy; a hit sets the visited bit, the trait's
/// default). The hand is the table's cursor: the next slot to examine, or [`NIL`] for the
/// tail.
#[derive(Debug)]
pub(crate) struct Sieve;

impl OneListPolicy for Sieve {
    const POLICY: CachePolicy = CachePolicy::Sieve;

    #[inline]
    fn prefetch(table: &Table, key: u64) {
        table.prefetch(key);
    }

    fn evict_one(table: &mut Table) -> bool {
        let tail = table.list(0).tail;
        let mut cur = if table.cursor == NIL {
            tail
        } else {
            table.cursor
        };
        loop {
            let Some(node) = table.node_mut(cur) else {
                return false;
            };
            let visited = node.freq > 0;
            node.freq = 0;
            let prev = node.prev;
            if visited {
                cur = if prev == NIL { tail } else { prev };
            } else {
                // Set before the removal, which keeps the cursor on its node if that moves.
                table.cursor = prev;
                table.remove(cur);
                return true;
            }
        }
    }

    /// Like the default, but a hand on the removed object moves to its neighbour towards the
    /// head, as after an eviction.
    fn remove(table: &mut Table, key: u64) -> bool {
        let Some(idx) = table.find(key) else {
            return false;
        };
        if table.cursor == idx {
            table.cursor = table.node(idx).map_or(NIL, |n| n.prev);
        }
        table.remove(idx);
        true
    }
}
