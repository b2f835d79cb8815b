//! Hostile input: garbage floods, and a key holder that misbehaves. Each protection is a limit
//! that these tests hit; removing the protection makes them fail.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use common::{Net, addr};
use rand_core::SeedableRng;
use telepathine_core::wire::{
    Body, Cover, Delta, Digest, DigestEntry, Key, MAX_VERSION, Message, OriginDelta, Sealer, Value,
    WireEntry,
};
use telepathine_core::{
    Config, DropReason, Event, Limits, NetworkKey, NodeId, Timestamp, TransmitKind,
};

fn key() -> NetworkKey {
    NetworkKey::from_bytes([42; 32], 0)
}

fn cfg() -> Config {
    Config {
        gossip_interval: Duration::from_millis(100),
        heartbeat_interval: Duration::from_millis(100),
        network_key: Some(key()),
        ..Config::default()
    }
}

/// A sealed message as a key holder at `from` would send it.
struct Forger {
    sealer: Sealer,
    rng: rand_chacha::ChaCha8Rng,
    id: NodeId,
    seq: u64,
}

impl Forger {
    fn new(from: SocketAddr) -> Self {
        Forger {
            sealer: Sealer::new("telepathine", Some(&key())),
            rng: rand_chacha::ChaCha8Rng::seed_from_u64(9),
            id: NodeId::new(from, 5),
            seq: 0,
        }
    }

    fn seal(&mut self, to: SocketAddr, body: Body) -> Vec<u8> {
        self.seq += 1;
        let msg = Message {
            from: self.id,
            to: Some(to),
            seq: self.seq,
            body,
        };
        self.sealer
            .seal(&postcard::to_allocvec(&msg).unwrap(), &mut self.rng)
    }
}

fn deliver_frame(net: &mut Net, to: usize, bytes: &[u8]) {
    let now = Timestamp::from_millis(net.now);
    net.node(to).handle_frame(now, addr(99), bytes);
    net.drain();
}

fn user(key: &str, version: u64, value: &[u8]) -> WireEntry {
    WireEntry {
        key: Key::User(key.into()),
        version,
        value: Value::Bytes(Bytes::copy_from_slice(value)),
        expires_at: None,
    }
}

fn ack(origin: SocketAddr, generation: u64, up_to: u64, entries: Vec<WireEntry>) -> Body {
    Body::Ack(Delta {
        origins: vec![OriginDelta {
            origin,
            generation,
            from_version: 0,
            up_to,
            gc_floor: 0,
            entries: entries.into(),
        }],
    })
}

#[test]
fn garbage_floods_are_dropped_counted_and_harmless() {
    let mut net = Net::new(4, |_| cfg());
    let mut x: u64 = 7;
    let mut sent = 0u64;
    for i in 0..3000usize {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let len = (x % 1600) as usize;
        let mut bytes: Vec<u8> = (0..len).map(|j| (x >> (j % 56)) as u8).collect();
        if i % 3 == 0 && bytes.len() > 9 {
            // A valid header, so the junk reaches the AEAD.
            bytes[..9].copy_from_slice(&[b'T', b'P', 1, 1, 0, 0, 0, 0, 0]);
            let id = telepathine_core::wire::cluster_id("telepathine").to_le_bytes();
            bytes[5..9].copy_from_slice(&id);
        }
        let now = Timestamp::from_millis(net.now);
        if i % 2 == 0 {
            net.node(1).handle_datagram(now, addr(50), &bytes);
        } else {
            net.node(1).handle_frame(now, addr(50), &bytes);
        }
        sent += 1;
    }
    assert_eq!(
        net.node(1).stats().total_dropped().messages,
        sent,
        "every piece of junk is counted"
    );
    assert!(net.node(1).stats().dropped_for(DropReason::Forged) > 0);
    let t = Timestamp::from_millis(net.now);
    net.node(2).set(t, "still", "works").unwrap();
    net.run_until(2_000);
    assert!(net.converged());
    assert_eq!(
        net.node(1).get_remote(&addr(2), "still").unwrap().as_ref(),
        b"works"
    );
}

#[test]
fn a_digest_naming_900_000_origins_is_refused() {
    let mut net = Net::new(2, |_| cfg());
    net.run_until(500);
    // As many as fit a frame: a packed IPv4 entry takes at least 9 bytes.
    let entries: Vec<DigestEntry> = (0..900_000u32)
        .map(|i| DigestEntry {
            origin: SocketAddr::from((i.to_be_bytes(), 1)),
            generation: 1,
            version: 1,
        })
        .collect();
    let mut f = Forger::new(addr(77));
    let body = Body::Syn {
        digest: Digest {
            cover: Cover::Listed,
            entries,
        },
        summary: 0,
        origins: 1,
        cookie: 1,
        echo: 0,
        room: 0,
    };
    let bytes = f.seal(addr(0), body);
    assert!(bytes.len() <= 8 << 20, "fits a frame: {}", bytes.len());
    let before = net.node(0).footprint();
    deliver_frame(&mut net, 0, &bytes);
    assert_eq!(net.node(0).stats().dropped_for(DropReason::Malformed), 1);
    assert_eq!(net.node(0).footprint(), before);
    assert_eq!(net.node(0).all_peers(), vec![addr(1)]);
}

#[test]
fn absurd_versions_oversized_entries_and_immortal_events_are_bounded() {
    let limits = Limits {
        max_event_lifetime: Duration::from_secs(2),
        ..Limits::default()
    };
    let mut net = Net::new(2, |_| Config {
        limits: limits.clone(),
        ..cfg()
    });
    net.run_until(500);
    let mut f = Forger::new(addr(77));
    // Versions past the bound would pin the origin's copy forever.
    let huge = ack(addr(77), 5, u64::MAX, vec![user("k", u64::MAX, b"v")]);
    let big = f.seal(addr(0), huge);
    deliver_frame(&mut net, 0, &big);
    let beyond = ack(addr(77), 5, MAX_VERSION + 1, vec![]);
    let bytes = f.seal(addr(0), beyond);
    deliver_frame(&mut net, 0, &bytes);
    // Keys and values over the limits.
    let long_key = ack(addr(77), 5, 1, vec![user(&"k".repeat(2000), 1, b"v")]);
    let bytes = f.seal(addr(0), long_key);
    deliver_frame(&mut net, 0, &bytes);
    let big_value = ack(
        addr(77),
        5,
        1,
        vec![user("k", 1, &vec![0u8; (4 << 20) + 1])],
    );
    let bytes = f.seal(addr(0), big_value);
    deliver_frame(&mut net, 0, &bytes);
    assert_eq!(net.node(0).stats().dropped_for(DropReason::Malformed), 4);
    assert!(!net.node(0).all_peers().contains(&addr(77)));
    // An event meant to live forever lives at most max_event_lifetime.
    let forever = WireEntry {
        key: Key::Event(1),
        version: 1,
        value: Value::Event {
            name: "spam".into(),
            payload: Bytes::from_static(b"x"),
        },
        expires_at: Some(u64::MAX),
    };
    let bytes = f.seal(addr(0), ack(addr(77), 5, 1, vec![forever]));
    deliver_frame(&mut net, 0, &bytes);
    assert!(
        net.events[&addr(0)]
            .iter()
            .any(|e| matches!(e, Event::Heard { event, .. } if event == "spam"))
    );
    // A node that arrives after the lifetime must not hear it: it was clamped, not kept for
    // max_ttl (30 days).
    net.run_until(3_000);
    net.crashed.insert(addr(1));
    let earlier = net.events[&addr(1)].len();
    net.restart(
        1,
        9,
        Config {
            limits,
            seeds: vec![addr(0)],
            ..cfg()
        },
    );
    net.run_until(5_000);
    assert!(net.node(1).all_peers().contains(&addr(0)));
    assert!(
        !net.events[&addr(1)][earlier..]
            .iter()
            .any(|e| matches!(e, Event::Heard { event, .. } if event == "spam")),
        "the event outlived max_event_lifetime"
    );
}

#[test]
fn a_flood_of_fake_origins_stops_at_max_peers_and_max_total_bytes() {
    let limits = Limits {
        max_peers: 50,
        max_total_bytes: 200_000,
        ..Limits::default()
    };
    let mut net = Net::new(2, |_| Config {
        limits: limits.clone(),
        ..cfg()
    });
    net.run_until(500);
    let mut f = Forger::new(addr(77));
    for i in 0..500u32 {
        let origin = SocketAddr::from(([172, 16, (i >> 8) as u8, i as u8], 1));
        let body = ack(origin, 1, 1, vec![user("blob", 1, &[7u8; 10_000])]);
        let bytes = f.seal(addr(0), body);
        deliver_frame(&mut net, 0, &bytes);
    }
    let (_, bytes) = net.node(0).footprint();
    assert!(bytes <= 200_000, "held {bytes} bytes");
    assert!(net.node(0).all_peers().len() <= 50);
    // Honest state still flows within the limits.
    let t = Timestamp::from_millis(net.now);
    net.node(1).set(t, "small", "ok").unwrap();
    net.run_until(2_000);
    assert!(net.node(0).all_peers().contains(&addr(1)));
}

#[test]
fn a_forged_history_of_a_node_is_overturned_by_a_new_generation() {
    let mut net = Net::new(4, |_| cfg());
    let t = Timestamp::from_millis(net.now);
    net.node(0).set(t, "real", "1").unwrap();
    net.run_until(1_000);
    // A key holder tells node 2 that node 0 wrote "evil" at a version node 0 never reached.
    let mut f = Forger::new(addr(77));
    let lie = Body::Ack(Delta {
        origins: vec![OriginDelta {
            origin: addr(0),
            generation: 1,
            from_version: 2,
            up_to: 1_000,
            gc_floor: 0,
            entries: vec![user("evil", 1_000, b"x")].into(),
        }],
    });
    let bytes = f.seal(addr(2), lie);
    deliver_frame(&mut net, 2, &bytes);
    assert!(
        net.node(2).get_remote(&addr(0), "evil").is_some(),
        "the forgery landed"
    );
    net.run_until(4_000);
    assert!(net.node(0).stats().rebirths >= 1);
    for i in 0..4 {
        assert!(
            net.node(i).get_remote(&addr(0), "evil").is_none(),
            "node {i} kept the forgery"
        );
        assert_eq!(
            net.node(i).get_remote(&addr(0), "real").unwrap().as_ref(),
            b"1",
            "node {i}"
        );
        assert!(net.node(i).peer_generation(&addr(0)).unwrap() > 1);
    }
    assert!(net.converged());
}

#[test]
fn tiny_or_spoofed_messages_never_earn_large_replies() {
    let mut net = Net::new(2, |_| cfg());
    let t = Timestamp::from_millis(net.now);
    for k in 0..200 {
        net.node(0)
            .set(t, &format!("key{k}"), vec![1u8; 500])
            .unwrap();
    }
    net.run_until(1_000);
    // A key holder spoofs a first contact from a victim: cover All, nothing listed.
    let victim = addr(66);
    let mut f = Forger::new(victim);
    let syn = Body::Syn {
        digest: Digest {
            cover: Cover::All,
            entries: vec![],
        },
        summary: 0,
        origins: 1,
        cookie: 3,
        echo: 0,
        room: 0,
    };
    let request = f.seal(addr(0), syn);
    let now = Timestamp::from_millis(net.now);
    net.node(0).handle_datagram(now, victim, &request);
    let mut to_victim = 0;
    while let Some(t) = net.node(0).poll_transmit() {
        if t.destination == victim {
            assert_eq!(t.kind, TransmitKind::Datagram);
            to_victim += t.payload.len();
        }
    }
    assert!(to_victim > 0, "a first contact still gets the cookie");
    assert!(
        to_victim <= 3 * request.len(),
        "{to_victim} bytes answered {} bytes",
        request.len()
    );
    // A spoofed SynAck asking for everything is answered just as sparingly.
    let synack = Body::SynAck {
        digest: Digest {
            cover: Cover::All,
            entries: vec![],
        },
        delta: Delta::default(),
        summary: 0,
        origins: 1,
        cookie: 3,
        echo: 12345,
        room: 0,
    };
    let request = f.seal(addr(0), synack);
    net.node(0).handle_datagram(now, victim, &request);
    let mut to_victim = 0;
    while let Some(t) = net.node(0).poll_transmit() {
        if t.destination == victim {
            to_victim += t.payload.len();
        }
    }
    assert!(
        to_victim <= 3 * request.len(),
        "{to_victim} bytes answered {} bytes",
        request.len()
    );
    // Honest peers, who echo cookies, still get everything.
    assert_eq!(net.node(1).remote_keys(&addr(0)).len(), 200);
}

#[test]
fn a_forged_origin_count_triggers_no_catch_up() {
    let mut net = Net::new(2, |_| cfg());
    net.run_until(1_000);
    let victim = addr(66);
    let mut f = Forger::new(victim);
    let syn = Body::Syn {
        digest: Digest {
            cover: Cover::Listed,
            entries: vec![],
        },
        summary: 0,
        origins: u32::MAX,
        cookie: 3,
        echo: 0,
        room: 0,
    };
    let request = f.seal(addr(0), syn);
    let now = Timestamp::from_millis(net.now);
    net.node(0).handle_datagram(now, victim, &request);
    let to_victim: usize = std::iter::from_fn(|| net.node(0).poll_transmit())
        .filter(|t| t.destination == victim)
        .map(|t| t.payload.len())
        .sum();
    assert!(
        to_victim <= 3 * request.len(),
        "{to_victim} bytes answered {} bytes",
        request.len()
    );
}

/// A probe (a monitor that missed heartbeats asks for one) is answered with exactly one
/// heartbeat to the asker at once, whoever asks: one small message for one small message.
#[test]
fn a_probe_gets_one_heartbeat_back() {
    let mut net = Net::new(3, |_| cfg());
    net.run_until(500);
    let asker = addr(77);
    let heartbeats = |net: &mut Net| {
        net.node(0)
            .stats()
            .sent
            .get("heartbeat")
            .map_or(0, |t| t.messages)
    };
    let before = heartbeats(&mut net);
    let mut f = Forger::new(asker);
    let probe = f.seal(addr(0), Body::Probe);
    net.inject(asker, addr(0), &probe);
    assert_eq!(heartbeats(&mut net), before + 1);
    let to_asker = net
        .node(0)
        .peer_stats(&asker)
        .expect("the asker is known")
        .sent;
    assert_eq!(to_asker.messages, 1);
    assert!(to_asker.bytes <= probe.len() as u64 + 16, "{to_asker:?}");
}
