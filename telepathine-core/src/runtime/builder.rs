//! Configuring and starting a node.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use super::address::{parse_literal, resolve};
use super::error::Error;
use super::handle::Telepathine;
use super::lifecycle::{bind_sockets, open_session};
use super::registry::Registry;
use super::shared::{IoCounters, IoSettings, Shared};
use super::signal::Wake;
use super::traits::Runtime;
use crate::{Cipher, Config, Limits, NetworkKey, Node, NodeId};

/// Where the network key comes from.
#[derive(Clone)]
enum KeySource {
    Public,
    Passphrase(String),
    Derived(NetworkKey),
}

/// Options of a node, then [`Builder::start`]. Obtained from
/// [`Telepathine::builder`](super::Telepathine::builder) (or [`Builder::new`] with an explicit
/// runtime value). Every option has the original's default unless noted.
#[must_use = "a builder does nothing until start().await"]
pub struct Builder<R: Runtime> {
    runtime: R,
    bind: String,
    seeds: Vec<String>,
    key: KeySource,
    /// Overrides the key's own suite when set.
    cipher: Option<Cipher>,
    address_map: Vec<(String, String)>,
    config: Config,
    io: IoSettings,
}

impl<R: Runtime> std::fmt::Debug for Builder<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Builder")
            .field("bind", &self.bind)
            .field("seeds", &self.seeds)
            .field("private", &!matches!(self.key, KeySource::Public))
            .field("cipher", &self.cipher)
            .field("udp", &self.io.udp)
            .finish_non_exhaustive()
    }
}

impl<R: Runtime> Builder<R> {
    /// A builder running on `runtime`, bound to `127.0.0.1:0` (a free port) by default.
    pub fn new(runtime: R) -> Self {
        Builder {
            runtime,
            bind: "127.0.0.1:0".into(),
            seeds: Vec::new(),
            key: KeySource::Public,
            cipher: None,
            address_map: Vec::new(),
            config: Config::default(),
            io: IoSettings::default(),
        }
    }

    /// The local address to bind UDP and TCP to: `a.b.c.d:port`, `[v6]:port` or `host:port`.
    /// Port 0 picks a free port (see [`Telepathine::peer_name`](super::Telepathine::peer_name)).
    pub fn bind(mut self, addr: impl ToString) -> Self {
        self.bind = addr.to_string();
        self
    }

    /// Addresses to contact at start: IP literals, `host:port` (resolved at start; a name that
    /// does not resolve is logged and skipped) or `:port` (the bind IP at that port).
    pub fn seeds<I>(mut self, seeds: I) -> Self
    where
        I: IntoIterator,
        I::Item: ToString,
    {
        self.seeds.extend(seeds.into_iter().map(|s| s.to_string()));
        self
    }

    /// Makes the network private: every message is sealed with a key derived from `passphrase`
    /// and the cluster name (Argon2id, derived once at start; it takes tens of milliseconds).
    /// Nodes with another key, or none, cannot join and their messages are dropped.
    pub fn network_key(mut self, passphrase: &str) -> Self {
        self.key = KeySource::Passphrase(passphrase.to_string());
        self
    }

    /// Like [`Builder::network_key`] with a key already derived (for example shared by many
    /// nodes in one process, to derive it once). The key's own [`Cipher`] is used unless
    /// [`Builder::cipher`] chooses one.
    pub fn network_key_derived(mut self, key: NetworkKey) -> Self {
        self.key = KeySource::Derived(key);
        self
    }

    /// The cipher suite that seals messages on a private network (default
    /// XChaCha20-Poly1305). [`Cipher::Aes256GcmSiv`] is several times faster on CPUs with AES
    /// instructions and much slower without them; see [`Cipher`]. Every member must use the
    /// same suite: messages sealed with the other are dropped (`wrong_cipher`). It applies to
    /// the key of [`Builder::network_key`] or [`Builder::network_key_derived`], in either
    /// order, and has no effect on a public network.
    pub fn cipher(mut self, cipher: Cipher) -> Self {
        self.cipher = Some(cipher);
        self
    }

    /// Whether to use UDP for small messages (default true). With false, everything travels
    /// over TCP and no UDP socket is bound.
    pub fn udp(mut self, udp: bool) -> Self {
        self.io.udp = udp;
        self
    }

    /// How often to start a gossip exchange (default 2.5 s).
    pub fn gossip_interval(mut self, interval: Duration) -> Self {
        self.config.gossip_interval = interval;
        self
    }

    /// How often to send heartbeats to monitors (default 2.5 s). Failure detection takes a few
    /// intervals.
    pub fn heartbeat_interval(mut self, interval: Duration) -> Self {
        self.config.heartbeat_interval = interval;
        self
    }

    /// Flow control: the most state bytes per second this node takes in (default: no limit).
    /// Peers cut what they send it to fit, in version order, so it falls behind and catches up
    /// instead of losing updates. At least 1024.
    pub fn inbound_rate(mut self, bytes_per_sec: u64) -> Self {
        self.config.inbound_rate = Some(bytes_per_sec);
        self
    }

    /// Also gossip with a seed (each in turn) this often, whatever the cluster's size (default:
    /// seeds are picked now and then like any peer).
    pub fn seed_interval(mut self, interval: Duration) -> Self {
        self.config.seed_interval = Some(interval);
        self
    }

    /// Re-deliver every live peer's keys as set events once per heartbeat interval (default
    /// false).
    pub fn emit_value_on_heartbeat(mut self, emit: bool) -> Self {
        self.config.emit_value_on_heartbeat = emit;
        self
    }

    /// NAT mapping: `(from, to)` pairs of IP literals. This node advertises the mapping of its
    /// bound address, and sends to a mapped destination's `to` address.
    pub fn address_map<I, A, B>(mut self, map: I) -> Self
    where
        I: IntoIterator<Item = (A, B)>,
        A: ToString,
        B: ToString,
    {
        self.address_map
            .extend(map.into_iter().map(|(a, b)| (a.to_string(), b.to_string())));
        self
    }

    /// The cluster name (default `telepathine`): nodes of other clusters are ignored, and it
    /// salts the network key.
    pub fn cluster(mut self, name: &str) -> Self {
        self.config.cluster = name.to_string();
        self
    }

    /// Phi above which a silent peer is considered failed (default 8).
    pub fn phi_threshold(mut self, phi: f64) -> Self {
        self.config.phi_threshold = phi;
        self
    }

    /// Lifetime of a `say` event when none is given (default 20 s).
    pub fn default_event_lifetime(mut self, lifetime: Duration) -> Self {
        self.config.default_event_lifetime = lifetime;
        self
    }

    /// Bounds on keys, values, frames and peers.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.config.limits = limits;
        self
    }

    /// Adjusts any other knob of the core [`Config`]. Seeds and the network key set here are
    /// replaced by the builder's own options, `address_map` entries are merged with
    /// [`Builder::address_map`]'s, and `streams` is always on (TCP is always available).
    pub fn configure(mut self, adjust: impl FnOnce(&mut Config)) -> Self {
        adjust(&mut self.config);
        self
    }

    /// Items each subscription buffers before dropping its oldest (default
    /// [`DEFAULT_SUBSCRIPTION_CAPACITY`](super::DEFAULT_SUBSCRIPTION_CAPACITY)).
    pub fn subscription_capacity(mut self, capacity: usize) -> Self {
        self.io.subscription_capacity = capacity.max(1);
        self
    }

    /// Bound on opening a TCP connection and on writing one frame (default 5 s).
    pub fn io_timeout(mut self, timeout: Duration) -> Self {
        self.io.io_timeout = timeout;
        self
    }

    /// How long an unused outbound connection stays open for reuse (default 30 s).
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.io.idle_timeout = timeout;
        self
    }

    /// Most open inbound, and most open outbound, TCP connections (default 256).
    pub fn max_connections(mut self, max: usize) -> Self {
        self.io.max_connections = max.max(1);
        self
    }

    /// Binds the sockets, starts the node and returns its handle.
    pub async fn start(self) -> Result<Telepathine<R>, Error> {
        let Builder {
            runtime: rt,
            bind,
            seeds,
            key,
            cipher,
            address_map,
            mut config,
            io,
        } = self;
        let unspecified = IpAddr::from([127, 0, 0, 1]);
        let bind_addr = *resolve(&rt, &bind, unspecified, unspecified)
            .await?
            .first()
            .ok_or_else(|| Error::BadAddress {
                input: bind.clone(),
                reason: "resolves to nothing",
            })?;
        for (from, to) in &address_map {
            config
                .address_map
                .insert(parse_literal(from)?, parse_literal(to)?);
        }
        config.network_key = match key {
            KeySource::Public => None,
            KeySource::Passphrase(p) => Some(derive_key(&rt, p, config.cluster.clone()).await),
            KeySource::Derived(k) => Some(k),
        }
        .map(|k| match cipher {
            Some(c) => k.with_cipher(c),
            None => k,
        });
        config.streams = true;
        config.validate()?;
        let sockets = bind_sockets(&rt, bind_addr, io.udp).await?;
        let advertised = config.map_address(sockets.local);
        if advertised.ip().is_unspecified() {
            tracing::warn!(%advertised, "advertising an unspecified address; map it with address_map");
        }
        config.seeds = resolve_seeds(&rt, &seeds, sockets.local.ip()).await?;
        let generation = rt
            .system_time()
            .duration_since(UNIX_EPOCH)
            .map_or(1, |d| d.as_millis() as u64)
            .max(1);
        let node = Node::new(
            config,
            NodeId::new(advertised, generation),
            rt.random_seed(),
        )?;
        tracing::info!(peer = %advertised, bound = %sockets.local, "telepathine node starting");
        let shared = Arc::new(Shared {
            epoch: rt.now(),
            rt,
            node: Mutex::new(node),
            registry: Mutex::new(Registry::default()),
            wake: Wake::default(),
            io,
            counters: IoCounters::default(),
            bound: sockets.local,
            active: AtomicBool::new(false),
            closing: AtomicBool::new(false),
            session: Mutex::new(None),
            lifecycle: async_lock::Mutex::new(()),
        });
        open_session(&shared, sockets);
        Ok(Telepathine::from_shared(shared))
    }
}

/// Derives the network key (Argon2id, tens of milliseconds by design) without stalling the
/// executor.
async fn derive_key<R: Runtime>(rt: &R, passphrase: String, cluster: String) -> NetworkKey {
    let (p, c) = (passphrase.clone(), cluster.clone());
    match rt
        .unblock(move || NetworkKey::from_passphrase(&p, &c))
        .await
    {
        Ok(key) => key,
        Err(e) => {
            tracing::debug!(error = %e, "deriving the network key in place");
            NetworkKey::from_passphrase(&passphrase, &cluster)
        }
    }
}

/// Resolves every seed. A malformed seed is an error; a name that does not resolve is logged
/// and skipped, so that one stale seed (or a resolver outage) does not keep the node from
/// starting.
async fn resolve_seeds<R: Runtime>(
    rt: &R,
    seeds: &[String],
    local_ip: IpAddr,
) -> Result<Vec<SocketAddr>, Error> {
    let mut out = Vec::new();
    for seed in seeds {
        match resolve(rt, seed, local_ip, local_ip).await {
            Ok(addrs) => out.extend(addrs.first().copied()),
            Err(e @ Error::Resolve { .. }) => {
                tracing::warn!(seed = %seed, error = %e, "seed skipped")
            }
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}
