//! The `node` target's input format: the configuration its first byte selects, the operation
//! each step's first byte selects, and the writers that produce those bytes for the seeds.

use core::net::SocketAddr;
use core::time::Duration;
use telepathine_core::{Config, Limits};

use super::input::{Input, Script};
use super::message;
use super::{CLUSTER, network_key};

/// Generation of the fuzzed node.
pub const GENERATION: u64 = 1;
/// Wall clock at monotonic time zero, in Unix milliseconds.
pub const WALL_START: u64 = 1_700_000_000_000;
/// RNG seed of the fuzzed node (and of the seed generator's node at [`message::ME`]).
pub const RNG_SEED: u64 = 0;
/// Largest raw datagram or frame an input carries: twice the datagram budget.
pub const MAX_RAW: usize = 1024;

/// Operations; the byte that starts each step picks one from [`op::WEIGHTED`].
pub mod op {
    /// Raw bytes as a datagram.
    pub const DATAGRAM: u8 = 0;
    /// Raw bytes as a stream frame.
    pub const FRAME: u8 = 1;
    /// A built message, properly sealed.
    pub const SEALED: u8 = 2;
    /// Raw bytes as a message body, properly sealed: reaches the decoder on a private network.
    pub const SEALED_BODY: u8 = 3;
    /// An earlier datagram or frame again.
    pub const REPLAY: u8 = 4;
    /// Time passes, then the timers run.
    pub const ADVANCE: u8 = 5;
    /// The wall clock is set.
    pub const WALL: u8 = 6;
    /// `set`.
    pub const SET: u8 = 7;
    /// `set_with_expiry`.
    pub const SET_EXPIRY: u8 = 8;
    /// `delete`.
    pub const DELETE: u8 = 9;
    /// `say`.
    pub const SAY: u8 = 10;
    /// `add_peer`.
    pub const ADD_PEER: u8 = 11;
    /// `start`.
    pub const START: u8 = 12;
    /// `stop`.
    pub const STOP: u8 = 13;

    /// Each operation as often as it is useful: sealed messages reach the most code, time must
    /// pass for timers, and a stop makes every input until the next start a mere drop.
    pub const WEIGHTED: [u8; 32] = [
        SEALED,
        SEALED,
        SEALED,
        SEALED,
        SEALED,
        SEALED,
        SEALED,
        SEALED, //
        ADVANCE,
        ADVANCE,
        ADVANCE,
        ADVANCE,
        ADVANCE, //
        DATAGRAM,
        DATAGRAM,
        FRAME,
        FRAME,
        SEALED_BODY,
        SEALED_BODY,
        REPLAY,
        REPLAY, //
        WALL,
        SET,
        SET,
        SET_EXPIRY,
        DELETE,
        SAY,
        SAY,
        ADD_PEER,
        START,
        START,
        STOP,
    ];

    /// The byte that selects `op`.
    pub fn byte(op: u8) -> u8 {
        WEIGHTED
            .iter()
            .position(|o| *o == op)
            .expect("every operation is listed") as u8
    }
}

/// Bits of the input's first byte.
pub mod flag {
    /// A private network (with the fixed key) rather than a public one.
    pub const SEALED: u8 = 1;
    /// No streams: everything must fit datagrams.
    pub const NO_STREAMS: u8 = 2;
    /// `emit_value_on_heartbeat`.
    pub const REEMIT: u8 = 4;
}

/// The configuration fuzzed: fast timers and small limits, so that an input of a few kilobytes
/// reaches peer failure, forgetting, garbage collection and every limit.
pub fn config(flags: u8) -> Config {
    let ms = Duration::from_millis;
    Config {
        cluster: CLUSTER.into(),
        gossip_interval: ms(200),
        heartbeat_interval: ms(200),
        emit_value_on_heartbeat: flags & flag::REEMIT != 0,
        network_key: (flags & flag::SEALED != 0).then(network_key),
        datagram_budget: 512,
        streams: flags & flag::NO_STREAMS == 0,
        phi_window: 8,
        phi_min_std_dev: ms(50),
        local_pause: ms(2000),
        monitors: 2,
        dead_quorum: 1,
        dead_grace: ms(3000),
        tombstone_grace: ms(1000),
        default_event_lifetime: ms(2000),
        limits: Limits {
            max_frame_bytes: 4096,
            max_key_bytes: 24,
            max_value_bytes: 128,
            max_event_name_bytes: 16,
            max_keys_per_origin: 8,
            max_origin_bytes: 768,
            // Less than the peers' origins could hold together, so this limit binds too.
            max_total_bytes: 2048,
            max_peers: 4,
            max_event_lifetime: ms(5000),
            max_ttl: ms(60_000),
        },
        ..Config::default()
    }
}

/// Milliseconds a step advances: usually a timer's worth, sometimes hours.
pub fn advance(input: &mut Input) -> u64 {
    match input.u8() % 4 {
        0 | 1 => u64::from(input.u8()),
        2 => u64::from(input.u16()),
        _ => u64::from(input.u16()) * 1000,
    }
}

/// Writes the step that makes the harness advance by `ms` (at most 65,535 s).
pub fn script_advance(script: &mut Script, ms: u64) {
    script.u8(op::byte(op::ADVANCE));
    if let Ok(small) = u8::try_from(ms) {
        script.u8(0).u8(small);
    } else if let Ok(mid) = u16::try_from(ms) {
        script.u8(2).u16(mid);
    } else {
        let secs = u16::try_from(ms.div_ceil(1000)).expect("scripts advance at most 65,535 s");
        script.u8(3).u16(secs);
    }
}

/// Writes the step that hands `bytes` from `from` to the node as a datagram or frame.
pub fn script_raw(script: &mut Script, from: SocketAddr, bytes: &[u8], frame: bool) {
    script.u8(op::byte(if frame { op::FRAME } else { op::DATAGRAM }));
    message::script_addr(script, from);
    script.bytes(MAX_RAW, bytes);
}

/// Writes a `set` of `NAMES[name]` to `value`.
pub fn script_set(script: &mut Script, name: usize, value: &[u8]) {
    script.u8(op::byte(op::SET));
    script.below(message::NAMES.len() + 2, name);
    script.bytes(160, value);
}
