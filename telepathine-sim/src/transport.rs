//! Messages between the network and the cores: a node's transmits go through the network
//! model onto the queue; arrivals are handed to the receiving core (or held while it stalls).

use telepathine_core::{Timestamp, Transmit, TransmitKind};

use crate::engine::Sim;
use crate::network::{Copy, Fate};
use crate::queue::Ev;
use crate::slot::{Life, addr, index_of};

/// Counters of what the network did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NetCounters {
    /// Messages nodes sent.
    pub sent: u64,
    /// Bytes nodes sent.
    pub sent_bytes: u64,
    /// Frames sent on streams.
    pub stream_frames: u64,
    /// Datagrams lost at random.
    pub lost: u64,
    /// Messages stopped by a partition.
    pub blocked: u64,
    /// Datagrams over the size limit.
    pub oversize: u64,
    /// Extra copies delivered.
    pub duplicated: u64,
    /// Datagrams damaged in flight.
    pub damaged: u64,
    /// Damaged datagrams a node nevertheless accepted.
    pub damaged_accepted: u64,
    /// Messages that arrived at a crashed or departed node.
    pub to_down: u64,
    /// Deltas the simulator withheld from the broken node.
    pub broken_dropped: u64,
    /// Messages to addresses that are not nodes.
    pub unroutable: u64,
}

impl Sim {
    pub(crate) fn deliver(
        &mut self,
        to: usize,
        from: u32,
        stream: bool,
        damaged: bool,
        payload: Vec<u8>,
    ) {
        let now = Timestamp::from_millis(self.now);
        let from_addr = addr(from as usize);
        let slot = &mut self.slots[to];
        if slot.life != Life::Running {
            self.counters.to_down += 1;
            return;
        }
        if slot.paused_until.is_some() {
            slot.held.push((from, stream, damaged, payload));
            return;
        }
        if slot.broken && crate::broken::is_delta(&payload) {
            self.counters.broken_dropped += 1;
            return;
        }
        let Some(node) = slot.node.as_mut() else {
            return;
        };
        let before = if damaged {
            node.stats().total_received().messages
        } else {
            0
        };
        if stream {
            node.handle_frame(now, from_addr, &payload);
        } else {
            node.handle_datagram(now, from_addr, &payload);
        }
        if damaged && node.stats().total_received().messages > before {
            self.counters.damaged_accepted += 1;
        }
        self.after_input(to);
    }

    /// Queues one copy of a datagram, damaged as the network decided.
    fn deliver_datagram(
        &mut self,
        now: u64,
        from: usize,
        to: usize,
        copy: Copy,
        mut payload: Vec<u8>,
    ) {
        if let Some(d) = copy.damage {
            self.counters.damaged += 1;
            d.apply(&mut payload);
        }
        let ev = Ev::Deliver {
            to: to as u32,
            from: from as u32,
            stream: false,
            damaged: copy.damage.is_some(),
            payload,
        };
        self.queue.push(now + copy.delay_ms, ev);
    }

    pub(crate) fn send(&mut self, from: usize, t: Transmit) {
        let len = t.payload.len();
        self.counters.sent += 1;
        self.counters.sent_bytes += len as u64;
        self.obs.traffic(self.now, self.cfg.gossip_interval_ms, len);
        let Some(to) = index_of(&t.destination).filter(|&to| to < self.slots.len()) else {
            self.counters.unroutable += 1;
            return;
        };
        // Cheap payload fingerprint for the trace: length and the bytes at both ends (the
        // header, the sender's sequence number and the tail).
        let head = t
            .payload
            .iter()
            .take(24)
            .fold(0u64, |h, b| h.rotate_left(5) ^ u64::from(*b));
        let tail = t
            .payload
            .iter()
            .rev()
            .take(8)
            .fold(0u64, |h, b| h.rotate_left(8) ^ u64::from(*b));
        self.hash(self.now ^ ((from as u64) << 20) ^ ((to as u64) << 42) ^ head);
        self.hash(len as u64 ^ tail.rotate_left(17));
        let now = self.now;
        let rng = &mut self.slots[from].net_rng;
        match t.kind {
            TransmitKind::Stream => {
                self.counters.stream_frames += 1;
                match self.net.stream(from, to, len, rng) {
                    Ok(delay) => self.queue.push(
                        now + delay,
                        Ev::Deliver {
                            to: to as u32,
                            from: from as u32,
                            stream: true,
                            damaged: false,
                            payload: t.payload,
                        },
                    ),
                    Err(_) => self.counters.blocked += 1,
                }
            }
            TransmitKind::Datagram => match self.net.datagram(from, to, len, rng) {
                Ok([first, second]) => {
                    // The duplicate is queued first, as it always was, so traces stay the same.
                    if let Some(c) = second {
                        self.counters.duplicated += 1;
                        self.deliver_datagram(now, from, to, c, t.payload.clone());
                    }
                    if let Some(c) = first {
                        self.deliver_datagram(now, from, to, c, t.payload);
                    }
                }
                Err(Fate::Lost) => self.counters.lost += 1,
                Err(Fate::Blocked) => self.counters.blocked += 1,
                Err(Fate::Oversize) => self.counters.oversize += 1,
            },
        }
    }
}
