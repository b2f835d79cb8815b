//! Scuttlebutt reconciliation: digests that fit a datagram, their comparison, and deltas cut to
//! a byte budget in scuttle-depth order.

use alloc::vec::Vec;
use core::net::SocketAddr;
use rand_core::Rng;

use super::origin::OriginState;
use super::store::Store;

/// Newest entries of a busy origin pushed unasked. A burst this long (a batch of writes) still
/// goes whole to peers that hold the version before it; a push from further back would mostly
/// repeat what receivers of a long-busy origin already hold. Eight proved too few: a batch of
/// ten keys then spread by pull alone, two rounds slower at 1,000 nodes.
const HOT_SUFFIX: usize = 32;
use crate::packed_map::PackedKey;
use crate::time::Timestamp;
use crate::wire::{Cover, Delta, Digest, DigestEntry};

/// What a comparison of a peer's digest with local state found.
#[derive(Debug, Default)]
pub(crate) struct Comparison {
    /// Entries to send back so the peer sends what this node lacks.
    pub requests: Vec<DigestEntry>,
    /// `(origin, version the peer holds)` for state the peer lacks.
    pub wants: Vec<(SocketAddr, u64)>,
    /// The highest generation in which the peer claims a newer history of this node than this
    /// node has.
    pub usurped: Option<u64>,
    /// The digest's origins in address order (a partial digest's; empty for a full one), for
    /// callers that test many origins against the listing without sorting it again.
    pub listed: Vec<SocketAddr>,
}

fn entry_size(e: &DigestEntry) -> usize {
    crate::wire::packed_entry_len(e)
}

fn digest_entry((origin, s): (&SocketAddr, &OriginState)) -> DigestEntry {
    DigestEntry {
        origin: *origin,
        generation: s.generation,
        version: s.digest_version(),
    }
}

impl Store {
    fn state_entry(&self, origin: &SocketAddr) -> Option<DigestEntry> {
        self.origins.get_key_value(origin).map(digest_entry)
    }

    /// A digest of at most `budget` encoded bytes. When everything fits it covers all origins.
    /// Otherwise it lists origins that changed since `recent_since` first (they are what peers
    /// are most likely to lack), then a window of the address space starting at `cursor`, which
    /// it advances so successive digests sweep every origin.
    pub fn digest(
        &self,
        budget: usize,
        cursor: &mut Option<SocketAddr>,
        recent_since: Timestamp,
    ) -> Digest {
        let mut digest = Digest {
            cover: Cover::All,
            entries: Vec::new(),
        };
        let overhead = crate::wire::encoded_len(&digest) + 4;
        let mut room = budget.saturating_sub(overhead);
        // Every entry takes at least 8 bytes (address, generation, version), so large clusters
        // skip building the full list only to find it does not fit.
        if self.origins.len() * 8 <= room {
            let full: Vec<DigestEntry> = self.origins.iter().map(digest_entry).collect();
            if full.iter().map(entry_size).sum::<usize>() <= room {
                digest.entries = full;
                return digest;
            }
        }
        // This node's own entry first: it is the one state nobody else may hold yet. During a
        // mass join every origin a node learns is more recent than its own, so its own entry
        // fell out of the recent part and waited for the window to reach it; a few nodes stayed
        // unknown to nearly everyone for five to eight rounds, and membership converged only
        // once they spread.
        let own = self.state_entry(&self.me).filter(|e| entry_size(e) <= room);
        room -= own.as_ref().map_or(0, entry_size);
        let mut recent = self.recent_digest(room / 2, recent_since);
        recent.entries.retain(|e| e.origin != self.me);
        room -= recent.entries.iter().map(entry_size).sum::<usize>();
        digest.entries = own.into_iter().chain(recent.entries).collect();
        // The window adds at most this many, each of at least the smallest entry's size.
        digest.entries.reserve(room / crate::wire::MIN_ENTRY_LEN);
        let mut listed: Vec<SocketAddr> = digest.entries.iter().map(|e| e.origin).collect();
        listed.sort_unstable_by(|a, b| a.fast_cmp(b));
        // Then a window over the address space, wrapping around.
        let start = cursor.unwrap_or_else(|| *self.origins.keys().next().unwrap_or(&self.me));
        let window = self
            .origins
            .range(start..)
            .chain(self.origins.range(..start));
        let (mut first, mut last) = (None, None);
        for (origin, state) in window {
            let e = digest_entry((origin, state));
            if listed.binary_search_by(|l| l.fast_cmp(origin)).is_err() {
                let size = entry_size(&e);
                if size > room {
                    *cursor = Some(*origin);
                    break;
                }
                room -= size;
                digest.entries.push(e);
            }
            first.get_or_insert(*origin);
            last = Some(*origin);
        }
        digest.cover = match (first, last) {
            (Some(from), Some(to)) => Cover::Range { from, to },
            _ => Cover::Listed,
        };
        digest
    }

    /// Every origin, for a peer that is far behind: sent on a stream, so its size is bounded by
    /// the frame cap rather than a datagram.
    pub fn full_digest(&self) -> Digest {
        Digest {
            cover: Cover::All,
            entries: self.origins.iter().map(digest_entry).collect(),
        }
    }

    /// Only the origins that changed since `recent_since`, newest first, within `budget`
    /// encoded bytes. In a quiet cluster this is empty, so an exchange costs a few dozen bytes
    /// whatever the cluster's size.
    pub fn recent_digest(&self, budget: usize, recent_since: Timestamp) -> Digest {
        let mut digest = Digest {
            cover: Cover::Listed,
            entries: Vec::new(),
        };
        let mut room = budget.saturating_sub(crate::wire::encoded_len(&digest) + 4);
        let most = (room / crate::wire::MIN_ENTRY_LEN).min(self.recent.len());
        let listed = self
            .recent
            .iter()
            .rev()
            .take_while(|(t, _)| *t >= recent_since)
            .take(most);
        self.origins.warm(listed.map(|(_, o)| o));
        digest.entries.reserve(most);
        for (_, origin) in self
            .recent
            .iter()
            .rev()
            .take_while(|(t, _)| *t >= recent_since)
        {
            let Some(e) = self.state_entry(origin) else {
                continue;
            };
            let size = entry_size(&e);
            if size > room {
                break;
            }
            room -= size;
            digest.entries.push(e);
        }
        digest
    }

    /// Origins changed since `recent_since`, newest first, with the version to push them from:
    /// where their recent burst of changes began, or just below their [`HOT_SUFFIX`] newest
    /// entries if the burst is longer (a peer that is further behind refuses the gap and
    /// repairs).
    ///
    /// `skip` drops origins before their state is looked up (a digest's own listing, usually
    /// most of the index).
    pub fn hot<'a>(
        &'a self,
        recent_since: Timestamp,
        skip: impl Fn(&SocketAddr) -> bool + 'a,
    ) -> impl Iterator<Item = (SocketAddr, u64)> + 'a {
        self.recent
            .iter()
            .rev()
            .take_while(move |(t, _)| *t >= recent_since)
            .filter(move |(_, o)| !skip(o))
            .filter_map(|(_, o)| {
                self.origins
                    .get(o)
                    .map(|s| (*o, s.hot_from.max(s.suffix_from(HOT_SUFFIX))))
            })
    }

    /// Compares a peer's digest with local state. `forgotten` says whether an origin's
    /// generation was forgotten (dead) and must not be pulled back; `room_for` caps how many
    /// new origins this node still accepts.
    pub fn compare(
        &self,
        digest: &Digest,
        forgotten: impl Fn(&SocketAddr, u64) -> bool,
        mut room_for_new: usize,
    ) -> Comparison {
        let mut out = Comparison::default();
        let room = &mut room_for_new;
        let entries = &digest.entries;
        if matches!(digest.cover, Cover::All)
            && entries
                .windows(2)
                .all(|w| w[0].origin.fast_cmp(&w[1].origin).is_lt())
        {
            // A full digest in address order (a catch-up, or a small cluster's): one pass over
            // both, where a lookup per entry would cost a B-tree descent each.
            let mut unlisted = Vec::new();
            let mut states = self.origins.iter().peekable();
            for e in entries {
                while let Some((o, _)) = states.next_if(|(o, _)| o.fast_cmp(&e.origin).is_lt()) {
                    unlisted.push((*o, 0));
                }
                let state = states.next_if(|(o, _)| **o == e.origin).map(|(_, s)| s);
                self.compare_entry(e, state, &forgotten, room, &mut out);
            }
            unlisted.extend(states.map(|(o, _)| (*o, 0)));
            out.wants.extend(unlisted);
            return out;
        }
        // Address order of the listed origins, each with its first position: a peer may list
        // one twice, and only its first entry counts.
        let mut listed: Vec<(SocketAddr, usize)> = entries
            .iter()
            .enumerate()
            .map(|(i, e)| (e.origin, i))
            .collect();
        // The inlined address comparison: `SocketAddr`'s `Ord` is an out-of-line call per step.
        listed.sort_unstable_by(|a, b| a.0.fast_cmp(&b.0).then(a.1.cmp(&b.1)));
        let mut repeated = alloc::vec![false; entries.len()];
        for w in listed.windows(2) {
            if w[0].0 == w[1].0 {
                repeated[w[1].1] = true;
            }
        }
        self.origins.warm(entries.iter().map(|e| &e.origin));
        for (e, _) in entries.iter().zip(&repeated).filter(|(_, r)| !**r) {
            let state = self.origins.get(&e.origin);
            self.compare_entry(e, state, &forgotten, room, &mut out);
        }
        let mut unlisted = |origin: &SocketAddr| {
            if listed
                .binary_search_by(|(o, _)| o.fast_cmp(origin))
                .is_err()
            {
                out.wants.push((*origin, 0));
            }
        };
        match digest.cover {
            Cover::Listed => {}
            Cover::All => self.origins.keys().for_each(&mut unlisted),
            Cover::Range { from, to } if from <= to => {
                self.origins.range(from..=to).for_each(|(o, _)| unlisted(o))
            }
            Cover::Range { from, to } => {
                self.origins.range(from..).for_each(|(o, _)| unlisted(o));
                self.origins.range(..=to).for_each(|(o, _)| unlisted(o));
            }
        }
        out.listed = listed.into_iter().map(|(o, _)| o).collect();
        out
    }

    /// Compares one digest entry with the local state of its origin (`None`: unknown).
    fn compare_entry(
        &self,
        e: &DigestEntry,
        state: Option<&OriginState>,
        forgotten: &impl Fn(&SocketAddr, u64) -> bool,
        room_for_new: &mut usize,
        out: &mut Comparison,
    ) {
        if e.origin == self.me {
            let mine = self.mine();
            if e.generation > mine.generation
                || (e.generation == mine.generation && e.version > mine.max_version)
            {
                out.usurped = out.usurped.max(Some(e.generation));
                return;
            }
        }
        match state {
            None => {
                if e.generation != 0 && !forgotten(&e.origin, e.generation) && *room_for_new > 0 {
                    *room_for_new -= 1;
                    out.requests.push(DigestEntry {
                        origin: e.origin,
                        generation: 0,
                        version: 0,
                    });
                }
            }
            Some(s) => {
                if e.generation > s.generation {
                    if !forgotten(&e.origin, e.generation) {
                        out.requests.push(DigestEntry {
                            origin: e.origin,
                            generation: s.generation,
                            version: 0,
                        });
                    }
                } else if e.generation < s.generation {
                    out.wants.push((e.origin, 0));
                } else if e.version > s.digest_version() {
                    out.requests.push(DigestEntry {
                        origin: e.origin,
                        generation: s.generation,
                        version: s.digest_version(),
                    });
                } else if s.max_version > e.version {
                    out.wants.push((e.origin, e.version));
                }
            }
        }
    }

    /// Whether `delta` leaves out part of what `wants` asks for (it was cut to a budget).
    pub fn left_out(&self, wants: &[(SocketAddr, u64)], delta: &Delta) -> bool {
        wants.iter().any(|(origin, from)| {
            let Some(s) = self.origins.get(origin) else {
                return false;
            };
            let sent = delta
                .origins
                .iter()
                .find(|d| d.origin == *origin)
                .map_or(*from, |d| d.up_to);
            sent < s.max_version
        })
    }

    /// Builds the delta for `wants` within `budget` encoded bytes: origins in decreasing
    /// scuttle depth (most missing entries first, ties in random order), each a prefix of its
    /// entries in version order.
    pub fn delta<R: Rng>(&self, wants: &[(SocketAddr, u64)], budget: usize, rng: &mut R) -> Delta {
        self.origins.warm(wants.iter().map(|(o, _)| o));
        let mut found: Vec<(SocketAddr, u64, &OriginState)> = Vec::with_capacity(wants.len());
        found.extend(
            wants
                .iter()
                .filter_map(|(origin, from)| Some((*origin, *from, self.origins.get(origin)?))),
        );
        // Sorted as (depth descending, tie-break, position): small keys move, not the origins
        // (sorting 64-byte tuples was 1 % of a simulation), and the order is a stable sort's.
        let mut order: Vec<(core::cmp::Reverse<usize>, u64, usize)> = found
            .iter()
            .enumerate()
            .map(|(i, (_, from, s))| (core::cmp::Reverse(s.depth_after(*from)), rng.next_u64(), i))
            .collect();
        order.sort_unstable();
        let mut room = budget.saturating_sub(4);
        // An origin's delta takes 16 bytes at the least.
        let mut delta = Delta {
            origins: Vec::with_capacity(order.len().min(room / 16)),
        };
        for &(.., i) in &order {
            let Some(&(origin, from, s)) = found.get(i) else {
                continue;
            };
            if room < 16 {
                break;
            }
            if let Some((d, size)) = s.delta_from(origin, from, room) {
                room -= size;
                delta.origins.push(d);
            }
        }
        delta
    }
}
