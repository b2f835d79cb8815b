//! # telepathine-async-std
//!
//! [telepathine](telepathine_core) over the async-io family of crates (`async-io`, `async-net`):
//! one crate for smol and async-std users. smol is the default and pulls in no async-std;
//! enable the `async-std` feature for async-std.
//!
//! ```no_run
//! # fn main() -> Result<(), telepathine_async_std::Error> {
//! smol::block_on(async {
//!     let node = telepathine_async_std::Telepathine::builder()
//!         .bind("127.0.0.1:9000")
//!         .seeds(["127.0.0.1:9001"])
//!         .start()
//!         .await?;
//!     node.set("somekey", "somevalue")?;
//!     Ok(())
//! })
//! # }
//! ```
//!
//! The API is [`telepathine_core::runtime`], the same as `telepathine-tokio`'s; this crate is
//! only the binding to async-io's sockets and timers and to the executor's `spawn`. Nodes on
//! any runtime form one cluster.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod runtime;

pub use runtime::{AsyncIo, Executor, Listener, Stream, Udp};
pub use telepathine_core::runtime::{
    DEFAULT_SUBSCRIPTION_CAPACITY, Error, HearOnce, Heard, IoStats, KeyUpdate, Subscription, Timer,
};
pub use telepathine_core::{
    Bytes, Cipher, Config, DeathCause, DropReason, Event, Limits, NetworkKey, Stats,
};

/// The smol binding.
#[cfg(feature = "smol")]
pub mod smol {
    pub use crate::runtime::SmolExecutor;

    /// smol as a telepathine runtime: tasks run on smol's global executor.
    pub type Smol = crate::AsyncIo<SmolExecutor>;
    /// A telepathine node on smol.
    pub type Telepathine = telepathine_core::runtime::Telepathine<Smol>;
    /// The builder of a node on smol.
    pub type Builder = telepathine_core::runtime::Builder<Smol>;
}

/// The async-std binding.
#[cfg(feature = "async-std")]
pub mod async_std {
    pub use crate::runtime::AsyncStdExecutor;

    /// async-std as a telepathine runtime: tasks run on async-std's executor.
    pub type AsyncStd = crate::AsyncIo<AsyncStdExecutor>;
    /// A telepathine node on async-std.
    pub type Telepathine = telepathine_core::runtime::Telepathine<AsyncStd>;
    /// The builder of a node on async-std.
    pub type Builder = telepathine_core::runtime::Builder<AsyncStd>;
}

/// A telepathine node on the default executor: smol, or async-std when only the `async-std`
/// feature is enabled.
#[cfg(feature = "smol")]
pub type Telepathine = smol::Telepathine;
/// A telepathine node on the default executor: smol, or async-std when only the `async-std`
/// feature is enabled.
#[cfg(all(feature = "async-std", not(feature = "smol")))]
pub type Telepathine = async_std::Telepathine;

/// The builder of a [`Telepathine`] node on the default executor.
#[cfg(feature = "smol")]
pub type Builder = smol::Builder;
/// The builder of a [`Telepathine`] node on the default executor.
#[cfg(all(feature = "async-std", not(feature = "smol")))]
pub type Builder = async_std::Builder;
