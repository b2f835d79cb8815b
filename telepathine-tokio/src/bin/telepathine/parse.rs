//! The command language read on stdin: one command per line, words separated by blanks, and
//! double-quoted words (with `\"`, `\\`, `\n`, `\t`, `\r`, `\0` and `\xNN` escapes) for values
//! that hold blanks or arbitrary bytes. The quoting is the one the plain output uses, so a
//! value printed by `get` can be pasted back into `set`.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

/// Which peers `peers` lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerFilter {
    /// Peers considered alive.
    Live,
    /// Peers considered dead (failed or left).
    Dead,
    /// Every known peer.
    All,
}

impl PeerFilter {
    /// The word that names the filter, in commands and output.
    pub fn name(self) -> &'static str {
        match self {
            PeerFilter::Live => "live",
            PeerFilter::Dead => "dead",
            PeerFilter::All => "all",
        }
    }
}

/// One parsed command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// A blank line or a `#` comment: does nothing and prints nothing.
    Nothing,
    /// `set KEY VALUE [TTL]`.
    Set {
        /// The key.
        key: String,
        /// The value, as bytes.
        value: Vec<u8>,
        /// How long until it expires, if it does.
        ttl: Option<Duration>,
    },
    /// `get KEY`: this node's own value.
    Get {
        /// The key.
        key: String,
    },
    /// `get-remote PEER KEY`: the value a peer holds, as last learned.
    GetRemote {
        /// The peer's name (`ip:port`).
        peer: SocketAddr,
        /// The key.
        key: String,
    },
    /// `keys [PEER]`: the keys a peer holds (this node's own without a peer).
    Keys {
        /// The peer, or `None` for this node.
        peer: Option<SocketAddr>,
    },
    /// `del KEY`.
    Del {
        /// The key.
        key: String,
    },
    /// `say EVENT PAYLOAD [DURATION]`.
    Say {
        /// The event name.
        event: String,
        /// Its payload.
        payload: Vec<u8>,
        /// How long it lives, or `None` for the node's default.
        lifetime: Option<Duration>,
    },
    /// `peers [live|dead|all]` (default `live`).
    Peers(PeerFilter),
    /// `add-peer ADDR`: contact another node.
    AddPeer {
        /// An IP literal with port.
        addr: String,
    },
    /// `whoami`: this node's peer name.
    WhoAmI,
    /// `stats`.
    Stats,
    /// `help`.
    Help,
    /// `quit` (or `exit`).
    Quit,
}

/// Why a line is not a valid command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// A quoted word was not closed.
    UnclosedQuote,
    /// A backslash escape that is not one of the known ones.
    BadEscape(String),
    /// The first word is not a command.
    UnknownCommand(String),
    /// The command got too few or too many words.
    Usage(&'static str),
    /// A peer address that is not `ip:port`.
    BadPeer(String),
    /// A duration that is not a number with an optional `ms`, `s`, `m` or `h` unit.
    BadDuration(String),
    /// An argument that must be text was not valid UTF-8.
    NotUtf8(&'static str),
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::UnclosedQuote => f.write_str("unclosed quote"),
            ParseError::BadEscape(e) => write!(f, "bad escape {e:?} in quoted word"),
            ParseError::UnknownCommand(c) => {
                write!(f, "unknown command {c:?} (try: help)")
            }
            ParseError::Usage(u) => write!(f, "usage: {u}"),
            ParseError::BadPeer(p) => write!(f, "bad peer {p:?}: expected ip:port"),
            ParseError::BadDuration(d) => {
                write!(f, "bad duration {d:?}: expected e.g. 500ms, 10s, 2m, 1h")
            }
            ParseError::NotUtf8(what) => write!(f, "{what} must be valid UTF-8"),
        }
    }
}

impl std::error::Error for ParseError {}

/// The usage lines, also printed by `help`.
pub const USAGE: &[&str] = &[
    "set KEY VALUE [TTL]",
    "get KEY",
    "get-remote PEER KEY",
    "keys [PEER]",
    "del KEY",
    "say EVENT PAYLOAD [DURATION]",
    "peers [live|dead|all]",
    "add-peer ADDR",
    "whoami",
    "stats",
    "help",
    "quit",
];

/// Splits a line into words: blanks separate, double quotes group (with escapes). A quoted
/// word may hold any bytes, hence `Vec<u8>`.
pub fn split_words(line: &str) -> Result<Vec<Vec<u8>>, ParseError> {
    let mut words = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let Some(&first) = chars.peek() else {
            return Ok(words);
        };
        let mut word = Vec::new();
        if first == '"' {
            chars.next();
            loop {
                match chars.next() {
                    None => return Err(ParseError::UnclosedQuote),
                    Some('"') => break,
                    Some('\\') => word.push(unescape(&mut chars)?),
                    Some(c) => push_char(&mut word, c),
                }
            }
            // `"a"b` would be ambiguous; a quoted word must end at a blank or the line's end.
            if chars.peek().is_some_and(|c| !c.is_whitespace()) {
                return Err(ParseError::UnclosedQuote);
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                push_char(&mut word, c);
            }
        }
        words.push(word);
    }
}

fn push_char(word: &mut Vec<u8>, c: char) {
    let mut buf = [0; 4];
    word.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
}

fn unescape(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Result<u8, ParseError> {
    match chars.next() {
        Some('"') => Ok(b'"'),
        Some('\\') => Ok(b'\\'),
        Some('n') => Ok(b'\n'),
        Some('t') => Ok(b'\t'),
        Some('r') => Ok(b'\r'),
        Some('0') => Ok(0),
        Some('x') => {
            let hex: String = chars.take(2).collect();
            // from_str_radix alone would also take a sign, as in `\x+f`.
            if hex.len() == 2
                && hex.chars().all(|c| c.is_ascii_hexdigit())
                && let Ok(b) = u8::from_str_radix(&hex, 16)
            {
                return Ok(b);
            }
            Err(ParseError::BadEscape(format!("\\x{hex}")))
        }
        Some(c) => Err(ParseError::BadEscape(format!("\\{c}"))),
        None => Err(ParseError::UnclosedQuote),
    }
}

/// Parses a duration: a non-negative decimal number with an optional unit `ms`, `s`, `m` or
/// `h`; a bare number is seconds.
pub fn parse_duration(text: &str) -> Result<Duration, ParseError> {
    let bad = || ParseError::BadDuration(text.to_string());
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let scale = match unit {
        "ms" => 0.001,
        "" | "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        _ => return Err(bad()),
    };
    let n: f64 = number.parse().map_err(|_| bad())?;
    Duration::try_from_secs_f64(n * scale).map_err(|_| bad())
}

fn text(word: Vec<u8>, what: &'static str) -> Result<String, ParseError> {
    String::from_utf8(word).map_err(|_| ParseError::NotUtf8(what))
}

fn peer(word: Vec<u8>) -> Result<SocketAddr, ParseError> {
    let t = text(word, "a peer")?;
    t.parse().map_err(|_| ParseError::BadPeer(t))
}

fn duration(word: Option<Vec<u8>>) -> Result<Option<Duration>, ParseError> {
    word.map(|w| parse_duration(&text(w, "a duration")?))
        .transpose()
}

/// Parses one input line.
pub fn parse_line(line: &str) -> Result<Command, ParseError> {
    if line.trim_start().starts_with('#') {
        return Ok(Command::Nothing);
    }
    let mut words = split_words(line)?.into_iter();
    let Some(name) = words.next() else {
        return Ok(Command::Nothing);
    };
    let name = text(name, "a command")?;
    let args: Vec<Vec<u8>> = words.collect();
    let n = args.len();
    let mut args = args.into_iter();
    let mut next = || args.next().unwrap_or_default();
    let arity = |lo: usize, hi: usize, usage: &'static str| {
        if (lo..=hi).contains(&n) {
            Ok(())
        } else {
            Err(ParseError::Usage(usage))
        }
    };
    Ok(match name.as_str() {
        "set" => {
            arity(2, 3, "set KEY VALUE [TTL]")?;
            let key = text(next(), "a key")?;
            let value = next();
            let ttl = duration((n == 3).then(&mut next))?;
            Command::Set { key, value, ttl }
        }
        "get" => {
            arity(1, 1, "get KEY")?;
            Command::Get {
                key: text(next(), "a key")?,
            }
        }
        "get-remote" => {
            arity(2, 2, "get-remote PEER KEY")?;
            let peer = peer(next())?;
            Command::GetRemote {
                peer,
                key: text(next(), "a key")?,
            }
        }
        "keys" => {
            arity(0, 1, "keys [PEER]")?;
            Command::Keys {
                peer: (n == 1).then(next).map(peer).transpose()?,
            }
        }
        "del" | "delete" => {
            arity(1, 1, "del KEY")?;
            Command::Del {
                key: text(next(), "a key")?,
            }
        }
        "say" => {
            arity(2, 3, "say EVENT PAYLOAD [DURATION]")?;
            let event = text(next(), "an event name")?;
            let payload = next();
            let lifetime = duration((n == 3).then(&mut next))?;
            Command::Say {
                event,
                payload,
                lifetime,
            }
        }
        "peers" => {
            arity(0, 1, "peers [live|dead|all]")?;
            let which = if n == 0 {
                String::from("live")
            } else {
                text(next(), "a peer filter")?
            };
            Command::Peers(match which.as_str() {
                "live" => PeerFilter::Live,
                "dead" => PeerFilter::Dead,
                "all" => PeerFilter::All,
                _ => return Err(ParseError::Usage("peers [live|dead|all]")),
            })
        }
        "add-peer" => {
            arity(1, 1, "add-peer ADDR")?;
            Command::AddPeer {
                addr: text(next(), "an address")?,
            }
        }
        "whoami" => {
            arity(0, 0, "whoami")?;
            Command::WhoAmI
        }
        "stats" => {
            arity(0, 0, "stats")?;
            Command::Stats
        }
        "help" => Command::Help,
        "quit" | "exit" => {
            arity(0, 0, "quit")?;
            Command::Quit
        }
        _ => return Err(ParseError::UnknownCommand(name)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<Vec<u8>> {
        split_words(line).unwrap()
    }

    #[test]
    fn blanks_separate_words_and_quotes_group_them() {
        assert_eq!(
            words("  set  a   b "),
            [b"set".to_vec(), b"a".to_vec(), b"b".to_vec()]
        );
        assert_eq!(
            words(r#"set k "two words" 5s"#),
            [
                b"set".to_vec(),
                b"k".to_vec(),
                b"two words".to_vec(),
                b"5s".to_vec()
            ]
        );
        assert_eq!(words(r#""""#), [Vec::<u8>::new()]);
        assert!(words("").is_empty());
    }

    #[test]
    fn quoted_words_take_escapes_including_raw_bytes() {
        assert_eq!(
            words(r#""a\"b\\c\n\t\x00\xff""#),
            [b"a\"b\\c\n\t\x00\xff".to_vec()]
        );
        assert_eq!(
            split_words(r#""\q""#),
            Err(ParseError::BadEscape("\\q".into()))
        );
        assert_eq!(
            split_words(r#""\x4""#),
            Err(ParseError::BadEscape("\\x4\"".into()))
        );
        assert_eq!(
            split_words(r#""\x+f""#),
            Err(ParseError::BadEscape("\\x+f".into()))
        );
        assert_eq!(split_words(r#""open"#), Err(ParseError::UnclosedQuote));
        assert_eq!(split_words(r#""a"b"#), Err(ParseError::UnclosedQuote));
    }

    #[test]
    fn durations_have_units_and_default_to_seconds() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("10"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        for bad in ["", "s", "10x", "-1s", "1..2s", "ms10"] {
            assert_eq!(
                parse_duration(bad),
                Err(ParseError::BadDuration(bad.into())),
                "{bad}"
            );
        }
    }

    #[test]
    fn every_command_parses() {
        let peer: SocketAddr = "10.0.0.1:7946".parse().unwrap();
        let cases = [
            (
                "set k v",
                Command::Set {
                    key: "k".into(),
                    value: b"v".to_vec(),
                    ttl: None,
                },
            ),
            (
                "set k \"a b\" 30s",
                Command::Set {
                    key: "k".into(),
                    value: b"a b".to_vec(),
                    ttl: Some(Duration::from_secs(30)),
                },
            ),
            ("get k", Command::Get { key: "k".into() }),
            (
                "get-remote 10.0.0.1:7946 k",
                Command::GetRemote {
                    peer,
                    key: "k".into(),
                },
            ),
            ("keys", Command::Keys { peer: None }),
            ("keys 10.0.0.1:7946", Command::Keys { peer: Some(peer) }),
            ("del k", Command::Del { key: "k".into() }),
            (
                "say chat.hi hello",
                Command::Say {
                    event: "chat.hi".into(),
                    payload: b"hello".to_vec(),
                    lifetime: None,
                },
            ),
            (
                "say e p 500ms",
                Command::Say {
                    event: "e".into(),
                    payload: b"p".to_vec(),
                    lifetime: Some(Duration::from_millis(500)),
                },
            ),
            ("peers", Command::Peers(PeerFilter::Live)),
            ("peers dead", Command::Peers(PeerFilter::Dead)),
            ("peers all", Command::Peers(PeerFilter::All)),
            (
                "add-peer 10.0.0.2:1",
                Command::AddPeer {
                    addr: "10.0.0.2:1".into(),
                },
            ),
            ("whoami", Command::WhoAmI),
            ("stats", Command::Stats),
            ("help", Command::Help),
            ("quit", Command::Quit),
            ("exit", Command::Quit),
            ("", Command::Nothing),
            ("   # a comment", Command::Nothing),
        ];
        for (line, want) in cases {
            assert_eq!(parse_line(line), Ok(want), "{line}");
        }
    }

    #[test]
    fn mistakes_are_reported_not_guessed() {
        assert_eq!(
            parse_line("frobnicate"),
            Err(ParseError::UnknownCommand("frobnicate".into()))
        );
        assert_eq!(
            parse_line("set k"),
            Err(ParseError::Usage("set KEY VALUE [TTL]"))
        );
        assert_eq!(parse_line("get a b"), Err(ParseError::Usage("get KEY")));
        assert_eq!(
            parse_line("get-remote nothost k"),
            Err(ParseError::BadPeer("nothost".into()))
        );
        assert_eq!(
            parse_line("set k v soon"),
            Err(ParseError::BadDuration("soon".into()))
        );
        assert_eq!(
            parse_line("peers some"),
            Err(ParseError::Usage("peers [live|dead|all]"))
        );
        assert_eq!(
            parse_line(r#"get "\xff""#),
            Err(ParseError::NotUtf8("a key"))
        );
        assert_eq!(parse_line("quit now"), Err(ParseError::Usage("quit")));
    }

    #[test]
    fn every_error_reads_as_one_line() {
        let errors = [
            ParseError::UnclosedQuote,
            ParseError::BadEscape("\\q".into()),
            ParseError::UnknownCommand("x\ny".into()),
            ParseError::Usage("get KEY"),
            ParseError::BadPeer("a\nb".into()),
            ParseError::BadDuration("z".into()),
            ParseError::NotUtf8("a key"),
        ];
        for e in errors {
            assert!(!e.to_string().contains('\n'), "{e}");
        }
    }
}
