//! Flow control and per-seed rates, on cores wired together in memory.

mod common;

use std::time::Duration;

use common::{Net, addr};
use telepathine_core::{Config, Node, Timestamp};

fn fast() -> Config {
    common::rounds_of(200, 50)
}

/// Bytes of `SynAck` and `Ack` messages (the ones that carry state) a node received.
fn state_bytes(n: &Node) -> u64 {
    ["synack", "ack"]
        .iter()
        .filter_map(|k| n.stats().received.get(k))
        .map(|t| t.bytes)
        .sum()
}

const WRITERS: usize = 3;
const KEYS: usize = 100;
const VALUE: usize = 1_000;

/// Three writers publish 300 kB; node 3 (with `rate`, if any) must end up with all of it.
/// Returns the milliseconds it took and node 3's state bytes per second, sampled every second.
fn spread(rate: Option<u64>) -> (u64, Vec<u64>, Net) {
    let mut net = Net::new(4, |i| Config {
        inbound_rate: if i == 3 { rate } else { None },
        ..fast()
    });
    net.run_until(3_000);
    let t = Timestamp::from_millis(net.now);
    for w in 0..WRITERS {
        for k in 0..KEYS {
            let value = vec![(w * KEYS + k) as u8; VALUE];
            net.node(w).set(t, &format!("key-{k:03}"), value).unwrap();
        }
    }
    let start = net.now;
    let mut per_second = Vec::new();
    let mut last = state_bytes(net.node(3));
    loop {
        net.run_until(net.now + 1_000);
        let now_bytes = state_bytes(net.node(3));
        per_second.push(now_bytes - last);
        last = now_bytes;
        let done = (0..WRITERS).all(|w| net.node(3).remote_keys(&addr(w)).len() == KEYS);
        if done || net.now - start > 120_000 {
            break;
        }
    }
    (net.now - start, per_second, net)
}

#[test]
fn a_rate_limited_node_slows_its_senders_and_still_gets_everything() {
    let rate = 20_000;
    let (took, per_second, mut net) = spread(Some(rate));
    // Nothing was dropped: every key arrived with its value.
    for w in 0..WRITERS {
        for k in [0, KEYS / 2, KEYS - 1] {
            let got = net.node(3).get_remote(&addr(w), &format!("key-{k:03}"));
            assert_eq!(
                got.map(|b| b.to_vec()),
                Some(vec![(w * KEYS + k) as u8; VALUE])
            );
        }
    }
    // It took as long as the rate demands (300 kB at 20 kB/s), not the few rounds a free node
    // needs, and no window of five seconds carried much more than the rate allows: five seconds
    // of rate, one burst (two rounds of rate, or a datagram), and one datagram per exchange
    // that was already under way.
    assert!(took >= 12_000, "took {took} ms");
    let burst = (rate as f64 * 0.4) as u64;
    for w in per_second.windows(5) {
        let sum: u64 = w.iter().sum();
        assert!(
            sum <= 5 * rate + burst.max(1_400) + 50 * 1_400,
            "{sum} bytes in 5 s: {per_second:?}"
        );
    }
    // The senders noticed: they cut deltas to the room node 3 advertised.
    let throttled: u64 = (0..WRITERS)
        .map(|w| net.node(w).stats().deltas_throttled)
        .sum();
    assert!(throttled > 0);
    // Nobody else was slowed.
    assert_eq!(net.node(3).stats().deltas_throttled, 0);

    let (free, _, net_free) = spread(None);
    assert!(free * 3 < took, "unlimited {free} ms vs limited {took} ms");
    let throttled: u64 = (0..4)
        .map(|i| net_free.nodes[&addr(i)].stats().deltas_throttled)
        .sum();
    assert_eq!(throttled, 0, "no rate, no throttling");
}

#[test]
fn an_entry_larger_than_the_room_still_passes() {
    // A 1 kB/s node and a 200 kB value: the room never reaches the entry's size.
    let mut net = Net::new(3, |i| Config {
        inbound_rate: if i == 2 { Some(1_024) } else { None },
        ..fast()
    });
    net.run_until(3_000);
    let t = Timestamp::from_millis(net.now);
    net.node(0).set(t, "big", vec![7u8; 200_000]).unwrap();
    net.node(0).set(t, "small", "after").unwrap();
    net.run_until(net.now + 60_000);
    let got = net.node(2).get_remote(&addr(0), "big").map(|b| b.len());
    assert_eq!(got, Some(200_000));
    assert_eq!(
        net.node(2)
            .get_remote(&addr(0), "small")
            .map(|b| b.to_vec()),
        Some(b"after".to_vec())
    );
}

#[test]
fn a_seed_interval_sets_a_rate_of_exchanges_with_seeds() {
    let seed = addr(0);
    let syns_to_seed = |every: Option<Duration>| {
        let mut net = Net::new(6, |_| Config {
            seeds: vec![seed],
            seed_interval: every,
            gossip_interval: Duration::from_millis(1_000),
            ..fast()
        });
        net.record = true;
        net.run_until(20_000);
        let syns = net
            .node(0)
            .stats()
            .received
            .get("syn")
            .map_or(0, |t| t.messages);
        let peers = net.node(0).live_peers().len();
        (syns, peers)
    };
    let (plain, peers) = syns_to_seed(None);
    assert_eq!(peers, 5);
    let (fast_seed, peers) = syns_to_seed(Some(Duration::from_millis(100)));
    assert_eq!(peers, 5);
    // Five nodes each reach the seed ten times a second for twenty seconds (give or take the
    // jitter and the start), on top of ordinary gossip.
    assert!(fast_seed >= plain + 5 * 10 * 18, "{fast_seed} vs {plain}");
    assert!(
        fast_seed <= plain + 5 * 10 * 21 + 50,
        "{fast_seed} vs {plain}"
    );
}

#[test]
fn flow_settings_are_validated() {
    let bad = Config {
        inbound_rate: Some(10),
        ..Config::default()
    };
    assert!(bad.validate().is_err());
    let bad = Config {
        seed_interval: Some(Duration::ZERO),
        ..Config::default()
    };
    assert!(bad.validate().is_err());
}

#[test]
fn the_peer_limit_fits_the_maps_positions() {
    let mut config = Config::default();
    config.limits.max_peers = telepathine_core::MAX_PEERS_LIMIT;
    assert!(config.validate().is_ok());
    config.limits.max_peers += 1;
    let err = config.validate().expect_err("over the bound");
    assert!(err.to_string().contains("max_peers"), "{err}");
}
