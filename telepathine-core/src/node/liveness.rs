//! Turning state changes into events, and deciding who is alive.
//!
//! The rule: a peer is dead when its own status says it left, or when at least
//! `min(dead_quorum, monitors it can have)` distinct nodes that are its monitors (its ring
//! successors, in the evaluating node's view) accuse its current generation at an incarnation no
//! lower than its own. Accusations are entries in the accusers' state, so every
//! node sees the same evidence once gossip has spread it, and reaches the same verdict. An
//! accused node that is alive refutes by raising its incarnation, which voids every accusation
//! made at the old one; a monitor that hears from the peer again withdraws its accusation.

use super::Node;
use crate::event::{DeathCause, Event};
use crate::state::Change;
use crate::wire::{Key, Status, Value};
use core::net::SocketAddr;

impl Node {
    pub(super) fn on_change(&mut self, change: Change) {
        let me = self.id.addr;
        match change {
            Change::Origin { origin, .. } => {
                if origin == me {
                    return;
                }
                if !self.members.knows(&origin) {
                    self.events.push_back(Event::PeerNew { peer: origin });
                }
                self.recompute(origin);
            }
            Change::Set {
                origin,
                key,
                value,
                expires_at,
            } => self.events.push_back(Event::Set {
                peer: origin,
                key,
                value,
                expires_at,
            }),
            Change::Deleted { origin, key } => {
                self.events.push_back(Event::Deleted { peer: origin, key })
            }
            Change::Expired {
                origin,
                key,
                value,
                expires_at,
            } => self.events.push_back(Event::KeyExpired {
                peer: origin,
                key,
                value,
                expires_at,
            }),
            Change::Heard {
                origin,
                name,
                payload,
            } => {
                if origin != me {
                    self.events.push_back(Event::Heard {
                        event: name,
                        payload,
                        from: origin,
                    });
                }
            }
            Change::Status { origin } => {
                if origin != me {
                    self.recompute(origin);
                }
            }
            Change::Accusation { accuser, accused } => {
                let entry = self
                    .store
                    .origins
                    .get(&accuser)
                    .and_then(|s| s.get_stored(&Key::Accuse(accused)));
                match entry.map(|e| &e.value) {
                    Some(Value::Accusation {
                        generation,
                        incarnation,
                    }) => {
                        self.members
                            .accusations
                            .entry(accused)
                            .or_default()
                            .insert(accuser, (*generation, *incarnation));
                        if accuser == me {
                            self.accusing.insert(accused);
                        }
                    }
                    _ => {
                        if accuser == me {
                            self.accusing.remove(&accused);
                        }
                        if let Some(by) = self.members.accusations.get_mut(&accused) {
                            by.remove(&accuser);
                            if by.is_empty() {
                                self.members.accusations.remove(&accused);
                            }
                        }
                    }
                }
                if accused == me {
                    self.refute();
                } else {
                    self.recompute(accused);
                }
            }
        }
    }

    /// Raises this node's incarnation above any live accusation against it.
    fn refute(&mut self) {
        if !self.running {
            return;
        }
        let me = self.id;
        let status = self.store.status(&me.addr);
        let live: alloc::vec::Vec<u64> = self
            .members
            .accusations
            .get(&me.addr)
            .into_iter()
            .flat_map(|by| by.values())
            .filter(|(g, inc)| *g == me.generation && *inc >= status.incarnation)
            .map(|(_, inc)| *inc)
            .collect();
        // A lone accuser (a monitor behind a one-way bad link) convicts nobody, and refuting it
        // would only make it accuse again each interval: answer only a quorum.
        let required = self
            .config
            .dead_quorum
            .min(
                self.members
                    .possible_monitors(&me.addr, self.config.monitors),
            )
            .max(1);
        if live.len() < required {
            return;
        }
        if let Some(inc) = live.into_iter().max() {
            self.write_status(Status {
                incarnation: inc.saturating_add(1),
                left: status.left,
            });
        }
    }

    /// Re-derives whether `peer` is alive and emits the transition, if any.
    pub(super) fn recompute(&mut self, peer: SocketAddr) {
        if peer == self.id.addr {
            // This node is not its own peer (accusations of it are refuted, not judged).
            return;
        }
        let Some(state) = self.store.origins.get(&peer) else {
            return;
        };
        let generation = state.generation;
        let status = state.status();
        let dead = if status.left {
            Some(DeathCause::Left)
        } else if !self.members.accusations.contains_key(&peer) {
            // Nobody accuses it (the common case, checked first as it is cheap).
            None
        } else {
            // Only the peer's monitors in this node's view of the ring count: a node that stopped
            // monitoring it (and missed being told) holds a stale opinion.
            let accusers = self.members.accusations.get(&peer).map_or(0, |by| {
                let monitors = self.members.successors(&peer, self.config.monitors);
                by.iter()
                    .filter(|(accuser, (g, inc))| {
                        *g == generation && *inc >= status.incarnation && monitors.contains(accuser)
                    })
                    .count()
            });
            let possible = self.members.possible_monitors(&peer, self.config.monitors);
            let required = self.config.dead_quorum.min(possible).max(1);
            // This node's own conviction settles its own view when it convicts several peers at
            // once: then it is cut off (or they really failed), and nobody else's accusations
            // can reach it. A single conviction waits for the quorum, as a bad link is likelier.
            let own = self
                .members
                .accusations
                .get(&peer)
                .and_then(|by| by.get(&self.id.addr))
                .is_some_and(|(g, inc)| *g == generation && *inc >= status.incarnation)
                && self.own_accusations() >= self.self_settling_quorum();
            (accusers >= required || own).then_some(DeathCause::Failed)
        };
        // An accusation of an earlier life or incarnation is void: withdraw ours so stale
        // evidence does not linger in everyone's state.
        if let Some(Value::Accusation {
            generation: g,
            incarnation: inc,
        }) = self
            .store
            .mine()
            .get_stored(&Key::Accuse(peer))
            .map(|e| &e.value)
            && (*g != generation || *inc < status.incarnation)
        {
            self.withdraw_accusation(peer);
        }
        if self.members.judge(peer, dead, self.now) {
            if dead.is_none() {
                self.resume_judging(&peer);
            }
            self.events.push_back(match dead {
                None => Event::PeerAlive { peer },
                Some(cause) => Event::PeerDead { peer, cause },
            });
        }
    }

    /// How many peers this node must convict at once before its own convictions settle its own
    /// view: the quorum, and at least half its monitors' number. A node cut off from the others
    /// convicts all its predecessors; under heavy loss (10 %), two unlucky detectors at once
    /// are not rare in a large cluster, and that must not make this node alone see them dead.
    /// It depends on the configuration only, so verdicts do not flip as the peers this node
    /// judges come and go.
    fn self_settling_quorum(&self) -> usize {
        self.config.dead_quorum.max(self.config.monitors / 2)
    }

    /// Peers this node currently accuses.
    fn own_accusations(&self) -> usize {
        self.store
            .mine()
            .iter()
            .filter(|(k, e)| {
                matches!(k, Key::Accuse(_)) && matches!(e.value, Value::Accusation { .. })
            })
            .count()
    }

    /// Re-judges everyone this node accuses: whether its own convictions settle its view depends
    /// on how many there are.
    fn recompute_accused(&mut self) {
        let accused: alloc::vec::Vec<SocketAddr> = self
            .store
            .mine()
            .iter()
            .filter_map(|(k, _)| match k {
                Key::Accuse(peer) => Some(*peer),
                _ => None,
            })
            .collect();
        for peer in accused {
            self.recompute(peer);
        }
    }

    /// When the number of this node's own accusations crosses the quorum, its convictions start
    /// or stop settling its own view.
    fn after_own_accusations_changed(&mut self, before: usize) {
        let q = self.self_settling_quorum();
        if (before >= q) != (self.own_accusations() >= q) {
            self.recompute_accused();
        }
    }

    /// Publishes this node's conviction of a peer it monitors.
    pub(super) fn accuse(&mut self, peer: SocketAddr) {
        let Some(generation) = self.store.origins.get(&peer).map(|s| s.generation) else {
            return;
        };
        let status = self.store.status(&peer);
        if status.left {
            return;
        }
        let value = Value::Accusation {
            generation,
            incarnation: status.incarnation,
        };
        let current = self
            .store
            .mine()
            .get_stored(&Key::Accuse(peer))
            .map(|e| &e.value);
        if current == Some(&value) {
            return;
        }
        // The accusation outlives every node's grace period, so nobody that still holds the peer
        // sees it alive again because the accusers forgot it first; then it expires on its own.
        let expires = self
            .wall_now()
            .saturating_add(crate::time::duration_ms(self.config.dead_grace * 2));
        let before = self.own_accusations();
        if self.write(Key::Accuse(peer), value, Some(expires)).is_ok() {
            self.stats.accusations += 1;
            self.on_change(Change::Accusation {
                accuser: self.id.addr,
                accused: peer,
            });
            self.after_own_accusations_changed(before);
        }
    }

    /// Withdraws this node's accusation of `peer`, if it made one.
    pub(super) fn withdraw_accusation(&mut self, peer: SocketAddr) {
        let accused = self.accusing.contains(&peer);
        debug_assert_eq!(
            accused,
            matches!(
                self.store
                    .mine()
                    .get_stored(&Key::Accuse(peer))
                    .map(|e| &e.value),
                Some(Value::Accusation { .. })
            ),
            "the mirror of this node's accusations went out of step for {peer}"
        );
        if !accused {
            return;
        }
        let before = self.own_accusations();
        if self
            .write(Key::Accuse(peer), Value::Tombstone, None)
            .is_ok()
        {
            self.on_change(Change::Accusation {
                accuser: self.id.addr,
                accused: peer,
            });
            self.after_own_accusations_changed(before);
        }
    }
}
