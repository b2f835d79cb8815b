//! Node positions: the address scheme, a node's life cycle, and what the simulator keeps per
//! node besides the core itself.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use telepathine_core::Node;

use crate::rng::SimRng;

/// Wall clock (Unix ms) at virtual time zero, before skew.
pub const EPOCH_UNIX_MS: u64 = 1_700_000_000_000;
const PORT: u16 = 7000;

/// The address of node `index`: `10.a.b.c:7000` with `index = a·65536 + b·256 + c`.
pub fn addr(index: usize) -> SocketAddr {
    let i = index as u32;
    SocketAddr::V4(SocketAddrV4::new(
        Ipv4Addr::new(10, (i >> 16) as u8, (i >> 8) as u8, i as u8),
        PORT,
    ))
}

/// The index of the node at `a`, if it is one of ours.
pub fn index_of(a: &SocketAddr) -> Option<usize> {
    match a {
        SocketAddr::V4(v4) if v4.port() == PORT && v4.ip().octets()[0] == 10 => {
            let o = v4.ip().octets();
            Some(((o[1] as usize) << 16) | ((o[2] as usize) << 8) | o[3] as usize)
        }
        _ => None,
    }
}

/// Where a node is in its life cycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Life {
    /// Not started yet.
    Pending,
    /// Running (possibly paused).
    Running,
    /// Crashed: no longer driven, its traffic dropped.
    Crashed,
    /// Left gracefully.
    Left,
}

/// A message that reached a paused node, held until it resumes.
type Held = (u32, bool, bool, Vec<u8>);

/// One node position: an address whose successive lives are `Node`s.
pub struct Slot {
    /// Its address.
    pub addr: SocketAddr,
    /// The running core, if any.
    pub node: Option<Node>,
    /// Life-cycle state.
    pub life: Life,
    /// Generation of the current (or last) life.
    pub generation: u64,
    /// Lives started so far.
    pub lives: u64,
    /// When the current life started.
    pub since: u64,
    /// Until when it is stalled, if it is.
    pub paused_until: Option<u64>,
    /// Whether the simulator drops the deltas delivered to it (a deliberately broken node).
    pub broken: bool,
    /// Wall clock skew in ms.
    pub skew_ms: i64,
    /// Gossip rounds of its previous lives.
    pub rounds_before: u64,
    pub(crate) timer_at: Option<u64>,
    pub(crate) token: u64,
    pub(crate) held: Vec<Held>,
    pub(crate) net_rng: SimRng,
    pub(crate) timer_rng: SimRng,
}

impl Slot {
    /// Running and not stalled: what the invariants call live.
    pub fn is_live(&self) -> bool {
        self.life == Life::Running && self.paused_until.is_none()
    }

    /// Unix ms this node's wall clock reads at virtual time `now`.
    pub fn wall(&self, now: u64) -> u64 {
        (EPOCH_UNIX_MS as i64 + now as i64 + self.skew_ms) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_round_trip() {
        for i in [0, 1, 255, 256, 70_000, (1 << 22) - 1] {
            assert_eq!(index_of(&addr(i)), Some(i));
        }
        assert_eq!(index_of(&"127.0.0.1:7000".parse().unwrap()), None);
    }
}
