//! Everything that happens because time passed: gossip rounds, heartbeats, convictions,
//! expiry, garbage collection and forgetting the dead.

use alloc::vec::Vec;
use core::net::SocketAddr;
use core::time::Duration;
use rand_core::Rng;

use super::Node;
use crate::event::{DeathCause, Event};
use crate::time::Timestamp;
use crate::wire::{Body, Key, Value};

/// Draws of a gossip target that may miss (land on a dead peer or one already chosen) before a
/// round lists the live peers to draw from: with half the known peers dead, 16 misses in a
/// round are rare (fewer than one round in a thousand at a fanout of 3).
const MAX_TARGET_MISSES: u32 = 16;

impl Node {
    /// Runs every timer that is due at `now`, in a fixed order. Early or repeated calls do
    /// nothing beyond what is due.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        self.observe(now);
        if !self.running {
            return;
        }
        if let Some(last) = self.last_tick
            && self.now.saturating_since(last) > self.config.local_pause
        {
            // This node was paused (or its driver starved): silence since then says nothing
            // about the peers.
            for m in self.members.monitored.values_mut() {
                m.detector.restart_clock(self.now);
            }
        }
        self.last_tick = Some(self.now);
        if self.now >= self.next_heartbeat {
            self.heartbeat_tick();
            self.next_heartbeat = self.now + self.jittered(self.config.heartbeat_interval);
        }
        if self.now >= self.next_gossip {
            self.gossip_round(false);
            self.next_gossip = self.now + self.jittered(self.config.gossip_interval);
        }
        if let Some(every) = self.config.seed_interval
            && self.now >= self.next_seed_gossip
        {
            self.seed_round();
            self.next_seed_gossip = self.now + self.jittered(every);
        }
        // Sweep last: the timers above may write entries (accusations) whose expiry has already
        // passed by a wall clock far ahead, and the next deadline must lie in the future.
        let mut changes = Vec::new();
        let wall = self.wall_now();
        self.store
            .expire(wall, self.now, self.config.tombstone_grace, &mut changes);
        self.process_changes(changes);
        self.store.collect_tombstones(self.now);
    }

    pub(super) fn jittered(&mut self, d: Duration) -> Duration {
        let u = (self.rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        d.mul_f64(1.0 + self.config.interval_jitter * (2.0 * u - 1.0))
            .max(Duration::from_millis(1))
    }

    pub(super) fn rng_below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.rng.next_u64() % n as u64) as usize
        }
    }

    fn rng_chance(&mut self, p: f64) -> bool {
        ((self.rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64) < p
    }

    /// Gossips with the next seed in turn (`Config::seed_interval`).
    fn seed_round(&mut self) {
        let seeds = &self.members.seeds;
        if seeds.is_empty() {
            return;
        }
        let turn = self.seed_turn % seeds.len();
        self.seed_turn = turn + 1;
        if let Some(seed) = seeds.iter().nth(turn).copied() {
            self.send_syn(seed);
        }
    }

    /// Picks whom to gossip with, as Cassandra does: `fanout` random live peers; a dead peer
    /// with probability dead/(live+1) (so partitions heal); a seed now and then (so separated
    /// groups find each other), always when nobody is known.
    pub(super) fn gossip_round(&mut self, initial: bool) {
        self.stats.rounds += 1;
        let live = self.members.live_len();
        let dead: Vec<SocketAddr> = self
            .members
            .dead()
            .filter(|(_, p)| p.dead == Some(DeathCause::Failed))
            .map(|(a, _)| *a)
            .collect();
        let seeds: Vec<SocketAddr> = self.members.seeds.iter().copied().collect();
        let mut targets = Vec::new();
        let fanout = self.config.fanout.min(live);
        let known = self.members.known_len();
        let mut misses = 0;
        // Filled only after many misses.
        let mut live_list: Vec<SocketAddr> = Vec::new();
        while targets.len() < fanout {
            // Rejection sampling keeps the choice uniform: fanout is small next to the
            // membership and few known peers are dead, so misses (a dead peer, or one already
            // chosen) are rare. After many (most known peers dead, as on this side of a
            // partition, or a cluster barely larger than the fanout), one pass lists the live
            // peers to draw from instead, and the round ends once every one of them is chosen.
            let pick = if misses < MAX_TARGET_MISSES {
                let i = self.rng_below(known);
                self.members.live_at(i)
            } else {
                if live_list.is_empty() {
                    live_list = self.members.live().copied().collect();
                }
                if targets.len() >= live_list.len() {
                    break;
                }
                live_list.get(self.rng_below(live_list.len())).copied()
            };
            match pick {
                Some(peer) if !targets.contains(&peer) => targets.push(peer),
                _ => misses += 1,
            }
        }
        if !dead.is_empty() && self.rng_chance(dead.len() as f64 / (live + 1) as f64) {
            let i = self.rng_below(dead.len());
            targets.push(dead[i]);
        }
        if initial {
            targets.extend(seeds.iter().copied());
        } else if !seeds.is_empty() {
            let talked_to_seed = targets.iter().any(|t| self.members.seeds.contains(t));
            let p = seeds.len() as f64 / (live + dead.len()).max(1) as f64;
            if live == 0 || (!talked_to_seed && self.rng_chance(p)) {
                let i = self.rng_below(seeds.len());
                targets.push(seeds[i]);
            }
        }
        targets.sort_unstable();
        targets.dedup();
        targets.retain(|t| *t != self.id.addr);
        for t in targets {
            self.send_syn(t);
        }
    }

    fn heartbeat_tick(&mut self) {
        let me = self.id.addr;
        let incarnation = self.store.status(&me).incarnation;
        let monitors = self.members.successors_cached(&me, self.config.monitors);
        let released: Vec<SocketAddr> = self
            .members
            .monitors
            .iter()
            .filter(|m| !monitors.contains(m))
            .copied()
            .collect();
        for m in released {
            if self.members.knows(&m) {
                self.send(
                    m,
                    true,
                    Body::Heartbeat {
                        incarnation,
                        release: true,
                    },
                );
            }
        }
        for m in &monitors {
            self.send(
                *m,
                true,
                Body::Heartbeat {
                    incarnation,
                    release: false,
                },
            );
        }
        self.members.monitors = monitors;

        // Unanswered exchanges (lost, or a seed answering under another name) stop counting.
        let stale = self.now - self.config.gossip_interval * 4;
        self.syn_sent.retain(|_, sent| *sent >= stale);
        self.judge_monitored();
        self.rejudge();

        if self.config.emit_value_on_heartbeat {
            self.reemit_values();
        }
        self.forget_the_dead();
    }

    fn reemit_values(&mut self) {
        let mut live: Vec<SocketAddr> = self.members.live().copied().collect();
        live.sort_unstable();
        for peer in live {
            let Some(state) = self.store.origins.get(&peer) else {
                continue;
            };
            for (key, entry) in state.iter() {
                if let (Key::User(key), Value::Bytes(value)) = (key, &entry.value) {
                    self.events.push_back(Event::Set {
                        peer,
                        key: key.clone(),
                        value: value.clone(),
                        expires_at: entry.expires_at,
                    });
                }
            }
        }
    }

    /// Re-derives the verdict on every peer that failed or is accused. A verdict depends on
    /// this node's view of the ring (whose accusations count), and that changes without any
    /// change to the accused's records; recomputed only on those changes, a verdict went stale:
    /// after a partition of 1,000 nodes healed, a node kept a live peer dead for good because
    /// the accusations that had convicted it no longer counted. Dead and accused peers are few,
    /// so this costs little.
    fn rejudge(&mut self) {
        let mut peers: Vec<SocketAddr> = self
            .members
            .dead()
            .filter(|(_, p)| p.dead == Some(DeathCause::Failed))
            .map(|(a, _)| *a)
            .chain(self.members.accusations.keys().copied())
            .collect();
        peers.sort_unstable();
        peers.dedup();
        for peer in peers {
            self.recompute(peer);
        }
    }

    /// Forgets peers dead for longer than `dead_grace`, remembering their generation so stale
    /// gossip cannot bring them back.
    fn forget_the_dead(&mut self) {
        let now = self.now;
        let grace = self.config.dead_grace;
        self.members.forgotten.retain(|_, (_, until)| *until > now);
        let expired: Vec<SocketAddr> = self
            .members
            .dead()
            .filter(|(_, p)| now.saturating_since(p.since) >= grace)
            .map(|(a, _)| *a)
            .collect();
        for peer in expired {
            if let Some(state) = self.store.remove_origin(&peer) {
                self.members
                    .forgotten
                    .insert(peer, (state.generation, now + grace));
            }
            // Accusations this peer made vanish with its state.
            let accused: Vec<SocketAddr> = self
                .members
                .accusations
                .iter()
                .filter(|(_, by)| by.contains_key(&peer))
                .map(|(a, _)| *a)
                .collect();
            self.members.remove(&peer);
            self.contacts.forget(&peer);
            for a in accused {
                self.recompute(a);
            }
        }
    }
}
