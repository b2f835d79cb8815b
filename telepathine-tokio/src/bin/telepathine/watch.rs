//! `--watch PATTERN`: which node events to print, and how each becomes a [`Watched`] line.
//!
//! One subscription to every event is filtered here against all the patterns, rather than one
//! subscription per pattern, so that an event matched by two overlapping patterns prints once.

use telepathine_core::{DeathCause, Event, Pattern, PatternError};

use crate::format::Watched;

/// The patterns given with `--watch`, matched against [`Event::name`] (`set.<key>`,
/// `delete.<key>`, `expired.<key>`, `say.<event>`, `peer.new`, `peer.alive`, `peer.dead`,
/// `start`, `stop`).
#[derive(Clone, Debug)]
pub struct WatchFilter {
    patterns: Vec<Pattern>,
}

impl WatchFilter {
    /// Parses every pattern.
    pub fn new<'a>(patterns: impl IntoIterator<Item = &'a str>) -> Result<Self, PatternError> {
        let patterns = patterns
            .into_iter()
            .map(Pattern::new)
            .collect::<Result<_, _>>()?;
        Ok(WatchFilter { patterns })
    }

    /// Whether no pattern was given (then nothing is watched).
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// The line to print for `event`, if any pattern matches it.
    pub fn select(&self, event: &Event) -> Option<Watched> {
        let name = event.name();
        self.patterns
            .iter()
            .any(|p| p.matches(&name))
            .then(|| watched(event))
    }
}

/// The printable form of a core event.
pub fn watched(event: &Event) -> Watched {
    match event {
        Event::Started => Watched::Start,
        Event::Stopped => Watched::Stop,
        Event::Set {
            peer,
            key,
            value,
            expires_at,
        } => Watched::Set {
            peer: *peer,
            key: key.clone(),
            value: value.to_vec(),
            expires_at: *expires_at,
        },
        Event::Deleted { peer, key } => Watched::Delete {
            peer: *peer,
            key: key.clone(),
        },
        Event::KeyExpired {
            peer, key, value, ..
        } => Watched::Expired {
            peer: *peer,
            key: key.clone(),
            value: value.to_vec(),
        },
        Event::Heard {
            event,
            payload,
            from,
        } => Watched::Heard {
            from: *from,
            event: event.clone(),
            payload: payload.to_vec(),
        },
        Event::PeerNew { peer } => Watched::PeerNew { peer: *peer },
        Event::PeerAlive { peer } => Watched::PeerAlive { peer: *peer },
        Event::PeerDead { peer, cause } => Watched::PeerDead {
            peer: *peer,
            cause: match cause {
                DeathCause::Failed => "failed",
                DeathCause::Left => "left",
            },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;
    use telepathine_core::Bytes;

    fn peer() -> SocketAddr {
        "10.77.0.2:7946".parse().unwrap()
    }

    fn set(key: &str) -> Event {
        Event::Set {
            peer: peer(),
            key: key.into(),
            value: Bytes::from_static(b"v"),
            expires_at: None,
        }
    }

    #[test]
    fn patterns_select_by_event_name() {
        let f = WatchFilter::new(["set.config.**", "peer.*"]).unwrap();
        assert!(f.select(&set("config.a.b")).is_some());
        assert!(f.select(&set("other")).is_none());
        assert_eq!(
            f.select(&Event::PeerDead {
                peer: peer(),
                cause: DeathCause::Left
            }),
            Some(Watched::PeerDead {
                peer: peer(),
                cause: "left"
            })
        );
        let heard = Event::Heard {
            event: "chat".into(),
            payload: Bytes::new(),
            from: peer(),
        };
        assert!(f.select(&heard).is_none());
        assert!(
            WatchFilter::new(["say.**"])
                .unwrap()
                .select(&heard)
                .is_some()
        );
    }

    #[test]
    fn no_pattern_watches_nothing_and_double_star_everything() {
        let none = WatchFilter::new([]).unwrap();
        assert!(none.is_empty());
        assert!(none.select(&Event::Started).is_none());
        let all = WatchFilter::new(["**"]).unwrap();
        for e in [
            Event::Started,
            set("a.b.c"),
            Event::PeerNew { peer: peer() },
        ] {
            assert!(all.select(&e).is_some(), "{e:?}");
        }
    }

    #[test]
    fn events_keep_their_fields() {
        assert_eq!(
            watched(&Event::KeyExpired {
                peer: peer(),
                key: "k".into(),
                value: Bytes::from_static(b"old"),
                expires_at: 5
            }),
            Watched::Expired {
                peer: peer(),
                key: "k".into(),
                value: b"old".to_vec()
            }
        );
        assert_eq!(
            watched(&Event::Set {
                peer: peer(),
                key: "k".into(),
                value: Bytes::from_static(b"v"),
                expires_at: Some(9)
            }),
            Watched::Set {
                peer: peer(),
                key: "k".into(),
                value: b"v".to_vec(),
                expires_at: Some(9)
            }
        );
    }
}
