//! Binding sockets and starting and ending sessions.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::driver::drive;
use super::error::Error;
use super::inbound::{accept_connections, receive_datagrams};
use super::session::{Session, StopRequest};
use super::shared::Shared;
use super::traits::{Runtime, TcpListener, UdpSocket};

/// How often port 0 is retried when the port UDP got is taken for TCP.
const PORT_ATTEMPTS: usize = 8;

/// The sockets of one session, bound to the same port.
pub(crate) struct Sockets<R: Runtime> {
    pub udp: Option<R::UdpSocket>,
    pub tcp: R::TcpListener,
    /// The address both are bound to, with the actual port.
    pub local: SocketAddr,
}

/// Binds UDP (when wanted) and then TCP on the same port. With port 0 the port comes from the
/// UDP socket, and another is tried if TCP finds it taken.
pub(crate) async fn bind_sockets<R: Runtime>(
    rt: &R,
    addr: SocketAddr,
    udp: bool,
) -> Result<Sockets<R>, Error> {
    if !udp {
        let tcp = rt.bind_tcp(addr).await.map_err(|e| Error::bind(addr, e))?;
        let local = tcp.local_addr().map_err(|e| Error::bind(addr, e))?;
        return Ok(Sockets {
            udp: None,
            tcp,
            local,
        });
    }
    let mut last = None;
    for _ in 0..PORT_ATTEMPTS {
        let socket = rt.bind_udp(addr).await.map_err(|e| Error::bind(addr, e))?;
        let local = socket.local_addr().map_err(|e| Error::bind(addr, e))?;
        match rt.bind_tcp(local).await {
            Ok(tcp) => {
                return Ok(Sockets {
                    udp: Some(socket),
                    tcp,
                    local,
                });
            }
            Err(e) if addr.port() == 0 && e.kind() == std::io::ErrorKind::AddrInUse => {
                tracing::debug!(%local, "TCP port taken; trying another");
                last = Some(Error::bind(local, e));
            }
            Err(e) => return Err(Error::bind(local, e)),
        }
    }
    Err(last.unwrap_or(Error::PortInUse(addr)))
}

/// Starts a session on `sockets`: spawns the driver and the receiving tasks and starts the node
/// (unless it still runs after a halt, in which case it simply resumes).
pub(crate) fn open_session<R: Runtime>(shared: &Arc<Shared<R>>, sockets: Sockets<R>) {
    let udp = sockets.udp.map(Arc::new);
    let span = tracing::info_span!("telepathine", peer = %shared.node().peer_name());
    let session = Session::<R>::new(udp.clone(), span);
    let rt = &shared.rt;
    if let Some(udp) = udp {
        session.spawn(
            rt,
            receive_datagrams(Arc::clone(shared), Arc::clone(&session), udp),
        );
    }
    session.spawn(
        rt,
        accept_connections(Arc::clone(shared), Arc::clone(&session), sockets.tcp),
    );
    {
        let mut node = shared.node();
        let now = shared.now();
        node.handle_wall_clock(now, shared.unix_ms());
        node.start(now);
    }
    shared.set_session(Some(Arc::clone(&session)));
    shared.active.store(true, Ordering::Release);
    session.spawn(rt, drive(Arc::clone(shared), Arc::clone(&session)));
    shared.wake_driver();
}

/// Ends the running session, if any: leaves gracefully or halts, then waits (bounded) for its
/// tasks to end, which closes its sockets.
pub(crate) async fn close_session<R: Runtime>(shared: &Arc<Shared<R>>, request: StopRequest) {
    shared.active.store(false, Ordering::Release);
    let Some(session) = shared.set_session(None) else {
        return;
    };
    session.request_stop(request);
    shared.wake_driver();
    if request == StopRequest::Halt {
        // The driver sends nothing more; the rest need not flush.
        session.begin_shutdown();
    }
    let limit = shared.io.io_timeout * 2;
    if !session.until_idle(&shared.rt, limit).await {
        tracing::warn!("some connection tasks did not end in time");
    }
}
