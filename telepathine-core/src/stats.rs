//! Counters a node keeps about its traffic and the input it refused.

use alloc::collections::BTreeMap;
use core::fmt;

/// Why an incoming message was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DropReason {
    /// Too short, or the magic bytes are wrong: not ours.
    BadMagic,
    /// A protocol version this node does not speak.
    UnsupportedVersion,
    /// Another cluster's message.
    WrongCluster,
    /// Plaintext on a private network.
    Unsealed,
    /// Sealed, but this node has no key (public network).
    UnexpectedSeal,
    /// Sealed under a key id this node does not hold.
    UnknownKey,
    /// Sealed with the other cipher suite than this node's key uses: most likely a member
    /// configured with another cipher (every member must use the same one).
    WrongCipher,
    /// Failed authentication: wrong key, altered or truncated.
    Forged,
    /// Authentic but not a valid message: undecodable, inconsistent or over a limit.
    Malformed,
    /// Larger than the datagram budget or frame cap.
    Oversize,
    /// Already received (or too old for the replay window).
    Replayed,
    /// From an older life of its sender than one already seen.
    StaleGeneration,
    /// Addressed to another node.
    WrongDestination,
    /// Claims to come from this node itself.
    FromSelf,
    /// From a stranger while the peer table is full.
    PeerLimit,
    /// Arrived while the node was stopped.
    Stopped,
}

impl DropReason {
    /// A stable snake_case name for reports.
    pub fn name(self) -> &'static str {
        match self {
            DropReason::BadMagic => "bad_magic",
            DropReason::UnsupportedVersion => "unsupported_version",
            DropReason::WrongCluster => "wrong_cluster",
            DropReason::Unsealed => "unsealed",
            DropReason::UnexpectedSeal => "unexpected_seal",
            DropReason::UnknownKey => "unknown_key",
            DropReason::WrongCipher => "wrong_cipher",
            DropReason::Forged => "forged",
            DropReason::Malformed => "malformed",
            DropReason::Oversize => "oversize",
            DropReason::Replayed => "replayed",
            DropReason::StaleGeneration => "stale_generation",
            DropReason::WrongDestination => "wrong_destination",
            DropReason::FromSelf => "from_self",
            DropReason::PeerLimit => "peer_limit",
            DropReason::Stopped => "stopped",
        }
    }
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Messages and bytes of one kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Traffic {
    /// Messages.
    pub messages: u64,
    /// Bytes on the wire, envelope included.
    pub bytes: u64,
}

impl Traffic {
    pub(crate) fn add(&mut self, bytes: usize) {
        self.messages += 1;
        self.bytes += bytes as u64;
    }
}

/// What one peer cost and how far away it is.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct PeerStats {
    /// Sent to the peer.
    pub sent: Traffic,
    /// Accepted from the peer.
    pub received: Traffic,
    /// Smoothed round-trip time of gossip exchanges with the peer (Syn to SynAck), in
    /// milliseconds, once one has completed.
    pub rtt_ms: Option<f64>,
}

/// Everything a node counts. Keys of the maps are message kinds (`syn`, `synack`, `ack`,
/// `heartbeat`) and drop reasons. Per-peer figures are read with
/// [`Node::peer_stats`](crate::Node::peer_stats) and
/// [`Node::all_peer_stats`](crate::Node::all_peer_stats).
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct Stats {
    /// Sent, by message kind.
    pub sent: BTreeMap<&'static str, Traffic>,
    /// Received and accepted, by message kind.
    pub received: BTreeMap<&'static str, Traffic>,
    /// Dropped, by reason.
    pub dropped: BTreeMap<DropReason, Traffic>,
    /// Gossip exchanges this node initiated.
    pub rounds: u64,
    /// Entries applied from peers' deltas.
    pub entries_applied: u64,
    /// Local writes refused because a limit was reached.
    pub writes_refused: u64,
    /// Deltas this node cut to the room a peer advertised (flow control slowed this sender).
    pub deltas_throttled: u64,
    /// Full catch-ups this node pulled: a peer was far ahead, or it stayed behind one without
    /// learning anything for several rounds.
    pub catch_ups: u64,
    /// Accusations this node published against peers it monitors (each one spreads to every
    /// node, and most under loss are withdrawn when the next heartbeat arrives).
    pub accusations: u64,
    /// Times this node started a new generation because a peer claimed a newer history of it.
    pub rebirths: u64,
}

impl Stats {
    pub(crate) fn sent(&mut self, kind: &'static str, bytes: usize) {
        self.sent.entry(kind).or_default().add(bytes);
    }

    pub(crate) fn received(&mut self, kind: &'static str, bytes: usize) {
        self.received.entry(kind).or_default().add(bytes);
    }

    pub(crate) fn dropped(&mut self, reason: DropReason, bytes: usize) {
        self.dropped.entry(reason).or_default().add(bytes);
    }

    /// Total sent over all kinds.
    pub fn total_sent(&self) -> Traffic {
        sum(self.sent.values())
    }

    /// Total accepted over all kinds.
    pub fn total_received(&self) -> Traffic {
        sum(self.received.values())
    }

    /// Total dropped over all reasons.
    pub fn total_dropped(&self) -> Traffic {
        sum(self.dropped.values())
    }

    /// Messages dropped for `reason`.
    pub fn dropped_for(&self, reason: DropReason) -> u64 {
        self.dropped.get(&reason).map_or(0, |t| t.messages)
    }
}

fn sum<'a>(it: impl Iterator<Item = &'a Traffic>) -> Traffic {
    it.fold(Traffic::default(), |acc, t| Traffic {
        messages: acc.messages + t.messages,
        bytes: acc.bytes + t.bytes,
    })
}
