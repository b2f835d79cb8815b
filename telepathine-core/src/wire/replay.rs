//! Replay protection: a sliding window of sequence numbers per sender.
//!
//! AEAD proves a message came from a key holder, not that it is fresh. Every message carries the
//! sender's generation and a per-generation sequence number inside the sealed body; a receiver
//! accepts each (sender, generation, seq) at most once, and refuses generations older than the
//! newest it has seen from that address. The node keeps one [`Window`] in the record it holds
//! for each peer it exchanges messages with (`node/contacts.rs`), beside the peer's traffic
//! figures and cookie, so a message costs one lookup of its sender.

const WINDOW: u64 = 256;
const WORDS: usize = (WINDOW / 64) as usize;

/// The sequence numbers seen from one sender in its newest generation. Generation 0 (which no
/// message may carry) marks a window that has seen nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Window {
    generation: u64,
    highest: u64,
    seen: [u64; WORDS],
}

impl Window {
    /// Judges a message `seq` of the sender's `generation`, recording it when fresh. The caller
    /// rejects generation 0 first (a malformed message).
    pub(crate) fn check(&mut self, generation: u64, seq: u64) -> ReplayVerdict {
        if generation < self.generation {
            return ReplayVerdict::StaleGeneration;
        }
        if generation > self.generation {
            *self = Window::fresh(generation, seq);
            return ReplayVerdict::Fresh;
        }
        self.accept(seq)
    }

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
    /// A new sender while the node already keeps a record for `max_peers` peers: drop it.
    Full,
}

#[cfg(test)]
mod tests {
    use super::*;
    use ReplayVerdict::*;

    #[test]
    fn accepts_each_sequence_once_in_any_order() {
        let mut g = Window::default();
        assert_eq!(g.check(1, 10), Fresh);
        assert_eq!(g.check(1, 10), Replayed);
        assert_eq!(g.check(1, 12), Fresh);
        assert_eq!(g.check(1, 11), Fresh);
        assert_eq!(g.check(1, 11), Replayed);
        assert_eq!(g.check(1, 12 + WINDOW), Fresh);
        assert_eq!(g.check(1, 12), Replayed, "fell out of the window");
        assert_eq!(g.check(1, 11 + WINDOW), Fresh, "inside the window, unseen");
    }

    #[test]
    fn a_newer_generation_starts_a_new_window_and_an_older_one_is_refused() {
        let mut g = Window::default();
        assert_eq!(g.check(5, 100), Fresh);
        assert_eq!(g.check(4, 1000), StaleGeneration);
        assert_eq!(g.check(6, 1), Fresh, "a restart starts a new window");
        assert_eq!(g.check(6, 1), Replayed);
        assert_eq!(
            g.check(6, 100),
            Fresh,
            "the old life's numbers are forgotten"
        );
    }

    #[test]
    fn large_jump_clears_the_window() {
        let mut g = Window::default();
        for s in 0..WINDOW {
            assert_eq!(g.check(1, s), Fresh);
        }
        assert_eq!(g.check(1, 10 * WINDOW), Fresh);
        assert_eq!(g.check(1, 10 * WINDOW - 1), Fresh);
        assert_eq!(g.check(1, 10 * WINDOW - 1), Replayed);
    }
}
