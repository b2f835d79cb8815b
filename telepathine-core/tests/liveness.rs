//! Liveness over time: refutation after a pause, forgetting the dead without resurrection,
//! clock skew against expiry, and the heartbeat re-emission option.

mod common;

use std::time::Duration;

use common::{Net, addr};
use telepathine_core::{Config, DeathCause, Event, Limits, Timestamp};

fn fast() -> Config {
    common::rounds_of(100, 30)
}

#[test]
fn a_node_that_was_cut_off_refutes_its_accusation_and_lives_again() {
    let mut net = Net::new(6, |_| fast());
    net.run_until(1_500);
    for other in 0..6 {
        if other != 4 {
            net.cut.insert((addr(4), addr(other)));
            net.cut.insert((addr(other), addr(4)));
        }
    }
    net.run_until(4_000);
    assert!(net.node(0).dead_peers().contains(&addr(4)));
    net.cut.clear();
    net.run_until(8_000);
    for i in 0..6 {
        assert_eq!(
            net.node(i).live_peers().len(),
            5,
            "node {i}: {:?}",
            net.node(i).dead_peers()
        );
    }
    let evs = &net.events[&addr(0)];
    let dead = evs.iter().position(|e| {
        *e == Event::PeerDead {
            peer: addr(4),
            cause: DeathCause::Failed,
        }
    });
    let alive = evs
        .iter()
        .rposition(|e| *e == Event::PeerAlive { peer: addr(4) });
    assert!(
        dead.is_some() && alive > dead,
        "dead then alive again: {dead:?} {alive:?}"
    );
}

#[test]
fn a_long_local_pause_convicts_nobody() {
    let mut net = Net::new(4, |_| Config {
        local_pause: Duration::from_millis(1_000),
        ..fast()
    });
    net.run_until(2_000);
    // Node 2's driver stalls for 5 s: nothing reaches it, it sends nothing.
    net.crashed.insert(addr(2));
    net.run_until(7_000);
    net.crashed.remove(&addr(2));
    net.run_until(7_500);
    let own_accusations = net.events[&addr(2)]
        .iter()
        .filter(|e| matches!(e, Event::PeerDead { .. }))
        .count();
    assert_eq!(
        own_accusations, 0,
        "the paused node blamed its peers for its own pause"
    );
}

#[test]
fn the_dead_are_forgotten_and_not_resurrected_by_stale_gossip() {
    // Node 1 keeps the dead longer than the others, so it still gossips node 5's state after
    // they have forgotten it: the stale peer of the issue.
    let grace = |i: usize| Duration::from_millis(if i == 1 { 2_500 } else { 1_500 });
    let mut net = Net::new(6, |i| Config {
        dead_grace: grace(i),
        ..fast()
    });
    net.run_until(1_500);
    net.crashed.insert(addr(5));
    net.run_until(2_300);
    for i in 0..5 {
        assert!(net.node(i).dead_peers().contains(&addr(5)), "node {i}");
    }
    let mut stale_seen = false;
    for step in 0..40 {
        net.run_until(2_300 + step * 100);
        let forgotten_by_others = [0, 2, 3, 4]
            .iter()
            .all(|i| !net.node(*i).all_peers().contains(&addr(5)));
        if forgotten_by_others && net.node(1).all_peers().contains(&addr(5)) {
            stale_seen = true;
        }
        if stale_seen {
            for i in [0, 2, 3, 4] {
                assert!(
                    !net.node(i).all_peers().contains(&addr(5)),
                    "node {i} resurrected the dead node at {}: {:?}",
                    net.now,
                    net.events[&addr(i)]
                        .iter()
                        .filter(|e| format!("{e:?}").contains("10.0.0.6"))
                        .collect::<Vec<_>>()
                );
            }
        }
    }
    assert!(stale_seen, "the scenario never had a stale peer");
    for i in 0..5 {
        assert!(
            !net.node(i).all_peers().contains(&addr(5)),
            "node {i}: {:?} {:?}",
            net.node(i).dead_peers(),
            net.events[&addr(i)]
                .iter()
                .filter(|e| format!("{e:?}").contains("10.0.0.6"))
                .collect::<Vec<_>>()
        );
        assert_eq!(net.node(i).live_peers().len(), 4, "node {i}");
    }
}

#[test]
fn a_clock_far_ahead_cannot_make_a_key_outlive_max_ttl() {
    let limits = Limits {
        max_ttl: Duration::from_secs(2),
        ..Limits::default()
    };
    let mut net = Net::new(3, |_| Config {
        limits: limits.clone(),
        ..fast()
    });
    // Node 0's clock runs a year ahead.
    let year = 365 * 24 * 3600 * 1000;
    let t = Timestamp::from_millis(net.now);
    let skewed = net.wall() + year;
    net.node(0).handle_wall_clock(t, skewed);
    let expires = skewed + 60_000;
    net.node(0).set_with_expiry(t, "k", "v", expires).unwrap();
    net.run_until(1_000);
    assert!(net.node(1).get_remote(&addr(0), "k").is_some());
    net.run_until(4_000);
    for i in [1, 2] {
        assert!(
            net.node(i).get_remote(&addr(0), "k").is_none(),
            "node {i} kept the key past max_ttl"
        );
    }
}

#[test]
fn values_are_reemitted_on_heartbeats_when_asked() {
    let mut net = Net::new(2, |i| Config {
        emit_value_on_heartbeat: i == 1,
        ..fast()
    });
    let t = Timestamp::from_millis(net.now);
    net.node(0).set(t, "k", "v").unwrap();
    net.run_until(2_000);
    let sets = |net: &Net, i: usize| {
        net.events[&addr(i)]
            .iter()
            .filter(|e| matches!(e, Event::Set { key, peer, .. } if key == "k" && *peer == addr(0)))
            .count()
    };
    assert!(
        sets(&net, 1) > 5,
        "re-emitted each heartbeat interval: {}",
        sets(&net, 1)
    );
    assert_eq!(
        sets(&net, 0),
        1,
        "without the option a value is announced once"
    );
}

#[test]
fn address_map_rewrites_destinations() {
    let far = "203.0.113.7:9000".parse().unwrap();
    let mut config = fast();
    config.address_map.insert(addr(1), far);
    let mut node =
        telepathine_core::Node::new(config, telepathine_core::NodeId::new(addr(0), 1), 1).unwrap();
    node.start(Timestamp::ZERO);
    while node.poll_transmit().is_some() {}
    assert!(node.add_peer(Timestamp::ZERO, addr(1)));
    let t = node.poll_transmit().expect("a first contact");
    assert_eq!(t.destination, far);
    assert!(
        !node.add_peer(Timestamp::ZERO, addr(0)),
        "a node is not its own peer"
    );
}
