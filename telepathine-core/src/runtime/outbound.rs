//! Outbound TCP: one reusable connection per destination, each with a bounded queue of frames
//! and one writer task that connects (with a timeout), writes (with a timeout) and closes the
//! connection after it has been idle for a while.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use super::session::Session;
use super::shared::{IoCounters, Shared};
use super::signal::{Wake, timeout};
use super::traits::{Runtime, TcpStream};

/// How long a connection still connecting at shutdown may keep trying.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(500);

/// The open outbound connections of a session, by destination.
#[derive(Default)]
pub(crate) struct Outbound {
    conns: Mutex<HashMap<SocketAddr, Arc<Conn>>>,
}

/// One connection's queue. Lock order: the `Outbound` map, then a queue.
#[derive(Default)]
struct Conn {
    queue: Mutex<Queue>,
    ready: Wake,
}

#[derive(Default)]
struct Queue {
    frames: VecDeque<Vec<u8>>,
    bytes: usize,
    /// The writer has ended; a new connection must be made.
    retired: bool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Queues `frame` (already length-prefixed) for `dest`, opening a connection if none is open.
/// Never waits: if the queue or the connection table is full, the frame is dropped and counted
/// (gossip resends whatever the peer still lacks).
pub(crate) fn send<R: Runtime>(
    shared: &Arc<Shared<R>>,
    session: &Arc<Session<R>>,
    dest: SocketAddr,
    frame: Vec<u8>,
) {
    let mut conns = lock(&session.outbound.conns);
    if let Some(conn) = conns.get(&dest) {
        let mut q = lock(&conn.queue);
        if !q.retired {
            if q.bytes + frame.len() > shared.io.max_queued_bytes {
                IoCounters::bump(&shared.counters.frames_dropped, 1);
                tracing::debug!(to = %dest, "frame dropped: connection queue full");
                return;
            }
            q.bytes += frame.len();
            q.frames.push_back(frame);
            drop(q);
            conn.ready.notify();
            return;
        }
    }
    if conns.len() >= shared.io.max_connections && !evict_idle(&mut conns) {
        IoCounters::bump(&shared.counters.frames_dropped, 1);
        tracing::debug!(to = %dest, "frame dropped: connection limit reached");
        return;
    }
    let conn = Arc::new(Conn::default());
    {
        let mut q = lock(&conn.queue);
        q.bytes = frame.len();
        q.frames.push_back(frame);
    }
    conns.insert(dest, Arc::clone(&conn));
    drop(conns);
    let task = write_connection(Arc::clone(shared), Arc::clone(session), dest, conn);
    session.spawn(&shared.rt, task);
}

/// Closes one connection with nothing queued, to make room. Returns whether one was found.
fn evict_idle(conns: &mut HashMap<SocketAddr, Arc<Conn>>) -> bool {
    let idle = conns
        .iter()
        .find(|(_, c)| lock(&c.queue).frames.is_empty())
        .map(|(a, _)| *a);
    let Some(addr) = idle else { return false };
    if let Some(conn) = conns.remove(&addr) {
        lock(&conn.queue).retired = true;
        conn.ready.notify();
    }
    true
}

/// Removes `conn` from the table (if still there) and marks it retired; returns how many queued
/// frames are lost. With `only_if_empty`, does nothing (returns `None`) if frames are queued.
fn retire(
    outbound: &Outbound,
    dest: SocketAddr,
    conn: &Arc<Conn>,
    only_if_empty: bool,
) -> Option<usize> {
    let mut conns = lock(&outbound.conns);
    let mut q = lock(&conn.queue);
    if only_if_empty && !q.frames.is_empty() {
        return None;
    }
    q.retired = true;
    let lost = q.frames.len();
    q.frames.clear();
    q.bytes = 0;
    if conns.get(&dest).is_some_and(|c| Arc::ptr_eq(c, conn)) {
        conns.remove(&dest);
    }
    Some(lost)
}

fn pop(conn: &Conn) -> Option<Vec<u8>> {
    let mut q = lock(&conn.queue);
    let frame = q.frames.pop_front()?;
    q.bytes -= frame.len();
    Some(frame)
}

async fn write_connection<R: Runtime>(
    shared: Arc<Shared<R>>,
    session: Arc<Session<R>>,
    dest: SocketAddr,
    conn: Arc<Conn>,
) {
    let io = &shared.io;
    // A connect still pending at shutdown gets a short grace, not the full timeout, so that
    // stop() is not held up by an unreachable peer.
    let give_up = async {
        session.until_shutdown().await;
        shared.rt.sleep(SHUTDOWN_GRACE).await;
        None
    };
    let connect = timeout(&shared.rt, io.io_timeout, shared.rt.connect_tcp(dest));
    let mut stream = match futures_lite::future::or(connect, give_up).await {
        Some(Ok(s)) => {
            IoCounters::bump(&shared.counters.connections_opened, 1);
            s
        }
        failure => {
            let lost = retire(&session.outbound, dest, &conn, false).unwrap_or(0);
            IoCounters::bump(&shared.counters.frames_dropped, lost as u64);
            let reason = match failure {
                Some(Err(e)) => e.to_string(),
                _ => "timed out".into(),
            };
            tracing::debug!(to = %dest, lost, %reason, "connect failed");
            return;
        }
    };
    loop {
        if let Some(frame) = pop(&conn) {
            match timeout(&shared.rt, io.io_timeout, stream.write_all(&frame)).await {
                Some(Ok(())) => continue,
                failure => {
                    let lost = 1 + retire(&session.outbound, dest, &conn, false).unwrap_or(0);
                    IoCounters::bump(&shared.counters.frames_dropped, lost as u64);
                    let reason = match failure {
                        Some(Err(e)) => e.to_string(),
                        _ => "timed out".into(),
                    };
                    tracing::debug!(to = %dest, lost, %reason, "write failed; connection closed");
                    return;
                }
            }
        }
        if lock(&conn.queue).retired {
            return;
        }
        if session.is_shutting_down() {
            // Everything queued was flushed above.
            if retire(&session.outbound, dest, &conn, true).is_some() {
                return;
            }
            continue;
        }
        let woken = futures_lite::future::or(
            async {
                futures_lite::future::or(conn.ready.wait(), session.until_shutdown()).await;
                true
            },
            async {
                shared.rt.sleep(io.idle_timeout).await;
                false
            },
        )
        .await;
        if !woken && retire(&session.outbound, dest, &conn, true).is_some() {
            tracing::trace!(to = %dest, "idle connection closed");
            return;
        }
    }
}
