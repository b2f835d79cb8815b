//! # telepathine-tokio
//!
//! [telepathine](telepathine_core) over tokio: peer-to-peer key/value state and events
//! synchronised by gossip, over one UDP socket and one TCP listener on the same port.
//!
//! ```no_run
//! # async fn demo() -> Result<(), telepathine_tokio::Error> {
//! use std::time::Duration;
//! let node = telepathine_tokio::Telepathine::builder()
//!     .bind("127.0.0.1:9000")
//!     .seeds(["127.0.0.1:9001"])
//!     .gossip_interval(Duration::from_millis(500))
//!     .start()
//!     .await?;
//! node.set("somekey", "somevalue")?;
//! let mut heard = node.hear("chat.*")?;
//! if let Some(h) = heard.recv().await {
//!     println!("{} said {} = {:?}", h.from, h.event, h.payload);
//! }
//! # Ok(()) }
//! ```
//!
//! The API is [`telepathine_core::runtime`], with [`Tokio`] as its runtime; this crate is only
//! the binding to tokio's sockets, timers and executor. Start nodes from inside a tokio
//! runtime (any flavour).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod runtime;

pub use runtime::{Listener, Stream, Tokio, Udp};
pub use telepathine_core::runtime::{
    DEFAULT_SUBSCRIPTION_CAPACITY, Error, HearOnce, Heard, IoStats, KeyUpdate, Subscription, Timer,
};
pub use telepathine_core::{
    Bytes, Cipher, Config, DeathCause, DropReason, Event, Limits, NetworkKey, Stats,
};

/// A telepathine node on tokio. See [`telepathine_core::runtime::Telepathine`].
pub type Telepathine = telepathine_core::runtime::Telepathine<Tokio>;

/// The builder of a [`Telepathine`] node on tokio.
pub type Builder = telepathine_core::runtime::Builder<Tokio>;
