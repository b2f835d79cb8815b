//! What a node tells its application.

use alloc::format;
use alloc::string::String;
use bytes::Bytes;
use core::net::SocketAddr;

/// Why a peer is considered dead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeathCause {
    /// Its monitors stopped hearing its heartbeats.
    Failed,
    /// It announced that it was leaving.
    Left,
}

/// Something the application may want to react to, drained with `Node::poll_event`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The local node started.
    Started,
    /// The local node stopped.
    Stopped,
    /// A key was set, locally (`peer` is this node) or by a peer. Also re-emitted once per
    /// heartbeat interval with `emit_value_on_heartbeat`.
    Set {
        /// The node that owns the key.
        peer: SocketAddr,
        /// The key.
        key: String,
        /// Its new value.
        value: Bytes,
        /// When it expires, in Unix milliseconds.
        expires_at: Option<u64>,
    },
    /// A key was deleted by its owner.
    Deleted {
        /// The node that owned the key.
        peer: SocketAddr,
        /// The key.
        key: String,
    },
    /// A key reached its expiry time and is gone.
    KeyExpired {
        /// The node that owned the key.
        peer: SocketAddr,
        /// The key.
        key: String,
        /// Its last value.
        value: Bytes,
        /// The expiry time it had, in Unix milliseconds.
        expires_at: u64,
    },
    /// Another node said something (`say`). Each is heard once, never by its sayer.
    Heard {
        /// The event's name.
        event: String,
        /// Its payload.
        payload: Bytes,
        /// The node that said it.
        from: SocketAddr,
    },
    /// A peer was discovered.
    PeerNew {
        /// The peer.
        peer: SocketAddr,
    },
    /// A peer is alive: newly discovered, back after being dead, or restarted.
    PeerAlive {
        /// The peer.
        peer: SocketAddr,
    },
    /// A peer is considered dead. Raised once per death, with the cause known at that moment:
    /// a peer convicted as failed whose departure arrives later is not reported again.
    PeerDead {
        /// The peer.
        peer: SocketAddr,
        /// Whether it failed or left.
        cause: DeathCause,
    },
}

impl Event {
    /// The event's name for wildcard subscriptions, segments separated by `.`:
    /// `start`, `stop`, `set.<key>`, `delete.<key>`, `expired.<key>`, `say.<event>`,
    /// `peer.new`, `peer.alive`, `peer.dead`.
    pub fn name(&self) -> String {
        match self {
            Event::Started => String::from("start"),
            Event::Stopped => String::from("stop"),
            Event::Set { key, .. } => format!("set.{key}"),
            Event::Deleted { key, .. } => format!("delete.{key}"),
            Event::KeyExpired { key, .. } => format!("expired.{key}"),
            Event::Heard { event, .. } => format!("say.{event}"),
            Event::PeerNew { .. } => String::from("peer.new"),
            Event::PeerAlive { .. } => String::from("peer.alive"),
            Event::PeerDead { .. } => String::from("peer.dead"),
        }
    }
}
