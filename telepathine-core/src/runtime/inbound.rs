//! Receiving: one task for UDP, one accepting TCP connections, one reading each connection.
//! Every received datagram or frame is fed to the node in place: no task per packet.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::session::Session;
use super::shared::{IoCounters, Shared};
use super::signal::timeout;
use super::traits::{Runtime, TcpListener, TcpStream, UdpSocket};
use crate::wire::FrameDecoder;

/// Largest UDP payload; anything over the datagram budget is refused by the node, counted.
const UDP_BUFFER: usize = 65_536;
/// Bytes read from a connection at a time.
const READ_BUFFER: usize = 64 * 1024;
/// Pause after an accept or receive error (for example out of file descriptors), so a
/// persistent error does not spin.
const ERROR_BACKOFF: Duration = Duration::from_millis(20);

pub(crate) async fn receive_datagrams<R: Runtime>(
    shared: Arc<Shared<R>>,
    session: Arc<Session<R>>,
    udp: Arc<R::UdpSocket>,
) {
    let mut buf = vec![0u8; UDP_BUFFER];
    loop {
        let received =
            futures_lite::future::or(async { Some(udp.recv_from(&mut buf).await) }, async {
                session.until_shutdown().await;
                None
            })
            .await;
        match received {
            None => break,
            Some(Ok((n, from))) => {
                shared.feed(from, |node, now| node.handle_datagram(now, from, &buf[..n]))
            }
            Some(Err(e)) => {
                // Linux reports ICMP errors of earlier sends here; they say nothing about this
                // socket's health.
                tracing::trace!(error = %e, "udp receive error");
                shared.rt.sleep(ERROR_BACKOFF).await;
            }
        }
    }
}

pub(crate) async fn accept_connections<R: Runtime>(
    shared: Arc<Shared<R>>,
    session: Arc<Session<R>>,
    listener: R::TcpListener,
) {
    loop {
        let accepted = futures_lite::future::or(async { Some(listener.accept().await) }, async {
            session.until_shutdown().await;
            None
        })
        .await;
        match accepted {
            None => break,
            Some(Ok((stream, from))) => {
                if session.inbound.load(Ordering::Acquire) >= shared.io.max_connections {
                    IoCounters::bump(&shared.counters.connections_refused, 1);
                    tracing::debug!(%from, "connection refused: limit reached");
                    continue;
                }
                session.inbound.fetch_add(1, Ordering::AcqRel);
                let task = read_connection(Arc::clone(&shared), Arc::clone(&session), stream, from);
                session.spawn(&shared.rt, task);
            }
            Some(Err(e)) => {
                tracing::debug!(error = %e, "accept failed");
                shared.rt.sleep(ERROR_BACKOFF).await;
            }
        }
    }
}

/// Reads frames until the peer closes, sends a bad header, stays silent too long, takes too long
/// over one frame, or the session ends.
async fn read_connection<R: Runtime>(
    shared: Arc<Shared<R>>,
    session: Arc<Session<R>>,
    mut stream: R::TcpStream,
    from: SocketAddr,
) {
    let max_frame = shared.node().config().limits.max_frame_bytes;
    let mut decoder = FrameDecoder::new(max_frame);
    let mut buf = vec![0u8; READ_BUFFER];
    let patience = shared.io.idle_timeout + shared.io.io_timeout;
    // When the frame being received must be complete. Bounding each read alone would let a
    // peer trickle a frame a byte at a time and hold the connection (and its buffer) forever;
    // a whole frame gets the same patience a silent connection gets, which is already more
    // than the sender's own bound on writing one frame (`io_timeout`).
    let mut frame_deadline: Option<std::time::Instant> = None;
    loop {
        let wait =
            frame_deadline.map_or(patience, |d| d.saturating_duration_since(shared.rt.now()));
        let read = futures_lite::future::or(
            async { Some(timeout(&shared.rt, wait, stream.read(&mut buf)).await) },
            async {
                session.until_shutdown().await;
                None
            },
        )
        .await;
        let n = match read {
            None | Some(Some(Ok(0))) => break,
            Some(Some(Ok(n))) => n,
            Some(Some(Err(e))) => {
                tracing::debug!(%from, error = %e, "connection read failed");
                break;
            }
            Some(None) if frame_deadline.is_some() => {
                IoCounters::bump(&shared.counters.connections_closed_bad_input, 1);
                tracing::debug!(%from, "frame not finished in time; connection closed");
                break;
            }
            Some(None) => {
                tracing::debug!(%from, "idle connection closed");
                break;
            }
        };
        match decoder.push(&buf[..n]) {
            Ok(frames) => {
                // A new frame's clock starts with its first byte; a frame still pending keeps
                // the deadline it started with.
                frame_deadline = match (decoder.buffered(), frames.is_empty()) {
                    (0, _) => None,
                    (_, true) => frame_deadline.or_else(|| Some(shared.rt.now() + patience)),
                    (_, false) => Some(shared.rt.now() + patience),
                };
                for frame in frames {
                    shared.feed(from, |node, now| node.handle_frame(now, from, &frame));
                }
            }
            Err(e) => {
                IoCounters::bump(&shared.counters.connections_closed_bad_input, 1);
                tracing::debug!(%from, error = %e, "bad frame; connection closed");
                break;
            }
        }
    }
    session.inbound.fetch_sub(1, Ordering::AcqRel);
}
