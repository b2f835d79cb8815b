//! All origins' state held by one node, with the indexes that drive expiry and tombstone GC.

use alloc::collections::BTreeSet;
use alloc::vec::Vec;
use bytes::Bytes;
use core::net::SocketAddr;

use super::origin::{Entry, OriginState, entry_cost};
use super::recency::Recency;
use crate::config::Limits;
use crate::packed_map::PackedMap;
use crate::time::Timestamp;
use crate::wire::{Key, Status, Value};

/// A change that applying remote state (or a sweep) made, for the node to turn into events and
/// membership updates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Change {
    /// An origin appeared, or appeared in a new generation.
    Origin { origin: SocketAddr, restarted: bool },
    /// A user key got a value.
    Set {
        origin: SocketAddr,
        key: alloc::string::String,
        value: Bytes,
        expires_at: Option<u64>,
    },
    /// A user key was deleted.
    Deleted {
        origin: SocketAddr,
        key: alloc::string::String,
    },
    /// A user key expired.
    Expired {
        origin: SocketAddr,
        key: alloc::string::String,
        value: Bytes,
        expires_at: u64,
    },
    /// A `say` event to deliver.
    Heard {
        origin: SocketAddr,
        name: alloc::string::String,
        payload: Bytes,
    },
    /// An origin's status record changed.
    Status { origin: SocketAddr },
    /// An accusation by `accuser` against `accused` appeared, changed or was withdrawn.
    Accusation {
        accuser: SocketAddr,
        accused: SocketAddr,
    },
}

/// Why a delta could not be applied; the node counts these.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Over a limit (keys, bytes, peers).
    Limit,
}

/// Every origin's state, including this node's own.
#[derive(Debug)]
pub(crate) struct Store {
    pub me: SocketAddr,
    pub origins: PackedMap<SocketAddr, OriginState>,
    /// (unix ms, origin, key) of every entry with an expiry that is not a tombstone.
    pub(super) expiries: BTreeSet<(u64, SocketAddr, Key)>,
    /// (when to collect, origin, key, version) of every tombstone.
    pub(super) tombstones: BTreeSet<(Timestamp, SocketAddr, Key, u64)>,
    /// (when new versions last arrived, origin) of the origins changed within the hot window,
    /// so digests find recent changes without a scan. Older changes are never read again
    /// (queries look only as far back as the window), so they leave: the index then holds
    /// what changed lately, not one entry per origin. At most `recent_cap` newest.
    pub(super) recent: Recency,
    /// Most origins `recent` holds: see [`recent_cap`].
    recent_cap: usize,
    /// Bytes charged over all origins, bounded by `limits.max_total_bytes`.
    pub(super) total_bytes: usize,
    /// XOR of `summand(origin, generation, digest version)` over all origins: equal summaries
    /// mean (with overwhelming probability) equal digests, whatever the cluster's size.
    summary: u64,
    /// How long after a change an origin counts as hot (recently changed).
    pub hot_window: core::time::Duration,
}

/// Most origins the recency index of a node whose datagrams carry `datagram_budget` bytes
/// holds. Its readers take the newest few: a digest lists what fits in a datagram, at most
/// `datagram_budget / 9` origins (an entry takes at least 9 bytes), and a reply skips the
/// origins a peer's digest listed, then pushes at most `MAX_HOT_PUSHES` (32). A quarter of
/// the budget (350 origins for the default 1,400 bytes, never fewer than 256) covers both.
/// A reply also skips the origins in the address window a repairing peer's digest covers,
/// which can be most of the index during a join: then the cap changes which recent origins
/// are pushed (or leaves none to push), and repair finds the rest; over seeds 1 to 4 of the
/// simulator's default run, membership and update rounds stayed within run-to-run spread.
/// Without a cap a join filled the index with every newcomer of the hot window, one 40-byte
/// entry (about 62 bytes in a B-tree) per peer on every node: at 10,000 nodes, 6 GB of the
/// cluster's peak, and at 1,000 nodes a sixth of the simulator's.
pub(crate) fn recent_cap(datagram_budget: usize) -> usize {
    (datagram_budget / 4).max(256)
}

/// One origin's contribution to a summary: a 64-bit mix of its digest entry.
fn summand(origin: &SocketAddr, generation: u64, version: u64) -> u64 {
    let mut h = crate::membership::ring_hash(origin);
    for v in [generation, version] {
        h ^= v;
        h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
        h ^= h >> 29;
        h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
        h ^= h >> 32;
    }
    h
}

impl Store {
    pub fn new(me: SocketAddr, generation: u64, now: Timestamp) -> Self {
        let mut origins = PackedMap::default();
        origins.insert(me, OriginState::new(generation, now));
        let mut recent = Recency::default();
        recent.insert(now, me);
        Store {
            me,
            origins,
            expiries: BTreeSet::new(),
            tombstones: BTreeSet::new(),
            recent,
            recent_cap: recent_cap(crate::wire::MIN_DATAGRAM_BUDGET),
            total_bytes: 0,
            summary: summand(&me, generation, 0),
            hot_window: core::time::Duration::ZERO,
        }
    }

    /// Records that `origin` changed at `now`.
    pub(super) fn touch(&mut self, origin: SocketAddr, now: Timestamp) {
        if let Some(s) = self.origins.get_mut(&origin) {
            if now.saturating_since(s.changed_at) > self.hot_window || s.hot_from > s.max_version {
                s.hot_from = s.max_version;
            }
            // Unchanged time (every newcomer, created at `now`): inserting alone has the same
            // effect, and spares a search per origin of a join.
            if s.changed_at != now {
                self.recent.remove(s.changed_at, &origin);
            }
            s.changed_at = now;
            self.note_recent(now, origin);
        }
        let horizon = now - self.hot_window;
        while self.recent.first().is_some_and(|(t, _)| *t < horizon) {
            self.recent.pop_first();
        }
    }

    /// Sets how many origins the recency index holds at most (see [`recent_cap`]).
    pub fn set_recent_cap(&mut self, cap: usize) {
        self.recent_cap = cap.max(1);
        while self.recent.len() > self.recent_cap {
            self.recent.pop_first();
        }
    }

    /// The most origins the recency index holds.
    #[cfg(test)]
    pub fn recent_cap(&self) -> usize {
        self.recent_cap
    }

    /// Enters `origin`, changed at `at`, in the recency index, dropping the oldest over the cap.
    pub(super) fn note_recent(&mut self, at: Timestamp, origin: SocketAddr) {
        self.recent.insert(at, origin);
        if self.recent.len() > self.recent_cap {
            self.recent.pop_first();
        }
    }

    /// The summary of every origin's (generation, digest version).
    pub fn summary(&self) -> u64 {
        self.summary
    }

    pub(super) fn meta(&self, origin: &SocketAddr) -> Option<(u64, u64)> {
        self.origins
            .get(origin)
            .map(|s| (s.generation, s.digest_version()))
    }

    /// Moves `origin`'s contribution to the summary from `before` to its current state.
    pub(super) fn resum(&mut self, origin: SocketAddr, before: Option<(u64, u64)>) {
        let after = self.meta(&origin);
        if before != after {
            if let Some((g, v)) = before {
                self.summary ^= summand(&origin, g, v);
            }
            if let Some((g, v)) = after {
                self.summary ^= summand(&origin, g, v);
            }
        }
    }

    pub fn mine(&self) -> &OriginState {
        // The own origin is inserted in `new` and never removed.
        &self.origins[&self.me]
    }

    /// The earliest expiry, in unix ms.
    pub fn next_expiry(&self) -> Option<u64> {
        self.expiries.first().map(|(t, ..)| *t)
    }

    /// The earliest tombstone collection.
    pub fn next_gc(&self) -> Option<Timestamp> {
        self.tombstones.first().map(|(t, ..)| *t)
    }

    /// Writes an entry into this node's own state at a fresh version.
    pub fn write_local(
        &mut self,
        key: Key,
        value: Value,
        expires_at: Option<u64>,
        now: Timestamp,
        tombstone_grace: core::time::Duration,
        limits: &Limits,
    ) -> Result<(), crate::error::CommandError> {
        let me = self.me;
        let state = self
            .origins
            .get_mut(&me)
            .ok_or(crate::error::CommandError::Stopped)?;
        let entry = Entry {
            version: state.max_version + 1,
            value,
            expires_at,
        };
        let old_cost = state.get(&key).map_or(0, |e| entry_cost(&key, &e));
        if state.get(&key).is_none() && state.len() >= limits.max_keys_per_origin {
            return Err(crate::error::CommandError::TooManyKeys);
        }
        if state.bytes() - old_cost + entry_cost(&key, &entry) > limits.max_origin_bytes {
            return Err(crate::error::CommandError::StateTooLarge);
        }
        let before = self.meta(&me);
        self.touch(me, now);
        if let Some(state) = self.origins.get_mut(&me) {
            state.max_version = entry.version;
        }
        self.put(me, key, entry, now, tombstone_grace);
        self.resum(me, before);
        Ok(())
    }

    /// Stores an entry and keeps the indexes in step.
    pub(super) fn put(
        &mut self,
        origin: SocketAddr,
        key: Key,
        entry: Entry,
        now: Timestamp,
        grace: core::time::Duration,
    ) -> Option<Entry> {
        let state = self.origins.get_mut(&origin)?;
        let (expires_at, tombstone, version) = (
            entry.expires_at,
            matches!(entry.value, Value::Tombstone),
            entry.version,
        );
        let before = state.bytes();
        let old = state.insert(key.clone(), entry);
        self.total_bytes = self.total_bytes + state.bytes() - before;
        // Unindex the old entry before indexing the new one: both may share an expiry time.
        if let Some(old) = &old {
            self.unindex(origin, &key, old);
        }
        match (expires_at, tombstone) {
            (_, true) => {
                self.tombstones.insert((now + grace, origin, key, version));
            }
            (Some(at), false) => {
                self.expiries.insert((at, origin, key));
            }
            (None, false) => {}
        }
        old
    }

    pub(super) fn unindex(&mut self, origin: SocketAddr, key: &Key, old: &Entry) {
        if let Some(at) = old.expires_at {
            self.expiries.remove(&(at, origin, key.clone()));
        }
        // Tombstone index entries are checked lazily at collection time (by version), which
        // avoids storing their collection time in the entry.
    }

    /// Starts this node's own state over in `generation`, rewriting its live entries at fresh
    /// versions. Events are not carried over: peers that heard them would hear them again.
    pub fn rebirth(
        &mut self,
        generation: u64,
        now: Timestamp,
        grace: core::time::Duration,
        limits: &Limits,
    ) {
        let me = self.me;
        let before = self.meta(&me);
        let Some(old) = self.origins.get_mut(&me) else {
            return;
        };
        let said = old.heard_seq();
        self.total_bytes -= old.bytes();
        let mut entries: Vec<(Key, Entry)> = old.clear();
        self.recent.remove(old.changed_at, &me);
        *old = OriginState::new(generation, now);
        old.set_heard_seq(said);
        self.note_recent(now, me);
        self.resum(me, before);
        entries.sort_by_key(|(_, e)| e.version);
        for (key, entry) in entries {
            self.unindex(me, &key, &entry);
            let keep = matches!(
                (&key, &entry.value),
                (Key::User(_), Value::Bytes(_))
                    | (Key::Status, _)
                    | (Key::Accuse(_), Value::Accusation { .. })
            );
            if keep {
                // Limits held for the old life, so they hold for the same entries now.
                let _ = self.write_local(key, entry.value, entry.expires_at, now, grace, limits);
            }
        }
    }

    /// Removes an origin entirely (forgetting a dead peer).
    pub fn remove_origin(&mut self, origin: &SocketAddr) -> Option<OriginState> {
        if *origin == self.me {
            return None;
        }
        let before = self.meta(origin);
        let state = self.origins.remove(origin)?;
        self.resum(*origin, before);
        self.total_bytes -= state.bytes();
        self.recent.remove(state.changed_at, origin);
        for (key, entry) in state.iter() {
            if let Some(at) = entry.expires_at {
                self.expiries.remove(&(at, *origin, key.clone()));
            }
        }
        Some(state)
    }

    /// Turns entries whose time has come into tombstones (same version, so peers that are behind
    /// still learn the key is gone). Returns the changes.
    pub fn expire(
        &mut self,
        wall: u64,
        now: Timestamp,
        grace: core::time::Duration,
        out: &mut Vec<Change>,
    ) {
        while let Some((at, origin, key)) = self.expiries.first().cloned() {
            if at > wall {
                break;
            }
            self.expiries.pop_first();
            let Some(state) = self.origins.get_mut(&origin) else {
                continue;
            };
            let Some(entry) = state.get(&key).map(alloc::borrow::Cow::into_owned) else {
                continue;
            };
            if entry.expires_at != Some(at) || matches!(entry.value, Value::Tombstone) {
                continue;
            }
            let tomb = Entry {
                version: entry.version,
                value: Value::Tombstone,
                expires_at: Some(at),
            };
            let before = state.bytes();
            state.insert(key.clone(), tomb);
            self.total_bytes = self.total_bytes + state.bytes() - before;
            self.tombstones
                .insert((now + grace, origin, key.clone(), entry.version));
            match (key, entry.value) {
                (Key::User(key), Value::Bytes(value)) => out.push(Change::Expired {
                    origin,
                    key,
                    value,
                    expires_at: at,
                }),
                (Key::Accuse(accused), _) => out.push(Change::Accusation {
                    accuser: origin,
                    accused,
                }),
                _ => {}
            }
        }
    }

    /// Drops tombstones older than their grace period, raising each origin's floor.
    pub fn collect_tombstones(&mut self, now: Timestamp) {
        while let Some((at, origin, key, version)) = self.tombstones.first().cloned() {
            if at > now {
                break;
            }
            self.tombstones.pop_first();
            let Some(state) = self.origins.get_mut(&origin) else {
                continue;
            };
            let current = state
                .get(&key)
                .is_some_and(|e| e.version == version && matches!(e.value, Value::Tombstone));
            if current {
                let before = state.bytes();
                state.remove(&key);
                self.total_bytes = self.total_bytes + state.bytes() - before;
                state.raise_gc_floor(version);
            }
        }
    }

    /// Status record of an origin.
    pub fn status(&self, origin: &SocketAddr) -> Status {
        self.origins
            .get(origin)
            .map_or_else(Status::default, OriginState::status)
    }

    /// A live user value.
    pub fn user_value(&self, origin: &SocketAddr, key: &str) -> Option<&Bytes> {
        let state = self.origins.get(origin)?;
        match state.get_stored(&Key::User(key.into())) {
            Some(Entry {
                value: Value::Bytes(b),
                ..
            }) => Some(b),
            _ => None,
        }
    }

    /// Live user keys of an origin, sorted.
    pub fn user_keys(&self, origin: &SocketAddr) -> Vec<&str> {
        let Some(state) = self.origins.get(origin) else {
            return Vec::new();
        };
        state
            .iter()
            .filter_map(|(k, e)| match (k, &e.value) {
                (Key::User(k), Value::Bytes(_)) => Some(k.as_str()),
                _ => None,
            })
            .collect()
    }
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
