//! The subscribers of one node and the routing of core events to them.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;

use super::subscription::{Pushed, Queue};
use super::updates::{Heard, KeyUpdate, system_time_from_unix_ms};
use crate::{Event, Pattern};

/// A value to copy into the local state because a `believe` subscription matched it.
pub(crate) struct Belief {
    pub key: String,
    pub value: Bytes,
    pub expires_at: Option<u64>,
}

enum Subscriber {
    /// `hear(pattern)`: `say` events whose name matches.
    Heard(Pattern, Arc<Queue<Heard>>),
    /// `know(pattern)`/`believe(pattern)`: sets of matching keys.
    Key {
        pattern: Pattern,
        queue: Arc<Queue<KeyUpdate>>,
        believe: bool,
    },
    /// `events()`: every event whose [`Event::name`] matches, or all.
    Event(Option<Pattern>, Arc<Queue<Event>>),
}

/// Every live subscription. Kept apart from the node's lock so delivering events never delays
/// input handling.
#[derive(Default)]
pub(crate) struct Registry {
    subscribers: Vec<Subscriber>,
    closed: bool,
    /// Items dropped from lagging queues, for [`IoStats`](super::IoStats).
    pub lagged: u64,
}

impl Registry {
    pub(crate) fn add_heard(&mut self, pattern: Pattern, queue: Arc<Queue<Heard>>) {
        self.close_if_closed(&queue);
        self.subscribers.push(Subscriber::Heard(pattern, queue));
    }

    pub(crate) fn add_key(
        &mut self,
        pattern: Pattern,
        queue: Arc<Queue<KeyUpdate>>,
        believe: bool,
    ) {
        self.close_if_closed(&queue);
        self.subscribers.push(Subscriber::Key {
            pattern,
            queue,
            believe,
        });
    }

    pub(crate) fn add_event(&mut self, pattern: Option<Pattern>, queue: Arc<Queue<Event>>) {
        self.close_if_closed(&queue);
        self.subscribers.push(Subscriber::Event(pattern, queue));
    }

    fn close_if_closed<T>(&self, queue: &Queue<T>) {
        if self.closed {
            queue.close();
        }
    }

    /// Ends every subscription: the node is gone for good.
    pub(crate) fn close(&mut self) {
        self.closed = true;
        for s in self.subscribers.drain(..) {
            match s {
                Subscriber::Heard(_, q) => q.close(),
                Subscriber::Key { queue, .. } => queue.close(),
                Subscriber::Event(_, q) => q.close(),
            }
        }
    }

    /// Hands `event` to every matching subscriber and returns what `believe` subscriptions
    /// want copied locally. `me` is this node's name: its own sets are never "believed".
    pub(crate) fn deliver(&mut self, me: SocketAddr, event: &Event, beliefs: &mut Vec<Belief>) {
        let mut lagged = 0u64;
        let mut believed = false;
        self.subscribers.retain(|s| {
            let pushed = match (s, event) {
                (
                    Subscriber::Heard(p, q),
                    Event::Heard {
                        event: name,
                        payload,
                        from,
                    },
                ) if p.matches(name) => q.push(Heard {
                    event: name.clone(),
                    payload: payload.clone(),
                    from: *from,
                }),
                (
                    Subscriber::Key {
                        pattern,
                        queue,
                        believe,
                    },
                    Event::Set {
                        peer,
                        key,
                        value,
                        expires_at,
                    },
                ) if pattern.matches(key) && (!*believe || *peer != me) => {
                    believed |= *believe;
                    queue.push(KeyUpdate {
                        peer: *peer,
                        key: key.clone(),
                        value: value.clone(),
                        expires_at: expires_at.map(system_time_from_unix_ms),
                    })
                }
                (Subscriber::Event(p, q), e) if p.as_ref().is_none_or(|p| p.matches(&e.name())) => {
                    q.push(e.clone())
                }
                _ => return !is_detached(s),
            };
            match pushed {
                Pushed::Ok => true,
                Pushed::Lagged => {
                    lagged += 1;
                    true
                }
                Pushed::Detached => false,
            }
        });
        if lagged > 0 {
            self.lagged += lagged;
            tracing::warn!(event = %event.name(), subscribers = lagged, "slow subscriber: dropped its oldest event");
        }
        if let (
            true,
            Event::Set {
                key,
                value,
                expires_at,
                ..
            },
        ) = (believed, event)
        {
            beliefs.push(Belief {
                key: key.clone(),
                value: value.clone(),
                expires_at: *expires_at,
            });
        }
    }
}

/// Whether a subscriber's receiver was dropped; checked on every delivery so that unsubscribed
/// queues are forgotten even if no matching event ever comes.
fn is_detached(s: &Subscriber) -> bool {
    match s {
        Subscriber::Heard(_, q) => q.is_detached(),
        Subscriber::Key { queue, .. } => queue.is_detached(),
        Subscriber::Event(_, q) => q.is_detached(),
    }
}
