//! The little the engine needs from an async runtime.

use std::future::Future;
use std::io;
use std::path::Path;
use std::time::{Duration, Instant};

use futures::io::{AsyncRead, AsyncWrite};

/// A connected byte stream: TCP, unix socket, or anything layered on them.
///
/// `poll_close` must shut the write side down (a half-close, as tokio's and async-std's
/// streams do), not merely flush: the client lets go of a connection by half-closing it
/// and reading until the server's end of stream, so that every command written on it
/// reaches the server.
pub trait Socket: AsyncRead + AsyncWrite + Send + Unpin + 'static {}

impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Socket for T {}

/// Options for the TCP sockets a client opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct SocketOptions {
    /// Set `TCP_NODELAY`: requests are batched by the engine, so Nagle's algorithm would
    /// only add latency. Default: on.
    pub nodelay: bool,
    /// Send TCP keepalive probes after this much idle time, so a peer that vanished
    /// without closing (a crashed host, a dropped NAT entry) is noticed. `None` disables
    /// them. Default: 60 seconds.
    pub keepalive: Option<Duration>,
}

impl Default for SocketOptions {
    fn default() -> Self {
        SocketOptions {
            nodelay: true,
            keepalive: Some(Duration::from_secs(60)),
        }
    }
}

impl SocketOptions {
    /// Applies the options to a connected TCP socket (runtimes call this in
    /// [`Runtime::connect_tcp`]).
    ///
    /// # Errors
    /// The operating system refused an option.
    #[cfg(unix)]
    pub fn apply<S: std::os::fd::AsFd>(&self, socket: &S) -> io::Result<()> {
        self.apply_to(socket2::SockRef::from(socket))
    }

    /// Applies the options to a connected TCP socket (runtimes call this in
    /// [`Runtime::connect_tcp`]).
    ///
    /// # Errors
    /// The operating system refused an option.
    #[cfg(windows)]
    pub fn apply<S: std::os::windows::io::AsSocket>(&self, socket: &S) -> io::Result<()> {
        self.apply_to(socket2::SockRef::from(socket))
    }

    fn apply_to(&self, socket: socket2::SockRef<'_>) -> io::Result<()> {
        socket.set_tcp_nodelay(self.nodelay)?;
        // Lingering off, as the kernel has it: closing never blocks, and never resets the
        // connection itself (a zero linger would). What keeps a close from resetting is
        // the driver's drain, which reads every reply before the socket goes.
        socket.set_linger(None)?;
        match self.keepalive {
            Some(idle) => socket.set_tcp_keepalive(&socket2::TcpKeepalive::new().with_time(idle)),
            None => socket.set_keepalive(false),
        }
    }
}

/// An async runtime: connect, spawn, sleep, and the time. Everything else (pipelining,
/// pooling, routing, timeouts) is written once, in this crate, on top of these methods.
pub trait Runtime: Clone + Send + Sync + 'static {
    /// The future [`Runtime::sleep`] returns.
    type Sleep: Future<Output = ()> + Send + 'static;

    /// Opens a TCP connection and applies `options` to it.
    fn connect_tcp(
        &self,
        host: &str,
        port: u16,
        options: &SocketOptions,
    ) -> impl Future<Output = io::Result<Box<dyn Socket>>> + Send;

    /// Opens a unix socket connection. The default, for platforms without unix sockets,
    /// fails with [`io::ErrorKind::Unsupported`].
    fn connect_unix(
        &self,
        path: &Path,
    ) -> impl Future<Output = io::Result<Box<dyn Socket>>> + Send {
        let error = io::Error::new(
            io::ErrorKind::Unsupported,
            format!("unix sockets are not supported here: {}", path.display()),
        );
        async move { Err(error) }
    }

    /// Runs `task` in the background.
    fn spawn<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static;

    /// Completes after `duration`.
    fn sleep(&self, duration: Duration) -> Self::Sleep;

    /// The current time on the runtime's clock; every deadline the engine keeps is measured
    /// on it (so a runtime with a paused test clock drives timeouts too).
    fn now(&self) -> Instant {
        Instant::now()
    }
}
