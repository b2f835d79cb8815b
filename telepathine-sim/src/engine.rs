//! The simulator proper: owns the nodes, the queue and the network, drives each node by its
//! contract (input, then drain transmits and events, then re-arm its timer), and keeps the
//! trace hash.

use std::time::{Duration, Instant};

use telepathine_core::{Config, Event, NetworkKey, Node, NodeId, Timestamp, Transmit};

use crate::config::SimConfig;
use crate::network::Network;
use crate::observe::Observer;
use crate::queue::{Ev, Queue};
use crate::rng::{SimRng, Stream, derive, mix};
use crate::scenario::Plan;
use crate::slot::{Life, Slot, addr};
use crate::transport::NetCounters;

/// A simulation in progress.
pub struct Sim {
    pub(crate) cfg: SimConfig,
    pub(crate) now: u64,
    pub(crate) queue: Queue,
    pub(crate) slots: Vec<Slot>,
    pub(crate) net: Network,
    pub(crate) obs: Observer,
    pub(crate) plan: Plan,
    pub(crate) counters: NetCounters,
    pub(crate) trace: u64,
    node_config: Config,
    tx_buf: Vec<Transmit>,
    ev_buf: Vec<Event>,
    events_run: u64,
    started: Instant,
    last_progress: Instant,
}

impl Sim {
    /// A simulation of `cfg`, with its initial nodes scheduled to start during the first gossip
    /// interval.
    pub fn new(cfg: SimConfig) -> Result<Sim, String> {
        cfg.validate()?;
        let seeds = (0..cfg.seeds.min(cfg.nodes)).map(addr).collect();
        let node_config = Config {
            seeds,
            gossip_interval: Duration::from_millis(cfg.gossip_interval_ms),
            heartbeat_interval: Duration::from_millis(cfg.heartbeat_ms()),
            datagram_budget: cfg.datagram_budget,
            inbound_rate: cfg.inbound_rate,
            network_key: cfg.sealed.then(|| NetworkKey::from_bytes([0x5a; 32], 0)),
            ..Config::default()
        };
        node_config.validate().map_err(|e| e.to_string())?;
        let now = Instant::now();
        let mut sim = Sim {
            net: Network::new(&cfg),
            obs: Observer::default(),
            plan: Plan::new(&cfg),
            queue: Queue::default(),
            slots: Vec::new(),
            counters: NetCounters::default(),
            trace: mix(cfg.seed),
            now: 0,
            node_config,
            tx_buf: Vec::new(),
            ev_buf: Vec::new(),
            events_run: 0,
            started: now,
            last_progress: now,
            cfg,
        };
        for _ in 0..sim.cfg.nodes {
            let i = sim.add_slot();
            let mut clock = SimRng::new(derive(sim.cfg.seed, Stream::Clock, i as u64));
            let start = clock.below(sim.cfg.gossip_interval_ms);
            sim.queue.push(start, Ev::Start { node: i as u32 });
        }
        sim.queue.push(0, Ev::Tick);
        Ok(sim)
    }

    /// Adds a slot for a new node (not started) and returns its index.
    pub(crate) fn add_slot(&mut self) -> usize {
        let i = self.slots.len();
        let seed = self.cfg.seed;
        let mut clock = SimRng::new(derive(seed, Stream::Clock, i as u64));
        let skew = self.cfg.clock_skew_ms as i64;
        let skew_ms = if skew > 0 {
            clock.below(2 * skew as u64 + 1) as i64 - skew
        } else {
            0
        };
        self.slots.push(Slot {
            addr: addr(i),
            node: None,
            life: Life::Pending,
            generation: 0,
            lives: 0,
            since: 0,
            paused_until: None,
            broken: self.cfg.broken_node == Some(i),
            skew_ms,
            rounds_before: 0,
            timer_at: None,
            token: 0,
            held: Vec::new(),
            net_rng: SimRng::new(derive(seed, Stream::Network, i as u64)),
            timer_rng: SimRng::new(derive(seed, Stream::Timers, i as u64)),
        });
        self.obs.grow(self.slots.len());
        i
    }

    /// Starts a new life of node `i`: a fresh core with a higher generation and empty state.
    pub(crate) fn start_node(&mut self, i: usize) {
        let now = self.now;
        let slot = &mut self.slots[i];
        slot.generation += 1;
        slot.lives += 1;
        let rng_seed = mix(derive(self.cfg.seed, Stream::Node, i as u64) ^ slot.lives);
        let Ok(mut node) = Node::new(
            self.node_config.clone(),
            NodeId::new(slot.addr, slot.generation),
            rng_seed,
        ) else {
            // The configuration was validated in `new`; nothing else can fail.
            return;
        };
        node.handle_wall_clock(Timestamp::from_millis(now), slot.wall(now));
        node.start(Timestamp::from_millis(now));
        slot.node = Some(node);
        slot.life = Life::Running;
        slot.since = now;
        slot.timer_at = None;
        slot.paused_until = None;
        slot.held.clear();
        self.obs.new_life(i);
        self.after_input(i);
    }

    /// Ends node `i`'s life: crash (silently) or leave (gracefully, its farewell sent).
    pub(crate) fn end_node(&mut self, i: usize, graceful: bool) {
        let now = Timestamp::from_millis(self.now);
        if graceful {
            if let Some(node) = self.slots[i].node.as_mut() {
                node.stop(now);
            }
            self.after_input(i);
        }
        let slot = &mut self.slots[i];
        if let Some(node) = slot.node.take() {
            slot.rounds_before += node.stats().rounds;
        }
        slot.life = if graceful { Life::Left } else { Life::Crashed };
        slot.timer_at = None;
        slot.paused_until = None;
        slot.held.clear();
    }

    /// Stalls node `i` for `ms`: its timers and arrivals wait until it resumes.
    pub(crate) fn pause_node(&mut self, i: usize, ms: u64) {
        let slot = &mut self.slots[i];
        if slot.life != Life::Running || slot.paused_until.is_some() {
            return;
        }
        slot.paused_until = Some(self.now + ms);
        self.obs.pauses.push((i, self.now, self.now + ms));
        self.queue
            .push(self.now + ms, Ev::Resume { node: i as u32 });
    }

    /// Runs every event up to virtual time `until_ms` (the scenario's schedule included), for
    /// drivers that step a run themselves, such as the round benchmark.
    pub fn run_until(&mut self, until_ms: u64) {
        while let Some((at, ev)) = self.queue.pop_until(until_ms) {
            self.now = at;
            self.events_run += 1;
            self.step(ev);
        }
        self.now = self.now.max(until_ms);
    }

    /// Whether every live node believes every other live node alive.
    pub fn membership_converged(&self) -> bool {
        crate::scenario::membership_agrees(self)
    }

    /// Runs until the scenario's end, then for the settling rounds after the snapshot.
    pub fn run(&mut self) {
        loop {
            let limit = self.plan.end_at.unwrap_or(u64::MAX);
            let Some((at, ev)) = self.queue.pop_until(limit) else {
                if self.plan.snapshot.is_none()
                    && let Some(end) = self.plan.end_at
                {
                    // The scenario is over. Note every live origin's version, then give gossip
                    // a few more rounds: each of those versions must reach every live node by
                    // then (internal records may keep changing meanwhile).
                    self.now = self.now.max(end);
                    self.plan.snapshot = Some(crate::invariants::own_versions(self));
                    self.plan.end_at = Some(end + self.plan.settle_ms);
                    continue;
                }
                break;
            };
            self.now = at;
            self.events_run += 1;
            self.step(ev);
            if self.cfg.progress && self.events_run.is_multiple_of(16_384) {
                self.progress();
            }
        }
        if let Some(end) = self.plan.end_at {
            self.now = self.now.max(end);
        }
    }

    fn progress(&mut self) {
        let t = Instant::now();
        if t.duration_since(self.last_progress) < Duration::from_secs(2) {
            return;
        }
        self.last_progress = t;
        let end = self
            .plan
            .end_at
            .map_or(String::from("?"), |e| format!("{:.0}", e as f64 / 1000.0));
        eprintln!(
            "[{:>6.1}s wall] virtual {:.1}s of {end}s, {} events, {} queued",
            t.duration_since(self.started).as_secs_f64(),
            self.now as f64 / 1000.0,
            self.events_run,
            self.queue.len()
        );
    }

    pub(crate) fn hash(&mut self, x: u64) {
        self.trace = mix(self.trace ^ x);
    }

    fn step(&mut self, ev: Ev) {
        let now = self.now;
        match ev {
            Ev::Deliver {
                to,
                from,
                stream,
                damaged,
                payload,
            } => {
                self.hash(now ^ (u64::from(to) << 20) ^ (u64::from(from) << 42) ^ 1);
                self.deliver(to as usize, from, stream, damaged, payload);
            }
            Ev::Timer { node, token } => {
                let i = node as usize;
                let slot = &mut self.slots[i];
                if slot.token != token || slot.life != Life::Running {
                    return;
                }
                slot.timer_at = None;
                if slot.paused_until.is_some() {
                    // Handled when it resumes.
                    return;
                }
                if let Some(n) = slot.node.as_mut() {
                    n.handle_timeout(Timestamp::from_millis(now));
                }
                self.hash(now ^ (u64::from(node) << 20) ^ 2);
                self.after_input(i);
            }
            Ev::Start { node } => {
                self.hash(now ^ (u64::from(node) << 20) ^ 3);
                if self.slots[node as usize].life == Life::Pending {
                    self.start_node(node as usize);
                }
            }
            Ev::Resume { node } => {
                self.hash(now ^ (u64::from(node) << 20) ^ 4);
                self.resume(node as usize);
            }
            Ev::Action(action) => {
                self.hash(now ^ 5);
                crate::scenario::perform(self, action);
            }
            Ev::Tick => {
                crate::scenario::tick(self);
                let every = (self.cfg.gossip_interval_ms / 10).max(1);
                self.queue.push(now + every, Ev::Tick);
            }
        }
    }

    fn resume(&mut self, i: usize) {
        let slot = &mut self.slots[i];
        if slot.life != Life::Running || slot.paused_until.is_none() {
            return;
        }
        slot.paused_until = None;
        let held = std::mem::take(&mut slot.held);
        let now = Timestamp::from_millis(self.now);
        if let Some(n) = slot.node.as_mut() {
            n.handle_timeout(now);
        }
        self.after_input(i);
        for (from, stream, damaged, payload) in held {
            self.deliver(i, from, stream, damaged, payload);
        }
    }

    /// The driving contract after every input: drain transmits (into the network) and events
    /// (into the observer), then re-arm the node's timer.
    pub(crate) fn after_input(&mut self, i: usize) {
        let mut tx = std::mem::take(&mut self.tx_buf);
        let mut evs = std::mem::take(&mut self.ev_buf);
        let next = match self.slots[i].node.as_mut() {
            Some(node) => {
                while let Some(t) = node.poll_transmit() {
                    tx.push(t);
                }
                while let Some(e) = node.poll_event() {
                    evs.push(e);
                }
                node.poll_timeout()
            }
            None => None,
        };
        for t in tx.drain(..) {
            self.send(i, t);
        }
        for e in evs.drain(..) {
            crate::observe::on_event(self, i, e);
        }
        self.tx_buf = tx;
        self.ev_buf = evs;
        self.arm_timer(i, next);
    }

    fn arm_timer(&mut self, i: usize, next: Option<Timestamp>) {
        let now = self.now;
        let late_p = self.cfg.late_timeout;
        let late_ms = self.cfg.late_timeout_ms.max(1);
        let slot = &mut self.slots[i];
        let Some(t) = next else {
            slot.timer_at = None;
            return;
        };
        let t = t.as_millis().max(now);
        if slot.timer_at.is_some_and(|at| at <= t) {
            return;
        }
        slot.token += 1;
        slot.timer_at = Some(t);
        let late = if slot.timer_rng.chance(late_p) {
            1 + slot.timer_rng.below(late_ms)
        } else {
            0
        };
        let token = slot.token;
        self.queue.push(
            t + late,
            Ev::Timer {
                node: i as u32,
                token,
            },
        );
    }

    /// Wall time since the simulation was created.
    pub fn wall_secs(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// Gossip rounds run by every node in every life so far.
    pub fn node_rounds(&self) -> u64 {
        self.slots
            .iter()
            .map(|s| s.rounds_before + s.node.as_ref().map_or(0, |n| n.stats().rounds))
            .sum()
    }

    /// The slots, for checks and reports.
    pub fn slots(&self) -> &[Slot] {
        &self.slots
    }

    /// Current virtual time in ms.
    pub fn now_ms(&self) -> u64 {
        self.now
    }

    /// The trace hash so far: every event, transmit and scenario step folded in order.
    pub fn trace_hash(&self) -> u64 {
        self.trace
    }
}
