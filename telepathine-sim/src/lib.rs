//! Deterministic network simulator for telepathine (work in progress).
