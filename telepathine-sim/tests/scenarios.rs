//! Every scenario at small scale with fixed seeds: the invariants hold and the figures that
//! apply are measured. Virtual time only; nothing here depends on the machine's speed.

use telepathine_sim::{Outcome, Report, Scenario, SimConfig, run};

fn small(scenario: Scenario, seed: u64) -> SimConfig {
    SimConfig {
        nodes: 24,
        seed,
        scenario,
        duration_secs: 5,
        ..SimConfig::default()
    }
}

fn passed(cfg: SimConfig) -> Outcome {
    let o = run(cfg).expect("valid configuration");
    assert!(o.passed(), "{}", o.report);
    o
}

/// The reports of the configuration `cfg` gives for seeds 1 to 3, each run passing.
fn passed_with_seeds(cfg: impl Fn(u64) -> SimConfig) -> impl Iterator<Item = (u64, Report)> {
    [1, 2, 3]
        .into_iter()
        .map(move |seed| (seed, passed(cfg(seed)).report))
}

#[test]
fn converge_spreads_the_update_to_everyone() {
    let r = passed(SimConfig {
        keys: 5,
        ..small(Scenario::Converge, 11)
    })
    .report;
    assert!(r.membership_converged_rounds.is_some(), "{r}");
    let max = r.update_rounds_max.expect("update measured");
    assert!(
        r.update_rounds_p50.unwrap() <= max && max <= r.keys_rounds_max.unwrap(),
        "{r}"
    );
    assert!(r.state_converged_secs.is_some(), "{r}");
    assert!(
        r.bytes_per_node_per_round.unwrap() > 0.0 && r.messages_per_node_per_round.unwrap() > 0.0
    );
    assert!(
        r.detection_secs_p50.is_none() && r.heal_secs.is_none(),
        "not this scenario's figures"
    );
    assert_eq!(r.false_positives, 0);
}

#[test]
fn converge_survives_loss_duplication_reordering_and_skew() {
    let cfg = SimConfig {
        loss: 0.05,
        duplicate: 0.05,
        reorder: 0.1,
        jitter_ms: 20,
        clock_skew_ms: 2_000,
        ..small(Scenario::Converge, 12)
    };
    let r = passed(cfg).report;
    assert!(r.datagrams_lost > 0 && r.datagrams_duplicated > 0, "{r}");
}

#[test]
fn a_crash_is_detected_and_the_restarted_node_rejoins() {
    let r = passed(SimConfig {
        crashes: 2,
        ..small(Scenario::Crash, 13)
    })
    .report;
    let (p50, max) = (
        r.detection_secs_p50.expect("detected"),
        r.detection_secs_max.unwrap(),
    );
    assert!(p50 > 0.0 && p50 <= max, "{r}");
    assert!(r.rejoin_secs_max.is_some(), "{r}");
}

#[test]
fn churn_settles_into_one_state() {
    let r = passed(small(Scenario::Churn, 14)).report;
    assert!(r.state_converged_secs.is_some(), "{r}");
}

#[test]
fn a_healed_partition_merges_both_sides_writes() {
    let r = passed(small(Scenario::Partition, 15)).report;
    assert!(r.messages_blocked > 0, "{r}");
    assert!(r.heal_secs.is_some(), "{r}");
}

#[test]
fn a_one_way_partition_heals_too() {
    let r = passed(SimConfig {
        one_way: true,
        ..small(Scenario::Partition, 16)
    })
    .report;
    assert!(r.heal_secs.is_some(), "{r}");
}

#[test]
fn every_say_is_heard_exactly_once() {
    let r = passed(small(Scenario::Events, 17)).report;
    assert!(r.say_rounds_max.is_some(), "{r}");
}

#[test]
fn a_sealed_network_rejects_every_damaged_datagram() {
    let r = passed(SimConfig {
        sealed: true,
        corrupt: 0.05,
        ..small(Scenario::Converge, 18)
    })
    .report;
    assert!(r.datagrams_damaged > 0, "{r}");
    assert_eq!(r.damaged_accepted, 0);
}

#[test]
fn stalls_and_late_timers_do_not_break_convergence() {
    let cfg = SimConfig {
        pauses: 2,
        pause_ms: 12_000,
        late_timeout: 0.2,
        late_timeout_ms: 300,
        ..small(Scenario::Converge, 19)
    };
    passed(cfg);
}

#[test]
fn oversize_datagrams_are_dropped_and_counted() {
    // The network carries less than the nodes' budget: the checker must not blame the core,
    // and the report must show the drops.
    let cfg = SimConfig {
        datagram_limit: 1000,
        value_bytes: 800,
        ..small(Scenario::Converge, 20)
    };
    let r = run(cfg).unwrap().report;
    assert!(r.datagrams_oversize > 0, "{r}");
    assert!(!r.violations.iter().any(|v| v.contains("budget")), "{r}");
}

#[test]
fn load_with_flow_control_stays_within_the_rate_and_loses_nothing() {
    let load = |inbound_rate| SimConfig {
        write_rate: 2.0,
        value_bytes: 200,
        load_secs: 8,
        inbound_rate,
        ..small(Scenario::Load, 21)
    };
    // 24 nodes writing 2 keys of 200 B a second: each node must take in ~10 kB/s.
    let free = passed(load(None)).report;
    let rate = 4_000.0;
    let limited = passed(load(Some(rate as u64))).report;
    for r in [&free, &limited] {
        assert_eq!(r.load_offered_writes_per_sec, Some(48.0), "{r}");
        assert!(r.load_drain_secs.is_some(), "every write arrived: {r}");
    }
    assert_eq!(free.deltas_throttled, 0, "{free}");
    assert!(limited.deltas_throttled > 0, "{limited}");
    let free_bytes = free.load_bytes_per_node_per_round.unwrap();
    let limited_bytes = limited.load_bytes_per_node_per_round.unwrap();
    assert!(free_bytes > 2.0 * rate, "the load exceeds the rate: {free}");
    // What nodes send on average is what they receive: within the rate, plus heartbeats and
    // digests (a few hundred bytes a round).
    assert!(limited_bytes < rate + 1_000.0, "{limited}");
    assert!(
        limited.load_drain_secs.unwrap() > free.load_drain_secs.unwrap(),
        "the backlog drains after the load: {limited}"
    );
}

#[test]
fn a_fresh_node_fetches_the_whole_state_in_one_catch_up() {
    let r = passed(SimConfig {
        keys: 100,
        value_bytes: 100,
        ..small(Scenario::Join, 22)
    })
    .report;
    // 24 nodes of 100 keys of 100 bytes: a quarter of a megabyte, in one stream frame.
    let join = r.join_secs.expect("the fresh node converged");
    assert!(join <= 3.0, "{r}");
    assert!(r.state_converged_secs.is_some(), "{r}");
}

/// Before verdicts were re-derived every heartbeat, node 720 of this run kept live node 57 dead
/// for good after the heal. It takes about three minutes, so it runs on demand:
/// `cargo test --release -p telepathine-sim --test scenarios -- --ignored`.
#[test]
#[ignore]
fn a_large_partition_heals_into_one_membership() {
    let r = passed(SimConfig {
        nodes: 1000,
        seed: 1,
        scenario: Scenario::Partition,
        ..SimConfig::default()
    })
    .report;
    assert!(r.membership_reconverged_secs.is_some(), "{r}");
}

/// The tail of a mass join: once a node lacks only origins that are no longer news anywhere,
/// it pulls them in one catch-up instead of waiting for repair windows to sweep the address
/// space. Digests here cover about a sixth of the 150 origins. Measured over these seeds:
/// 8.4 / 7.4 / 8.1 rounds (mean 8.0) when only a peer far ahead triggered a catch-up; 7.1 /
/// 5.9 / 6.1 (mean 6.4) with the tail rule.
#[test]
fn a_mass_join_converges_within_a_few_rounds_when_digests_cover_a_fraction() {
    let mut total = 0.0;
    for seed in [1, 2, 3] {
        let r = passed(SimConfig {
            nodes: 150,
            datagram_budget: 512,
            datagram_limit: 512,
            duration_secs: 40,
            ..small(Scenario::Converge, seed)
        })
        .report;
        total += r.membership_converged_rounds.expect("membership converged");
        assert!(r.catch_ups > 0, "seed {seed}: {r}");
    }
    assert!(total / 3.0 <= 7.0, "mean {} rounds", total / 3.0);
}

/// A lone newcomer is news: every node learns it by push or asks for it in the exchange that
/// shows it, so hardly any node of the cluster pulls a full digest (which would cost O(N) per
/// node for one origin); the newcomer gets the cluster's state from the first peer it asks.
/// Counting every origin a peer holds beyond one's own as a reason to catch up made about 7 %
/// of the nodes do so.
#[test]
fn a_lone_newcomer_costs_the_cluster_almost_no_catch_ups() {
    let mut sim = telepathine_sim::Sim::new(SimConfig {
        nodes: 150,
        datagram_budget: 512,
        datagram_limit: 512,
        duration_secs: 40,
        ..small(Scenario::Join, 5)
    })
    .expect("valid configuration");
    let initial = sim.slots().len();
    // Catch-ups pulled by the cluster's nodes (the newcomer's slot comes last).
    let catch_ups = |sim: &telepathine_sim::Sim| -> u64 {
        sim.slots()[..initial]
            .iter()
            .filter_map(|s| s.node.as_ref())
            .map(|n| n.stats().catch_ups)
            .sum()
    };
    let mut t = 0;
    while sim.slots().len() == initial {
        t += 500;
        assert!(t < 120_000, "the newcomer never started");
        sim.run_until(t);
    }
    let before = catch_ups(&sim);
    sim.run_until(t + 2_000);
    let known = sim.slots()[initial]
        .node
        .as_ref()
        .map_or(0, |n| n.all_peers().len());
    assert_eq!(known, initial, "the newcomer learned the cluster at once");
    sim.run_until(t + 30_000);
    assert!(sim.membership_converged(), "everyone learned the newcomer");
    let during = catch_ups(&sim) - before;
    assert!(during <= 2, "{during} catch-ups for one newcomer");
}

/// Every node but one writes at once (the join scenario's preload): each node has news for
/// all. First contacts used to get answers cut to twice their request (anti-amplification),
/// so news moved a few entries per exchange; now the initiator, holding the peer's cookie
/// after that first answer, asks again and gets everything. Measured over these seeds: the
/// slowest node had the tracked update after 7.2 / 7.1 / 7.5 rounds before, 4.4 / 5.0 / 5.6
/// after.
#[test]
fn a_burst_of_writes_from_every_node_spreads_within_a_few_rounds() {
    let cfg = |seed| SimConfig {
        nodes: 150,
        keys: 1,
        duration_secs: 40,
        ..small(Scenario::Join, seed)
    };
    for (seed, r) in passed_with_seeds(cfg) {
        let max = r.update_rounds_max.expect("update measured");
        assert!(max <= 6.0, "seed {seed}: {r}");
    }
}

/// After a partition heals, nearly every origin has refuted accusations at once: a node whose
/// peer's repair window shows it stale on many origins pulls a catch-up, and first contacts
/// are answered in full. Measured with this seed: membership agreed again 8.0 s after the heal
/// and both sides' writes were everywhere after 2.8 s before; 5.5 s and 1.2 s after.
#[test]
fn a_healed_partition_of_150_nodes_agrees_again_within_seconds() {
    let r = passed(SimConfig {
        nodes: 150,
        duration_secs: 40,
        ..small(Scenario::Partition, 1)
    })
    .report;
    let agreed = r
        .membership_reconverged_secs
        .expect("membership agreed again");
    let merged = r.heal_secs.expect("both sides' writes spread");
    assert!(agreed <= 7.0 && merged <= 2.0, "{r}");
    assert!(r.catch_ups > 0, "{r}");
}

/// Under 10 % loss a monitor asks a predecessor whose heartbeats it missed for one before it
/// accuses it, so lost heartbeats rarely become accusations that every node must learn and then
/// forget, and quiet traffic stays near its loss-free level. Measured with these seeds before
/// the probe: 23, 35 and 33 accusations, 909 to 1,826 B per node per round (and 5 false
/// positives with seed 3); with it: 1, 0 and 3 accusations, 381 to 388 B. The traffic bound
/// holds for the median over the seeds: one accusation that happens to be published inside a
/// seed's steady window spreads to every node during it and can nearly triple that seed's
/// figure (seed 2 gives 1,059 B with one accusation since the ring and the peer records are one
/// map; 709 B before that, and seed 8 gave 851 B earlier still).
#[test]
fn heavy_loss_does_not_turn_lost_heartbeats_into_gossip() {
    let cfg = |seed| SimConfig {
        nodes: 150,
        loss: 0.1,
        duration_secs: 60,
        ..small(Scenario::Converge, seed)
    };
    let mut quiet = Vec::new();
    for (seed, r) in passed_with_seeds(cfg) {
        assert!(r.accusations <= 8, "seed {seed}: {r}");
        assert!(r.false_positives == 0, "seed {seed}: {r}");
        quiet.push(r.bytes_per_node_per_round.expect("steady traffic measured"));
    }
    quiet.sort_by(f64::total_cmp);
    assert!(
        quiet[1] < 600.0,
        "quiet traffic per seed, sorted: {quiet:?} B"
    );
}
