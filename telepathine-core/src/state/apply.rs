//! Applying a peer's run of an origin's entries: resets, generations, gaps, GC floors, limits,
//! and what each stored entry means to the application.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::net::SocketAddr;

use super::origin::{Entry, OriginState, entry_cost};
use super::store::{Change, Refusal, Store};
use crate::config::Limits;
use crate::time::Timestamp;
use crate::wire::{Key, OriginDelta, Value};

impl Store {
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
                // Entered in the recency index by `finish`, which always follows.
                self.origins
                    .insert(origin, OriginState::new(d.generation, now));
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
                    if d.up_to < s.max_version || (d.up_to == s.max_version && !s.needs_reset()) {
                        return Ok(0);
                    }
                } else {
                    if d.from_version > s.max_version || d.up_to <= s.max_version {
                        return Ok(0);
                    }
                    if d.gc_floor > s.max_version.max(s.accepted_floor()) {
                        // Tombstones this node never saw were collected: only a reset is safe.
                        s.set_needs_reset(true);
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
            s.set_accepted_floor(d.gc_floor);
            s.set_needs_reset(false);
        }
        let mut applied = 0;
        let mut up_to = d.up_to;
        let max_expiry = wall.saturating_add(crate::time::duration_ms(limits.max_ttl));
        let event_cap = wall.saturating_add(crate::time::duration_ms(limits.max_event_lifetime));
        for e in d.entries {
            // One lookup per entry: this loop is where a joining node spends its time.
            let s = self.origins.get_mut(&origin).ok_or(Refusal::Limit)?;
            if e.version <= s.max_version && !reset {
                continue;
            }
            let mut entry = Entry {
                version: e.version,
                value: e.value,
                expires_at: e.expires_at,
            };
            if let Key::Event(_) = e.key {
                // Events live briefly by design; a peer cannot make one linger.
                entry.expires_at = Some(entry.expires_at.unwrap_or(event_cap).min(event_cap));
            }
            if let Some(at) = entry.expires_at.as_mut() {
                *at = (*at).min(max_expiry);
                if *at <= wall {
                    entry.value = Value::Tombstone;
                }
            }
            let current = s.get(&e.key);
            let old_cost = current.as_deref().map_or(0, |x| entry_cost(&e.key, x));
            let added = entry_cost(&e.key, &entry);
            if (current.is_none() && s.len() >= limits.max_keys_per_origin)
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
            let old_expiry = current.as_ref().and_then(|x| x.expires_at);
            let replaced = previous.remove(&e.key);
            let old = replaced.as_ref().or(current.as_deref());
            if old.is_none_or(|o| o.version != entry.version) {
                describe(origin, &e.key, &entry, old, s.heard_seq(), out);
            }
            if let (Key::Event(seq), Value::Event { .. }) = (&e.key, &entry.value) {
                s.set_heard_seq(s.heard_seq().max(*seq));
            }
            let (expires_at, tombstone, version) = (
                entry.expires_at,
                matches!(entry.value, Value::Tombstone),
                entry.version,
            );
            // Indexes need their own copy of the key; most entries (statuses) need none.
            let key =
                (expires_at.is_some() || tombstone || old_expiry.is_some()).then(|| e.key.clone());
            let before = s.bytes();
            s.insert(e.key, entry);
            self.total_bytes = self.total_bytes + s.bytes() - before;
            // Unindex the old entry before indexing the new one: both may share an expiry time.
            if let (Some(at), Some(key)) = (old_expiry, &key) {
                self.expiries.remove(&(at, origin, key.clone()));
            }
            match (key, expires_at, tombstone) {
                (Some(key), _, true) => {
                    self.tombstones
                        .insert((now + tombstone_grace, origin, key, version));
                }
                (Some(key), Some(at), false) => {
                    self.expiries.insert((at, origin, key));
                }
                _ => {}
            }
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
            s.raise_accepted_floor(gc_floor);
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
