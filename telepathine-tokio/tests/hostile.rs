//! Hostile peers against a node on real loopback sockets (issue 6): garbage floods over UDP and
//! TCP, stalled and oversized frames, thousands of connections, memory, and replays of sealed
//! datagrams captured on the wire. The core-level versions of these threats are in
//! `telepathine-core/tests/hostile.rs`; these check that the socket layer keeps the same
//! promises.
//!
//! Every test runs alone (a process-wide lock): the memory test reads the whole process's RSS,
//! and the floods would otherwise compete for the same two cores and make timing flaky.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use telepathine_core::wire::{FRAME_HEADER_LEN, MAGIC, PROTOCOL_VERSION, cluster_id, encode_frame};
use telepathine_tokio::{Builder, Cipher, DropReason, Limits, NetworkKey, Telepathine};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

/// Bound on every test body.
const TEST_LIMIT: Duration = Duration::from_secs(25);
/// Bound on one awaited condition.
const WAIT_LIMIT: Duration = Duration::from_secs(10);
/// The cluster name every node uses (the default): garbage is crafted to pass its header check.
const CLUSTER: &str = "telepathine";
/// Nonce and tag of the nodes' suite (the default), so crafted lengths land where they aim.
const SEAL_OVERHEAD: usize = Cipher::XChaCha20Poly1305.seal_overhead();
/// Generous bound on the resident memory a flood may add: a leak or an unbounded buffer per
/// message or connection would blow well past it.
const RSS_GROWTH_LIMIT: u64 = 64 << 20;

/// Runs tests one at a time (see the module comment).
static SERIAL: Mutex<()> = Mutex::new(());

/// Runs `body` on its own two-worker runtime, as an application would, failing after
/// [`TEST_LIMIT`].
fn run<F: Future>(body: F) -> F::Output {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(async {
            tokio::time::timeout(TEST_LIMIT, body)
                .await
                .unwrap_or_else(|_| panic!("test body exceeded {TEST_LIMIT:?}"))
        })
}

/// Waits until `condition` holds, polling every 5 ms, failing after [`WAIT_LIMIT`].
async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let start = Instant::now();
    while !condition() {
        assert!(
            start.elapsed() < WAIT_LIMIT,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The network key, derived once per test (Argon2id is deliberately slow).
fn network_key() -> NetworkKey {
    NetworkKey::from_passphrase("hostile sockets", CLUSTER)
}

/// A private node with the short intervals the tests use.
fn fast(key: &NetworkKey) -> Builder {
    Telepathine::builder()
        .network_key_derived(key.clone())
        .gossip_interval(Duration::from_millis(100))
        .heartbeat_interval(Duration::from_millis(100))
        .configure(|c| {
            // A loaded machine delays heartbeats; a generous floor keeps phi from convicting
            // live nodes while the test floods one of them.
            c.phi_min_std_dev = Duration::from_millis(500);
        })
}

/// Starts `n` nodes, node `i > 0` seeded with node `i - 1`, node `i` built by `builder(i)`, and
/// waits until every node sees every other alive.
async fn cluster(n: usize, builder: impl Fn(usize) -> Builder) -> Vec<Telepathine> {
    let mut nodes: Vec<Telepathine> = Vec::new();
    for i in 0..n {
        let mut b = builder(i);
        if let Some(prev) = nodes.last() {
            b = b.seeds([prev.local_addr()]);
        }
        nodes.push(b.start().await.expect("node starts"));
    }
    let names: Vec<SocketAddr> = nodes.iter().map(|n| n.peer_name()).collect();
    eventually("every node sees every other alive", || {
        nodes.iter().all(|n| {
            let live = n.live_peers();
            names
                .iter()
                .all(|p| *p == n.peer_name() || live.contains(p))
        })
    })
    .await;
    nodes
}

async fn stop_all(nodes: &[Telepathine]) {
    for n in nodes {
        n.stop().await.expect("stop");
    }
}

/// Sets a fresh key on `writer` and waits until every node in `readers` holds it: the honest
/// part of the cluster still converges.
async fn converges(writer: &Telepathine, readers: &[&Telepathine], key: &str) {
    writer.set(key, "honest").expect("set");
    let origin = writer.peer_name();
    eventually(&format!("every honest node learns {key}"), || {
        readers
            .iter()
            .all(|r| r.get_remote(&origin, key).is_some_and(|v| v == "honest"))
    })
    .await;
}

/// The process's resident memory in bytes (`VmRSS` of `/proc/self/status`).
fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .expect("VmRSS line");
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .expect("VmRSS value");
    kib * 1024
}

fn assert_rss_growth_bounded(before: u64, what: &str) {
    let after = rss();
    let growth = after.saturating_sub(before);
    assert!(
        growth < RSS_GROWTH_LIMIT,
        "{what}: resident memory grew by {} MiB ({} -> {} MiB)",
        growth >> 20,
        before >> 20,
        after >> 20
    );
}

/// Every drop reason garbage can earn before it is authenticated. Honest members of the
/// cluster never earn these, so their sum counts exactly the garbage the node received.
const GARBAGE_REASONS: [DropReason; 10] = [
    DropReason::BadMagic,
    DropReason::UnsupportedVersion,
    DropReason::WrongCluster,
    DropReason::Unsealed,
    DropReason::UnexpectedSeal,
    DropReason::UnknownKey,
    DropReason::WrongCipher,
    DropReason::Forged,
    DropReason::Malformed,
    DropReason::Oversize,
];

fn garbage_dropped(node: &Telepathine) -> u64 {
    let stats = node.stats();
    GARBAGE_REASONS.iter().map(|r| stats.dropped_for(*r)).sum()
}

/// A small deterministic generator (xorshift64*): no extra dependency, reproducible floods.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

/// The 9-byte envelope header the node expects, so that garbage gets past the cheap checks and
/// reaches the expensive ones (AEAD open, decoding).
fn header(sealed: bool, key_id: u8) -> Vec<u8> {
    let mut h = vec![
        MAGIC[0],
        MAGIC[1],
        PROTOCOL_VERSION,
        u8::from(sealed),
        key_id,
    ];
    h.extend_from_slice(&cluster_id(CLUSTER).to_le_bytes());
    h
}

/// One piece of garbage of kind `kind`, at most `max` bytes: random bytes, a truncated header,
/// a valid sealed header over random ciphertext, a sealed header truncated inside the nonce or
/// tag, an unsealed body on a private network, or a header that is wrong in one field.
fn garbage(rng: &mut Rng, kind: usize, key_id: u8, max: usize) -> Vec<u8> {
    let h = header(true, key_id);
    match kind % 6 {
        0 => {
            let len = 1 + rng.below(max);
            rng.bytes(len)
        }
        1 => h[..1 + rng.below(h.len() - 1)].to_vec(),
        2 => {
            let mut g = h;
            let len = SEAL_OVERHEAD + 1 + rng.below(max - g.len() - SEAL_OVERHEAD);
            g.extend(rng.bytes(len));
            g
        }
        3 => {
            let mut g = h;
            let len = rng.below(SEAL_OVERHEAD);
            g.extend(rng.bytes(len));
            g
        }
        4 => {
            let mut g = header(false, 0);
            let len = 1 + rng.below(max - g.len());
            g.extend(rng.bytes(len));
            g
        }
        _ => {
            let mut g = h;
            // Break the version, the flags or the cluster id.
            let field = [2, 3, 5][rng.below(3)];
            g[field] ^= 0x40;
            let len = rng.below(max - g.len());
            g.extend(rng.bytes(len));
            g
        }
    }
}

/// Reads from `stream` until the node closes it (EOF or reset), failing after `limit`.
/// Returns how long it took.
async fn closed_within(stream: &mut TcpStream, limit: Duration, what: &str) -> Duration {
    let start = Instant::now();
    let mut buf = [0u8; 256];
    loop {
        match tokio::time::timeout(limit.saturating_sub(start.elapsed()), stream.read(&mut buf))
            .await
        {
            Ok(Ok(0) | Err(_)) => return start.elapsed(),
            // The node never writes on an inbound connection; ignore it if it ever did.
            Ok(Ok(_)) => continue,
            Err(_) => panic!("{what}: still open after {limit:?}"),
        }
    }
}

// ----- 1. floods of garbage -----

/// Datagrams sent between two waits for the node to count them: few enough that they fit the
/// default socket receive buffer (212,992 bytes, about 2 KiB of it per small datagram), so the
/// kernel never drops one and every datagram sent must show up in the counters.
const DATAGRAMS_PER_ROUND: usize = 24;
const FRAMES_PER_ROUND: usize = 12;
const MIN_DATAGRAMS: u64 = 3_000;
const MIN_FRAMES: u64 = 1_000;
/// The largest datagram loopback carries (64 KiB less the IP and UDP headers).
const MAX_DATAGRAM: usize = 65_507;

/// Thousands of malformed, truncated, oversized and random datagrams and frames at one member
/// of a private cluster: each is dropped and counted under a pre-authentication reason, no
/// connection is closed for them (their framing is valid), memory stays bounded, and the
/// honest members converge on a key set while the flood runs.
#[test]
fn garbage_floods_are_dropped_counted_and_harmless() {
    run(async {
        let key = network_key();
        let nodes = cluster(3, |_| fast(&key)).await;
        let target = nodes[0].clone();
        let addr = target.local_addr();
        let rss_before = rss();
        let base = garbage_dropped(&target);
        let base_oversize = target.stats().dropped_for(DropReason::Oversize);
        let base_forged = target.stats().dropped_for(DropReason::Forged);
        let base_closed = target.io_stats().connections_closed_bad_input;
        let converged = std::sync::Arc::new(AtomicBool::new(false));

        let flood = {
            let converged = converged.clone();
            let key_id = key.id();
            tokio::spawn(async move {
                let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
                let udp = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
                let mut streams = Vec::new();
                for _ in 0..4 {
                    streams.push(TcpStream::connect(addr).await.expect("connect"));
                }
                let (mut datagrams, mut frames, mut oversized) = (0u64, 0u64, 0u64);
                let mut round = 0usize;
                // Keep flooding until the honest nodes have converged *during* the flood, and
                // at least the minimum was sent.
                while !(converged.load(Ordering::Acquire)
                    && datagrams >= MIN_DATAGRAMS
                    && frames >= MIN_FRAMES)
                {
                    round += 1;
                    if round.is_multiple_of(8) {
                        // A 64 KiB datagram fills a third of the receive buffer: alone in its
                        // round. It is over the datagram budget: Oversize.
                        let mut g = header(true, key_id);
                        g.extend(rng.bytes(MAX_DATAGRAM - g.len()));
                        udp.send_to(&g, addr).await.expect("send");
                        datagrams += 1;
                        oversized += 1;
                    } else {
                        for i in 0..DATAGRAMS_PER_ROUND {
                            let g = garbage(&mut rng, i, key_id, 1_200);
                            udp.send_to(&g, addr).await.expect("send");
                            datagrams += 1;
                        }
                    }
                    for i in 0..FRAMES_PER_ROUND {
                        // Frames may be larger than datagrams; one in a round is 64 KiB.
                        let max = if i == 0 { 64 << 10 } else { 4_096 };
                        let payload = garbage(&mut rng, i + round, key_id, max);
                        let stream = &mut streams[i % 4];
                        stream
                            .write_all(&encode_frame(&payload))
                            .await
                            .expect("write");
                        frames += 1;
                    }
                    // Wait for the node to count everything sent so far before sending more.
                    let want = base + datagrams + frames;
                    let start = Instant::now();
                    while garbage_dropped(&target) < want {
                        assert!(
                            start.elapsed() < WAIT_LIMIT,
                            "round {round}: {} of {} garbage messages counted",
                            garbage_dropped(&target) - base,
                            want - base
                        );
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                }
                (datagrams, frames, oversized, streams)
            })
        };

        // The honest members converge while the flood runs (the flood waits for this).
        tokio::time::sleep(Duration::from_millis(50)).await;
        converges(&nodes[2], &[&nodes[0], &nodes[1]], "during.flood").await;
        converges(&nodes[0], &[&nodes[1], &nodes[2]], "from.the.target").await;
        converged.store(true, Ordering::Release);
        let (datagrams, frames, oversized, streams) = flood.await.expect("flood task");

        let dropped = garbage_dropped(&nodes[0]) - base;
        assert_eq!(
            dropped,
            datagrams + frames,
            "every datagram and frame is dropped and counted, exactly once"
        );
        let stats = nodes[0].stats();
        assert!(stats.dropped_for(DropReason::Oversize) - base_oversize >= oversized);
        assert!(
            stats.dropped_for(DropReason::Forged) - base_forged > 0,
            "sealed garbage reached the AEAD check and failed it"
        );
        for reason in [
            DropReason::BadMagic,
            DropReason::UnsupportedVersion,
            DropReason::WrongCluster,
            DropReason::Unsealed,
            DropReason::Malformed,
        ] {
            assert!(stats.dropped_for(reason) > 0, "no {reason:?} drop counted");
        }
        assert_eq!(
            nodes[0].io_stats().connections_closed_bad_input,
            base_closed,
            "well-framed garbage costs the node a message, not the connection"
        );
        // The flood's connections are still open: the node kept reading them.
        for mut s in streams {
            let mut buf = [0u8; 1];
            assert!(
                tokio::time::timeout(Duration::from_millis(20), s.read(&mut buf))
                    .await
                    .is_err(),
                "the node closed a connection that only carried well-framed garbage"
            );
        }
        assert_rss_growth_bounded(rss_before, "garbage flood");
        stop_all(&nodes).await;
    });
}

// ----- 2. and 3. frames that never finish, or are too big -----

/// A stream that announces a large frame and stalls is closed within the node's read patience
/// (`idle_timeout + io_timeout`); so is one that trickles the frame a byte at a time, which a
/// per-read timeout alone would keep open forever. The node keeps working meanwhile.
#[test]
fn stalled_and_trickled_frames_are_closed_within_the_read_timeout() {
    run(async {
        let key = network_key();
        let io_timeout = Duration::from_millis(300);
        let idle_timeout = Duration::from_millis(300);
        let patience = io_timeout + idle_timeout;
        let nodes = cluster(2, |i| {
            let b = fast(&key);
            if i == 0 {
                b.io_timeout(io_timeout).idle_timeout(idle_timeout)
            } else {
                b
            }
        })
        .await;
        let addr = nodes[0].local_addr();
        let announced: u32 = 1 << 20;

        // Announces 1 MiB, sends 1,000 bytes of it, then nothing.
        let mut stalled = TcpStream::connect(addr).await.expect("connect");
        let mut start = announced.to_be_bytes().to_vec();
        start.extend(vec![0x5a; 1_000]);
        stalled.write_all(&start).await.expect("write");

        // Announces 1 MiB and then sends one byte every 100 ms: every read completes well
        // within the read timeout, but the frame never does.
        let mut trickled = TcpStream::connect(addr).await.expect("connect");
        trickled
            .write_all(&announced.to_be_bytes())
            .await
            .expect("write");
        let trickle = tokio::spawn(async move {
            let begun = Instant::now();
            let mut interval = tokio::time::interval(Duration::from_millis(100));
            loop {
                interval.tick().await;
                if trickled.write_all(&[0x5a]).await.is_err() {
                    // Closed by the node (a reset shows up on a later write).
                    return Some(begun.elapsed());
                }
                if begun.elapsed() > patience * 6 {
                    return None;
                }
            }
        });

        let closed_before = nodes[0].io_stats().connections_closed_bad_input;
        let took = closed_within(&mut stalled, patience * 4, "stalled frame").await;
        assert!(
            took >= patience.saturating_sub(Duration::from_millis(100)),
            "closed after {took:?}, before the read timeout: not for stalling"
        );
        let took = trickle.await.expect("trickle task");
        assert!(
            took.is_some(),
            "a frame trickled a byte at a time stayed open for {:?}",
            patience * 6
        );
        assert_eq!(
            nodes[0].io_stats().connections_closed_bad_input - closed_before,
            2,
            "both unfinished frames are counted as bad input"
        );

        // Still working: the cluster converges both ways, over fresh connections.
        converges(&nodes[1], &[&nodes[0]], "after.stall").await;
        converges(&nodes[0], &[&nodes[1]], "after.stall.back").await;
        stop_all(&nodes).await;
    });
}

/// A header announcing a frame over the cap (or an empty one) closes the connection at once,
/// long before any timeout, and is counted; nothing of the frame is buffered.
#[test]
fn oversized_frame_headers_close_the_connection_at_once() {
    run(async {
        let key = network_key();
        let cap = 1usize << 20;
        // Long timeouts, so a close within a second can only be the header check.
        let nodes = cluster(2, |_| {
            fast(&key)
                .limits(Limits {
                    max_frame_bytes: cap,
                    ..Limits::default()
                })
                .io_timeout(Duration::from_secs(10))
                .idle_timeout(Duration::from_secs(30))
        })
        .await;
        let addr = nodes[0].local_addr();
        let closed_before = nodes[0].io_stats().connections_closed_bad_input;
        let headers: [u32; 3] = [cap as u32 + 1, u32::MAX, 0];
        for announced in headers {
            let mut s = TcpStream::connect(addr).await.expect("connect");
            s.write_all(&announced.to_be_bytes()).await.expect("write");
            // Follow with some of the "frame", as an attacker would.
            let _ = s.write_all(&[0xa5; 16 << 10]).await;
            let took = closed_within(
                &mut s,
                Duration::from_secs(2),
                &format!("header announcing {announced} bytes"),
            )
            .await;
            assert!(took < Duration::from_secs(2));
        }
        eventually("every bad header is counted", || {
            nodes[0].io_stats().connections_closed_bad_input - closed_before == headers.len() as u64
        })
        .await;
        // A frame at the cap is still fine: honest traffic over TCP goes on.
        let mut s = TcpStream::connect(addr).await.expect("connect");
        let payload = vec![0u8; cap];
        let mut frame = (cap as u32).to_be_bytes().to_vec();
        frame.extend(&payload);
        assert_eq!(frame.len(), cap + FRAME_HEADER_LEN);
        let forged_before = garbage_dropped(&nodes[0]);
        s.write_all(&frame).await.expect("write");
        eventually("the frame at the cap is read and judged", || {
            garbage_dropped(&nodes[0]) > forged_before
        })
        .await;
        converges(&nodes[1], &[&nodes[0]], "after.oversize").await;
        stop_all(&nodes).await;
    });
}

// ----- 4. thousands of connections -----

/// 2,000 connections opened at once: the node keeps at most `max_connections` of them open and
/// refuses (closes) the rest, memory stays bounded, and the cluster converges meanwhile.
#[test]
fn thousands_of_connections_stay_within_max_connections() {
    const ATTACKERS: usize = 2_000;
    const MAX: usize = 64;
    run(async {
        let key = network_key();
        let nodes = cluster(3, |i| {
            let b = fast(&key);
            if i == 0 { b.max_connections(MAX) } else { b }
        })
        .await;
        let addr = nodes[0].local_addr();
        let refused_before = nodes[0].io_stats().connections_refused;
        let rss_before = rss();

        let mut connecting = tokio::task::JoinSet::new();
        for _ in 0..ATTACKERS {
            connecting.spawn(async move {
                tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(addr)).await
            });
        }
        let mut streams = Vec::new();
        while let Some(r) = connecting.join_next().await {
            if let Ok(Ok(s)) = r.expect("connect task") {
                streams.push(s);
            }
        }
        let connected = streams.len();
        assert!(
            connected >= ATTACKERS * 3 / 4,
            "only {connected} of {ATTACKERS} connections were accepted by the kernel"
        );
        // The cluster converges while the connections are held.
        converges(&nodes[1], &[&nodes[0], &nodes[2]], "while.held").await;

        // Which connections did the node keep? Each attacker sends one byte (the start of a
        // frame header) and listens: a kept connection stays silent, a refused one reads EOF
        // or a reset. Writing matters: when the accept queue overflowed, the kernel completed
        // some handshakes with SYN cookies without queueing them, and only data makes those
        // connections real (and then refused) rather than silently dead.
        let mut probing = tokio::task::JoinSet::new();
        for mut s in streams {
            probing.spawn(async move {
                let mut buf = [0u8; 1];
                let open = s.write_all(&[0]).await.is_ok()
                    && tokio::time::timeout(Duration::from_millis(500), s.read(&mut buf))
                        .await
                        .is_err();
                (open, s)
            });
        }
        let mut open = Vec::new();
        while let Some(r) = probing.join_next().await {
            let (is_open, s) = r.expect("probe task");
            if is_open {
                open.push(s);
            }
        }
        // Every attacker connection the node did not keep was accepted and refused (honest
        // peers may hold a few slots, so the node can refuse more, never fewer).
        let must_refuse = (connected - MAX) as u64;
        eventually("the node counts the refused connections", || {
            nodes[0].io_stats().connections_refused - refused_before >= must_refuse
        })
        .await;
        assert!(
            open.len() <= MAX,
            "{} attacker connections open, over max_connections {MAX}",
            open.len()
        );
        assert!(!open.is_empty(), "the node accepted none at all");
        assert_rss_growth_bounded(rss_before, "2,000 connections");

        // Once the attacker lets go, the slots free up: a new connection is kept, not refused.
        drop(open);
        let refused = nodes[0].io_stats().connections_refused;
        let mut fresh = None;
        let start = Instant::now();
        while fresh.is_none() {
            assert!(start.elapsed() < WAIT_LIMIT, "no slot freed up");
            let mut s = TcpStream::connect(addr).await.expect("connect");
            let mut buf = [0u8; 1];
            if tokio::time::timeout(Duration::from_millis(100), s.read(&mut buf))
                .await
                .is_err()
            {
                fresh = Some(s);
            }
        }
        assert!(nodes[0].io_stats().connections_refused >= refused);
        converges(&nodes[2], &[&nodes[0], &nodes[1]], "after.release").await;
        stop_all(&nodes).await;
    });
}

// ----- 5. memory under many half-sent frames -----

/// `max_connections` connections each holding a frame one byte short of complete: the node
/// buffers at most the frame cap for each (bounded memory), and reading them costs no more.
/// Then the attacker sends the last byte of each frame, and the node judges every one.
#[test]
fn half_sent_frames_on_every_connection_keep_memory_bounded() {
    const CONNS: usize = 24;
    run(async {
        let key = network_key();
        let cap = 1usize << 20;
        let nodes = cluster(2, |i| {
            let b = fast(&key);
            if i == 0 {
                b.max_connections(CONNS + 8).limits(Limits {
                    max_frame_bytes: cap,
                    ..Limits::default()
                })
            } else {
                b
            }
        })
        .await;
        let addr = nodes[0].local_addr();
        let rss_before = rss();
        let dropped_before = garbage_dropped(&nodes[0]);
        let mut rng = Rng(7);
        let mut streams = Vec::new();
        for _ in 0..CONNS {
            let mut s = TcpStream::connect(addr).await.expect("connect");
            let mut frame = header(true, key.id());
            frame.extend(rng.bytes(cap - frame.len()));
            let frame = encode_frame(&frame);
            s.write_all(&frame[..frame.len() - 1]).await.expect("write");
            streams.push((s, *frame.last().expect("last byte")));
        }
        // Everything but the last bytes is in the node's buffers: at most the cap each.
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(garbage_dropped(&nodes[0]), dropped_before);
        assert_rss_growth_bounded(rss_before, "half-sent frames");
        for (s, last) in &mut streams {
            s.write_all(&[*last]).await.expect("write");
        }
        eventually("every completed frame is judged", || {
            garbage_dropped(&nodes[0]) - dropped_before == CONNS as u64
        })
        .await;
        assert_rss_growth_bounded(rss_before, "completed frames");
        converges(&nodes[1], &[&nodes[0]], "after.half.frames").await;
        stop_all(&nodes).await;
    });
}

// ----- 6. replays captured on the wire -----

/// A UDP relay standing between node A and node B records every sealed datagram A sends B (a
/// `say` among them); resent later, each is counted as `Replayed` and has no effect: B hears
/// the event once and accepts no message from the replays.
#[test]
fn captured_datagrams_replayed_later_are_dropped_as_replays() {
    run(async {
        let key = network_key();
        let b = fast(&key).start().await.expect("start B");
        let b_addr = b.local_addr();
        let relay = std::sync::Arc::new(UdpSocket::bind("127.0.0.1:0").await.expect("bind"));
        let relay_addr = relay.local_addr().expect("relay addr");
        // A sends everything for B to the relay (the NAT map redirects B's address); B answers
        // A directly. A's TCP to B also goes to the relay's port, where nothing listens, so
        // every message from A to B crosses the relay as a datagram.
        let a = fast(&key)
            .address_map([(b_addr, relay_addr)])
            .seeds([b_addr])
            .start()
            .await
            .expect("start A");
        let a_addr = a.local_addr();
        let forwarding = std::sync::Arc::new(AtomicBool::new(true));
        let captured = std::sync::Arc::new(Mutex::new(Vec::<Vec<u8>>::new()));
        let relay_task = {
            let (relay, forwarding, captured) =
                (relay.clone(), forwarding.clone(), captured.clone());
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65_536];
                loop {
                    let Ok((n, from)) = relay.recv_from(&mut buf).await else {
                        continue;
                    };
                    if from != a_addr || !forwarding.load(Ordering::Acquire) {
                        continue;
                    }
                    captured
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(buf[..n].to_vec());
                    let _ = relay.send_to(&buf[..n], b_addr).await;
                }
            })
        };
        let mut heard = b.hear("secret.*").expect("hear");
        eventually("A and B see each other through the relay", || {
            a.live_peers().contains(&b.peer_name()) && b.live_peers().contains(&a.peer_name())
        })
        .await;
        a.set("plan", "at dawn").expect("set");
        a.say("secret.plan", "attack", None).expect("say");
        let h = tokio::time::timeout(WAIT_LIMIT, heard.recv())
            .await
            .expect("B hears the say")
            .expect("subscription open");
        assert_eq!(
            (h.event.as_str(), h.payload.as_ref()),
            ("secret.plan", &b"attack"[..])
        );
        eventually("B learns A's key", || {
            b.get_remote(&a.peer_name(), "plan").is_some()
        })
        .await;

        eventually("the relay captures a few more datagrams", || {
            captured.lock().unwrap_or_else(|e| e.into_inner()).len() >= 10
        })
        .await;
        // Cut the wire; let what is in flight land, then replay "later".
        forwarding.store(false, Ordering::Release);
        tokio::time::sleep(Duration::from_millis(300)).await;
        let captured = std::mem::take(&mut *captured.lock().unwrap_or_else(|e| e.into_inner()));
        assert!(
            captured.len() >= 5,
            "only {} datagrams captured",
            captured.len()
        );
        let before = b.stats();
        let replayed_before = before.dropped_for(DropReason::Replayed);
        for (i, datagram) in captured.iter().enumerate() {
            relay.send_to(datagram, b_addr).await.expect("replay");
            // Pace the replay so the receive buffer never overflows.
            if i % 16 == 15 {
                let want = replayed_before + i as u64 + 1;
                eventually("B judges the replays", || {
                    b.stats().dropped_for(DropReason::Replayed) >= want
                })
                .await;
            }
        }
        let want = replayed_before + captured.len() as u64;
        eventually("B counts every replay as Replayed", || {
            b.stats().dropped_for(DropReason::Replayed) >= want
        })
        .await;
        let after = b.stats();
        assert_eq!(
            after.dropped_for(DropReason::Replayed),
            want,
            "each replayed datagram is counted once, as a replay"
        );
        assert_eq!(
            after.total_dropped().messages - before.total_dropped().messages,
            captured.len() as u64,
            "every replay was dropped, for no other reason"
        );
        assert_eq!(
            after.total_received().messages,
            before.total_received().messages,
            "a replay was accepted"
        );
        assert!(
            tokio::time::timeout(Duration::from_millis(300), heard.recv())
                .await
                .is_err(),
            "the replayed say was heard again"
        );
        relay_task.abort();
        stop_all(&[a, b]).await;
    });
}
