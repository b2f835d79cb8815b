//! All origins' state held by one node, with the indexes that drive expiry and tombstone GC.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;
use bytes::Bytes;
use core::net::SocketAddr;

use super::origin::{Entry, OriginState, entry_cost};
use crate::config::Limits;
use crate::time::Timestamp;
use crate::wire::{Key, OriginDelta, Status, Value};

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
    pub origins: BTreeMap<SocketAddr, OriginState>,
    /// (unix ms, origin, key) of every entry with an expiry that is not a tombstone.
    expiries: BTreeSet<(u64, SocketAddr, Key)>,
    /// (when to collect, origin, key, version) of every tombstone.
    tombstones: BTreeSet<(Timestamp, SocketAddr, Key, u64)>,
    /// (when new versions last arrived, origin), so digests find recent changes without a scan.
    pub(super) recent: BTreeSet<(Timestamp, SocketAddr)>,
    /// Bytes charged over all origins, bounded by `limits.max_total_bytes`.
    total_bytes: usize,
    /// XOR of `summand(origin, generation, digest version)` over all origins: equal summaries
    /// mean (with overwhelming probability) equal digests, whatever the cluster's size.
    summary: u64,
    /// How long after a change an origin counts as hot (recently changed).
    pub hot_window: core::time::Duration,
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
        let mut origins = BTreeMap::new();
        origins.insert(me, OriginState::new(generation, now));
        let mut recent = BTreeSet::new();
        recent.insert((now, me));
        Store {
            me,
            origins,
            expiries: BTreeSet::new(),
            tombstones: BTreeSet::new(),
            recent,
            total_bytes: 0,
            summary: summand(&me, generation, 0),
            hot_window: core::time::Duration::ZERO,
        }
    }

    /// Records that `origin` changed at `now`.
    fn touch(&mut self, origin: SocketAddr, now: Timestamp) {
        if let Some(s) = self.origins.get_mut(&origin) {
            if now.saturating_since(s.changed_at) > self.hot_window || s.hot_from > s.max_version {
                s.hot_from = s.max_version;
            }
            self.recent.remove(&(s.changed_at, origin));
            s.changed_at = now;
            self.recent.insert((now, origin));
        }
    }

    /// The summary of every origin's (generation, digest version).
    pub fn summary(&self) -> u64 {
        self.summary
    }

    fn meta(&self, origin: &SocketAddr) -> Option<(u64, u64)> {
        self.origins
            .get(origin)
            .map(|s| (s.generation, s.digest_version()))
    }

    /// Moves `origin`'s contribution to the summary from `before` to its current state.
    fn resum(&mut self, origin: SocketAddr, before: Option<(u64, u64)>) {
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
        let old_cost = state.get(&key).map_or(0, |e| entry_cost(&key, e));
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
    fn put(
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

    fn unindex(&mut self, origin: SocketAddr, key: &Key, old: &Entry) {
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
        let said = old.heard_seq;
        self.total_bytes -= old.bytes();
        let mut entries: Vec<(Key, Entry)> = old.clear();
        self.recent.remove(&(old.changed_at, me));
        *old = OriginState::new(generation, now);
        old.heard_seq = said;
        self.recent.insert((now, me));
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
        self.recent.remove(&(state.changed_at, *origin));
        for (key, entry) in state.iter() {
            if let Some(at) = entry.expires_at {
                self.expiries.remove(&(at, *origin, key.clone()));
            }
        }
        Some(state)
    }

    /// Applies one origin's run of entries from a peer. Returns the changes, or why nothing was
    /// applied. The run was validated by the caller (`validate_delta`).
    pub fn apply(
        &mut self,
        d: OriginDelta,
        now: Timestamp,
        wall: u64,
        tombstone_grace: core::time::Duration,
        limits: &Limits,
        out: &mut Vec<Change>,
    ) -> Result<usize, Refusal> {
        let origin = d.origin;
        let before = self.meta(&origin);
        let result = self.apply_run(d, now, wall, tombstone_grace, limits, out);
        self.resum(origin, before);
        result
    }

    fn apply_run(
        &mut self,
        d: OriginDelta,
        now: Timestamp,
        wall: u64,
        tombstone_grace: core::time::Duration,
        limits: &Limits,
        out: &mut Vec<Change>,
    ) -> Result<usize, Refusal> {
        if d.origin == self.me {
            return Ok(0);
        }
        let origin = d.origin;
        let reset = d.from_version == 0;
        match self.origins.get_mut(&origin) {
            None => {
                if !reset {
                    return Ok(0);
                }
                if self.origins.len() >= limits.max_peers.saturating_add(1) {
                    return Err(Refusal::Limit);
                }
                self.origins
                    .insert(origin, OriginState::new(d.generation, now));
                self.recent.insert((now, origin));
                out.push(Change::Origin {
                    origin,
                    restarted: false,
                });
            }
            Some(s) if d.generation < s.generation => return Ok(0),
            Some(s) if d.generation > s.generation => {
                if !reset {
                    return Ok(0);
                }
                self.total_bytes -= s.bytes();
                let old = s.clear();
                let changed_at = s.changed_at;
                *s = OriginState::new(d.generation, changed_at);
                for (key, entry) in old {
                    self.unindex(origin, &key, &entry);
                    if let Key::Accuse(accused) = key {
                        out.push(Change::Accusation {
                            accuser: origin,
                            accused,
                        });
                    }
                }
                out.push(Change::Origin {
                    origin,
                    restarted: true,
                });
            }
            Some(s) => {
                if reset {
                    // A reset from a peer that knows less would move this node backwards.
                    if d.up_to < s.max_version || (d.up_to == s.max_version && !s.needs_reset) {
                        return Ok(0);
                    }
                } else {
                    if d.from_version > s.max_version || d.up_to <= s.max_version {
                        return Ok(0);
                    }
                    if d.gc_floor > s.max_version.max(s.accepted_floor) {
                        // Tombstones this node never saw were collected: only a reset is safe.
                        s.needs_reset = true;
                        return Ok(0);
                    }
                }
            }
        }
        let mut previous: BTreeMap<Key, Entry> = BTreeMap::new();
        if reset {
            let s = self.origins.get_mut(&origin).ok_or(Refusal::Limit)?;
            self.total_bytes -= s.bytes();
            for (key, entry) in s.clear() {
                self.unindex(origin, &key, &entry);
                previous.insert(key, entry);
            }
            let s = self.origins.get_mut(&origin).ok_or(Refusal::Limit)?;
            s.max_version = 0;
            s.accepted_floor = d.gc_floor;
            s.needs_reset = false;
        }
        let mut applied = 0;
        let mut up_to = d.up_to;
        for e in d.entries {
            let s = self.origins.get_mut(&origin).ok_or(Refusal::Limit)?;
            if e.version <= s.max_version && !reset {
                continue;
            }
            let mut entry = Entry {
                version: e.version,
                value: e.value,
                expires_at: e.expires_at,
            };
            let max_expiry = wall.saturating_add(crate::time::duration_ms(limits.max_ttl));
            if let Key::Event(_) = e.key {
                // Events live briefly by design; a peer cannot make one linger.
                let cap = wall.saturating_add(crate::time::duration_ms(limits.max_event_lifetime));
                entry.expires_at = Some(entry.expires_at.unwrap_or(cap).min(cap));
            }
            if let Some(at) = entry.expires_at.as_mut() {
                *at = (*at).min(max_expiry);
                if *at <= wall {
                    entry.value = Value::Tombstone;
                }
            }
            let new_key = s.get(&e.key).is_none();
            let old_cost = s.get(&e.key).map_or(0, |x| entry_cost(&e.key, x));
            let added = entry_cost(&e.key, &entry);
            if (new_key && s.len() >= limits.max_keys_per_origin)
                || s.bytes() - old_cost + added > limits.max_origin_bytes
                || self.total_bytes - old_cost + added > limits.max_total_bytes
            {
                // Stop before this entry: the origin stays consistent up to the previous one.
                up_to = e.version - 1;
                self.finish(origin, up_to, d.gc_floor, reset, now);
                self.emit_reset_removals(origin, previous, out);
                return if applied > 0 {
                    Ok(applied)
                } else {
                    Err(Refusal::Limit)
                };
            }
            let old = match previous.remove(&e.key) {
                Some(p) => Some(p),
                None => self
                    .origins
                    .get(&origin)
                    .and_then(|s| s.get(&e.key).cloned()),
            };
            let unchanged = old.as_ref().is_some_and(|o| o.version == entry.version);
            let heard_before = self.origins.get(&origin).map_or(0, |s| s.heard_seq);
            if !unchanged {
                describe(origin, &e.key, &entry, old.as_ref(), heard_before, out);
            }
            if let (Key::Event(seq), Value::Event { .. }) = (&e.key, &entry.value)
                && let Some(s) = self.origins.get_mut(&origin)
            {
                s.heard_seq = s.heard_seq.max(*seq);
            }
            self.put(origin, e.key, entry, now, tombstone_grace);
            applied += 1;
        }
        self.finish(origin, up_to, d.gc_floor, reset, now);
        self.emit_reset_removals(origin, previous, out);
        Ok(applied)
    }

    fn finish(
        &mut self,
        origin: SocketAddr,
        up_to: u64,
        gc_floor: u64,
        reset: bool,
        now: Timestamp,
    ) {
        let advanced = self
            .origins
            .get(&origin)
            .is_some_and(|s| up_to > s.max_version || reset);
        if advanced {
            self.touch(origin, now);
        }
        if let Some(s) = self.origins.get_mut(&origin) {
            s.max_version = s.max_version.max(up_to);
            s.accepted_floor = s.accepted_floor.max(gc_floor);
        }
    }

    /// After a reset, keys that did not come back were deleted (their tombstones collected).
    fn emit_reset_removals(
        &mut self,
        origin: SocketAddr,
        previous: BTreeMap<Key, Entry>,
        out: &mut Vec<Change>,
    ) {
        for (key, old) in previous {
            match (key, old.value) {
                (Key::User(key), Value::Bytes(_)) => out.push(Change::Deleted { origin, key }),
                (Key::Accuse(accused), _) => out.push(Change::Accusation {
                    accuser: origin,
                    accused,
                }),
                (Key::Status, _) => out.push(Change::Status { origin }),
                _ => {}
            }
        }
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
            let Some(entry) = state.get(&key).cloned() else {
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
                state.gc_floor = state.gc_floor.max(version);
            }
        }
    }

    /// Status record of an origin.
    pub fn status(&self, origin: &SocketAddr) -> Status {
        match self.origins.get(origin).and_then(|s| s.get(&Key::Status)) {
            Some(Entry {
                value: Value::Status(st),
                ..
            }) => *st,
            _ => Status::default(),
        }
    }

    /// A live user value.
    pub fn user_value(&self, origin: &SocketAddr, key: &str) -> Option<&Bytes> {
        let state = self.origins.get(origin)?;
        match state.get(&Key::User(key.into())) {
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

/// Describes what storing `entry` (replacing `old`) means to the application.
fn describe(
    origin: SocketAddr,
    key: &Key,
    entry: &Entry,
    old: Option<&Entry>,
    heard_seq: u64,
    out: &mut Vec<Change>,
) {
    match (key, &entry.value) {
        (Key::User(k), Value::Bytes(v)) => out.push(Change::Set {
            origin,
            key: k.clone(),
            value: v.clone(),
            expires_at: entry.expires_at,
        }),
        (Key::User(k), Value::Tombstone)
            if old.is_some_and(|o| matches!(o.value, Value::Bytes(_))) =>
        {
            out.push(Change::Deleted {
                origin,
                key: k.clone(),
            });
        }
        (Key::Event(seq), Value::Event { name, payload }) if *seq > heard_seq => {
            out.push(Change::Heard {
                origin,
                name: name.clone(),
                payload: payload.clone(),
            })
        }
        (Key::Status, _) => out.push(Change::Status { origin }),
        (Key::Accuse(accused), _) => out.push(Change::Accusation {
            accuser: origin,
            accused: *accused,
        }),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::time::Duration;

    fn a(i: u8) -> SocketAddr {
        SocketAddr::from(([10, 0, 0, i], 1))
    }

    fn entry(key: &str, version: u64, value: Value) -> crate::wire::WireEntry {
        crate::wire::WireEntry {
            key: Key::User(key.into()),
            version,
            value,
            expires_at: None,
        }
    }

    const T: Timestamp = Timestamp::ZERO;
    const GRACE: Duration = Duration::from_secs(1);

    fn apply(store: &mut Store, d: OriginDelta) -> Vec<Change> {
        let mut out = Vec::new();
        let _ = store.apply(d, T, 0, GRACE, &Limits::default(), &mut out);
        out
    }

    fn snapshot(up_to: u64, gc_floor: u64, entries: Vec<crate::wire::WireEntry>) -> OriginDelta {
        OriginDelta {
            origin: a(9),
            generation: 1,
            from_version: 0,
            up_to,
            gc_floor,
            entries,
        }
    }

    #[test]
    fn a_reset_node_passes_on_the_floor_it_accepted() {
        let bytes = Value::Bytes(Bytes::from_static(b"v"));
        // A holds key k at version 2; the origin then deleted k at version 3 and collected the
        // tombstone, so B learns the origin from a snapshot without k.
        let mut holder = Store::new(a(1), 1, T);
        apply(
            &mut holder,
            snapshot(2, 0, vec![entry("k", 2, bytes.clone())]),
        );
        let mut relay = Store::new(a(2), 1, T);
        apply(&mut relay, snapshot(3, 3, vec![]));
        let (delta, _) = relay.origins[&a(9)].delta_from(a(9), 2, 10_000).unwrap();
        assert!(
            delta.gc_floor >= 3,
            "the relay must admit it cannot vouch below version 3"
        );
        apply(&mut holder, delta);
        let s = &holder.origins[&a(9)];
        assert!(
            s.needs_reset,
            "the holder must ask for a reset rather than keep k"
        );
        assert_eq!(s.digest_version(), 0);
        // The reset removes k.
        let out = apply(&mut holder, snapshot(3, 3, vec![]));
        assert!(holder.user_value(&a(9), "k").is_none());
        assert!(out.contains(&Change::Deleted {
            origin: a(9),
            key: "k".into()
        }));
    }

    #[test]
    fn summaries_agree_exactly_when_digests_do() {
        let bytes = || Value::Bytes(Bytes::from_static(b"v"));
        let mut x = Store::new(a(1), 1, T);
        let mut y = Store::new(a(2), 1, T);
        // Each learns the other and a third origin, in different orders.
        let mine_x = x.origins[&a(1)].delta_from(a(1), 0, 10_000).unwrap().0;
        let mine_y = y.origins[&a(2)].delta_from(a(2), 0, 10_000).unwrap().0;
        apply(&mut y, mine_x);
        apply(&mut x, mine_y);
        apply(&mut x, snapshot(1, 0, vec![entry("k", 1, bytes())]));
        assert_ne!(x.summary(), y.summary());
        apply(&mut y, snapshot(1, 0, vec![entry("k", 1, bytes())]));
        assert_eq!(x.summary(), y.summary());
        // A write changes it; the same write elsewhere is not the same state.
        let limits = Limits::default();
        x.write_local(Key::User("w".into()), bytes(), None, T, GRACE, &limits)
            .unwrap();
        assert_ne!(x.summary(), y.summary());
        let run = x.origins[&a(1)].delta_from(a(1), 0, 10_000).unwrap().0;
        apply(&mut y, run);
        assert_eq!(x.summary(), y.summary());
        // Forgetting an origin removes its part.
        x.remove_origin(&a(9));
        y.remove_origin(&a(9));
        assert_eq!(x.summary(), y.summary());
        let recomputed = x.origins.iter().fold(0, |acc, (o, s)| {
            acc ^ summand(o, s.generation, s.digest_version())
        });
        assert_eq!(x.summary(), recomputed);
    }

    #[test]
    fn resets_never_move_a_version_backwards() {
        let mut s = Store::new(a(1), 1, T);
        apply(
            &mut s,
            snapshot(
                5,
                0,
                vec![entry("k", 5, Value::Bytes(Bytes::from_static(b"new")))],
            ),
        );
        s.origins.get_mut(&a(9)).unwrap().needs_reset = true;
        apply(
            &mut s,
            snapshot(
                2,
                0,
                vec![entry("k", 2, Value::Bytes(Bytes::from_static(b"old")))],
            ),
        );
        assert_eq!(s.origins[&a(9)].max_version, 5);
        assert_eq!(s.user_value(&a(9), "k").unwrap().as_ref(), b"new");
    }

    #[test]
    fn gaps_are_refused_and_overlaps_applied_once() {
        let mut s = Store::new(a(1), 1, T);
        apply(
            &mut s,
            snapshot(
                2,
                0,
                vec![entry("a", 2, Value::Bytes(Bytes::from_static(b"1")))],
            ),
        );
        let gap = OriginDelta {
            from_version: 4,
            up_to: 6,
            ..snapshot(6, 0, vec![entry("b", 6, Value::Tombstone)])
        };
        assert!(apply(&mut s, gap).is_empty());
        assert_eq!(s.origins[&a(9)].max_version, 2);
        let run = OriginDelta {
            from_version: 1,
            ..snapshot(
                4,
                0,
                vec![
                    entry("a", 2, Value::Bytes(Bytes::from_static(b"1"))),
                    entry("c", 4, Value::Bytes(Bytes::from_static(b"3"))),
                ],
            )
        };
        let out = apply(&mut s, run);
        assert_eq!(
            out.len(),
            1,
            "only the entry beyond version 2 is new: {out:?}"
        );
        assert_eq!(s.origins[&a(9)].max_version, 4);
    }

    #[test]
    fn expiry_turns_entries_into_tombstones_that_are_still_sent() {
        let mut s = Store::new(a(1), 1, T);
        let limits = Limits::default();
        s.write_local(
            Key::User("k".into()),
            Value::Bytes(Bytes::from_static(b"v")),
            Some(100),
            T,
            GRACE,
            &limits,
        )
        .unwrap();
        // Re-setting with the same expiry keeps exactly one expiry record.
        s.write_local(
            Key::User("k".into()),
            Value::Bytes(Bytes::from_static(b"w")),
            Some(100),
            T,
            GRACE,
            &limits,
        )
        .unwrap();
        assert_eq!(s.next_expiry(), Some(100));
        let mut out = Vec::new();
        s.expire(100, T, GRACE, &mut out);
        assert_eq!(out.len(), 1);
        let me = a(1);
        let (delta, _) = s.origins[&me].delta_from(me, 1, 10_000).unwrap();
        assert_eq!(delta.entries.len(), 1);
        assert_eq!(delta.entries[0].value, Value::Tombstone);
        assert_eq!(delta.entries[0].version, 2);
        s.collect_tombstones(T + GRACE);
        assert_eq!(s.origins[&me].gc_floor, 2);
        assert!(s.origins[&me].is_empty());
    }
}
