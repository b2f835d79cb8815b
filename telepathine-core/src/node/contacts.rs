//! What a node keeps about each peer it exchanges messages with, in one record per peer.
//!
//! Every message received used to look its sender up in three maps (replay windows, traffic
//! figures, cookies) and every message sent looked its destination up in a fourth; in a
//! simulated cluster nearly all of those lookups start cold, and in a steady round they were a
//! fifth of the time. One record holds all three, so a message costs one cold lookup, and each
//! peer costs one key and one index slot instead of three.

use core::net::SocketAddr;

use crate::packed_map::PackedMap;
use crate::stats::PeerStats;
use crate::wire::{ReplayVerdict, Window};

/// One peer's record.
#[derive(Clone, Debug, Default)]
struct Contact {
    /// Sequence numbers seen from the peer (empty until a message from it is admitted).
    window: Window,
    /// The cookie the peer gave this node, echoed in later exchanges; 0 until it gave one.
    cookie: u64,
    /// Traffic and round-trip time, reported by `Node::peer_stats`.
    figures: PeerStats,
}

/// The records of the peers this node exchanges messages with, at most `cap` of them (the
/// caller passes `limits.max_peers`): a peer beyond that is not recorded, so its messages are
/// refused ([`ReplayVerdict::Full`]), its cookie is not kept and its traffic not counted.
#[derive(Clone, Debug, Default)]
pub(super) struct Contacts {
    records: PackedMap<SocketAddr, Contact>,
}

impl Contacts {
    /// Sets the secret mixed into the index's hashes (see `PackedMap`'s `seed`).
    pub fn reseed(&mut self, seed: u64) {
        self.records.reseed(seed);
    }

    /// The secret of the index.
    #[cfg(test)]
    pub fn seed(&self) -> u64 {
        self.records.seed()
    }

    /// `peer`'s record, created if there is room.
    fn record(&mut self, peer: SocketAddr, cap: usize) -> Option<&mut Contact> {
        if self.records.len() >= cap && !self.records.contains_key(&peer) {
            return None;
        }
        Some(self.records.get_or_insert_with(peer, Contact::default).0)
    }

    /// Judges message `seq` of `generation` from `from`, `len` bytes long, and counts it as
    /// received when it is fresh.
    pub fn admit(
        &mut self,
        from: SocketAddr,
        generation: u64,
        seq: u64,
        len: usize,
        cap: usize,
    ) -> ReplayVerdict {
        let Some(c) = self.record(from, cap) else {
            return ReplayVerdict::Full;
        };
        let verdict = c.window.check(generation, seq);
        if verdict == ReplayVerdict::Fresh {
            c.figures.received.add(len);
        }
        verdict
    }

    /// Counts `len` bytes sent to `peer`.
    pub fn sent_to(&mut self, peer: SocketAddr, len: usize, cap: usize) {
        if let Some(c) = self.record(peer, cap) {
            c.figures.sent.add(len);
        }
    }

    /// Folds a round-trip sample into `peer`'s estimate (EWMA, weight 1/8 as in TCP).
    pub fn rtt_sample(&mut self, peer: SocketAddr, ms: f64, cap: usize) {
        if let Some(c) = self.record(peer, cap) {
            let rtt = &mut c.figures.rtt_ms;
            *rtt = Some(rtt.map_or(ms, |old| old + (ms - old) / 8.0));
        }
    }

    /// Keeps the cookie `peer` gave (0 means none was given).
    pub fn remember_cookie(&mut self, peer: SocketAddr, cookie: u64, cap: usize) {
        if cookie != 0
            && let Some(c) = self.record(peer, cap)
        {
            c.cookie = cookie;
        }
    }

    /// The cookie `peer` gave this node, or 0.
    pub fn cookie(&self, peer: &SocketAddr) -> u64 {
        self.records.get(peer).map_or(0, |c| c.cookie)
    }

    /// `peer`'s traffic and round-trip time, if it has a record.
    pub fn figures(&self, peer: &SocketAddr) -> Option<&PeerStats> {
        self.records.get(peer).map(|c| &c.figures)
    }

    /// Every recorded peer's traffic and round-trip time, in address order.
    pub fn all_figures(&self) -> impl DoubleEndedIterator<Item = (&SocketAddr, &PeerStats)> {
        self.records.iter().map(|(a, c)| (a, &c.figures))
    }

    /// Forgets `peer` (when the node forgets the peer itself).
    pub fn forget(&mut self, peer: &SocketAddr) {
        self.records.remove(peer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ReplayVerdict::*;

    fn a(p: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], p))
    }

    #[test]
    fn a_full_table_refuses_new_senders_until_one_is_forgotten() {
        let mut c = Contacts::default();
        assert_eq!(c.admit(a(1), 5, 100, 10, 1), Fresh);
        assert_eq!(c.admit(a(1), 5, 100, 10, 1), Replayed);
        assert_eq!(c.admit(a(2), 1, 1, 10, 1), Full);
        // Nor is anything else about the newcomer kept.
        c.sent_to(a(2), 10, 1);
        c.remember_cookie(a(2), 7, 1);
        assert_eq!(c.figures(&a(2)), None);
        assert_eq!(c.cookie(&a(2)), 0);
        c.forget(&a(1));
        assert_eq!(c.admit(a(2), 1, 1, 10, 1), Fresh);
    }

    #[test]
    fn one_record_holds_the_window_the_cookie_and_the_figures() {
        let mut c = Contacts::default();
        // A peer first sent to (a seed) has a record before it answers.
        c.sent_to(a(1), 100, 8);
        assert_eq!(c.cookie(&a(1)), 0);
        assert_eq!(c.admit(a(1), 1, 1, 40, 8), Fresh);
        assert_eq!(c.admit(a(1), 1, 1, 40, 8), Replayed, "not counted twice");
        c.remember_cookie(a(1), 0, 8);
        assert_eq!(c.cookie(&a(1)), 0, "0 is no cookie");
        c.remember_cookie(a(1), 99, 8);
        c.rtt_sample(a(1), 80.0, 8);
        c.rtt_sample(a(1), 160.0, 8);
        let f = *c.figures(&a(1)).expect("recorded");
        assert_eq!((f.sent.messages, f.sent.bytes), (1, 100));
        assert_eq!((f.received.messages, f.received.bytes), (1, 40));
        assert_eq!(f.rtt_ms, Some(90.0));
        assert_eq!(c.cookie(&a(1)), 99);
        assert_eq!(c.all_figures().count(), 1);
    }
}
