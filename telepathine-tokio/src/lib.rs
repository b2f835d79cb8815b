//! telepathine over tokio (work in progress).
