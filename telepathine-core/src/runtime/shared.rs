//! The state every task of a node shares: the core node, subscribers, clocks and settings.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, UNIX_EPOCH};

use super::registry::Registry;
use super::session::Session;
use super::signal::Wake;
use super::traits::Runtime;
use super::updates::IoStats;
use crate::{Node, Timestamp};

/// Adapter settings that the core does not know about.
#[derive(Clone, Debug)]
pub(crate) struct IoSettings {
    /// Whether a UDP socket carries datagrams; otherwise everything goes over TCP.
    pub udp: bool,
    /// Bound on connecting and on writing one frame.
    pub io_timeout: Duration,
    /// An outbound connection unused this long is closed; inbound ones get this plus
    /// `io_timeout` before they are considered dead.
    pub idle_timeout: Duration,
    /// Most open inbound connections, and most open outbound connections.
    pub max_connections: usize,
    /// Most bytes queued for one outbound connection.
    pub max_queued_bytes: usize,
    /// Buffer of each subscription.
    pub subscription_capacity: usize,
}

impl Default for IoSettings {
    fn default() -> Self {
        IoSettings {
            udp: true,
            io_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(30),
            max_connections: 256,
            max_queued_bytes: 32 << 20,
            subscription_capacity: super::DEFAULT_SUBSCRIPTION_CAPACITY,
        }
    }
}

/// Atomic counters behind [`IoStats`].
#[derive(Default)]
pub(crate) struct IoCounters {
    pub connections_opened: AtomicU64,
    pub udp_send_errors: AtomicU64,
    pub frames_dropped: AtomicU64,
    pub connections_closed_bad_input: AtomicU64,
    pub connections_refused: AtomicU64,
}

impl IoCounters {
    pub(crate) fn bump(counter: &AtomicU64, by: u64) {
        counter.fetch_add(by, Ordering::Relaxed);
    }
}

/// One node's shared state. Tasks hold it by `Arc`; user handles hold it through
/// [`Telepathine`](super::Telepathine), whose last drop shuts the node down.
pub(crate) struct Shared<R: Runtime> {
    pub rt: R,
    /// Origin of the node's monotonic [`Timestamp`]s.
    pub epoch: Instant,
    pub node: Mutex<Node>,
    pub registry: Mutex<Registry>,
    /// Wakes the driver to drain transmits and events.
    pub wake: Wake,
    pub io: IoSettings,
    pub counters: IoCounters,
    /// The local address the sockets are bound to (its port fixed after the first start).
    pub bound: SocketAddr,
    /// Whether the node accepts commands (started and not stopping).
    pub active: AtomicBool,
    /// Set when the last handle is dropped: the driver then ends every subscription.
    pub closing: AtomicBool,
    pub session: Mutex<Option<Arc<Session<R>>>>,
    /// Serialises `start()` and `stop()`.
    pub lifecycle: async_lock::Mutex<()>,
}

impl<R: Runtime> Shared<R> {
    /// Monotonic time for the core.
    pub(crate) fn now(&self) -> Timestamp {
        let ms = self
            .rt
            .now()
            .saturating_duration_since(self.epoch)
            .as_millis();
        Timestamp::from_millis(u64::try_from(ms).unwrap_or(u64::MAX))
    }

    /// Wall clock in Unix milliseconds (0 if the clock reads before 1970).
    pub(crate) fn unix_ms(&self) -> u64 {
        let since = self
            .rt
            .system_time()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
    }

    /// The node, locked. Critical sections are short and never await. A poisoned lock (a panic
    /// elsewhere while holding it) is recovered rather than propagated: the node's methods keep
    /// it consistent between calls.
    pub(crate) fn node(&self) -> MutexGuard<'_, Node> {
        self.node.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn registry(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn session(&self) -> Option<Arc<Session<R>>> {
        self.session
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub(crate) fn set_session(&self, session: Option<Arc<Session<R>>>) -> Option<Arc<Session<R>>> {
        std::mem::replace(
            &mut *self.session.lock().unwrap_or_else(|e| e.into_inner()),
            session,
        )
    }

    pub(crate) fn is_active(&self) -> bool {
        self.active.load(Ordering::Acquire)
    }

    /// Asks the driver to look at the node again (after a command or an input).
    pub(crate) fn wake_driver(&self) {
        self.wake.notify();
    }

    /// Feeds one input to the node, logs it if the node dropped it, and wakes the driver.
    pub(crate) fn feed(&self, from: SocketAddr, input: impl FnOnce(&mut Node, Timestamp)) {
        let now = self.now();
        let mut node = self.node();
        let before = node.stats().total_dropped().messages;
        input(&mut node, now);
        let dropped = node.stats().total_dropped().messages > before;
        drop(node);
        if dropped {
            tracing::debug!(%from, "dropped a message (see stats() for the reason)");
        }
        self.wake_driver();
    }

    pub(crate) fn io_stats(&self) -> IoStats {
        let c = &self.counters;
        IoStats {
            connections_opened: c.connections_opened.load(Ordering::Relaxed),
            udp_send_errors: c.udp_send_errors.load(Ordering::Relaxed),
            frames_dropped: c.frames_dropped.load(Ordering::Relaxed),
            connections_closed_bad_input: c.connections_closed_bad_input.load(Ordering::Relaxed),
            connections_refused: c.connections_refused.load(Ordering::Relaxed),
            events_lagged: self.registry().lagged,
        }
    }
}
