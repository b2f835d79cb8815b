//! The event queue: a min-heap ordered by (virtual time, insertion sequence), so events at the
//! same millisecond run in the order they were scheduled and every run replays identically.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use crate::scenario::Action;

/// Something that happens at a virtual time.
#[derive(Debug)]
pub(crate) enum Ev {
    /// A message arrives at node `to`.
    Deliver {
        /// Receiver.
        to: u32,
        /// Sender.
        from: u32,
        /// Stream frame rather than datagram.
        stream: bool,
        /// Damaged in flight.
        damaged: bool,
        /// The bytes as they arrive.
        payload: Vec<u8>,
    },
    /// Node `node`'s timer, valid only while its token is the node's current one.
    Timer { node: u32, token: u64 },
    /// A node starts for the first time.
    Start { node: u32 },
    /// A paused node resumes.
    Resume { node: u32 },
    /// A scenario step.
    Action(Action),
    /// The scenario's periodic look at the cluster (membership, progress).
    Tick,
}

struct Scheduled {
    at: u64,
    seq: u64,
    ev: Ev,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scheduled {
    // Reversed: `BinaryHeap` is a max-heap and we want the earliest event first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

/// Pending events, earliest first, ties broken by scheduling order.
#[derive(Default)]
pub(crate) struct Queue {
    heap: BinaryHeap<Scheduled>,
    seq: u64,
}

impl Queue {
    /// Schedules `ev` at virtual time `at` (ms).
    pub fn push(&mut self, at: u64, ev: Ev) {
        self.seq += 1;
        self.heap.push(Scheduled {
            at,
            seq: self.seq,
            ev,
        });
    }

    /// Removes and returns the earliest event if it is due no later than `limit`.
    pub fn pop_until(&mut self, limit: u64) -> Option<(u64, Ev)> {
        if self.heap.peek()?.at > limit {
            return None;
        }
        self.heap.pop().map(|s| (s.at, s.ev))
    }

    /// Events still pending.
    pub fn len(&self) -> usize {
        self.heap.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn earliest_first_then_fifo() {
        let mut q = Queue::default();
        q.push(5, Ev::Start { node: 1 });
        q.push(3, Ev::Start { node: 2 });
        q.push(5, Ev::Start { node: 3 });
        let order: Vec<u32> = std::iter::from_fn(|| q.pop_until(10))
            .map(|(_, e)| match e {
                Ev::Start { node } => node,
                _ => 0,
            })
            .collect();
        assert_eq!(order, [2, 1, 3]);
        q.push(20, Ev::Tick);
        assert!(q.pop_until(10).is_none());
        assert_eq!(q.len(), 1);
    }
}
