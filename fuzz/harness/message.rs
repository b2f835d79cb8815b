//! Messages built from fuzz input: what a hostile key holder could seal and send.
//!
//! Random bytes almost never decode to a message that passes the node's checks, so the `node`
//! target builds messages field by field instead, biased towards what reaches deep state: a few
//! known addresses, small generations and versions, versions in order within a run, keys and
//! values that belong together, and now and then a hostile value anywhere.

use bytes::Bytes;
use core::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::collections::BTreeMap;
use telepathine_core::NodeId;
use telepathine_core::wire::{
    Body, Cover, Delta, Digest, DigestEntry, Key, Message, OriginDelta, Status, Value, WireEntry,
};

use super::input::{Input, Script};

/// The fuzzed node's address.
pub const ME: SocketAddr = v4(1);

/// Peers the input names by index: more than the node's peer limit, so the limit is reached.
pub const PEERS: [SocketAddr; 6] = [v4(2), v4(3), v4(4), v4(5), v4(6), v4(7)];

/// Keys and event names the input names by index, so that writes collide.
pub const NAMES: [&str; 6] = ["a", "b", "c", "key", "k1", "ev"];

/// How many address choices [`addr`] has: the node, each peer, and any address.
const ADDR_CHOICES: usize = 2 + PEERS.len();

const fn v4(host: u8) -> SocketAddr {
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, host), 9000))
}

/// An address: usually the node's own or a known peer's, sometimes any.
pub fn addr(input: &mut Input) -> SocketAddr {
    match input.below(ADDR_CHOICES) {
        0 => ME,
        i if i <= PEERS.len() => PEERS[i - 1],
        _ if input.bool() => SocketAddr::from((input.u32().to_le_bytes(), input.u16())),
        _ => {
            let ip = Ipv6Addr::from(u128::from(input.u64()) << 64 | u128::from(input.u64()));
            SocketAddr::V6(SocketAddrV6::new(ip, input.u16(), 0, 0))
        }
    }
}

/// Writes the choice that makes [`addr`] return `a`.
pub fn script_addr(script: &mut Script, a: SocketAddr) {
    if a == ME {
        script.below(ADDR_CHOICES, 0);
    } else if let Some(i) = PEERS.iter().position(|p| *p == a) {
        script.below(ADDR_CHOICES, i + 1);
    } else if let SocketAddr::V4(v) = a {
        script.below(ADDR_CHOICES, ADDR_CHOICES - 1).bool(true);
        script.bytes.extend(v.ip().octets());
        script.u16(v.port());
    } else {
        panic!("seed scripts use IPv4 addresses only");
    }
}

/// A name from [`NAMES`], or any string of up to 40 bytes.
pub fn name(input: &mut Input) -> String {
    match input.below(NAMES.len() + 2) {
        i if i < NAMES.len() => NAMES[i].into(),
        _ => String::from_utf8_lossy(input.bytes(40)).into_owned(),
    }
}

/// Bytes of a value or payload, up to 160 (over the harness's value limit).
pub fn value(input: &mut Input) -> Bytes {
    Bytes::copy_from_slice(input.bytes(160))
}

/// A generation: usually 1 to 3, sometimes anything (0 included).
pub fn generation(input: &mut Input) -> u64 {
    let b = input.u8();
    if b < 32 {
        input.number()
    } else {
        1 + u64::from(b % 3)
    }
}

/// What the harness learned from the node, so that built messages get past its checks.
#[derive(Debug, Default)]
pub struct Context {
    /// Last sequence number used per sender, so that messages usually pass the replay window.
    pub seqs: BTreeMap<SocketAddr, u64>,
    /// The node's cookie for each peer, read from its transmits: echoing it unlocks full-size
    /// replies.
    pub cookies: BTreeMap<SocketAddr, u64>,
    /// The summary of the node's digest in its latest `Syn` or `SynAck`: sending it back says
    /// "in sync", which takes the exchange's short path.
    pub summary: u64,
    /// The node's wall clock, around which expiries are chosen.
    pub wall: u64,
}

/// A whole message.
pub fn message(input: &mut Input, ctx: &mut Context) -> Message {
    let wall = ctx.wall;
    let from = NodeId::new(addr(input), generation(input));
    let to = match input.u8() % 4 {
        0 => None,
        1 => Some(addr(input)),
        _ => Some(ME),
    };
    let seq = if input.one_in(8) {
        input.number()
    } else {
        let s = ctx.seqs.entry(from.addr).or_default();
        *s += 1;
        *s
    };
    let body = match input.u8() % 5 {
        0 => {
            let digest = digest(input);
            // Drawn in the order the fields once were, so older corpora decode as before.
            let summary = summary(input, ctx);
            let cookie = input.number();
            let echo = echo(input, ctx, from.addr);
            Body::Syn {
                origins: origin_count(&digest),
                digest,
                summary,
                cookie,
                echo,
                room: room_from(cookie),
            }
        }
        1 => {
            let digest = digest(input);
            let delta = delta(input, wall);
            let summary = summary(input, ctx);
            let cookie = input.number();
            let echo = echo(input, ctx, from.addr);
            Body::SynAck {
                origins: origin_count(&digest),
                digest,
                delta,
                summary,
                cookie,
                echo,
                room: room_from(cookie),
            }
        }
        2 => Body::Ack(delta(input, wall)),
        3 => Body::Heartbeat {
            incarnation: input.number(),
            release: input.bool(),
        },
        _ => Body::Probe,
    };
    Message {
        from,
        to,
        seq,
        body,
    }
}

/// How many origins the sender claims to hold: exactly those listed when its digest covers
/// everything, else many more, which makes the node catch up with it. Derived rather than read,
/// so that inputs found before the field existed still mean what they meant.
fn origin_count(digest: &Digest) -> u32 {
    let listed = digest.entries.len() as u32;
    match digest.cover {
        Cover::All => listed,
        _ => listed + 64,
    }
}

/// The node's own summary or any.
fn summary(input: &mut Input, ctx: &Context) -> u64 {
    if input.bool() {
        input.number()
    } else {
        ctx.summary
    }
}

/// Usually the cookie the node gave `from`, else none or any.
fn echo(input: &mut Input, ctx: &Context, from: SocketAddr) -> u64 {
    match input.u8() % 4 {
        0 => 0,
        1 => input.number(),
        _ => ctx.cookies.get(&from).copied().unwrap_or(0),
    }
}

fn digest(input: &mut Input) -> Digest {
    let cover = match input.u8() % 4 {
        0 => Cover::Listed,
        1 => Cover::All,
        _ => Cover::Range {
            from: addr(input),
            to: addr(input),
        },
    };
    let entries = (0..input.below(9))
        .map(|_| DigestEntry {
            origin: addr(input),
            generation: generation(input),
            version: input.number(),
        })
        .collect();
    Digest { cover, entries }
}

fn delta(input: &mut Input, wall: u64) -> Delta {
    Delta {
        origins: (0..input.below(4))
            .map(|_| origin_delta(input, wall))
            .collect(),
    }
}

fn origin_delta(input: &mut Input, wall: u64) -> OriginDelta {
    let origin = addr(input);
    let generation = generation(input);
    if input.one_in(8) {
        // Anything at all: the node must refuse inconsistent runs, not trust them.
        return OriginDelta {
            origin,
            generation,
            from_version: input.number(),
            up_to: input.number(),
            gc_floor: input.number(),
            entries: (0..input.below(9))
                .map(|_| {
                    let version = input.number();
                    entry(input, version, wall)
                })
                .collect(),
        };
    }
    // A consistent run: resets are common, since they are how state first arrives.
    let from_version = if input.bool() {
        0
    } else {
        u64::from(input.u8())
    };
    let mut version = from_version;
    let entries = (0..input.below(9))
        .map(|_| {
            version += 1 + input.below(3) as u64;
            entry(input, version, wall)
        })
        .collect();
    let up_to = version + input.below(3) as u64;
    let gc_floor = match input.u8() % 4 {
        0 => input.number(),
        1 => u64::from(input.u8()),
        _ => 0,
    };
    OriginDelta {
        origin,
        generation,
        from_version,
        up_to,
        gc_floor,
        entries,
    }
}

fn entry(input: &mut Input, version: u64, wall: u64) -> WireEntry {
    let key = match input.u8() % 8 {
        0..=3 => Key::User(name(input)),
        4 => Key::Event(u64::from(input.u8())),
        5 => Key::Status,
        6 => Key::Accuse(addr(input)),
        _ => Key::Event(input.number()),
    };
    let value = if input.one_in(8) {
        any_value(input)
    } else {
        value_for(input, &key)
    };
    let expires_at = match input.u8() % 4 {
        0 => Some(wall.saturating_add(u64::from(input.u16()) * 10)),
        1 => Some(input.number()),
        _ => None,
    };
    WireEntry {
        key,
        version,
        value,
        expires_at,
    }
}

/// A value of the kind `key` holds (a tombstone one time in eight).
fn value_for(input: &mut Input, key: &Key) -> Value {
    if input.one_in(8) {
        return Value::Tombstone;
    }
    match key {
        Key::User(_) => Value::Bytes(value(input)),
        Key::Event(_) => Value::Event {
            name: name(input),
            payload: value(input),
        },
        Key::Status => Value::Status(Status {
            incarnation: input.number(),
            left: input.bool(),
        }),
        Key::Accuse(_) => Value::Accusation {
            generation: generation(input),
            incarnation: input.number(),
        },
    }
}

fn any_value(input: &mut Input) -> Value {
    let key = match input.u8() % 4 {
        0 => Key::User(String::new()),
        1 => Key::Event(0),
        2 => Key::Status,
        _ => Key::Accuse(ME),
    };
    value_for(input, &key)
}

/// A flow-control room derived from bits already drawn: unlimited, shut, tiny or anything.
fn room_from(cookie: u64) -> u32 {
    match cookie % 4 {
        0 => 0,
        1 => 1,
        2 => (cookie >> 2) as u32 % 2048,
        _ => (cookie >> 2) as u32,
    }
}
