//! The checker is not a rubber stamp: a node whose deltas are withheld breaks convergence, and
//! the failure names the seed and the command that replays it.

use std::process::Command;

use telepathine_sim::{Scenario, SimConfig, run};

fn broken() -> SimConfig {
    SimConfig {
        nodes: 12,
        seed: 77,
        scenario: Scenario::Converge,
        duration_secs: 5,
        broken_node: Some(5),
        ..SimConfig::default()
    }
}

#[test]
fn a_node_that_drops_every_delta_is_caught() {
    let o = run(broken()).unwrap();
    assert!(!o.passed(), "{}", o.report);
    let all = o.report.violations.join("\n");
    assert!(all.contains("node 5"), "{all}");
    // Each check sees it from its own side: the other nodes never learn node 5's state (nor
    // its versions), and nobody agrees on who is alive.
    for kind in [
        "convergence: 22 of 132 (node, origin) views differ",
        "node 0 holds generation None / state None of node 5",
        "stuck versions: 22 (node, origin) views",
        "node 0 holds nothing of node 5",
        "membership: 12 live nodes disagree",
        "node 0 sees 10 live of 11",
    ] {
        assert!(all.contains(kind), "{kind:?} missing from {all}");
    }
    assert!(
        o.report.replay.contains("--seed 77") && o.report.replay.contains("--broken-node 5"),
        "{}",
        o.report.replay
    );
    // The same configuration without the broken node passes.
    assert!(
        run(SimConfig {
            broken_node: None,
            ..broken()
        })
        .unwrap()
        .passed()
    );
}

#[test]
fn the_command_fails_and_prints_the_replay_line() {
    let out = Command::new(env!("CARGO_BIN_EXE_telepathine-sim"))
        .args([
            "--nodes",
            "12",
            "--seed",
            "77",
            "--duration-secs",
            "5",
            "--broken-node",
            "5",
            "--quiet",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("seed 77"), "{stderr}");
    assert!(
        stderr.contains("telepathine-sim -- --seed 77 --nodes 12 --scenario converge"),
        "{stderr}"
    );
}

#[test]
fn json_output_has_the_stable_fields() {
    let out = Command::new(env!("CARGO_BIN_EXE_telepathine-sim"))
        .args([
            "--nodes",
            "12",
            "--seed",
            "5",
            "--duration-secs",
            "5",
            "--json",
            "--quiet",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for field in [
        "nodes",
        "seed",
        "loss",
        "gossip_interval_ms",
        "membership_converged_rounds",
        "update_rounds_p50",
        "update_rounds_p99",
        "update_rounds_max",
        "theory_rounds",
        "bytes_per_node_per_round",
        "messages_per_node_per_round",
        "detection_secs_p50",
        "detection_secs_p99",
        "false_positives",
        "invariant_violations",
        "wall_secs",
        "node_rounds_per_sec",
    ] {
        assert!(v.get(field).is_some(), "missing {field}");
    }
    assert_eq!(v["nodes"], 12);
    assert!(v["detection_secs_p50"].is_null(), "no crash in converge");
    assert!(v["update_rounds_max"].is_number());
    assert_eq!(v["invariant_violations"], 0);
}

#[test]
fn plot_writes_an_svg() {
    let path =
        std::env::temp_dir().join(format!("telepathine-sim-test-{}.svg", std::process::id()));
    let out = Command::new(env!("CARGO_BIN_EXE_telepathine-sim"))
        .args([
            "--nodes",
            "12",
            "--scenario",
            "crash",
            "--duration-secs",
            "5",
            "--quiet",
            "--plot",
        ])
        .arg(&path)
        .output()
        .unwrap();
    // The plot is written whatever the invariants say (exit status 1 is a violated invariant).
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let svg = std::fs::read_to_string(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    assert!(
        svg.starts_with("<svg") && svg.contains("polyline"),
        "{}",
        &svg[..svg.len().min(200)]
    );
}
