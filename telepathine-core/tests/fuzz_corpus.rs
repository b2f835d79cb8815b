//! Replays the fuzz corpora and regressions (`fuzz/corpus/<target>/`,
//! `fuzz/regressions/<target>/`) through the fuzz targets' own harnesses, on stable and without
//! libFuzzer, so that every input the fuzzers found interesting, and every crash once fixed,
//! stays checked by `cargo test`.
//!
//! `cargo test -p telepathine-core --test fuzz_corpus -- --ignored` regenerates the seed corpora
//! from real traffic (see `fuzz/harness/seeds.rs`).

// The harness is shared with the fuzz crate, whose targets use parts this test does not.
#[allow(dead_code)]
#[path = "../../fuzz/harness/mod.rs"]
mod harness;

use std::fs;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// Files directly under `dir`, sorted; none when it does not exist.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// Runs every corpus and regression input of `target`; fails listing each input that panicked.
fn replay(target: &str) {
    let dirs = ["corpus", "regressions"].map(|d| fuzz_dir().join(d).join(target));
    let inputs: Vec<PathBuf> = dirs.iter().flat_map(|d| files(d)).collect();
    assert!(
        !files(&dirs[0]).is_empty(),
        "no corpus for {target} under {}",
        dirs[0].display()
    );
    let failed: Vec<String> = inputs
        .iter()
        .filter(|path| {
            let data = fs::read(path).expect("readable input");
            catch_unwind(AssertUnwindSafe(|| harness::run(target, &data))).is_err()
        })
        .map(|path| path.display().to_string())
        .collect();
    assert!(failed.is_empty(), "{target} failed on {failed:#?}");
}

#[test]
fn decode_corpus_replays() {
    replay("decode");
}

#[test]
fn open_corpus_replays() {
    replay("open");
}

#[test]
fn frame_corpus_replays() {
    replay("frame");
}

#[test]
fn node_corpus_replays() {
    replay("node");
}

/// The node corpus must get far: past authentication and decoding, with every kind of message
/// accepted and entries applied. When a wire change makes the checked-in inputs stale, this
/// fails, and `regenerate_seed_corpora` brings them up to date.
#[test]
fn node_corpus_reaches_deep_state() {
    let mut kinds = std::collections::BTreeSet::new();
    let mut applied = 0;
    for path in files(&fuzz_dir().join("corpus/node")) {
        let stats = harness::node::run_to_end(&fs::read(path).expect("readable input"));
        kinds.extend(stats.received.keys().copied());
        applied += stats.entries_applied;
    }
    assert_eq!(kinds.len(), 5, "only {kinds:?} accepted");
    assert!(applied > 0, "no entry applied");
}

/// The open corpus starts the fuzzer past authentication under each cipher suite, not only at
/// the header checks.
#[test]
fn open_corpus_opens_under_each_suite() {
    for cipher in telepathine_core::Cipher::ALL {
        let key = harness::network_key().with_cipher(cipher);
        let sealer = telepathine_core::wire::Sealer::new(harness::CLUSTER, Some(&key));
        let opened = files(&fuzz_dir().join("corpus/open"))
            .iter()
            .filter(|p| sealer.open(&fs::read(p).expect("readable input")).is_ok())
            .count();
        assert!(opened >= 3, "only {opened} inputs open under {cipher}");
    }
}

/// The seed history produces what the seeds are meant to cover.
#[test]
fn seed_history_uses_streams() {
    let sealed = harness::seeds::record(harness::node_input::flag::SEALED);
    assert!(sealed.captures.iter().any(|c| c.stream), "no stream frame");
    assert!(sealed.scripts.len() >= 2);
}

/// Writes the seed corpora into `fuzz/corpus/<target>/seed-<hash>`; existing files stay.
#[test]
#[ignore = "regenerates the checked-in seed corpora"]
fn regenerate_seed_corpora() {
    for (target, data) in harness::seeds::corpora() {
        harness::run(target, &data);
        let dir = fuzz_dir().join("corpus").join(target);
        fs::create_dir_all(&dir).expect("corpus directory");
        let hash = telepathine_core::wire::fnv1a64(&data, 0xcbf2_9ce4_8422_2325);
        fs::write(dir.join(format!("seed-{hash:016x}")), &data).expect("seed written");
    }
}
