//! Replay protection: a sliding window of sequence numbers per sender.
//!
//! AEAD proves a message came from a key holder, not that it is fresh. Every message carries the
//! sender's generation and a per-generation sequence number inside the sealed body; a receiver
//! accepts each (sender, generation, seq) at most once, and refuses generations older than the
//! newest it has seen from that address.

use core::net::SocketAddr;

use crate::packed_map::PackedMap;

const WINDOW: u64 = 256;
const WORDS: usize = (WINDOW / 64) as usize;

#[derive(Clone, Debug)]
struct Window {
    generation: u64,
    highest: u64,
    seen: [u64; WORDS],
}

impl Window {
    fn fresh(generation: u64, seq: u64) -> Self {
        let mut w = Window {
            generation,
            highest: seq,
            seen: [0; WORDS],
        };
        w.mark(seq);
        w
    }

    fn bit(seq: u64) -> (usize, u64) {
        let slot = seq % WINDOW;
        ((slot / 64) as usize, 1u64 << (slot % 64))
    }

    fn mark(&mut self, seq: u64) {
        let (word, mask) = Self::bit(seq);
        self.seen[word] |= mask;
    }

    fn is_marked(&self, seq: u64) -> bool {
        let (word, mask) = Self::bit(seq);
        self.seen[word] & mask != 0
    }

    fn accept(&mut self, seq: u64) -> ReplayVerdict {
        if seq > self.highest {
            // Clear the slots that the window slides over.
            let shift = seq - self.highest;
            if shift >= WINDOW {
                self.seen = [0; WORDS];
            } else {
                for s in self.highest + 1..=seq {
                    let (word, mask) = Self::bit(s);
                    self.seen[word] &= !mask;
                }
            }
            self.highest = seq;
            self.mark(seq);
            ReplayVerdict::Fresh
        } else if self.highest - seq >= WINDOW || self.is_marked(seq) {
            ReplayVerdict::Replayed
        } else {
            self.mark(seq);
            ReplayVerdict::Fresh
        }
    }
}

/// What the guard made of a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplayVerdict {
    /// First sight: process it.
    Fresh,
    /// Seen before, or too old to tell: drop it.
    Replayed,
    /// From an older life of the sender than one already seen: drop it.
    StaleGeneration,
    /// A new sender while the guard is full: drop it.
    Full,
}

/// Windows for every sender, bounded in number.
#[derive(Clone, Debug)]
pub struct ReplayGuard {
    /// Looked up for every message received: a hash-indexed map.
    windows: PackedMap<SocketAddr, Window>,
    capacity: usize,
}

impl ReplayGuard {
    /// A guard remembering at most `capacity` senders.
    pub fn new(capacity: usize) -> Self {
        ReplayGuard {
            windows: PackedMap::default(),
            capacity,
        }
    }

    /// Judges a message `seq` from `from` in `generation`, recording it when fresh.
    pub fn check(&mut self, from: SocketAddr, generation: u64, seq: u64) -> ReplayVerdict {
        if let Some(w) = self.windows.get_mut(&from) {
            if generation < w.generation {
                return ReplayVerdict::StaleGeneration;
            }
            if generation > w.generation {
                *w = Window::fresh(generation, seq);
                return ReplayVerdict::Fresh;
            }
            return w.accept(seq);
        }
        if self.windows.len() >= self.capacity {
            return ReplayVerdict::Full;
        }
        self.windows.insert(from, Window::fresh(generation, seq));
        ReplayVerdict::Fresh
    }

    /// Seeds the hash index of the senders' windows with the node's secret.
    pub(crate) fn reseed(&mut self, seed: u64) {
        self.windows.reseed(seed);
    }

    /// The secret of the windows' index.
    #[cfg(test)]
    pub(crate) fn index_seed(&self) -> u64 {
        self.windows.seed()
    }

    /// Forgets a sender (when the node forgets the peer).
    pub fn forget(&mut self, addr: &SocketAddr) {
        self.windows.remove(addr);
    }

    /// Senders remembered.
    pub fn len(&self) -> usize {
        self.windows.len()
    }

    /// Whether no sender is remembered.
    pub fn is_empty(&self) -> bool {
        self.windows.is_empty()
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
    fn accepts_each_sequence_once_in_any_order() {
        let mut g = ReplayGuard::new(4);
        assert_eq!(g.check(a(1), 1, 10), Fresh);
        assert_eq!(g.check(a(1), 1, 10), Replayed);
        assert_eq!(g.check(a(1), 1, 12), Fresh);
        assert_eq!(g.check(a(1), 1, 11), Fresh);
        assert_eq!(g.check(a(1), 1, 11), Replayed);
        assert_eq!(g.check(a(1), 1, 12 + WINDOW), Fresh);
        assert_eq!(g.check(a(1), 1, 12), Replayed, "fell out of the window");
        assert_eq!(
            g.check(a(1), 1, 11 + WINDOW),
            Fresh,
            "inside the window, unseen"
        );
    }

    #[test]
    fn generations_and_capacity() {
        let mut g = ReplayGuard::new(1);
        assert_eq!(g.check(a(1), 5, 100), Fresh);
        assert_eq!(g.check(a(1), 4, 1000), StaleGeneration);
        assert_eq!(g.check(a(1), 6, 1), Fresh, "a restart starts a new window");
        assert_eq!(g.check(a(1), 6, 1), Replayed);
        assert_eq!(g.check(a(2), 1, 1), Full);
        g.forget(&a(1));
        assert_eq!(g.check(a(2), 1, 1), Fresh);
    }

    #[test]
    fn large_jump_clears_the_window() {
        let mut g = ReplayGuard::new(1);
        for s in 0..WINDOW {
            assert_eq!(g.check(a(1), 1, s), Fresh);
        }
        assert_eq!(g.check(a(1), 1, 10 * WINDOW), Fresh);
        assert_eq!(g.check(a(1), 1, 10 * WINDOW - 1), Fresh);
        assert_eq!(g.check(a(1), 1, 10 * WINDOW - 1), Replayed);
    }
}
