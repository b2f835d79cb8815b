//! The recency index: which origins changed lately, in order of change.

use alloc::collections::VecDeque;
use core::net::SocketAddr;

use crate::packed_map::PackedKey;
use crate::time::Timestamp;

/// `(when an origin last changed, the origin)` pairs in ascending order, a few hundred at most
/// (the store caps it). A `BTreeSet` did the same, but every node enters each newcomer of a
/// join here, and a set's insertion descends the tree calling `SocketAddr`'s out-of-line `Ord`
/// a dozen times: it was a seventh of the instructions of learning 10,000 peers in a catch-up.
/// Changes arrive in time order, so nearly every insertion lands at or near the back, where a
/// ring buffer takes it with a binary search of inlined comparisons and a short shift; the
/// oldest leave from the front.
#[derive(Clone, Debug, Default)]
pub(crate) struct Recency {
    entries: VecDeque<(Timestamp, SocketAddr)>,
}

/// Room kept however small the index gets.
const MIN_ROOM: usize = 16;

impl Recency {
    /// Where `(at, origin)` is, or would go.
    fn position(&self, at: Timestamp, origin: &SocketAddr) -> Result<usize, usize> {
        self.entries
            .binary_search_by(|(t, o)| t.cmp(&at).then_with(|| o.fast_cmp(origin)))
    }

    /// Enters `origin` as changed at `at`; false if it was already entered so.
    pub fn insert(&mut self, at: Timestamp, origin: SocketAddr) -> bool {
        match self.position(at, &origin) {
            Ok(_) => false,
            Err(i) => {
                self.entries.insert(i, (at, origin));
                true
            }
        }
    }

    /// Removes `origin`'s entry as changed at `at`, if there is one.
    pub fn remove(&mut self, at: Timestamp, origin: &SocketAddr) {
        if let Ok(i) = self.position(at, origin) {
            self.entries.remove(i);
            self.release();
        }
    }

    /// The oldest entry.
    pub fn first(&self) -> Option<&(Timestamp, SocketAddr)> {
        self.entries.front()
    }

    /// Removes the oldest entry.
    pub fn pop_first(&mut self) {
        self.entries.pop_front();
        self.release();
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Every entry, oldest first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &(Timestamp, SocketAddr)> {
        self.entries.iter()
    }

    /// Gives back room once the index has shrunk to a quarter of it: after a join the index is
    /// full, and in a quiet cluster it empties as the hot window passes.
    fn release(&mut self) {
        let len = self.entries.len();
        if self.entries.capacity() > MIN_ROOM.max(4 * len) {
            self.entries.shrink_to(MIN_ROOM.max(2 * len));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::collections::BTreeSet;
    use alloc::vec::Vec;
    use proptest::prelude::*;

    #[derive(Clone, Debug)]
    enum Op {
        Insert(u64, u16),
        Remove(u64, u16),
        PopFirst,
    }

    fn op() -> impl Strategy<Value = Op> {
        // Few times and addresses, so entries meet again; times mostly rise, as in a node.
        prop_oneof![
            6 => (0u64..40, 0u16..30).prop_map(|(t, a)| Op::Insert(t, a)),
            2 => (0u64..40, 0u16..30).prop_map(|(t, a)| Op::Remove(t, a)),
            1 => Just(Op::PopFirst),
        ]
    }

    fn addr(a: u16) -> SocketAddr {
        // Both families: V4 compares inline, V6 falls back to `Ord`.
        if a.is_multiple_of(3) {
            SocketAddr::from(([0xfd00, 0, 0, 0, 0, 0, 0, a], 7000))
        } else {
            SocketAddr::from(([10, 0, (a >> 8) as u8, a as u8], 7000 + a % 2))
        }
    }

    proptest! {
        /// Orders, finds and drops entries as a `BTreeSet` of the same pairs does.
        #[test]
        fn behaves_as_a_btree_set(ops in proptest::collection::vec(op(), 0..400)) {
            let mut model = BTreeSet::new();
            let mut index = Recency::default();
            for op in ops {
                match op {
                    Op::Insert(t, a) => {
                        let x = (Timestamp::from_millis(t), addr(a));
                        prop_assert_eq!(index.insert(x.0, x.1), model.insert(x));
                    }
                    Op::Remove(t, a) => {
                        let x = (Timestamp::from_millis(t), addr(a));
                        index.remove(x.0, &x.1);
                        model.remove(&x);
                    }
                    Op::PopFirst => {
                        index.pop_first();
                        model.pop_first();
                    }
                }
                prop_assert_eq!(index.len(), model.len());
                prop_assert_eq!(index.first(), model.first());
                prop_assert!(index.entries.capacity() <= MIN_ROOM.max(4 * index.len()) * 2);
            }
            let forward: Vec<_> = index.iter().collect();
            prop_assert_eq!(forward, model.iter().collect::<Vec<_>>());
            prop_assert!(index.iter().rev().eq(model.iter().rev()));
        }
    }
}
