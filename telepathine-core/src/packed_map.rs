//! An ordered map for the per-peer indexes that every node holds for every other node.
//!
//! Every node keeps an origin record, a peer record and a ring position for each peer, so at
//! 10,000 nodes a cluster holds 10^8 of each. Peers arrive in bursts, largely in address order
//! (a catch-up lists origins sorted), and a `BTreeMap` filled in order splits its nodes in two and
//! stays about half full: twice the entries' own size. Here entries live in one sorted vector with
//! no gaps; insertions go to a small `BTreeMap` first and are merged into the vector once that
//! holds more than an eighth of it, so a merge moves each entry a bounded number of times as the
//! map grows (amortised O(1) per insertion) and the map costs its entries' size plus at most an
//! eighth.
//!
//! Iteration, `range` and lookups see one ordered map: the API is the subset of `BTreeMap`'s that
//! the node uses, with the same results, so swapping it in changes no behaviour (the simulator's
//! trace hashes prove that).

use alloc::collections::{BTreeMap, btree_map};
use alloc::vec::Vec;
use core::cmp::Ordering;
use core::ops::{Bound, RangeBounds};

/// Fresh entries below which a merge is never worth a pass over the vector.
const MIN_FRESH: usize = 32;

/// Packed entries below which the binary search stays in a few cache lines and an index
/// would not pay for itself.
const MIN_INDEXED: usize = 64;

/// An empty slot of the index.
const NO_SLOT: u32 = u32::MAX;

/// A key whose comparison the binary search can inline. `SocketAddr`'s `Ord` is an out-of-line
/// call into std and a lookup makes a dozen of them (the call was 22 % of a 1,000-node run's
/// profile); for IPv4, all the simulator's addresses, the inlined comparison is a few
/// instructions.
pub(crate) trait PackedKey: Ord {
    /// The same ordering as `Ord::cmp`, faster.
    fn fast_cmp(&self, other: &Self) -> Ordering {
        self.cmp(other)
    }

    /// A well-mixed hash of the key, for keys looked up one at a time often enough to deserve
    /// a hash index; `None` (the default) leaves lookups to the binary search.
    fn index_hash(&self) -> Option<u64> {
        None
    }
}

impl PackedKey for core::net::SocketAddr {
    #[inline]
    fn fast_cmp(&self, other: &Self) -> Ordering {
        use core::net::SocketAddr::V4;
        match (self, other) {
            // SocketAddrV4 orders by address, then port.
            (V4(a), V4(b)) => (a.ip().to_bits(), a.port()).cmp(&(b.ip().to_bits(), b.port())),
            _ => self.cmp(other),
        }
    }

    #[inline]
    fn index_hash(&self) -> Option<u64> {
        let folded = match self {
            core::net::SocketAddr::V4(a) => u64::from(a.ip().to_bits()) << 16,
            core::net::SocketAddr::V6(a) => {
                let bits = a.ip().to_bits();
                ((bits >> 64) as u64 ^ bits as u64).rotate_left(16) ^ u64::from(a.scope_id())
            }
        } ^ u64::from(self.port());
        Some(mix(folded))
    }
}

/// The splitmix64 finaliser: nearby addresses land far apart in the index.
#[inline]
fn mix(mut h: u64) -> u64 {
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

impl<T: Ord> PackedKey for (T, core::net::SocketAddr) {
    #[inline]
    fn fast_cmp(&self, other: &Self) -> Ordering {
        self.0.cmp(&other.0).then_with(|| self.1.fast_cmp(&other.1))
    }
}

#[cfg(test)]
impl PackedKey for u16 {
    fn index_hash(&self) -> Option<u64> {
        // Few distinct values, so probe sequences collide and wrap in the tests.
        Some(mix(u64::from(*self % 256)))
    }
}
#[cfg(test)]
impl PackedKey for u64 {}

/// A sorted map held as a dense sorted vector plus a small overflow of recent insertions.
#[derive(Clone, Debug)]
pub(crate) struct PackedMap<K, V> {
    /// Sorted by key, keys unique, none of them in `fresh`.
    packed: Vec<(K, V)>,

    /// Insertions since the last merge.
    fresh: BTreeMap<Fast<K>, V>,

    /// Positions in `packed` by key hash (open addressing, linear probing, a power of two in
    /// size and at most two thirds full), when the key has a hash and `packed` is large. A
    /// binary search over thousands of 100-byte entries touches a cache line per step, and a
    /// simulated cluster's lookups nearly all start cold: the index makes that two lines.
    index: Vec<u32>,
}

impl<K, V> Default for PackedMap<K, V> {
    fn default() -> Self {
        PackedMap {
            packed: Vec::new(),
            fresh: BTreeMap::new(),
            index: Vec::new(),
        }
    }
}

impl<K: PackedKey + Clone, V> PackedMap<K, V> {
    /// Number of entries.
    pub fn len(&self) -> usize {
        self.packed.len() + self.fresh.len()
    }

    /// Whether the map holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The position of `key` in `packed`.
    fn find(&self, key: &K) -> Option<usize> {
        if let (false, Some(h)) = (self.index.is_empty(), key.index_hash()) {
            let mask = self.index.len() - 1;
            let mut slot = (h as usize) & mask;
            loop {
                match self.index.get(slot).copied() {
                    None | Some(NO_SLOT) => return None,
                    Some(i) => {
                        let i = i as usize;
                        if self.packed.get(i).is_some_and(|(k, _)| k == key) {
                            return Some(i);
                        }
                    }
                }
                slot = (slot + 1) & mask;
            }
        }
        self.packed.binary_search_by(|(k, _)| k.fast_cmp(key)).ok()
    }

    /// Rebuilds the index after `packed` changed shape.
    fn reindex(&mut self) {
        self.index.clear();
        let hashed = self
            .packed
            .first()
            .is_some_and(|(k, _)| k.index_hash().is_some());
        if !hashed || self.packed.len() < MIN_INDEXED {
            self.index.shrink_to_fit();
            return;
        }
        let slots = (self.packed.len() * 3 / 2).next_power_of_two();
        if self.index.capacity() != slots {
            self.index = Vec::with_capacity(slots);
        }
        self.index.resize(slots, NO_SLOT);
        let mask = slots - 1;
        for (i, (k, _)) in self.packed.iter().enumerate() {
            let mut slot = (k.index_hash().unwrap_or(0) as usize) & mask;
            while self.index.get(slot).is_some_and(|s| *s != NO_SLOT) {
                slot = (slot + 1) & mask;
            }
            if let Some(s) = self.index.get_mut(slot) {
                // Bounded by the peer limit, far below u32::MAX.
                *s = i as u32;
            }
        }
    }

    /// The value under `key`.
    pub fn get(&self, key: &K) -> Option<&V> {
        self.get_key_value(key).map(|(_, v)| v)
    }

    /// The stored key and value under `key`.
    pub fn get_key_value(&self, key: &K) -> Option<(&K, &V)> {
        match self.find(key) {
            Some(i) => self.packed.get(i).map(|(k, v)| (k, v)),
            None => self
                .fresh
                .get_key_value(&Fast::of(key))
                .map(|(k, v)| (&k.0, v)),
        }
    }

    /// The value under `key`, to change.
    pub fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        match self.find(key) {
            Some(i) => self.packed.get_mut(i).map(|(_, v)| v),
            None => self.fresh.get_mut(&Fast::of(key)),
        }
    }

    /// Whether `key` is present.
    pub fn contains_key(&self, key: &K) -> bool {
        self.find(key).is_some() || self.fresh.contains_key(&Fast::of(key))
    }

    /// Stores `value` under `key`; returns the value it replaced.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        if let Some(i) = self.find(&key) {
            return self
                .packed
                .get_mut(i)
                .map(|(_, v)| core::mem::replace(v, value));
        }
        let key = Fast(key);
        if let Some(v) = self.fresh.get_mut(&key) {
            return Some(core::mem::replace(v, value));
        }
        // Only for a new key: a merge would move an existing fresh key into the vector.
        self.make_room();
        self.fresh.insert(key, value)
    }

    /// The value under `key`, inserted with `make` if absent; and whether it was absent.
    pub fn get_or_insert_with(&mut self, key: K, make: impl FnOnce() -> V) -> (&mut V, bool) {
        match self.find(&key) {
            // `find` just returned a valid index.
            Some(i) => (&mut self.packed[i].1, false),
            None => {
                // Merge first: a merge after the insertion would move the entry returned.
                let key = Fast(key);
                if !self.fresh.contains_key(&key) {
                    self.make_room();
                }
                match self.fresh.entry(key) {
                    btree_map::Entry::Occupied(e) => (e.into_mut(), false),
                    btree_map::Entry::Vacant(e) => (e.insert(make()), true),
                }
            }
        }
    }

    /// Removes `key`; returns its value. O(n) for a merged entry (the vector shifts and the
    /// index is rebuilt): peers leave rarely.
    pub fn remove(&mut self, key: &K) -> Option<V> {
        match self.find(key) {
            Some(i) => {
                let (_, v) = self.packed.remove(i);
                self.reindex();
                Some(v)
            }
            None => self.fresh.remove(&Fast::of(key)),
        }
    }

    /// Merges the fresh entries if there are more than the vector can absorb cheaply.
    fn make_room(&mut self) {
        if self.fresh.len() >= MIN_FRESH.max(self.packed.len() / 8) {
            self.pack();
        }
    }

    /// Merges every fresh entry into the vector, sized exactly.
    pub fn pack(&mut self) {
        if self.fresh.is_empty() {
            return;
        }
        let fresh = core::mem::take(&mut self.fresh);
        let old = core::mem::take(&mut self.packed);
        let mut merged = Vec::with_capacity(old.len() + fresh.len());
        let mut rest = old.into_iter();
        for (Fast(k), v) in fresh {
            // The vector's entries below this key move as one run. Fresh keys fall about an
            // eighth of the map apart, so a galloping search finds the run's end in a few steps.
            let left = rest.as_slice();
            let mut hi = 1;
            while left
                .get(hi - 1)
                .is_some_and(|(p, _)| p.fast_cmp(&k).is_lt())
            {
                hi *= 2;
            }
            let lo = hi / 2;
            let span = left.get(lo..hi.min(left.len())).unwrap_or(&[]);
            let run = lo + span.partition_point(|(p, _)| p.fast_cmp(&k).is_lt());
            merged.extend(rest.by_ref().take(run));
            merged.push((k, v));
        }
        merged.extend(rest);
        self.packed = merged;
        self.reindex();
    }

    /// Every entry in key order.
    pub fn iter(&self) -> Iter<'_, K, V> {
        Merge::new(self.packed.iter().map(pair), self.fresh.iter().map(unwrap))
    }

    /// Every key in key order.
    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &K> {
        self.iter().map(|(k, _)| k)
    }

    /// Every value in key order.
    pub fn values(&self) -> impl DoubleEndedIterator<Item = &V> {
        self.iter().map(|(_, v)| v)
    }

    /// The entries whose keys fall in `range`, in key order.
    pub fn range<R: RangeBounds<K>>(&self, range: R) -> Range<'_, K, V> {
        let start = match range.start_bound() {
            Bound::Included(s) => self.packed.partition_point(|(k, _)| k.fast_cmp(s).is_lt()),
            Bound::Excluded(s) => self.packed.partition_point(|(k, _)| k.fast_cmp(s).is_le()),
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(e) => self.packed.partition_point(|(k, _)| k.fast_cmp(e).is_le()),
            Bound::Excluded(e) => self.packed.partition_point(|(k, _)| k.fast_cmp(e).is_lt()),
            Bound::Unbounded => self.packed.len(),
        };
        let packed = self.packed.get(start..end.max(start)).unwrap_or(&[]);
        let fresh = self.fresh.range::<Fast<K>, _>((
            range.start_bound().map(Fast::of),
            range.end_bound().map(Fast::of),
        ));
        Merge::new(packed.iter().map(pair), fresh.map(unwrap))
    }
}

impl<K: PackedKey + Clone, V> core::ops::Index<&K> for PackedMap<K, V> {
    type Output = V;

    /// The value under `key`; panics if absent, like `BTreeMap`'s.
    fn index(&self, key: &K) -> &V {
        self.get(key).expect("key present in PackedMap")
    }
}

impl<K: PackedKey + Clone, V> FromIterator<(K, V)> for PackedMap<K, V> {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut map = PackedMap {
            packed: Vec::new(),
            fresh: iter.into_iter().map(|(k, v)| (Fast(k), v)).collect(),
            index: Vec::new(),
        };
        map.pack();
        map
    }
}

/// A key ordered by [`PackedKey::fast_cmp`], so the overflow map's descents use the inlined
/// comparison too.
#[derive(Clone, Copy, Debug)]
#[repr(transparent)]
pub(crate) struct Fast<K>(K);

impl<K: PackedKey + Clone> Fast<K> {
    /// The overflow map's key for a lookup. Keys are addresses: copying one is free.
    fn of(key: &K) -> Fast<K> {
        Fast(key.clone())
    }
}

impl<K: PackedKey> PartialEq for Fast<K> {
    fn eq(&self, other: &Self) -> bool {
        self.0.fast_cmp(&other.0).is_eq()
    }
}

impl<K: PackedKey> Eq for Fast<K> {}

impl<K: PackedKey> PartialOrd for Fast<K> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<K: PackedKey> Ord for Fast<K> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.fast_cmp(&other.0)
    }
}

fn unwrap<'a, K, V>((k, v): (&'a Fast<K>, &'a V)) -> (&'a K, &'a V) {
    (&k.0, v)
}

fn pair<K, V>((k, v): &(K, V)) -> (&K, &V) {
    (k, v)
}

/// The packed half of an iteration.
type PackedIter<'a, K, V> =
    core::iter::Map<core::slice::Iter<'a, (K, V)>, fn(&'a (K, V)) -> (&'a K, &'a V)>;

/// The overflow half of an iteration.
type FreshIter<I, K, V> = core::iter::Map<I, for<'a> fn((&'a Fast<K>, &'a V)) -> (&'a K, &'a V)>;

/// [`PackedMap::iter`]'s iterator.
pub(crate) type Iter<'a, K, V> =
    Merge<PackedIter<'a, K, V>, FreshIter<btree_map::Iter<'a, Fast<K>, V>, K, V>>;

/// [`PackedMap::range`]'s iterator.
pub(crate) type Range<'a, K, V> =
    Merge<PackedIter<'a, K, V>, FreshIter<btree_map::Range<'a, Fast<K>, V>, K, V>>;

/// Two key-ordered iterators with disjoint keys, merged into one, from either end.
///
/// Each side keeps the item it looked at last from each end: an item is in exactly one of its
/// iterator, its front slot or its back slot, so an exhausted iterator's next item from the
/// front is the one held at the back.
pub(crate) struct Merge<A: Iterator, B: Iterator> {
    a: A,
    b: B,
    a_front: Option<A::Item>,
    a_back: Option<A::Item>,
    b_front: Option<B::Item>,
    b_back: Option<B::Item>,
}

impl<A: Iterator, B: Iterator> Merge<A, B> {
    fn new(a: A, b: B) -> Self {
        Merge {
            a,
            b,
            a_front: None,
            a_back: None,
            b_front: None,
            b_back: None,
        }
    }
}

impl<'a, K: PackedKey + 'a, V: 'a, A, B> Iterator for Merge<A, B>
where
    A: DoubleEndedIterator<Item = (&'a K, &'a V)>,
    B: DoubleEndedIterator<Item = (&'a K, &'a V)>,
{
    type Item = (&'a K, &'a V);

    fn next(&mut self) -> Option<Self::Item> {
        if self.a_front.is_none() {
            self.a_front = self.a.next().or_else(|| self.a_back.take());
        }
        if self.b_front.is_none() {
            self.b_front = self.b.next().or_else(|| self.b_back.take());
        }
        let a_first = match (&self.a_front, &self.b_front) {
            (Some(x), Some(y)) => x.0.fast_cmp(y.0).is_lt(),
            (x, _) => x.is_some(),
        };
        if a_first {
            self.a_front.take()
        } else {
            self.b_front.take()
        }
    }
}

impl<'a, K: PackedKey + 'a, V: 'a, A, B> DoubleEndedIterator for Merge<A, B>
where
    A: DoubleEndedIterator<Item = (&'a K, &'a V)>,
    B: DoubleEndedIterator<Item = (&'a K, &'a V)>,
{
    fn next_back(&mut self) -> Option<Self::Item> {
        if self.a_back.is_none() {
            self.a_back = self.a.next_back().or_else(|| self.a_front.take());
        }
        if self.b_back.is_none() {
            self.b_back = self.b.next_back().or_else(|| self.b_front.take());
        }
        let a_last = match (&self.a_back, &self.b_back) {
            (Some(x), Some(y)) => x.0.fast_cmp(y.0).is_gt(),
            (x, _) => x.is_some(),
        };
        if a_last {
            self.a_back.take()
        } else {
            self.b_back.take()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Clone, Debug)]
    enum Op {
        Insert(u16, u32),
        Remove(u16),
        GetOrInsert(u16, u32),
        Bump(u16),
        Pack,
    }

    fn op() -> impl Strategy<Value = Op> {
        // A small key space, so keys meet again in both halves.
        let key = 0u16..600;
        prop_oneof![
            4 => (key.clone(), any::<u32>()).prop_map(|(k, v)| Op::Insert(k, v)),
            1 => key.clone().prop_map(Op::Remove),
            2 => (key.clone(), any::<u32>()).prop_map(|(k, v)| Op::GetOrInsert(k, v)),
            1 => key.prop_map(Op::Bump),
            1 => Just(Op::Pack),
        ]
    }

    fn bound(kind: u8, k: u16) -> Bound<u16> {
        match kind % 3 {
            0 => Bound::Included(k),
            1 => Bound::Excluded(k),
            _ => Bound::Unbounded,
        }
    }

    proptest! {
        /// Every operation, iteration from both ends and every kind of range give what a
        /// `BTreeMap` gives.
        #[test]
        fn behaves_as_a_btree_map(
            ops in proptest::collection::vec(op(), 0..1500),
            ranges in proptest::collection::vec((any::<u8>(), 0u16..600, any::<u8>(), 0u16..600), 8),
            zigzag in proptest::collection::vec(any::<bool>(), 0..700),
        ) {
            let mut model = BTreeMap::new();
            let mut map = PackedMap::default();
            for op in ops {
                match op {
                    Op::Insert(k, v) => prop_assert_eq!(map.insert(k, v), model.insert(k, v)),
                    Op::Remove(k) => prop_assert_eq!(map.remove(&k), model.remove(&k)),
                    Op::GetOrInsert(k, v) => {
                        let absent = !model.contains_key(&k);
                        let expected = *model.entry(k).or_insert(v);
                        let (got, inserted) = map.get_or_insert_with(k, || v);
                        prop_assert_eq!(*got, expected);
                        prop_assert_eq!(inserted, absent);
                    }
                    Op::Bump(k) => {
                        if let Some(v) = model.get_mut(&k) {
                            *v = v.wrapping_add(1);
                        }
                        if let Some(v) = map.get_mut(&k) {
                            *v = v.wrapping_add(1);
                        }
                    }
                    Op::Pack => map.pack(),
                }
                prop_assert_eq!(map.len(), model.len());
                prop_assert!(map.fresh.len() <= MIN_FRESH.max(map.packed.len() / 8) + 1);
            }
            // The lookups below go through the index whenever the vector is large.
            prop_assert_eq!(map.index.is_empty(), map.packed.len() < MIN_INDEXED);
            prop_assert!(map.iter().eq(model.iter()));
            prop_assert!(map.iter().rev().eq(model.iter().rev()));
            for k in 0..600 {
                prop_assert_eq!(map.get_key_value(&k), model.get_key_value(&k));
                prop_assert_eq!(map.contains_key(&k), model.contains_key(&k));
            }
            for (sk, s, ek, e) in ranges {
                let (s, e) = (bound(sk, s), bound(ek, e));
                // BTreeMap panics on an inverted range; callers never ask for one.
                let inverted = match (s, e) {
                    (Bound::Included(a) | Bound::Excluded(a), Bound::Included(b) | Bound::Excluded(b)) => {
                        a > b || (a == b && (matches!(s, Bound::Excluded(_)) || matches!(e, Bound::Excluded(_))))
                    }
                    _ => false,
                };
                if inverted {
                    continue;
                }
                prop_assert!(map.range((s, e)).eq(model.range((s, e))));
                prop_assert!(map.range((s, e)).rev().eq(model.range((s, e)).rev()));
            }
            // Alternating ends must meet without losing or repeating an entry.
            let mut it = map.iter();
            let mut front = Vec::new();
            let mut back = Vec::new();
            for from_front in zigzag.iter().copied().chain(core::iter::repeat(true)) {
                let next = if from_front { it.next() } else { it.next_back() };
                match next {
                    Some(x) if from_front => front.push(x),
                    Some(x) => back.push(x),
                    None => break,
                }
            }
            front.extend(back.into_iter().rev());
            prop_assert!(front.into_iter().eq(model.iter()));
        }
    }

    proptest! {
        /// The inlined comparison orders addresses exactly as `SocketAddr`'s `Ord` does.
        #[test]
        fn fast_cmp_is_ord(
            a in (any::<[u8; 16]>(), any::<u16>(), any::<bool>(), any::<u8>()),
            b in (any::<[u8; 16]>(), any::<u16>(), any::<bool>(), any::<u8>()),
        ) {
            use core::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
            let make = |(ip, port, v6, near): ([u8; 16], u16, bool, u8)| -> SocketAddr {
                if v6 {
                    SocketAddr::from((Ipv6Addr::from(ip), port))
                } else {
                    // Often the same address on a nearby port, as in a simulated cluster.
                    let ip = Ipv4Addr::new(ip[0] % 2, ip[1] % 2, ip[2], ip[3]);
                    SocketAddr::from((ip, port % 4 + u16::from(near % 2)))
                }
            };
            let (a, b) = (make(a), make(b));
            prop_assert_eq!(a.fast_cmp(&b), a.cmp(&b));
            prop_assert_eq!((7u64, a).fast_cmp(&(7, b)), (7u64, a).cmp(&(7, b)));
        }
    }

    #[test]
    fn an_ascending_fill_costs_about_its_entries() {
        let map: PackedMap<u64, u64> = (0..10_000).map(|k| (k, k)).collect();
        let mut grown = PackedMap::default();
        for k in 0..10_000u64 {
            grown.insert(k, k);
        }
        assert!(map.iter().eq(grown.iter()));
        assert!(grown.fresh.len() <= grown.packed.len() / 8 + 1);
        grown.pack();
        assert_eq!(grown.packed.capacity(), grown.len(), "sized exactly");
        assert!(!grown.is_empty());
    }
}
