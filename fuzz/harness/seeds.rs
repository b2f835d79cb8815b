//! Seed corpora from real traffic: three in-memory nodes with the `node` target's configuration
//! run a short scripted history (joins, writes, deletes, expiry, events, large state that needs
//! streams, a leave and a rejoin), and their datagrams and frames become the seeds of every
//! target. The node at [`ME`] has the fuzzed node's identity, so what it received, replayed by
//! the `node` target, drives the fuzzed node along the same path.
//!
//! Run by the core's `fuzz_corpus` test when asked (`--ignored`): the seeds are checked in.

use core::net::SocketAddr;
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;
use telepathine_core::wire::{Body, Message, Sealer, encode_frame};
use telepathine_core::{Cipher, Node, NodeId, Timestamp, TransmitKind};

use super::frame::{MAX_CAP, MAX_CHUNK, MAX_FRAMES};
use super::input::Script;
use super::message::{ME, NAMES, PEERS};
use super::node_input::{self, GENERATION, RNG_SEED, WALL_START, flag};
use super::{CLUSTER, network_key};

/// One datagram or frame that a node sent.
#[derive(Clone, Debug)]
pub struct Capture {
    /// Sender.
    pub from: SocketAddr,
    /// Receiver.
    pub to: SocketAddr,
    /// The envelope.
    pub payload: Vec<u8>,
    /// Whether it went as a stream frame.
    pub stream: bool,
}

/// What one run of the history produced.
#[derive(Debug, Default)]
pub struct Recording {
    /// Everything sent, in order.
    pub captures: Vec<Capture>,
    /// `node` target inputs replaying what the node at [`ME`] received and did, cut into
    /// pieces of a few kilobytes.
    pub scripts: Vec<Vec<u8>>,
}

#[derive(Clone, Copy)]
enum Command {
    Set(usize, &'static [u8]),
    Expire(usize, &'static [u8], u64),
    Delete(usize),
    Say(usize, &'static [u8]),
    Stop,
    Start,
}

const BIG: &[u8] = &[0xab; 120];

/// `(ms, node, command)`, in time order; `NAMES[i]` names keys and events.
const HISTORY: &[(u64, usize, Command)] = &[
    (100, 1, Command::Set(0, b"1")),
    (150, 2, Command::Set(1, b"hello")),
    (250, 0, Command::Set(3, b"mine")),
    (400, 1, Command::Say(5, b"boom")),
    (500, 2, Command::Expire(2, b"soon", 800)),
    (700, 1, Command::Delete(0)),
    (900, 2, Command::Set(4, BIG)),
    (900, 2, Command::Set(3, BIG)),
    (900, 2, Command::Set(0, BIG)),
    // State that a node back from a restart can only take in as a stream frame.
    (950, 0, Command::Set(1, BIG)),
    (950, 0, Command::Set(2, BIG)),
    (950, 1, Command::Set(3, BIG)),
    (950, 1, Command::Set(4, BIG)),
    (1100, 0, Command::Set(4, b"x")),
    (1300, 1, Command::Say(5, b"again")),
    (1600, 2, Command::Stop),
    (2600, 2, Command::Start),
    (2700, 0, Command::Say(5, b"hi")),
];

const END_MS: u64 = 5000;
const LATENCY_MS: u64 = 2;
/// A script piece is closed once it is this long, to keep inputs near libFuzzer's `max_len`.
const SCRIPT_PIECE: usize = 3000;

/// Runs the history on a network configured by `flags` (see [`flag`]).
pub fn record(flags: u8) -> Recording {
    let ids = [ME, PEERS[0], PEERS[1]];
    let mut nodes: Vec<Node> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let mut config = node_input::config(flags);
            if i > 0 {
                config.seeds = vec![ME];
            }
            let seed = if i == 0 { RNG_SEED } else { i as u64 };
            Node::new(config, NodeId::new(*id, GENERATION), seed).expect("valid configuration")
        })
        .collect();
    for n in &mut nodes {
        n.handle_wall_clock(Timestamp::ZERO, WALL_START);
        n.start(Timestamp::ZERO);
    }
    let mut rec = Recording::default();
    let mut script = Script::default();
    script.u8(flags);
    let mut script_now = 0;
    let mut queue: Vec<(u64, Capture)> = Vec::new();
    let mut history = HISTORY.iter().peekable();
    let mut now = 0;
    loop {
        for (i, n) in nodes.iter_mut().enumerate() {
            while let Some(t) = n.poll_transmit() {
                let capture = Capture {
                    from: ids[i],
                    to: t.destination,
                    payload: t.payload,
                    stream: t.kind == TransmitKind::Stream,
                };
                rec.captures.push(capture.clone());
                queue.push((now + LATENCY_MS, capture));
            }
            while n.poll_event().is_some() {}
        }
        let next = [
            history.peek().map(|h| h.0),
            queue.iter().map(|q| q.0).min(),
            nodes
                .iter()
                .filter_map(|n| n.poll_timeout())
                .map(|t| t.as_millis())
                .min(),
        ]
        .into_iter()
        .flatten()
        .min();
        let Some(next) = next.filter(|t| *t <= END_MS) else {
            break;
        };
        now = next;
        let t = Timestamp::from_millis(now);
        let mut at_me = |script: &mut Script| {
            if now > script_now {
                node_input::script_advance(script, now - script_now);
                script_now = now;
            }
        };
        while let Some((_, i, command)) = history.next_if(|h| h.0 == now) {
            if *i == 0 {
                at_me(&mut script);
                if let Command::Set(name, value) = command {
                    node_input::script_set(&mut script, *name, value);
                }
            }
            apply(&mut nodes[*i], t, *command);
        }
        let (due, later): (Vec<_>, Vec<_>) = queue.drain(..).partition(|q| q.0 == now);
        queue = later;
        for (_, c) in due {
            let Some(i) = ids.iter().position(|a| *a == c.to) else {
                continue;
            };
            if i == 0 {
                at_me(&mut script);
                node_input::script_raw(&mut script, c.from, &c.payload, c.stream);
            }
            if c.stream {
                nodes[i].handle_frame(t, c.from, &c.payload);
            } else {
                nodes[i].handle_datagram(t, c.from, &c.payload);
            }
        }
        for (i, n) in nodes.iter_mut().enumerate() {
            if n.poll_timeout().is_some_and(|d| d <= t) {
                if i == 0 {
                    at_me(&mut script);
                }
                n.handle_timeout(t);
            }
        }
        if script.bytes.len() >= SCRIPT_PIECE {
            rec.scripts.push(core::mem::take(&mut script.bytes));
            script.u8(flags);
            script_now = 0;
        }
    }
    if script.bytes.len() > 1 {
        rec.scripts.push(script.bytes);
    }
    rec
}

fn apply(n: &mut Node, t: Timestamp, command: Command) {
    // The history is valid for the configuration, so every command succeeds.
    match command {
        Command::Set(name, value) => n.set(t, NAMES[name], value).expect("set"),
        Command::Expire(name, value, ms) => {
            let at = n.wall_now() + ms;
            n.set_with_expiry(t, NAMES[name], value, at)
                .expect("expiry")
        }
        Command::Delete(name) => assert!(n.delete(t, NAMES[name]).expect("delete")),
        Command::Say(name, payload) => n.say(t, NAMES[name], payload, None).expect("say"),
        Command::Stop => n.stop(t),
        Command::Start => n.start(t),
    }
}

/// Every seed, as `(target, input)`.
pub fn corpora() -> Vec<(&'static str, Vec<u8>)> {
    let sealed = record(flag::SEALED);
    let public = record(0);
    let lean = record(flag::SEALED | flag::NO_STREAMS | flag::REEMIT);
    let mut out = Vec::new();

    let sealer = Sealer::new(CLUSTER, Some(&network_key()));
    let open_sealed = pick(&sealer, &sealed.captures, 3);
    let public_sealer = Sealer::new(CLUSTER, None);
    let open_public = pick(&public_sealer, &public.captures, 1);
    for (c, body) in open_sealed.iter().chain(&open_public) {
        out.push(("open", c.payload.clone()));
        out.push(("decode", body.clone()));
    }
    // The same traffic resealed with the second suite, so `open` starts past its header check.
    let aes = Sealer::new(
        CLUSTER,
        Some(&network_key().with_cipher(Cipher::Aes256GcmSiv)),
    );
    let mut rng = ChaCha8Rng::seed_from_u64(RNG_SEED);
    for (_, body) in open_sealed.iter().step_by(4) {
        out.push(("open", aes.seal(body, &mut rng)));
    }

    let payloads: Vec<&[u8]> = open_sealed.iter().map(|(c, _)| &c.payload[..]).collect();
    for (i, window) in payloads.windows(3).step_by(3).take(3).enumerate() {
        out.push((
            "frame",
            valid_stream(MAX_CAP, window, &[1, 3, 7, 64, 500][i..]),
        ));
    }
    out.push(("frame", valid_stream(600, &payloads[..1], &[4])));
    let mut raw: Vec<u8> = payloads
        .iter()
        .take(4)
        .flat_map(|p| encode_frame(p))
        .collect();
    out.push(("frame", raw_stream(MAX_CAP, &raw, &[5, 300, 2, MAX_CHUNK])));
    raw.extend([0xff, 0xff, 0xff, 0xff]);
    out.push(("frame", raw_stream(600, &raw, &[MAX_CHUNK])));

    for rec in [sealed, public, lean] {
        out.extend(rec.scripts.into_iter().take(5).map(|s| ("node", s)));
    }
    // Nothing in the history makes a monitor miss this node's heartbeats, so one input per
    // network asks it for one directly.
    for (flags, probe_sealer) in [(flag::SEALED, &sealer), (0, &public_sealer)] {
        let probe = Message {
            from: NodeId::new(PEERS[0], GENERATION),
            to: Some(ME),
            seq: 1,
            body: Body::Probe,
        };
        let encoded = postcard::to_allocvec(&probe).expect("a probe encodes");
        let mut script = Script::default();
        script.u8(flags);
        node_input::script_raw(
            &mut script,
            PEERS[0],
            &probe_sealer.seal(&encoded, &mut rng),
            false,
        );
        out.push(("node", script.bytes));
    }
    out
}

/// Up to `per_kind` captures of each message kind and transport, with their opened bodies.
fn pick(sealer: &Sealer, captures: &[Capture], per_kind: usize) -> Vec<(Capture, Vec<u8>)> {
    let mut counts = std::collections::BTreeMap::new();
    let mut out = Vec::new();
    for c in captures {
        let body = sealer
            .open(&c.payload)
            .expect("own traffic opens")
            .into_owned();
        let msg: Message = postcard::from_bytes(&body).expect("own traffic decodes");
        let n = counts.entry((msg.body.kind(), c.stream)).or_insert(0);
        if *n < per_kind {
            *n += 1;
            out.push((c.clone(), body));
        }
    }
    out
}

/// A `frame` input: a valid stream of `frames` under `cap`, read in chunks of `splits`.
fn valid_stream(cap: usize, frames: &[&[u8]], splits: &[usize]) -> Vec<u8> {
    let mut s = Script::default();
    s.below(MAX_CAP, cap - 1).bool(true);
    s.below(MAX_FRAMES + 1, frames.len());
    for f in frames {
        s.bytes(cap, f);
    }
    for n in splits {
        s.below(MAX_CHUNK, n - 1);
    }
    s.bytes
}

/// A `frame` input: the bytes `raw` under `cap`, read in chunks of `splits` (then repeatedly
/// the last).
fn raw_stream(cap: usize, raw: &[u8], splits: &[usize]) -> Vec<u8> {
    let mut s = Script::default();
    s.below(MAX_CAP, cap - 1).bool(false);
    let mut rest = raw;
    let mut sizes = splits
        .iter()
        .chain(core::iter::repeat(&splits[splits.len() - 1]));
    while !rest.is_empty() {
        let n = (*sizes.next().expect("endless")).min(rest.len());
        s.bytes(MAX_CHUNK, &rest[..n]);
        rest = &rest[n..];
    }
    s.bytes
}
