//! Carrying out one parsed command on the node.

use std::time::SystemTime;

use telepathine_core::{Stats, Traffic};
use telepathine_tokio::{IoStats, Telepathine};

use crate::format::Reply;
use crate::parse::{Command, PeerFilter, USAGE};

/// What the input loop does after a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// Read the next command.
    Continue,
    /// Leave the cluster and exit.
    Quit,
}

/// Runs `command` on `node`: the reply to print (none for a blank line) and what to do next.
/// Failures become [`Reply::Error`]; nothing here ends the node except `quit`.
pub fn execute(node: &Telepathine, command: Command) -> (Option<Reply>, Flow) {
    let reply = match command {
        Command::Nothing => return (None, Flow::Continue),
        Command::Quit => return (None, Flow::Quit),
        Command::Set { key, value, ttl } => {
            let result = match ttl {
                None => node.set(&key, value),
                Some(ttl) => node.set_with_expiry(&key, value, SystemTime::now() + ttl),
            };
            result.map_or_else(failed, |()| Reply::Ok)
        }
        Command::Get { key } => match node.get(&key) {
            Some(value) => Reply::Value {
                key,
                value: value.to_vec(),
            },
            None => Reply::None { key },
        },
        Command::GetRemote { peer, key } => match node.get_remote(&peer, &key) {
            Some(value) => Reply::Value {
                key,
                value: value.to_vec(),
            },
            None => Reply::None { key },
        },
        Command::Keys { peer: None } => Reply::Keys {
            peer: node.peer_name(),
            keys: node.keys(),
        },
        Command::Keys { peer: Some(peer) } => Reply::Keys {
            peer,
            keys: node.remote_keys(&peer),
        },
        Command::Del { key } => node
            .delete(&key)
            .map_or_else(failed, |existed| Reply::Deleted { key, existed }),
        Command::Say {
            event,
            payload,
            lifetime,
        } => node
            .say(&event, payload, lifetime)
            .map_or_else(failed, |()| Reply::Ok),
        Command::Peers(which) => Reply::Peers {
            which: which.name(),
            peers: match which {
                PeerFilter::Live => node.live_peers(),
                PeerFilter::Dead => node.dead_peers(),
                PeerFilter::All => node.all_peers(),
            },
        },
        Command::AddPeer { addr } => node
            .add_peer(&addr)
            .map_or_else(failed, |added| Reply::Added { addr, added }),
        Command::WhoAmI => Reply::Me {
            peer: node.peer_name(),
        },
        Command::Stats => Reply::Stats(counters(
            &node.stats(),
            &node.io_stats(),
            node.live_peers().len(),
            node.dead_peers().len(),
        )),
        Command::Help => Reply::Help(USAGE.to_vec()),
    };
    (Some(reply), Flow::Continue)
}

fn failed(e: telepathine_tokio::Error) -> Reply {
    Reply::Error(e.to_string())
}

/// The `stats` counters, in a stable order: totals first, then each message kind and drop
/// reason seen so far (kinds never seen are left out rather than printed as zero).
pub fn counters(stats: &Stats, io: &IoStats, live: usize, dead: usize) -> Vec<(String, u64)> {
    let mut out = vec![
        ("live".to_string(), live as u64),
        ("dead".to_string(), dead as u64),
        ("rounds".to_string(), stats.rounds),
        ("sent".to_string(), total(stats.sent.values())),
        ("received".to_string(), total(stats.received.values())),
        ("dropped".to_string(), total(stats.dropped.values())),
        ("entries_applied".to_string(), stats.entries_applied),
        ("writes_refused".to_string(), stats.writes_refused),
        ("deltas_throttled".to_string(), stats.deltas_throttled),
        ("catch_ups".to_string(), stats.catch_ups),
        ("accusations".to_string(), stats.accusations),
        ("rebirths".to_string(), stats.rebirths),
    ];
    for (kind, t) in &stats.sent {
        out.push((format!("sent.{kind}"), t.messages));
    }
    for (kind, t) in &stats.received {
        out.push((format!("received.{kind}"), t.messages));
    }
    for (reason, t) in &stats.dropped {
        out.push((format!("dropped.{}", reason.name()), t.messages));
    }
    out.extend([
        ("io.connections_opened".to_string(), io.connections_opened),
        ("io.udp_send_errors".to_string(), io.udp_send_errors),
        ("io.frames_dropped".to_string(), io.frames_dropped),
        ("io.events_lagged".to_string(), io.events_lagged),
    ]);
    out
}

/// Messages in all of `traffic`.
fn total<'a>(traffic: impl Iterator<Item = &'a Traffic>) -> u64 {
    traffic.map(|t| t.messages).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use telepathine_core::DropReason;

    fn traffic(messages: u64) -> Traffic {
        Traffic {
            messages,
            bytes: messages * 100,
        }
    }

    #[test]
    fn counters_total_each_map_and_list_what_was_seen() {
        let mut stats = Stats::default();
        stats.rounds = 4;
        stats.entries_applied = 9;
        stats.sent.insert("syn", traffic(3));
        stats.sent.insert("ack", traffic(2));
        stats.received.insert("synack", traffic(5));
        stats.dropped.insert(DropReason::Forged, traffic(7));
        let io = IoStats {
            frames_dropped: 1,
            ..IoStats::default()
        };
        let c = counters(&stats, &io, 4, 1);
        let get = |name: &str| c.iter().find(|(n, _)| n == name).map(|(_, v)| *v);
        assert_eq!(get("live"), Some(4));
        assert_eq!(get("dead"), Some(1));
        assert_eq!(get("rounds"), Some(4));
        assert_eq!(get("sent"), Some(5));
        assert_eq!(get("received"), Some(5));
        assert_eq!(get("dropped"), Some(7));
        assert_eq!(get("dropped.forged"), Some(7));
        assert_eq!(get("sent.ack"), Some(2));
        assert_eq!(get("entries_applied"), Some(9));
        assert_eq!(get("io.frames_dropped"), Some(1));
        assert_eq!(get("dropped.replayed"), None);
        // Stable order: totals first, kinds sorted within each map.
        let names: Vec<&str> = c.iter().map(|(n, _)| n.as_str()).take(3).collect();
        assert_eq!(names, ["live", "dead", "rounds"]);
        let sent: Vec<&str> = c
            .iter()
            .map(|(n, _)| n.as_str())
            .filter(|n| n.starts_with("sent."))
            .collect();
        assert_eq!(sent, ["sent.ack", "sent.syn"]);
    }
}
