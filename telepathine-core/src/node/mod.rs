//! The node: the sans-IO state machine that applications and drivers talk to.

mod commands;
mod contacts;
mod exchange;
mod flow;
mod liveness;
mod monitoring;
mod receive;
mod timers;
mod views;

pub use views::OriginView;

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use bytes::Bytes;
use core::net::SocketAddr;
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;

use crate::config::{Config, ConfigError};
use crate::event::Event;
use crate::identity::NodeId;
use crate::membership::Membership;
use crate::state::Store;
use crate::stats::{PeerStats, Stats};
use crate::time::Timestamp;
use crate::wire::Sealer;

/// How a [`Transmit`] must travel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransmitKind {
    /// One datagram, at most `config.datagram_budget` bytes.
    Datagram,
    /// One frame on a reliable stream, at most `limits.max_frame_bytes` bytes; the driver adds
    /// the length prefix ([`encode_frame`](crate::wire::encode_frame)) and delivers the payload
    /// to the peer's [`Node::handle_frame`].
    Stream,
}

/// Bytes the driver must send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// Where to send them (already mapped through `address_map`).
    pub destination: SocketAddr,
    /// The complete envelope.
    pub payload: Vec<u8>,
    /// Datagram or stream.
    pub kind: TransmitKind,
}

/// A telepathine node as a deterministic state machine.
///
/// # Driving contract
/// The node does no I/O and reads no clock. A driver (an async adapter, the simulator, a test):
/// 1. creates it with [`Node::new`], tells it the wall clock with [`Node::handle_wall_clock`]
///    and calls [`Node::start`];
/// 2. feeds it every received datagram ([`Node::handle_datagram`]) and stream frame
///    ([`Node::handle_frame`]), and the application's commands;
/// 3. after every input, drains [`Node::poll_transmit`] (and sends each) and
///    [`Node::poll_event`] (and delivers each);
/// 4. sleeps until [`Node::poll_timeout`] or the next input, and at the deadline calls
///    [`Node::handle_timeout`]. Calling it early or twice is harmless.
///
/// Every input takes `now`, a monotonic [`Timestamp`]. Given the same seed, configuration and
/// inputs, a node produces the same outputs, byte for byte.
pub struct Node {
    config: Config,
    id: NodeId,
    rng: ChaCha8Rng,
    now: Timestamp,
    /// Wall clock minus monotonic clock, in ms, for expiry.
    wall_offset: i128,
    running: bool,
    store: Store,
    members: Membership,
    /// Replay window, cookie and traffic figures of each peer this node exchanges messages with.
    contacts: contacts::Contacts,
    sealer: Sealer,
    seq: u64,
    digest_cursor: Option<SocketAddr>,
    /// Keys of this node's cookie function (see `exchange.rs`).
    cookie_keys: (u64, u64),
    /// When this node last pulled a full catch-up.
    last_catch_up: Option<Timestamp>,
    /// Origins known and entries applied when the last catch-up was sent, until the next
    /// check sees its effect.
    catch_up_known: Option<(usize, u64)>,
    /// Gossip intervals to wait between catch-ups.
    catch_up_backoff: u32,
    /// When the last `Syn` to each peer left, for round-trip estimates.
    syn_sent: alloc::collections::BTreeMap<SocketAddr, Timestamp>,
    /// Whether this node's last exchanges showed a disagreement its next digests must repair.
    repair: bool,
    /// Peers sent a `Syn` that could not echo their cookie, until they answer.
    blind_syns: alloc::collections::BTreeSet<SocketAddr>,
    /// Peers this node's own state accuses, mirrored from it so that each heartbeat received
    /// need not look this node's origin up to learn there is nothing to withdraw.
    accusing: alloc::collections::BTreeSet<SocketAddr>,
    next_gossip: Timestamp,
    next_heartbeat: Timestamp,
    /// When this node next gossips with a seed, with `Config::seed_interval`.
    next_seed_gossip: Timestamp,
    /// Which seed comes next with `Config::seed_interval`.
    seed_turn: usize,
    /// Inbound state this node still takes (flow control).
    inbound: flow::InboundBudget,
    last_tick: Option<Timestamp>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
    stats: Stats,
}

/// Slots an output queue keeps once drained.
pub(super) const QUEUE_KEEP: usize = 16;

/// Gives back a drained queue's room beyond [`QUEUE_KEEP`]. One catch-up that introduces
/// thousands of peers queues an event for each; without this, every node of a large cluster
/// would hold that peak's room for good (measured: 17 % of a 300-node simulation's heap).
fn release_burst<T>(queue: &mut VecDeque<T>) {
    if queue.is_empty() && queue.capacity() > QUEUE_KEEP * 4 {
        queue.shrink_to(QUEUE_KEEP);
    }
}

impl core::fmt::Debug for Node {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Node")
            .field("id", &self.id)
            .field("running", &self.running)
            .finish_non_exhaustive()
    }
}

impl Node {
    /// A stopped node with identity `id`, whose every random choice derives from `rng_seed`,
    /// including the nonces that seal its messages on a private network: give every node life
    /// its own seed (the adapters draw 64 bits from the operating system at each start).
    pub fn new(config: Config, id: NodeId, rng_seed: u64) -> Result<Node, ConfigError> {
        config.validate()?;
        let sealer = Sealer::new(&config.cluster, config.network_key.as_ref());
        let mut members = Membership::new(id.addr);
        members.seeds = config
            .seeds
            .iter()
            .copied()
            .filter(|s| *s != id.addr)
            .collect();
        // The per-peer maps' hash indexes mix in a secret, so that nobody can pick addresses
        // that collide in them. Derived from the seed without a draw from `rng`, which would
        // shift every later random choice.
        let index_seed = crate::packed_map::mix(rng_seed ^ 0x7e1e_9a7b_1d3c_5f0e);
        members.reseed(index_seed);
        let mut rng = ChaCha8Rng::seed_from_u64(rng_seed);
        let cookie_keys = (
            rand_core::Rng::next_u64(&mut rng),
            rand_core::Rng::next_u64(&mut rng),
        );
        Ok(Node {
            cookie_keys,
            contacts: {
                let mut contacts = contacts::Contacts::default();
                contacts.reseed(index_seed);
                contacts
            },
            blind_syns: alloc::collections::BTreeSet::new(),
            accusing: alloc::collections::BTreeSet::new(),
            repair: true,
            syn_sent: alloc::collections::BTreeMap::new(),
            last_catch_up: None,
            catch_up_known: None,
            catch_up_backoff: 1,
            store: {
                let mut store = Store::new(id.addr, id.generation, Timestamp::ZERO);
                store.origins.reseed(index_seed);
                // Six rounds: a change stays in every digest long enough that nodes missing
                // it under loss hear of it before repair windows would find it (at 1,000 nodes
                // and 10 % loss, three rounds left versions stuck for over 17 rounds).
                store.hot_window = config.gossip_interval * 6;
                store.set_recent_cap(crate::state::recent_cap(config.datagram_budget));
                store
            },
            members,
            sealer,
            id,
            rng,
            now: Timestamp::ZERO,
            wall_offset: 0,
            running: false,
            seq: 0,
            digest_cursor: None,
            next_gossip: Timestamp::ZERO,
            next_heartbeat: Timestamp::ZERO,
            next_seed_gossip: Timestamp::ZERO,
            seed_turn: 0,
            inbound: flow::InboundBudget::new(
                config.inbound_rate,
                config.gossip_interval,
                config.datagram_budget,
                Timestamp::ZERO,
            ),
            last_tick: None,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            stats: Stats::default(),
            config,
        })
    }

    /// This node's identity.
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// This node's peer name: its advertised address.
    pub fn peer_name(&self) -> SocketAddr {
        self.id.addr
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Whether it is started.
    pub fn is_running(&self) -> bool {
        self.running
    }

    /// Counters of traffic and drops.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Traffic and round-trip time of `peer`, if this node has exchanged messages with it (and
    /// not forgotten it since).
    pub fn peer_stats(&self, peer: &SocketAddr) -> Option<&PeerStats> {
        self.contacts.figures(peer)
    }

    /// Traffic and round-trip time of every peer this node has exchanged messages with, in
    /// address order. The sent and received figures add up to [`Stats::total_sent`] and
    /// [`Stats::total_received`], less the traffic of forgotten peers (and of peers beyond
    /// `limits.max_peers`, which are not recorded).
    pub fn all_peer_stats(&self) -> impl DoubleEndedIterator<Item = (&SocketAddr, &PeerStats)> {
        self.contacts.all_figures()
    }

    /// The next datagram or frame to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        let t = self.transmits.pop_front();
        release_burst(&mut self.transmits);
        t
    }

    /// The next event for the application.
    pub fn poll_event(&mut self) -> Option<Event> {
        let e = self.events.pop_front();
        release_burst(&mut self.events);
        e
    }

    /// When [`Node::handle_timeout`] must next be called; `None` while stopped.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        if !self.running {
            return None;
        }
        let mut t = self.next_gossip.min(self.next_heartbeat);
        if self.config.seed_interval.is_some() && !self.members.seeds.is_empty() {
            t = t.min(self.next_seed_gossip);
        }
        if let Some(at) = self.store.next_expiry() {
            t = t.min(self.mono_from_wall(at));
        }
        if let Some(at) = self.store.next_gc() {
            t = t.min(at);
        }
        Some(t.max(self.now))
    }

    /// Tells the node that the wall clock reads `unix_ms` at monotonic time `now`. Expiry times
    /// are compared with the wall clock; call this at start and whenever the clock may have been
    /// adjusted (adapters do it on every timeout).
    pub fn handle_wall_clock(&mut self, now: Timestamp, unix_ms: u64) {
        self.observe(now);
        self.wall_offset = i128::from(unix_ms) - i128::from(self.now.as_millis());
    }

    /// The wall clock now, in Unix milliseconds.
    pub fn wall_now(&self) -> u64 {
        self.wall_at(self.now)
    }

    fn wall_at(&self, t: Timestamp) -> u64 {
        (i128::from(t.as_millis()) + self.wall_offset).clamp(0, i128::from(u64::MAX)) as u64
    }

    fn mono_from_wall(&self, unix_ms: u64) -> Timestamp {
        Timestamp::from_millis(
            (i128::from(unix_ms) - self.wall_offset).clamp(0, i128::from(u64::MAX)) as u64,
        )
    }

    /// Clamps time to never run backwards.
    fn observe(&mut self, now: Timestamp) {
        self.now = self.now.max(now);
    }

    // ----- reads -----

    /// This node's own value for `key`.
    pub fn get(&self, key: &str) -> Option<&Bytes> {
        self.store.user_value(&self.id.addr, key)
    }

    /// This node's own keys, sorted.
    pub fn keys(&self) -> Vec<&str> {
        self.store.user_keys(&self.id.addr)
    }

    /// The value `peer` holds for `key`, as last learned.
    pub fn get_remote(&self, peer: &SocketAddr, key: &str) -> Option<&Bytes> {
        self.store.user_value(peer, key)
    }

    /// The keys `peer` holds, sorted.
    pub fn remote_keys(&self, peer: &SocketAddr) -> Vec<&str> {
        self.store.user_keys(peer)
    }

    /// Every known peer, alive or dead, sorted.
    pub fn all_peers(&self) -> Vec<SocketAddr> {
        let mut all: Vec<SocketAddr> = self.members.all().copied().collect();
        all.sort_unstable();
        all
    }

    /// Peers currently considered alive, sorted.
    pub fn live_peers(&self) -> Vec<SocketAddr> {
        let mut live: Vec<SocketAddr> = self.members.live().copied().collect();
        live.sort_unstable();
        live
    }

    /// Peers currently considered alive, in no particular order: [`Node::live_peers`] without
    /// its allocation and sort, for a caller that only counts or tests them.
    pub fn live_peers_unordered(&self) -> impl Iterator<Item = SocketAddr> + '_ {
        self.members.live().copied()
    }

    /// Peers currently considered dead (failed or left), sorted.
    pub fn dead_peers(&self) -> Vec<SocketAddr> {
        self.members.dead().map(|(a, _)| *a).collect()
    }

    /// Whether `peer` is known and considered alive.
    pub fn is_alive(&self, peer: &SocketAddr) -> bool {
        self.members.is_alive(peer)
    }

    /// The generation of `peer` this node knows, if any.
    pub fn peer_generation(&self, peer: &SocketAddr) -> Option<u64> {
        self.store.origins.get(peer).map(|s| s.generation)
    }

    /// The version up to which this node holds `peer`'s state (in the generation that
    /// [`Node::peer_generation`] gives), or `None` if it holds none.
    pub fn peer_version(&self, peer: &SocketAddr) -> Option<u64> {
        self.store.origins.get(peer).map(|s| s.max_version)
    }

    /// Peers that currently send this node heartbeats (it monitors them).
    pub fn monitored_peers(&self) -> Vec<SocketAddr> {
        self.members.monitored.keys().copied().collect()
    }

    /// Peers this node sends heartbeats to.
    pub fn monitors(&self) -> &[SocketAddr] {
        &self.members.monitors
    }

    /// Entries and bytes held, over all origins: what memory limits bound.
    pub fn footprint(&self) -> (usize, usize) {
        self.store
            .origins
            .values()
            .fold((0, 0), |(n, b), s| (n + s.len(), b + s.bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every map keyed by peers' addresses hashes with a secret from the node's seed, a
    /// different one for another seed: nobody can precompute addresses that collide in them.
    #[test]
    fn every_peer_map_index_is_seeded_from_the_node_secret() {
        let id = |port| NodeId {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            generation: 1,
        };
        let seeds = |node: &Node| {
            [
                node.store.origins.seed(),
                node.members.index_seed(),
                node.contacts.seed(),
            ]
        };
        let a = Node::new(Config::default(), id(7000), 1).expect("valid configuration");
        let b = Node::new(Config::default(), id(7001), 2).expect("valid configuration");
        let (sa, sb) = (seeds(&a), seeds(&b));
        assert!(sa.iter().all(|s| *s != 0 && *s == sa[0]), "{sa:x?}");
        assert_ne!(sa[0], sb[0]);
    }

    /// Gossip reaches every live peer even when nearly every known peer is dead (one side of a
    /// partition): the draws that miss give way to a list of the live ones, and at most one
    /// dead peer is tried per round.
    #[test]
    fn gossip_finds_the_few_live_peers_among_many_dead() {
        let at = |port| SocketAddr::from(([10, 0, 0, 1], port));
        let config = Config {
            fanout: 3,
            ..Config::default()
        };
        let mut node = Node::new(
            config,
            NodeId {
                addr: at(1),
                generation: 1,
            },
            7,
        )
        .expect("valid configuration");
        node.start(Timestamp::ZERO);
        while node.poll_transmit().is_some() {}
        let live = [at(500), at(501), at(502)];
        for port in 2..2_000 {
            let dead = (!live.contains(&at(port))).then_some(crate::event::DeathCause::Failed);
            node.members.judge(at(port), dead, Timestamp::ZERO);
        }
        assert_eq!(node.members.live_len(), 3);
        for round in 0..20 {
            node.gossip_round(false);
            let mut to: Vec<SocketAddr> = core::iter::from_fn(|| node.poll_transmit())
                .map(|t| t.destination)
                .collect();
            to.sort_unstable();
            let reached_live = to.iter().filter(|d| live.contains(d)).count();
            assert_eq!(reached_live, 3, "round {round}: {to:?}");
            assert!(
                to.len() <= 4,
                "round {round}: at most one dead peer: {to:?}"
            );
        }
    }

    /// A queue keeps its room between ordinary outputs and gives back a burst's once drained.
    #[test]
    fn drained_queues_give_back_a_bursts_room() {
        let mut q: VecDeque<u64> = VecDeque::new();
        q.extend(0..10_000);
        assert!(q.capacity() >= 10_000);
        while q.pop_front().is_some() {
            release_burst(&mut q);
            if !q.is_empty() {
                assert!(
                    q.capacity() >= 10_000,
                    "nothing is given back before the end"
                );
            }
        }
        assert!(q.capacity() < 10_000);
        assert!(q.capacity() >= QUEUE_KEEP);
        let mut small: VecDeque<u64> = VecDeque::with_capacity(QUEUE_KEEP * 2);
        small.push_back(1);
        small.pop_front();
        release_burst(&mut small);
        assert!(small.capacity() >= QUEUE_KEEP * 2, "ordinary room is kept");
    }
}
