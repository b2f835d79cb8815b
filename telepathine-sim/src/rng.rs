//! The simulator's own randomness: one small, fast generator and the seed derivation that gives
//! every node and every concern its own stream.
//!
//! Streams are derived from `(seed, stream, index)` rather than drawn from one shared generator,
//! so adding a node, or a fault that consumes randomness, leaves every other stream unchanged.

/// Names of the independent random streams derived from the run's seed.
#[derive(Clone, Copy, Debug)]
pub enum Stream {
    /// The RNG seed handed to a node's core (per node index and life).
    Node = 1,
    /// Network fate of the messages a node sends (loss, latency, duplication, corruption).
    Network = 2,
    /// Per-node clock skew and start offset.
    Clock = 3,
    /// Scenario choices: which node writes, crashes, joins, which group it lands in.
    Scenario = 4,
    /// Timer lateness of a node.
    Timers = 5,
}

/// SplitMix64's finaliser: a bijective mix of 64 bits.
pub fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The seed of stream `stream` for item `index` under the run's `seed`.
pub fn derive(seed: u64, stream: Stream, index: u64) -> u64 {
    mix(mix(mix(seed) ^ (stream as u64)) ^ index)
}

/// A SplitMix64 generator: tiny state, good enough statistics for a network model, and fast.
#[derive(Clone, Debug)]
pub struct SimRng(u64);

impl SimRng {
    /// A generator starting from `seed`.
    pub fn new(seed: u64) -> Self {
        SimRng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A uniform number in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A uniform integer in `[0, n)`; 0 when `n` is 0.
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }

    /// True with probability `p`. Draws nothing when `p` is 0, so a disabled fault consumes no
    /// randomness and enabling one does not shift the others.
    pub fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.unit() < p
    }

    /// An exponentially distributed number with the given mean, capped at ten means so one
    /// unlucky draw cannot stall a run.
    pub fn exponential(&mut self, mean: f64) -> f64 {
        if mean <= 0.0 {
            return 0.0;
        }
        let u = self.unit();
        (-(1.0 - u).ln() * mean).min(10.0 * mean)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_independent_of_each_other_and_of_index() {
        let a = derive(7, Stream::Node, 0);
        assert_ne!(a, derive(7, Stream::Node, 1));
        assert_ne!(a, derive(7, Stream::Network, 0));
        assert_ne!(a, derive(8, Stream::Node, 0));
        assert_eq!(a, derive(7, Stream::Node, 0));
    }

    #[test]
    fn below_and_unit_stay_in_range() {
        let mut r = SimRng::new(3);
        for _ in 0..1000 {
            assert!(r.below(10) < 10);
            let u = r.unit();
            assert!((0.0..1.0).contains(&u));
            assert!(r.exponential(5.0) <= 50.0);
        }
        assert!(!r.chance(0.0));
    }
}
