//! Messages exchanged by nodes, encoded with postcard.

use alloc::string::String;
use alloc::vec::Vec;
use bytes::Bytes;
use core::net::SocketAddr;
use serde::{Deserialize, Serialize};

use crate::identity::NodeId;

/// One message: who sent it, to whom, its sequence number for replay protection, and its body.
///
/// Inside a sealed envelope every field is authenticated, so a receiver can trust `from` and
/// `seq` once the envelope opened.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// The sender's identity.
    pub from: NodeId,
    /// The advertised address of the intended receiver, or `None` when the sender only knows
    /// an address (a seed) and not yet the node behind it.
    pub to: Option<SocketAddr>,
    /// Strictly increasing per sender generation.
    pub seq: u64,
    /// What the message says.
    pub body: Body,
}

/// The kinds of message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Body {
    /// Opens an exchange: what the initiator has.
    Syn {
        /// The initiator's recently changed origins, and a window of the rest while it is
        /// repairing a disagreement.
        digest: Digest,
        /// Summary of the initiator's whole digest (see `docs/protocol.md`).
        summary: u64,
        /// How many origins the initiator holds: a peer far behind pulls a full catch-up.
        origins: u32,
        /// The initiator's cookie for the receiver, to be echoed back.
        cookie: u64,
        /// The receiver's cookie for the initiator as last received, or 0: proves the initiator
        /// receives at its advertised address, which unlocks full-size replies.
        echo: u64,
        /// Most delta bytes the initiator takes in the answer (flow control); 0: no limit.
        room: u32,
    },
    /// Answers a `Syn`: what the responder has (for what it lacks) and what the initiator lacks.
    SynAck {
        /// The responder's requests and a window of its own state.
        digest: Digest,
        /// What the initiator lacks.
        delta: Delta,
        /// Summary of the responder's whole digest.
        summary: u64,
        /// How many origins the responder holds.
        origins: u32,
        /// The responder's cookie for the initiator.
        cookie: u64,
        /// The initiator's cookie from the `Syn`.
        echo: u64,
        /// Most delta bytes the responder takes in the `Ack` (flow control); 0: no limit.
        room: u32,
    },
    /// Closes an exchange with what the responder lacks. Also pushes news unasked (a leave).
    Ack(Delta),
    /// A liveness signal to one of the sender's monitors.
    Heartbeat {
        /// The sender's current incarnation (raised to refute suspicion).
        incarnation: u64,
        /// True when the sender stops using the receiver as a monitor.
        release: bool,
    },
    /// Asks a peer whose heartbeats this monitor has missed for one at once: lost heartbeats
    /// are far likelier than a failure, and an answer spares the cluster an accusation.
    Probe,
}

impl Body {
    /// A short name for statistics.
    pub fn kind(&self) -> &'static str {
        match self {
            Body::Syn { .. } => "syn",
            Body::SynAck { .. } => "synack",
            Body::Ack(_) => "ack",
            Body::Heartbeat { .. } => "heartbeat",
            Body::Probe => "probe",
        }
    }
}

/// A summary of what a node holds: `(origin, generation, version)` triples.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Digest {
    /// Which origins the entries speak for completely.
    pub cover: Cover,
    /// One entry per origin mentioned, in no particular order. Encoded packed, as one byte
    /// string (see `docs/protocol.md`).
    #[serde(with = "crate::wire::packed")]
    pub entries: Vec<DigestEntry>,
}

/// Which origins a digest lists exhaustively. An origin inside the cover but absent from the
/// entries is one the sender has never heard of, so the receiver should send all of it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Cover {
    /// Only the listed origins: absence means nothing.
    #[default]
    Listed,
    /// Every origin the sender knows is listed.
    All,
    /// Every origin the sender knows whose address lies in `from..=to` is listed; the range
    /// wraps around when `from > to`.
    Range {
        /// First address of the range.
        from: SocketAddr,
        /// Last address of the range.
        to: SocketAddr,
    },
}

impl Cover {
    /// Whether `addr` lies inside the cover.
    pub fn contains(&self, addr: &SocketAddr) -> bool {
        match self {
            Cover::Listed => false,
            Cover::All => true,
            Cover::Range { from, to } if from <= to => from <= addr && addr <= to,
            Cover::Range { from, to } => addr >= from || addr <= to,
        }
    }
}

/// "I hold `origin` in `generation` completely up to `version`." Generation 0 means "nothing".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DigestEntry {
    /// The node whose state this is.
    pub origin: SocketAddr,
    /// Its generation as the sender knows it.
    pub generation: u64,
    /// Every change of that generation up to this version is held.
    pub version: u64,
}

/// State that a receiver lacks, per origin.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delta {
    /// Per-origin runs of entries.
    pub origins: Vec<OriginDelta>,
}

impl Delta {
    /// Whether there is nothing in it.
    pub fn is_empty(&self) -> bool {
        self.origins.is_empty()
    }
}

/// A run of one origin's entries, in version order, covering every change in
/// `(from_version, up_to]`.
///
/// `from_version == 0` makes it a reset: the receiver discards what it held of the origin
/// first. `gc_floor` is the highest version of a tombstone the sender has garbage-collected: a
/// receiver that holds less than that (and did not reset since) cannot apply the run without
/// risking a deleted key coming back, and asks for a reset instead.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OriginDelta {
    /// The node whose state this is.
    pub origin: SocketAddr,
    /// Its generation.
    pub generation: u64,
    /// The receiver is assumed to hold everything up to here.
    pub from_version: u64,
    /// After applying, the receiver holds everything up to here.
    pub up_to: u64,
    /// Highest garbage-collected tombstone version at the sender.
    pub gc_floor: u64,
    /// The changes, strictly increasing in version, within `(from_version, up_to]`.
    pub entries: WireEntries,
}

/// An origin's run of entries in a [`OriginDelta`]. Most runs hold one entry (a joining node
/// receives each peer's status record alone), so one is kept inline: decoding or building a
/// delta of N origins then allocates once, not N + 1 times. Encoded as a sequence, exactly like
/// a `Vec`.
pub type WireEntries = smallvec::SmallVec<[WireEntry; 1]>;

/// One versioned entry of an origin's state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireEntry {
    /// What the entry is.
    pub key: Key,
    /// The origin's version counter when it was written.
    pub version: u64,
    /// Its content.
    pub value: Value,
    /// Unix time in milliseconds after which it is gone everywhere.
    pub expires_at: Option<u64>,
}

/// Keys of an origin's state: the user's keys and the protocol's own records, sharing one
/// version sequence so that one anti-entropy mechanism carries them all.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Key {
    /// A key set by the application.
    User(String),
    /// A `say` event, numbered in the order the origin said them.
    Event(u64),
    /// The origin's liveness record (incarnation, left).
    Status,
    /// The origin's accusation that a node it monitors has failed.
    Accuse(SocketAddr),
}

/// Contents of an entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Value {
    /// A user value.
    Bytes(Bytes),
    /// A deleted key (or withdrawn accusation), kept until garbage-collected.
    Tombstone,
    /// A `say` event.
    Event {
        /// The event's name, matched by `hear` patterns.
        name: String,
        /// Its payload.
        payload: Bytes,
    },
    /// An origin's liveness record.
    Status(Status),
    /// An accusation of the node in the key, in the life identified here.
    Accusation {
        /// Generation of the accused when convicted.
        generation: u64,
        /// Incarnation of the accused when convicted; a higher one refutes it.
        incarnation: u64,
    },
}

/// An origin's own view of its liveness.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// Raised by the origin each time it refutes an accusation.
    pub incarnation: u64,
    /// Set when the origin left gracefully.
    pub left: bool,
}

impl WireEntry {
    /// Whether key and value belong together (a malicious or broken peer could pair them
    /// otherwise).
    pub fn is_well_formed(&self) -> bool {
        matches!(
            (&self.key, &self.value),
            (Key::User(_), Value::Bytes(_) | Value::Tombstone)
                | (Key::Event(_), Value::Event { .. } | Value::Tombstone)
                | (Key::Status, Value::Status(_))
                | (Key::Accuse(_), Value::Accusation { .. } | Value::Tombstone)
        )
    }
}
