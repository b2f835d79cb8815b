//! What the command prints, and how: every answer and every watched event is a [`Reply`],
//! rendered as one plain-text line (first word says what it is) or one JSON object per line.
//!
//! Plain values are printed bare when they are printable, blank-free ASCII, and otherwise as a
//! double-quoted word with the escapes the command parser reads back (see `parse`).

use std::fmt::Write as _;
use std::net::SocketAddr;

use serde_json::{Map, Value, json};

/// One line of output.
#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    /// The node is up: printed once at start.
    Ready {
        /// Its peer name.
        peer: SocketAddr,
    },
    /// The command succeeded and has nothing to say.
    Ok,
    /// A value was found.
    Value {
        /// Its key.
        key: String,
        /// The value.
        value: Vec<u8>,
    },
    /// No value for the key.
    None {
        /// The key asked for.
        key: String,
    },
    /// A peer's (or this node's) keys.
    Keys {
        /// Whose keys.
        peer: SocketAddr,
        /// The keys, sorted.
        keys: Vec<String>,
    },
    /// The answer to `del`.
    Deleted {
        /// The key.
        key: String,
        /// Whether it existed.
        existed: bool,
    },
    /// The answer to `peers`.
    Peers {
        /// `live`, `dead` or `all`.
        which: &'static str,
        /// The peers, sorted.
        peers: Vec<SocketAddr>,
    },
    /// The answer to `add-peer`.
    Added {
        /// The address.
        addr: String,
        /// False when it was this node's own address.
        added: bool,
    },
    /// The answer to `whoami`.
    Me {
        /// This node's peer name.
        peer: SocketAddr,
    },
    /// The answer to `stats`: named counters, in a stable order.
    Stats(Vec<(String, u64)>),
    /// The answer to `help`.
    Help(Vec<&'static str>),
    /// The node left (after `quit`, end of input or a signal).
    Bye,
    /// A command failed; the node keeps running.
    Error(String),
    /// A watched event.
    Event(Watched),
}

/// An event printed by `--watch`.
#[derive(Clone, Debug, PartialEq)]
pub enum Watched {
    /// This node started.
    Start,
    /// This node stopped.
    Stop,
    /// A key was set (by this node or a peer).
    Set {
        /// Owner.
        peer: SocketAddr,
        /// Key.
        key: String,
        /// New value.
        value: Vec<u8>,
        /// Expiry in Unix milliseconds.
        expires_at: Option<u64>,
    },
    /// A key was deleted by its owner.
    Delete {
        /// Owner.
        peer: SocketAddr,
        /// Key.
        key: String,
    },
    /// A key expired.
    Expired {
        /// Owner.
        peer: SocketAddr,
        /// Key.
        key: String,
        /// Last value.
        value: Vec<u8>,
    },
    /// A peer said something.
    Heard {
        /// Who said it.
        from: SocketAddr,
        /// The event's name.
        event: String,
        /// Its payload.
        payload: Vec<u8>,
    },
    /// A peer was discovered.
    PeerNew {
        /// The peer.
        peer: SocketAddr,
    },
    /// A peer is alive.
    PeerAlive {
        /// The peer.
        peer: SocketAddr,
    },
    /// A peer is considered dead.
    PeerDead {
        /// The peer.
        peer: SocketAddr,
        /// `failed` or `left`.
        cause: &'static str,
    },
}

impl Watched {
    /// The event's kind, as printed.
    fn kind(&self) -> &'static str {
        match self {
            Watched::Start => "start",
            Watched::Stop => "stop",
            Watched::Set { .. } => "set",
            Watched::Delete { .. } => "delete",
            Watched::Expired { .. } => "expired",
            Watched::Heard { .. } => "heard",
            Watched::PeerNew { .. } => "peer-new",
            Watched::PeerAlive { .. } => "peer-alive",
            Watched::PeerDead { .. } => "peer-dead",
        }
    }
}

/// Output style.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// One plain-text line.
    Plain,
    /// One JSON object per line.
    Json,
}

impl Reply {
    /// The reply as one line (no newline), in `style`.
    pub fn render(&self, style: Style) -> String {
        match style {
            Style::Plain => self.plain(),
            Style::Json => self.json().to_string(),
        }
    }

    /// The plain line: a keyword, then the reply's fields separated by single spaces.
    pub fn plain(&self) -> String {
        match self {
            Reply::Ready { peer } => format!("ready {peer}"),
            Reply::Ok => String::from("ok"),
            Reply::Value { key, value } => {
                format!("value {} {}", word(key.as_bytes()), word(value))
            }
            Reply::None { key } => format!("none {}", word(key.as_bytes())),
            Reply::Keys { peer, keys } => {
                let mut line = format!("keys {peer} {}", keys.len());
                for k in keys {
                    line.push(' ');
                    line.push_str(&word(k.as_bytes()));
                }
                line
            }
            Reply::Deleted { key, existed } => {
                let what = if *existed { "deleted" } else { "absent" };
                format!("{what} {}", word(key.as_bytes()))
            }
            Reply::Peers { which, peers } => {
                let mut line = format!("peers {which} {}", peers.len());
                for p in peers {
                    let _ = write!(line, " {p}");
                }
                line
            }
            Reply::Added { addr, added } => {
                format!("added {} {added}", word(addr.as_bytes()))
            }
            Reply::Me { peer } => format!("me {peer}"),
            Reply::Stats(counters) => {
                let mut line = String::from("stats");
                for (name, n) in counters {
                    let _ = write!(line, " {name}={n}");
                }
                line
            }
            Reply::Help(lines) => format!("help {}", lines.join(" | ")),
            Reply::Bye => String::from("bye"),
            // Errors are free text, but still one line whatever they contain.
            Reply::Error(message) => format!("error {}", message.replace(['\n', '\r'], " ")),
            Reply::Event(e) => {
                let body = match e {
                    Watched::Start | Watched::Stop => String::new(),
                    Watched::Set {
                        peer,
                        key,
                        value,
                        expires_at,
                    } => {
                        let mut s = format!(" {peer} {} {}", word(key.as_bytes()), word(value));
                        if let Some(ms) = expires_at {
                            let _ = write!(s, " expires={ms}");
                        }
                        s
                    }
                    Watched::Delete { peer, key } => format!(" {peer} {}", word(key.as_bytes())),
                    Watched::Expired { peer, key, value } => {
                        format!(" {peer} {} {}", word(key.as_bytes()), word(value))
                    }
                    Watched::Heard {
                        from,
                        event,
                        payload,
                    } => format!(" {from} {} {}", word(event.as_bytes()), word(payload)),
                    Watched::PeerNew { peer } | Watched::PeerAlive { peer } => {
                        format!(" {peer}")
                    }
                    Watched::PeerDead { peer, cause } => format!(" {peer} {cause}"),
                };
                format!("event {}{body}", e.kind())
            }
        }
    }

    /// The JSON object: `type` says what it is, as the plain keyword does.
    pub fn json(&self) -> Value {
        match self {
            Reply::Ready { peer } => json!({"type": "ready", "peer": peer.to_string()}),
            Reply::Ok => json!({"type": "ok"}),
            Reply::Value { key, value } => {
                let mut o = obj("value");
                o.insert("key".into(), key.as_str().into());
                put_bytes(&mut o, "value", value);
                Value::Object(o)
            }
            Reply::None { key } => json!({"type": "none", "key": key}),
            Reply::Keys { peer, keys } => {
                json!({"type": "keys", "peer": peer.to_string(), "keys": keys})
            }
            Reply::Deleted { key, existed } => {
                json!({"type": "deleted", "key": key, "existed": existed})
            }
            Reply::Peers { which, peers } => {
                let peers: Vec<String> = peers.iter().map(ToString::to_string).collect();
                json!({"type": "peers", "which": which, "peers": peers})
            }
            Reply::Added { addr, added } => json!({"type": "added", "addr": addr, "added": added}),
            Reply::Me { peer } => json!({"type": "me", "peer": peer.to_string()}),
            Reply::Stats(counters) => {
                let mut c = Map::new();
                for (name, n) in counters {
                    c.insert(name.clone(), (*n).into());
                }
                json!({"type": "stats", "counters": c})
            }
            Reply::Help(lines) => json!({"type": "help", "commands": lines}),
            Reply::Bye => json!({"type": "bye"}),
            Reply::Error(message) => json!({"type": "error", "message": message}),
            Reply::Event(e) => {
                let mut o = obj("event");
                o.insert("event".into(), e.kind().into());
                match e {
                    Watched::Start | Watched::Stop => {}
                    Watched::Set {
                        peer,
                        key,
                        value,
                        expires_at,
                    } => {
                        o.insert("peer".into(), peer.to_string().into());
                        o.insert("key".into(), key.as_str().into());
                        put_bytes(&mut o, "value", value);
                        if let Some(ms) = expires_at {
                            o.insert("expires_at_ms".into(), (*ms).into());
                        }
                    }
                    Watched::Delete { peer, key } => {
                        o.insert("peer".into(), peer.to_string().into());
                        o.insert("key".into(), key.as_str().into());
                    }
                    Watched::Expired { peer, key, value } => {
                        o.insert("peer".into(), peer.to_string().into());
                        o.insert("key".into(), key.as_str().into());
                        put_bytes(&mut o, "value", value);
                    }
                    Watched::Heard {
                        from,
                        event,
                        payload,
                    } => {
                        o.insert("from".into(), from.to_string().into());
                        o.insert("name".into(), event.as_str().into());
                        put_bytes(&mut o, "payload", payload);
                    }
                    Watched::PeerNew { peer } | Watched::PeerAlive { peer } => {
                        o.insert("peer".into(), peer.to_string().into());
                    }
                    Watched::PeerDead { peer, cause } => {
                        o.insert("peer".into(), peer.to_string().into());
                        o.insert("cause".into(), (*cause).into());
                    }
                }
                Value::Object(o)
            }
        }
    }
}

fn obj(kind: &str) -> Map<String, Value> {
    let mut o = Map::new();
    o.insert("type".into(), kind.into());
    o
}

/// Bytes in JSON: a string when they are UTF-8; otherwise `<field>_hex`, since JSON strings
/// cannot carry arbitrary bytes.
fn put_bytes(o: &mut Map<String, Value>, field: &str, bytes: &[u8]) {
    match std::str::from_utf8(bytes) {
        Ok(s) => o.insert(field.into(), s.into()),
        Err(_) => o.insert(format!("{field}_hex"), hex(bytes).into()),
    };
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// One plain word: bare if it is non-empty printable ASCII without blanks, quotes or
/// backslashes (and does not start with `#`, which the parser reads as a comment); quoted with
/// escapes otherwise.
pub fn word(bytes: &[u8]) -> String {
    let bare = !bytes.is_empty()
        && bytes[0] != b'#'
        && bytes
            .iter()
            .all(|&b| b.is_ascii_graphic() && b != b'"' && b != b'\\');
    if bare {
        // Checked ASCII just above.
        return String::from_utf8_lossy(bytes).into_owned();
    }
    let mut s = String::with_capacity(bytes.len() + 2);
    s.push('"');
    let mut rest = bytes;
    while !rest.is_empty() {
        // Keep valid UTF-8 text readable; escape only control bytes and invalid sequences.
        let (valid, invalid) = match std::str::from_utf8(rest) {
            Ok(all) => (all, &[][..]),
            Err(e) => {
                let (ok, bad) = rest.split_at(e.valid_up_to());
                // Safe: from_utf8 vouched for this prefix.
                (std::str::from_utf8(ok).unwrap_or_default(), bad)
            }
        };
        for c in valid.chars() {
            match c {
                '"' => s.push_str("\\\""),
                '\\' => s.push_str("\\\\"),
                '\n' => s.push_str("\\n"),
                '\t' => s.push_str("\\t"),
                '\r' => s.push_str("\\r"),
                c if (c as u32) < 0x20 || c == '\u{7f}' => {
                    let _ = write!(s, "\\x{:02x}", c as u32);
                }
                c => s.push(c),
            }
        }
        match invalid.split_first() {
            Some((b, tail)) => {
                let _ = write!(s, "\\x{b:02x}");
                rest = tail;
            }
            None => rest = &[],
        }
    }
    s.push('"');
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::split_words;

    fn peer(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn plain_words_are_bare_when_safe_and_quoted_otherwise() {
        assert_eq!(word(b"hello"), "hello");
        assert_eq!(word(b"a.b-c=1"), "a.b-c=1");
        assert_eq!(word(b""), r#""""#);
        assert_eq!(word(b"two words"), r#""two words""#);
        assert_eq!(word(b"#tag"), r##""#tag""##);
        assert_eq!(word(b"q\"b\\"), r#""q\"b\\""#);
        assert_eq!(word(b"l1\nl2\t\x01"), r#""l1\nl2\t\x01""#);
        assert_eq!(word("café".as_bytes()), "\"café\"");
        assert_eq!(word(b"\xff\xfeok"), r#""\xff\xfeok""#);
    }

    #[test]
    fn every_printed_word_parses_back_to_its_bytes() {
        let samples: [&[u8]; 9] = [
            b"plain",
            b"",
            b"with space",
            b"\"quoted\"",
            b"back\\slash",
            b"\x00\x01\x7f\n\r\t",
            b"\xff\xc3",
            "ünïcødé ✓".as_bytes(),
            b"#hash",
        ];
        for bytes in samples {
            let printed = word(bytes);
            assert_eq!(
                split_words(&printed).unwrap(),
                [bytes.to_vec()],
                "{printed}"
            );
        }
    }

    #[test]
    fn plain_replies_are_stable_one_liners() {
        let p = peer("10.77.0.1:7946");
        let cases = [
            (Reply::Ready { peer: p }, "ready 10.77.0.1:7946"),
            (Reply::Ok, "ok"),
            (
                Reply::Value {
                    key: "k".into(),
                    value: b"a b".to_vec(),
                },
                r#"value k "a b""#,
            ),
            (Reply::None { key: "k".into() }, "none k"),
            (
                Reply::Keys {
                    peer: p,
                    keys: vec!["a".into(), "b".into()],
                },
                "keys 10.77.0.1:7946 2 a b",
            ),
            (
                Reply::Keys {
                    peer: p,
                    keys: vec![],
                },
                "keys 10.77.0.1:7946 0",
            ),
            (
                Reply::Deleted {
                    key: "k".into(),
                    existed: true,
                },
                "deleted k",
            ),
            (
                Reply::Deleted {
                    key: "k".into(),
                    existed: false,
                },
                "absent k",
            ),
            (
                Reply::Peers {
                    which: "live",
                    peers: vec![p, peer("10.77.0.2:7946")],
                },
                "peers live 2 10.77.0.1:7946 10.77.0.2:7946",
            ),
            (
                Reply::Added {
                    addr: "1.2.3.4:5".into(),
                    added: true,
                },
                "added 1.2.3.4:5 true",
            ),
            (Reply::Me { peer: p }, "me 10.77.0.1:7946"),
            (
                Reply::Stats(vec![("rounds".into(), 3), ("dropped.forged".into(), 1)]),
                "stats rounds=3 dropped.forged=1",
            ),
            (Reply::Help(vec!["get KEY", "quit"]), "help get KEY | quit"),
            (Reply::Bye, "bye"),
            (Reply::Error("bad\nthing".into()), "error bad thing"),
        ];
        for (reply, want) in cases {
            assert_eq!(reply.plain(), want);
            assert_eq!(reply.render(Style::Plain), want);
        }
    }

    #[test]
    fn plain_events_name_their_kind_then_fields() {
        let p = peer("10.77.0.3:7946");
        let cases = [
            (Watched::Start, "event start"),
            (Watched::Stop, "event stop"),
            (
                Watched::Set {
                    peer: p,
                    key: "k".into(),
                    value: b"v".to_vec(),
                    expires_at: None,
                },
                "event set 10.77.0.3:7946 k v",
            ),
            (
                Watched::Set {
                    peer: p,
                    key: "k".into(),
                    value: b"v".to_vec(),
                    expires_at: Some(1700000000000),
                },
                "event set 10.77.0.3:7946 k v expires=1700000000000",
            ),
            (
                Watched::Delete {
                    peer: p,
                    key: "k".into(),
                },
                "event delete 10.77.0.3:7946 k",
            ),
            (
                Watched::Expired {
                    peer: p,
                    key: "k".into(),
                    value: b"v".to_vec(),
                },
                "event expired 10.77.0.3:7946 k v",
            ),
            (
                Watched::Heard {
                    from: p,
                    event: "chat.hi".into(),
                    payload: b"hello there".to_vec(),
                },
                r#"event heard 10.77.0.3:7946 chat.hi "hello there""#,
            ),
            (
                Watched::PeerNew { peer: p },
                "event peer-new 10.77.0.3:7946",
            ),
            (
                Watched::PeerAlive { peer: p },
                "event peer-alive 10.77.0.3:7946",
            ),
            (
                Watched::PeerDead {
                    peer: p,
                    cause: "failed",
                },
                "event peer-dead 10.77.0.3:7946 failed",
            ),
        ];
        for (event, want) in cases {
            assert_eq!(Reply::Event(event).plain(), want);
        }
    }

    #[test]
    fn json_replies_carry_a_type_and_typed_fields() {
        let p = peer("10.77.0.1:7946");
        assert_eq!(Reply::Ok.render(Style::Json), r#"{"type":"ok"}"#);
        assert_eq!(
            Reply::Value {
                key: "k".into(),
                value: b"v w".to_vec()
            }
            .json(),
            json!({"type": "value", "key": "k", "value": "v w"})
        );
        assert_eq!(
            Reply::Value {
                key: "k".into(),
                value: vec![0xff, 0x00]
            }
            .json(),
            json!({"type": "value", "key": "k", "value_hex": "ff00"})
        );
        assert_eq!(
            Reply::Peers {
                which: "dead",
                peers: vec![p]
            }
            .json(),
            json!({"type": "peers", "which": "dead", "peers": ["10.77.0.1:7946"]})
        );
        assert_eq!(
            Reply::Stats(vec![("rounds".into(), 7)]).json(),
            json!({"type": "stats", "counters": {"rounds": 7}})
        );
        assert_eq!(
            Reply::Event(Watched::Heard {
                from: p,
                event: "e".into(),
                payload: b"x".to_vec()
            })
            .json(),
            json!({"type": "event", "event": "heard", "from": "10.77.0.1:7946", "name": "e", "payload": "x"})
        );
        assert_eq!(
            Reply::Event(Watched::PeerDead {
                peer: p,
                cause: "left"
            })
            .json(),
            json!({"type": "event", "event": "peer-dead", "peer": "10.77.0.1:7946", "cause": "left"})
        );
        // A JSON line never spans lines, whatever the text holds.
        let line = Reply::Error("a\nb".into()).render(Style::Json);
        assert!(!line.contains('\n'), "{line}");
        assert_eq!(
            serde_json::from_str::<Value>(&line).unwrap(),
            json!({"type": "error", "message": "a\nb"})
        );
    }
}
