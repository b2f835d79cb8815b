//! Fuzz harnesses for telepathine-core.
//!
//! Each target's logic lives here, not in `fuzz_targets/`, so that the core's `fuzz_corpus`
//! test can compile the same code (through `#[path]`) and replay the checked-in corpora and
//! regressions as an ordinary test on stable, without libFuzzer. Nothing here may use
//! `libfuzzer-sys`, `arbitrary` or `crate::` paths, which do not exist in that test.

pub mod decode;
pub mod frame;
pub mod input;
pub mod message;
pub mod node;
pub mod node_input;
pub mod open;
pub mod seeds;

use telepathine_core::NetworkKey;

/// The fuzz targets, as named in `fuzz/Cargo.toml` and under `fuzz/corpus/`.
pub const TARGETS: [&str; 4] = ["decode", "open", "frame", "node"];

/// Cluster name of every envelope the harnesses build or expect.
pub const CLUSTER: &str = "telepathine-fuzz";

/// The fixed test key of the private-network harnesses. Fuzzing with a known key lets
/// structured inputs be sealed properly, so they get past authentication into the node.
pub fn network_key() -> NetworkKey {
    NetworkKey::from_bytes([0x5a; 32], 0)
}

/// Runs `target`'s harness on one input. Panics on an unknown target, as on a failed check.
pub fn run(target: &str, data: &[u8]) {
    match target {
        "decode" => decode::run(data),
        "open" => open::run(data),
        "frame" => frame::run(data),
        "node" => node::run(data),
        other => panic!("no fuzz target named {other}"),
    }
}
