//! Flow control: a node that receives more state than it wants slows its senders instead of
//! dropping what they send (the Scuttlebutt paper's section 4, receiver-driven).
//!
//! A node with an inbound rate keeps a token bucket of delta bytes. Every `Syn` and `SynAck` it
//! sends carries its `room`: the delta bytes it will take in answer. Senders cut their deltas to
//! it in version order, as they do for a datagram's size, so nothing is skipped: what does not
//! fit now is sent in a later exchange, once the bucket refilled. Bytes that arrive beyond the
//! room (several peers answering at once) put the bucket in debt, which holds the room shut
//! until the average is back under the rate.

use core::time::Duration;

use crate::time::Timestamp;
use crate::wire::Delta;

/// What a `room` of 0 means on the wire: the sender sets no limit.
pub const UNLIMITED: u32 = 0;

/// Room advertised while the bucket is empty: digests and requests still flow, state does not.
pub(crate) const SHUT: u32 = 1;

/// Cuts `delta` to its first entry: what passes when even that entry is larger than the room
/// a peer advertised. It goes alone and puts the peer's bucket in debt; held back, it would
/// never pass.
pub(crate) fn first_entry_only(delta: &mut Delta) {
    delta.origins.truncate(1);
    if let Some(d) = delta.origins.first_mut()
        && d.entries.len() > 1
    {
        d.entries.truncate(1);
        d.up_to = d.entries[0].version;
    }
}

/// A token bucket of inbound delta bytes.
#[derive(Clone, Debug)]
pub(crate) struct InboundBudget {
    /// Bytes per second, or `None` for no limit.
    rate: Option<u64>,
    /// Most bytes the bucket holds: what one exchange may bring after a quiet spell.
    burst: i64,
    /// Bytes that may arrive now; negative while in debt.
    tokens: i64,
    /// When `tokens` was last refilled.
    refilled: Timestamp,
}

impl InboundBudget {
    /// A bucket for `rate` bytes per second. Its burst covers two gossip intervals and at least
    /// `datagram` bytes, so a full datagram's worth can always be offered.
    pub fn new(rate: Option<u64>, interval: Duration, datagram: usize, now: Timestamp) -> Self {
        let burst = rate.map_or(0, |r| {
            let two_rounds = (r as f64 * interval.as_secs_f64() * 2.0) as i64;
            two_rounds.max(datagram as i64)
        });
        InboundBudget {
            rate,
            burst,
            tokens: burst,
            refilled: now,
        }
    }

    fn refill(&mut self, now: Timestamp) {
        let Some(rate) = self.rate else { return };
        let elapsed = now.saturating_since(self.refilled);
        let earned = (rate as f64 * elapsed.as_secs_f64()) as i64;
        if earned > 0 {
            self.tokens = self.tokens.saturating_add(earned).min(self.burst);
            self.refilled = now;
        }
    }

    /// The room to advertise at `now`.
    pub fn room(&mut self, now: Timestamp) -> u32 {
        if self.rate.is_none() {
            return UNLIMITED;
        }
        self.refill(now);
        if self.tokens <= 0 {
            SHUT
        } else {
            u32::try_from(self.tokens).unwrap_or(u32::MAX).max(SHUT)
        }
    }

    /// Counts `bytes` of state that arrived at `now`.
    pub fn spend(&mut self, bytes: usize, now: Timestamp) {
        if self.rate.is_none() {
            return;
        }
        self.refill(now);
        // Debt is bounded, so a flood from misbehaving peers shuts the room for a bounded time.
        let floor = self.burst.saturating_mul(-4);
        self.tokens = self
            .tokens
            .saturating_sub(i64::try_from(bytes).unwrap_or(i64::MAX))
            .max(floor);
    }
}

/// The delta bytes a peer's advertised `room` leaves out of `budget`.
pub(crate) fn within_room(budget: usize, room: u32) -> usize {
    if room == UNLIMITED {
        budget
    } else {
        budget.min(room as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> Timestamp {
        Timestamp::from_millis(ms)
    }

    #[test]
    fn no_rate_never_limits() {
        let mut b = InboundBudget::new(None, Duration::from_secs(1), 1400, at(0));
        b.spend(usize::MAX, at(0));
        assert_eq!(b.room(at(0)), UNLIMITED);
        assert_eq!(within_room(5000, UNLIMITED), 5000);
    }

    #[test]
    fn room_follows_the_rate_over_time() {
        // 10 kB/s, 1 s rounds: a 20 kB burst.
        let mut b = InboundBudget::new(Some(10_000), Duration::from_secs(1), 1400, at(0));
        assert_eq!(b.room(at(0)), 20_000);
        b.spend(50_000, at(0));
        assert_eq!(b.room(at(0)), SHUT, "in debt after a flood");
        assert_eq!(
            b.room(at(2_000)),
            SHUT,
            "still repaying: 30 kB of debt at 10 kB/s"
        );
        assert_eq!(b.room(at(3_500)), 5_000);
        assert_eq!(b.room(at(60_000)), 20_000, "never above the burst");
        // Over a long run the bytes admitted stay within the rate (plus one burst).
        let mut admitted = 0u64;
        for ms in (60_000..160_000).step_by(100) {
            let room = b.room(at(ms)) as usize;
            if room > 1 {
                let take = room.min(3_000);
                admitted += take as u64;
                b.spend(take, at(ms));
            }
        }
        assert!(admitted <= 100 * 10_000 + 20_000, "admitted {admitted}");
        assert!(
            admitted >= 95 * 10_000,
            "the rate is used, admitted {admitted}"
        );
    }

    #[test]
    fn debt_is_bounded() {
        let mut b = InboundBudget::new(Some(1_000), Duration::from_secs(1), 1_400, at(0));
        b.spend(usize::MAX, at(0));
        // The burst is two rounds (2 kB); four bursts of debt take 8 s to repay.
        assert_eq!(b.room(at(7_000)), SHUT);
        assert_eq!(b.room(at(9_000)), 1_000);
        assert_eq!(b.room(at(10_000)), 2_000);
        assert_eq!(within_room(8 << 20, 2_000), 2_000);
    }

    #[test]
    fn an_entry_larger_than_the_room_goes_alone() {
        use crate::wire::{Key, OriginDelta, Value, WireEntry};
        let entry = |version| WireEntry {
            key: Key::Event(version),
            version,
            value: Value::Tombstone,
            expires_at: None,
        };
        let run = |origin: u16| OriginDelta {
            origin: core::net::SocketAddr::from(([10, 0, 0, 1], origin)),
            generation: 1,
            from_version: 4,
            up_to: 9,
            gc_floor: 0,
            entries: (5..=9).map(entry).collect(),
        };
        let mut delta = Delta {
            origins: alloc::vec![run(1), run(2)],
        };
        first_entry_only(&mut delta);
        assert_eq!(delta.origins.len(), 1);
        assert_eq!(delta.origins[0].entries.as_slice(), [entry(5)]);
        assert_eq!(
            delta.origins[0].up_to, 5,
            "the receiver advances to that entry only"
        );
    }
}
