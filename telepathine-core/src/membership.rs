//! Who the peers are and whether they live: the hash ring that assigns monitors, the
//! detectors of the peers that chose this node as a monitor, and accusations learned by gossip.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;
use core::net::{IpAddr, SocketAddr};

use crate::event::DeathCause;
use crate::packed_map::PackedMap;
use crate::phi::PhiDetector;
use crate::time::Timestamp;

/// How this node currently sees a peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PeerState {
    /// `None` while alive.
    pub dead: Option<DeathCause>,
    /// When the current judgement began.
    pub since: Timestamp,
    /// When this node first learned of the peer.
    pub known_since: Timestamp,
}

/// A peer that sends heartbeats to this node.
#[derive(Clone, Debug)]
pub(crate) struct Monitored {
    pub generation: u64,
    pub detector: PhiDetector,
    /// When this node began (or last resumed) judging the peer: the start of the grace given
    /// to a peer that has not sent a heartbeat yet.
    pub since: Timestamp,
}

/// Ring position of an address: a stable hash, so every node derives the same ring.
pub(crate) fn ring_hash(addr: &SocketAddr) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325;
    match addr.ip() {
        IpAddr::V4(ip) => h = crate::wire::fnv1a64(&ip.octets(), h),
        IpAddr::V6(ip) => h = crate::wire::fnv1a64(&ip.octets(), h),
    }
    h = crate::wire::fnv1a64(&addr.port().to_be_bytes(), h);
    // One extra mixing round (splitmix64 finaliser): FNV alone clusters similar addresses.
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// A peer's place in the peer map: its ring position first, so the map in key order is the ring.
type RingKey = (u64, SocketAddr);

fn ring_key(peer: &SocketAddr) -> RingKey {
    (ring_hash(peer), *peer)
}

#[derive(Debug)]
pub(crate) struct Membership {
    /// This node: on the ring, but not among the peers.
    me: SocketAddr,
    /// Every known peer, alive or dead, by ring position. One map serves as the ring (its live
    /// entries in key order), as the peer records (found by address through its hash index)
    /// and as the pool of random gossip targets ([`PackedMap::nth`] reaches any entry in O(1)):
    /// every node holds an entry for every peer, and a separate ring cost another 50 bytes or
    /// so per peer.
    peers: PackedMap<RingKey, PeerState>,
    /// The last [`Membership::successors_cached`] answer, `(node, k, successors)`, until the
    /// ring changes: a node asks for its own monitors every heartbeat, and in a quiet cluster
    /// the answer stays the same while each asking cost two searches of the ring.
    successors_memo: Option<(SocketAddr, usize, Vec<SocketAddr>)>,
    /// The same for [`Membership::predecessors_cached`] (the peers a node monitors).
    predecessors_memo: Option<(SocketAddr, usize, Vec<SocketAddr>)>,
    /// Dead peers still remembered, so rounds and sweeps visit them without a scan of everyone.
    dead_set: BTreeSet<SocketAddr>,
    /// accused → accuser → (generation, incarnation) of the accusation.
    pub accusations: BTreeMap<SocketAddr, BTreeMap<SocketAddr, (u64, u64)>>,
    /// Peers that chose this node as a monitor.
    pub monitored: BTreeMap<SocketAddr, Monitored>,
    /// Peers this node sends heartbeats to.
    pub monitors: Vec<SocketAddr>,
    /// Forgotten peers: generation at or below which they stay forgotten, and until when.
    pub forgotten: BTreeMap<SocketAddr, (u64, Timestamp)>,
    pub seeds: BTreeSet<SocketAddr>,
    /// Peers that released this node as a monitor, and until when it should not expect their
    /// heartbeats.
    pub released: BTreeMap<SocketAddr, Timestamp>,
}

impl Membership {
    pub fn new(me: SocketAddr) -> Self {
        Membership {
            me,
            peers: PackedMap::default(),
            successors_memo: None,
            predecessors_memo: None,
            dead_set: BTreeSet::new(),
            accusations: BTreeMap::new(),
            monitored: BTreeMap::new(),
            monitors: Vec::new(),
            forgotten: BTreeMap::new(),
            seeds: BTreeSet::new(),
            released: BTreeMap::new(),
        }
    }

    /// Seeds the peer map's hash index with this node's secret.
    pub fn reseed(&mut self, seed: u64) {
        self.peers.reseed(seed);
    }

    /// The secret of the peer map's index.
    #[cfg(test)]
    pub fn index_seed(&self) -> u64 {
        self.peers.seed()
    }

    /// How this node sees `peer`, if it knows it.
    pub fn peer(&self, peer: &SocketAddr) -> Option<&PeerState> {
        self.peers.get(&ring_key(peer))
    }

    /// Loads the records of `peers` into the cache ahead of a run of lookups (see
    /// `PackedMap::warm`).
    pub fn warm<'a>(&self, peers: impl IntoIterator<Item = &'a SocketAddr>) {
        self.peers.warm(peers.into_iter().map(ring_key));
    }

    /// Whether `peer` is known, alive or dead.
    pub fn knows(&self, peer: &SocketAddr) -> bool {
        self.peers.contains_key(&ring_key(peer))
    }

    pub fn is_alive(&self, peer: &SocketAddr) -> bool {
        self.peer(peer).is_some_and(|p| p.dead.is_none())
    }

    /// Every known peer, alive or dead, in ring order.
    pub fn all(&self) -> impl Iterator<Item = &SocketAddr> {
        self.peers.keys().map(|(_, a)| a)
    }

    /// The live peers in ring order.
    pub fn live(&self) -> impl Iterator<Item = &SocketAddr> {
        self.peers
            .iter()
            .filter(|(_, p)| p.dead.is_none())
            .map(|((_, a), _)| a)
    }

    /// The dead peers still remembered, by address.
    pub fn dead(&self) -> impl Iterator<Item = (&SocketAddr, &PeerState)> {
        self.dead_set.iter().filter_map(|a| {
            self.peers
                .get_key_value(&ring_key(a))
                .map(|((_, a), p)| (a, p))
        })
    }

    /// Records a judgement; returns whether the peer went from alive to dead or back. A new
    /// peer counts as dead until judged alive, and a dead peer whose cause changes (it failed,
    /// then its departure arrived) did not die again.
    pub fn judge(&mut self, peer: SocketAddr, dead: Option<DeathCause>, now: Timestamp) -> bool {
        let (entry, new) = self
            .peers
            .get_or_insert_with(ring_key(&peer), || PeerState {
                dead: Some(DeathCause::Failed),
                since: now,
                known_since: now,
            });
        let flipped = entry.dead.is_some() != dead.is_some();
        if flipped {
            entry.since = now;
        }
        entry.dead = dead;
        // The indexes change only with a verdict (or a newcomer): most judgements confirm one.
        if flipped || new {
            if dead.is_none() {
                self.dead_set.remove(&peer);
            } else {
                self.dead_set.insert(peer);
            }
            self.forget_neighbours();
        }
        flipped
    }

    /// Number of live peers: the known ones less the dead ones, which `dead_set` holds exactly.
    pub fn live_len(&self) -> usize {
        self.peers.len().saturating_sub(self.dead_set.len())
    }

    /// Number of known peers, alive or dead: the range of [`Membership::live_at`]'s draw.
    pub fn known_len(&self) -> usize {
        self.peers.len()
    }

    /// The known peer at place `draw` (below [`Membership::known_len`]) in the map's storage
    /// order (arbitrary but deterministic, reached in O(1)), if it is alive: uniform draws
    /// rejected when they land on a dead peer choose uniformly among the live ones.
    pub fn live_at(&self, draw: usize) -> Option<SocketAddr> {
        self.peers
            .nth(draw)
            .filter(|(_, p)| p.dead.is_none())
            .map(|((_, a), _)| *a)
    }

    pub fn remove(&mut self, peer: &SocketAddr) {
        self.peers.remove(&ring_key(peer));
        self.dead_set.remove(peer);
        self.forget_neighbours();
        self.monitored.remove(peer);
        self.accusations.remove(peer);
        for by in self.accusations.values_mut() {
            by.remove(peer);
        }
        self.accusations.retain(|_, by| !by.is_empty());
    }

    /// The `k` live predecessors of `node` on the ring: the peers it should be monitoring.
    pub fn predecessors(&self, node: &SocketAddr, k: usize) -> Vec<SocketAddr> {
        let pos = ring_key(node);
        let peers = self
            .peers
            .range(..pos)
            .rev()
            .chain(self.peers.range(pos..).rev());
        // Counting back from `pos`: first the keys below it, the nearest first, then the wrap.
        self.nearest(node, k, peers, |key| {
            (*key >= pos, core::cmp::Reverse(*key))
        })
    }

    /// The `k` live successors of `node` on the ring: the monitors it should have.
    pub fn successors(&self, node: &SocketAddr, k: usize) -> Vec<SocketAddr> {
        let pos = ring_key(node);
        let peers = self.peers.range(pos..).chain(self.peers.range(..pos));
        self.nearest(node, k, peers, |key| (*key < pos, *key))
    }

    /// The first `k` live ring members other than `node` in the walk `peers` (live or dead
    /// peers in walk order), with this node, which the peer map leaves out, put in its place.
    /// `place` orders ring keys as the walk meets them.
    fn nearest<'a, O: Ord>(
        &'a self,
        node: &SocketAddr,
        k: usize,
        peers: impl Iterator<Item = (&'a RingKey, &'a PeerState)>,
        place: impl Fn(&RingKey) -> O,
    ) -> Vec<SocketAddr> {
        // The first k live peers, plus this node, hold the answer's k.
        let mut found: Vec<RingKey> = peers
            .filter(|(key, p)| p.dead.is_none() && key.1 != *node)
            .map(|(key, _)| *key)
            .take(k)
            .collect();
        if self.me != *node && k > 0 {
            found.push(ring_key(&self.me));
            found.sort_by_key(|key| place(key));
            found.truncate(k);
        }
        found.into_iter().map(|(_, a)| a).collect()
    }

    /// [`Membership::successors`], remembered until the ring changes.
    pub fn successors_cached(&mut self, node: &SocketAddr, k: usize) -> Vec<SocketAddr> {
        let found =
            remembered(&self.successors_memo, node, k).unwrap_or_else(|| self.successors(node, k));
        self.successors_memo = Some((*node, k, found.clone()));
        found
    }

    /// [`Membership::predecessors`], remembered until the ring changes.
    pub fn predecessors_cached(&mut self, node: &SocketAddr, k: usize) -> Vec<SocketAddr> {
        let found = remembered(&self.predecessors_memo, node, k)
            .unwrap_or_else(|| self.predecessors(node, k));
        self.predecessors_memo = Some((*node, k, found.clone()));
        found
    }

    /// Drops the remembered neighbours after the ring changed.
    fn forget_neighbours(&mut self) {
        self.successors_memo = None;
        self.predecessors_memo = None;
    }

    /// Number of monitors `node` can have given the live membership.
    pub fn possible_monitors(&self, node: &SocketAddr, k: usize) -> usize {
        // The ring: the live peers and this node.
        let others = self.live_len() + 1 - usize::from(*node == self.me || self.is_alive(node));
        others.min(k)
    }

    pub fn is_forgotten(&self, peer: &SocketAddr, generation: u64) -> bool {
        self.forgotten
            .get(peer)
            .is_some_and(|(g, _)| generation <= *g)
    }
}

/// A remembered neighbour list, if it answers the same question.
fn remembered(
    memo: &Option<(SocketAddr, usize, Vec<SocketAddr>)>,
    node: &SocketAddr,
    k: usize,
) -> Option<Vec<SocketAddr>> {
    memo.as_ref()
        .filter(|(n, memo_k, _)| n == node && *memo_k == k)
        .map(|(_, _, found)| found.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(p: u16) -> SocketAddr {
        SocketAddr::from(([10, 0, 0, 1], p))
    }

    /// The remembered answers are the ring's answers after every kind of change: a death, a
    /// return, a newcomer and a removal.
    #[test]
    fn remembered_successors_follow_the_ring() {
        let me = a(0);
        let mut m = Membership::new(me);
        for p in 1..12 {
            m.judge(a(p), None, Timestamp::ZERO);
        }
        let before = m.successors_cached(&me, 3);
        assert_eq!(before, m.successors(&me, 3));
        m.judge(before[0], Some(DeathCause::Failed), Timestamp::ZERO);
        let after_death = m.successors_cached(&me, 3);
        assert!(!after_death.contains(&before[0]));
        assert_eq!(after_death, m.successors(&me, 3));
        m.judge(before[0], None, Timestamp::ZERO);
        assert_eq!(m.successors_cached(&me, 3), before, "back in its place");
        // Newcomers until one lands among the first three successors.
        let mut p = 12;
        while m.successors(&me, 3) == before {
            m.judge(a(p), None, Timestamp::ZERO);
            p += 1;
        }
        assert_eq!(m.successors_cached(&me, 3), m.successors(&me, 3));
        assert_ne!(m.successors_cached(&me, 3), before);
        let first = m.successors(&me, 3)[0];
        m.remove(&first);
        assert!(!m.successors_cached(&me, 3).contains(&first));
        assert_eq!(m.successors_cached(&me, 3), m.successors(&me, 3));
        assert_eq!(
            m.successors_cached(&a(1), 2),
            m.successors(&a(1), 2),
            "other nodes"
        );
        // Predecessors the same way.
        let watched = m.predecessors_cached(&me, 3);
        assert_eq!(watched, m.predecessors(&me, 3));
        m.judge(watched[0], Some(DeathCause::Failed), Timestamp::ZERO);
        assert!(!m.predecessors_cached(&me, 3).contains(&watched[0]));
        assert_eq!(m.predecessors_cached(&me, 3), m.predecessors(&me, 3));
    }

    #[test]
    fn successors_skip_dead_and_wrap() {
        let mut m = Membership::new(a(0));
        for p in 1..20 {
            m.judge(a(p), None, Timestamp::ZERO);
        }
        let s = m.successors(&a(0), 8);
        assert_eq!(s.len(), 8);
        assert!(!s.contains(&a(0)));
        let victim = s[0];
        m.judge(victim, Some(DeathCause::Failed), Timestamp::ZERO);
        let s2 = m.successors(&a(0), 8);
        assert!(!s2.contains(&victim));
        assert_eq!(&s2[..7], &s[1..], "the next successor steps in");
        assert_eq!(m.successors(&a(0), 100).len(), 18);
        for p in m.predecessors(&a(0), 8) {
            assert!(
                m.successors(&p, 8).contains(&a(0)),
                "a predecessor counts on this node"
            );
        }
        assert_eq!(m.live_len(), 18);
        let listed: BTreeSet<SocketAddr> =
            (0..m.known_len()).filter_map(|i| m.live_at(i)).collect();
        assert_eq!(listed, m.live().copied().collect());
        m.remove(&a(3));
        assert_eq!(m.live_len(), 17);
        assert!(!(0..m.known_len()).any(|i| m.live_at(i) == Some(a(3))));
    }

    #[test]
    fn only_life_and_death_are_transitions() {
        let mut m = Membership::new(a(0));
        let t = Timestamp::ZERO;
        assert!(
            !m.judge(a(1), Some(DeathCause::Left), t),
            "a newcomer that already left never lived"
        );
        assert!(m.judge(a(1), None, t));
        assert!(!m.judge(a(1), None, t));
        assert!(m.judge(a(1), Some(DeathCause::Failed), t));
        assert!(
            !m.judge(a(1), Some(DeathCause::Left), t),
            "its departure is no second death"
        );
        assert_eq!(
            m.peer(&a(1)).map(|p| p.dead),
            Some(Some(DeathCause::Left)),
            "but the cause is kept"
        );
        assert!(m.judge(a(1), None, t));
    }

    #[test]
    fn ring_spreads_consecutive_ports() {
        let mut m = Membership::new(a(9000));
        for p in 9001..9100 {
            m.judge(a(p), None, Timestamp::ZERO);
        }
        // Each node is a monitor of about `k` others; none should be swamped.
        let mut load = BTreeMap::new();
        for p in 9000..9100 {
            for s in m.successors(&a(p), 8) {
                *load.entry(s).or_insert(0) += 1;
            }
        }
        assert!(
            load.values().all(|&n| n == 8),
            "on a ring every node has exactly k predecessors"
        );
    }

    /// The live peers reached by draws are exactly the live peers, whatever mix of verdicts
    /// and removals came before (the map's storage order shifts as it merges); the live count,
    /// the ring's neighbours and the monitors a node can have agree with a plain list.
    #[test]
    fn live_peers_by_draw_are_exactly_the_live_peers() {
        let me = a(0);
        let mut m = Membership::new(me);
        let t = Timestamp::ZERO;
        let mut x: u32 = 12345;
        for _ in 0..2_000 {
            // A small LCG picks the peer and what happens to it.
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            let peer = a(1 + (x >> 16) as u16 % 40);
            match (x >> 8) % 4 {
                0 | 1 => {
                    m.judge(peer, None, t);
                }
                2 => {
                    m.judge(peer, Some(DeathCause::Failed), t);
                }
                _ => m.remove(&peer),
            }
            let live: BTreeSet<SocketAddr> = m.live().copied().collect();
            assert_eq!(m.live_len(), live.len());
            let exact: BTreeSet<SocketAddr> =
                (0..m.known_len()).filter_map(|i| m.live_at(i)).collect();
            assert_eq!(
                exact, live,
                "every live peer at its place, never a dead one or this node"
            );
            // The ring as a plain sorted list of live members, this node included.
            let mut ring: Vec<(u64, SocketAddr)> = live.iter().chain([&me]).map(ring_key).collect();
            ring.sort_unstable();
            for node in [me, peer, a(41)] {
                let pos = ring_key(&node);
                let at = ring.partition_point(|k| *k < pos);
                let n = ring.len();
                let others = |order: &mut dyn Iterator<Item = usize>| -> Vec<SocketAddr> {
                    order
                        .map(|i| ring[i % n].1)
                        .filter(|p| *p != node)
                        .take(3)
                        .collect()
                };
                assert_eq!(m.successors(&node, 3), others(&mut (at..at + n)));
                let back = (1..=n).map(|d| at + n - d);
                assert_eq!(m.predecessors(&node, 3), others(&mut back.into_iter()));
                let in_ring = ring.binary_search(&pos).is_ok();
                assert_eq!(
                    m.possible_monitors(&node, 3),
                    (n - usize::from(in_ring)).min(3)
                );
            }
        }
    }
}
