//! The sockets handed to the engine: async-io's TCP stream and async-std's unix stream,
//! whose close shuts the write side down.

use std::io;
use std::net::{Shutdown, TcpStream};
use std::pin::Pin;
use std::task::{Context, Poll};

use async_io::Async;
use futures::io::{AsyncRead, AsyncWrite};

/// A stream whose write side can be shut down.
pub(crate) trait ShutdownWrite {
    fn shutdown_write(&self) -> io::Result<()>;
}

impl ShutdownWrite for Async<TcpStream> {
    fn shutdown_write(&self) -> io::Result<()> {
        self.get_ref().shutdown(Shutdown::Write)
    }
}

#[cfg(unix)]
impl ShutdownWrite for async_std::os::unix::net::UnixStream {
    fn shutdown_write(&self) -> io::Result<()> {
        self.shutdown(Shutdown::Write)
    }
}

/// A stream closing as the engine expects ([`memcache_core::Socket`]): both streams'
/// `poll_close` only flush, so a half-close would never reach the server.
pub(crate) struct HalfClosing<S>(pub(crate) S);

impl<S: AsyncRead + Unpin> AsyncRead for HalfClosing<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + ShutdownWrite + Unpin> AsyncWrite for HalfClosing<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    /// Shuts the write side down: the server reads every command sent, then end of stream.
    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match Pin::new(&mut self.0).poll_flush(cx) {
            Poll::Ready(Ok(())) => Poll::Ready(self.0.shutdown_write()),
            other => other,
        }
    }
}
