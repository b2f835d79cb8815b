//! Properties over random inputs: wire round-trips, arbitrary bytes never panic, and random
//! histories on a few nodes with loss, duplication and reordering converge.

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use common::{Net, addr};
use proptest::prelude::*;
use telepathine_core::wire::{
    Body, Cover, Delta, Digest, DigestEntry, Key, Message, OriginDelta, Sealer, Status, Value,
    WireEntry,
};
use telepathine_core::{Cipher, Config, NetworkKey, Node, NodeId, Timestamp};

fn any_addr() -> impl Strategy<Value = SocketAddr> {
    prop_oneof![
        (any::<[u8; 4]>(), any::<u16>()).prop_map(|(ip, p)| SocketAddr::from((ip, p))),
        (any::<[u8; 16]>(), any::<u16>()).prop_map(|(ip, p)| SocketAddr::from((ip, p))),
    ]
}

fn any_key() -> impl Strategy<Value = Key> {
    prop_oneof![
        ".{0,20}".prop_map(Key::User),
        any::<u64>().prop_map(Key::Event),
        Just(Key::Status),
        any_addr().prop_map(Key::Accuse),
    ]
}

fn any_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..40).prop_map(|v| Value::Bytes(Bytes::from(v))),
        Just(Value::Tombstone),
        (".{0,10}", proptest::collection::vec(any::<u8>(), 0..20)).prop_map(|(name, p)| {
            Value::Event {
                name,
                payload: Bytes::from(p),
            }
        }),
        (any::<u64>(), any::<bool>())
            .prop_map(|(incarnation, left)| Value::Status(Status { incarnation, left })),
        (any::<u64>(), any::<u64>()).prop_map(|(generation, incarnation)| Value::Accusation {
            generation,
            incarnation
        }),
    ]
}

fn any_delta() -> impl Strategy<Value = Delta> {
    let entry = (
        any_key(),
        any::<u64>(),
        any_value(),
        proptest::option::of(any::<u64>()),
    )
        .prop_map(|(key, version, value, expires_at)| WireEntry {
            key,
            version,
            value,
            expires_at,
        });
    let origin = (
        any_addr(),
        any::<u64>(),
        any::<u64>(),
        any::<u64>(),
        any::<u64>(),
        proptest::collection::vec(entry, 0..5),
    )
        .prop_map(
            |(origin, generation, from_version, up_to, gc_floor, entries)| OriginDelta {
                origin,
                generation,
                from_version,
                up_to,
                gc_floor,
                entries: entries.into(),
            },
        );
    proptest::collection::vec(origin, 0..4).prop_map(|origins| Delta { origins })
}

fn any_digest() -> impl Strategy<Value = Digest> {
    let cover = prop_oneof![
        Just(Cover::Listed),
        Just(Cover::All),
        (any_addr(), any_addr()).prop_map(|(from, to)| Cover::Range { from, to }),
    ];
    let entry =
        (any_addr(), any::<u64>(), any::<u64>()).prop_map(|(origin, generation, version)| {
            DigestEntry {
                origin,
                generation,
                version,
            }
        });
    (cover, proptest::collection::vec(entry, 0..6))
        .prop_map(|(cover, entries)| Digest { cover, entries })
}

fn any_message() -> impl Strategy<Value = Message> {
    let body = prop_oneof![
        (any_digest(), any::<[u64; 3]>()).prop_map(|(digest, [summary, cookie, echo])| Body::Syn {
            digest,
            summary,
            origins: summary as u32,
            cookie,
            echo,
            room: cookie as u32,
        }),
        (any_digest(), any_delta(), any::<[u64; 3]>()).prop_map(
            |(digest, delta, [summary, cookie, echo])| Body::SynAck {
                digest,
                delta,
                summary,
                origins: echo as u32,
                cookie,
                echo,
                room: summary as u32,
            }
        ),
        any_delta().prop_map(Body::Ack),
        (any::<u64>(), any::<bool>()).prop_map(|(incarnation, release)| Body::Heartbeat {
            incarnation,
            release
        }),
        Just(Body::Probe),
    ];
    (
        any_addr(),
        any::<u64>(),
        proptest::option::of(any_addr()),
        any::<u64>(),
        body,
    )
        .prop_map(|(addr, generation, to, seq, body)| Message {
            from: NodeId::new(addr, generation),
            to,
            seq,
            body,
        })
}

fn started(key: Option<NetworkKey>) -> Node {
    let config = Config {
        network_key: key,
        ..Config::default()
    };
    let mut n = Node::new(config, NodeId::new(addr(0), 1), 7).unwrap();
    n.start(Timestamp::from_millis(1));
    while n.poll_transmit().is_some() {}
    n
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn messages_round_trip(msg in any_message()) {
        let bytes = postcard::to_allocvec(&msg).unwrap();
        let back: Message = postcard::from_bytes(&bytes).unwrap();
        prop_assert_eq!(back, msg);
    }

    #[test]
    fn sealed_envelopes_round_trip(
        body in proptest::collection::vec(any::<u8>(), 0..300),
        seed in any::<u64>(),
        aes in any::<bool>(),
    ) {
        use rand_core::SeedableRng;
        let cipher = if aes { Cipher::Aes256GcmSiv } else { Cipher::XChaCha20Poly1305 };
        let key = NetworkKey::from_bytes([9; 32], 0).with_cipher(cipher);
        let sealer = Sealer::new("c", Some(&key));
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let env = sealer.seal(&body, &mut rng);
        prop_assert_eq!(env.len(), body.len() + sealer.overhead());
        let opened = sealer.open(&env).unwrap();
        prop_assert_eq!(opened.as_ref(), &body[..]);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
        let mut public = started(None);
        let mut sealed = started(Some(NetworkKey::from_bytes([3; 32], 0)));
        let mut aes = started(Some(
            NetworkKey::from_bytes([3; 32], 0).with_cipher(Cipher::Aes256GcmSiv),
        ));
        let now = Timestamp::from_millis(5);
        for n in [&mut public, &mut sealed, &mut aes] {
            n.handle_datagram(now, addr(1), &bytes);
            n.handle_frame(now, addr(1), &bytes);
            n.handle_timeout(now);
        }
        // Past a valid header, the bytes reach the decoder itself.
        let mut framed = telepathine_core::wire::MAGIC.to_vec();
        framed.extend([telepathine_core::wire::PROTOCOL_VERSION, 0, 0]);
        framed.extend(telepathine_core::wire::cluster_id("telepathine").to_le_bytes());
        framed.extend(&bytes);
        public.handle_datagram(now, addr(1), &framed);
        prop_assert_eq!(public.live_peers().len() + public.all_peers().len() < 1000, true);
    }

    #[test]
    fn authentic_but_hostile_messages_never_panic(msg in any_message()) {
        // A key holder can send any well-sealed message; the node must judge it, not crash.
        let mut node = started(None);
        let mut msg = msg;
        msg.to = None;
        let sealer = Sealer::new("telepathine", None);
        use rand_core::SeedableRng;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let env = sealer.seal(&postcard::to_allocvec(&msg).unwrap(), &mut rng);
        node.handle_frame(Timestamp::from_millis(10), addr(1), &env);
        node.handle_timeout(Timestamp::from_millis(10_000));
        while node.poll_transmit().is_some() {}
        while node.poll_event().is_some() {}
        prop_assert!(node.all_peers().len() <= 8);
    }
}

/// One scripted action of a random history.
#[derive(Clone, Debug)]
enum Op {
    Set {
        node: usize,
        key: u8,
        value: u8,
    },
    Expire {
        node: usize,
        key: u8,
        after_ms: u64,
    },
    Delete {
        node: usize,
        key: u8,
    },
    Say {
        node: usize,
        n: u8,
    },
    Restart {
        node: usize,
    },
    /// Cuts a node off from (or reconnects it to) all others.
    Isolate {
        node: usize,
    },
    Wait {
        ms: u64,
    },
}

fn any_op(nodes: usize) -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..nodes, 0u8..6, any::<u8>()).prop_map(|(node, key, value)| Op::Set { node, key, value }),
        1 => (0..nodes, 0u8..6, 100u64..3000).prop_map(|(node, key, after_ms)| Op::Expire { node, key, after_ms }),
        2 => (0..nodes, 0u8..6).prop_map(|(node, key)| Op::Delete { node, key }),
        1 => (0..nodes, any::<u8>()).prop_map(|(node, n)| Op::Say { node, n }),
        1 => (0..nodes).prop_map(|node| Op::Restart { node }),
        2 => (0..nodes).prop_map(|node| Op::Isolate { node }),
        3 => (10u64..1500).prop_map(|ms| Op::Wait { ms }),
    ]
}

fn cfg() -> Config {
    Config {
        gossip_interval: Duration::from_millis(100),
        heartbeat_interval: Duration::from_millis(100),
        tombstone_grace: Duration::from_millis(700),
        ..Config::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    /// Random writes, deletes, expiries, events and restarts on four nodes, under loss,
    /// duplication and reordering: versions never go backwards, and once the network is clean
    /// every node holds the same state, with restarted nodes' newest generation winning.
    #[test]
    fn random_histories_converge(
        ops in proptest::collection::vec(any_op(4), 1..40),
        loss in 0.0f64..0.3,
        dup in 0.0f64..0.3,
    ) {
        let mut net = Net::new(4, |_| cfg());
        net.loss = loss;
        net.dup = dup;
        net.jitter = 60;
        let mut generation = [1u64; 4];
        let mut seen: Vec<BTreeMap<SocketAddr, (u64, u64)>> = vec![BTreeMap::new(); 4];
        for op in ops {
            let t = Timestamp::from_millis(net.now);
            match op {
                Op::Set { node, key, value } => { net.node(node).set(t, &format!("k{key}"), vec![value]).unwrap(); }
                Op::Expire { node, key, after_ms } => {
                    let at = net.wall() + after_ms;
                    net.node(node).set_with_expiry(t, &format!("k{key}"), "e", at).unwrap();
                }
                Op::Delete { node, key } => { net.node(node).delete(t, &format!("k{key}")).unwrap(); }
                Op::Say { node, n } => { net.node(node).say(t, "ev", vec![n], None).unwrap(); }
                Op::Restart { node } => {
                    generation[node] += 1;
                    seen[node].clear();
                    let seeds = vec![addr((node + 1) % 4)];
                    net.restart(node, generation[node], Config { seeds, ..cfg() });
                }
                Op::Isolate { node } => {
                    let cut = net.cut.iter().any(|(a, _)| *a == addr(node));
                    for other in (0..4).filter(|o| *o != node) {
                        for pair in [(addr(node), addr(other)), (addr(other), addr(node))] {
                            if cut { net.cut.remove(&pair); } else { net.cut.insert(pair); }
                        }
                    }
                }
                Op::Wait { ms } => {
                    let until = net.now + ms;
                    net.run_until(until);
                }
            }
            for (i, view) in seen.iter_mut().enumerate() {
                for (origin, g, v) in net.node(i).versions() {
                    if let Some((pg, pv)) = view.get(&origin) {
                        prop_assert!(g > *pg || (g == *pg && v >= *pv), "node {} went back on {}", i, origin);
                    }
                    view.insert(origin, (g, v));
                }
            }
        }
        net.loss = 0.0;
        net.dup = 0.0;
        net.cut.clear();
        let until = net.now + 8_000;
        net.run_until(until);
        prop_assert!(
            net.converged(),
            "views differ: {:?}",
            net.live()
                .map(|(a, n)| (*a, n.versions(), (0..4).map(|j| (n.fingerprint(&addr(j)), n.remote_keys(&addr(j)))).collect::<Vec<_>>()))
                .collect::<Vec<_>>()
        );
        for i in 0..4 {
            for (j, g) in generation.iter().enumerate() {
                prop_assert_eq!(net.node(i).peer_generation(&addr(j)), Some(*g));
            }
            // Every node agrees with each owner about the owner's keys: deleted and expired
            // ones are gone everywhere, restarted owners' old keys too.
            for j in 0..4 {
                let keys: Vec<String> = net.node(i).remote_keys(&addr(j)).into_iter().map(String::from).collect();
                let own: Vec<String> = net.node(j).keys().into_iter().map(String::from).collect();
                prop_assert_eq!(keys, own, "node {} disagrees with {} about its keys", i, j);
            }
        }
    }
}
