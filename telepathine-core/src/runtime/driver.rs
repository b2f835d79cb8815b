//! The driver task: the one place that runs the node's timers, sends what it transmits and
//! delivers what it reports, following the core's driving contract.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::outbound;
use super::registry::Belief;
use super::session::{Session, StopRequest};
use super::shared::{IoCounters, Shared};
use super::traits::{Runtime, UdpSocket};
use crate::wire::encode_frame;
use crate::{DeathCause, Event, Node, Transmit, TransmitKind};

/// Runs until the session is asked to stop; a graceful stop first makes the node leave and
/// sends the departure. Then it tells the session's other tasks to end.
pub(crate) async fn drive<R: Runtime>(shared: Arc<Shared<R>>, session: Arc<Session<R>>) {
    let me = shared.node().peer_name();
    let mut beliefs: Vec<Belief> = Vec::new();
    let mut transmits: Vec<Transmit> = Vec::new();
    let mut events: Vec<Event> = Vec::new();
    loop {
        let stop = session.stop_request();
        if stop == StopRequest::Halt {
            break;
        }
        let deadline = {
            let mut node = shared.node();
            let now = shared.now();
            if stop == StopRequest::Leave {
                node.stop(now);
            } else if node.poll_timeout().is_some_and(|t| t <= now) {
                node.handle_wall_clock(now, shared.unix_ms());
                node.handle_timeout(now);
            }
            if stop == StopRequest::None {
                apply_beliefs(&mut node, now, &mut beliefs);
            }
            while let Some(t) = node.poll_transmit() {
                transmits.push(t);
            }
            while let Some(e) = node.poll_event() {
                events.push(e);
            }
            node.poll_timeout()
        };
        for t in transmits.drain(..) {
            send(&shared, &session, t).await;
        }
        {
            let mut registry = shared.registry();
            for e in events.drain(..) {
                trace_event(&e);
                registry.deliver(me, &e, &mut beliefs);
            }
        }
        if stop != StopRequest::None {
            break;
        }
        if !beliefs.is_empty() {
            continue;
        }
        let now = shared.now();
        match deadline {
            Some(at) => {
                // The floor keeps a deadline that a timeout did not advance from becoming a
                // busy loop.
                let nap = at.saturating_since(now).max(Duration::from_millis(1));
                futures_lite::future::or(shared.wake.wait(), shared.rt.sleep(nap)).await;
            }
            None => shared.wake.wait().await,
        }
    }
    if shared.closing.load(Ordering::Acquire) {
        shared.registry().close();
    }
    session.begin_shutdown();
}

/// Copies values that `believe` subscriptions matched into the local state, unless the local
/// value is already the same (re-emitted values must not bump versions forever).
fn apply_beliefs(node: &mut Node, now: crate::Timestamp, beliefs: &mut Vec<Belief>) {
    for b in beliefs.drain(..) {
        if node.get(&b.key) == Some(&b.value) {
            continue;
        }
        let result = match b.expires_at {
            Some(at) => node.set_with_expiry(now, &b.key, b.value, at),
            None => node.set(now, &b.key, b.value),
        };
        if let Err(e) = result {
            tracing::debug!(key = %b.key, error = %e, "could not believe a value");
        }
    }
}

async fn send<R: Runtime>(shared: &Arc<Shared<R>>, session: &Arc<Session<R>>, t: Transmit) {
    match (&session.udp, t.kind) {
        (Some(udp), TransmitKind::Datagram) => {
            if let Err(e) = udp.send_to(&t.payload, t.destination).await {
                IoCounters::bump(&shared.counters.udp_send_errors, 1);
                tracing::debug!(to = %t.destination, error = %e, "datagram not sent");
            }
        }
        _ => outbound::send(shared, session, t.destination, encode_frame(&t.payload)),
    }
}

fn trace_event(e: &Event) {
    match e {
        Event::PeerNew { peer } => tracing::info!(%peer, "peer discovered"),
        Event::PeerAlive { peer } => tracing::info!(%peer, "peer alive"),
        Event::PeerDead {
            peer,
            cause: DeathCause::Left,
        } => tracing::info!(%peer, "peer left"),
        Event::PeerDead {
            peer,
            cause: DeathCause::Failed,
        } => tracing::warn!(%peer, "peer failed"),
        Event::Started => tracing::info!("node started"),
        Event::Stopped => tracing::info!("node stopped"),
        _ => tracing::trace!(event = %e.name(), "event"),
    }
}
