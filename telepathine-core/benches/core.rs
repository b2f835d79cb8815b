//! Throughput of the core's hot paths: wire codec, sealing, digest handling, delta building.
//!
//! Run with `cargo bench -p telepathine-core`; figures are recorded in docs/performance.md.

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use rand_core::SeedableRng;
use telepathine_core::wire::{
    Body, Cover, Delta, Digest, DigestEntry, Key, Message, OriginDelta, Sealer, Value, WireEntry,
};
use telepathine_core::{Cipher, Config, NetworkKey, Node, NodeId, Timestamp};

fn addr(i: u32) -> SocketAddr {
    SocketAddr::from(([10, (i >> 16) as u8, (i >> 8) as u8, i as u8], 9000))
}

fn digest(n: u32) -> Digest {
    Digest {
        cover: Cover::All,
        entries: (0..n)
            .map(|i| DigestEntry {
                origin: addr(i),
                generation: 1_700_000_000_000 + u64::from(i),
                version: 40 + u64::from(i % 7),
            })
            .collect(),
    }
}

fn delta(entries: u64, value_bytes: usize) -> Delta {
    Delta {
        origins: vec![OriginDelta {
            origin: addr(1),
            generation: 1_700_000_000_000,
            from_version: 10,
            up_to: 10 + entries,
            gc_floor: 0,
            entries: (0..entries)
                .map(|i| WireEntry {
                    key: Key::User(format!("key-{i}")),
                    version: 11 + i,
                    value: Value::Bytes(Bytes::from(vec![7u8; value_bytes])),
                    expires_at: None,
                })
                .collect(),
        }],
    }
}

fn message(body: Body) -> Message {
    Message {
        from: NodeId::new(addr(0), 1),
        to: Some(addr(1)),
        seq: 9,
        body,
    }
}

fn codec(c: &mut Criterion) {
    let mut g = c.benchmark_group("codec");
    let d = message(Body::Syn {
        digest: digest(1000),
        summary: 1,
        origins: 1000,
        cookie: 2,
        echo: 3,
        room: 0,
    });
    let bytes = postcard::to_allocvec(&d).unwrap();
    g.throughput(Throughput::Elements(1000));
    g.bench_function("encode digest 1000 entries", |b| {
        b.iter(|| postcard::to_allocvec(black_box(&d)).unwrap())
    });
    g.bench_function("decode digest 1000 entries", |b| {
        b.iter(|| postcard::from_bytes::<Message>(black_box(&bytes)).unwrap())
    });
    let x = message(Body::Ack(delta(100, 100)));
    let bytes = postcard::to_allocvec(&x).unwrap();
    g.throughput(Throughput::Bytes(bytes.len() as u64));
    g.bench_function("encode delta 100x100B", |b| {
        b.iter(|| postcard::to_allocvec(black_box(&x)).unwrap())
    });
    g.bench_function("decode delta 100x100B", |b| {
        b.iter(|| postcard::from_bytes::<Message>(black_box(&bytes)).unwrap())
    });
    g.finish();
}

fn sealing(c: &mut Criterion) {
    let mut g = c.benchmark_group("seal");
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    for cipher in Cipher::ALL {
        let key = NetworkKey::from_bytes([3; 32], 0).with_cipher(cipher);
        let sealer = Sealer::new("bench", Some(&key));
        for size in [64usize, 1024, 64 * 1024] {
            let body = vec![5u8; size];
            let sealed = sealer.seal(&body, &mut rng);
            g.throughput(Throughput::Bytes(size as u64));
            g.bench_function(format!("seal {cipher} {size}B"), |b| {
                b.iter(|| sealer.seal(black_box(&body), &mut rng))
            });
            g.bench_function(format!("open {cipher} {size}B"), |b| {
                b.iter(|| sealer.open(black_box(&sealed)).unwrap())
            });
        }
    }
    g.finish();
}

/// A started node with no peers, that accepts up to 200,000.
fn empty_node() -> Node {
    let config = Config {
        limits: telepathine_core::Limits {
            max_peers: 200_000,
            ..Default::default()
        },
        ..Config::default()
    };
    let mut node = Node::new(config, NodeId::new(addr(0), 1), 1).unwrap();
    node.start(Timestamp::ZERO);
    node
}

/// Frames from peer `n + 1` that introduce origins 1 to `n` in address order, each with one
/// key, 5,000 a frame.
fn introductions(n: u32) -> Vec<Vec<u8>> {
    let sealer = Sealer::new("telepathine", None);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2);
    let origins: Vec<OriginDelta> = (1..=n)
        .map(|i| OriginDelta {
            origin: addr(i),
            generation: 1,
            from_version: 0,
            up_to: 1,
            gc_floor: 0,
            entries: vec![WireEntry {
                key: Key::User("k".into()),
                version: 1,
                value: Value::Bytes(Bytes::from_static(b"v")),
                expires_at: None,
            }]
            .into(),
        })
        .collect();
    origins
        .chunks(5_000)
        .enumerate()
        .map(|(seq, chunk)| {
            let msg = Message {
                from: NodeId::new(addr(n + 1), 1),
                to: None,
                seq: seq as u64 + 1,
                body: Body::Ack(Delta {
                    origins: chunk.to_vec(),
                }),
            };
            sealer.seal(&postcard::to_allocvec(&msg).unwrap(), &mut rng)
        })
        .collect()
}

/// Hands `frames` from peer `n + 1` to `node` and drains what it emits.
fn learn(node: &mut Node, n: u32, frames: &[Vec<u8>]) {
    for frame in frames {
        node.handle_frame(Timestamp::from_millis(1), addr(n + 1), frame);
    }
    while node.poll_transmit().is_some() {}
    while node.poll_event().is_some() {}
}

/// A node that holds `n` origins, learned from a peer.
fn populated(n: u32) -> Node {
    let mut node = empty_node();
    learn(&mut node, n, &introductions(n));
    node
}

/// A joining node's largest piece of work: a catch-up that introduces every peer at once.
fn join(c: &mut Criterion) {
    let mut g = c.benchmark_group("join");
    g.sample_size(10).measurement_time(Duration::from_secs(5));
    for n in [1_000u32, 10_000] {
        let frames = introductions(n);
        g.throughput(Throughput::Elements(u64::from(n)));
        g.bench_function(format!("learn {n} origins in a catch-up"), |b| {
            b.iter_batched(
                empty_node,
                |mut node| {
                    learn(&mut node, n, &frames);
                    node
                },
                BatchSize::LargeInput,
            )
        });
    }
    g.finish();
}

fn syn(
    sealer: &Sealer,
    rng: &mut rand_chacha::ChaCha8Rng,
    from: SocketAddr,
    seq: u64,
    digest: Digest,
    echo: u64,
) -> Vec<u8> {
    let body = Body::Syn {
        digest,
        summary: 0,
        origins: 1,
        cookie: 1,
        echo,
        room: 0,
    };
    let msg = Message {
        from: NodeId::new(from, 1),
        to: Some(addr(0)),
        seq,
        body,
    };
    sealer.seal(&postcard::to_allocvec(&msg).unwrap(), rng)
}

fn digests(c: &mut Criterion) {
    let mut g = c.benchmark_group("handle_datagram");
    g.sample_size(30).measurement_time(Duration::from_secs(3));
    let sealer = Sealer::new("telepathine", None);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    for n in [1_000u32, 10_000] {
        let mut node = populated(n);
        let peer = addr(n + 2);
        // The largest digest a peer sends: a datagram's worth of entries, all agreeing.
        let entries: Vec<DigestEntry> = (1..=90)
            .map(|i| DigestEntry {
                origin: addr(i),
                generation: 1,
                version: 1,
            })
            .collect();
        let window = Digest {
            cover: Cover::Range {
                from: addr(1),
                to: addr(90),
            },
            entries,
        };
        let probe = syn(&sealer, &mut rng, peer, 1, window.clone(), 0);
        assert!(probe.len() <= 1400, "{}", probe.len());
        let mut seq = 1;
        g.throughput(Throughput::Elements(90));
        g.bench_function(format!("window digest at {n} origins"), |b| {
            b.iter_batched(
                || {
                    seq += 1;
                    syn(&sealer, &mut rng, peer, seq, window.clone(), 0)
                },
                |dg| {
                    node.handle_datagram(Timestamp::from_millis(2), peer, &dg);
                    while node.poll_transmit().is_some() {}
                },
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

/// The cookie a node hands `peer` in its reply to a first `Syn`.
fn cookie_from(
    node: &mut Node,
    sealer: &Sealer,
    rng: &mut rand_chacha::ChaCha8Rng,
    peer: SocketAddr,
) -> u64 {
    let probe = syn(sealer, rng, peer, 1, Digest::default(), 0);
    node.handle_datagram(Timestamp::from_millis(2), peer, &probe);
    let reply = node.poll_transmit().expect("a reply");
    while node.poll_transmit().is_some() {}
    let body = sealer.open(&reply.payload).unwrap();
    match postcard::from_bytes::<Message>(&body).unwrap().body {
        Body::SynAck { cookie, .. } => cookie,
        other => panic!("unexpected {other:?}"),
    }
}

fn stale_peer(c: &mut Criterion) {
    let mut g = c.benchmark_group("delta");
    g.sample_size(10).measurement_time(Duration::from_secs(5));
    let limits = telepathine_core::Limits {
        max_keys_per_origin: 200_000,
        ..Default::default()
    };
    let mut node = Node::new(
        Config {
            limits,
            ..Config::default()
        },
        NodeId::new(addr(0), 1),
        1,
    )
    .unwrap();
    node.start(Timestamp::ZERO);
    for i in 0..100_000 {
        node.set(
            Timestamp::ZERO,
            &format!("key-{i:06}"),
            Bytes::from_static(b"0123456789"),
        )
        .unwrap();
    }
    while node.poll_event().is_some() {}
    while node.poll_transmit().is_some() {}
    let sealer = Sealer::new("telepathine", None);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(4);
    let peer = addr(77);
    let echo = cookie_from(&mut node, &sealer, &mut rng, peer);
    // The peer knows the node but holds none of its keys.
    let stale = Digest {
        cover: Cover::Listed,
        entries: vec![DigestEntry {
            origin: addr(0),
            generation: 1,
            version: 1,
        }],
    };
    let mut seq = 1;
    g.throughput(Throughput::Elements(100_000));
    g.bench_function("100000 keys to a stale peer", |b| {
        b.iter_batched(
            || {
                seq += 1;
                syn(&sealer, &mut rng, peer, seq, stale.clone(), echo)
            },
            |dg| {
                node.handle_datagram(Timestamp::from_millis(3), peer, &dg);
                let t = node.poll_transmit().expect("the catch-up frame");
                assert_eq!(t.kind, telepathine_core::TransmitKind::Stream);
                t
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group!(benches, codec, sealing, digests, stale_peer, join);
criterion_main!(benches);
