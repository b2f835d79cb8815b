//! # telepathine-core
//!
//! The deterministic, I/O-free heart of telepathine: peer-to-peer key/value state and events
//! synchronised by gossip.
//!
//! A [`Node`] holds this node's key/value map and its copy of every peer's, reconciles them with
//! Scuttlebutt anti-entropy (digest, then version-ordered deltas of only what the other side
//! lacks), carries `say` events the same way, detects failed peers with phi-accrual detectors on
//! direct heartbeats, and seals every message on a private network with XChaCha20-Poly1305 or,
//! where the CPU has AES instructions and sealing must be fast, AES-256-GCM-SIV ([`Cipher`]).
//!
//! It reads no clock, opens no socket and draws no OS randomness: drivers feed it timestamps,
//! datagrams, frames and commands, and drain transmits, events and the next deadline. See
//! [`Node`] for the driving contract. `telepathine-tokio` and `telepathine-async-std` drive it
//! over real sockets; `telepathine-sim` drives thousands of them in virtual time.
//!
//! ```
//! use telepathine_core::{Config, Node, NodeId, Timestamp, Event};
//! let id = NodeId::new("127.0.0.1:9000".parse().unwrap(), 1);
//! let mut node = Node::new(Config::default(), id, 42).unwrap();
//! node.start(Timestamp::from_millis(0));
//! node.set(Timestamp::from_millis(1), "somekey", "somevalue").unwrap();
//! assert_eq!(node.get("somekey").unwrap().as_ref(), b"somevalue");
//! assert_eq!(node.poll_event(), Some(Event::Started));
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

mod cipher;
mod config;
mod error;
mod event;
mod identity;
mod key;
mod membership;
mod node;
mod packed_map;
mod pattern;
mod phi;
#[cfg(feature = "runtime")]
pub mod runtime;
pub mod state;
mod stats;
mod time;
pub mod wire;

pub use bytes::Bytes;
pub use cipher::Cipher;
pub use config::{Config, ConfigError, Limits, MAX_PEERS_LIMIT};
pub use error::CommandError;
pub use event::{DeathCause, Event};
pub use identity::NodeId;
pub use key::NetworkKey;
pub use node::{Node, OriginView, Transmit, TransmitKind};
pub use pattern::{MAX_PATTERN_SEGMENTS, Pattern, PatternError};
pub use phi::PhiDetector;
pub use stats::{DropReason, PeerStats, Stats, Traffic};
pub use time::Timestamp;
