//! What the application asks of a node: start, stop, writes, events, peers.

use bytes::Bytes;
use core::net::SocketAddr;
use core::time::Duration;

use super::Node;
use crate::error::CommandError;
use crate::event::Event;
use crate::time::{Timestamp, duration_ms};
use crate::wire::{Key, Status, Value};

impl Node {
    /// Starts the node: it announces itself as alive, contacts its seeds and begins its timers.
    /// Starting a started node does nothing.
    pub fn start(&mut self, now: Timestamp) {
        self.observe(now);
        if self.running {
            return;
        }
        self.running = true;
        let status = self.store.status(&self.id.addr);
        if self.store.mine().get(&Key::Status).is_none() || status.left {
            self.write_status(Status {
                incarnation: status.incarnation,
                left: false,
            });
        }
        self.last_tick = Some(self.now);
        self.next_heartbeat = self.now + self.config.heartbeat_interval;
        self.events.push_back(Event::Started);
        self.gossip_round(true);
        self.next_gossip = self.now + self.jittered(self.config.gossip_interval);
        if let Some(every) = self.config.seed_interval {
            self.next_seed_gossip = self.now + self.jittered(every);
        }
    }

    /// Leaves the cluster gracefully: records the departure in this node's state, pushes it to
    /// a few live peers (who spread it), releases its monitors, and stops. Peers then see it as
    /// left, not failed. The state is kept, so [`Node::start`] can rejoin.
    pub fn stop(&mut self, now: Timestamp) {
        self.observe(now);
        if !self.running {
            return;
        }
        let before = self.store.mine().max_version;
        let status = self.store.status(&self.id.addr);
        self.write_status(Status {
            incarnation: status.incarnation,
            left: true,
        });
        // Peers are most likely up to date with everything before the departure, so the run
        // from there is all they need, and it is tiny.
        let mut live: alloc::vec::Vec<SocketAddr> = self.members.live().copied().collect();
        let pushes = (self.config.fanout + 3).min(live.len());
        for i in 0..pushes {
            let j = i + (self.rng_below(live.len() - i));
            live.swap(i, j);
            let Some(s) = self.store.origins.get(&self.id.addr) else {
                break;
            };
            if let Some((d, _)) =
                s.delta_from(self.id.addr, before, self.config.datagram_budget / 2)
            {
                let delta = crate::wire::Delta {
                    origins: alloc::vec![d],
                };
                self.send(live[i], true, crate::wire::Body::Ack(delta));
            }
        }
        for m in core::mem::take(&mut self.members.monitors) {
            self.send(
                m,
                true,
                crate::wire::Body::Heartbeat {
                    incarnation: status.incarnation,
                    release: true,
                },
            );
        }
        self.running = false;
        self.events.push_back(Event::Stopped);
    }

    /// Sets `key` to `value` in this node's state, to be replicated to every peer.
    pub fn set(
        &mut self,
        now: Timestamp,
        key: &str,
        value: impl Into<Bytes>,
    ) -> Result<(), CommandError> {
        self.write_user(now, key, value.into(), None)
    }

    /// Sets `key` until `expires_at` (Unix milliseconds), after which it disappears on every
    /// node and each raises [`Event::KeyExpired`]. Expiry is capped at `limits.max_ttl` from now.
    pub fn set_with_expiry(
        &mut self,
        now: Timestamp,
        key: &str,
        value: impl Into<Bytes>,
        expires_at: u64,
    ) -> Result<(), CommandError> {
        self.observe(now);
        if expires_at <= self.wall_now() {
            return Err(CommandError::AlreadyExpired);
        }
        let cap = self
            .wall_now()
            .saturating_add(duration_ms(self.config.limits.max_ttl));
        self.write_user(now, key, value.into(), Some(expires_at.min(cap)))
    }

    /// Deletes `key`; peers learn it through a tombstone. Returns whether the key existed.
    pub fn delete(&mut self, now: Timestamp, key: &str) -> Result<bool, CommandError> {
        self.observe(now);
        self.check_key(key)?;
        if self.get(key).is_none() {
            return Ok(false);
        }
        self.write(Key::User(key.into()), Value::Tombstone, None)?;
        self.events.push_back(Event::Deleted {
            peer: self.id.addr,
            key: key.into(),
        });
        Ok(true)
    }

    /// Says `event` with `payload` to every other node that is live while `lifetime` lasts
    /// (default `config.default_event_lifetime`, capped at `limits.max_event_lifetime`). Each
    /// hears it once, in the order this node said its events; this node does not hear it.
    pub fn say(
        &mut self,
        now: Timestamp,
        event: &str,
        payload: impl Into<Bytes>,
        lifetime: Option<Duration>,
    ) -> Result<(), CommandError> {
        self.observe(now);
        if event.is_empty() || event.len() > self.config.limits.max_event_name_bytes {
            return Err(CommandError::EventNameLength(event.len()));
        }
        let payload = payload.into();
        if payload.len() > self.config.limits.max_value_bytes {
            return Err(CommandError::ValueTooLarge(payload.len()));
        }
        let lifetime = lifetime
            .unwrap_or(self.config.default_event_lifetime)
            .min(self.config.limits.max_event_lifetime);
        if lifetime.is_zero() {
            return Err(CommandError::AlreadyExpired);
        }
        let seq = self.store.mine().heard_seq() + 1;
        let expires = self.wall_now().saturating_add(duration_ms(lifetime));
        self.write(
            Key::Event(seq),
            Value::Event {
                name: event.into(),
                payload,
            },
            Some(expires),
        )?;
        if let Some(s) = self.store.origins.get_mut(&self.id.addr) {
            s.set_heard_seq(seq);
        }
        Ok(())
    }

    /// Adds a contact address (like a seed). When running, it is contacted at once. Returns
    /// false for this node's own address.
    pub fn add_peer(&mut self, now: Timestamp, addr: SocketAddr) -> bool {
        self.observe(now);
        if addr == self.id.addr {
            return false;
        }
        self.members.seeds.insert(addr);
        if self.running {
            self.send_syn(addr);
        }
        true
    }

    fn check_key(&self, key: &str) -> Result<(), CommandError> {
        if key.is_empty() || key.len() > self.config.limits.max_key_bytes {
            return Err(CommandError::KeyLength(key.len()));
        }
        Ok(())
    }

    fn write_user(
        &mut self,
        now: Timestamp,
        key: &str,
        value: Bytes,
        expires_at: Option<u64>,
    ) -> Result<(), CommandError> {
        self.observe(now);
        self.check_key(key)?;
        if value.len() > self.config.limits.max_value_bytes {
            return Err(CommandError::ValueTooLarge(value.len()));
        }
        self.write(
            Key::User(key.into()),
            Value::Bytes(value.clone()),
            expires_at,
        )?;
        self.events.push_back(Event::Set {
            peer: self.id.addr,
            key: key.into(),
            value,
            expires_at,
        });
        Ok(())
    }

    pub(super) fn write(
        &mut self,
        key: Key,
        value: Value,
        expires_at: Option<u64>,
    ) -> Result<(), CommandError> {
        let result = self.store.write_local(
            key,
            value,
            expires_at,
            self.now,
            self.config.tombstone_grace,
            &self.config.limits,
        );
        if result.is_err() {
            self.stats.writes_refused += 1;
        }
        result
    }

    pub(super) fn write_status(&mut self, status: Status) {
        // The status entry replaces itself, so it never adds to the key count; only a byte limit
        // set absurdly low could refuse it, and then peers keep the previous status.
        let _ = self.write(Key::Status, Value::Status(status), None);
    }
}
