//! One origin's versioned state, as held by any node.

use alloc::borrow::Cow;
use alloc::vec::Vec;

use super::entries::Entries;

use crate::time::Timestamp;
use crate::wire::{Key, OriginDelta, Status, Value, WireEntry};

/// A stored entry: the value and the origin version that wrote it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The origin's version counter when it was written.
    pub version: u64,
    /// Its content.
    pub value: Value,
    /// Unix milliseconds after which it is gone.
    pub expires_at: Option<u64>,
}

/// Bytes an entry is charged against its origin's limit: key, value and bookkeeping.
pub(crate) fn entry_cost(key: &Key, entry: &Entry) -> usize {
    key_cost(key) + value_cost(entry)
}

fn key_cost(key: &Key) -> usize {
    match key {
        Key::User(k) => k.len(),
        _ => 8,
    }
}

fn value_cost(entry: &Entry) -> usize {
    let value_len = match &entry.value {
        Value::Bytes(b) => b.len(),
        Value::Event { name, payload } => name.len() + payload.len(),
        // Nothing beyond the key: expiry turns values into tombstones without a limit check,
        // so a tombstone must never cost more than what it replaces.
        Value::Tombstone => 0,
        Value::Status(_) | Value::Accusation { .. } => 16,
    };
    value_len + 48
}

/// Everything known of one origin in one generation.
///
/// `max_version` is exact: every change of the origin up to it is reflected (superseded writes
/// and garbage-collected tombstones aside), which is what a digest entry promises.
#[derive(Clone, Debug)]
pub struct OriginState {
    /// The origin's generation this state belongs to.
    pub generation: u64,
    /// Every change up to this version is held.
    pub max_version: u64,
    /// When new versions last arrived, for recency-first digests.
    pub changed_at: Timestamp,
    /// The version held when the origin last turned hot (changed after a quiet spell): peers are
    /// likely to hold it, so recent changes are pushed to them from there.
    pub hot_from: u64,
    entries: Entries,
    bytes: usize,
    /// Floors, the reset flag and the event sequence, all zero for nearly every origin (one
    /// that never deleted, said or was reset), so held apart: every node holds every origin,
    /// and four inline fields would cost each about 40 B per peer.
    history: Option<Box<History>>,
}

/// The rarely set part of an [`OriginState`].
#[derive(Clone, Debug, Default)]
struct History {
    /// Highest version of a tombstone this node garbage-collected.
    gc_floor: u64,
    /// Highest sender floor this state is known to be consistent with.
    accepted_floor: u64,
    /// Highest `say` sequence delivered from this origin in this generation.
    heard_seq: u64,
    /// Set when a sender's floor showed that deleted keys may linger here; the digest then asks
    /// for a reset.
    needs_reset: bool,
}

impl OriginState {
    /// Empty state of an origin's `generation`.
    pub fn new(generation: u64, now: Timestamp) -> Self {
        OriginState {
            generation,
            max_version: 0,
            changed_at: now,
            hot_from: 0,
            entries: Entries::default(),
            bytes: 0,
            history: None,
        }
    }

    /// Highest version of a tombstone this node garbage-collected.
    pub fn gc_floor(&self) -> u64 {
        self.history.as_ref().map_or(0, |h| h.gc_floor)
    }

    /// Raises [`OriginState::gc_floor`] to `version`.
    pub fn raise_gc_floor(&mut self, version: u64) {
        if version > self.gc_floor() {
            self.history.get_or_insert_default().gc_floor = version;
        }
    }

    /// Highest sender floor this state is known to be consistent with.
    pub fn accepted_floor(&self) -> u64 {
        self.history.as_ref().map_or(0, |h| h.accepted_floor)
    }

    /// Raises [`OriginState::accepted_floor`] to `floor`.
    pub fn raise_accepted_floor(&mut self, floor: u64) {
        if floor > self.accepted_floor() {
            self.set_accepted_floor(floor);
        }
    }

    /// Sets [`OriginState::accepted_floor`] (a reset starts over from the sender's floor).
    pub fn set_accepted_floor(&mut self, floor: u64) {
        if floor != self.accepted_floor() {
            self.history.get_or_insert_default().accepted_floor = floor;
        }
    }

    /// Highest `say` sequence delivered from this origin in this generation.
    pub fn heard_seq(&self) -> u64 {
        self.history.as_ref().map_or(0, |h| h.heard_seq)
    }

    /// Sets [`OriginState::heard_seq`].
    pub fn set_heard_seq(&mut self, seq: u64) {
        if seq != self.heard_seq() {
            self.history.get_or_insert_default().heard_seq = seq;
        }
    }

    /// Whether a sender's floor showed that deleted keys may linger here; the digest then asks
    /// for a reset.
    pub fn needs_reset(&self) -> bool {
        self.history.as_ref().is_some_and(|h| h.needs_reset)
    }

    /// Sets [`OriginState::needs_reset`].
    pub fn set_needs_reset(&mut self, needs: bool) {
        if needs != self.needs_reset() {
            self.history.get_or_insert_default().needs_reset = needs;
        }
    }

    /// The version this node claims in digests: 0 asks for a reset.
    pub fn digest_version(&self) -> u64 {
        if self.needs_reset() {
            0
        } else {
            self.max_version
        }
    }

    /// The origin's status record, or the default (alive, incarnation 0) before it arrives.
    pub fn status(&self) -> Status {
        match self.get(&Key::Status).as_deref() {
            Some(Entry {
                value: Value::Status(st),
                ..
            }) => *st,
            _ => Status::default(),
        }
    }

    /// The entry under `key` (the status record is rebuilt from its inline form).
    pub fn get(&self, key: &Key) -> Option<Cow<'_, Entry>> {
        self.entries.get(key)
    }

    /// The entry under a user, event or accusation key, by reference (the status record is
    /// never found here).
    pub fn get_stored(&self, key: &Key) -> Option<&Entry> {
        self.entries.get_stored(key)
    }

    /// All entries, by key.
    pub fn iter(&self) -> impl Iterator<Item = (&Key, Cow<'_, Entry>)> {
        self.entries.iter()
    }

    /// The entries stored as such, by key: all but an inline status record (user keys, events
    /// and accusations always are), without rebuilding that record.
    pub fn stored_entries(&self) -> impl Iterator<Item = (&Key, &Entry)> {
        self.entries.stored()
    }

    /// Number of entries, tombstones included.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.len() == 0
    }

    /// Bytes charged against the origin's limit.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Stores `entry` under `key`, returning what it replaced.
    pub fn insert(&mut self, key: Key, entry: Entry) -> Option<Entry> {
        let key_cost = key_cost(&key);
        self.bytes += key_cost + value_cost(&entry);
        let old = self.entries.insert(key, entry);
        if let Some(old) = &old {
            self.bytes -= key_cost + value_cost(old);
        }
        old
    }

    /// Removes the entry under `key` without touching versions (expiry sweeps, tombstone GC).
    pub fn remove(&mut self, key: &Key) -> Option<Entry> {
        let old = self.entries.remove(key)?;
        self.bytes -= entry_cost(key, &old);
        Some(old)
    }

    /// Drops every entry, keeping the generation (a reset).
    pub fn clear(&mut self) -> Vec<(Key, Entry)> {
        self.bytes = 0;
        self.entries.take()
    }

    /// The version just below the `k` newest entries: a run from there carries the latest
    /// changes however long the origin has been busy.
    pub fn suffix_from(&self, k: usize) -> u64 {
        self.entries
            .kth_newest_version(k)
            .map_or(0, |v| v.saturating_sub(1))
    }

    /// Number of entries newer than `version`: the scuttle depth of a peer at that version.
    pub fn depth_after(&self, version: u64) -> usize {
        self.entries.count_after(version)
    }

    /// Builds the run of entries a peer at `from` lacks, in version order, stopping before the
    /// run would exceed `budget` encoded bytes. Returns `None` if not even one entry fits (or
    /// there is nothing to send).
    pub fn delta_from(
        &self,
        origin: core::net::SocketAddr,
        from: u64,
        budget: usize,
    ) -> Option<(OriginDelta, usize)> {
        let mut delta = OriginDelta {
            origin,
            generation: self.generation,
            from_version: from,
            up_to: self.max_version,
            // Tombstones below a floor this node accepted never reached it either, so it must
            // advertise that floor too, or a peer holding a deleted key would keep it.
            gc_floor: self.gc_floor().max(self.accepted_floor()),
            entries: crate::wire::WireEntries::new(),
        };
        if from >= self.max_version && from != 0 {
            return None;
        }
        let mut size = crate::wire::encoded_len(&delta).saturating_add(4);
        if size > budget {
            return None;
        }
        for (key, entry) in self.entries.after(from) {
            let wire = WireEntry {
                key: key.clone(),
                version: entry.version,
                value: entry.value.clone(),
                expires_at: entry.expires_at,
            };
            let cost = crate::wire::encoded_len(&wire);
            if size.saturating_add(cost) > budget {
                // Stop here: a receiver may only advance to the last version it got, so skipping
                // this entry and sending later ones would lose it.
                delta.up_to = delta.entries.last().map_or(from, |e| e.version);
                break;
            }
            size += cost;
            delta.entries.push(wire);
        }
        if delta.up_to == from && from != 0 {
            return None;
        }
        if from == 0 && delta.entries.is_empty() && delta.up_to == 0 && self.max_version != 0 {
            return None;
        }
        Some((delta, size))
    }
}
