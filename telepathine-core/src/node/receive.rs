//! Input from the network: opening, checking and answering messages.

use alloc::vec::Vec;
use core::net::SocketAddr;

use super::{Node, QUEUE_KEEP, Transmit, TransmitKind};
use crate::state::Change;
use crate::stats::DropReason;
use crate::time::Timestamp;
use crate::wire::{Body, Delta, Digest, MAX_VERSION, Message, OriginDelta, ReplayVerdict, Value};

impl Node {
    /// Handles a datagram received from `from` (the transport's source address).
    pub fn handle_datagram(&mut self, now: Timestamp, from: SocketAddr, bytes: &[u8]) {
        self.observe(now);
        if bytes.len() > self.config.datagram_budget {
            self.stats.dropped(DropReason::Oversize, bytes.len());
            return;
        }
        self.receive(from, bytes);
    }

    /// Handles one frame (without its length prefix) received on a stream from `from`.
    pub fn handle_frame(&mut self, now: Timestamp, from: SocketAddr, bytes: &[u8]) {
        self.observe(now);
        if bytes.len() > self.config.limits.max_frame_bytes {
            self.stats.dropped(DropReason::Oversize, bytes.len());
            return;
        }
        self.receive(from, bytes);
    }

    fn receive(&mut self, _source: SocketAddr, bytes: &[u8]) {
        let len = bytes.len();
        let body = match self.sealer.open(bytes) {
            Ok(body) => body,
            Err(reason) => return self.stats.dropped(reason, len),
        };
        let msg: Message = match postcard::take_from_bytes::<Message>(&body) {
            Ok((msg, [])) => msg,
            _ => return self.stats.dropped(DropReason::Malformed, len),
        };
        if let Err(reason) = self.admit(&msg, len) {
            return self.stats.dropped(reason, len);
        }
        self.stats.received(msg.body.kind(), len);
        let from = msg.from;
        // A forgotten peer that talks to us directly is evidently back: stop ignoring it.
        if self
            .members
            .forgotten
            .get(&from.addr)
            .is_some_and(|(g, _)| *g <= from.generation)
        {
            self.members.forgotten.remove(&from.addr);
        }
        if let Body::SynAck { delta, .. } | Body::Ack(delta) = &msg.body
            && !delta.is_empty()
        {
            self.inbound.spend(len, self.now);
        }
        match msg.body {
            body @ Body::Syn { .. } => self.on_syn(from.addr, body, len),
            body @ Body::SynAck { .. } => self.on_synack(from.addr, body, len),
            Body::Ack(delta) => self.apply_delta(delta),
            Body::Heartbeat {
                incarnation: _,
                release,
            } => self.on_heartbeat(from, release),
            Body::Probe => self.on_probe(from.addr),
        }
    }

    /// Checks everything about a decoded message of `len` bytes before it may touch state, and
    /// counts it in the sender's figures when it passes.
    fn admit(&mut self, msg: &Message, len: usize) -> Result<(), DropReason> {
        if !self.running {
            return Err(DropReason::Stopped);
        }
        if msg.from.addr == self.id.addr {
            return Err(DropReason::FromSelf);
        }
        if msg.to.is_some_and(|to| to != self.id.addr) {
            return Err(DropReason::WrongDestination);
        }
        if msg.from.generation == 0 || !self.well_formed(&msg.body) {
            return Err(DropReason::Malformed);
        }
        match self.contacts.admit(
            msg.from.addr,
            msg.from.generation,
            msg.seq,
            len,
            self.config.limits.max_peers,
        ) {
            ReplayVerdict::Fresh => Ok(()),
            ReplayVerdict::Replayed => Err(DropReason::Replayed),
            ReplayVerdict::StaleGeneration => Err(DropReason::StaleGeneration),
            ReplayVerdict::Full => Err(DropReason::PeerLimit),
        }
    }

    fn well_formed(&self, body: &Body) -> bool {
        match body {
            Body::Syn { digest, .. } => self.digest_ok(digest),
            Body::SynAck { digest, delta, .. } => self.digest_ok(digest) && self.delta_ok(delta),
            Body::Ack(delta) => self.delta_ok(delta),
            Body::Heartbeat { .. } | Body::Probe => true,
        }
    }

    fn digest_ok(&self, d: &Digest) -> bool {
        // Honest digests fit a datagram (four bytes an entry at the least), except catch-up
        // digests, which list every origin and so never exceed the peer limit.
        d.entries.len() <= (self.config.datagram_budget / 4).max(self.config.limits.max_peers + 1)
            && d.entries
                .iter()
                .all(|e| (e.version == 0 || e.generation != 0) && e.version <= MAX_VERSION)
    }

    fn delta_ok(&self, delta: &Delta) -> bool {
        delta.origins.iter().all(|d| self.origin_delta_ok(d))
    }

    fn origin_delta_ok(&self, d: &OriginDelta) -> bool {
        let limits = &self.config.limits;
        if d.generation == 0
            || d.up_to < d.from_version
            || d.up_to > MAX_VERSION
            || d.gc_floor > MAX_VERSION
        {
            return false;
        }
        let mut last = d.from_version;
        for e in &d.entries {
            if e.version <= last || e.version > d.up_to || !e.is_well_formed() {
                return false;
            }
            last = e.version;
            let sizes_ok = match (&e.key, &e.value) {
                (crate::wire::Key::User(k), v) => {
                    !k.is_empty()
                        && k.len() <= limits.max_key_bytes
                        && !matches!(v, Value::Bytes(b) if b.len() > limits.max_value_bytes)
                }
                (_, Value::Event { name, payload }) => {
                    !name.is_empty()
                        && name.len() <= limits.max_event_name_bytes
                        && payload.len() <= limits.max_value_bytes
                }
                (_, Value::Status(st)) => st.incarnation <= MAX_VERSION,
                (_, Value::Accusation { incarnation, .. }) => *incarnation <= MAX_VERSION,
                _ => true,
            };
            if !sizes_ok {
                return false;
            }
        }
        true
    }

    pub(super) fn apply_delta(&mut self, delta: Delta) {
        let wall = self.wall_now();
        // A newcomer makes two changes (its record and its status) and raises two events (new,
        // then alive): sized for that at once, a catch-up that introduces thousands of peers
        // copies no growing vector. Never for more peers than the node takes, whatever a frame
        // holds; the events' room goes back once the application drains them (`release_burst`).
        let newcomers = delta.origins.len().min(self.config.limits.max_peers);
        let mut changes = Vec::with_capacity(2 * newcomers);
        if newcomers > QUEUE_KEEP {
            self.events.reserve(2 * newcomers);
        }
        // Every origin is looked up in both maps, each lookup cold: start all the loads first.
        self.store
            .origins
            .warm(delta.origins.iter().map(|d| &d.origin));
        self.members.warm(delta.origins.iter().map(|d| &d.origin));
        for d in delta.origins {
            if self.members.is_forgotten(&d.origin, d.generation) {
                // Someone still carries it: keep ignoring it for as long as that lasts.
                let until = self.now + self.config.dead_grace;
                if let Some(entry) = self.members.forgotten.get_mut(&d.origin) {
                    entry.1 = entry.1.max(until);
                }
                continue;
            }
            match self.store.apply(
                d,
                self.now,
                wall,
                self.config.tombstone_grace,
                &self.config.limits,
                &mut changes,
            ) {
                Ok(n) => self.stats.entries_applied += n as u64,
                Err(_) => self.stats.writes_refused += 1,
            }
        }
        self.process_changes(changes);
    }

    pub(super) fn on_heartbeat(&mut self, from: crate::identity::NodeId, release: bool) {
        if release {
            self.members.monitored.remove(&from.addr);
            let until = self.now + self.config.heartbeat_interval * 10;
            self.members.released.insert(from.addr, until);
            self.withdraw_accusation(from.addr);
            return;
        }
        let now = self.now;
        let fresh = match self.members.monitored.get(&from.addr) {
            Some(m) => m.generation < from.generation,
            None => {
                if self.members.monitored.len() >= self.config.limits.max_peers {
                    return;
                }
                true
            }
        };
        if fresh {
            let detector = crate::phi::PhiDetector::new(
                self.config.phi_window,
                self.config.heartbeat_interval,
                self.config.phi_min_std_dev,
            );
            let monitored = crate::membership::Monitored {
                generation: from.generation,
                detector,
                since: now,
            };
            self.members.monitored.insert(from.addr, monitored);
        }
        let Some(m) = self.members.monitored.get_mut(&from.addr) else {
            return;
        };
        m.detector.heartbeat(now);
        self.withdraw_accusation(from.addr);
    }

    /// A monitor missed this node's heartbeats: answer with one at once, whoever asks (a
    /// monitor in another view of the ring still judges this node by them).
    fn on_probe(&mut self, from: SocketAddr) {
        let incarnation = self.store.status(&self.id.addr).incarnation;
        self.send(
            from,
            true,
            Body::Heartbeat {
                incarnation,
                release: false,
            },
        );
    }

    /// Encodes, seals and queues a message. `addressed` names the receiver in the message (off
    /// for seeds, whose advertised identity is not known yet).
    pub(super) fn send(&mut self, to: SocketAddr, addressed: bool, body: Body) {
        self.seq += 1;
        let kind_name = body.kind();
        let msg = Message {
            from: self.id,
            to: addressed.then_some(to),
            seq: self.seq,
            body,
        };
        // Heartbeats and probes are a few dozen bytes; gossip mostly fills a datagram (and a
        // catch-up's buffer grows from there by doubling).
        let capacity = match msg.body {
            Body::Syn { .. } | Body::SynAck { .. } | Body::Ack(_) => self.config.datagram_budget,
            _ => 256,
        };
        let Ok(payload) = self.sealer.seal_with(&mut self.rng, capacity, |out| {
            crate::wire::encode_into(&msg, out)
        }) else {
            return;
        };
        let kind = if payload.len() <= self.config.datagram_budget {
            TransmitKind::Datagram
        } else if self.config.streams && payload.len() <= self.config.limits.max_frame_bytes {
            TransmitKind::Stream
        } else {
            // Budgets leave room for the envelope, so this is a bug guard, not a path.
            return;
        };
        self.stats.sent(kind_name, payload.len());
        self.contacts
            .sent_to(to, payload.len(), self.config.limits.max_peers);
        self.transmits.push_back(Transmit {
            destination: self.config.map_address(to),
            payload,
            kind,
        });
    }

    pub(super) fn process_changes(&mut self, changes: Vec<Change>) {
        let mut last_new = None;
        for c in changes {
            // A newcomer's status record arrives with it, and judging it again would find the
            // verdict that the newcomer's own change just reached: the state is already whole.
            if let Change::Status { origin } = c
                && last_new == Some(origin)
            {
                continue;
            }
            last_new = match c {
                Change::Origin { origin, .. } => Some(origin),
                _ => None,
            };
            self.on_change(c);
        }
    }
}
