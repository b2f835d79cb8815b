//! Whom this node judges, and when it convicts.
//!
//! Heartbeats go from each node to its ring successors, so a node monitors its ring
//! predecessors. Who monitors whom follows each node's own view of the ring, never a single
//! message: a node judges a peer only while that peer is among its predecessors, and drops the
//! detectors of peers that left that set and fell silent. A lost "release" or a view that lags
//! therefore cannot make it convict a peer that simply sends its heartbeats elsewhere now, and
//! its accusation would not count anyway: everyone counts only accusers that are the accused's
//! successors in their own view (`liveness.rs`).

use alloc::vec::Vec;
use core::net::SocketAddr;
use core::time::Duration;

use super::Node;
use crate::membership::Monitored;
use crate::phi::PhiDetector;

impl Node {
    /// Once per heartbeat interval: start judging new predecessors, forget peers this node no
    /// longer monitors, and convict the silent.
    pub(super) fn judge_monitored(&mut self) {
        let now = self.now;
        let hb = self.config.heartbeat_interval;
        // A handful of peers (`monitors`), sorted so they are visited in address order.
        let mut predecessors = self
            .members
            .predecessors_cached(&self.id.addr, self.config.monitors);
        predecessors.sort_unstable();
        self.members.released.retain(|_, until| *until > now);

        // A predecessor learned only through gossip (one that crashed right after joining, or a
        // dead node's stale state) must not count as alive forever, so it is expected to
        // heartbeat here too; views of a new peer take a few rounds to agree, hence the settling.
        let settle = hb.max(self.config.gossip_interval) * 10;
        for peer in &predecessors {
            // Nearly always already judged: that test comes first, as the cheapest.
            if self.members.monitored.contains_key(peer) || self.members.released.contains_key(peer)
            {
                continue;
            }
            let settled = self
                .members
                .peer(peer)
                .is_some_and(|p| now.saturating_since(p.known_since) >= settle);
            if !settled {
                continue;
            }
            let Some(generation) = self.store.origins.get(peer).map(|s| s.generation) else {
                continue;
            };
            let detector =
                PhiDetector::new(self.config.phi_window, hb, self.config.phi_min_std_dev);
            self.members.monitored.insert(
                *peer,
                Monitored {
                    generation,
                    detector,
                    since: now,
                },
            );
        }

        let quiet = hb * 10;
        self.members.monitored.retain(|peer, m| {
            predecessors.contains(peer)
                || m.detector
                    .last_heartbeat()
                    .is_some_and(|t| now.saturating_since(t) < quiet)
        });

        // Phi judges peers that have sent heartbeats; one that never has gets a generous
        // deadline, since its first heartbeats may still be going to a monitor it picked from an
        // older view.
        let deadline = Duration::from_secs(30).max(hb * 20);
        let threshold = self.config.phi_threshold;
        // A predecessor silent for an interval and a half is asked for a heartbeat now. Under
        // loss, a few heartbeats lost in a row are far likelier than a failure, and each lone
        // accusation they caused was a state change gossiped to every node and then withdrawn:
        // at 5 % loss that churn made quiet traffic grow with the cluster (1.5 KB per node per
        // round at 1,000 nodes, 1.9 KB at 6,000). A failed peer costs a probe or two, and its
        // conviction is not delayed: the rule for convicting is unchanged.
        let late = hb + hb / 2;
        let mut convicted = Vec::new();
        let mut probes = Vec::new();
        for (peer, m) in &self.members.monitored {
            if !predecessors.contains(peer) {
                continue;
            }
            let guilty = if m.detector.has_heard() {
                m.detector.phi(now) > threshold
            } else {
                now.saturating_since(m.since) > deadline
            };
            if guilty {
                convicted.push(*peer);
            } else if m
                .detector
                .last_heartbeat()
                .is_some_and(|t| now.saturating_since(t) > late)
            {
                probes.push(*peer);
            }
        }
        for peer in probes {
            self.send(peer, true, crate::wire::Body::Probe);
        }
        for peer in convicted {
            self.accuse(peer);
        }
    }

    /// A peer was found alive again (refuted, restarted, back from a partition): give it time to
    /// reach this node with heartbeats before judging it once more.
    pub(super) fn resume_judging(&mut self, peer: &SocketAddr) {
        let now = self.now;
        if let Some(m) = self.members.monitored.get_mut(peer) {
            m.detector.restart_clock(now);
            m.since = now;
        }
    }
}
