//! The small surface an async runtime must provide: sockets, a timer, spawning, clocks and
//! OS randomness. Everything else is written once, generically, in this module.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

/// An async runtime that can drive a [`Telepathine`](super::Telepathine) node.
///
/// Implementations are thin bindings (see `telepathine-tokio`); they hold no telepathine logic.
/// Clocks and randomness are here rather than read directly so that the core crate never touches
/// the OS, and so that a runtime with virtual time (tokio's paused clock) stays consistent.
pub trait Runtime: Clone + Send + Sync + 'static {
    /// A bound UDP socket.
    type UdpSocket: UdpSocket;
    /// A bound TCP listener, accepting [`Runtime::TcpStream`]s.
    type TcpListener: TcpListener<Stream = Self::TcpStream>;
    /// A connected TCP stream.
    type TcpStream: TcpStream;

    /// Binds a UDP socket to `addr` (port 0 picks a free port).
    fn bind_udp(
        &self,
        addr: SocketAddr,
    ) -> impl Future<Output = io::Result<Self::UdpSocket>> + Send;
    /// Binds a TCP listener to `addr`. Must allow rebinding a port whose previous connections
    /// linger in TIME_WAIT (`SO_REUSEADDR` on Unix), so `stop()` + `start()` works.
    fn bind_tcp(
        &self,
        addr: SocketAddr,
    ) -> impl Future<Output = io::Result<Self::TcpListener>> + Send;
    /// Opens a TCP connection to `addr`. Callers bound it with their own timeout.
    fn connect_tcp(
        &self,
        addr: SocketAddr,
    ) -> impl Future<Output = io::Result<Self::TcpStream>> + Send;
    /// Resolves `host:port` (a hostname or an IP literal) to socket addresses, without blocking
    /// the executor.
    fn resolve(
        &self,
        host_port: String,
    ) -> impl Future<Output = io::Result<Vec<SocketAddr>>> + Send;
    /// Runs the CPU-bound `work` (the network key derivation) off the executor's threads.
    /// An error means it could not be run there; the caller then runs it in place.
    fn unblock<T, F>(&self, work: F) -> impl Future<Output = io::Result<T>> + Send
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static;
    /// Completes after `duration`.
    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send;
    /// Runs `task` in the background until it completes. Tasks end themselves on shutdown, so
    /// the handle is not needed.
    fn spawn<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static;
    /// The monotonic clock.
    fn now(&self) -> Instant;
    /// The wall clock, used only for key expiry and the node's generation.
    fn system_time(&self) -> SystemTime;
    /// A seed for the node's random choices, drawn from the OS.
    fn random_seed(&self) -> u64;
}

/// A bound UDP socket, shared between the receiving task and the sending driver.
pub trait UdpSocket: Send + Sync + 'static {
    /// The address it is bound to.
    fn local_addr(&self) -> io::Result<SocketAddr>;
    /// Sends one datagram to `target`.
    fn send_to<'a>(
        &'a self,
        buf: &'a [u8],
        target: SocketAddr,
    ) -> impl Future<Output = io::Result<usize>> + Send + 'a;
    /// Receives one datagram into `buf`.
    fn recv_from<'a>(
        &'a self,
        buf: &'a mut [u8],
    ) -> impl Future<Output = io::Result<(usize, SocketAddr)>> + Send + 'a;
}

/// A bound TCP listener.
pub trait TcpListener: Send + Sync + 'static {
    /// The connection type it accepts.
    type Stream: TcpStream;
    /// The address it is bound to.
    fn local_addr(&self) -> io::Result<SocketAddr>;
    /// Accepts the next connection and its remote address.
    fn accept(&self) -> impl Future<Output = io::Result<(Self::Stream, SocketAddr)>> + Send + '_;
}

/// A connected TCP stream. Each connection is used in one direction only (we read inbound
/// connections and write outbound ones), so no split is needed.
pub trait TcpStream: Send + 'static {
    /// Reads some bytes; `Ok(0)` means the peer closed the connection.
    fn read<'a>(
        &'a mut self,
        buf: &'a mut [u8],
    ) -> impl Future<Output = io::Result<usize>> + Send + 'a;
    /// Writes all of `buf`.
    fn write_all<'a>(
        &'a mut self,
        buf: &'a [u8],
    ) -> impl Future<Output = io::Result<()>> + Send + 'a;
}
