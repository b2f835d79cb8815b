//! What the simulator learns from the events nodes raise: who each node believes alive, when
//! tracked writes and `say` events arrive, when crashes are detected, and false positives.

use std::collections::HashMap;

use telepathine_core::{DeathCause, Event};

use crate::engine::Sim;
use crate::slot::index_of;

/// A write whose spread is measured: `key` written by `origin` at `at`.
#[derive(Clone, Debug)]
pub struct Track {
    /// The key.
    pub key: String,
    /// The writing node.
    pub origin: usize,
    /// Virtual ms of the write.
    pub at: u64,
    /// When each node (in its current life) first raised `Set` for it.
    pub arrivals: Vec<Option<u64>>,
}

/// A `say` event and who heard it.
#[derive(Clone, Debug)]
pub struct Said {
    /// The sayer.
    pub origin: usize,
    /// Virtual ms it was said.
    pub at: u64,
    /// Virtual ms its lifetime ends.
    pub until: u64,
    /// Per node: (life, times heard in that life, first heard at).
    pub heard: Vec<(u64, u32, Option<u64>)>,
}

/// A crash and when each node declared it.
#[derive(Clone, Debug)]
pub struct Crash {
    /// The crashed node.
    pub node: usize,
    /// Its generation when it crashed.
    pub generation: u64,
    /// Virtual ms of the crash.
    pub at: u64,
    /// When each node first declared that life dead.
    pub detected: Vec<Option<u64>>,
}

/// Everything recorded while the run goes.
#[derive(Clone, Debug, Default)]
pub struct Observer {
    /// Peers each node currently believes alive, counted from `PeerAlive`/`PeerDead`.
    pub alive: Vec<u32>,
    /// Measured writes.
    pub tracks: Vec<Track>,
    track_index: HashMap<String, usize>,
    /// Every `say`.
    pub says: Vec<Said>,
    /// Every crash.
    pub crashes: Vec<Crash>,
    /// Live, reachable peers declared failed.
    pub false_positives: u64,
    /// A few of them, described.
    pub fp_examples: Vec<String>,
    /// Invariant violations seen as they happened.
    pub violations: Vec<String>,
    /// Stalls: (node, from, to) in virtual ms.
    pub pauses: Vec<(usize, u64, u64)>,
    /// Messages and bytes sent, per gossip interval since time zero.
    pub traffic: Vec<(u64, u64)>,
}

impl Observer {
    /// Makes room for `n` nodes.
    pub fn grow(&mut self, n: usize) {
        self.alive.resize(n, 0);
        for t in &mut self.tracks {
            t.arrivals.resize(n, None);
        }
        for s in &mut self.says {
            s.heard.resize(n, (0, 0, None));
        }
        for c in &mut self.crashes {
            c.detected.resize(n, None);
        }
    }

    /// Node `i` starts a new life: it knows nothing.
    pub fn new_life(&mut self, i: usize) {
        self.alive[i] = 0;
        for t in &mut self.tracks {
            t.arrivals[i] = None;
        }
    }

    /// Starts measuring `key` written by `origin` at `at`.
    pub fn track(&mut self, key: &str, origin: usize, at: u64) {
        let n = self.alive.len();
        self.track_index.insert(key.to_string(), self.tracks.len());
        self.tracks.push(Track {
            key: key.to_string(),
            origin,
            at,
            arrivals: vec![None; n],
        });
    }

    /// The track of `key`, if measured.
    pub fn track_of(&self, key: &str) -> Option<&Track> {
        self.track_index.get(key).map(|&i| &self.tracks[i])
    }

    /// Registers a `say` and returns its id (carried in its payload).
    pub fn said(&mut self, origin: usize, at: u64, until: u64) -> u64 {
        let n = self.alive.len();
        self.says.push(Said {
            origin,
            at,
            until,
            heard: vec![(0, 0, None); n],
        });
        self.says.len() as u64 - 1
    }

    /// Records a crash of `node` in `generation`.
    pub fn crashed(&mut self, node: usize, generation: u64, at: u64) {
        let n = self.alive.len();
        self.crashes.push(Crash {
            node,
            generation,
            at,
            detected: vec![None; n],
        });
    }

    /// Counts a message of `len` bytes sent at `now`.
    pub fn traffic(&mut self, now: u64, interval_ms: u64, len: usize) {
        let b = (now / interval_ms) as usize;
        if self.traffic.len() <= b {
            self.traffic.resize(b + 1, (0, 0));
        }
        self.traffic[b].0 += 1;
        self.traffic[b].1 += len as u64;
    }
}

/// Records event `e` raised by node `i`.
pub(crate) fn on_event(sim: &mut Sim, i: usize, e: Event) {
    let Sim {
        obs,
        slots,
        net,
        now,
        ..
    } = sim;
    let now = *now;
    match e {
        Event::PeerAlive { .. } => obs.alive[i] += 1,
        Event::PeerDead { peer, cause } => {
            obs.alive[i] = obs.alive[i].saturating_sub(1);
            let Some(j) = index_of(&peer).filter(|&j| j < slots.len()) else {
                return;
            };
            if cause != DeathCause::Failed {
                return;
            }
            let seen = slots[i]
                .node
                .as_ref()
                .and_then(|n| n.peer_generation(&peer));
            let mut explained = false;
            for c in obs
                .crashes
                .iter_mut()
                .filter(|c| c.node == j && Some(c.generation) == seen)
            {
                explained = true;
                c.detected[i].get_or_insert(now);
            }
            let s = &slots[j];
            if !explained
                && s.is_live()
                && seen == Some(s.generation)
                && net.reachable(i, j)
                && net.reachable(j, i)
            {
                obs.false_positives += 1;
                if obs.fp_examples.len() < 5 {
                    obs.fp_examples.push(format!(
                        "node {i} declared live node {j} failed at {}ms",
                        now
                    ));
                }
            }
        }
        Event::Set { peer, key, .. } => {
            if let Some(&t) = obs.track_index.get(key.as_str()) {
                let tr = &mut obs.tracks[t];
                if index_of(&peer) == Some(tr.origin) && i != tr.origin {
                    tr.arrivals[i].get_or_insert(now);
                }
            }
        }
        Event::Heard { from, payload, .. } => {
            let id = payload
                .get(..8)
                .and_then(|b| b.try_into().ok())
                .map(u64::from_le_bytes);
            let Some(said) = id.and_then(|id| obs.says.get_mut(id as usize)) else {
                obs.violations
                    .push(format!("node {i} heard an event the simulator never said"));
                return;
            };
            if index_of(&from) != Some(said.origin) {
                obs.violations
                    .push(format!("node {i} heard say {id:?} attributed to {from}"));
            }
            if i == said.origin {
                obs.violations
                    .push(format!("sayer {i} heard its own say {id:?}"));
            }
            let life = slots[i].lives;
            let h = &mut said.heard[i];
            if h.0 != life {
                *h = (life, 0, None);
            }
            h.1 += 1;
            h.2.get_or_insert(now);
            if h.1 == 2 {
                obs.violations.push(format!(
                    "node {i} heard say {id:?} twice (second at {now}ms)"
                ));
            }
        }
        _ => {}
    }
}
