//! The async telepathine API, written once and generic over a small [`Runtime`] trait.
//!
//! Adapters (`telepathine-tokio`, `telepathine-async-std`) implement [`Runtime`] for their
//! executor and re-export [`Telepathine`] with it filled in; everything else — the builder, the
//! driver task that owns the [`Node`](crate::Node), subscriptions, UDP and TCP transport with
//! framing, timeouts and connection limits — lives here, so no adapter repeats it.
//!
//! The state machine never imports this module; it exists only with the `runtime` feature.
//!
//! # How it runs
//! One driver task owns the node behind a short-lived `std::sync::Mutex`. Input tasks (one UDP
//! receiver, one TCP acceptor, one reader per inbound connection) and synchronous commands
//! (`set`, `say`, ...) feed the node under that lock and wake the driver, which drains
//! transmits (datagrams to UDP, frames to a pool of reusable outbound TCP connections) and
//! events (to subscribers, without ever waiting for them), then sleeps until the node's next
//! deadline.

mod address;
mod builder;
mod driver;
mod error;
mod handle;
mod inbound;
mod lifecycle;
mod outbound;
mod registry;
mod session;
mod shared;
mod signal;
mod subscription;
mod timers;
mod traits;
mod updates;

#[cfg(feature = "conformance")]
pub mod conformance;

pub use builder::Builder;
pub use error::Error;
pub use handle::Telepathine;
pub use subscription::{DEFAULT_SUBSCRIPTION_CAPACITY, HearOnce, Subscription};
pub use timers::Timer;
pub use traits::{Runtime, TcpListener, TcpStream, UdpSocket};
pub use updates::{Heard, IoStats, KeyUpdate};
