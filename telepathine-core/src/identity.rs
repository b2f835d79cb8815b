//! Who a node is: its advertised address and the generation it started with.

use core::fmt;
use core::net::SocketAddr;
use serde::{Deserialize, Serialize};

/// The identity a node advertises to its peers.
///
/// `addr` is the address peers use to reach the node (after any NAT mapping) and doubles as its
/// peer name (`ip:port`, or `[v6]:port`). `generation` is chosen when the process starts and must
/// grow across restarts (adapters use the Unix time in milliseconds): a node seen with a higher
/// generation supersedes everything known about its previous life, instead of being ignored until
/// its versions overtake the old ones as in the original.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct NodeId {
    /// Advertised address: where peers send datagrams and open streams.
    pub addr: SocketAddr,
    /// Incarnation of the process; larger means newer.
    pub generation: u64,
}

impl NodeId {
    /// An identity for `addr` in its `generation`.
    pub const fn new(addr: SocketAddr, generation: u64) -> Self {
        NodeId { addr, generation }
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}#{}", self.addr, self.generation)
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.addr)
    }
}
