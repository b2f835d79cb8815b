//! About fifty cores wired together in memory: updates spread to all, failures are detected.

mod common;

use common::{Net, addr};
use telepathine_core::{Config, DeathCause, Event, Timestamp};

fn fast() -> Config {
    common::rounds_of(200, 50)
}

#[test]
fn fifty_nodes_learn_membership_and_a_single_update() {
    let mut net = Net::new(50, |_| fast());
    net.run_until(6_000);
    for (a, n) in net.live() {
        assert_eq!(
            n.live_peers().len(),
            49,
            "{a} sees {:?}",
            n.live_peers().len()
        );
    }
    let t = net.now;
    net.node(17)
        .set(Timestamp::from_millis(t), "somekey", "somevalue")
        .unwrap();
    net.run_until(t + 4_000);
    for (a, n) in net.live() {
        assert_eq!(
            n.get_remote(&addr(17), "somekey").map(|b| b.as_ref()),
            Some(&b"somevalue"[..]),
            "{a}"
        );
    }
    // Every node raised exactly one Set event for it.
    for (a, evs) in &net.events {
        let sets = evs
            .iter()
            .filter(|e| matches!(e, Event::Set { key, .. } if key == "somekey"))
            .count();
        assert_eq!(sets, 1, "{a}");
    }
}

#[test]
fn a_crashed_node_is_declared_dead_by_every_other_node() {
    let mut net = Net::new(50, |_| fast());
    net.run_until(6_000);
    net.crashed.insert(addr(23));
    net.run_until(16_000);
    for (a, n) in net.live() {
        assert!(
            n.dead_peers().contains(&addr(23)),
            "{a} still thinks 23 lives"
        );
        assert_eq!(n.live_peers().len(), 48, "{a}");
    }
    for (a, evs) in &net.events {
        if *a == addr(23) {
            continue;
        }
        assert!(
            evs.iter().any(|e| *e
                == Event::PeerDead {
                    peer: addr(23),
                    cause: DeathCause::Failed
                }),
            "{a}"
        );
        let false_deaths = evs
            .iter()
            .filter(|e| matches!(e, Event::PeerDead { peer, .. } if *peer != addr(23)))
            .count();
        assert_eq!(false_deaths, 0, "{a} convicted a live node");
    }
}

#[test]
fn a_stopped_node_is_seen_as_left() {
    let mut net = Net::new(20, |_| fast());
    net.run_until(4_000);
    let t = net.now;
    net.node(5).stop(Timestamp::from_millis(t));
    net.run_until(t + 3_000);
    for (a, n) in net.live() {
        if *a == addr(5) {
            continue;
        }
        assert!(n.dead_peers().contains(&addr(5)), "{a}");
    }
    for (a, evs) in &net.events {
        if *a == addr(5) {
            continue;
        }
        assert!(
            evs.contains(&Event::PeerDead {
                peer: addr(5),
                cause: DeathCause::Left
            }),
            "{a}: {evs:?}"
        );
    }
}
