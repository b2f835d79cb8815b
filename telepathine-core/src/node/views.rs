//! Reads that compare one node's copy of the shared state with another's: what a simulator or
//! a test checks convergence with. A simulator of N nodes makes N² of these comparisons, so
//! each origin is read once, in one pass over the node's origin map.

use alloc::vec::Vec;
use core::net::SocketAddr;

use super::Node;
use crate::state::OriginState;
use crate::wire::{Key, Value, fnv1a64};

/// What a node holds of one origin, as [`Node::views`] lists it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OriginView {
    /// The origin's address.
    pub origin: SocketAddr,
    /// The origin's generation the state belongs to ([`Node::peer_generation`]).
    pub generation: u64,
    /// The version up to which the state is held ([`Node::peer_version`]).
    pub version: u64,
    /// The user-visible state's fingerprint ([`Node::fingerprint`]).
    pub fingerprint: u64,
}

impl Node {
    /// `(origin, generation, version)` of every origin held, sorted: what this node's
    /// anti-entropy converges on. Simulators compare these across nodes.
    pub fn versions(&self) -> Vec<(SocketAddr, u64, u64)> {
        self.store
            .origins
            .iter()
            .map(|(a, s)| (*a, s.generation, s.max_version))
            .collect()
    }

    /// A fingerprint of the user-visible state held for `origin` (live keys, values, expiry):
    /// equal fingerprints mean equal views.
    pub fn fingerprint(&self, origin: &SocketAddr) -> Option<u64> {
        self.store.origins.get(origin).map(fingerprint)
    }

    /// Every origin held, in address order, with what [`Node::peer_generation`],
    /// [`Node::peer_version`] and [`Node::fingerprint`] give for it: one pass instead of three
    /// lookups per origin.
    pub fn views(&self) -> impl Iterator<Item = OriginView> + '_ {
        self.store.origins.iter().map(|(a, s)| OriginView {
            origin: *a,
            generation: s.generation,
            version: s.max_version,
            fingerprint: fingerprint(s),
        })
    }
}

/// The fingerprint of one origin's user-visible state: its generation, then every live key with
/// its value and expiry, in key order.
fn fingerprint(s: &OriginState) -> u64 {
    let mut h = fnv1a64(&s.generation.to_le_bytes(), 0xcbf2_9ce4_8422_2325);
    // User keys are always stored entries: the inline status record (every origin has one)
    // need not be rebuilt only to be skipped.
    for (k, e) in s.stored_entries() {
        if let (Key::User(k), Value::Bytes(v)) = (k, &e.value) {
            h = fnv1a64(k.as_bytes(), h);
            h = fnv1a64(&[0xff], h);
            h = fnv1a64(v, h);
            h = fnv1a64(&e.expires_at.unwrap_or(0).to_le_bytes(), h);
        }
    }
    h
}
