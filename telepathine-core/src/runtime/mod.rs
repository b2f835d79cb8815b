//! The runtime-agnostic async API shared by the adapters (work in progress).
