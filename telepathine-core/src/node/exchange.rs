//! The Scuttlebutt push-pull exchange, kept cheap in quiet clusters and from amplifying.
//!
//! **Summaries.** Every node keeps a 64-bit summary of its whole digest. A `Syn` carries it with
//! only the recently changed origins; the responder pushes its own recent changes unasked and
//! adds a window of its state only when the summaries disagree. A node that saw a disagreement
//! sends windows in its next `Syn`s until the summaries agree again ("repair"). A quiet cluster
//! therefore exchanges a few dozen bytes per round whatever its size, while an update still
//! spreads by push and pull.
//!
//! **Cookies.** A `Syn` or `SynAck` earns a full-size answer only when it echoes the cookie this
//! node gave its sender, which proves the sender receives at the address it advertises. Anything
//! else (a first contact, or a message forged to reflect traffic at a victim) gets an answer at
//! most twice its own size: enough to hand over the cookie and the requests, so the next
//! exchange is full-size.

use core::hash::Hasher;
use core::net::{IpAddr, SocketAddr};
use siphasher::sip::SipHasher24;

use super::Node;
use super::flow::{SHUT, first_entry_only, within_room};
use crate::packed_map::PackedKey;
use crate::wire::{Body, Cover, Delta, Digest};

/// Room kept free in an envelope for the message fields around a digest or delta.
const MESSAGE_OVERHEAD: usize = 112;

/// Most recently changed origins pushed unasked in one reply. After a mass join nearly every
/// origin is recent; repair windows carry the rest, and this keeps a reply's cost independent
/// of the cluster's size.
const MAX_HOT_PUSHES: usize = 32;

/// Smallest repair window that counts as a sample of the whole state.
const MIN_SAMPLE: usize = 8;

/// Whether a peer's repair window says that this node lags on a large share of all origins:
/// an eighth or more of the window's origins are newer there. A full digest (14 bytes per
/// origin) then costs at most a few times the deltas it brings, and pulling it beats waiting
/// for windows to sweep the address space: after a partition heals nearly every origin has
/// refuted accusations, and when many nodes write at once each has news for everyone.
fn lags_on_many(digest: &Digest, requests: &[crate::wire::DigestEntry]) -> bool {
    if !matches!(digest.cover, Cover::Range { .. }) {
        return false;
    }
    let window = digest
        .entries
        .iter()
        .filter(|e| digest.cover.contains(&e.origin))
        .count();
    let stale = requests
        .iter()
        .filter(|e| digest.cover.contains(&e.origin))
        .count();
    window >= MIN_SAMPLE && 8 * stale >= window
}

/// Most gossip intervals between catch-ups that teach nothing.
const MAX_CATCH_UP_BACKOFF: u32 = 32;

impl Node {
    pub(super) fn body_budget(&self) -> usize {
        self.config
            .datagram_budget
            .saturating_sub(self.sealer.overhead() + MESSAGE_OVERHEAD)
    }

    fn stream_budget(&self) -> usize {
        self.config
            .limits
            .max_frame_bytes
            .saturating_sub(self.sealer.overhead() + MESSAGE_OVERHEAD)
    }

    fn room_for_new_origins(&self) -> usize {
        self.config
            .limits
            .max_peers
            .saturating_sub(self.store.origins.len().saturating_sub(1))
    }

    fn recent_since(&self) -> crate::time::Timestamp {
        self.now - self.store.hot_window
    }

    /// This node's cookie for `peer`: a keyed hash only this node can compute, never 0.
    pub(super) fn cookie_for(&self, peer: SocketAddr) -> u64 {
        let mut h = SipHasher24::new_with_keys(self.cookie_keys.0, self.cookie_keys.1);
        match peer.ip() {
            IpAddr::V4(ip) => h.write(&ip.octets()),
            IpAddr::V6(ip) => h.write(&ip.octets()),
        }
        h.write_u16(peer.port());
        h.finish() | 1
    }

    /// Keeps the cookie `peer` gave this node and says whether `peer` echoed this node's own:
    /// proof that it receives at the address it claims.
    fn take_cookies(&mut self, peer: SocketAddr, cookie: u64, echo: u64) -> bool {
        self.contacts
            .remember_cookie(peer, cookie, self.config.limits.max_peers);
        echo == self.cookie_for(peer)
    }

    /// The most a reply to a message of `len` bytes may carry: everything for a verified peer,
    /// twice the message otherwise.
    fn reply_budget(&self, verified: bool, len: usize) -> usize {
        if verified {
            self.body_budget()
        } else {
            self.body_budget().min(2 * len)
        }
    }

    /// Opens an exchange with `to`.
    pub(super) fn send_syn(&mut self, to: SocketAddr) {
        let budget = self.body_budget();
        let recent = self.recent_since();
        let digest = if self.repair {
            self.store.digest(budget, &mut self.digest_cursor, recent)
        } else {
            self.store.recent_digest(budget, recent)
        };
        self.send_syn_with(to, digest);
    }

    /// Pulls everything `peer` holds that this node lacks in one exchange: a `Syn` listing every
    /// origin (on a stream when it outgrows a datagram), answered in full since the peer's cookie
    /// is echoed. At most one per gossip interval, so a peer cannot make this node repeat it.
    ///
    /// It is due in two cases. The peer holds more origins than this node has or has just
    /// asked for (`pending`): origins that are news reach this node in the exchange that showed
    /// the difference (pushed, or requested from the peer's digest), so a lone newcomer costs
    /// no catch-ups, and what is left over is news to nobody (the tail of a mass join), which
    /// repair windows would find only about N / window rounds later. Or the peer's repair window
    /// shows this node stale on a large share of all origins ([`lags_on_many`]).
    fn catch_up_with(&mut self, peer: SocketAddr, peer_origins: u32, pending: usize, lags: bool) {
        let progress = (self.store.origins.len(), self.stats.entries_applied);
        if let Some(before) = self.catch_up_known.take() {
            // A catch-up that taught nothing (the peer's extra origins are ones this node
            // forgot) doubles the wait before the next, so a lasting difference costs little.
            self.catch_up_backoff = if progress.0 > before.0 || progress.1 > before.1 {
                1
            } else {
                (self.catch_up_backoff * 2).min(MAX_CATCH_UP_BACKOFF)
            };
        }
        let behind = peer_origins as usize > progress.0 + pending || lags;
        if behind && self.catch_up_due() {
            self.start_catch_up(peer);
        }
    }

    /// Whether a catch-up may start now: streams are on, and the last one is at least a gossip
    /// interval old (longer after catch-ups that taught nothing).
    fn catch_up_due(&self) -> bool {
        self.config.streams
            && self.last_catch_up.is_none_or(|t| {
                self.now.saturating_since(t) >= self.config.gossip_interval * self.catch_up_backoff
            })
    }

    fn start_catch_up(&mut self, peer: SocketAddr) {
        self.last_catch_up = Some(self.now);
        self.catch_up_known = Some((self.store.origins.len(), self.stats.entries_applied));
        self.stats.catch_ups += 1;
        let digest = self.store.full_digest();
        self.send_syn_with(peer, digest);
    }

    fn send_syn_with(&mut self, to: SocketAddr, digest: Digest) {
        let addressed = self.store.origins.contains_key(&to);
        let echo = self.contacts.cookie(&to);
        let body = Body::Syn {
            digest,
            summary: self.store.summary(),
            origins: self.origin_count(),
            cookie: self.cookie_for(to),
            echo,
            room: self.inbound.room(self.now),
        };
        // The oldest unanswered Syn stays: the first answer is to it, so a round trip is never
        // measured from a later one.
        if self.syn_sent.len() < self.config.limits.max_peers {
            self.syn_sent.entry(to).or_insert(self.now);
        }
        self.send(to, addressed, body);
        if echo == 0 && self.blind_syns.len() < self.config.limits.max_peers {
            self.blind_syns.insert(to);
        }
    }

    fn origin_count(&self) -> u32 {
        u32::try_from(self.store.origins.len()).unwrap_or(u32::MAX)
    }

    pub(super) fn on_syn(&mut self, from: SocketAddr, body: Body, len: usize) {
        let Body::Syn {
            digest,
            summary,
            origins,
            cookie,
            echo,
            room,
        } = body
        else {
            return;
        };
        let verified = self.take_cookies(from, cookie, echo);
        let in_sync = summary == self.store.summary();
        self.repair |= !in_sync;
        let members = &self.members;
        let mut cmp = self.store.compare(
            &digest,
            |a, g| members.is_forgotten(a, g),
            self.room_for_new_origins(),
        );
        self.refute_usurper(cmp.usurped);
        // A full digest mentions every origin, so nothing is left to push.
        if !in_sync && digest.cover != Cover::All {
            // Push what changed here recently and the initiator did not mention: it most likely
            // holds the version from before the change.
            // One sorted vector (the comparison's): a set built per Syn cost a node allocation
            // per listed origin, and sorting the listing again 2 % of a run.
            let listed = core::mem::take(&mut cmp.listed);
            let cover = digest.cover;
            let pushes: alloc::vec::Vec<(SocketAddr, u64)> = self
                .store
                .hot(self.recent_since(), move |o| {
                    *o == from
                        || listed.binary_search_by(|l| l.fast_cmp(o)).is_ok()
                        || cover.contains(o)
                })
                .take(MAX_HOT_PUSHES)
                .collect();
            cmp.wants.extend(pushes);
        }
        let lags = lags_on_many(&digest, &cmp.requests);
        let budget = self.reply_budget(verified, len);
        let mut reply = Digest {
            cover: Cover::Listed,
            entries: cmp.requests,
        };
        // Requests first (they are what this node needs), in at most a third of the room.
        while !reply.entries.is_empty() && crate::wire::encoded_len(&reply) > budget / 3 {
            let keep = reply.entries.len() / 2;
            reply.entries.truncate(keep);
        }
        // Origins requested here that this node has never heard of: they arrive with the Ack.
        let pending = reply
            .entries
            .iter()
            .filter(|e| !self.store.origins.contains_key(&e.origin))
            .count();
        let mut used = crate::wire::encoded_len(&reply);
        if verified && !in_sync && used < budget / 3 {
            // A window of this node's state, so the initiator can send what this node lacks.
            let recent = self.recent_since();
            let own = self
                .store
                .digest(budget / 3 - used, &mut self.digest_cursor, recent);
            reply.cover = own.cover;
            reply.entries.extend(
                own.entries
                    .into_iter()
                    .filter(|e| !cmp.wants.iter().any(|w| w.0 == e.origin)),
            );
            used = crate::wire::encoded_len(&reply);
        }
        let delta = self.build_delta(&cmp.wants, budget.saturating_sub(used), verified, room);
        let body = Body::SynAck {
            digest: reply,
            delta,
            summary: self.store.summary(),
            origins: self.origin_count(),
            cookie: self.cookie_for(from),
            // Echo the initiator's cookie: proof that this answer comes from its peer.
            echo: cookie,
            room: self.inbound.room(self.now),
        };
        self.send(from, true, body);
        // Only a verified peer may make this node send a full digest: a forged count from a
        // spoofed address would otherwise reflect it at a victim.
        if verified {
            self.catch_up_with(from, origins, pending, lags);
        }
    }

    pub(super) fn on_synack(&mut self, from: SocketAddr, body: Body, len: usize) {
        let Body::SynAck {
            digest,
            delta,
            summary,
            origins,
            cookie,
            echo,
            room,
        } = body
        else {
            return;
        };
        let verified = self.take_cookies(from, cookie, echo);
        if verified && let Some(sent) = self.syn_sent.remove(&from) {
            let ms = self.now.saturating_since(sent).as_secs_f64() * 1000.0;
            self.contacts
                .rtt_sample(from, ms, self.config.limits.max_peers);
        }
        self.apply_delta(delta);
        let members = &self.members;
        let cmp = self
            .store
            .compare(&digest, |a, g| members.is_forgotten(a, g), 0);
        self.refute_usurper(cmp.usurped);
        let budget = self.reply_budget(verified, len);
        let delta = self.build_delta(&cmp.wants, budget, verified, room);
        // Still different after taking the responder's news: look wider next time.
        self.repair = summary != self.store.summary();
        if !delta.is_empty() {
            self.send(from, true, Body::Ack(delta));
        }
        // The Syn could not echo this peer's cookie (a first contact), so the peer answered
        // with no more than twice its size. Now that the cookie is known, a second Syn gets a
        // full answer if anything still differs: one extra datagram instead of a starved
        // exchange. Few pairs of a large cluster have met, so without it news spreads at a
        // few entries per exchange (a burst of 1,000 writers took 35 rounds, a healed
        // partition of 300 nodes 18 s). Retrying only answers that looked cut lost most of
        // that gain; retrying always costs about 40 % more bytes under sustained writes, for
        // 14 % more throughput. A cut answer says nothing about how far behind this node is,
        // so the full one decides whether to catch up. Only with the cookie stored (a full
        // table refuses it): the second Syn must echo it, or it would be cut and asked again.
        let blind = self.blind_syns.remove(&from);
        if blind && verified && self.repair && self.contacts.cookie(&from) != 0 {
            self.send_syn(from);
        } else if verified {
            self.catch_up_with(from, origins, 0, lags_on_many(&digest, &cmp.requests));
        }
    }

    /// A delta for `wants` within `datagram_room`, or within a stream frame when streams are
    /// available and the peer is verified; never beyond the `peer_room` the peer advertised.
    fn build_delta(
        &mut self,
        wants: &[(SocketAddr, u64)],
        datagram_room: usize,
        verified: bool,
        peer_room: u32,
    ) -> Delta {
        if wants.is_empty() {
            return Delta::default();
        }
        let room = if self.config.streams && verified {
            self.stream_budget()
        } else {
            datagram_room
        };
        let limited = within_room(room, peer_room);
        let mut delta = self.store.delta(wants, limited, &mut self.rng);
        if limited < room {
            if delta.is_empty() && peer_room > SHUT {
                delta = self.store.delta(wants, room, &mut self.rng);
                first_entry_only(&mut delta);
            }
            if self.store.left_out(wants, &delta) {
                self.stats.deltas_throttled += 1;
            }
        }
        delta
    }

    /// A peer claims a newer history of this node than this node has: a previous life with a
    /// later clock, or a forgery. Either way, only a new generation above the claim makes peers
    /// take this node's real state again.
    fn refute_usurper(&mut self, claimed: Option<u64>) {
        let Some(claimed) = claimed else { return };
        let generation = claimed.max(self.id.generation).saturating_add(1);
        self.id.generation = generation;
        self.store.rebirth(
            generation,
            self.now,
            self.config.tombstone_grace,
            &self.config.limits,
        );
        self.stats.rebirths += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::DigestEntry;

    fn entry(i: u8, version: u64) -> DigestEntry {
        DigestEntry {
            origin: SocketAddr::from(([10, 0, 0, i], 9000)),
            generation: 1,
            version,
        }
    }

    fn window(from: u8, to: u8, listed: core::ops::RangeInclusive<u8>) -> Digest {
        Digest {
            cover: Cover::Range {
                from: entry(from, 0).origin,
                to: entry(to, 0).origin,
            },
            entries: listed.map(|i| entry(i, 5)).collect(),
        }
    }

    #[test]
    fn an_eighth_of_a_window_stale_calls_for_a_catch_up() {
        let digest = window(1, 16, 1..=16);
        let stale = |n: u8| (1..=n).map(|i| entry(i, 5)).collect::<alloc::vec::Vec<_>>();
        assert!(!lags_on_many(&digest, &stale(1)));
        assert!(lags_on_many(&digest, &stale(2)), "2 of 16 is an eighth");
        assert!(lags_on_many(&digest, &stale(16)));
    }

    #[test]
    fn only_a_window_of_some_size_is_a_sample() {
        // Seven origins are too few to say anything about the rest.
        let small = window(1, 7, 1..=7);
        let all: alloc::vec::Vec<_> = (1..=7).map(|i| entry(i, 5)).collect();
        assert!(!lags_on_many(&small, &all));
        // A digest of recent news alone (no window) never calls for one, however stale.
        let recent = Digest {
            cover: Cover::Listed,
            entries: (1..=40).map(|i| entry(i, 5)).collect(),
        };
        let stale: alloc::vec::Vec<_> = (1..=40).map(|i| entry(i, 5)).collect();
        assert!(!lags_on_many(&recent, &stale));
        // Requests outside the window (recent entries listed before it) do not count.
        let digest = window(1, 16, 1..=30);
        let outside: alloc::vec::Vec<_> = (17..=30).map(|i| entry(i, 5)).collect();
        assert!(!lags_on_many(&digest, &outside));
    }
}
