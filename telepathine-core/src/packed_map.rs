//! An ordered map for the per-peer indexes that every node holds for every other node.
//!
//! Every node keeps an origin record, a peer record and a ring position for each peer, so at
//! 10,000 nodes a cluster holds 10^8 of each. Peers arrive in bursts, largely in address order
//! (a catch-up lists origins sorted), and a `BTreeMap` filled in order splits its nodes in two and
//! stays about half full: twice the entries' own size. Here entries live in one sorted vector with
//! no gaps; insertions are appended to a small overflow vector (kept in key order by a list of
//! positions) and merged into the sorted one once the overflow holds half as many, so a merge
//! moves each entry a bounded number of times as the map grows (amortised O(1) per insertion)
//! and the map costs its entries' size plus the overflow's growth room. A hash index over both finds
//! addresses in O(1).
//!
//! Iteration, `range` and lookups see one ordered map: the API is the subset of `BTreeMap`'s that
//! the node uses, with the same results, so swapping it in changes no behaviour (the simulator's
//! trace hashes prove that).

use alloc::vec::Vec;
use core::cmp::Ordering;
use core::ops::{Bound, RangeBounds};

/// Fresh entries below which a merge is never worth a pass over the vector.
const MIN_FRESH: usize = 32;

/// Entries below which a search stays in a few cache lines and an index would not pay for
/// itself. Small: a node's lookups nearly all start cold, and a binary search over a few dozen
/// entries of 40 to 150 bytes (then over the overflow, an entry per step) touches a line per
/// step where the index touches two. In a quiet 1,000-node cluster most lookups are in maps of
/// under 80 entries (the traffic counters, replay windows and cookies of the few peers a node
/// talks to): with an index only from 64 entries they cost 2 million binary searches per run.
const MIN_INDEXED: usize = 8;

/// Keys [`PackedMap::warm`] loads at once: enough misses in flight to use the processor's
/// miss buffers, few enough to keep their slots in registers and L1.
const WARM_BATCH: usize = 16;

/// Keys [`PackedMap::warm`] loads at most: a batch's lines must still be cached when the
/// lookups that follow reach them (two lines a key; 256 keys take 32 KB).
const MAX_WARM: usize = 256;

/// Overflow order length from which insertions go to `latest` (see `PackedMap::latest`);
/// small in tests, so the property test reaches it.
#[cfg(not(test))]
const LATEST_FROM: usize = 256;
#[cfg(test)]
const LATEST_FROM: usize = 24;

/// Fewest latest insertions held apart from the ordered overflow (see `PackedMap::latest`).
const MIN_LATEST: usize = 32;

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

    /// The key folded into 64 bits (distinct keys should fold to distinct values; the map mixes
    /// the result with its seed), for keys looked up one at a time often enough to deserve a
    /// hash index; `None` (the default) leaves lookups to the binary search.
    fn index_hash(&self) -> Option<u64> {
        None
    }

    /// 64 bits of the key that order as the key does wherever they differ (a smaller prefix
    /// means a smaller key; equal prefixes leave it to the full comparison). The overflow's
    /// ordered positions carry them, so placing a key compares within one small vector instead
    /// of loading an entry per step. The default (0 for every key) always compares in full.
    fn order_prefix(&self) -> u64 {
        0
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
        Some(folded)
    }

    #[inline]
    fn order_prefix(&self) -> u64 {
        // `SocketAddr` orders every V4 address before every V6 one: the top bit says which.
        match self {
            // Address and port: the whole ordering.
            core::net::SocketAddr::V4(a) => u64::from(a.ip().to_bits()) << 16 | u64::from(a.port()),
            // The address's top 63 bits.
            core::net::SocketAddr::V6(a) => 1 << 63 | (a.ip().to_bits() >> 65) as u64,
        }
    }
}

/// The splitmix64 finaliser: nearby addresses land far apart in the index, and the seed mixed
/// in before it decides where.
#[inline]
pub(crate) fn mix(mut h: u64) -> u64 {
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// The ring's key: a position (already a well-mixed hash of the address) and the address.
impl PackedKey for (u64, core::net::SocketAddr) {
    #[inline]
    fn fast_cmp(&self, other: &Self) -> Ordering {
        self.0.cmp(&other.0).then_with(|| self.1.fast_cmp(&other.1))
    }

    #[inline]
    fn index_hash(&self) -> Option<u64> {
        Some(self.0)
    }

    #[inline]
    fn order_prefix(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
impl PackedKey for u16 {
    fn index_hash(&self) -> Option<u64> {
        // Few distinct values, so probe sequences collide and wrap in the tests.
        Some(u64::from(*self % 256))
    }

    fn order_prefix(&self) -> u64 {
        // Coarse, so that ties fall back to the full comparison.
        u64::from(*self / 4)
    }
}
#[cfg(test)]
impl PackedKey for u64 {}

/// A sorted map held as a dense sorted vector plus a small overflow of recent insertions.
#[derive(Clone, Debug)]
pub(crate) struct PackedMap<K, V> {
    /// Sorted by key, keys unique, none of them in `fresh`.
    packed: Vec<(K, V)>,

    /// Insertions since the last merge, in arrival order (positions stay put until the merge).
    fresh: Vec<(K, V)>,

    /// Positions in `fresh`, sorted by key, each with its key's [`PackedKey::order_prefix`]:
    /// the overflow's order for iteration and ranges, but for the latest insertions.
    order: Vec<Ordered>,

    /// The latest insertions' positions, sorted by key, merged into `order` in one pass once
    /// there are about four times the square root of its length. Inserting each into `order`
    /// directly moved half of it: the peer map is keyed by ring position, so peers arrive in
    /// random order, and at 10,000 nodes a newcomer moved up to 13 KB of positions.
    /// Here an insertion moves a few hundred bytes ([`PackedMap::latest_limit`]).
    latest: Vec<Ordered>,

    /// Every entry's position by key hash (open addressing, linear probing, a power of two in
    /// size and at most two thirds full), when the key has a hash and the map is not tiny;
    /// [`FRESH`] marks a position in `fresh`. A binary search over thousands of 100-byte
    /// entries touches a cache line per step, and a simulated cluster's lookups nearly all
    /// start cold: the index makes a hit two lines and a miss (a newcomer, during a join) one.
    index: Vec<u32>,

    /// Mixed into every key's hash. Keys are peers' addresses, which anyone may choose: with
    /// a fixed hash, addresses picked to share their low bits would pile into one probe run and
    /// turn every lookup into a scan. A node seeds its maps from its own secret randomness.
    seed: u64,
}

/// How the fresh entries at `a` and `b` compare by key: by prefix, then by the keys themselves.
fn by_key<K: PackedKey, V>(fresh: &[(K, V)], a: &Ordered, b: &Ordered) -> Ordering {
    a.prefix.cmp(&b.prefix).then_with(|| {
        match (fresh.get(a.at as usize), fresh.get(b.at as usize)) {
            (Some((x, _)), Some((y, _))) => x.fast_cmp(y),
            _ => Ordering::Equal,
        }
    })
}

/// A fresh entry's place in key order: its key's prefix and its position in `fresh`.
#[derive(Clone, Copy, Debug)]
struct Ordered {
    prefix: u64,
    at: u32,
}

/// Marks an index slot that holds a position in `fresh`.
const FRESH: u32 = 1 << 31;

/// Where a key lives.
#[derive(Clone, Copy)]
enum Slot {
    Packed(usize),
    Fresh(usize),
}

impl<K, V> Default for PackedMap<K, V> {
    fn default() -> Self {
        PackedMap {
            packed: Vec::new(),
            fresh: Vec::new(),
            order: Vec::new(),
            latest: Vec::new(),
            index: Vec::new(),
            seed: 0,
        }
    }
}

impl<K: PackedKey, V> PackedMap<K, V> {
    /// Number of entries.
    pub fn len(&self) -> usize {
        self.packed.len() + self.fresh.len()
    }

    /// Whether the map holds nothing.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Fresh entries at which the next insertion merges them into the vector. Half the
    /// vector: a map filled from empty (every node's, in a join) then moves each entry about
    /// three times instead of nine at an eighth, and the hash index finds fresh entries as fast
    /// as packed ones. The simulator's cachegrind proxy is 2.9 % cheaper than with an eighth,
    /// for 5 % more peak memory at 3,000 nodes (3.25 GB against 3.10 GB; none at 1,000).
    fn fresh_limit(&self) -> usize {
        MIN_FRESH.max(self.packed.len() / 2)
    }

    /// Sets the secret mixed into the index's hashes (the `seed` field says why).
    pub fn reseed(&mut self, seed: u64) {
        self.seed = seed;
        self.reindex();
    }

    /// The secret mixed into the index's hashes.
    #[cfg(test)]
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// `key`'s place in the index, before probing.
    #[inline]
    fn hash(&self, key: &K) -> Option<u64> {
        key.index_hash().map(|h| mix(h ^ self.seed))
    }

    /// Where `key` is stored.
    fn find(&self, key: &K) -> Option<Slot> {
        if let (false, Some(h)) = (self.index.is_empty(), self.hash(key)) {
            let mask = self.index.len() - 1;
            let mut slot = (h as usize) & mask;
            // The index always has empty slots; the bound only guards against a bug looping.
            for _ in 0..self.index.len() {
                let found = match self.index.get(slot).copied() {
                    None | Some(NO_SLOT) => return None,
                    Some(i) if i & FRESH != 0 => {
                        let i = (i & !FRESH) as usize;
                        self.fresh
                            .get(i)
                            .is_some_and(|(k, _)| k == key)
                            .then_some(Slot::Fresh(i))
                    }
                    Some(i) => {
                        let i = i as usize;
                        self.packed
                            .get(i)
                            .is_some_and(|(k, _)| k == key)
                            .then_some(Slot::Packed(i))
                    }
                };
                if found.is_some() {
                    return found;
                }
                slot = (slot + 1) & mask;
            }
            return None;
        }
        if let Ok(i) = self.packed.binary_search_by(|(k, _)| k.fast_cmp(key)) {
            return Some(Slot::Packed(i));
        }
        [&self.order, &self.latest].into_iter().find_map(|list| {
            self.position_in(list, key)
                .ok()
                .and_then(|o| list.get(o))
                .map(|o| Slot::Fresh(o.at as usize))
        })
    }

    /// Where `key` is, or would go, in `list` (`order` or `latest`).
    fn position_in(&self, list: &[Ordered], key: &K) -> Result<usize, usize> {
        let prefix = key.order_prefix();
        list.binary_search_by(|o| {
            o.prefix.cmp(&prefix).then_with(|| {
                self.fresh
                    .get(o.at as usize)
                    .map_or(Ordering::Greater, |(k, _)| k.fast_cmp(key))
            })
        })
    }

    /// Latest insertions held apart from `order` at most: four times the square root of its
    /// length. That balances moving part of `latest` on each insertion (a quarter of the limit
    /// on average, by `memmove`) against merging all of `order` every `limit` insertions (one
    /// comparison a position, about thirty times slower per position than the `memmove`).
    fn latest_limit(&self) -> usize {
        MIN_LATEST.max(4 * self.order.len().isqrt())
    }

    /// The positions in `fresh`, in key order (`order` and `latest` merged).
    fn fresh_in_order(&self) -> Vec<u32> {
        let mut merged = FreshIter {
            order: self.order.iter(),
            latest: self.latest.iter(),
            fresh: &self.fresh,
        };
        let mut out = Vec::with_capacity(self.fresh.len());
        out.extend(core::iter::from_fn(|| {
            merged.next_ordered(false).map(|o| o.at)
        }));
        out
    }

    /// Merges `latest` into `order`, from the back, in place.
    fn merge_latest(&mut self) {
        let (n, m) = (self.order.len(), self.latest.len());
        self.order.extend_from_slice(&self.latest);
        let (mut i, mut j) = (n, m);
        while j > 0 {
            let (Some(&b), k) = (self.latest.get(j - 1), i + j - 1) else {
                break;
            };
            let next = match i.checked_sub(1).and_then(|p| self.order.get(p)) {
                Some(&a) if by_key(&self.fresh, &a, &b).is_gt() => {
                    i -= 1;
                    a
                }
                _ => {
                    j -= 1;
                    b
                }
            };
            if let Some(slot) = self.order.get_mut(k) {
                *slot = next;
            }
        }
        self.latest.clear();
    }

    /// Enters `value` (a position, perhaps marked [`FRESH`]) under hash `h` in the index.
    fn index_insert(&mut self, h: u64, value: u32) {
        let mask = self.index.len() - 1;
        let mut slot = (h as usize) & mask;
        for _ in 0..self.index.len() {
            if let Some(s) = self.index.get_mut(slot)
                && *s == NO_SLOT
            {
                *s = value;
                return;
            }
            slot = (slot + 1) & mask;
        }
    }

    /// Index slots visited to find `key` (1 when it sits in its home slot).
    #[cfg(test)]
    fn probes(&self, key: &K) -> usize {
        let (false, Some(h)) = (self.index.is_empty(), self.hash(key)) else {
            return 0;
        };
        let mask = self.index.len() - 1;
        let home = (h as usize) & mask;
        let mut n = 1;
        while self.index.get((home + n - 1) & mask).is_some_and(|&i| {
            let entry = if i & FRESH != 0 {
                self.fresh.get((i & !FRESH) as usize)
            } else {
                self.packed.get(i as usize)
            };
            i != NO_SLOT && entry.is_none_or(|(k, _)| k != key)
        }) {
            n += 1;
        }
        n
    }

    /// Rebuilds the index after entries moved.
    fn reindex(&mut self) {
        self.index.clear();
        let hashed = self
            .packed
            .first()
            .or(self.fresh.first())
            .is_some_and(|(k, _)| k.index_hash().is_some());
        if !hashed || self.len() < MIN_INDEXED {
            self.index.shrink_to_fit();
            return;
        }
        // Room for an eighth more entries at two thirds full; `add` rebuilds it larger when the
        // overflow outgrows that, rather than sizing every index for a full overflow (half the
        // vector) that most maps never reach.
        let room = self.len() + (self.packed.len() / 8).max(MIN_FRESH) + 1;
        let slots = (room * 3 / 2).next_power_of_two();
        if self.index.capacity() != slots {
            self.index = Vec::with_capacity(slots);
        }
        self.index.resize(slots, NO_SLOT);
        // Positions are bounded by the peer limit, far below 2^31.
        for i in 0..self.packed.len() {
            if let Some(h) = self.packed.get(i).and_then(|(k, _)| self.hash(k)) {
                self.index_insert(h, i as u32);
            }
        }
        for i in 0..self.fresh.len() {
            if let Some(h) = self.fresh.get(i).and_then(|(k, _)| self.hash(k)) {
                self.index_insert(h, i as u32 | FRESH);
            }
        }
    }

    /// Loads the index slots and entries of `keys` into the cache ahead of looking them up one
    /// by one. A node's maps are cold when a message arrives (thousands of other nodes ran
    /// since), and a lookup waits on two cache misses; looked up in turn, a digest's 150 origins
    /// wait on 300 misses one after another. Here the loads of a batch do not depend on each
    /// other, so the processor overlaps their misses. Changes nothing but timing.
    pub fn warm<Q: core::borrow::Borrow<K>>(&self, keys: impl IntoIterator<Item = Q>) {
        if self.index.is_empty() {
            return;
        }
        let mask = self.index.len() - 1;
        let mut keys = keys.into_iter().take(MAX_WARM);
        let mut slots = [NO_SLOT; WARM_BATCH];
        let mut sink = 0u64;
        loop {
            let mut n = 0;
            for (slot, key) in slots.iter_mut().zip(keys.by_ref()) {
                let Some(h) = self.hash(key.borrow()) else {
                    return;
                };
                *slot = self
                    .index
                    .get((h as usize) & mask)
                    .copied()
                    .unwrap_or(NO_SLOT);
                n += 1;
            }
            for &i in &slots[..n] {
                let entry = match i {
                    NO_SLOT => None,
                    i if i & FRESH != 0 => self.fresh.get((i & !FRESH) as usize),
                    i => self.packed.get(i as usize),
                };
                sink ^= entry.and_then(|(k, _)| k.index_hash()).unwrap_or(0);
            }
            if n < WARM_BATCH {
                break;
            }
        }
        // Without a use of what was read, the compiler would drop the loads.
        core::hint::black_box(sink);
    }

    /// The value under `key`.
    pub fn get(&self, key: &K) -> Option<&V> {
        self.get_key_value(key).map(|(_, v)| v)
    }

    /// The stored key and value under `key`.
    pub fn get_key_value(&self, key: &K) -> Option<(&K, &V)> {
        let (k, v) = match self.find(key)? {
            Slot::Packed(i) => self.packed.get(i)?,
            Slot::Fresh(i) => self.fresh.get(i)?,
        };
        Some((k, v))
    }

    /// The value under `key`, to change.
    pub fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        let (_, v) = match self.find(key)? {
            Slot::Packed(i) => self.packed.get_mut(i)?,
            Slot::Fresh(i) => self.fresh.get_mut(i)?,
        };
        Some(v)
    }

    /// Whether `key` is present.
    pub fn contains_key(&self, key: &K) -> bool {
        self.find(key).is_some()
    }

    /// Stores `value` under `key`; returns the value it replaced.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        if let Some(v) = self.get_mut(&key) {
            return Some(core::mem::replace(v, value));
        }
        self.add(key, value);
        None
    }

    /// The value under `key`, inserted with `make` if absent; and whether it was absent.
    pub fn get_or_insert_with(&mut self, key: K, make: impl FnOnce() -> V) -> (&mut V, bool) {
        let (slot, new) = match self.find(&key) {
            Some(slot) => (slot, false),
            None => (self.add(key, make()), true),
        };
        // `find` and `add` return positions of entries that exist.
        let entry = match slot {
            Slot::Packed(i) => &mut self.packed[i],
            Slot::Fresh(i) => &mut self.fresh[i],
        };
        (&mut entry.1, new)
    }

    /// Adds an absent key; returns where it went.
    fn add(&mut self, key: K, value: V) -> Slot {
        if self.fresh.len() >= self.fresh_limit() {
            self.pack();
        }
        // A short overflow order takes insertions directly: moving a few hundred positions is
        // cheaper than merging `latest` into it, and its readers then merge one list, not two.
        let direct = self.order.len() < LATEST_FROM;
        // The floor first: the limit takes a square root.
        if !direct && self.latest.len() >= MIN_LATEST && self.latest.len() >= self.latest_limit() {
            self.merge_latest();
        }
        let list = if direct { &self.order } else { &self.latest };
        let at = self.position_in(list, &key).unwrap_or_else(|at| at);
        let hash = self.hash(&key);
        let prefix = key.order_prefix();
        let i = self.fresh.len();
        if i == self.fresh.capacity() {
            // Doubling up to an eighth of the vector, then by eighths, never past the merge
            // point: every node holds one of these per map, and what a map's last growth left
            // unused stays until its next merge (with doubling up to half the vector, and the
            // ordered positions kept between merges, the peak at 3,000 nodes was 3.46 GB, not
            // 3.25 GB).
            let limit = self.fresh_limit();
            let step = i.min(self.packed.len() / 8).max(8);
            self.fresh
                .reserve_exact(step.min(limit.saturating_sub(i)).max(1));
        }
        self.fresh.push((key, value));
        let list = if direct {
            &mut self.order
        } else {
            &mut self.latest
        };
        // Bounded by the peer limit, far below 2^31.
        list.insert(
            at,
            Ordered {
                prefix,
                at: i as u32,
            },
        );
        match (self.index.is_empty(), hash) {
            // Past two thirds full: rebuilt larger (which indexes the new entry too).
            (false, Some(_)) if self.len() * 3 > self.index.len() * 2 => self.reindex(),
            (false, Some(h)) => self.index_insert(h, i as u32 | FRESH),
            // Large enough now: index it without waiting for a merge.
            (true, Some(_)) if self.len() >= MIN_INDEXED => self.reindex(),
            _ => {}
        }
        Slot::Fresh(i)
    }

    /// Removes `key`; returns its value. O(n) (entries shift and the index is rebuilt): peers
    /// leave rarely.
    pub fn remove(&mut self, key: &K) -> Option<V> {
        let value = match self.find(key)? {
            Slot::Packed(i) => self.packed.remove(i).1,
            Slot::Fresh(i) => {
                let (_, v) = self.fresh.remove(i);
                let i = i as u32;
                for list in [&mut self.order, &mut self.latest] {
                    list.retain(|o| o.at != i);
                    for o in list.iter_mut() {
                        if o.at > i {
                            o.at -= 1;
                        }
                    }
                }
                v
            }
        };
        self.reindex();
        Some(value)
    }

    /// Merges every fresh entry into the vector, sized exactly.
    pub fn pack(&mut self) {
        if self.fresh.is_empty() {
            return;
        }
        // The fresh entries in key order, read off the ordered positions: sorting the entries
        // themselves moved each 100-byte entry a dozen times (8 % of the instructions of
        // learning 10,000 peers in a catch-up).
        let positions = self.fresh_in_order();
        let positions_len = positions.len();
        let mut fresh: Vec<Option<(K, V)>> = core::mem::take(&mut self.fresh)
            .into_iter()
            .map(Some)
            .collect();
        // Freed, not cleared: its room for half the vector would otherwise stay for good.
        self.order = Vec::new();
        self.latest.clear();
        let sorted = positions
            .into_iter()
            .filter_map(|p| fresh.get_mut(p as usize).and_then(Option::take));
        let old = core::mem::take(&mut self.packed);
        let mut merged = Vec::with_capacity(old.len() + positions_len);
        let mut rest = old.into_iter();
        for (k, v) in sorted {
            // The vector's entries below this key move as one run. Fresh keys fall a few
            // entries of the map apart, so a galloping search finds the run's end in a few steps.
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

    /// The entry at `index` (below `len`) in storage order: not key order, and it changes when
    /// entries are added or removed, but any entry is reached in O(1), which is what a uniform
    /// random choice needs.
    pub fn nth(&self, index: usize) -> Option<(&K, &V)> {
        match index.checked_sub(self.packed.len()) {
            None => self.packed.get(index),
            Some(i) => self.fresh.get(i),
        }
        .map(pair)
    }

    /// Every entry in key order.
    pub fn iter(&self) -> Iter<'_, K, V> {
        Merge::new(
            self.packed.iter().map(pair),
            FreshIter {
                order: self.order.iter(),
                latest: self.latest.iter(),
                fresh: &self.fresh,
            },
        )
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
    pub fn range<'a, R: RangeBounds<K>>(&'a self, range: R) -> Iter<'a, K, V> {
        let p = span(self.packed.len(), &range, |below| {
            self.packed.partition_point(|(k, _)| below(k))
        });
        let fresh = |list: &'a [Ordered]| -> &'a [Ordered] {
            let f = span(list.len(), &range, |below| {
                list.partition_point(|o| {
                    self.fresh.get(o.at as usize).is_some_and(|(k, _)| below(k))
                })
            });
            list.get(f).unwrap_or(&[])
        };
        Merge::new(
            self.packed.get(p).unwrap_or(&[]).iter().map(pair),
            FreshIter {
                order: fresh(&self.order).iter(),
                latest: fresh(&self.latest).iter(),
                fresh: &self.fresh,
            },
        )
    }
}

/// The positions of a sorted run of `len` keys that fall in `range`, given the run's
/// partition point for any predicate that holds on a prefix.
fn span<K: PackedKey>(
    len: usize,
    range: &impl RangeBounds<K>,
    point: impl Fn(&dyn Fn(&K) -> bool) -> usize,
) -> core::ops::Range<usize> {
    let start = match range.start_bound() {
        Bound::Included(s) => point(&|k| k.fast_cmp(s).is_lt()),
        Bound::Excluded(s) => point(&|k| k.fast_cmp(s).is_le()),
        Bound::Unbounded => 0,
    };
    let end = match range.end_bound() {
        Bound::Included(e) => point(&|k| k.fast_cmp(e).is_le()),
        Bound::Excluded(e) => point(&|k| k.fast_cmp(e).is_lt()),
        Bound::Unbounded => len,
    };
    start..end.max(start)
}

/// Equal when both hold the same entries (however they are split between the two halves).
impl<K: PackedKey, V: PartialEq> PartialEq for PackedMap<K, V> {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl<K: PackedKey, V> core::ops::Index<&K> for PackedMap<K, V> {
    type Output = V;

    /// The value under `key`; panics if absent, like `BTreeMap`'s.
    fn index(&self, key: &K) -> &V {
        self.get(key).expect("key present in PackedMap")
    }
}

impl<K: PackedKey, V> FromIterator<(K, V)> for PackedMap<K, V> {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut packed: Vec<(K, V)> = iter.into_iter().collect();
        // Stable, so the last of equal keys is kept, as a BTreeMap's collect keeps it.
        packed.sort_by(|(a, _), (b, _)| a.fast_cmp(b));
        let mut deduped: Vec<(K, V)> = Vec::with_capacity(packed.len());
        for (k, v) in packed {
            match deduped.last_mut() {
                Some(last) if last.0.fast_cmp(&k).is_eq() => *last = (k, v),
                _ => deduped.push((k, v)),
            }
        }
        deduped.shrink_to_fit();
        let mut map = PackedMap {
            packed: deduped,
            ..PackedMap::default()
        };
        map.reindex();
        map
    }
}

fn pair<K, V>((k, v): &(K, V)) -> (&K, &V) {
    (k, v)
}

/// The packed half of an iteration.
type PackedIter<'a, K, V> =
    core::iter::Map<core::slice::Iter<'a, (K, V)>, fn(&'a (K, V)) -> (&'a K, &'a V)>;

/// The fresh half of an iteration: positions in key order (`order`'s and `latest`'s, merged),
/// looked up in arrival order.
pub(crate) struct FreshIter<'a, K, V> {
    order: core::slice::Iter<'a, Ordered>,
    latest: core::slice::Iter<'a, Ordered>,
    fresh: &'a [(K, V)],
}

impl<'a, K: PackedKey, V> FreshIter<'a, K, V> {
    fn at(&self, i: u32) -> Option<(&'a K, &'a V)> {
        self.fresh.get(i as usize).map(pair)
    }
}

impl<'a, K: PackedKey, V> FreshIter<'a, K, V> {
    /// The next position from the front, or from the back: from whichever list holds the
    /// smaller (the larger) key at that end.
    fn next_ordered(&mut self, back: bool) -> Option<&'a Ordered> {
        let end = |list: &core::slice::Iter<'a, Ordered>| {
            if back {
                list.as_slice().last()
            } else {
                list.as_slice().first()
            }
        };
        let beyond = if back {
            Ordering::Greater
        } else {
            Ordering::Less
        };
        let from_latest = match (end(&self.order), end(&self.latest)) {
            (Some(a), Some(b)) => by_key(self.fresh, b, a) == beyond,
            (a, _) => a.is_none(),
        };
        let list = if from_latest {
            &mut self.latest
        } else {
            &mut self.order
        };
        if back { list.next_back() } else { list.next() }
    }

    /// The next entry from the front, or from the back.
    fn take(&mut self, back: bool) -> Option<(&'a K, &'a V)> {
        let o = self.next_ordered(back)?;
        self.at(o.at)
    }
}

impl<'a, K: PackedKey, V> Iterator for FreshIter<'a, K, V> {
    type Item = (&'a K, &'a V);

    fn next(&mut self) -> Option<Self::Item> {
        self.take(false)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        // Every position is a valid index into `fresh`: one item per position.
        let n = self.order.len() + self.latest.len();
        (n, Some(n))
    }
}

impl<K: PackedKey, V> DoubleEndedIterator for FreshIter<'_, K, V> {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.take(true)
    }
}

/// [`PackedMap::iter`]'s and [`PackedMap::range`]'s iterator.
pub(crate) type Iter<'a, K, V> = Merge<PackedIter<'a, K, V>, FreshIter<'a, K, V>>;

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

    /// Exact whenever both halves' hints are (always, for the map's own halves): collecting a
    /// map's entries, a full digest at 10,000 origins say, then allocates once instead of
    /// growing by doubling.
    fn size_hint(&self) -> (usize, Option<usize>) {
        let held = [
            self.a_front.is_some(),
            self.a_back.is_some(),
            self.b_front.is_some(),
            self.b_back.is_some(),
        ]
        .into_iter()
        .filter(|h| *h)
        .count();
        let (a_low, a_high) = self.a.size_hint();
        let (b_low, b_high) = self.b.size_hint();
        let low = a_low.saturating_add(b_low).saturating_add(held);
        let high = a_high
            .zip(b_high)
            .and_then(|(a, b)| a.checked_add(b)?.checked_add(held));
        (low, high)
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
    use alloc::collections::BTreeMap;
    use proptest::prelude::*;

    #[derive(Clone, Debug)]
    enum Op {
        Insert(u16, u32),
        Remove(u16),
        GetOrInsert(u16, u32),
        Bump(u16),
        Pack,
        Warm(Vec<u16>),
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
            // Longer than a batch, and present and absent keys alike.
            1 => proptest::collection::vec(0u16..700, 0..40).prop_map(Op::Warm),
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
            seed in any::<u64>(),
        ) {
            let mut model = BTreeMap::new();
            let mut map = PackedMap::default();
            map.reseed(seed);
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
                    // Only loads: what follows must see no difference.
                    Op::Warm(keys) => map.warm(&keys),
                }
                prop_assert_eq!(map.len(), model.len());
                prop_assert!(map.fresh.len() <= map.fresh_limit());
                prop_assert_eq!(map.order.len() + map.latest.len(), map.fresh.len());
                prop_assert!(map.latest.len() <= map.latest_limit());
            }
            // By index, every entry once, and nothing past the end.
            let mut by_index: Vec<(u16, u32)> =
                (0..map.len()).filter_map(|i| map.nth(i)).map(|(k, v)| (*k, *v)).collect();
            by_index.sort_unstable();
            prop_assert_eq!(by_index, model.iter().map(|(k, v)| (*k, *v)).collect::<Vec<_>>());
            prop_assert!(map.nth(map.len()).is_none());
            // The lookups below go through the index whenever the vector is large.
            prop_assert_eq!(map.index.is_empty(), map.len() < MIN_INDEXED);
            let filled = map.index.iter().filter(|s| **s != NO_SLOT).count();
            prop_assert!(map.index.is_empty() || filled == map.len());
            prop_assert!(map.iter().eq(model.iter()));
            prop_assert!(map.iter().rev().eq(model.iter().rev()));
            // Equality sees entries, not how they are split between the halves.
            let mut rebuilt: PackedMap<u16, u32> = model.iter().map(|(k, v)| (*k, *v)).collect();
            prop_assert!(map == rebuilt);
            if let Some(k) = model.keys().next() {
                rebuilt.insert(*k, model[k].wrapping_add(1));
                prop_assert!(map != rebuilt);
            }
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
                let n = model.range((s, e)).count();
                prop_assert_eq!(map.range((s, e)).size_hint(), (n, Some(n)));
                prop_assert!(map.range((s, e)).rev().eq(model.range((s, e)).rev()));
            }
            // Alternating ends must meet without losing or repeating an entry, and the size
            // hint counts what is left exactly throughout.
            let mut it = map.iter();
            let mut front = Vec::new();
            let mut back = Vec::new();
            for from_front in zigzag.iter().copied().chain(core::iter::repeat(true)) {
                let left = model.len() - front.len() - back.len();
                prop_assert_eq!(it.size_hint(), (left, Some(left)));
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
            // A prefix never contradicts the order; for IPv4 it is the whole order.
            if a.order_prefix() != b.order_prefix() {
                prop_assert_eq!(a.order_prefix().cmp(&b.order_prefix()), a.cmp(&b));
            } else if a.is_ipv4() && b.is_ipv4() {
                prop_assert_eq!(a, b);
            }
            prop_assert_eq!((7u64, a).fast_cmp(&(7, b)), (7u64, a).cmp(&(7, b)));
        }
    }

    #[test]
    fn a_secret_seed_scatters_addresses_chosen_to_collide() {
        use core::net::{Ipv4Addr, SocketAddr};
        // What an attacker can compute without the seed: addresses whose hashes share their
        // low twelve bits, so all land in one slot of any index up to 4,096 slots.
        let unseeded: PackedMap<SocketAddr, ()> = PackedMap::default();
        let chosen: Vec<SocketAddr> = (0..u32::MAX)
            .map(|i| SocketAddr::from((Ipv4Addr::from(0x0a00_0000 + i), 7000)))
            .filter(|a| unseeded.hash(a).is_some_and(|h| h & 0xfff == 0))
            .take(300)
            .collect();
        let mut exposed = PackedMap::default();
        let mut seeded = PackedMap::default();
        seeded.reseed(0x05ee_d0fa_70de);
        for a in &chosen {
            exposed.insert(*a, ());
            seeded.insert(*a, ());
        }
        for map in [&mut exposed, &mut seeded] {
            map.pack();
            assert!(chosen.iter().all(|a| map.contains_key(a)));
        }
        let longest = |m: &PackedMap<SocketAddr, ()>| chosen.iter().map(|a| m.probes(a)).max();
        assert!(
            longest(&exposed) >= Some(250),
            "the unseeded index piles them up"
        );
        // Linear probing at 60 % load gives runs of a few tens at worst (8 with this seed).
        assert!(longest(&seeded) <= Some(40), "{:?}", longest(&seeded));
    }

    #[test]
    fn an_ascending_fill_costs_about_its_entries() {
        let map: PackedMap<u64, u64> = (0..10_000).map(|k| (k, k)).collect();
        let mut grown = PackedMap::default();
        for k in 0..10_000u64 {
            grown.insert(k, k);
        }
        assert!(map.iter().eq(grown.iter()));
        assert!(grown.fresh.len() <= grown.packed.len() / 2 + 1);
        grown.pack();
        assert_eq!(grown.packed.capacity(), grown.len(), "sized exactly");
        assert!(!grown.is_empty());
    }
}
