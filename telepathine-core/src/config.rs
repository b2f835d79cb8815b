//! Tunables of a node, with the original's defaults where they make sense.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use core::net::SocketAddr;
use core::time::Duration;

use crate::key::NetworkKey;

/// Highest `Limits::max_peers`: the per-peer maps index entries with 31-bit positions, and a
/// node at this many peers would hold hundreds of gigabytes anyway.
pub const MAX_PEERS_LIMIT: usize = 1 << 30;

/// Everything a [`Node`](crate::Node) needs to know besides its identity and RNG seed.
///
/// Build with `Config::default()` and adjust fields; [`Config::validate`] is called by
/// `Node::new` and rejects combinations that cannot work.
#[derive(Clone, Debug)]
pub struct Config {
    /// Name of the cluster. Nodes of different clusters ignore each other; with a network key the
    /// name also salts the key derivation.
    pub cluster: String,
    /// Addresses contacted at start and, now and then, afterwards (so partitions heal).
    pub seeds: Vec<SocketAddr>,
    /// How often this node starts a gossip exchange (original: `gossipIntervalMS`, 2.5 s).
    pub gossip_interval: Duration,
    /// How often this node sends heartbeats to its monitors (original: `heartbeatIntervalMS`).
    pub heartbeat_interval: Duration,
    /// Fraction (0.0 to 0.5) by which each interval is randomly shortened or lengthened, so
    /// that nodes started together do not gossip in lock step.
    pub interval_jitter: f64,
    /// Live peers contacted per gossip round. Push-pull needs only one.
    pub fanout: usize,
    /// Re-emit `Event::Set` for every live peer's keys once per heartbeat interval
    /// (original: `emitValueOnHeartBeat`).
    pub emit_value_on_heartbeat: bool,
    /// NAT mapping (original: `addressMap`): a destination address that appears as a key is
    /// reached at the mapped value instead. Adapters also map their bound address through it to
    /// find the address they advertise.
    pub address_map: BTreeMap<SocketAddr, SocketAddr>,
    /// Pre-shared key of a private network; `None` for a public one. With a key every message is
    /// sealed with the key's [`Cipher`](crate::Cipher) and unsealed input, or input sealed with
    /// the other suite, is refused.
    pub network_key: Option<NetworkKey>,
    /// Largest datagram, envelope included, that this node sends or accepts.
    pub datagram_budget: usize,
    /// Whether the driver can carry [`TransmitKind::Stream`](crate::TransmitKind::Stream)
    /// transmits. When false, state larger than one datagram flows a datagram per round.
    pub streams: bool,
    /// Phi above which a monitored peer is convicted (Hayashibara et al. suggest 8).
    pub phi_threshold: f64,
    /// Inter-arrival samples kept per monitored peer.
    pub phi_window: usize,
    /// Floor under the standard deviation used by phi, so a very regular peer is not convicted
    /// by one late heartbeat.
    pub phi_min_std_dev: Duration,
    /// A gap between two of this node's own timer calls longer than this is treated as a local
    /// pause (GC, suspended VM): detectors restart instead of convicting everyone.
    pub local_pause: Duration,
    /// How many peers each node sends heartbeats to (its monitors).
    pub monitors: usize,
    /// Distinct monitors' accusations needed before a peer counts as dead (capped at the number
    /// of monitors it can have). A node's own convictions also settle its own view once it
    /// convicts at least this many peers at once, and at least half of `monitors` (it
    /// is then cut off, or they really failed); fewer convictions wait for the quorum, since
    /// bad links or heavy loss are the likelier cause.
    pub dead_quorum: usize,
    /// How long a dead or departed peer is remembered before it is forgotten.
    pub dead_grace: Duration,
    /// How long a deletion tombstone is kept before it is garbage-collected.
    pub tombstone_grace: Duration,
    /// Lifetime of a `say` event when the caller gives none (original: 20 s).
    pub default_event_lifetime: Duration,
    /// Most bytes of state per second this node wants to receive (flow control). Peers cut
    /// what they send it to fit, in version order, so a slow node falls behind and catches up
    /// instead of losing updates or being flooded. `None` (the default): no limit.
    pub inbound_rate: Option<u64>,
    /// When set, this node also gossips with one of its seeds (in turn) this often, whatever
    /// the cluster's size: a per-seed rate for deployments whose seeds are well-provisioned
    /// hubs. `None` (the default): seeds are picked now and then like any peer.
    pub seed_interval: Option<Duration>,
    /// Bounds on everything untrusted input can make this node store.
    pub limits: Limits,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            cluster: String::from("telepathine"),
            seeds: Vec::new(),
            gossip_interval: Duration::from_millis(2500),
            heartbeat_interval: Duration::from_millis(2500),
            interval_jitter: 0.1,
            fanout: 1,
            emit_value_on_heartbeat: false,
            address_map: BTreeMap::new(),
            network_key: None,
            datagram_budget: 1400,
            streams: true,
            phi_threshold: 8.0,
            phi_window: 100,
            phi_min_std_dev: Duration::from_millis(500),
            local_pause: Duration::from_secs(10),
            monitors: 8,
            dead_quorum: 2,
            dead_grace: Duration::from_secs(600),
            tombstone_grace: Duration::from_secs(300),
            default_event_lifetime: Duration::from_secs(20),
            inbound_rate: None,
            seed_interval: None,
            limits: Limits::default(),
        }
    }
}

/// Bounds that keep memory and work finite whatever peers send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest stream frame, envelope included, sent or accepted.
    pub max_frame_bytes: usize,
    /// Longest key, in bytes of UTF-8.
    pub max_key_bytes: usize,
    /// Largest value.
    pub max_value_bytes: usize,
    /// Longest `say` event name.
    pub max_event_name_bytes: usize,
    /// Most keys (live, tombstones and pending events) one origin may hold.
    pub max_keys_per_origin: usize,
    /// Most bytes of keys and values one origin may hold.
    pub max_origin_bytes: usize,
    /// Most bytes of keys and values held over all origins.
    pub max_total_bytes: usize,
    /// Most peers remembered; further strangers are ignored until some are forgotten. At most
    /// 2^30 (the per-peer maps index entries with 31-bit positions).
    pub max_peers: usize,
    /// Longest lifetime of a `say` event.
    pub max_event_lifetime: Duration,
    /// Longest time-to-live of an expiring key, measured from the local clock. Bounds how long a
    /// peer whose clock runs far ahead can keep a key alive.
    pub max_ttl: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_frame_bytes: 8 << 20,
            max_key_bytes: 1024,
            max_value_bytes: 4 << 20,
            max_event_name_bytes: 256,
            max_keys_per_origin: 100_000,
            max_origin_bytes: 64 << 20,
            max_total_bytes: 1 << 30,
            max_peers: 65_536,
            max_event_lifetime: Duration::from_secs(600),
            max_ttl: Duration::from_secs(30 * 24 * 3600),
        }
    }
}

/// Why a [`Config`] was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError(pub &'static str);

impl core::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "invalid configuration: {}", self.0)
    }
}

impl core::error::Error for ConfigError {}

impl Config {
    /// The address peers should use for `addr`, after the NAT map.
    pub fn map_address(&self, addr: SocketAddr) -> SocketAddr {
        self.address_map.get(&addr).copied().unwrap_or(addr)
    }

    /// Checks that the configuration can work.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.gossip_interval.is_zero() || self.heartbeat_interval.is_zero() {
            return Err(ConfigError("intervals must be positive"));
        }
        if !(0.0..=0.5).contains(&self.interval_jitter) {
            return Err(ConfigError("interval_jitter must be between 0.0 and 0.5"));
        }
        if self.fanout == 0 || self.monitors == 0 || self.dead_quorum == 0 {
            return Err(ConfigError(
                "fanout, monitors and dead_quorum must be at least 1",
            ));
        }
        if self.datagram_budget < crate::wire::MIN_DATAGRAM_BUDGET {
            return Err(ConfigError("datagram_budget is below 512 bytes"));
        }
        if self.limits.max_frame_bytes < self.datagram_budget {
            return Err(ConfigError(
                "max_frame_bytes is smaller than datagram_budget",
            ));
        }
        if self.limits.max_frame_bytes > u32::MAX as usize {
            return Err(ConfigError("max_frame_bytes must fit in 32 bits"));
        }
        if self.limits.max_peers > MAX_PEERS_LIMIT {
            return Err(ConfigError("max_peers must be at most 2^30"));
        }
        if self.phi_threshold.is_nan() || self.phi_threshold <= 0.0 || self.phi_window < 2 {
            return Err(ConfigError(
                "phi_threshold must be positive and phi_window at least 2",
            ));
        }
        if self.inbound_rate.is_some_and(|r| r < 1024) {
            return Err(ConfigError(
                "inbound_rate must be at least 1024 bytes per second",
            ));
        }
        if self.seed_interval.is_some_and(|d| d.is_zero()) {
            return Err(ConfigError("seed_interval must be positive"));
        }
        if self.cluster.is_empty() || self.cluster.len() > 255 {
            return Err(ConfigError("cluster name must be 1 to 255 bytes"));
        }
        Ok(())
    }
}
