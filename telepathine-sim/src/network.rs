//! The modelled network: what happens to each message between two nodes.
//!
//! Datagrams suffer loss, jitter, duplication, reordering, damage and a size limit; stream
//! frames arrive reliably after latency plus transfer time (a connection either works or,
//! across a partition, fails). Partitions assign nodes to groups; a one-way partition blocks
//! only the direction from the lower group to the higher one.

use crate::config::SimConfig;
use crate::rng::SimRng;

/// Why the network did not deliver a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    /// Randomly lost.
    Lost,
    /// A partition separates sender and receiver.
    Blocked,
    /// Larger than the datagram limit.
    Oversize,
}

/// Damage done to a datagram in flight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Damage {
    /// Cut to this many bytes.
    Truncate(usize),
    /// This bit (counted from the first byte's lowest) inverted.
    FlipBit(usize),
}

impl Damage {
    /// Applies the damage to `payload`.
    pub fn apply(self, payload: &mut Vec<u8>) {
        match self {
            Damage::Truncate(n) => payload.truncate(n),
            Damage::FlipBit(bit) => {
                if let Some(b) = payload.get_mut(bit / 8) {
                    *b ^= 1 << (bit % 8);
                }
            }
        }
    }
}

/// One copy of a message the network will deliver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Copy {
    /// Delay from sending to arrival, in ms.
    pub delay_ms: u64,
    /// Damage to apply before delivery.
    pub damage: Option<Damage>,
}

/// The network model's parameters and the current partition.
#[derive(Clone, Debug)]
pub struct Network {
    loss: f64,
    latency_ms: u64,
    jitter_ms: f64,
    duplicate: f64,
    reorder: f64,
    corrupt: f64,
    datagram_limit: usize,
    stream_bytes_per_ms: u64,
    /// Partition group of each node; empty when the network is whole.
    groups: Vec<u8>,
    one_way: bool,
}

impl Network {
    /// A whole network with the parameters of `cfg`.
    pub fn new(cfg: &SimConfig) -> Self {
        Network {
            loss: cfg.loss,
            latency_ms: cfg.latency_ms,
            jitter_ms: cfg.jitter_ms as f64,
            duplicate: cfg.duplicate,
            reorder: cfg.reorder,
            corrupt: cfg.corrupt,
            datagram_limit: cfg.datagram_limit,
            stream_bytes_per_ms: cfg.stream_bytes_per_ms,
            groups: Vec::new(),
            one_way: false,
        }
    }

    /// Splits the network: `groups[i]` is node `i`'s group; nodes beyond the list (joined
    /// later) are in group 0. With `one_way`, only messages from a lower group to a higher one
    /// are blocked.
    pub fn partition(&mut self, groups: Vec<u8>, one_way: bool) {
        self.groups = groups;
        self.one_way = one_way;
    }

    /// Makes the network whole again.
    pub fn heal(&mut self) {
        self.groups.clear();
    }

    /// Whether a partition is in force.
    pub fn is_partitioned(&self) -> bool {
        !self.groups.is_empty()
    }

    /// The partition group of `node` (0 when the network is whole).
    pub fn group(&self, node: usize) -> u8 {
        self.groups.get(node).copied().unwrap_or(0)
    }

    /// Whether a message from `from` can reach `to` at all.
    pub fn reachable(&self, from: usize, to: usize) -> bool {
        let (a, b) = (self.group(from), self.group(to));
        a == b || (self.one_way && a > b)
    }

    fn latency(&self, rng: &mut SimRng) -> u64 {
        self.latency_ms + rng.exponential(self.jitter_ms).round() as u64
    }

    /// The fate of a datagram of `len` bytes from `from` to `to`: up to two copies (a
    /// duplicate), or why none arrives. `rng` is the sender's network stream.
    pub fn datagram(
        &self,
        from: usize,
        to: usize,
        len: usize,
        rng: &mut SimRng,
    ) -> Result<[Option<Copy>; 2], Fate> {
        if len > self.datagram_limit {
            return Err(Fate::Oversize);
        }
        if !self.reachable(from, to) {
            return Err(Fate::Blocked);
        }
        if rng.chance(self.loss) {
            return Err(Fate::Lost);
        }
        let mut copies = [None, None];
        let count = if rng.chance(self.duplicate) { 2 } else { 1 };
        for slot in copies.iter_mut().take(count) {
            let mut delay = self.latency(rng);
            if rng.chance(self.reorder) {
                // Held back by a few latencies: later datagrams overtake it.
                delay += 1 + rng.below(3 * (self.latency_ms + self.jitter_ms as u64) + 1);
            }
            let damage = if rng.chance(self.corrupt) && len > 0 {
                Some(if rng.chance(0.5) {
                    Damage::Truncate(rng.below(len as u64) as usize)
                } else {
                    Damage::FlipBit(rng.below(len as u64 * 8) as usize)
                })
            } else {
                None
            };
            *slot = Some(Copy {
                delay_ms: delay,
                damage,
            });
        }
        Ok(copies)
    }

    /// The delay of a stream frame of `len` bytes, or `Blocked` when a partition stops the
    /// connection. Streams are reliable: no loss, duplication or damage.
    pub fn stream(
        &self,
        from: usize,
        to: usize,
        len: usize,
        rng: &mut SimRng,
    ) -> Result<u64, Fate> {
        if !(self.reachable(from, to) && self.reachable(to, from)) {
            // A connection needs both directions.
            return Err(Fate::Blocked);
        }
        Ok(self.latency(rng) + (len as u64).div_ceil(self.stream_bytes_per_ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(f: impl FnOnce(&mut SimConfig)) -> Network {
        let mut c = SimConfig::default();
        f(&mut c);
        Network::new(&c)
    }

    #[test]
    fn oversize_and_partitions_stop_datagrams() {
        let mut n = net(|_| {});
        let mut rng = SimRng::new(1);
        assert_eq!(n.datagram(0, 1, 1401, &mut rng), Err(Fate::Oversize));
        assert!(n.datagram(0, 1, 1400, &mut rng).is_ok());
        n.partition(vec![0, 1], true);
        assert_eq!(n.datagram(0, 1, 10, &mut rng), Err(Fate::Blocked));
        assert!(
            n.datagram(1, 0, 10, &mut rng).is_ok(),
            "one way lets the other direction through"
        );
        assert_eq!(
            n.stream(1, 0, 10, &mut rng),
            Err(Fate::Blocked),
            "a stream needs both ways"
        );
        n.heal();
        assert!(n.stream(0, 1, 10, &mut rng).is_ok());
    }

    #[test]
    fn loss_rate_is_roughly_honoured() {
        let n = net(|c| c.loss = 0.25);
        let mut rng = SimRng::new(2);
        let lost = (0..10_000)
            .filter(|_| n.datagram(0, 1, 100, &mut rng).is_err())
            .count();
        assert!((2_200..2_800).contains(&lost), "{lost}");
    }

    #[test]
    fn damage_changes_the_payload() {
        let mut p = vec![0u8; 4];
        Damage::FlipBit(9).apply(&mut p);
        assert_eq!(p, [0, 2, 0, 0]);
        Damage::Truncate(1).apply(&mut p);
        assert_eq!(p, [0]);
    }

    #[test]
    fn streams_take_transfer_time() {
        let n = net(|c| {
            c.jitter_ms = 0;
            c.stream_bytes_per_ms = 100;
        });
        assert_eq!(n.stream(0, 1, 1000, &mut SimRng::new(1)), Ok(10 + 10));
    }
}
