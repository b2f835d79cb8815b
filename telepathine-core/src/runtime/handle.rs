//! The user's handle: reads, writes, events, peers, subscriptions and the node's lifecycle.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use super::builder::Builder;
use super::error::Error;
use super::lifecycle::{bind_sockets, close_session, open_session};
use super::session::StopRequest;
use super::shared::Shared;
use super::subscription::{HearOnce, Queue, Subscription};
use super::traits::Runtime;
use super::updates::{Heard, IoStats, KeyUpdate};
use crate::{CommandError, Event, Pattern, PeerStats, Stats};

/// A running (or stopped) telepathine node: peer-to-peer key/value state and events
/// synchronised by gossip. Cheap to clone; every clone is the same node. When the last clone
/// is dropped the node leaves the cluster and its tasks end (best effort: this needs the
/// runtime to keep running for a moment; `stop().await` first to be sure peers see it leave).
///
/// Adapters export it with their runtime filled in (the `Telepathine` of `telepathine-tokio`
/// or of `telepathine-async-std`).
pub struct Telepathine<R: Runtime> {
    inner: Arc<Owner<R>>,
}

impl<R: Runtime> Clone for Telepathine<R> {
    fn clone(&self) -> Self {
        Telepathine {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<R: Runtime> std::fmt::Debug for Telepathine<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telepathine")
            .field("peer_name", &self.peer_name())
            .field("running", &self.is_running())
            .finish()
    }
}

/// Owned by the user's handles only (tasks hold [`Shared`]); its drop is the node's end.
pub(crate) struct Owner<R: Runtime> {
    shared: Arc<Shared<R>>,
}

impl<R: Runtime> Drop for Owner<R> {
    fn drop(&mut self) {
        let shared = &self.shared;
        shared.closing.store(true, Ordering::Release);
        shared.active.store(false, Ordering::Release);
        match shared.set_session(None) {
            // The driver leaves, flushes, then ends the subscriptions.
            Some(session) => {
                session.request_stop(StopRequest::Leave);
                shared.wake_driver();
            }
            None => shared.registry().close(),
        }
    }
}

impl<R: Runtime + Default> Telepathine<R> {
    /// A builder on the default instance of the runtime.
    pub fn builder() -> Builder<R> {
        Builder::new(R::default())
    }
}

impl<R: Runtime> Telepathine<R> {
    pub(crate) fn from_shared(shared: Arc<Shared<R>>) -> Self {
        Telepathine {
            inner: Arc::new(Owner { shared }),
        }
    }

    pub(crate) fn downgrade(&self) -> Weak<Owner<R>> {
        Arc::downgrade(&self.inner)
    }

    pub(crate) fn upgrade(weak: &Weak<Owner<R>>) -> Option<Self> {
        weak.upgrade().map(|inner| Telepathine { inner })
    }

    fn shared(&self) -> &Arc<Shared<R>> {
        &self.inner.shared
    }

    pub(crate) fn runtime(&self) -> &R {
        &self.shared().rt
    }

    /// Runs a command on the node if it is started, then wakes the driver to send its effects.
    fn command<T>(
        &self,
        f: impl FnOnce(&mut crate::Node, crate::Timestamp) -> Result<T, CommandError>,
    ) -> Result<T, Error> {
        let shared = self.shared();
        if !shared.is_active() {
            return Err(Error::Stopped);
        }
        let result = f(&mut shared.node(), shared.now());
        shared.wake_driver();
        Ok(result?)
    }

    // ----- identity and state -----

    /// This node's peer name: the address it advertises (`ip:port`, after `address_map`), which
    /// is how other nodes name it.
    pub fn peer_name(&self) -> SocketAddr {
        self.shared().node().peer_name()
    }

    /// The local address the sockets are bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.shared().bound
    }

    /// Whether the node is started.
    pub fn is_running(&self) -> bool {
        self.shared().is_active()
    }

    /// Sets `key` to `value` in this node's state; every peer learns it.
    pub fn set(&self, key: &str, value: impl Into<Bytes>) -> Result<(), Error> {
        let value = value.into();
        self.command(|n, now| n.set(now, key, value))
    }

    /// Sets `key` until `expires_at`, after which it disappears on every node and each raises
    /// [`Event::KeyExpired`].
    pub fn set_with_expiry(
        &self,
        key: &str,
        value: impl Into<Bytes>,
        expires_at: SystemTime,
    ) -> Result<(), Error> {
        let value = value.into();
        let Ok(since) = expires_at.duration_since(UNIX_EPOCH) else {
            return Err(Error::Command(CommandError::AlreadyExpired));
        };
        let ms = u64::try_from(since.as_millis()).unwrap_or(u64::MAX);
        self.command(|n, now| n.set_with_expiry(now, key, value, ms))
    }

    /// Deletes `key` from this node's state (peers learn it). Returns whether it existed.
    pub fn delete(&self, key: &str) -> Result<bool, Error> {
        self.command(|n, now| n.delete(now, key))
    }

    /// This node's own value for `key`.
    pub fn get(&self, key: &str) -> Option<Bytes> {
        self.shared().node().get(key).cloned()
    }

    /// This node's own keys, sorted.
    pub fn keys(&self) -> Vec<String> {
        self.shared()
            .node()
            .keys()
            .into_iter()
            .map(String::from)
            .collect()
    }

    /// The value `peer` holds for `key`, as last learned.
    pub fn get_remote(&self, peer: &SocketAddr, key: &str) -> Option<Bytes> {
        self.shared().node().get_remote(peer, key).cloned()
    }

    /// The keys `peer` holds, sorted.
    pub fn remote_keys(&self, peer: &SocketAddr) -> Vec<String> {
        self.shared()
            .node()
            .remote_keys(peer)
            .into_iter()
            .map(String::from)
            .collect()
    }

    // ----- peers -----

    /// Adds a contact address (an IP literal with port), contacted at once. Returns false for
    /// this node's own address.
    pub fn add_peer(&self, addr: impl ToString) -> Result<bool, Error> {
        let addr = super::address::parse_literal(&addr.to_string())?;
        self.command(|n, now| Ok(n.add_peer(now, addr)))
    }

    /// Every known peer, alive or dead, sorted.
    pub fn all_peers(&self) -> Vec<SocketAddr> {
        self.shared().node().all_peers()
    }

    /// Peers considered alive, sorted.
    pub fn live_peers(&self) -> Vec<SocketAddr> {
        self.shared().node().live_peers()
    }

    /// Peers considered dead (failed or left), sorted.
    pub fn dead_peers(&self) -> Vec<SocketAddr> {
        self.shared().node().dead_peers()
    }

    // ----- events -----

    /// Says `event` with `payload` to every other node live within `lifetime` (a `Duration`,
    /// or `None` for the default of 20 s). Each hears it once; this node does not.
    pub fn say(
        &self,
        event: &str,
        payload: impl Into<Bytes>,
        lifetime: impl Into<Option<Duration>>,
    ) -> Result<(), Error> {
        let payload = payload.into();
        let lifetime = lifetime.into();
        self.command(|n, now| n.say(now, event, payload, lifetime))
    }

    /// Every `say` event from other nodes whose name matches `pattern` (`.`-separated segments;
    /// `*` matches one segment, `**` any number).
    pub fn hear(&self, pattern: &str) -> Result<Subscription<Heard>, Error> {
        let pattern = Pattern::new(pattern)?;
        let queue = Queue::new(self.shared().io.subscription_capacity);
        self.shared()
            .registry()
            .add_heard(pattern, Arc::clone(&queue));
        Ok(Subscription::new(queue))
    }

    /// The first `say` event matching `pattern` said from now on. Subscribes immediately, so an
    /// event said before the future is first polled is not missed.
    pub fn hear_once(&self, pattern: &str) -> HearOnce {
        HearOnce::new(self.hear(pattern))
    }

    /// Every set of a key matching `pattern`, by any node, this one included (`peer` says
    /// whose). Deletions and expiries are reported by [`Telepathine::events`].
    pub fn know(&self, pattern: &str) -> Result<Subscription<KeyUpdate>, Error> {
        self.key_subscription(pattern, false)
    }

    /// Like [`Telepathine::know`] for other nodes' sets, and also copies each value (and its
    /// expiry) into this node's own state.
    pub fn believe(&self, pattern: &str) -> Result<Subscription<KeyUpdate>, Error> {
        self.key_subscription(pattern, true)
    }

    fn key_subscription(
        &self,
        pattern: &str,
        believe: bool,
    ) -> Result<Subscription<KeyUpdate>, Error> {
        let pattern = Pattern::new(pattern)?;
        let queue = Queue::new(self.shared().io.subscription_capacity);
        self.shared()
            .registry()
            .add_key(pattern, Arc::clone(&queue), believe);
        Ok(Subscription::new(queue))
    }

    /// Every core [`Event`]: start, stop, sets (local ones included), deletions, expiries,
    /// heard events and peer changes.
    pub fn events(&self) -> Subscription<Event> {
        let queue = Queue::new(self.shared().io.subscription_capacity);
        self.shared().registry().add_event(None, Arc::clone(&queue));
        Subscription::new(queue)
    }

    /// The events whose [`Event::name`] matches `pattern`, e.g. `peer.*`, `set.config.**`,
    /// `expired.*`.
    pub fn events_matching(&self, pattern: &str) -> Result<Subscription<Event>, Error> {
        let pattern = Pattern::new(pattern)?;
        let queue = Queue::new(self.shared().io.subscription_capacity);
        self.shared()
            .registry()
            .add_event(Some(pattern), Arc::clone(&queue));
        Ok(Subscription::new(queue))
    }

    // ----- lifecycle -----

    /// Leaves the cluster gracefully (peers see this node as left), closes the sockets and
    /// ends the node's tasks. State and subscriptions are kept for [`Telepathine::start`].
    /// Stopping a stopped node does nothing.
    pub async fn stop(&self) -> Result<(), Error> {
        let _serial = self.shared().lifecycle.lock().await;
        close_session(self.shared(), StopRequest::Leave).await;
        Ok(())
    }

    /// Stops abruptly, as a crash would: nothing is sent, so peers detect the failure by
    /// silence. For failover drills and tests; [`Telepathine::start`] resumes.
    pub async fn halt(&self) {
        let _serial = self.shared().lifecycle.lock().await;
        close_session(self.shared(), StopRequest::Halt).await;
    }

    /// Rebinds the same address and rejoins with the same state and subscriptions; no event is
    /// delivered twice. Starting a started node does nothing. Fails with
    /// [`Error::PortInUse`] if the port was taken meanwhile.
    pub async fn start(&self) -> Result<(), Error> {
        let shared = self.shared();
        let _serial = shared.lifecycle.lock().await;
        if shared.session().is_some() {
            return Ok(());
        }
        let sockets = bind_sockets(&shared.rt, shared.bound, shared.io.udp).await?;
        open_session(shared, sockets);
        Ok(())
    }

    /// The node's counters: messages sent, received and dropped by reason, gossip rounds.
    pub fn stats(&self) -> Stats {
        self.shared().node().stats().clone()
    }

    /// Traffic and round-trip time of every peer this node has exchanged messages with, in
    /// address order.
    pub fn peer_stats(&self) -> Vec<(SocketAddr, PeerStats)> {
        self.shared()
            .node()
            .all_peer_stats()
            .map(|(addr, figures)| (*addr, *figures))
            .collect()
    }

    /// The socket layer's counters.
    pub fn io_stats(&self) -> IoStats {
        self.shared().io_stats()
    }
}
