//! Replicated state: every origin's versioned entries, and Scuttlebutt reconciliation.

mod apply;
mod digest;
mod entries;
mod origin;
mod recency;
mod store;

pub use origin::{Entry, OriginState};
pub(crate) use store::{Change, Store, recent_cap};
