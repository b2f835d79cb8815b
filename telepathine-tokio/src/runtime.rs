//! The binding of telepathine's runtime trait to tokio.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use telepathine_core::runtime::{Runtime, TcpListener, TcpStream, UdpSocket};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// tokio as a telepathine runtime. Tasks are spawned on the runtime current when the node is
/// started; the clock is tokio's, so a paused test clock applies.
#[derive(Clone, Copy, Debug, Default)]
pub struct Tokio;

fn no_runtime() -> io::Error {
    io::Error::other("telepathine-tokio must be started inside a tokio runtime")
}

/// Fails instead of panicking when called outside a tokio runtime.
fn in_runtime() -> io::Result<()> {
    tokio::runtime::Handle::try_current()
        .map(|_| ())
        .map_err(|_| no_runtime())
}

impl Runtime for Tokio {
    type UdpSocket = Udp;
    type TcpListener = Listener;
    type TcpStream = Stream;

    async fn bind_udp(&self, addr: SocketAddr) -> io::Result<Self::UdpSocket> {
        in_runtime()?;
        tokio::net::UdpSocket::bind(addr).await.map(Udp)
    }

    async fn bind_tcp(&self, addr: SocketAddr) -> io::Result<Self::TcpListener> {
        in_runtime()?;
        // tokio sets SO_REUSEADDR on Unix, so a restart can rebind while old connections
        // linger in TIME_WAIT.
        tokio::net::TcpListener::bind(addr).await.map(Listener)
    }

    async fn connect_tcp(&self, addr: SocketAddr) -> io::Result<Self::TcpStream> {
        in_runtime()?;
        let stream = tokio::net::TcpStream::connect(addr).await?;
        // Frames are whole messages; waiting to coalesce them only adds latency.
        stream.set_nodelay(true)?;
        Ok(Stream(stream))
    }

    async fn resolve(&self, host_port: String) -> io::Result<Vec<SocketAddr>> {
        in_runtime()?;
        Ok(tokio::net::lookup_host(host_port).await?.collect())
    }

    async fn unblock<T, F>(&self, work: F) -> io::Result<T>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        in_runtime()?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(io::Error::other)
    }

    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send {
        tokio::time::sleep(duration)
    }

    fn spawn<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        // Outside a runtime the task cannot run; dropping it beats tokio's panic. Unreachable in
        // practice: a node starts by binding sockets, which fails outside a runtime, and
        // `after`/`every` are called on a started node from inside its runtime.
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            drop(handle.spawn(task));
        }
    }

    fn now(&self) -> Instant {
        tokio::time::Instant::now().into_std()
    }

    fn system_time(&self) -> SystemTime {
        SystemTime::now()
    }

    fn random_seed(&self) -> u64 {
        // The OS generator practically never fails; if it does, the clock still gives nodes
        // different seeds. The seed drives jitter, peer choice and the sealing nonces, which
        // must differ between node lives (docs/security.md, "Where nonces come from").
        getrandom::u64().unwrap_or_else(|_| {
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64)
        })
    }
}

/// A tokio UDP socket.
#[derive(Debug)]
pub struct Udp(tokio::net::UdpSocket);

/// A tokio TCP listener.
#[derive(Debug)]
pub struct Listener(tokio::net::TcpListener);

/// A tokio TCP stream.
#[derive(Debug)]
pub struct Stream(tokio::net::TcpStream);

impl UdpSocket for Udp {
    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr()
    }

    fn send_to<'a>(
        &'a self,
        buf: &'a [u8],
        target: SocketAddr,
    ) -> impl Future<Output = io::Result<usize>> + Send + 'a {
        self.0.send_to(buf, target)
    }

    fn recv_from<'a>(
        &'a self,
        buf: &'a mut [u8],
    ) -> impl Future<Output = io::Result<(usize, SocketAddr)>> + Send + 'a {
        self.0.recv_from(buf)
    }
}

impl TcpListener for Listener {
    type Stream = Stream;

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr()
    }

    async fn accept(&self) -> io::Result<(Stream, SocketAddr)> {
        let (stream, from) = self.0.accept().await?;
        Ok((Stream(stream), from))
    }
}

impl TcpStream for Stream {
    fn read<'a>(
        &'a mut self,
        buf: &'a mut [u8],
    ) -> impl Future<Output = io::Result<usize>> + Send + 'a {
        self.0.read(buf)
    }

    fn write_all<'a>(
        &'a mut self,
        buf: &'a [u8],
    ) -> impl Future<Output = io::Result<()>> + Send + 'a {
        self.0.write_all(buf)
    }
}
