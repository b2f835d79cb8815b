//! `node`: one [`Node`] with small limits fed an input-chosen sequence of raw datagrams and
//! frames, well-sealed hostile messages, replays, timeouts, clock changes and commands.
//!
//! After every step it checks what must hold whatever peers send: no panic; origins, entries
//! and bytes within the configured limits; traffic counters that add up to what went in and
//! out; no reply to a dropped message; this node's own keys and identity untouched by peers;
//! and after a timeout, a next deadline strictly in the future (else a driver would spin).

use bytes::Bytes;
use core::net::SocketAddr;
use core::time::Duration;
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;
use std::collections::BTreeMap;
use telepathine_core::wire::{Body, Message, Sealer};
use telepathine_core::{Node, NodeId, Timestamp, Traffic, TransmitKind};

use super::input::Input;
use super::message::{self, Context, ME};
use super::node_input::{GENERATION, MAX_RAW, RNG_SEED, WALL_START, advance, config, op};

/// Inputs remembered for replays.
const RECENT: usize = 16;

/// Runs one input.
pub fn run(data: &[u8]) {
    run_to_end(data);
}

/// Runs one input and returns the node's counters at the end.
pub fn run_to_end(data: &[u8]) -> telepathine_core::Stats {
    let mut input = Input::new(data);
    let mut h = Harness::new(input.u8());
    while !input.is_empty() {
        h.step(&mut input);
        h.check();
    }
    h.node.stats().clone()
}

/// The node under test and what the harness knows it must have done.
struct Harness {
    node: Node,
    sealer: Sealer,
    rng: ChaCha8Rng,
    now: u64,
    ctx: Context,
    recent: Vec<(SocketAddr, Vec<u8>, bool)>,
    /// Every datagram and frame handed to the node: each is either accepted or dropped.
    fed: Traffic,
    /// Every transmit drained.
    sent: Traffic,
    /// This node's keys without expiry, as the commands left them.
    own: BTreeMap<String, Bytes>,
    /// This node's (generation, version) as last seen: a peer may make it start a new
    /// generation, never go back.
    own_version: (u64, u64),
}

impl Harness {
    fn new(flags: u8) -> Self {
        let config = config(flags);
        let sealer = Sealer::new(&config.cluster, config.network_key.as_ref());
        let mut node = Node::new(config, NodeId::new(ME, GENERATION), RNG_SEED)
            .expect("the fuzz configuration is valid");
        node.handle_wall_clock(Timestamp::ZERO, WALL_START);
        node.start(Timestamp::ZERO);
        let mut h = Harness {
            node,
            sealer,
            rng: ChaCha8Rng::seed_from_u64(1),
            now: 0,
            ctx: Context::default(),
            recent: Vec::new(),
            fed: Traffic::default(),
            sent: Traffic::default(),
            own: BTreeMap::new(),
            own_version: (GENERATION, 0),
        };
        h.drain();
        h
    }

    fn t(&self) -> Timestamp {
        Timestamp::from_millis(self.now)
    }

    fn step(&mut self, input: &mut Input) {
        let t = self.t();
        match op::WEIGHTED[input.below(op::WEIGHTED.len())] {
            code @ (op::DATAGRAM | op::FRAME) => {
                let frame = code == op::FRAME;
                let from = message::addr(input);
                let bytes = input.bytes(MAX_RAW).to_vec();
                self.feed(from, bytes, frame);
            }
            op::SEALED => {
                let frame = input.bool();
                self.ctx.wall = self.node.wall_now();
                let msg = message::message(input, &mut self.ctx);
                let from = msg.from.addr;
                let body = postcard::to_allocvec(&msg).expect("messages encode");
                let envelope = self.sealer.seal(&body, &mut self.rng);
                self.feed(from, envelope, frame);
            }
            op::SEALED_BODY => {
                let frame = input.bool();
                let from = message::addr(input);
                let envelope = self.sealer.seal(input.bytes(MAX_RAW), &mut self.rng);
                self.feed(from, envelope, frame);
            }
            op::REPLAY => {
                if !self.recent.is_empty() {
                    let (from, bytes, frame) = self.recent[input.below(self.recent.len())].clone();
                    self.feed(from, bytes, frame);
                }
            }
            op::ADVANCE => {
                self.now += advance(input);
                self.node.handle_timeout(self.t());
                if self.node.is_running() {
                    let next = self
                        .node
                        .poll_timeout()
                        .expect("a running node has a deadline");
                    assert!(
                        next > self.t(),
                        "deadline {next:?} not after {:?}",
                        self.t()
                    );
                }
            }
            op::WALL => {
                let unix_ms = match input.u8() % 4 {
                    0 => input.u64(),
                    1 => WALL_START.saturating_sub(input.number()),
                    _ => WALL_START
                        .saturating_add(self.now)
                        .saturating_add(input.number()),
                };
                self.node.handle_wall_clock(t, unix_ms);
            }
            op::SET => {
                let key = message::name(input);
                let value = message::value(input);
                if self.node.set(t, &key, value.clone()).is_ok() {
                    self.own.insert(key, value);
                }
            }
            op::SET_EXPIRY => {
                let key = message::name(input);
                let value = message::value(input);
                let at = match input.u8() % 4 {
                    0 => input.number(),
                    _ => self.node.wall_now().saturating_add(input.number()),
                };
                // Expiry takes the key out of what the harness can predict.
                self.own.remove(&key);
                let _ = self.node.set_with_expiry(t, &key, value, at);
            }
            op::DELETE => {
                let key = message::name(input);
                if self.node.delete(t, &key).is_ok() {
                    self.own.remove(&key);
                }
            }
            op::SAY => {
                let name = message::name(input);
                let payload = message::value(input);
                let lifetime = input.bool().then(|| Duration::from_millis(input.number()));
                let _ = self.node.say(t, &name, payload, lifetime);
            }
            op::ADD_PEER => {
                let peer = message::addr(input);
                assert_eq!(self.node.add_peer(t, peer), peer != ME);
            }
            op::START => self.node.start(t),
            op::STOP => self.node.stop(t),
            _ => unreachable!("every operation is handled"),
        }
        self.drain();
    }

    /// Hands one datagram or frame to the node; a dropped one must get no reply.
    fn feed(&mut self, from: SocketAddr, bytes: Vec<u8>, frame: bool) {
        let t = self.t();
        let dropped = self.node.stats().total_dropped().messages;
        if frame {
            self.node.handle_frame(t, from, &bytes);
        } else {
            self.node.handle_datagram(t, from, &bytes);
        }
        self.fed.messages += 1;
        self.fed.bytes += bytes.len() as u64;
        let replies = self.drain();
        if self.node.stats().total_dropped().messages > dropped {
            assert_eq!(replies, 0, "a dropped message was answered");
        }
        if self.recent.len() == RECENT {
            self.recent.remove(0);
        }
        self.recent.push((from, bytes, frame));
    }

    /// Drains transmits and events, checking each transmit; returns how many were sent.
    fn drain(&mut self) -> usize {
        let config = self.node.config();
        let (budget, cap, streams) = (
            config.datagram_budget,
            config.limits.max_frame_bytes,
            config.streams,
        );
        let mut count = 0;
        while let Some(t) = self.node.poll_transmit() {
            match t.kind {
                TransmitKind::Datagram => assert!(t.payload.len() <= budget),
                TransmitKind::Stream => assert!(streams && t.payload.len() <= cap),
            }
            // Learn the cookie the node gives this peer, for messages that echo it.
            let body = self.sealer.open(&t.payload).expect("own transmits open");
            let msg = postcard::from_bytes::<Message>(&body).expect("own transmits decode");
            assert_ne!(t.destination, ME, "the node sent itself {msg:?}");
            if let Body::Syn {
                cookie, summary, ..
            }
            | Body::SynAck {
                cookie, summary, ..
            } = msg.body
            {
                self.ctx.cookies.insert(t.destination, cookie);
                self.ctx.summary = summary;
            }
            self.sent.messages += 1;
            self.sent.bytes += t.payload.len() as u64;
            count += 1;
        }
        while self.node.poll_event().is_some() {}
        count
    }

    fn check(&mut self) {
        let node = &self.node;
        let stats = node.stats();
        let (accepted, dropped) = (stats.total_received(), stats.total_dropped());
        assert_eq!(accepted.messages + dropped.messages, self.fed.messages);
        assert_eq!(accepted.bytes + dropped.bytes, self.fed.bytes);
        assert_eq!(stats.total_sent(), self.sent);

        let limits = &node.config().limits;
        let versions = node.versions();
        let origins = versions.len();
        assert!(origins <= limits.max_peers + 1, "{origins} origins held");
        let (entries, bytes) = node.footprint();
        assert!(
            entries <= origins * limits.max_keys_per_origin,
            "{entries} entries held"
        );
        // Peers' state counts against the total limit; the node's own writes only against the
        // per-origin one.
        let byte_bound = (origins * limits.max_origin_bytes)
            .min(limits.max_total_bytes + limits.max_origin_bytes);
        assert!(bytes <= byte_bound, "{bytes} bytes held");
        let peers = node.all_peers();
        assert!(
            peers.len() <= limits.max_peers,
            "{} peers known",
            peers.len()
        );
        assert!(!peers.contains(&ME), "the node counts itself as a peer");
        // Heartbeats from strangers fill the table up to `max_peers`; ring predecessors the node
        // expects heartbeats from are judged even then, and there are at most `monitors` of them.
        let monitored = node.monitored_peers().len();
        let monitors = node.config().monitors;
        assert!(
            monitored <= limits.max_peers + monitors,
            "{monitored} peers monitored"
        );

        for (key, value) in &self.own {
            assert_eq!(node.get(key), Some(value), "own key {key:?} changed");
        }
        let mine = versions.iter().find(|(a, ..)| *a == ME);
        let &(_, generation, version) = mine.expect("the node holds its own origin");
        assert!(
            (generation, version) >= self.own_version,
            "own state went back"
        );
        assert_eq!(node.id().generation, generation);
        self.own_version = (generation, version);

        match node.poll_timeout() {
            Some(next) => assert!(node.is_running() && next >= self.t()),
            None => assert!(!node.is_running()),
        }
    }
}
