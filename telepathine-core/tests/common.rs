//! A tiny in-memory network for tests: nodes exchange transmits through a queue with optional
//! loss, in virtual time. No sockets, no threads.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;

use telepathine_core::{Config, Event, Node, NodeId, Timestamp};

/// Short gossip and heartbeat rounds of `interval_ms`, with phi's floor on the deviation at
/// `phi_floor_ms`, so a test covers many rounds in little virtual time.
pub fn rounds_of(interval_ms: u64, phi_floor_ms: u64) -> Config {
    Config {
        gossip_interval: std::time::Duration::from_millis(interval_ms),
        heartbeat_interval: std::time::Duration::from_millis(interval_ms),
        phi_min_std_dev: std::time::Duration::from_millis(phi_floor_ms),
        ..Config::default()
    }
}

pub fn addr(i: usize) -> SocketAddr {
    SocketAddr::from(([10, 0, (i / 250) as u8, (i % 250) as u8 + 1], 9000))
}

pub struct Net {
    pub nodes: BTreeMap<SocketAddr, Node>,
    pub crashed: std::collections::BTreeSet<SocketAddr>,
    pub events: BTreeMap<SocketAddr, Vec<Event>>,
    pub now: u64,
    pub loss: f64,
    rng: u64,
    in_flight: Vec<(u64, SocketAddr, SocketAddr, Vec<u8>, bool)>,
    pub latency: u64,
    /// Extra random latency, up to this many ms: reorders messages.
    pub jitter: u64,
    /// Probability that a datagram is delivered twice.
    pub dup: f64,
    /// Pairs (from, to) whose datagrams and frames are dropped.
    pub cut: std::collections::BTreeSet<(SocketAddr, SocketAddr)>,
    /// FNV hash of every transmit, in order: equal for equal runs.
    pub trace: u64,
    /// Every datagram delivered, for replay tests: (from, to, bytes).
    pub delivered: Vec<(SocketAddr, SocketAddr, Vec<u8>)>,
    pub record: bool,
}

impl Net {
    /// `n` nodes, each seeded with node 0, started at time 0.
    pub fn new(n: usize, config: impl Fn(usize) -> Config) -> Net {
        let mut net = Net {
            nodes: BTreeMap::new(),
            crashed: Default::default(),
            events: BTreeMap::new(),
            now: 0,
            loss: 0.0,
            rng: 0x9e37_79b9_7f4a_7c15,
            in_flight: Vec::new(),
            latency: 5,
            jitter: 0,
            dup: 0.0,
            cut: Default::default(),
            trace: 0xcbf2_9ce4_8422_2325,
            delivered: Vec::new(),
            record: false,
        };
        for i in 0..n {
            let mut c = config(i);
            if i > 0 {
                c.seeds = vec![addr(0)];
            }
            let node = Node::new(c, NodeId::new(addr(i), 1), i as u64).unwrap();
            net.nodes.insert(addr(i), node);
        }
        for node in net.nodes.values_mut() {
            node.handle_wall_clock(Timestamp::from_millis(0), 1_700_000_000_000);
            node.start(Timestamp::from_millis(0));
        }
        net.drain();
        net
    }

    fn chance(&mut self) -> f64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        (self.rng >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn drain(&mut self) {
        let now = self.now;
        let addrs: Vec<SocketAddr> = self.nodes.keys().copied().collect();
        for a in addrs {
            let node = self.nodes.get_mut(&a).unwrap();
            let mut out = Vec::new();
            while let Some(t) = node.poll_transmit() {
                out.push(t);
            }
            while let Some(e) = node.poll_event() {
                self.events.entry(a).or_default().push(e);
            }
            let budget = self.nodes[&a].config().datagram_budget;
            for t in out {
                let stream = t.kind == telepathine_core::TransmitKind::Stream;
                if !stream {
                    assert!(
                        t.payload.len() <= budget,
                        "{a} sent a {}-byte datagram",
                        t.payload.len()
                    );
                }
                self.trace = telepathine_core::wire::fnv1a64(&t.payload, self.trace);
                if self.cut.contains(&(a, t.destination)) {
                    continue;
                }
                if stream || self.chance() >= self.loss {
                    let delay = self.latency + (self.chance() * self.jitter as f64) as u64;
                    if !stream && self.chance() < self.dup {
                        self.in_flight.push((
                            now + delay + 3,
                            a,
                            t.destination,
                            t.payload.clone(),
                            stream,
                        ));
                    }
                    self.in_flight
                        .push((now + delay, a, t.destination, t.payload, stream));
                }
            }
        }
    }

    /// Advances virtual time in 10 ms steps up to `until` ms.
    pub fn run_until(&mut self, until: u64) {
        while self.now < until {
            self.now += 10;
            let now = self.now;
            let (due, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut self.in_flight)
                .into_iter()
                .partition(|m| m.0 <= now);
            self.in_flight = rest;
            for (_, from, to, bytes, stream) in due {
                if self.crashed.contains(&to) {
                    continue;
                }
                if self.record && !stream {
                    self.delivered.push((from, to, bytes.clone()));
                }
                if let Some(node) = self.nodes.get_mut(&to) {
                    if stream {
                        node.handle_frame(Timestamp::from_millis(now), from, &bytes);
                    } else {
                        node.handle_datagram(Timestamp::from_millis(now), from, &bytes);
                    }
                }
            }
            for (a, node) in self.nodes.iter_mut() {
                if self.crashed.contains(a) {
                    continue;
                }
                if node.poll_timeout().is_some_and(|t| t.as_millis() <= now) {
                    node.handle_timeout(Timestamp::from_millis(now));
                }
            }
            self.drain();
            // Crashed nodes emit nothing.
            let crashed = self.crashed.clone();
            self.in_flight.retain(|m| !crashed.contains(&m.1));
        }
    }

    /// Replaces the node at `i` with a fresh one (a restart: new generation, empty state).
    pub fn restart(&mut self, i: usize, generation: u64, config: Config) {
        let mut node =
            Node::new(config, NodeId::new(addr(i), generation), 1000 + i as u64).unwrap();
        node.handle_wall_clock(
            Timestamp::from_millis(self.now),
            1_700_000_000_000 + self.now,
        );
        node.start(Timestamp::from_millis(self.now));
        self.nodes.insert(addr(i), node);
        self.crashed.remove(&addr(i));
        self.drain();
    }

    /// Delivers `bytes` to node `to` now, as if sent by `from`.
    pub fn inject(&mut self, from: SocketAddr, to: SocketAddr, bytes: &[u8]) {
        let now = Timestamp::from_millis(self.now);
        self.nodes
            .get_mut(&to)
            .unwrap()
            .handle_datagram(now, from, bytes);
        self.drain();
    }

    /// Whether every live node holds the same versions and user state for every origin.
    pub fn converged(&self) -> bool {
        let mut views = self.live().map(|(_, n)| {
            n.versions()
                .into_iter()
                .map(|(o, g, v)| (o, g, v, n.fingerprint(&o)))
                .collect::<Vec<_>>()
        });
        let Some(first) = views.next() else {
            return true;
        };
        views.all(|v| v == first)
    }

    /// The wall clock (Unix ms) that nodes were given at time 0, plus elapsed virtual time.
    pub fn wall(&self) -> u64 {
        1_700_000_000_000 + self.now
    }

    pub fn node(&mut self, i: usize) -> &mut Node {
        self.nodes.get_mut(&addr(i)).unwrap()
    }

    pub fn live(&self) -> impl Iterator<Item = (&SocketAddr, &Node)> {
        self.nodes.iter().filter(|(a, _)| !self.crashed.contains(a))
    }
}
