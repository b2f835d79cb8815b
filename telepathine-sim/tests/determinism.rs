//! One seed, one run: the same seed gives the same trace and report; another seed does not.

use telepathine_sim::{Scenario, SimConfig, run, run_twice};

fn cfg(seed: u64) -> SimConfig {
    SimConfig {
        nodes: 16,
        seed,
        scenario: Scenario::Crash,
        loss: 0.05,
        duplicate: 0.02,
        duration_secs: 5,
        ..SimConfig::default()
    }
}

#[test]
fn same_seed_gives_identical_trace_and_report() {
    let a = run(cfg(3)).unwrap().report;
    let b = run(cfg(3)).unwrap().report;
    assert_eq!(a.trace_hash, b.trace_hash);
    assert_eq!(a.deterministic(), b.deterministic());
    assert!(run_twice(cfg(3)).is_ok());
}

#[test]
fn different_seeds_give_different_runs() {
    let a = run(cfg(3)).unwrap().report;
    let b = run(cfg(4)).unwrap().report;
    assert_ne!(a.trace_hash, b.trace_hash);
    assert_ne!(a.deterministic(), b.deterministic());
}
