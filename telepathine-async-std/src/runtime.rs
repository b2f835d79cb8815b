//! The binding of telepathine's runtime trait to async-io sockets and timers, with the
//! executor chosen by a type parameter.

use std::future::Future;
use std::io;
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use telepathine_core::runtime::{Runtime, TcpListener, TcpStream, UdpSocket};

/// Where a runtime's background tasks run. Everything else (sockets, timers) is async-io's,
/// which works under any executor.
pub trait Executor: Send + Sync + 'static {
    /// Runs `task` in the background, detached.
    fn spawn<F>(task: F)
    where
        F: Future<Output = ()> + Send + 'static;
}

/// Tasks on smol's global executor.
#[cfg(feature = "smol")]
#[derive(Debug)]
pub struct SmolExecutor;

#[cfg(feature = "smol")]
impl Executor for SmolExecutor {
    fn spawn<F>(task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        smol::spawn(task).detach();
    }
}

/// Tasks on async-std's executor.
#[cfg(feature = "async-std")]
#[derive(Debug)]
pub struct AsyncStdExecutor;

#[cfg(feature = "async-std")]
impl Executor for AsyncStdExecutor {
    fn spawn<F>(task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        drop(async_std::task::spawn(task));
    }
}

/// async-io sockets and timers with tasks spawned on `E`. Use the aliases
/// `telepathine_async_std::smol::Smol` and `telepathine_async_std::async_std::AsyncStd`.
pub struct AsyncIo<E>(PhantomData<fn() -> E>);

impl<E> Default for AsyncIo<E> {
    fn default() -> Self {
        AsyncIo(PhantomData)
    }
}

impl<E> Clone for AsyncIo<E> {
    fn clone(&self) -> Self {
        AsyncIo(PhantomData)
    }
}

impl<E> std::fmt::Debug for AsyncIo<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AsyncIo<{}>", std::any::type_name::<E>())
    }
}

impl<E: Executor> Runtime for AsyncIo<E> {
    type UdpSocket = Udp;
    type TcpListener = Listener;
    type TcpStream = Stream;

    async fn bind_udp(&self, addr: SocketAddr) -> io::Result<Udp> {
        async_net::UdpSocket::bind(addr).await.map(Udp)
    }

    async fn bind_tcp(&self, addr: SocketAddr) -> io::Result<Listener> {
        // std (under async-io) sets SO_REUSEADDR on Unix, so a restart can rebind while old
        // connections linger in TIME_WAIT.
        async_net::TcpListener::bind(addr).await.map(Listener)
    }

    async fn connect_tcp(&self, addr: SocketAddr) -> io::Result<Stream> {
        let stream = async_net::TcpStream::connect(addr).await?;
        // Frames are whole messages; waiting to coalesce them only adds latency.
        stream.set_nodelay(true)?;
        Ok(Stream(stream))
    }

    async fn resolve(&self, host_port: String) -> io::Result<Vec<SocketAddr>> {
        // Runs the blocking resolver on a thread pool, off the executor.
        async_net::resolve(host_port).await
    }

    async fn unblock<T, F>(&self, work: F) -> io::Result<T>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        // The thread pool async-net already uses for name resolution.
        Ok(blocking::unblock(work).await)
    }

    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send {
        let timer = async_io::Timer::after(duration);
        async move {
            timer.await;
        }
    }

    fn spawn<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        E::spawn(task);
    }

    fn now(&self) -> Instant {
        Instant::now()
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

/// An async-net UDP socket.
#[derive(Debug)]
pub struct Udp(async_net::UdpSocket);

/// An async-net TCP listener.
#[derive(Debug)]
pub struct Listener(async_net::TcpListener);

/// An async-net TCP stream.
#[derive(Debug)]
pub struct Stream(async_net::TcpStream);

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
