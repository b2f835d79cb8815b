//! What subscribers receive, and the adapter's own counters.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;

/// An event said by another node ([`Telepathine::say`](super::Telepathine::say)), as delivered
/// by [`Telepathine::hear`](super::Telepathine::hear).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Heard {
    /// The event's name.
    pub event: String,
    /// Its payload.
    pub payload: Bytes,
    /// The node that said it.
    pub from: SocketAddr,
}

/// A key set by some node, as delivered by [`Telepathine::know`](super::Telepathine::know) and
/// [`Telepathine::believe`](super::Telepathine::believe).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyUpdate {
    /// The node that owns the key (this node's own name for local sets).
    pub peer: SocketAddr,
    /// The key.
    pub key: String,
    /// Its new value.
    pub value: Bytes,
    /// When it expires, if it does.
    pub expires_at: Option<SystemTime>,
}

/// Unix milliseconds as a `SystemTime`.
pub(crate) fn system_time_from_unix_ms(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

/// Counters of what the socket layer did that the node never saw. The node's own counters
/// (messages sent, received, dropped by reason) are in [`Stats`](crate::Stats).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IoStats {
    /// Outbound TCP connections opened. Connections are reused, so this stays near the number
    /// of peers reached over TCP.
    pub connections_opened: u64,
    /// Datagrams the OS refused to send.
    pub udp_send_errors: u64,
    /// Datagrams or frames that could not be handed to a connection (queue full, connection
    /// limit reached, connect or write failed or timed out).
    pub frames_dropped: u64,
    /// Inbound connections closed because of a bad frame header, or a frame not finished within
    /// the read timeout (`idle_timeout + io_timeout` from its first byte).
    pub connections_closed_bad_input: u64,
    /// Inbound connections refused because the limit was reached.
    pub connections_refused: u64,
    /// Subscription events dropped because a subscriber lagged (see
    /// [`Subscription::lagged`](super::Subscription::lagged)).
    pub events_lagged: u64,
}
